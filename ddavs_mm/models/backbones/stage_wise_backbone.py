"""The protocol of a visual backbone that can be run stage by stage.

DDAVS's alignment blocks may act *inside* the visual encoder
(``StageAlignment(fusion_position='encoder')``): the output of an aligned
stage is the input of the next one. The segmentor cannot do that with a
plain ``backbone(frames)`` call, so such a backbone exposes its stage loop
with a hook::

    feats = backbone.forward_stagewise(frames, hook, position='after_stage')

``hook(stage_idx, feat)`` receives a feature map ``[N, C_i, H_i, W_i]`` of
stage ``stage_idx`` (0-based) at ``position`` and returns a map of the same
shape, which the stage then uses in place of ``feat``. The hook is called at
every stage, in order; an identity hook gives the backbone's ``forward``.
``hook_positions`` lists the positions a backbone supports:

* ``'after_stage'``: the stage's output (after its last layer and norm).
  What the hook returns is the next stage's input and, if the stage is an
  output stage, the pyramid level.
* ``'before_blocks'``: the stage's input once it is downsampled (MiT: after
  the overlapping patch embedding), before the stage's layers, which then
  process what the hook returns.

:class:`~.FreezableMixVisionTransformer` implements both. Another backbone
(a CNN, PVTv2, ...) implements the protocol by defining the attribute and
the method; no base class is needed. A backbone without them still works
with the alignment at the decoder input (``fusion_position='head'``).
"""
from typing import Callable, List, Protocol, Tuple, runtime_checkable

import torch

#: ``hook(stage_idx, feat [N, C, H, W]) -> [N, C, H, W]``.
StageHook = Callable[[int, torch.Tensor], torch.Tensor]

#: The positions inside a stage that the protocol names.
HOOK_POSITIONS = ('after_stage', 'before_blocks')


@runtime_checkable
class StageWiseBackbone(Protocol):
    """A backbone with a stage-wise forward (see the module doc).

    Attributes:
        hook_positions (tuple[str]): the positions of
            :data:`HOOK_POSITIONS` that :meth:`forward_stagewise` accepts.
    """

    hook_positions: Tuple[str, ...]

    def forward_stagewise(self,
                          x: torch.Tensor,
                          hook: StageHook,
                          position: str = 'after_stage'
                          ) -> List[torch.Tensor]:
        """Run the stages, calling ``hook`` at ``position`` in each.

        Args:
            x (Tensor): frames ``[N, 3, H, W]``.
            hook (StageHook): ``(stage_idx, feat [N, C, H, W]) -> feat``.
            position (str): one of :attr:`hook_positions`.

        Returns:
            list[Tensor]: the output levels, as ``forward`` returns them.
        """
        ...
