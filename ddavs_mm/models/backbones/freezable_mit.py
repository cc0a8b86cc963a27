"""MiT (SegFormer's Mix Transformer) whose first stages can be frozen and
whose pretrained weights may come in any of the three MiT layouts."""
from mmseg.models.backbones import MixVisionTransformer

from ddavs_mm.registry import MODELS
from .mit_checkpoint import load_mit_checkpoint


@MODELS.register_module()
class FreezableMixVisionTransformer(MixVisionTransformer):
    """mmseg's :class:`~mmseg.models.backbones.MixVisionTransformer` plus the
    ``frozen_stages`` option of OpenMMLab's CNN/Swin backbones.

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
