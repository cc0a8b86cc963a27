"""Tests of AVSDataPreprocessor (batching, normalisation, errors)."""
import os.path as osp
import sys

import pytest
import torch
from mmengine.dataset import default_collate, pseudo_collate

sys.path.insert(0, osp.dirname(__file__))

import ddavs_mm  # noqa: E402,F401
from ddavs_mm.models.data_preprocessor import AVSDataPreprocessor  # noqa
from ddavs_mm.registry import MODELS  # noqa: E402
from ddavs_mm.structures import AVSDataSample  # noqa: E402


def _sample(clip_id, T=3, H=8, W=8, S=100, aug=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = dict(
        frames=torch.randint(0, 256, (T, 3, H, W), dtype=torch.uint8,
                             generator=g),
        audio=torch.randn(T, S, generator=g))
    if aug:
        inputs['audio_aug'] = torch.randn(T, S, generator=g)
    s = AVSDataSample(metainfo=dict(clip_id=clip_id))
    s.gt_masks = torch.zeros(T, H, W, dtype=torch.long)
    s.mask_flags = torch.ones(T, dtype=torch.bool)
    s.frame_flags = torch.ones(T, dtype=torch.bool)
    return dict(inputs=inputs, data_samples=s)


def test_shapes_and_normalisation():
    pre = MODELS.build(dict(type='AVSDataPreprocessor'))
    batch = [_sample('a', seed=0), _sample('b', seed=1)]
    out = pre(pseudo_collate(batch))
    x = out['inputs']
    assert x['frames'].shape == (2, 3, 3, 8, 8)
    assert x['frames'].dtype == torch.float32
    assert x['audio'].shape == (2, 3, 100)
    assert x['audio_aug'].shape == (2, 3, 100)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    expect = (batch[1]['inputs']['frames'].float() - mean) / std
    torch.testing.assert_close(x['frames'][1], expect)
    torch.testing.assert_close(x['audio'][0], batch[0]['inputs']['audio'])
    assert [s.clip_id for s in out['data_samples']] == ['a', 'b']
    # a list of per-clip input dicts and default_collate also work
    out2 = pre(dict(inputs=[b['inputs'] for b in batch],
                    data_samples=[b['data_samples'] for b in batch]))
    torch.testing.assert_close(out2['inputs']['frames'], x['frames'])
    out3 = pre(default_collate([dict(inputs=b['inputs']) for b in batch]))
    torch.testing.assert_close(out3['inputs']['frames'], x['frames'])


def test_custom_mean_std_no_aug():
    pre = AVSDataPreprocessor(mean=(0, 0, 0), std=(255, 255, 255))
    out = pre(pseudo_collate([_sample('a', aug=False)]))
    assert 'audio_aug' not in out['inputs']
    assert out['inputs']['frames'].max() <= 1.0
    with pytest.raises(ValueError):
        AVSDataPreprocessor(std=(1, 0, 1))


@pytest.mark.parametrize('kw,what', [
    (dict(T=4), 'frames'),
    (dict(H=16), 'frames'),
    (dict(S=50), 'audio'),
])
def test_mismatch_errors(kw, what):
    pre = AVSDataPreprocessor()
    batch = pseudo_collate([_sample('clip_a'), _sample('clip_b', **kw)])
    with pytest.raises(ValueError) as e:
        pre(batch)
    msg = str(e.value)
    assert 'clip_a' in msg and 'clip_b' in msg and what in msg


def test_partial_aug_error():
    pre = AVSDataPreprocessor()
    batch = [_sample('a'), _sample('b', aug=False)]
    with pytest.raises(ValueError, match='audio_aug'):
        pre(dict(inputs=[b['inputs'] for b in batch],
                 data_samples=[b['data_samples'] for b in batch]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_moves_to_cuda():
    pre = AVSDataPreprocessor().cuda()
    out = pre(pseudo_collate([_sample('a'), _sample('b')]))
    assert out['inputs']['frames'].is_cuda
    assert out['inputs']['audio_aug'].is_cuda
    assert out['data_samples'][0].gt_masks.is_cuda


@pytest.mark.parametrize('cfg_name,maker,kw', [
    ('avsbench_s4.py', 'make_s4', {}),
    ('avsbench_semantic.py', 'make_avss', {}),
    ('vpo_ms.py', 'make_vpo', {}),
])
def test_config_pipeline_to_batch(tmp_path, cfg_name, maker, kw):
    """Base dataset config -> dataset -> DataLoader -> preprocessor."""
    import avs_fixtures
    from mmengine.config import Config
    from torch.utils.data import DataLoader

    from ddavs_mm.registry import DATASETS
    from ddavs_mm.utils import register_all_modules
    register_all_modules()
    root = str(tmp_path)
    if maker == 'make_vpo':
        avs_fixtures.make_vpo(root, 'ms', [
            dict(cateName='dog', img_Id=1, ann_Ids=[1], cateId=18,
                 vgg_file='a', split='train'),
            dict(cateName='cat', img_Id=1, ann_Ids=[2], cateId=17,
                 vgg_file='b', split='train'),
            dict(cateName='cow', img_Id=2, ann_Ids=[3], cateId=21,
                 vgg_file='c', split='train'),
        ], audio_seconds=4.0)
    elif maker == 'make_s4':
        avs_fixtures.make_s4(root, clips=[('a_1', 'dog', 'train'),
                                          ('b_2', 'cat', 'train')])
    else:
        avs_fixtures.make_avss(root, clips=[('u1', 'v1s', 'train'),
                                            ('u2', 'v2', 'train')])
    cfg = Config.fromfile(
        osp.join(osp.dirname(__file__), '..', 'configs', '_base_',
                 'datasets', cfg_name))
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = root
    ds = DATASETS.build(ds_cfg)
    assert len(ds) == 2
    loader = DataLoader(ds, batch_size=2, collate_fn=pseudo_collate)
    batch = next(iter(loader))
    out = AVSDataPreprocessor()(batch, training=True)
    x = out['inputs']
    T = 1 if maker == 'make_vpo' else (10 if maker == 'make_avss' else 5)
    S = 96000 if maker == 'make_vpo' else 32000
    assert x['frames'].shape == (2, T, 3, 224, 224)
    assert x['audio'].shape == (2, T, S)
    assert x['audio_aug'].shape == (2, T, S)
    assert out['data_samples'][0].gt_masks.shape == (T, 224, 224)
