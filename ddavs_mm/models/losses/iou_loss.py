"""Soft IoU (Jaccard) loss of DDAVS (appendix F, Eq. 15)."""
import torch

from ddavs_mm.registry import MODELS
from .soft_overlap_loss import SoftOverlapLoss


@MODELS.register_module()
class AVSIoULoss(SoftOverlapLoss):
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
        super().__init__(loss_weight, eps, ignore_index, class_reduction,
                         loss_name)

    def overlap_loss(self, inter: torch.Tensor, p_sum: torch.Tensor,
                     y_sum: torch.Tensor) -> torch.Tensor:
        return 1 - (inter + self.eps) / (p_sum + y_sum - inter + self.eps)
