"""JFMetric scores at the resolution of each official protocol, whatever
the sizes of the predictions and labels it receives."""
import numpy as np
import pytest
import torch
from PIL import Image

from ddavs_mm.evaluation import JFMetric
from ddavs_mm.evaluation.functional import (OFFICIAL_EVAL_SIZES,
                                            nearest_indices, resize_for_eval)
from ddavs_mm.structures import AVSDataSample


def score(metric, logits, gts, **meta):
    sample = AVSDataSample(metainfo=dict(sample_idx=0, **meta))
    sample.pred_logits = logits
    sample.gt_masks = gts
    sample.mask_flags = torch.ones(len(gts), dtype=torch.bool)
    metric.process({}, [sample])
    return metric.compute_metrics(metric.results)


def test_official_sizes():
    assert JFMetric(mode='avsbench').eval_size is None
    assert JFMetric(mode='vpo').eval_size is None
    assert JFMetric(mode='avss').eval_size == (224, 224)
    assert JFMetric(mode='avss', eval_size=None).eval_size is None
    assert JFMetric(eval_size=[96, 128]).eval_size == (96, 128)
    assert OFFICIAL_EVAL_SIZES == {'avsbench': None, 'avss': (224, 224),
                                   'vpo': None}
    for bad in ((224, ), 'full', (0, 224), (224.0, 224)):
        with pytest.raises(ValueError, match='eval_size'):
            JFMetric(eval_size=bad)


@pytest.mark.parametrize('src,dst', [((360, 640), (224, 224)),
                                     ((720, 1280), (224, 224)),
                                     ((7, 5), (224, 224)),
                                     ((224, 224), (100, 37))])
def test_labels_resize_like_pil_nearest(src, dst):
    """The official AVSS loader resizes labels with PIL's NEAREST; ties
    (640 -> 224 samples x = 50.0 exactly) fall on PIL's side."""
    labels = np.random.RandomState(0).randint(0, 71, src).astype(np.uint8)
    ref = np.asarray(Image.fromarray(labels).resize(dst[::-1],
                                                    Image.NEAREST))
    _, out = resize_for_eval(torch.zeros(1, 1, *src),
                             torch.from_numpy(labels)[None].long(), dst)
    np.testing.assert_array_equal(out[0].numpy(), ref)
    assert out.dtype == torch.int64


def test_nearest_indices_hand_computed():
    # 4 -> 2 samples the centres 1.0 and 3.0; 2 -> 4 repeats each pixel
    assert nearest_indices(4, 2).tolist() == [1, 3]
    assert nearest_indices(2, 4).tolist() == [0, 0, 1, 1]


def test_pipeline_size_prediction_scored_against_original_labels():
    """Logits at 2x2 (the pipeline's size), labels at 4x4 (as stored): the
    'avsbench' protocol scores at 4x4. Bilinear 2 -> 4 gives 10, 5, -5, -10
    along a row, so the positive region is exactly the top-left 2x2."""
    logits = torch.tensor([[10., -10.], [-10., -10.]]).view(1, 1, 2, 2)
    gts = torch.zeros(1, 4, 4, dtype=torch.long)
    gts[0, :2, :2] = 1
    res = score(JFMetric(mode='avsbench'), logits, gts)
    assert res['J'] == pytest.approx(100.0, abs=1e-4)
    gts[0, :3, :3] = 1  # 9 ground-truth pixels, 4 predicted: IoU 4 / 9
    res = score(JFMetric(mode='avsbench'), logits, gts)
    assert res['J'] == pytest.approx(100 * 4 / 9, abs=1e-4)


def test_avss_scores_at_224():
    """Labels at 448x448 with a one-pixel line on row 10 of class 2: PIL's
    NEAREST to 224 keeps the odd rows only, so at 224 x 224 the line is
    gone and an all-background prediction is perfect on background
    (classes 1 and 2 never seen count 0: mIoU = 100 / 3); scored at the
    labels' own size, background loses one row in 448."""
    gts = torch.zeros(1, 448, 448, dtype=torch.long)
    gts[0, 10] = 2
    logits = torch.zeros(1, 3, 16, 16)
    logits[:, 0] = 5.0  # background everywhere, at some pipeline size
    res = score(JFMetric(mode='avss', num_classes=3), logits, gts)
    assert res['mIoU'] == pytest.approx(100 / 3)
    res = score(JFMetric(mode='avss', num_classes=3, eval_size=None),
                logits, gts)
    assert res['mIoU'] == pytest.approx(100 / 3 * (1 - 1 / 448))


def test_vpo_scores_at_the_labels_size():
    """CAVP's test loader keeps the masks as stored: a 6x6 label and a
    prediction at 3x3 are scored at 6x6."""
    gts = torch.zeros(1, 6, 6, dtype=torch.long)
    gts[0, :, :3] = 1
    logits = torch.zeros(1, 2, 3, 3)
    logits[0, 1, :, 0] = 4.0  # class 1 in the left column of 3
    logits[0, 0, :, 1:] = 4.0
    res = score(JFMetric(mode='vpo', num_classes=2), logits, gts)
    # bilinear 3 -> 6: columns 0-1 follow column 0, column 2 sits between
    # columns 0 and 1 (weights 0.25 / 0.75) -> background; so class 1 is
    # predicted in columns 0-1: IoU(1) = 12 / 18, IoU(0) = 18 / 24
    assert res['mIoU'] == pytest.approx(100 * (12 / 18 + 18 / 24) / 2)
