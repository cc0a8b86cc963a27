"""Soft Dice loss of DDAVS (appendix F, Eq. 14)."""
import torch
import torch.nn as nn

from ddavs_mm.registry import MODELS
from .utils import soft_overlap_loss


@MODELS.register_module()
class AVSDiceLoss(nn.Module):
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
            lambda inter, p_sum, y_sum: 1 - (2 * inter + self.eps) /
            (p_sum + y_sum + self.eps),
            self.ignore_index, self.class_reduction, type(self).__name__)
