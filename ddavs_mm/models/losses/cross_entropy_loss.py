"""Pixel-wise cross-entropy of DDAVS (appendix F, Eq. 12)."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ddavs_mm.registry import MODELS
from .utils import check_logits_target


@MODELS.register_module()
class AVSCrossEntropyLoss(nn.Module):
    """Binary (sigmoid) or multi-class (softmax) cross-entropy.

    One logit channel → ``BCEWithLogits`` against {0, 1} labels; K > 1
    channels → softmax cross-entropy over class ids. ``ignore_index`` pixels
    are excluded; the mean is taken over the valid pixels of the batch.
    (mmseg's ``CrossEntropyLoss(use_sigmoid=True)`` one-hot encodes a
    single-channel target to all zeros, hence this small class.)

    Args:
        loss_weight (float): λ_ce. Defaults to 5.0 (DDESeg prior).
        ignore_index (int): Defaults to 255.
        class_weight (Sequence[float], optional): per-class weights (softmax
            mode only).
        loss_name (str): key in the loss dict. Defaults to ``'loss_ce'``.
    """

    def __init__(self,
                 loss_weight: float = 5.0,
                 ignore_index: int = 255,
                 class_weight: Optional[Sequence[float]] = None,
                 loss_name: str = 'loss_ce'):
        super().__init__()
        self.loss_weight = loss_weight
        self.ignore_index = ignore_index
        self.class_weight = class_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def forward(self, logits: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """Args: logits ``[N, K, H, W]``, target ``[N, H, W]`` int64."""
        check_logits_target(logits, target, type(self).__name__)
        target = target.long()
        if logits.shape[1] == 1:
            valid = target != self.ignore_index
            if not valid.any():
                return logits.sum() * 0.
            target = torch.where(valid, target, torch.zeros_like(target))
            if (target > 1).any():
                raise ValueError('binary cross-entropy got labels other '
                                 'than {0, 1, ignore}')
            # the mean over valid pixels, as a weighted sum (no boolean
            # gather of the full-size maps)
            valid = valid.float()
            loss = F.binary_cross_entropy_with_logits(
                logits[:, 0].float(), target.float(), weight=valid,
                reduction='sum') / valid.sum()
        else:
            weight = None
            if self.class_weight is not None:
                weight = logits.new_tensor(self.class_weight).float()
            if not (target != self.ignore_index).any():
                return logits.sum() * 0.
            loss = F.cross_entropy(
                logits.float(), target, weight=weight,
                ignore_index=self.ignore_index)
        return self.loss_weight * loss
