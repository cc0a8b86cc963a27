"""Shared machinery of the soft Dice and soft IoU losses (appendix F)."""
import torch
import torch.nn as nn

from .utils import soft_overlap_loss


class SoftOverlapLoss(nn.Module):
    """Base of per-frame (and per-class) soft overlap losses.

    Subclasses define :meth:`overlap_loss` from the soft intersection
    ``Σ p y`` and the sums ``Σ p``, ``Σ y`` of a frame (and class); the
    probabilities, one-hot targets, ignored pixels and the reduction over
    frames and classes are shared (:func:`soft_overlap_loss`).

    Args:
        loss_weight (float): λ of the loss.
        eps (float): ε. Defaults to 1e-6.
        ignore_index (int): Defaults to 255.
        class_reduction (str): 'present' or 'all'. Defaults to 'present'.
        loss_name (str): key of the loss in the loss dict.
    """

    def __init__(self,
                 loss_weight: float,
                 eps: float = 1e-6,
                 ignore_index: int = 255,
                 class_reduction: str = 'present',
                 loss_name: str = 'loss_overlap'):
        super().__init__()
        self.loss_weight = loss_weight
        self.eps = eps
        self.ignore_index = ignore_index
        self.class_reduction = class_reduction
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def overlap_loss(self, inter: torch.Tensor, p_sum: torch.Tensor,
                     y_sum: torch.Tensor) -> torch.Tensor:
        """The loss of each frame (and class) from its soft sums."""
        raise NotImplementedError

    def forward(self, logits: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """Args: logits ``[N, K, H, W]``, target ``[N, H, W]`` int64."""
        return self.loss_weight * soft_overlap_loss(
            logits, target, self.overlap_loss, self.ignore_index,
            self.class_reduction, type(self).__name__)
