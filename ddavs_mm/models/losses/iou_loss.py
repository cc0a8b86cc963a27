"""Soft IoU (Jaccard) loss of DDAVS (appendix F, Eq. 15)."""
import torch
import torch.nn as nn

from ddavs_mm.registry import MODELS
from .utils import check_logits_target, probs_and_onehot, reduce_per_class


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
        check_logits_target(logits, target, type(self).__name__)
        p, y, valid = probs_and_onehot(logits, target, self.ignore_index)
        p, y = p * valid, y * valid
        inter = (p * y).sum(-1)
        union = p.sum(-1) + y.sum(-1) - inter
        per_class = 1 - (inter + self.eps) / (union + self.eps)  # [N, K]
        if logits.shape[1] == 1:
            loss = per_class.mean()
        else:
            loss = reduce_per_class(per_class, y.sum(-1) > 0,
                                    self.class_reduction)
        return self.loss_weight * loss
