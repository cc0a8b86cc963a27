"""Tests of JFMetric (ddavs_mm.evaluation.metrics.jf_metric)."""
import copy
import random

import pytest
import torch
from mmengine.structures import BaseDataElement

from ddavs_mm.evaluation import JFMetric
from ddavs_mm.evaluation.functional import (avsbench_fscore, avsbench_jaccard,
                                            avss_miou_fscore, vpo_miou_fscore)
from ddavs_mm.registry import METRICS
from ddavs_mm.structures import AVSDataSample


def make_sample(sample_idx, logits, gts, mask_flags=None, frame_flags=None):
    """An AVSDataSample with the fields JFMetric reads."""
    t = logits.shape[0]
    if mask_flags is None:
        mask_flags = torch.ones(t, dtype=torch.bool)
    if frame_flags is None:
        frame_flags = torch.ones(t, dtype=torch.bool)
    s = AVSDataSample(
        metainfo=dict(sample_idx=sample_idx, clip_id=f'clip{sample_idx}'))
    s.pred_logits = logits
    s.gt_masks = gts.long()
    s.mask_flags = mask_flags
    s.frame_flags = frame_flags
    return s


def binary_clips(num_clips, t=5, h=6, w=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    clips = []
    for i in range(num_clips):
        logits = torch.randn(t, 1, h, w, generator=g) * 3
        gts = (torch.rand(t, h, w, generator=g) < 0.3).long()
        if i % 3 == 0:
            gts[1:3] = 0  # some empty ground truths
        if i % 7 == 0:
            gts[:] = 0
        clips.append((logits, gts))
    return clips


def semantic_clips(num_clips, num_classes, t=4, h=5, w=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    clips = []
    for _ in range(num_clips):
        logits = torch.randn(t, num_classes, h, w, generator=g)
        logits[:, 0] += 1.0
        gts = torch.randint(0, num_classes, (t, h, w), generator=g)
        gts[torch.rand(t, h, w, generator=g) < 0.5] = 0
        clips.append((logits, gts))
    return clips


def run_metric(metric, samples, batch_size=2):
    for i in range(0, len(samples), batch_size):
        metric.process({}, [s.to_dict() for s in samples[i:i + batch_size]])
    return metric.compute_metrics(metric.results)


# ---------------------------------------------------------------------------
def test_registered_and_built():
    metric = METRICS.build(dict(type='JFMetric', mode='avss', num_classes=3))
    assert isinstance(metric, JFMetric) and metric.mode == 'avss'
    with pytest.raises(ValueError, match='mode'):
        JFMetric(mode='davis')
    with pytest.raises(ValueError, match='group_size'):
        JFMetric(group_size=0)


def test_perfect_prediction_scores_100_avsbench():
    samples = []
    for i, (_, gts) in enumerate(binary_clips(5)):
        gts[0, 0, 0] = 1  # every clip has an object in its first frame
        logits = (gts.float() * 20 - 10).unsqueeze(1)
        samples.append(make_sample(i, logits, gts))
    res = run_metric(JFMetric(mode='avsbench', group_size=10), samples)
    for key in ('J', 'F', 'J&F', 'J_batch_independent',
                'F_batch_independent'):
        assert res[key] == pytest.approx(100.0, abs=1e-5), key


@pytest.mark.parametrize('mode', ['avss', 'vpo'])
def test_perfect_prediction_scores_100_semantic(mode):
    samples = []
    for i, (_, gts) in enumerate(semantic_clips(3, 4)):
        logits = torch.nn.functional.one_hot(gts, 4).permute(0, 3, 1,
                                                             2).float()
        samples.append(make_sample(i, logits, gts))
    metric = JFMetric(mode=mode, eval_size=None)  # at the labels' size
    metric.dataset_meta = dict(classes=('background', 'a', 'b', 'c'))
    res = run_metric(metric, samples)
    for key in ('J', 'F', 'J&F', 'mIoU'):
        assert res[key] == pytest.approx(100.0), key


def test_unannotated_frames_are_left_out():
    gts = torch.zeros(3, 4, 4, dtype=torch.long)
    gts[:, :2] = 1
    logits = (gts.float() * 20 - 10).unsqueeze(1)
    logits[1] = -logits[1]  # a wrong prediction on an unannotated frame
    flags = torch.tensor([True, False, True])
    res = run_metric(JFMetric(group_size=20),
                     [make_sample(0, logits, gts, mask_flags=flags)])
    assert res['J'] == pytest.approx(100.0, abs=1e-5)
    assert res['F'] == pytest.approx(100.0, abs=1e-5)
    # and the same frame counts once flagged
    res = run_metric(JFMetric(group_size=20),
                     [make_sample(0, logits, gts)])
    assert res['J'] < 70


def test_avsbench_matches_functional_in_sample_order():
    clips = binary_clips(9)
    samples = [make_sample(i, lg, gt) for i, (lg, gt) in enumerate(clips)]
    shuffled = samples[:]
    random.Random(0).shuffle(shuffled)
    res = run_metric(JFMetric(mode='avsbench', group_size=20), shuffled)
    logits = torch.cat([lg[:, 0] for lg, _ in clips])
    gts = torch.cat([gt for _, gt in clips])
    j = avsbench_jaccard(logits, gts)
    j_off = torch.stack([c.mean() for c in j.split(20)]).mean().item()
    f_off = avsbench_fscore(logits, gts, 20).item()
    f_bi = avsbench_fscore(logits, gts, None).item()
    assert res['J'] == pytest.approx(100 * j_off, abs=1e-10)
    assert res['J_batch_independent'] == pytest.approx(
        100 * j.mean().item(), abs=1e-10)
    assert res['F'] == pytest.approx(100 * f_off, abs=1e-10)
    assert res['F_batch_independent'] == pytest.approx(100 * f_bi, abs=1e-10)
    assert res['J&F'] == pytest.approx((res['J'] + res['F']) / 2)
    # 45 frames in groups of 20: the grouping does change F here
    assert abs(res['F'] - res['F_batch_independent']) > 1e-3


def test_grouping_changes_f_through_metric():
    # clip 0: all frames empty; clip 1: perfect -> groups of 5 frames give
    # (0 + 100) / 2, one group of all frames gives 100
    gts0 = torch.zeros(5, 2, 2, dtype=torch.long)
    gts1 = torch.ones(5, 2, 2, dtype=torch.long)
    samples = [
        make_sample(1, torch.full((5, 1, 2, 2), 10.0), gts1),
        make_sample(0, torch.full((5, 1, 2, 2), -10.0), gts0),
    ]
    res = run_metric(JFMetric(group_size=5), samples)
    assert res['F'] == pytest.approx(50.0)
    assert res['F_batch_independent'] == pytest.approx(100.0)
    assert res['J'] == pytest.approx(100.0, abs=1e-5)


@pytest.mark.parametrize('mode', ['avsbench', 'avss', 'vpo'])
def test_two_processes_give_the_same_result(mode):
    if mode == 'avsbench':
        clips = binary_clips(11, seed=5)
        kwargs = dict(group_size=20)
    else:
        clips = semantic_clips(7, 4, seed=5)
        kwargs = dict(num_classes=4)
    samples = [make_sample(i, lg, gt) for i, (lg, gt) in enumerate(clips)]
    single = run_metric(JFMetric(mode=mode, **kwargs), samples)
    # DefaultSampler-like split: rank r gets samples r, r + 2, ...
    rank0, rank1 = JFMetric(mode=mode, **kwargs), JFMetric(mode=mode, **kwargs)
    run_metric(rank0, samples[0::2], batch_size=3)
    run_metric(rank1, samples[1::2], batch_size=3)
    merged = copy.deepcopy(rank1.results) + copy.deepcopy(rank0.results)
    union = JFMetric(mode=mode, **kwargs)
    result = union.compute_metrics(merged)
    assert result.keys() == single.keys()
    for key in single:
        assert result[key] == pytest.approx(single[key], abs=1e-12), key


@pytest.mark.parametrize('mode', ['avss', 'vpo'])
def test_semantic_matches_functional_with_padded_frames(mode):
    clips = semantic_clips(3, 5, t=4, seed=2)
    # clip 1 is a v1s/v1m-like clip: frames 2-3 padded, all background,
    # flagged as padding but still counted (mask_flags True), as officially
    lg, gt = clips[1]
    gt[2:] = 0
    frame_flags = torch.tensor([True, True, False, False])
    samples = [
        make_sample(i, lg_, gt_, frame_flags=frame_flags if i == 1 else None)
        for i, (lg_, gt_) in enumerate(clips)
    ]
    metric = JFMetric(mode=mode, return_per_class=True, eval_size=None)
    metric.dataset_meta = dict(classes=['bg', 'dog', 'cat', 'car', 'piano'])
    res = run_metric(metric, samples[::-1])
    fn = avss_miou_fscore if mode == 'avss' else vpo_miou_fscore
    miou, fs = fn(torch.cat([c[0] for c in clips]),
                  torch.cat([c[1] for c in clips]))
    assert res['mIoU'] == pytest.approx(100 * miou.item(), abs=1e-10)
    assert res['J'] == res['mIoU']
    assert res['F'] == pytest.approx(100 * fs.item(), abs=1e-10)
    assert 'IoU.dog' in res and 'F.piano' in res
    assert 0 <= res['IoU.bg'] <= 100


def test_evaluate_and_base_data_element_input():
    # mmengine's evaluate() path; plain BaseDataElement samples also work
    gts = torch.ones(2, 3, 3, dtype=torch.long)
    s = BaseDataElement(metainfo=dict(sample_idx=0))
    s.pred_logits = torch.full((2, 1, 3, 3), 9.0)
    s.gt_masks = gts
    s.mask_flags = torch.ones(2, dtype=torch.bool)
    metric = JFMetric()
    metric.process({}, [s])
    res = metric.evaluate(size=1)
    assert res['J&F'] == pytest.approx(100.0, abs=1e-5)
    assert metric.results == []


def test_duplicate_samples_are_counted_once():
    clips = binary_clips(3)
    samples = [make_sample(i, lg, gt) for i, (lg, gt) in enumerate(clips)]
    ref = run_metric(JFMetric(), samples)
    metric = JFMetric()
    with pytest.warns(UserWarning, match='once'):
        res = run_metric(metric, samples + samples[:1])
    assert res == ref


def test_bad_inputs():
    lg = torch.zeros(2, 1, 4, 4)
    gt = torch.zeros(2, 4, 4, dtype=torch.long)
    good = make_sample(0, lg, gt).to_dict()
    with pytest.raises(KeyError, match='sample_idx'):
        JFMetric().process({}, [{k: v for k, v in good.items()
                                 if k != 'sample_idx'}])
    with pytest.raises(KeyError, match='mask_flags'):
        JFMetric().process({}, [{k: v for k, v in good.items()
                                 if k != 'mask_flags'}])
    with pytest.raises(ValueError, match='eval_size'):
        JFMetric(eval_size=(224, ))
    bad = dict(good, pred_logits=torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match='clip0.*binary'):
        JFMetric().process({}, [bad])
    with pytest.raises(ValueError, match='num_classes'):
        JFMetric(mode='avss').process({}, [bad])
    with pytest.raises(ValueError, match='num_classes is 4'):
        JFMetric(mode='vpo', num_classes=4).process({}, [bad])
    metric = JFMetric()
    metric.process({}, [dict(good, mask_flags=torch.zeros(2, dtype=torch.bool))
                        ])
    with pytest.raises(ValueError, match='no annotated frame'):
        metric.compute_metrics(metric.results)


def test_per_class_table_is_logged(monkeypatch):
    import ddavs_mm.evaluation.metrics.jf_metric as jf_module
    logged = []
    monkeypatch.setattr(jf_module, 'print_log',
                        lambda msg, logger=None: logged.append(msg))
    samples = []
    for i, (logits, gts) in enumerate(semantic_clips(3, 3, seed=4)):
        samples.append(make_sample(i, logits, gts))
    metric = JFMetric(mode='avss', return_per_class=True)
    metric.dataset_meta = dict(classes=('background', 'dog', 'violin'))
    res = run_metric(metric, samples)
    table = next(m for m in logged if m.lstrip().startswith('+-'))
    rows = [[c.strip() for c in line.strip('|').split('|')]
            for line in table.strip().splitlines() if line.startswith('|')]
    assert rows[0] == ['Class', 'IoU', 'F']
    assert [r[0] for r in rows[1:]] == ['background', 'dog', 'violin']
    for name, iou, f in rows[1:]:
        assert float(iou) == pytest.approx(res[f'IoU.{name}'], abs=5e-3)
        assert float(f) == pytest.approx(res[f'F.{name}'], abs=5e-3)
    assert any(f"mIoU (J) {res['J']:.2f}" in m for m in logged)
