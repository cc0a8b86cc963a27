"""Soft IoU (Jaccard) loss of DDAVS (appendix F, Eq. 15)."""
import torch
import torch.nn as nn

from ddavs_mm.registry import MODELS
from .utils import soft_overlap_loss


@MODELS.register_module()
class AVSIoULoss(nn.Module):
    """``1 - (Σ p y + ε) / (Σ p + Σ y - Σ p y + ε)`` per frame (and class).

    Same conventions as :class:`AVSDiceLoss` (sigmoid for one channel,
    softmax + one-hot for K channels, ignored pixels dropped).

    Args:
        loss_weight (float): λ_iou. Defaults to 2.0.
        eps (float): ε. Defaults to 1e-6.
        ignore_index (int): Defaults to 255.
        class_reduction (str): 'present' or 'all'. Defaults to 'present'.
        loss_name (str): Defaults to ``'loss_iou'``.
    """

    def __init__(self,
                 loss_weight: float = 2.0,
                 eps: float = 1e-6,
                 ignore_index: int = 255,
                 class_reduction: str = 'present',
                 loss_name: str = 'loss_iou'):
        super().__init__()
        self.loss_weight = loss_weight
        self.eps = eps
        self.ignore_index = ignore_index
        self.class_reduction = class_reduction
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def forward(self, logits: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """Args: logits ``[N, K, H, W]``, target ``[N, H, W]`` int64."""
        return self.loss_weight * soft_overlap_loss(
            logits, target,
            lambda inter, p_sum, y_sum: 1 - (inter + self.eps) /
            (p_sum + y_sum - inter + self.eps),
            self.ignore_index, self.class_reduction, type(self).__name__)
