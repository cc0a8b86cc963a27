"""DDAVS.postprocess_result, the flip test-time augmentation
(DDAVSTTAModel, tta_pipeline) and tools/test.py --tta / --show."""
import argparse
import importlib.util
import math
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.structures import BaseDataElement

from ddavs_mm.models.segmentors import DDAVSTTAModel
from ddavs_mm.registry import DATASETS, MODELS
from ddavs_mm.structures import AVSDataSample
from ddavs_mm.utils import register_all_modules
from ddavs_mm.utils.tool_errors import InputError

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG = osp.join(ROOT, 'tests', 'data', 'ddavs_tiny_synthetic_ms3_nobank.py')


@pytest.fixture(scope='module')
def cfg():
    register_all_modules()  # the data sets' pipelines build in its scope
    return Config.fromfile(CFG)


@pytest.fixture(scope='module')
def model(cfg):
    torch.manual_seed(0)
    return MODELS.build(cfg.model).eval()


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from ddavs_mm.datasets.synthetic import generate_synthetic_avs
    root = str(tmp_path_factory.mktemp('synthetic') / 'ms3')
    generate_synthetic_avs(root, 'ms3', seed=0, num_train=1, num_val=1,
                           num_test=2, size=64, sample_rate=16000)
    return root


def sample(**meta):
    return AVSDataSample(metainfo=meta)


# ---------------------------------------------------------------------------
# postprocess_result
# ---------------------------------------------------------------------------
def test_postprocess_undoes_flip_and_restores_ori_shape(model):
    logits = torch.tensor([[1., -1.], [-2., 3.]]).view(1, 1, 1, 2, 2)
    out = model.postprocess_result(
        logits.clone(),
        [sample(flip=True, flip_direction='horizontal', ori_shape=(4, 4))],
        (8, 8))[0]
    flipped = torch.tensor([[-1., 1.], [3., -2.]]).view(1, 1, 2, 2)
    expected = F.interpolate(flipped, size=(4, 4), mode='bilinear',
                             align_corners=False)
    torch.testing.assert_close(out.pred_logits, expected)
    # corners keep the (flipped) corner values
    assert out.pred_logits[0, 0, 0, 0] == -1 and \
        out.pred_logits[0, 0, 0, 3] == 1
    assert torch.equal(out.pred_masks, (expected[:, 0] > 0).long())

    out = model.postprocess_result(
        logits.clone(),
        [sample(flip=True, flip_direction='vertical', ori_shape=(2, 2))],
        (8, 8))[0]
    assert out.pred_logits[0, 0].tolist() == [[-2., 3.], [1., -1.]]
    with pytest.raises(ValueError, match='flip_direction'):
        model.postprocess_result(logits, [sample(flip=True)], (8, 8))


def test_postprocess_crops_padding_and_defaults_to_input_size(model):
    # logits at the padded input size 4 x 6; the last 2 columns are padding
    row = torch.tensor([0., 1., 2., 3., 100., 100.])
    logits = row.expand(4, 6).reshape(1, 1, 1, 4, 6)
    out = model.postprocess_result(
        logits, [sample(padding_size=(0, 2, 0, 0), ori_shape=(4, 4))],
        (4, 6))[0]
    assert out.pred_logits.shape == (1, 1, 4, 4)
    assert out.pred_logits[0, 0, 0].tolist() == [0., 1., 2., 3.]
    # no metainfo: the frames' input size
    out = model.postprocess_result(torch.zeros(2, 3, 1, 2, 2), None, (8, 8))
    assert len(out) == 2 and out[0].pred_logits.shape == (3, 1, 8, 8)


def test_postprocess_semantic_argmax():
    cfg = Config.fromfile(CFG).model
    cfg.update(mask_mode='semantic', num_classes=3)
    cfg.decode_head.mask_decoder.num_classes = 3
    semantic = MODELS.build(cfg)
    logits = torch.randn(1, 2, 3, 4, 4)
    out = semantic.postprocess_result(logits, [sample(ori_shape=(4, 4))],
                                      (16, 16))[0]
    assert torch.equal(out.pred_masks, logits[0].argmax(1))


# ---------------------------------------------------------------------------
# DDAVSTTAModel.merge_preds
# ---------------------------------------------------------------------------
def predicted(logits, **meta):
    s = AVSDataSample(metainfo=meta)
    s.pred_logits = torch.as_tensor(logits, dtype=torch.float32)
    return s


def test_merge_binary_means_probabilities(model):
    tta = DDAVSTTAModel(module=model)
    a = torch.tensor([2., 100., 100., -30.]).view(1, 1, 2, 2)
    b = torch.tensor([-1., 100., -100., -30.]).view(1, 1, 2, 2)
    gts = torch.ones(1, 2, 2, dtype=torch.long)
    first = predicted(a, clip_id='c', flip=False)
    first.gt_masks = gts
    merged = tta.merge_preds([[first, predicted(b, flip=True)]])[0]
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    p = (sig(2.) + sig(-1.)) / 2
    expected = [math.log(p / (1 - p)), 100., 0., -30.]
    torch.testing.assert_close(merged.pred_logits.flatten(),
                               torch.tensor(expected), atol=1e-5, rtol=1e-6)
    assert merged.pred_masks.flatten().tolist() == [1, 1, 0, 0]
    assert merged.metainfo['clip_id'] == 'c' and merged.gt_masks is gts


def test_merge_semantic_means_probabilities(model):
    tta = DDAVSTTAModel(module=model)
    a = torch.tensor([2., 0., 0.]).view(1, 3, 1, 1)
    b = torch.tensor([0., 0., 3.]).view(1, 3, 1, 1)
    merged = tta.merge_preds([[predicted(a), predicted(b)]])[0]
    mean = (a.softmax(1) + b.softmax(1)) / 2
    torch.testing.assert_close(merged.pred_logits.softmax(1), mean)
    assert merged.pred_masks.item() == mean.argmax(1).item() == 2
    with pytest.raises(ValueError, match='shapes'):
        tta.merge_preds([[predicted(a), predicted(a[:, :2])]])


# ---------------------------------------------------------------------------
# flip TTA through the config's tta_pipeline
# ---------------------------------------------------------------------------
def tta_and_plain(cfg, model, data_root):
    ds = cfg.test_dataloader.dataset.copy()
    ds.update(data_root=data_root, split='test')
    plain = DATASETS.build(ds)[0]
    ds.pipeline = cfg.tta_pipeline
    augmented = DATASETS.build(ds)[0]
    assert [s.metainfo['flip'] for s in augmented['data_samples']] == \
        [False, True]
    with torch.no_grad():
        ref = model.test_step(pseudo_collate([plain]))[0]
        tta = DDAVSTTAModel(module=model)
        merged = tta.test_step(pseudo_collate([augmented]))[0]
    return ref, merged


def test_flip_tta_of_a_flip_equivariant_model_is_the_plain_prediction(
        cfg, model, data_root, monkeypatch):
    """A decoder of 4x4 average pools of the normalised frames treats a
    flipped clip as the flipped clip: each augmentation, un-flipped by
    postprocess_result, is the plain prediction, and so is their merge."""
    monkeypatch.setattr(
        model, '_decode',
        lambda frames, queries: F.avg_pool2d(
            frames[:, :1] - frames[:, 2:], 4), raising=False)
    ref, merged = tta_and_plain(cfg, model, data_root)
    assert merged.pred_logits.shape == ref.pred_logits.shape == \
        (5, 1, 64, 64)  # pipeline 128, restored to the stored 64
    torch.testing.assert_close(merged.pred_logits, ref.pred_logits,
                               atol=1e-4, rtol=1e-4)
    sure = ref.pred_logits[:, 0].abs() > 1e-3
    assert torch.equal(merged.pred_masks[sure], ref.pred_masks[sure])
    assert 0 < ref.pred_masks.float().mean() < 1
    assert torch.equal(merged.gt_masks, ref.gt_masks)


def test_flip_tta_merges_both_orientations(cfg, model, data_root,
                                           monkeypatch):
    """A decoder that ignores the frames and outputs a left-to-right ramp
    predicts the mirrored ramp for the flipped clip once un-flipped; the
    mean of the two probabilities is 0.5 everywhere (logit 0)."""

    def ramp(frames, queries):
        h, w = frames.shape[-2] // 4, frames.shape[-1] // 4
        return torch.linspace(-3, 3, w).expand(len(frames), 1, h, w) + 0.

    monkeypatch.setattr(model, '_decode', ramp, raising=False)
    ref, merged = tta_and_plain(cfg, model, data_root)
    assert ref.pred_logits[0, 0, 0, 0] < -2 < 2 < ref.pred_logits[0, 0, 0,
                                                                   -1]
    torch.testing.assert_close(merged.pred_logits,
                               torch.zeros_like(merged.pred_logits),
                               atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------
# tools/test.py
# ---------------------------------------------------------------------------
def load_test_tool():
    spec = importlib.util.spec_from_file_location(
        'test_tool', osp.join(ROOT, 'tools', 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tool_args(config, checkpoint, **kwargs):
    args = dict(config=config, checkpoint=checkpoint, work_dir=None,
                out=None, show=False, show_dir=None, wait_time=2.,
                tta=False, no_strict=False, fast=False, cfg_options=None,
                launcher='none')
    args.update(kwargs)
    return argparse.Namespace(**args)


def test_test_tool_options(tmp_path):
    tool = load_test_tool()
    ckpt = tmp_path / 'w.pth'
    ckpt.write_bytes(b'')
    cfg = tool.build_cfg(tool_args(CFG, str(ckpt), tta=True, show=True,
                                   wait_time=0.5))
    assert cfg.model.type == 'DDAVSTTAModel'
    assert cfg.model.module.type == 'DDAVS'
    assert cfg.test_dataloader.dataset.pipeline[-1].type == 'TestTimeAug'
    vis = cfg.default_hooks.visualization
    assert vis.draw and vis.show and vis.wait_time == 0.5
    bare = tmp_path / 'bare.py'
    bare.write_text("model = dict(type='DDAVS')\n"
                    'test_dataloader = dict(dataset=dict(pipeline=[]))\n')
    with pytest.raises(InputError, match='tta_model and tta_pipeline'):
        tool.build_cfg(tool_args(str(bare), str(ckpt), tta=True))


def test_test_tool_tta_end_to_end(model, data_root, tmp_path):
    ckpt = str(tmp_path / 'random.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    out = str(tmp_path / 'preds.pkl')
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', CFG, ckpt, '--tta', '--out', out,
         '--work-dir', str(tmp_path / 'work'), '--show-dir',
         str(tmp_path / 'vis'), '--cfg-options',
         f'test_dataloader.dataset.data_root={data_root}',
         'default_hooks.visualization.interval=1'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'J&F' in log
    with open(out, 'rb') as f:
        dumped = pickle.load(f)
    assert len(dumped) == 2
    assert dumped[0]['pred_masks'].shape == (5, 64, 64)
    assert dumped[0]['flip'] is False  # the plain augmentation's metainfo
    assert len(list((tmp_path / 'vis').glob('*.png'))) == 2


def test_merge_keeps_data_element_fields(model):
    s = BaseDataElement(metainfo=dict(sample_idx=3))
    s.pred_logits = torch.zeros(1, 1, 2, 2)
    merged = DDAVSTTAModel(module=model).merge_preds([[s, s]])[0]
    assert merged.metainfo['sample_idx'] == 3
    assert merged.pred_masks.shape == (1, 2, 2)
