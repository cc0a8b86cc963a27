"""Official AVS metrics as pure functions on torch tensors (CPU or GPU).

Three protocols are implemented, each as *per-frame sufficient statistics*
plus *reducers* over stacked statistics; the one-call functions
(:func:`avsbench_jaccard`, :func:`avsbench_fscore`, :func:`avss_miou_fscore`,
:func:`vpo_miou_fscore`) are thin compositions of the two, and
:class:`ddavs_mm.evaluation.metrics.JFMetric` uses the very same pieces, so
there is one implementation of every formula.

* **AVSBench object (S4 / MS3)**, after ``avs_scripts/avs_s4/utils/utility.py``
  of OpenNLPLab/AVSBench (``mask_iou`` and ``Eval_Fmeasure``):
  :func:`avsbench_frame_stats` -> :func:`avsbench_jaccard_from_stats`,
  :func:`avsbench_fscore_from_stats`.
* **AVSBench semantic (AVSS)**, after
  ``avs_scripts/avss/utils/compute_color_metrics.py`` (``_batch_miou_fscore``)
  and the aggregation of ``avs_scripts/avss/test.py``:
  :func:`semantic_frame_stats` -> :func:`avss_reduce`.
* **VPO**, after ``utils/eval_utils.py`` of cyh-0/CAVP (``MIoU`` and
  ``ForegroundDetect``): :func:`semantic_frame_stats` -> :func:`vpo_reduce`.

All values are fractions in [0, 1]. Statistics are integer pixel counts
(``int64``); reductions run in ``float64`` (the official scripts use
``float32``; the difference is rounding only).

The AVSBench F-measure needs precision/recall at 255 thresholds. Instead of
255 thresholded masks, each frame's sigmoid probabilities are bucketised
against the thresholds and counted per bucket for ground-truth foreground
pixels and for all pixels; reverse cumulative sums then give the exact counts
of ``p >= t`` for every threshold. Memory is O(H*W + 255) per frame.

Each protocol scores at its own resolution (:data:`OFFICIAL_EVAL_SIZES`);
:func:`resize_for_eval` brings predictions and labels there.
"""
from typing import Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'AVSBENCH_BETA2', 'AVSBENCH_NUM_THRESHOLDS', 'avsbench_thresholds',
    'avsbench_jaccard_stats', 'avsbench_fscore_stats', 'avsbench_frame_stats',
    'avsbench_jaccard_from_stats', 'avsbench_fscore_curves',
    'avsbench_fscore_from_stats', 'grouped_mean', 'avsbench_jaccard',
    'avsbench_fscore', 'semantic_frame_stats', 'avss_reduce', 'vpo_reduce',
    'avss_miou_fscore', 'vpo_miou_fscore', 'OFFICIAL_EVAL_SIZES',
    'nearest_indices', 'resize_for_eval'
]

#: beta^2 of the F-measure in all three protocols.
AVSBENCH_BETA2 = 0.3
#: Number of thresholds of the AVSBench F-measure.
AVSBENCH_NUM_THRESHOLDS = 255
#: Denominator epsilon of the AVSBench Jaccard (``mask_iou``).
AVSBENCH_JACCARD_EPS = 1e-7
#: Denominator epsilon of precision/recall in ``_eval_pr``.
AVSBENCH_PR_EPS = 1e-20
#: ``numpy.spacing(1)``, the epsilon of the AVSS and CAVP IoU denominators.
FLOAT64_SPACING = 2.220446049250313e-16


#: Frame size ``(H, W)`` at which each official protocol scores; None: the
#: ground truth's own size. AVSBench S4/MS3 (``avs_s4/dataloader.py``,
#: ``avs_ms3/dataloader.py``) and CAVP's VPO loader (``test_aug``) read the
#: masks as stored; the AVSS loader (``avss/color_dataloader.py``,
#: ``resize_img``) resizes the labels to 224 x 224 with PIL's NEAREST.
OFFICIAL_EVAL_SIZES = {'avsbench': None, 'avss': (224, 224), 'vpo': None}


def nearest_indices(n_in: int, n_out: int) -> Tensor:
    """Source index of each output pixel of PIL's ``NEAREST`` resize.

    PIL samples at pixel centres, ``x_in = (x + 0.5) * n_in / n_out``,
    accumulating the coordinate by repeated float64 additions and
    truncating; the sums are reproduced here, so ties (``x_in`` an exact
    integer) fall on the same side as in PIL.

    Args:
        n_in (int): input length.
        n_out (int): output length.

    Returns:
        Tensor: int64 ``[n_out]`` in ``[0, n_in)``.
    """
    step = n_in / n_out
    coords = np.cumsum(np.r_[step * 0.5, np.full(n_out - 1, step)])
    return torch.from_numpy(np.minimum(coords.astype(np.int64), n_in - 1))


def resize_for_eval(logits: Tensor,
                    labels: Tensor,
                    size: Optional[Tuple[int, int]] = None
                    ) -> Tuple[Tensor, Tensor]:
    """Bring predictions and labels to the size a protocol scores at.

    Logits are resized bilinearly (``align_corners=False``); labels by
    nearest neighbour exactly as PIL's ``NEAREST`` (the official AVSS
    loader's resize, :func:`nearest_indices`), so label values are never
    mixed.

    Args:
        logits (Tensor): float ``[N, C, h, w]``.
        labels (Tensor): int ``[N, H, W]``.
        size (tuple[int, int], optional): ``(H, W)`` to score at; None
            keeps the labels' size.

    Returns:
        tuple[Tensor, Tensor]: logits ``[N, C, H', W']`` and labels
        ``[N, H', W']``.
    """
    (h, w), size = labels.shape[-2:], tuple(size or labels.shape[-2:])
    if (h, w) != size:
        rows = nearest_indices(h, size[0]).to(labels.device)
        cols = nearest_indices(w, size[1]).to(labels.device)
        labels = labels[:, rows][:, :, cols]
    if tuple(logits.shape[-2:]) != size:
        logits = F.interpolate(logits.float(), size=size, mode='bilinear',
                               align_corners=False)
    return logits, labels


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------
def _check_binary_inputs(logits: Tensor, gts: Tensor,
                         ignore_index: Optional[int]) -> Tensor:
    """Validate [N, H, W] logits / binary masks; return the valid mask."""
    if logits.dim() != 3:
        raise ValueError('AVSBench metrics expect logits of shape [N, H, W], '
                         f'got {tuple(logits.shape)}')
    if gts.shape != logits.shape:
        raise ValueError(f'ground-truth masks of shape {tuple(gts.shape)} do '
                         f'not match logits of shape {tuple(logits.shape)}')
    if not logits.is_floating_point():
        raise TypeError(f'logits must be floating point, got {logits.dtype}')
    if torch.isnan(logits).any():
        raise ValueError('logits contain NaN')
    if ignore_index is None:
        valid = torch.ones_like(gts, dtype=torch.bool)
    else:
        valid = gts != ignore_index
    bad = valid & (gts != 0) & (gts != 1)
    if bad.any():
        values = torch.unique(gts[bad]).tolist()[:5]
        raise ValueError('binary ground-truth masks must hold 0, 1 or the '
                         f'ignore index {ignore_index}; found {values}')
    return valid


def _check_semantic_inputs(logits: Tensor, gts: Tensor,
                           num_classes: Optional[int],
                           ignore_index: Optional[int]) -> Tensor:
    """Validate [N, C, H, W] logits / [N, H, W] labels; return valid mask."""
    if logits.dim() != 4:
        raise ValueError('semantic metrics expect logits of shape '
                         f'[N, C, H, W], got {tuple(logits.shape)}')
    n, c, h, w = logits.shape
    if num_classes is not None and c != num_classes:
        raise ValueError(f'logits have {c} channels but num_classes is '
                         f'{num_classes}')
    if gts.shape != (n, h, w):
        raise ValueError(f'ground-truth labels of shape {tuple(gts.shape)} '
                         f'do not match logits of shape {tuple(logits.shape)}'
                         ' (expected [N, H, W])')
    if torch.isnan(logits).any():
        raise ValueError('logits contain NaN')
    if ignore_index is None:
        valid = torch.ones_like(gts, dtype=torch.bool)
    else:
        valid = gts != ignore_index
    bad = valid & ((gts < 0) | (gts >= c))
    if bad.any():
        values = torch.unique(gts[bad]).tolist()[:5]
        raise ValueError(f'ground-truth labels must lie in [0, {c}) or equal '
                         f'the ignore index {ignore_index}; found {values}')
    return valid


# ---------------------------------------------------------------------------
# AVSBench object (S4 / MS3)
# ---------------------------------------------------------------------------
def avsbench_thresholds(num_thresholds: int = AVSBENCH_NUM_THRESHOLDS,
                        device=None) -> Tensor:
    """The thresholds of ``_eval_pr``: ``linspace(0, 1 - 1e-10, n)``.

    Built in ``float32`` like the official script (where ``1 - 1e-10``
    rounds to exactly 1.0), so comparisons with ``float32`` sigmoid
    probabilities give the official counts.

    Returns:
        Tensor: float32 [num_thresholds].
    """
    return torch.linspace(
        0, 1 - 1e-10, num_thresholds, dtype=torch.float32, device=device)


def avsbench_jaccard_stats(logits: Tensor,
                           gts: Tensor,
                           ignore_index: Optional[int] = 255
                           ) -> Dict[str, Tensor]:
    """Per-frame intersection and union of the AVSBench Jaccard.

    Prediction: ``sigmoid(logit) > 0.5``. For a frame whose ground truth is
    empty, the intersection is replaced by the number of pixels where both
    prediction and ground truth are 0 and the union by the number of pixels
    (``mask_iou`` in ``avs_s4/utils/utility.py``). Pixels equal to
    ``ignore_index`` are left out of every count (the official masks have
    none).

    Args:
        logits (Tensor): [N, H, W] logits.
        gts (Tensor): [N, H, W] binary masks (0/1, ``ignore_index``).
        ignore_index (int, optional): label to ignore. Defaults to 255.

    Returns:
        dict: ``inter`` int64 [N], ``union`` int64 [N].
    """
    valid = _check_binary_inputs(logits, gts, ignore_index)
    pred = (logits.float().sigmoid() > 0.5) & valid
    fg = (gts == 1) & valid
    bg = (gts == 0) & valid
    inter = (pred & fg).sum(dim=(1, 2))
    union = (pred | fg).sum(dim=(1, 2))
    empty = fg.sum(dim=(1, 2)) == 0
    true_neg = (~pred & bg).sum(dim=(1, 2))
    num_valid = valid.sum(dim=(1, 2))
    inter = torch.where(empty, true_neg, inter)
    union = torch.where(empty, num_valid, union)
    return dict(inter=inter.long(), union=union.long())


def avsbench_fscore_stats(logits: Tensor,
                          gts: Tensor,
                          ignore_index: Optional[int] = 255,
                          num_thresholds: int = AVSBENCH_NUM_THRESHOLDS
                          ) -> Dict[str, Tensor]:
    """Per-frame threshold counts of the AVSBench F-measure.

    For every threshold ``t_i`` of :func:`avsbench_thresholds`, counts the
    pixels with ``sigmoid(logit) >= t_i`` (``pred_count``) and among them
    the ground-truth foreground ones (``tp``), via per-frame histograms of
    the bucketised probabilities and reverse cumulative sums (exact, no
    thresholded masks are built).

    Args:
        logits (Tensor): [N, H, W] logits.
        gts (Tensor): [N, H, W] binary masks (0/1, ``ignore_index``).
        ignore_index (int, optional): label to ignore. Defaults to 255.
        num_thresholds (int): number of thresholds. Defaults to 255.

    Returns:
        dict: ``tp`` int64 [N, num_thresholds], ``pred_count`` int64
        [N, num_thresholds], ``gt_count`` int64 [N] (foreground pixels).
    """
    valid = _check_binary_inputs(logits, gts, ignore_index)
    n = logits.shape[0]
    nbins = num_thresholds + 1
    probs = logits.float().sigmoid()
    thresholds = avsbench_thresholds(num_thresholds, device=logits.device)
    # bucket b = number of thresholds <= p, so p >= t_j  <=>  b >= j + 1
    bucket = torch.bucketize(probs, thresholds, right=True)
    frame = torch.arange(n, device=logits.device).view(n, 1, 1)
    flat = (frame * nbins + bucket)
    fg = (gts == 1) & valid
    hist_all = torch.bincount(flat[valid], minlength=n * nbins).view(n, nbins)
    hist_fg = torch.bincount(flat[fg], minlength=n * nbins).view(n, nbins)

    def _at_least(hist: Tensor) -> Tensor:
        # entry j = sum_{b >= j + 1} hist[b]
        return hist[:, 1:].flip(1).cumsum(1).flip(1)

    return dict(
        tp=_at_least(hist_fg).long(),
        pred_count=_at_least(hist_all).long(),
        gt_count=fg.sum(dim=(1, 2)).long())


def avsbench_frame_stats(logits: Tensor,
                         gts: Tensor,
                         ignore_index: Optional[int] = 255,
                         num_thresholds: int = AVSBENCH_NUM_THRESHOLDS
                         ) -> Dict[str, Tensor]:
    """All per-frame statistics of the AVSBench J and F.

    The union of :func:`avsbench_jaccard_stats` and
    :func:`avsbench_fscore_stats`.

    Returns:
        dict: ``inter`` [N], ``union`` [N], ``tp`` [N, T],
        ``pred_count`` [N, T], ``gt_count`` [N], all int64.
    """
    stats = avsbench_jaccard_stats(logits, gts, ignore_index)
    stats.update(
        avsbench_fscore_stats(logits, gts, ignore_index, num_thresholds))
    return stats


def avsbench_jaccard_from_stats(inter: Tensor,
                                union: Tensor,
                                eps: float = AVSBENCH_JACCARD_EPS) -> Tensor:
    """Per-frame Jaccard ``inter / (union + eps)``.

    Args:
        inter (Tensor): [N] counts from :func:`avsbench_jaccard_stats`.
        union (Tensor): [N] counts.
        eps (float): official epsilon 1e-7.

    Returns:
        Tensor: float64 [N] in [0, 1].
    """
    return inter.double() / (union.double() + eps)


def avsbench_fscore_curves(tp: Tensor,
                           pred_count: Tensor,
                           gt_count: Tensor,
                           beta2: float = AVSBENCH_BETA2) -> Tensor:
    """Per-frame F_beta curves over the thresholds (``_eval_pr``).

    precision = tp / (pred_count + 1e-20), recall = tp / (gt_count + 1e-20),
    F = (1 + beta2) P R / (beta2 P + R), NaN -> 0.

    Args:
        tp (Tensor): [N, T] counts.
        pred_count (Tensor): [N, T] counts.
        gt_count (Tensor): [N] counts.
        beta2 (float): beta squared. Defaults to 0.3.

    Returns:
        Tensor: float64 [N, T].
    """
    tp = tp.double()
    prec = tp / (pred_count.double() + AVSBENCH_PR_EPS)
    rec = tp / (gt_count.double().unsqueeze(-1) + AVSBENCH_PR_EPS)
    f = (1 + beta2) * prec * rec / (beta2 * prec + rec)
    return torch.nan_to_num(f, nan=0.0)


def _group_ids(n: int, group_size: Optional[int], device) -> Tuple[Tensor,
                                                                   int]:
    if group_size is None:
        return torch.zeros(n, dtype=torch.long, device=device), 1
    if int(group_size) < 1:
        raise ValueError(f'group_size must be a positive int or None, got '
                         f'{group_size}')
    group_size = int(group_size)
    return (torch.arange(n, device=device) // group_size,
            (n + group_size - 1) // group_size)


def grouped_mean(values: Tensor, group_size: Optional[int] = None) -> Tensor:
    """Mean of the means of consecutive groups of ``group_size`` values.

    This is how the official test scripts average per-batch means (the last
    group may be short). ``group_size=None`` gives the plain mean.

    Args:
        values (Tensor): [N].
        group_size (int, optional): group length. Defaults to None.

    Returns:
        Tensor: float64 scalar.
    """
    if values.numel() == 0:
        raise ValueError('cannot average an empty set of frames')
    values = values.double()
    gid, num_groups = _group_ids(values.numel(), group_size, values.device)
    sums = torch.zeros(num_groups, dtype=torch.float64, device=values.device)
    sums.index_add_(0, gid, values)
    counts = torch.bincount(gid, minlength=num_groups).double()
    return (sums / counts).mean()


def avsbench_fscore_from_stats(tp: Tensor,
                               pred_count: Tensor,
                               gt_count: Tensor,
                               group_size: Optional[int] = 20,
                               beta2: float = AVSBENCH_BETA2) -> Tensor:
    """AVSBench F-measure from stacked per-frame statistics.

    ``Eval_Fmeasure`` of ``avs_s4/utils/utility.py``: frames are split into
    consecutive groups of ``group_size`` (the official test batch: 4 clips x
    5 frames = 20); in each group the F curves of the frames with non-empty
    ground truth are averaged and the maximum over thresholds taken (a group
    with no such frame scores 0); the result is the mean over groups.
    ``group_size=None`` puts all frames in one group (batch-independent).

    Args:
        tp (Tensor): [N, T] counts, frames in evaluation order.
        pred_count (Tensor): [N, T] counts.
        gt_count (Tensor): [N] counts.
        group_size (int, optional): frames per group. Defaults to 20.
        beta2 (float): beta squared. Defaults to 0.3.

    Returns:
        Tensor: float64 scalar in [0, 1].
    """
    n = gt_count.numel()
    if n == 0:
        raise ValueError('cannot compute the F-measure of zero frames')
    curves = avsbench_fscore_curves(tp, pred_count, gt_count, beta2)
    gid, num_groups = _group_ids(n, group_size, curves.device)
    keep = gt_count > 0
    sums = torch.zeros(
        num_groups, curves.shape[1], dtype=torch.float64, device=curves.device)
    sums.index_add_(0, gid[keep], curves[keep])
    counts = torch.bincount(gid[keep], minlength=num_groups).double()
    mean_curves = sums / counts.clamp(min=1).unsqueeze(1)  # empty group -> 0
    return mean_curves.max(dim=1).values.mean()


def avsbench_jaccard(logits: Tensor,
                     gts: Tensor,
                     ignore_index: Optional[int] = 255) -> Tensor:
    """Per-frame AVSBench Jaccard (``mask_iou`` with ``size_average=False``).

    Args:
        logits (Tensor): [N, H, W] logits.
        gts (Tensor): [N, H, W] binary masks.
        ignore_index (int, optional): label to ignore. Defaults to 255.

    Returns:
        Tensor: float64 [N] in [0, 1].
    """
    stats = avsbench_jaccard_stats(logits, gts, ignore_index)
    return avsbench_jaccard_from_stats(stats['inter'], stats['union'])


def avsbench_fscore(logits: Tensor,
                    gts: Tensor,
                    group_size: Optional[int] = 20,
                    ignore_index: Optional[int] = 255) -> Tensor:
    """AVSBench F-measure (``Eval_Fmeasure``) of frames in order.

    Args:
        logits (Tensor): [N, H, W] logits.
        gts (Tensor): [N, H, W] binary masks.
        group_size (int, optional): official evaluation batch in frames
            (20); None for the batch-independent variant.
        ignore_index (int, optional): label to ignore. Defaults to 255.

    Returns:
        Tensor: float64 scalar in [0, 1].
    """
    stats = avsbench_fscore_stats(logits, gts, ignore_index)
    return avsbench_fscore_from_stats(stats['tp'], stats['pred_count'],
                                      stats['gt_count'], group_size)


# ---------------------------------------------------------------------------
# semantic protocols (AVSS, VPO)
# ---------------------------------------------------------------------------
def semantic_frame_stats(logits: Tensor,
                         gts: Tensor,
                         num_classes: Optional[int] = None,
                         ignore_index: Optional[int] = 255) -> Tensor:
    """Per-frame, per-class pixel counts at the argmax.

    The prediction is ``argmax`` over classes (the official scripts take it
    after a softmax, which does not change it). Pixels whose label equals
    ``ignore_index`` are left out of all counts (as in CAVP; the official
    AVSS labels have no such pixels).

    Args:
        logits (Tensor): [N, C, H, W] logits (or scores).
        gts (Tensor): [N, H, W] class ids in [0, C) or ``ignore_index``.
        num_classes (int, optional): checked against C when given.
        ignore_index (int, optional): label to ignore. Defaults to 255.

    Returns:
        Tensor: int64 [N, 3, C]; rows are the intersection (true positives),
        the predicted area and the ground-truth area of each class.
    """
    valid = _check_semantic_inputs(logits, gts, num_classes, ignore_index)
    n, c = logits.shape[:2]
    pred = logits.argmax(dim=1)
    gts = gts.long()
    frame = torch.arange(n, device=logits.device).view(n, 1, 1) * c
    hit = valid & (pred == gts)
    inter = torch.bincount((frame + gts)[hit], minlength=n * c)
    area_pred = torch.bincount((frame + pred)[valid], minlength=n * c)
    area_gt = torch.bincount((frame + gts)[valid], minlength=n * c)
    return torch.stack([inter, area_pred, area_gt]).view(3, n, c).transpose(
        0, 1).long().contiguous()


def _split_semantic_stats(stats: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    if stats.dim() != 3 or stats.shape[1] != 3:
        raise ValueError('semantic statistics must have shape [N, 3, C], got '
                         f'{tuple(stats.shape)}')
    stats = stats.double()
    return stats[:, 0], stats[:, 1], stats[:, 2]


def avss_reduce(stats: Tensor,
                beta2: float = AVSBENCH_BETA2) -> Dict[str, Tensor]:
    """AVSS mIoU and F from stacked per-frame statistics.

    ``_batch_miou_fscore`` of ``avss/utils/compute_color_metrics.py`` with the
    aggregation of ``avss/test.py``: per frame and class, IoU =
    inter / (union + eps) and F_beta at the argmax (NaN -> 0); a class counts
    in a frame only if it appears in the prediction or the ground truth
    (union > 0). Per class, the sums over all frames are divided by those
    counts (never-seen classes -> 0); mIoU and F are means over all C classes,
    background included. Independent of frame order and batching.

    Args:
        stats (Tensor): [N, 3, C] from :func:`semantic_frame_stats`.
        beta2 (float): beta squared. Defaults to 0.3.

    Returns:
        dict: ``mIoU``, ``F`` (float64 scalars), ``IoU`` and ``Fscore``
        (float64 [C] per class), ``count`` (float64 [C] frames per class).
    """
    inter, area_pred, area_gt = _split_semantic_stats(stats)
    union = area_pred + area_gt - inter
    iou = inter / (union + FLOAT64_SPACING)
    prec = inter / area_pred
    rec = inter / area_gt
    f = torch.nan_to_num((1 + beta2) * prec * rec / (beta2 * prec + rec),
                         nan=0.0)
    count = (union > 0).double().sum(0)
    iou_c = torch.nan_to_num(iou.sum(0) / count, nan=0.0)
    f_c = torch.nan_to_num(f.sum(0) / count, nan=0.0)
    return dict(
        mIoU=iou_c.mean(), F=f_c.mean(), IoU=iou_c, Fscore=f_c, count=count)


def vpo_reduce(stats: Tensor,
               beta2: float = AVSBENCH_BETA2) -> Dict[str, Tensor]:
    """VPO mIoU and F from stacked per-frame statistics (CAVP protocol).

    ``MIoU`` and ``ForegroundDetect`` of ``utils/eval_utils.py`` in
    cyh-0/CAVP: intersections and unions are summed per class over the data
    set, IoU = inter / (eps + union), mIoU = mean over all C classes
    (background included; never-seen classes count 0). F_beta per class from
    the pooled pixel confusion matrix, (1 + b2) TP / ((1 + b2) TP + b2 FN +
    FP), averaged with ``nanmean`` over the classes, background included (a
    class absent from both prediction and ground truth everywhere is NaN
    and left out, as in CAVP).

    Args:
        stats (Tensor): [N, 3, C] from :func:`semantic_frame_stats`.
        beta2 (float): beta squared. Defaults to 0.3.

    Returns:
        dict: ``mIoU``, ``F`` (float64 scalars), ``IoU`` and ``Fscore``
        (float64 [C] per class; ``Fscore`` NaN where undefined).
    """
    inter, area_pred, area_gt = _split_semantic_stats(stats)
    tp, area_pred, area_gt = inter.sum(0), area_pred.sum(0), area_gt.sum(0)
    union = area_pred + area_gt - tp
    iou = tp / (union + FLOAT64_SPACING)
    fp = area_pred - tp
    fn = area_gt - tp
    f = (1 + beta2) * tp / ((1 + beta2) * tp + beta2 * fn + fp)
    return dict(mIoU=iou.mean(), F=torch.nanmean(f), IoU=iou, Fscore=f)


def avss_miou_fscore(logits: Tensor,
                     gts: Tensor,
                     ignore_index: Optional[int] = 255
                     ) -> Tuple[Tensor, Tensor]:
    """AVSS mIoU and F (see :func:`avss_reduce`).

    Args:
        logits (Tensor): [N, C, H, W] logits.
        gts (Tensor): [N, H, W] class ids.
        ignore_index (int, optional): label to ignore. Defaults to 255.

    Returns:
        tuple[Tensor, Tensor]: float64 scalars (mIoU, F) in [0, 1].
    """
    out = avss_reduce(semantic_frame_stats(logits, gts, None, ignore_index))
    return out['mIoU'], out['F']


def vpo_miou_fscore(logits: Tensor,
                    gts: Tensor,
                    ignore_index: Optional[int] = 255
                    ) -> Tuple[Tensor, Tensor]:
    """VPO mIoU and F (see :func:`vpo_reduce`).

    Args:
        logits (Tensor): [N, C, H, W] logits.
        gts (Tensor): [N, H, W] class ids (``ignore_index`` ignored).
        ignore_index (int, optional): label to ignore. Defaults to 255.

    Returns:
        tuple[Tensor, Tensor]: float64 scalars (mIoU, F) in [0, 1].
    """
    out = vpo_reduce(semantic_frame_stats(logits, gts, None, ignore_index))
    return out['mIoU'], out['F']
