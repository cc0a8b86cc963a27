"""Soft Dice loss of DDAVS (appendix F, Eq. 14)."""
import torch

from ddavs_mm.registry import MODELS
from .soft_overlap_loss import SoftOverlapLoss


@MODELS.register_module()
class AVSDiceLoss(SoftOverlapLoss):
    """``1 - (2 Σ p y + ε) / (Σ p + Σ y + ε)`` per frame (and class).

    Binary (one channel): p = sigmoid(logit), one Dice per frame, averaged
    over frames. Semantic (K channels): p = softmax, y = one-hot; one Dice
    per frame and class, reduced by ``class_reduction`` ('present': classes
    in the frame's target; 'all': all K). Ignored pixels are dropped from
    every sum.

    Args:
        loss_weight (float): λ_dice. Defaults to 5.0.
        eps (float): ε. Defaults to 1e-6.
        ignore_index (int): Defaults to 255.
        class_reduction (str): 'present' or 'all'. Defaults to 'present'.
        loss_name (str): Defaults to ``'loss_dice'``.
    """

    def __init__(self,
                 loss_weight: float = 5.0,
                 eps: float = 1e-6,
                 ignore_index: int = 255,
                 class_reduction: str = 'present',
                 loss_name: str = 'loss_dice'):
        super().__init__(loss_weight, eps, ignore_index, class_reduction,
                         loss_name)

    def overlap_loss(self, inter: torch.Tensor, p_sum: torch.Tensor,
                     y_sum: torch.Tensor) -> torch.Tensor:
        return 1 - (2 * inter + self.eps) / (p_sum + y_sum + self.eps)
