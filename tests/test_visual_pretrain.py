"""Visual-encoder pretraining on the objects of synthetic frames (main job
step 3)."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from ddavs_mm.apis.visual_encoder_pretrain import (
    collect_synthetic_object_frames, pretrain_visual_encoder)
from ddavs_mm.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG = osp.join(ROOT, 'tests', 'data', 'ddavs_tiny_synthetic_ms3_nobank.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from ddavs_mm.datasets.synthetic import generate_synthetic_avs
    root = str(tmp_path_factory.mktemp('synthetic') / 'ms3')
    generate_synthetic_avs(root, 'ms3', seed=5, num_train=4, num_val=0,
                           num_test=0, size=32, sample_rate=16000)
    return root


def _gt_union(data_root, rec):
    from ddavs_mm.datasets.transforms.loading import read_rgb_image
    return [read_rgb_image(osp.join(data_root, p))[..., 0] > 0
            for p in rec['mask_paths']]


def test_object_frames_match_the_data_set(data_root):
    """Frames are the files on disk; labels are 1 + (class * bins + bin) on
    the objects' pixels, and cover every sounding pixel of the masks."""
    from ddavs_mm.datasets.synthetic import load_info
    from ddavs_mm.datasets.transforms.loading import read_rgb_image
    info = load_info(data_root)
    frames, labels, names = collect_synthetic_object_frames(
        data_root, 'train', progress=False)
    clips = [c for c in info['clips'] if c['split'] == 'train']
    assert frames.shape == (4 * 5, 32, 32, 3) and frames.dtype == np.uint8
    assert labels.shape == (4 * 5, 32, 32) and labels.dtype == np.uint8
    assert names[0] == 'background' and len(names) == 1 + 10 * 3
    assert np.array_equal(
        frames[0], read_rgb_image(osp.join(data_root,
                                           clips[0]['frame_paths'][0])))
    n = 0
    for rec in clips:
        allowed = {0} | {1 + i['class_id'] * 3 + i['size_bin']
                         for i in rec['instances']}
        for k, gt in enumerate(_gt_union(data_root, rec)):
            lab = labels[n]
            assert set(np.unique(lab).tolist()) <= allowed
            # every sounding pixel lies on an object
            assert (lab[gt] > 0).all()
            n += 1
    assert (labels > 0).any() and (labels == 0).any()
    _, by_class, names_c = collect_synthetic_object_frames(
        data_root, 'train', by_size_bin=False, progress=False)
    assert len(names_c) == 11
    # (class, bin) labels collapse to class labels
    fg = labels > 0
    assert np.array_equal((labels[fg] - 1) // 3 + 1, by_class[fg])
    assert np.array_equal(by_class == 0, ~fg)


def test_object_frames_errors(data_root, tmp_path):
    with pytest.raises(FileNotFoundError, match='synthetic'):
        collect_synthetic_object_frames(str(tmp_path), progress=False)
    with pytest.raises(ValueError, match="no 'val' clips"):
        collect_synthetic_object_frames(data_root, 'val', progress=False)


def test_object_frames_name_a_changed_frame(tmp_path):
    import cv2

    from ddavs_mm.datasets.synthetic import generate_synthetic_avs, load_info
    root = str(tmp_path / 'ms3')
    generate_synthetic_avs(root, 'ms3', seed=5, num_train=1, num_val=0,
                           num_test=0, size=32, sample_rate=16000)
    rel = load_info(root)['clips'][0]['frame_paths'][2]
    cv2.imwrite(osp.join(root, rel), np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match=rel.split('/')[-1]):
        collect_synthetic_object_frames(root, progress=False)


def test_pretrain_learns_and_loads_through_init_cfg(data_root, tmp_path):
    out = str(tmp_path / 'mit.pth')
    res = pretrain_visual_encoder(CFG, data_root, out, epochs=8,
                                  batch_size=10, lr=3e-3, channels=16,
                                  seed=0, progress=False)
    assert res['num_frames'] == 20 and res['num_classes'] == 31
    assert res['losses'][-1] < 0.9 * res['losses'][0]
    # 30 object labels: chance is ~0.03 of the foreground pixels
    assert res['train_accuracy'] > 0.2
    ckpt = torch.load(out, weights_only=True)
    assert ckpt['meta']['classes'][0] == 'background'
    assert ckpt['meta']['by_size_bin'] is True
    # the file is what a config's backbone init_cfg loads
    cfg = Config.fromfile(CFG)
    bb_cfg = cfg.model.backbone.to_dict()
    bb_cfg['init_cfg'] = dict(type='Pretrained', checkpoint=out)
    backbone = MODELS.build(bb_cfg)
    backbone.init_weights()
    state = backbone.state_dict()
    assert state.keys() == ckpt['state_dict'].keys()
    for key, value in ckpt['state_dict'].items():
        assert torch.equal(state[key], value), key
    # deterministic by seed
    out2 = str(tmp_path / 'mit2.pth')
    res2 = pretrain_visual_encoder(CFG, data_root, out2, epochs=8,
                                   batch_size=10, lr=3e-3, channels=16,
                                   seed=0, progress=False)
    assert res2['losses'] == res['losses']


def test_pretrain_label_stride_must_match_the_head(data_root, tmp_path):
    with pytest.raises(ValueError, match='label_stride'):
        pretrain_visual_encoder(CFG, data_root, str(tmp_path / 'x.pth'),
                                epochs=1, batch_size=10, channels=8,
                                label_stride=2, progress=False)
    with pytest.raises(ValueError, match='label_stride'):
        pretrain_visual_encoder(CFG, data_root, str(tmp_path / 'x.pth'),
                                epochs=1, label_stride=0, progress=False)
    assert not osp.exists(str(tmp_path / 'x.pth'))


def test_pretrain_cli(data_root, tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'pretrain_visual_cli',
        osp.join(ROOT, 'tools', 'pretrain_visual_encoder.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    out = str(tmp_path / 'cli.pth')
    res = cli.main([CFG, '--data-root', data_root, '--out', out,
                    '--epochs', '1', '--batch-size', '10', '--channels', '8',
                    '--by-class'])
    assert osp.isfile(out) and res['num_classes'] == 11
