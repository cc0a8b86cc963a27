"""Tests of metadata readers and the four dataset families."""
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest

sys.path.insert(0, osp.dirname(__file__))

from avs_fixtures import (AVSS_CLASSES, avss_palette, make_avss,  # noqa: E402
                          make_ms3, make_s4, make_vpo, write_csv)

import ddavs_mm  # noqa: E402,F401
from ddavs_mm.datasets import (AVSBenchMS3Dataset, AVSBenchS4Dataset,  # noqa
                               AVSBenchSemanticDataset, VPODataset,
                               read_avss_csv, read_ms3_csv, read_s4_csv,
                               read_vpo_csv, voc_palette)
from ddavs_mm.registry import DATASETS  # noqa: E402
from ddavs_mm.utils import register_all_modules  # noqa: E402

register_all_modules()  # default scope 'ddavs_mm' for pipeline building

PIPE = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipMasks'),
    dict(type='LoadAudio', sample_rate=16000, segment_seconds=1.0),
    dict(type='PackAVSInputs'),
]

CONTRACT_KEYS = ('clip_id', 'frame_paths', 'mask_paths', 'mask_flags',
                 'frame_flags', 'audio_paths', 'audio_offset',
                 'audio_duration', 'mask_mode', 'category', 'sample_idx')


# -- metadata -----------------------------------------------------------------
def test_s4_csv_header_and_positions(tmp_path):
    p = str(tmp_path / 'a.csv')
    write_csv(p, ['name', 'start', 'category', 'split'],
              [['x_1', 0, 'dog', 'train'], ['y_2', 3, 'cat', 'test']])
    rows = read_s4_csv(p)
    assert [(r.name, r.category, r.split) for r in rows] == [
        ('x_1', 'dog', 'train'), ('y_2', 'cat', 'test')]
    # reordered header: read by name
    write_csv(p, ['split', 'category', 'name', 'start'],
              [['val', 'dog', 'x_1', 0]])
    assert read_s4_csv(p)[0].name == 'x_1'
    # no header: positions 0/2/3
    write_csv(p, None, [['x_1', 0, 'dog', 'train']])
    r = read_s4_csv(p)[0]
    assert (r.name, r.category, r.split, r.line) == ('x_1', 'dog', 'train',
                                                     1)


@pytest.mark.parametrize('rows,problem', [
    ([['x_1', 0, 'dog', 'training']], 'split'),
    ([['x_1', 0, '', 'train']], 'category'),
    ([['x_1', 0]], 'missing column'),
    ([['x_1', 0, 'dog', 'train'], ['x_1', 0, 'dog', 'val']], 'duplicate'),
])
def test_s4_csv_malformed(tmp_path, rows, problem):
    p = str(tmp_path / 's4.csv')
    write_csv(p, ['name', 'start', 'category', 'split'], rows)
    with pytest.raises(ValueError) as e:
        read_s4_csv(p)
    msg = str(e.value)
    assert p in msg and problem in msg
    assert f'line {len(rows) + 1}' in msg


def test_ms3_avss_vpo_csv(tmp_path):
    p = str(tmp_path / 'ms3.csv')
    write_csv(p, ['whatever', 'split'], [['v1', 'train'], ['v2', 'test']])
    assert [r.name for r in read_ms3_csv(p)] == ['v1', 'v2']
    write_csv(p, ['whatever', 'split'], [['v1', 'train'], ['', 'test']])
    with pytest.raises(ValueError, match=r'ms3\.csv, line 3'):
        read_ms3_csv(p)

    p = str(tmp_path / 'meta.csv')
    hdr = ['vid', 'uid', 's_min', 's_max', 'a_obj', 'split', 'label']
    write_csv(p, hdr, [['a', 'u1', 0, 5, 'dog', 'train', 'v1s']])
    assert read_avss_csv(p)[0].label == 'v1s'
    write_csv(p, hdr, [['a', 'u1', 0, 5, 'dog', 'train', 'v3']])
    with pytest.raises(ValueError, match=r'meta\.csv, line 2.*v3'):
        read_avss_csv(p)
    write_csv(p, hdr, [['a', 'u1', 'zero', 5, 'dog', 'train', 'v2']])
    with pytest.raises(ValueError, match='s_min'):
        read_avss_csv(p)

    p = str(tmp_path / 'vpo.csv')
    hdr = ['cateName', 'img_Id', 'ann_Ids', 'cateId', 'vgg_file', 'split']
    write_csv(p, hdr, [['dog', 7, '[11, 12]', 18, 'vg_a', 'train']])
    r = read_vpo_csv(p)[0]
    assert r.ann_ids == (11, 12) and r.img_id == 7 and r.cate_id == 18
    for bad, what in ((['dog', 'x7', '11', 18, 'vg', 'train'], 'img_Id'),
                      (['dog', 7, 'none', 18, 'vg', 'train'], 'ann_Ids'),
                      (['unicorn', 7, '11', 18, 'vg', 'train'], 'unknown'),
                      (['dog', 7, '11', 18, '', 'train'], 'vgg_file')):
        write_csv(p, hdr, [['dog', 1, '1', 18, 'v', 'train'], bad])
        with pytest.raises(ValueError) as e:
            read_vpo_csv(p, classes=['dog', 'cat'])
        assert p in str(e.value) and 'line 3' in str(e.value)
        assert what in str(e.value)
    write_csv(p, hdr, [['dog', 1, '1', 18, 'v', 'train']])
    with pytest.raises(ValueError, match='multi_instance'):
        read_vpo_csv(p, require_multi_instance=True)


def test_voc_palette_hand_values():
    assert voc_palette(9) == avss_palette(9)
    assert voc_palette(71)[70] != voc_palette(71)[69]
    assert len({tuple(c) for c in voc_palette(71)}) == 71


# -- S4 -----------------------------------------------------------------------
def test_s4_one_mask_rule(tmp_path):
    root = make_s4(str(tmp_path))
    train = AVSBenchS4Dataset(data_root=root, split='train', pipeline=PIPE)
    assert len(train) == 1
    info = train.get_data_info(0)
    for k in CONTRACT_KEYS:
        assert k in info, k
    assert info['mask_flags'] == [True, False, False, False, False]
    assert info['mask_paths'][1:] == [None] * 4
    assert info['frame_paths'][2].endswith(
        osp.join('visual_frames', 'train', 'dog_barking', 'clipA_1',
                 'clipA_1_3.png'))
    assert info['audio_paths'][0].endswith(
        osp.join('audio_wav', 'train', 'dog_barking', 'clipA_1.wav'))
    out = train[0]
    s = out['data_samples']
    assert out['inputs']['frames'].shape == (5, 3, 32, 32)
    assert out['inputs']['audio'].shape == (5, 16000)
    assert s.gt_masks.shape == (5, 32, 32)
    assert set(s.gt_masks[0].unique().tolist()) == {0, 1}
    assert (s.gt_masks[1:] == 255).all()
    assert s.mask_flags.tolist() == [True, False, False, False, False]
    assert train.metainfo['classes'] == ('background', 'sounding')

    test = AVSBenchS4Dataset(data_root=root, split='test', pipeline=PIPE)
    s = test[0]['data_samples']
    assert s.mask_flags.all() and not (s.gt_masks == 255).any()
    assert s.gt_masks[0].sum() == 8 * 10  # square_mask(1) has 80 pixels


def test_s4_headerless_csv_and_registry(tmp_path):
    root = make_s4(str(tmp_path), header=False)
    ds = DATASETS.build(
        dict(type='AVSBenchS4Dataset', data_root=root, split='val'))
    assert ds.get_data_info(0)['clip_id'] == 'clipB_2'


def test_s4_missing_file_named_at_load(tmp_path):
    root = make_s4(str(tmp_path))
    victim = osp.join(root, 's4_data', 'gt_masks', 'val', 'dog_barking',
                      'clipB_2', 'clipB_2_4.png')
    os.remove(victim)
    with pytest.raises(FileNotFoundError, match='clipB_2_4.png'):
        AVSBenchS4Dataset(data_root=root, split='val')
    # lazily: the pipeline names it
    ds = AVSBenchS4Dataset(
        data_root=root, split='val', check_files=False, pipeline=PIPE)
    with pytest.raises(FileNotFoundError, match='clipB_2_4.png'):
        ds[0]


def test_bad_split_and_empty(tmp_path):
    root = make_s4(str(tmp_path), clips=[('a_1', 'dog', 'train')])
    with pytest.raises(ValueError, match='split'):
        AVSBenchS4Dataset(data_root=root, split='dev')
    with pytest.raises(ValueError, match='no clip'):
        AVSBenchS4Dataset(data_root=root, split='test')


# -- MS3 ----------------------------------------------------------------------
def test_ms3_names(tmp_path):
    root = make_ms3(str(tmp_path))
    for split, vid in (('train', 'vidA'), ('val', 'vidB'), ('test', 'vidC')):
        ds = AVSBenchMS3Dataset(data_root=root, split=split, pipeline=PIPE)
        info = ds.get_data_info(0)
        assert info['clip_id'] == vid
        assert info['frame_paths'][0] == osp.join(
            root, 'ms3_data', 'visual_frames', vid, f'{vid}.mp4_1.png')
        assert info['mask_paths'][4] == osp.join(
            root, 'ms3_data', 'gt_masks', split, vid, f'{vid}_5.png')
        assert info['audio_paths'] == [
            osp.join(root, 'ms3_data', 'audio_wav', split, f'{vid}.wav')
        ]
        assert info['mask_flags'] == [True] * 5
        s = ds[0]['data_samples']
        assert s.gt_masks.shape == (5, 32, 32)
        assert not (s.gt_masks == 255).any()


# -- AVSS ---------------------------------------------------------------------
def test_avss_padding_and_flags(tmp_path):
    root = make_avss(str(tmp_path), rgb_only=('uid_v2_te', ))
    tr = AVSBenchSemanticDataset(data_root=root, split='train', pipeline=PIPE)
    assert tr.metainfo['classes'] == AVSS_CLASSES
    assert tr.metainfo['palette'] == avss_palette(4)
    infos = {tr.get_data_info(i)['clip_id']: tr.get_data_info(i)
             for i in range(len(tr))}
    v1s, v1m, v2 = (infos['uid_v1s_tr'], infos['uid_v1m_tr'],
                    infos['uid_v2_tr'])
    assert v1s['frame_flags'] == [True] * 5 + [False] * 5
    assert v1s['frame_paths'][5:] == [''] * 5
    assert v1s['mask_flags'] == [True] + [False] * 9
    assert v1m['mask_flags'] == [True] * 5 + [False] * 5
    assert v2['mask_flags'] == [True] * 10 and v2['frame_flags'] == [True] * 10
    assert v1s['frame_paths'][0] == osp.join(root, 'v1s', 'uid_v1s_tr',
                                             'frames', '0.jpg')

    order = [tr.get_data_info(i)['clip_id'] for i in range(len(tr))]
    out = tr[order.index('uid_v1s_tr')]
    s = out['data_samples']
    frames = out['inputs']['frames']
    assert frames.shape == (10, 3, 32, 32)
    assert (frames[5:] == 0).all() and (frames[:5] > 0).all()
    assert s.frame_flags.tolist() == [True] * 5 + [False] * 5
    assert (s.gt_masks[1:5] == 255).all()       # real, not annotated
    assert (s.gt_masks[5:] == 0).all()          # padded: background
    assert s.gt_masks[0, 5, 5] == 1 and s.gt_masks[0, 0, 0] == 0
    # audio: 5 s of sound, padded with zeros to 10 s
    audio = out['inputs']['audio']
    assert audio.shape == (10, 16000)
    assert audio[:5].abs().sum() > 0 and (audio[5:] == 0).all()

    te = AVSBenchSemanticDataset(data_root=root, split='test', pipeline=PIPE)
    order = [te.get_data_info(i)['clip_id'] for i in range(len(te))]
    i1 = te.get_data_info(order.index('uid_v1s_te'))
    assert i1['mask_flags'] == [True] * 10      # padded frames are scored
    assert i1['frame_flags'] == [True] * 5 + [False] * 5
    s = te[order.index('uid_v1s_te')]['data_samples']
    assert (s.gt_masks[5:] == 0).all()
    assert [s.gt_masks[j, 5, 5].item() for j in range(5)] == [1, 2, 3, 1, 2]
    # a clip with only labels_rgb is decoded with the palette
    i2 = te.get_data_info(order.index('uid_v2_te'))
    assert i2['mask_encoding'] == 'rgb'
    assert 'labels_rgb' in i2['mask_paths'][0]
    s = te[order.index('uid_v2_te')]['data_samples']
    assert [s.gt_masks[j, 5, 5].item() for j in range(10)] == \
        [1, 2, 3, 1, 2, 3, 1, 2, 3, 1]


def test_avss_label_subsets_and_binary(tmp_path):
    root = make_avss(str(tmp_path))
    ds = AVSBenchSemanticDataset(
        data_root=root, split='train', labels=('v2', ))
    assert [ds.get_data_info(i)['clip_id'] for i in range(len(ds))] == \
        ['uid_v2_tr']
    ds = AVSBenchSemanticDataset(
        data_root=root,
        split='test',
        labels=('v2', ),
        mask_mode='binary',
        pipeline=PIPE)
    assert set(ds[0]['data_samples'].gt_masks.unique().tolist()) == {0, 1}
    with pytest.raises(ValueError, match='labels'):
        AVSBenchSemanticDataset(data_root=root, labels=('v9', ))


def test_avss_label2idx_missing_or_bad(tmp_path):
    root = make_avss(str(tmp_path), write_label2idx=False)
    with pytest.raises(FileNotFoundError, match='label2idx.json'):
        AVSBenchSemanticDataset(data_root=root)
    with open(osp.join(root, 'label2idx.json'), 'w') as f:
        json.dump({'background': 0, 'dog': 2}, f)
    with pytest.raises(ValueError, match='label2idx.json'):
        AVSBenchSemanticDataset(data_root=root)


# -- VPO ----------------------------------------------------------------------
def _vpo_ms_rows():
    return [
        dict(cateName='dog', img_Id=11, ann_Ids=[101], cateId=18,
             vgg_file='vg_dog', split='train', freq=300),
        dict(cateName='male', img_Id=11, ann_Ids=[102, 103], cateId=92,
             vgg_file='vg_male', split='train', freq=500),
        dict(cateName='car', img_Id=12, ann_Ids=[104], cateId=3,
             vgg_file='vg_car', split='val', freq=700),
    ]


@pytest.mark.parametrize('mask_style', ['binary', 'coco'])
def test_vpo_ms_sample_forming_and_source_sum(tmp_path, mask_style):
    root = str(tmp_path)
    waves = make_vpo(root, 'ms', _vpo_ms_rows(), mask_style=mask_style)
    pipe = [
        dict(type='LoadClipFrames'),
        dict(type='LoadClipMasks'),
        dict(type='LoadAudio', sample_rate=16000, segment_seconds=3.0),
        dict(type='PackAVSInputs'),
    ]
    ds = VPODataset(subset='ms', data_root=root, split='train', pipeline=pipe)
    assert len(ds) == 1  # two rows of image 11 form one sample
    info = ds.get_data_info(0)
    assert info['clip_id'] == '000000000011'
    assert info['frame_paths'] == [
        osp.join(root, 'VPO-MS', 'data', '000000000011.jpg')
    ]
    assert len(info['mask_paths'][0]) == 3
    assert info['mask_paths'][0][2].endswith('000000000011_000000000103.png')
    assert info['audio_paths'] == [
        osp.join(root, 'audios', 'vg_dog.wav'),
        osp.join(root, 'audios', 'vg_male.wav')
    ]
    assert info['audio_duration'] == 3.0
    classes = ds.metainfo['classes']
    assert len(classes) == 22
    assert info['category_ids'] == sorted(
        [classes.index('dog'), classes.index('male')])

    out = ds[0]
    audio = out['inputs']['audio']
    assert audio.shape == (1, 48000)
    # hand computation: centre 3 s of each 10 s source, summed
    n = 48000
    start = (160000 - n) // 2
    expect = waves['vg_dog'][start:start + n] + \
        waves['vg_male'][start:start + n]
    np.testing.assert_allclose(audio[0].numpy(), expect, atol=1e-6)

    gt = out['data_samples'].gt_masks[0]
    assert set(gt.unique().tolist()) == {0, classes.index('dog'),
                                         classes.index('male')}
    # hand merge: rows in order, later instance pixels win
    from PIL import Image
    expect_map = np.zeros((32, 32), np.int64)
    for p, name in zip(info['mask_paths'][0], ['dog', 'male', 'male']):
        expect_map[np.array(Image.open(p)) > 0] = classes.index(name)
    np.testing.assert_array_equal(gt.numpy(), expect_map)

    test = VPODataset(subset='ms', data_root=root, split='test')
    val = VPODataset(subset='ms', data_root=root, split='val')
    assert test.get_data_info(0)['clip_id'] == '000000000012'
    assert val.get_data_info(0)['clip_id'] == '000000000012'


def test_vpo_ss_and_msmi(tmp_path):
    root = str(tmp_path)
    make_vpo(root, 'ss', [
        dict(cateName='cat', img_Id=5, ann_Ids=[55], cateId=17,
             vgg_file='vg_cat', split='train'),
        dict(cateName='dog', img_Id=6, ann_Ids=[66], cateId=18,
             vgg_file='vg_dog2', split='val'),
    ])
    ss = VPODataset(subset='ss', data_root=root, split='train')
    assert len(ss) == 1
    assert ss.get_data_info(0)['audio_paths'] == [
        osp.join(root, 'audios', 'vg_cat.wav')
    ]
    make_vpo(root, 'msmi', [
        dict(cateName='dog', img_Id=21, ann_Ids=[1, 2], cateId=18,
             vgg_file='vg_d', split='train', multi_instance=1),
        dict(cateName='horse', img_Id=22, ann_Ids=[3], cateId=19,
             vgg_file='vg_h', split='train', multi_instance=0),
    ])
    msmi = VPODataset(subset='msmi', data_root=root, split='train')
    infos = [msmi.get_data_info(i) for i in range(len(msmi))]
    assert infos[0]['frame_paths'][0].startswith(
        osp.join(root, 'VPO-MSMI', 'data'))
    # multi_instance == 0 rows belong to VPO-MS
    assert infos[1]['frame_paths'][0].startswith(
        osp.join(root, 'VPO-MS', 'data'))
    assert infos[1]['mask_paths'][0][0].startswith(
        osp.join(root, 'VPO-MS', 'mask'))
    with pytest.raises(ValueError, match='subset'):
        VPODataset(subset='xx', data_root=root)


def test_vpo_unknown_mask_value(tmp_path):
    root = str(tmp_path)
    make_vpo(root, 'ss', [
        dict(cateName='cat', img_Id=5, ann_Ids=[55], cateId=17,
             vgg_file='vg_cat', split='train')
    ])
    from avs_fixtures import write_gray_png
    bad = osp.join(root, 'VPO-SS', 'mask', '000000000005_000000000055.png')
    m = np.zeros((32, 32), np.uint8)
    m[:4, :4] = 17
    m[8:10, :4] = 200
    write_gray_png(bad, m)
    ds = VPODataset(subset='ss', data_root=root, split='train',
                    pipeline=[dict(type='LoadClipFrames'),
                              dict(type='LoadClipMasks')])
    with pytest.raises(ValueError, match='000000000005_000000000055.png'):
        ds[0]
