"""MiT (SegFormer's Mix Transformer) that runs stage by stage, whose first
stages can be frozen and whose pretrained weights may come in any of the
three MiT layouts."""
from typing import List

import torch
from mmseg.models.backbones import MixVisionTransformer
from mmseg.models.utils import nlc_to_nchw

from ddavs_mm.registry import MODELS
from .mit_checkpoint import load_mit_checkpoint
from .stage_wise_backbone import StageHook


@MODELS.register_module()
class FreezableMixVisionTransformer(MixVisionTransformer):
    """mmseg's :class:`~mmseg.models.backbones.MixVisionTransformer` plus a
    stage-wise forward and the ``frozen_stages`` option of OpenMMLab's
    CNN/Swin backbones.

    :meth:`forward_stagewise` implements
    :class:`~.stage_wise_backbone.StageWiseBackbone`: it is mmseg's forward
    with a hook at each stage, which is how DDAVS's alignment blocks act
    inside the encoder. The parameters, their names and ``forward`` are
    mmseg's, so an mmseg MiT checkpoint loads as it is.

    Stage ``i`` of MiT is its own overlapping patch embedding, its
    transformer blocks and its norm (``self.layers[i]``). The first
    ``frozen_stages`` stages get ``requires_grad=False`` and stay in eval
    mode. Frames never require a gradient, so autograd then records nothing
    for them: their backward pass is skipped, not only their update (stage
    1 runs at stride 4, the backbone's most expensive resolution). Use it
    with pretrained weights (``init_cfg=dict(type='Pretrained', ...)``); a
    frozen random stage is a random feature extractor.

    ``init_cfg=dict(type='Pretrained', checkpoint=PATH)`` (optionally with
    ``prefix``) accepts NVIDIA's original SegFormer ImageNet file, a
    transformers directory of ``nvidia/mit-b*`` or an mmseg-keyed file
    (:mod:`.mit_checkpoint`); the weights are converted to mmseg keys,
    loaded strictly, and what was loaded is logged.

    Args:
        frozen_stages (int): number of leading stages to freeze, ``0``
            (default) to ``num_stages``; ``-1`` also means none.
        **kwargs: :class:`~mmseg.models.backbones.MixVisionTransformer`
            arguments (``embed_dims``, ``num_layers``, ``init_cfg``, ...).

    Shapes are those of MiT: ``[N, 3, H, W]`` → the ``out_indices`` levels
    ``[N, C_i, H / s_i, W / s_i]``.
    """

    hook_positions = ('after_stage', 'before_blocks')

    def __init__(self, frozen_stages: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        if not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(f'frozen_stages must be in [-1, '
                             f'{self.num_stages}], got {frozen_stages}')
        self.frozen_stages = max(frozen_stages, 0)
        self.load_report = None
        self._freeze_stages()

    def _freeze_stages(self) -> None:
        for layer in self.layers[:self.frozen_stages]:
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def forward_stagewise(self,
                          x: torch.Tensor,
                          hook: StageHook,
                          position: str = 'after_stage'
                          ) -> List[torch.Tensor]:
        """mmseg's forward with ``hook`` called in every stage.

        Args:
            x (Tensor): frames ``[N, 3, H, W]``.
            hook (StageHook): ``(stage_idx, feat [N, C_i, H_i, W_i]) ->
                feat`` of the same shape.
            position (str): ``'after_stage'``: on the stage's output, after
                its transformer layers and norm (the map the next stage reads
                and the pyramid level); ``'before_blocks'``: on the
                patch-embedded tokens, as a map, before the stage's
                transformer layers.

        Returns:
            list[Tensor]: the ``out_indices`` levels ``[N, C_i, H / s_i,
            W / s_i]``.
        """
        if position not in self.hook_positions:
            raise ValueError(f'{type(self).__name__}: position must be one '
                             f'of {self.hook_positions}, got {position!r}')
        before = position == 'before_blocks'
        outs = []
        for i, (patch_embed, blocks, norm) in enumerate(self.layers):
            x, hw_shape = patch_embed(x)
            if before:
                x = hook(i, nlc_to_nchw(x, hw_shape)).flatten(2).transpose(
                    1, 2)
            for block in blocks:
                x = block(x, hw_shape)
            x = nlc_to_nchw(norm(x), hw_shape)
            if not before:
                x = hook(i, x)
            if i in self.out_indices:
                outs.append(x)
        return outs

    def init_weights(self) -> None:
        """Load ``init_cfg`` of type ``Pretrained`` with
        :func:`~.mit_checkpoint.load_mit_checkpoint`; otherwise mmseg's
        initialisation."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            if not cfg.get('checkpoint'):
                raise ValueError(f'{type(self).__name__}: init_cfg of type '
                                 'Pretrained needs a checkpoint')
            self.load_report = load_mit_checkpoint(
                self, cfg['checkpoint'], prefix=cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()

    def train(self, mode: bool = True) -> 'FreezableMixVisionTransformer':
        """Set the mode, keeping the frozen stages in eval mode."""
        super().train(mode)
        self._freeze_stages()
        return self
