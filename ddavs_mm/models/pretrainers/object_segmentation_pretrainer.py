"""A visual backbone trained to segment the objects of synthetic frames."""
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor

from ddavs_mm.registry import MODELS


@MODELS.register_module()
class ObjectSegmentationPretrainer(BaseModel):
    """Backbone + SegFormer-style head that labels every pixel.

    The stand-in for ImageNet pretraining of MiT on the synthetic data set
    (see :class:`~ddavs_mm.datasets.SyntheticObjectFramesDataset`). The
    head's logits (its own stride, no upsampling) are compared with labels
    taken at that stride; cross-entropy. Frames are normalised with
    ``mean`` / ``std`` (the segmentation config's data preprocessor) and,
    in training, flipped left-right with probability ``flip_prob``.

    Args:
        backbone (dict): backbone config (four feature levels).
        head (dict): head config taking the list of levels, e.g.
            ``SegformerMaskDecoder``.
        mean (Sequence[float]): per-channel mean of RGB 0-255 pixels.
        std (Sequence[float]): per-channel std.
        flip_prob (float): Defaults to 0.5.
        data_preprocessor (dict, optional): Defaults to
            ``BaseDataPreprocessor`` (moves the batch to the device).
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 flip_prob: float = 0.5,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1),
                             persistent=False)
        self.flip_prob = float(flip_prob)

    def forward(self,
                inputs: Tensor,
                gt_seg: Optional[Tensor] = None,
                mode: str = 'tensor') -> Union[Tensor, Dict[str, Tensor]]:
        """Logits or losses of a batch of frames.

        Args:
            inputs (Tensor): uint8 RGB frames ``[B, H, W, 3]``.
            gt_seg (Tensor, optional): int64 labels ``[B, h, w]`` at the
                head's stride.
            mode (str): ``'tensor'`` / ``'predict'`` (logits ``[B, C, h,
                w]``) or ``'loss'`` (dict with ``loss`` and the batch's
                foreground pixel ``accuracy``).
        """
        x = inputs.permute(0, 3, 1, 2).contiguous().float()  # NCHW memory
        x = (x - self.mean) / self.std
        if self.training and self.flip_prob and gt_seg is not None:
            flip = torch.rand(len(x), device=x.device) < self.flip_prob
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
            gt_seg = torch.where(flip.view(-1, 1, 1), gt_seg.flip(-1),
                                 gt_seg)
        logits = self.head(list(self.backbone(x)))
        if mode in ('tensor', 'predict'):
            return logits
        if mode != 'loss':
            raise ValueError(f'unknown mode {mode!r}')
        if logits.shape[-2:] != gt_seg.shape[-2:]:
            raise ValueError(
                f'head output {tuple(logits.shape[-2:])} does not match the '
                f'labels {tuple(gt_seg.shape[-2:])}; set label_stride to '
                'the head\'s output stride')
        fg = gt_seg > 0
        hits = (logits.argmax(1)[fg] == gt_seg[fg]).float().sum()
        return dict(loss=F.cross_entropy(logits, gt_seg),
                    accuracy=(hits / fg.sum().clamp(min=1)).detach())
