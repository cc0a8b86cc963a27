"""Shared helpers of the DDAVS segmentation losses.

Every loss takes raw logits ``[N, K, H, W]`` and an int64 target
``[N, H, W]``. ``K == 1`` means a binary mask read through a sigmoid; ``K > 1``
means class ids read through a softmax. Pixels equal to ``ignore_index``
(255 by default) never count.
"""
from typing import Callable, Tuple

import torch
import torch.nn.functional as F


def check_logits_target(logits: torch.Tensor, target: torch.Tensor,
                        name: str) -> None:
    """Raise a clear error when ``logits``/``target`` shapes disagree."""
    if logits.dim() != 4:
        raise ValueError(f'{name}: logits must be [N, K, H, W], got '
                         f'{tuple(logits.shape)}')
    if target.dim() != 3 or target.shape[0] != logits.shape[0] or \
            target.shape[-2:] != logits.shape[-2:]:
        raise ValueError(
            f'{name}: target must be [N, H, W] matching logits '
            f'{tuple(logits.shape)}, got {tuple(target.shape)}')


def probs_and_onehot(logits: torch.Tensor, target: torch.Tensor,
                     ignore_index: int
                     ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Probabilities, one-hot targets and the valid-pixel mask.

    Args:
        logits (Tensor): ``[N, K, H, W]``.
        target (Tensor): ``[N, H, W]`` int64.
        ignore_index (int): label that is never counted.

    Returns:
        tuple: ``probs [N, K, H*W]``, ``onehot [N, K, H*W]`` (float) and
        ``valid [N, 1, H*W]`` (float 0/1).
    """
    n, k = logits.shape[:2]
    target = target.long()
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))
    if k == 1:
        if (safe > 1).any():
            found = torch.unique(safe).tolist()
            raise ValueError('binary loss got labels other than {0, 1, '
                             f'{ignore_index}}}: {found}')
        probs = logits.float().sigmoid()
        onehot = safe.unsqueeze(1).float()
    else:
        if (safe >= k).any() or (safe < 0).any():
            raise ValueError(f'labels outside [0, {k}) (ignore '
                             f'{ignore_index}): {torch.unique(safe).tolist()}')
        probs = logits.float().softmax(dim=1)
        onehot = F.one_hot(safe, k).permute(0, 3, 1, 2).float()
    valid = valid.unsqueeze(1).float()
    return (probs.reshape(n, k, -1), onehot.reshape(n, k, -1),
            valid.reshape(n, 1, -1))


def reduce_per_class(per_class: torch.Tensor, present: torch.Tensor,
                     class_reduction: str) -> torch.Tensor:
    """Reduce a ``[N, K]`` per-frame, per-class loss to a scalar.

    ``class_reduction='present'`` averages, in every frame, over the classes
    present in that frame's target (frames without any valid pixel are
    skipped); ``'all'`` averages over all K classes.
    """
    if class_reduction == 'all':
        return per_class.mean()
    if class_reduction != 'present':
        raise ValueError(f'class_reduction must be "present" or "all", got '
                         f'{class_reduction!r}')
    weight = present.float()
    frames = weight.sum(1) > 0
    if not frames.any():
        return per_class.sum() * 0.
    per_frame = (per_class * weight).sum(1)[frames] / weight.sum(1)[frames]
    return per_frame.mean()


def soft_overlap_loss(
        logits: torch.Tensor, target: torch.Tensor,
        per_class_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor],
                               torch.Tensor],
        ignore_index: int, class_reduction: str, name: str) -> torch.Tensor:
    """Shared body of the soft region losses (Dice, IoU), unweighted.

    Checks the shapes, turns logits into probabilities ``p`` and the target
    into one-hot ``y`` (:func:`probs_and_onehot`), drops ignored pixels,
    sums over each frame's pixels and hands ``inter = Σ p y``, ``Σ p`` and
    ``Σ y`` (each ``[N, K]``) to ``per_class_fn``, which returns the
    ``[N, K]`` per-frame, per-class loss. One channel: the mean over frames;
    K channels: :func:`reduce_per_class` with the classes present in each
    frame's target.

    Args:
        logits (Tensor): ``[N, K, H, W]``.
        target (Tensor): ``[N, H, W]`` int64.
        per_class_fn (callable): ``(inter, p_sum, y_sum) -> [N, K]``.
        ignore_index (int): label that is never counted.
        class_reduction (str): 'present' or 'all' (K > 1 only).
        name (str): the loss's name for error messages.

    Returns:
        Tensor: scalar loss (before the loss weight).
    """
    check_logits_target(logits, target, name)
    p, y, valid = probs_and_onehot(logits, target, ignore_index)
    p, y = p * valid, y * valid
    inter = (p * y).sum(-1)
    y_sum = y.sum(-1)
    per_class = per_class_fn(inter, p.sum(-1), y_sum)  # [N, K]
    if logits.shape[1] == 1:
        return per_class.mean()
    return reduce_per_class(per_class, y_sum > 0, class_reduction)
