"""Tests of ddavs_mm.evaluation.functional against hand-computed values and
naive transcriptions of the published formulas."""
import math

import numpy as np
import pytest
import torch

from ddavs_mm.evaluation.functional import (avsbench_frame_stats,
                                            avsbench_fscore,
                                            avsbench_fscore_curves,
                                            avsbench_fscore_from_stats,
                                            avsbench_fscore_stats,
                                            avsbench_jaccard,
                                            avsbench_thresholds,
                                            avss_miou_fscore, avss_reduce,
                                            grouped_mean, semantic_frame_stats,
                                            vpo_miou_fscore, vpo_reduce)

BETA2 = 0.3


def logit(p):
    p = torch.as_tensor(p, dtype=torch.float64)
    return torch.log(p / (1 - p)).float()


# ---------------------------------------------------------------------------
# naive transcriptions of the published formulas (loops, thresholded masks)
# ---------------------------------------------------------------------------
def naive_jaccard(logits, gts):
    """mask_iou of avs_s4/utils/utility.py, frame by frame."""
    out = []
    for pred_l, gt in zip(logits, gts):
        pred = (torch.sigmoid(pred_l.float()) > 0.5).int()
        gt = gt.int()
        if gt.sum() == 0:
            inter = ((1 - gt) * (1 - pred)).sum().item()
            union = gt.numel()
        else:
            inter = (pred * gt).sum().item()
            union = torch.max(pred, gt).sum().item()
        out.append(inter / (union + 1e-7))
    return torch.tensor(out, dtype=torch.float64)


def naive_pr_counts(prob, gt):
    """255 thresholded masks: counts of (p >= t) and of true positives."""
    thr = torch.linspace(0, 1 - 1e-10, 255)  # float32, as in _eval_pr
    tp, pos = [], []
    for i in range(255):
        y = (prob >= thr[i]).int()
        tp.append(int((y * gt).sum()))
        pos.append(int(y.sum()))
    return tp, pos


def naive_fscore(logits, gts, group_size):
    """Eval_Fmeasure per group of frames, averaged over groups."""
    n = logits.shape[0]
    size = n if group_size is None else group_size
    scores = []
    for start in range(0, n, size):
        curve_sum, num = np.zeros(255), 0
        for j in range(start, min(start + size, n)):
            gt = gts[j].int()
            if gt.sum() == 0:
                continue
            tp, pos = naive_pr_counts(torch.sigmoid(logits[j].float()), gt)
            gsum = int(gt.sum())
            curve = np.zeros(255)
            for i in range(255):
                prec = tp[i] / (pos[i] + 1e-20)
                rec = tp[i] / (gsum + 1e-20)
                try:
                    curve[i] = (1 + BETA2) * prec * rec / (BETA2 * prec + rec)
                except ZeroDivisionError:  # 0 / 0 = NaN -> 0
                    curve[i] = 0.0
            curve_sum += curve
            num += 1
        scores.append((curve_sum / num).max() if num else 0.0)
    return float(np.mean(scores))


def naive_avss(logits, gts, ignore_index=255):
    """_batch_miou_fscore + avss/test.py aggregation, class by class."""
    n, c = logits.shape[:2]
    pred = logits.argmax(1)
    iou_sum, f_sum, count = np.zeros(c), np.zeros(c), np.zeros(c)
    for k in range(n):
        valid = gts[k] != ignore_index
        for cls in range(c):
            p = (pred[k] == cls) & valid
            g = (gts[k] == cls) & valid
            inter, ap, ag = int((p & g).sum()), int(p.sum()), int(g.sum())
            union = ap + ag - inter
            if union == 0:
                continue
            count[cls] += 1
            iou_sum[cls] += inter / union
            if ap and ag and inter:
                prec, rec = inter / ap, inter / ag
                f_sum[cls] += (1 + BETA2) * prec * rec / (BETA2 * prec + rec)
    with np.errstate(invalid='ignore'):
        iou = np.nan_to_num(iou_sum / count)
        f = np.nan_to_num(f_sum / count)
    return iou.mean(), f.mean()


def naive_vpo(logits, gts, ignore_index=255):
    """CAVP MIoU + ForegroundDetect: one pooled confusion matrix."""
    c = logits.shape[1]
    pred = logits.argmax(1).flatten().numpy()
    true = gts.flatten().numpy()
    keep = (true != ignore_index) & (true >= 0) & (true < c)
    cm = np.bincount(c * true[keep] + pred[keep], minlength=c * c)
    cm = cm.reshape(c, c).astype(np.float64)
    tp = np.diag(cm)
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    iou = tp / (np.spacing(1) + tp + fp + fn)
    with np.errstate(invalid='ignore'):
        f = (1 + BETA2) * tp / ((1 + BETA2) * tp + BETA2 * fn + fp)
    return iou.mean(), np.nanmean(f)


def random_binary(n, h, w, seed, empty_every=3):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, h, w, generator=g) * 3
    # include exact boundaries: p = 0.5, p = 1.0 and p = 0.0 in float32
    logits[:, 0, 0] = 0.0
    logits[:, 0, 1] = 40.0
    logits[:, 0, 2] = -120.0
    logits[0, 1, :3] = logit([0.25, 0.75, 0.9])
    gts = (torch.rand(n, h, w, generator=g) < 0.4).long()
    gts[::empty_every] = 0  # some frames with empty ground truth
    return logits, gts


# ---------------------------------------------------------------------------
# AVSBench: hand-computed cases
# ---------------------------------------------------------------------------
def test_thresholds_are_official():
    thr = avsbench_thresholds()
    assert thr.dtype == torch.float32 and thr.shape == (255, )
    assert thr[0] == 0 and thr[-1] == 1.0  # 1 - 1e-10 rounds to 1 in fp32


def test_empty_prediction_on_empty_mask_scores_one():
    logits = torch.full((1, 4, 4), -5.0)
    gts = torch.zeros(1, 4, 4, dtype=torch.long)
    assert avsbench_jaccard(logits, gts).item() == pytest.approx(1.0, 1e-8)
    # a full prediction on an empty mask scores 0, half of it 0.5
    assert avsbench_jaccard(-logits, gts).item() == 0.0
    logits[0, :2] = 5.0
    assert avsbench_jaccard(logits, gts).item() == pytest.approx(0.5, 1e-8)


def test_jaccard_hand_case():
    logits = torch.tensor([[[3.0, -3.0, 3.0, -3.0]]])
    gts = torch.tensor([[[1, 1, 0, 0]]])
    assert avsbench_jaccard(logits, gts).item() == pytest.approx(1 / 3)
    # sigmoid(0) = 0.5 is not > 0.5: no prediction
    assert avsbench_jaccard(torch.zeros(1, 1, 4),
                            gts).item() == pytest.approx(0.0)


def test_fscore_hand_case():
    # gt [1,1,0,0], probabilities [0.9, 0.2, 0.6, 0.1]
    logits = logit([0.9, 0.2, 0.6, 0.1]).view(1, 1, 4)
    gts = torch.tensor([[[1, 1, 0, 0]]])
    s = avsbench_fscore_stats(logits, gts)
    curve = avsbench_fscore_curves(s['tp'], s['pred_count'], s['gt_count'])[0]
    f = lambda p, r: (1 + BETA2) * p * r / (BETA2 * p + r)  # noqa: E731
    thr = avsbench_thresholds().double()
    for i, t in enumerate(thr.tolist()):
        if t <= 0.1:
            expect = f(0.5, 1.0)
        elif t <= 0.2:
            expect = f(2 / 3, 1.0)
        elif t <= 0.6:
            expect = f(0.5, 0.5)
        elif t <= 0.9:
            expect = f(1.0, 0.5)
        else:
            expect = 0.0  # nothing predicted: precision 0 -> F 0
        assert curve[i].item() == pytest.approx(expect, abs=1e-6), (i, t)
    assert avsbench_fscore(logits, gts).item() == pytest.approx(0.8125)


def test_all_empty_group_scores_zero_and_grouping_changes_f():
    gts = torch.zeros(4, 2, 2, dtype=torch.long)
    logits = torch.full((4, 2, 2), -8.0)
    # only frame 3 has an object, predicted perfectly
    gts[3, 0, 0] = 1
    logits[3, 0, 0] = 8.0
    # group 1 (frames 0-1): all empty -> 0; group 2 -> 1
    assert avsbench_fscore(logits, gts, group_size=2).item() == 0.5
    assert avsbench_fscore(logits, gts, group_size=4).item() == 1.0
    assert avsbench_fscore(logits, gts, group_size=None).item() == 1.0
    assert avsbench_fscore(logits[:2], gts[:2], group_size=None).item() == 0
    # a short last group counts as one group: [0,1,2] -> 0, [3] -> 1
    assert avsbench_fscore(logits, gts, group_size=3).item() == 0.5


def test_grouped_mean():
    v = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0])
    assert grouped_mean(v).item() == pytest.approx(0.6)
    assert grouped_mean(v, 2).item() == pytest.approx((0.5 + 1 + 0) / 3)
    assert grouped_mean(v, 5).item() == pytest.approx(0.6)
    with pytest.raises(ValueError):
        grouped_mean(torch.zeros(0))


def test_ignore_index_binary():
    logits = torch.tensor([[[5.0, -5.0, 5.0, 5.0]]])
    gts = torch.tensor([[[1, 0, 255, 255]]])
    assert avsbench_jaccard(logits, gts).item() == pytest.approx(1.0)
    s = avsbench_fscore_stats(logits, gts)
    assert s['pred_count'][0, 0].item() == 2  # ignored pixels not counted
    assert s['gt_count'].item() == 1


def test_binary_bad_inputs():
    with pytest.raises(ValueError, match='0, 1'):
        avsbench_jaccard(torch.zeros(1, 2, 2), torch.full((1, 2, 2), 2))
    with pytest.raises(ValueError, match='shape'):
        avsbench_jaccard(torch.zeros(1, 2, 2), torch.zeros(1, 2, 3).long())
    with pytest.raises(ValueError, match=r'\[N, H, W\]'):
        avsbench_fscore(torch.zeros(2, 2), torch.zeros(2, 2).long())
    with pytest.raises(ValueError, match='NaN'):
        avsbench_fscore(
            torch.full((1, 2, 2), float('nan')),
            torch.zeros(1, 2, 2).long())
    with pytest.raises(ValueError, match='zero frames'):
        avsbench_fscore(torch.zeros(0, 2, 2), torch.zeros(0, 2, 2).long())


# ---------------------------------------------------------------------------
# AVSBench: agreement with the naive transcription
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('seed', [0, 1])
def test_histogram_counts_equal_thresholded_masks(seed):
    logits, gts = random_binary(6, 5, 7, seed)
    # add logits that map exactly onto the thresholds
    logits[1, 2, :5] = torch.logit(avsbench_thresholds()[[1, 50, 127, 200,
                                                          253]])
    s = avsbench_frame_stats(logits, gts)
    for k in range(logits.shape[0]):
        tp, pos = naive_pr_counts(torch.sigmoid(logits[k]), gts[k].int())
        assert s['tp'][k].tolist() == tp
        assert s['pred_count'][k].tolist() == pos
        assert s['gt_count'][k].item() == int(gts[k].sum())


@pytest.mark.parametrize('group_size', [20, 3, 7, None])
def test_avsbench_matches_naive(group_size):
    logits, gts = random_binary(23, 6, 5, seed=7)
    torch.testing.assert_close(
        avsbench_jaccard(logits, gts), naive_jaccard(logits, gts),
        rtol=0, atol=1e-12)
    ours = avsbench_fscore(logits, gts, group_size=group_size).item()
    assert ours == pytest.approx(
        naive_fscore(logits, gts, group_size), abs=1e-12)


def test_avsbench_from_stats_composes():
    logits, gts = random_binary(9, 4, 4, seed=3)
    s = avsbench_frame_stats(logits, gts)
    f = avsbench_fscore_from_stats(s['tp'], s['pred_count'], s['gt_count'],
                                   group_size=4)
    assert f.item() == avsbench_fscore(logits, gts, group_size=4).item()
    # stats of a split batch concatenate to the stats of the whole batch
    a = avsbench_frame_stats(logits[:4], gts[:4])
    b = avsbench_frame_stats(logits[4:], gts[4:])
    for key in s:
        assert torch.equal(torch.cat([a[key], b[key]]), s[key])


# ---------------------------------------------------------------------------
# semantic protocols
# ---------------------------------------------------------------------------
def _one_hot_logits(pred, num_classes):
    return torch.nn.functional.one_hot(pred, num_classes).permute(
        0, 3, 1, 2).float() * 4


def _hand_semantic():
    # frame A: all background, predicted perfectly;
    # frame B: gt [0,0,1,1], prediction [0,1,1,1]; class 2 never seen
    gts = torch.tensor([[[0, 0, 0, 0]], [[0, 0, 1, 1]]])
    pred = torch.tensor([[[0, 0, 0, 0]], [[0, 1, 1, 1]]])
    return _one_hot_logits(pred, 3), gts


def test_semantic_frame_stats_hand_case():
    logits, gts = _hand_semantic()
    s = semantic_frame_stats(logits, gts)
    assert s.shape == (2, 3, 3) and s.dtype == torch.int64
    assert s[0].tolist() == [[4, 0, 0], [4, 0, 0], [4, 0, 0]]
    assert s[1].tolist() == [[1, 2, 0], [1, 3, 0], [2, 2, 0]]


def test_avss_hand_case():
    logits, gts = _hand_semantic()
    f = lambda p, r: (1 + BETA2) * p * r / (BETA2 * p + r)  # noqa: E731
    out = avss_reduce(semantic_frame_stats(logits, gts))
    iou0, iou1 = (1 + 0.5) / 2, 2 / 3
    f0, f1 = (1 + f(1.0, 0.5)) / 2, f(2 / 3, 1.0)
    assert out['count'].tolist() == [2, 1, 0]
    torch.testing.assert_close(
        out['IoU'], torch.tensor([iou0, iou1, 0.0], dtype=torch.float64))
    torch.testing.assert_close(
        out['Fscore'], torch.tensor([f0, f1, 0.0], dtype=torch.float64))
    miou, fs = avss_miou_fscore(logits, gts)
    assert miou.item() == pytest.approx((iou0 + iou1) / 3)
    assert fs.item() == pytest.approx((f0 + f1) / 3)


def test_vpo_hand_case():
    logits, gts = _hand_semantic()
    out = vpo_reduce(semantic_frame_stats(logits, gts))
    iou = [5 / 6, 2 / 3, 0.0]
    fsc = [1.3 * 5 / (1.3 * 5 + 0.3 * 1), 1.3 * 2 / (1.3 * 2 + 1)]
    torch.testing.assert_close(out['IoU'], torch.tensor(iou).double())
    assert math.isnan(out['Fscore'][2].item())  # never seen: left out
    miou, fs = vpo_miou_fscore(logits, gts)
    assert miou.item() == pytest.approx(sum(iou) / 3)
    assert fs.item() == pytest.approx(sum(fsc) / 2)


def test_semantic_ignore_index():
    logits, gts = _hand_semantic()
    gts2 = gts.clone()
    gts2[1, 0, 1] = 255  # hide the only false positive of class 1
    s = semantic_frame_stats(logits, gts2)
    assert s[1].tolist() == [[1, 2, 0], [1, 2, 0], [1, 2, 0]]
    miou, fs = vpo_miou_fscore(logits, gts2)
    assert miou.item() == pytest.approx((1 + 1 + 0) / 3)
    assert fs.item() == pytest.approx(1.0)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_semantic_matches_naive(seed):
    g = torch.Generator().manual_seed(seed)
    n, c, h, w = 7, 5, 6, 6
    logits = torch.randn(n, c, h, w, generator=g)
    logits[:, 0] += 0.8  # background dominant, like real data
    gts = torch.randint(0, c - 1, (n, h, w), generator=g)  # class 4 unseen
    gts[gts == 3] = 0
    gts[0, :2] = 255
    miou, fs = avss_miou_fscore(logits, gts)
    ref = naive_avss(logits, gts)
    assert miou.item() == pytest.approx(ref[0], abs=1e-12)
    assert fs.item() == pytest.approx(ref[1], abs=1e-12)
    miou, fs = vpo_miou_fscore(logits, gts)
    ref = naive_vpo(logits, gts)
    assert miou.item() == pytest.approx(ref[0], abs=1e-12)
    assert fs.item() == pytest.approx(ref[1], abs=1e-12)


def test_semantic_perfect_prediction():
    gts = torch.tensor([[[0, 1], [2, 2]], [[0, 0], [1, 1]]])
    logits = _one_hot_logits(gts, 3)
    for fn in (avss_miou_fscore, vpo_miou_fscore):
        miou, fs = fn(logits, gts)
        assert miou.item() == pytest.approx(1.0)
        assert fs.item() == pytest.approx(1.0)


def test_semantic_bad_inputs():
    logits = torch.zeros(1, 3, 2, 2)
    with pytest.raises(ValueError, match=r'\[0, 3\)'):
        semantic_frame_stats(logits, torch.full((1, 2, 2), 3))
    with pytest.raises(ValueError, match='num_classes'):
        semantic_frame_stats(logits, torch.zeros(1, 2, 2).long(), 4)
    with pytest.raises(ValueError, match='match'):
        semantic_frame_stats(logits, torch.zeros(1, 2, 3).long())
    with pytest.raises(ValueError, match=r'\[N, 3, C\]'):
        avss_reduce(torch.zeros(2, 2, 3))
