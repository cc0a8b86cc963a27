"""Visual-encoder pretraining on the objects of synthetic frames (main job
step 3)."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from ddavs_mm.apis.visual_encoder_pretrain import pretrain_visual_encoder
from ddavs_mm.datasets.synthetic_object_frames_dataset import \
    collect_synthetic_object_frames
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
                                  seed=0, progress=False,
                                  work_dir=str(tmp_path / 'wd1'))
    assert res['num_frames'] == 20 and res['num_classes'] == 31
    assert res['losses'][-1] < 0.9 * res['losses'][0]
    # 30 object labels: chance is ~0.03 of the foreground pixels
    assert res['train_accuracy'] > 0.2
    ckpt = torch.load(out, weights_only=True)
    assert ckpt['meta']['classes'][0] == 'background'
    assert ckpt['meta']['by_size_bin'] is True
    assert ckpt['meta']['head_channels'] == 16
    # backbone.* and head.* without the pretraining classifier
    head_keys = {k for k in ckpt['state_dict'] if k.startswith('head.')}
    assert head_keys and not any('conv_seg' in k for k in head_keys)
    assert ckpt['state_dict']['head.fusion_conv.conv.weight'].shape[0] == 16
    # the file is what a config's init_cfgs load, each part by its prefix
    cfg = Config.fromfile(CFG)
    model_cfg = cfg.model.to_dict()
    model_cfg['backbone']['init_cfg'] = dict(
        type='Pretrained', checkpoint=out, prefix='backbone.')
    model_cfg['decode_head']['mask_decoder'].update(
        channels=16, init_cfg=dict(type='Pretrained', checkpoint=out,
                                   prefix='head.',
                                   ignore_missing=['conv_seg.']))
    model = MODELS.build(model_cfg)
    model.init_weights()
    parts = dict(backbone=model.backbone.state_dict(),
                 head=model.decode_head.mask_decoder.state_dict())
    for key, value in ckpt['state_dict'].items():
        part, name = key.split('.', 1)
        assert torch.equal(parts[part][name], value), key
    assert {f'backbone.{k}' for k in parts['backbone']} | head_keys == \
        set(ckpt['state_dict'])
    # deterministic by seed
    out2 = str(tmp_path / 'mit2.pth')
    res2 = pretrain_visual_encoder(CFG, data_root, out2, epochs=8,
                                   batch_size=10, lr=3e-3, channels=16,
                                   seed=0, progress=False,
                                   work_dir=str(tmp_path / 'wd2'))
    assert res2['losses'] == res['losses']


def test_pretrain_head_is_as_wide_as_the_mask_decoder(data_root, tmp_path):
    """Without ``channels`` the head takes the config's mask decoder width,
    so that the main config's decoder can load it."""
    out = str(tmp_path / 'w.pth')
    cfg = Config.fromfile(CFG)
    cfg.model.decode_head.mask_decoder.channels = 24
    pretrain_visual_encoder(cfg, data_root, out, epochs=1, batch_size=10,
                            progress=False, work_dir=str(tmp_path / 'wd3'))
    state = torch.load(out, weights_only=True)['state_dict']
    assert state['head.fusion_conv.conv.weight'].shape[:2] == (24, 4 * 24)


def test_pretrain_label_stride_must_match_the_head(data_root, tmp_path):
    with pytest.raises(ValueError, match='label_stride'):
        pretrain_visual_encoder(CFG, data_root, str(tmp_path / 'x.pth'),
                                epochs=1, batch_size=10, channels=8,
                                label_stride=2, progress=False,
                                work_dir=str(tmp_path / 'wd4'))
    with pytest.raises(ValueError, match='label_stride'):
        pretrain_visual_encoder(CFG, data_root, str(tmp_path / 'x.pth'),
                                epochs=1, label_stride=0, progress=False,
                                work_dir=str(tmp_path / 'wd5'))
    assert not osp.exists(str(tmp_path / 'x.pth'))


def test_pretrain_cli(data_root, tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'pretrain_visual_cli',
        osp.join(ROOT, 'tools', 'pretrain_visual_encoder.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    out = str(tmp_path / 'cli.pth')
    work = str(tmp_path / 'cli_work')
    args = [CFG, '--data-root', data_root, '--out', out, '--epochs', '2',
            '--batch-size', '10', '--channels', '8', '--by-class',
            '--work-dir', work, '--cfg-options',
            'optim_wrapper.optimizer.weight_decay=0.5']
    res = cli.main(args)
    assert osp.isfile(out) and res['num_classes'] == 11
    # the Runner's work dir: its config (with the override) and checkpoint
    configs = [f for f in os.listdir(work) if f.endswith('.py')]
    assert len(configs) == 1
    dumped = Config.fromfile(osp.join(work, configs[0]))
    assert dumped.optim_wrapper.optimizer.weight_decay == 0.5
    assert dumped.model.type == 'ObjectSegmentationPretrainer'
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))
    # --resume: the finished run is loaded, not trained again
    first = torch.load(out, weights_only=True)['state_dict']
    out2 = str(tmp_path / 'cli_resumed.pth')
    cli.main(args[:4] + [out2] + args[5:] + ['--resume'])
    second = torch.load(out2, weights_only=True)['state_dict']
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_pretrain_trains_the_stages_a_config_freezes(data_root, tmp_path):
    """A config that freezes MiT stages for AVS training still gets them
    pretrained: freezing is for after the pretraining."""
    cfg = Config.fromfile(CFG)
    cfg.model.backbone.type = 'FreezableMixVisionTransformer'
    cfg.model.backbone.frozen_stages = 2
    out = str(tmp_path / 'f.pth')
    pretrain_visual_encoder(cfg, data_root, out, epochs=1, batch_size=10,
                            channels=8, seed=0, progress=False,
                            work_dir=str(tmp_path / 'wd6'))
    state = torch.load(out, weights_only=True)['state_dict']
    torch.manual_seed(0)  # the pretraining's initialisation
    bb_cfg = cfg.model.backbone.to_dict()
    bb_cfg.update(init_cfg=None, frozen_stages=0)
    init = MODELS.build(bb_cfg)
    init.init_weights()
    for name, value in init.state_dict().items():
        if name.startswith(('layers.0.', 'layers.1.')) and \
                name.endswith('weight'):
            assert not torch.equal(state[f'backbone.{name}'], value), name


def test_main_job_pretrains_again_over_a_backbone_only_file(tmp_path):
    """The main job reuses a visual pretraining file only if it holds the
    mask decoder too; a file of the older backbone-only format is redone."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'main_job', osp.join(ROOT, 'tools', 'main_job.py'))
    main_job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(main_job)
    old, new = str(tmp_path / 'old.pth'), str(tmp_path / 'new.pth')
    torch.save(dict(state_dict={'layers.0.0.projection.weight':
                                torch.zeros(2)}), old)
    torch.save(dict(state_dict={'backbone.layers.0.0.projection.weight':
                                torch.zeros(2),
                                'head.fusion_conv.conv.weight':
                                torch.zeros(2)}), new)
    assert not main_job.has_pretrained_head(str(tmp_path / 'missing.pth'))
    assert not main_job.has_pretrained_head(old)
    assert main_job.has_pretrained_head(new)
