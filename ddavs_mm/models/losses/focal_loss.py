"""Balanced focal loss of DDAVS (appendix F, Eq. 13), pure PyTorch.

mmseg's ``FocalLoss`` calls the compiled ``sigmoid_focal_loss`` of mmcv,
which ``mmcv-lite`` lacks; this one needs no compiled operator.
"""
import torch
import torch.nn as nn

from ddavs_mm.registry import MODELS
from .utils import check_logits_target, probs_and_onehot


@MODELS.register_module()
class AVSFocalLoss(nn.Module):
    """``-[α (1-p)^γ y log(p+ε) + (1-α) p^γ (1-y) log(1-p+ε)]``, mean.

    Binary: p = sigmoid(logit), mean over valid pixels. Semantic: p =
    softmax, y = one-hot; the element-wise term is summed over the K classes
    and averaged over valid pixels.

    Args:
        alpha (float): positive weight α. Defaults to 0.25.
        gamma (float): focusing γ. Defaults to 2.0.
        loss_weight (float): Defaults to 1.0.
        eps (float): Defaults to 1e-6.
        ignore_index (int): Defaults to 255.
        loss_name (str): Defaults to ``'loss_focal'``.
    """

    def __init__(self,
                 alpha: float = 0.25,
                 gamma: float = 2.0,
                 loss_weight: float = 1.0,
                 eps: float = 1e-6,
                 ignore_index: int = 255,
                 loss_name: str = 'loss_focal'):
        super().__init__()
        if not 0 <= alpha <= 1:
            raise ValueError(f'alpha must be in [0, 1], got {alpha}')
        self.alpha = alpha
        self.gamma = gamma
        self.loss_weight = loss_weight
        self.eps = eps
        self.ignore_index = ignore_index
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def forward(self, logits: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """Args: logits ``[N, K, H, W]``, target ``[N, H, W]`` int64."""
        check_logits_target(logits, target, type(self).__name__)
        p, y, valid = probs_and_onehot(logits, target, self.ignore_index)
        a, g, e = self.alpha, self.gamma, self.eps
        term = -(a * (1 - p).pow(g) * y * torch.log(p + e) +
                 (1 - a) * p.pow(g) * (1 - y) * torch.log(1 - p + e))
        num_valid = valid.sum()
        if num_valid == 0:
            return logits.sum() * 0.
        loss = (term * valid).sum() / num_valid
        return self.loss_weight * loss
