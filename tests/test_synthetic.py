"""Tests of the built-in synthetic AVS data set (ddavs_mm.datasets.synthetic).

Tiny sizes (64 x 64 frames, a few clips) keep the file well under a minute.
"""
import csv
import hashlib
import json
import os
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
import soundfile as sf

from ddavs_mm.datasets.synthetic import (CLASSES, INFO_FILE, SIZE_RATIO,
                                         generate_synthetic_avs,
                                         iter_rendered_clips, load_info,
                                         object_role, oracle_scores,
                                         render_clip, role_coverage,
                                         sample_scene, size_bin_of,
                                         size_factor, sounding_mask,
                                         synth_sound, tpavi_frame_iou,
                                         tpavi_miou, visible_mask,
                                         write_overlays)
from ddavs_mm.visualization import voc_palette

SIZE, SR = 64, 16000
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _gen(root, preset, seed=0, n=(4, 2, 3), **kw):
    generate_synthetic_avs(str(root), preset, seed=seed, num_train=n[0],
                           num_val=n[1], num_test=n[2], size=SIZE, **kw)
    return str(root)


@pytest.fixture(scope='module')
def s4_root(tmp_path_factory):
    return _gen(tmp_path_factory.mktemp('s4'), 's4')


@pytest.fixture(scope='module')
def ms3_root(tmp_path_factory):
    return _gen(tmp_path_factory.mktemp('ms3'), 'ms3', n=(6, 3, 40))


@pytest.fixture(scope='module')
def avss_root(tmp_path_factory):
    return _gen(tmp_path_factory.mktemp('avss'), 'avss', n=(6, 3, 6))


def _tree_hashes(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = osp.join(d, f)
            with open(p, 'rb') as fh:
                out[osp.relpath(p, root)] = hashlib.sha1(fh.read()).hexdigest()
    return out


def _read(path, flags=cv2.IMREAD_UNCHANGED):
    img = cv2.imread(path, flags)
    assert img is not None, path
    return img


def _csv(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


# -- helpers with hand-computed values ----------------------------------------
def test_tpavi_frame_iou_hand_cases():
    g = np.zeros((4, 4), bool)
    g[:2, :2] = True                                   # 4 px
    p = np.zeros((4, 4), bool)
    p[:2, :3] = True                                   # 6 px, 4 shared
    assert tpavi_frame_iou(p, g) == pytest.approx(4 / 6)
    e = np.zeros((4, 4), bool)
    assert tpavi_frame_iou(e, e) == 1.0               # empty GT, empty pred
    assert tpavi_frame_iou(p, e) == pytest.approx(10 / 16)  # TN fraction
    assert tpavi_miou([p, e], [g, e]) == pytest.approx((4 / 6 + 1) / 2)
    with pytest.raises(ValueError):
        tpavi_frame_iou(p, np.zeros((3, 3), bool))


def test_size_rule_and_palette():
    assert [size_factor(b) for b in range(3)] == [1.0, SIZE_RATIO,
                                                 SIZE_RATIO**2]
    assert size_bin_of(0.30) == 0 and size_bin_of(0.2) == 1
    assert size_bin_of(0.07) == 2
    with pytest.raises(ValueError):
        size_bin_of(0.02)
    # bell: harmonic at f0 = 523 Hz; the small instance sounds 1.5625x higher
    bell = CLASSES[0].sound
    for b in (0, 2):
        x = synth_sound(bell, b, 1, SR, np.random.default_rng(0))
        peak = np.argmax(np.abs(np.fft.rfft(x)))      # 1-s window: 1 Hz bins
        assert abs(peak - 523 * size_factor(b)) <= 1
    assert voc_palette(4) == [[0, 0, 0], [128, 0, 0], [0, 128, 0],
                              [128, 128, 0]]
    assert len(CLASSES) >= 8
    assert len({(c.shape, c.colour, c.texture) for c in CLASSES}) == \
        len(CLASSES)


# -- determinism --------------------------------------------------------------
def test_determinism_seed_and_workers(tmp_path):
    a = _gen(tmp_path / 'a', 'ms3', seed=3, n=(3, 1, 2))
    b = _gen(tmp_path / 'b', 'ms3', seed=3, n=(3, 1, 2), workers=2)
    c = _gen(tmp_path / 'c', 'ms3', seed=4, n=(3, 1, 2))
    ha, hb, hc = _tree_hashes(a), _tree_hashes(b), _tree_hashes(c)
    assert ha == hb                               # byte-identical, any workers
    assert set(ha) == set(hc)
    differ = [k for k in ha if ha[k] != hc[k]]
    assert len(differ) > 0.9 * len(ha)
    # a clip does not depend on how many clips the split has
    d = _gen(tmp_path / 'd', 'ms3', seed=3, n=(1, 0, 0))
    hd = _tree_hashes(d)
    for k in hd:
        if 'ms3_train_00000' in k:
            assert hd[k] == ha[k]


def test_refuses_non_empty_dir_and_bad_args(tmp_path):
    (tmp_path / 'x.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='not empty'):
        _gen(tmp_path, 'ms3', n=(1, 0, 0))
    with pytest.raises(FileExistsError):
        _gen(tmp_path, 'ms3', n=(1, 0, 0), overwrite=True)  # not ours
    assert (tmp_path / 'x.txt').read_text() == 'keep me'
    with pytest.raises(ValueError, match='preset'):
        _gen(tmp_path / 'y', 'avs', n=(1, 0, 0))
    with pytest.raises(ValueError, match='split'):
        sample_scene(0, 'ms3', 'dev', 0)


# -- layouts ------------------------------------------------------------------
def test_s4_layout(s4_root):
    rows = _csv(osp.join(s4_root, 's4_meta_data.csv'))
    assert list(rows[0]) == ['name', 'start_time', 'category', 'split']
    assert [r['split'] for r in rows].count('train') == 4
    names = {c.name for c in CLASSES}
    for r in rows:
        n, c, s = r['name'], r['category'], r['split']
        assert c in names
        base = osp.join(s4_root, 's4_data')
        for k in range(1, 6):
            f = _read(osp.join(base, 'visual_frames', s, c, n, f'{n}_{k}.png'))
            assert f.shape == (SIZE, SIZE, 3)
        masks = sorted(os.listdir(osp.join(base, 'gt_masks', s, c, n)))
        if s == 'train':                          # frame 1 only
            assert masks == [f'{n}_1.png']
        else:
            assert masks == [f'{n}_{k}.png' for k in range(1, 6)]
        for m in masks:
            arr = _read(osp.join(base, 'gt_masks', s, c, n, m))
            assert arr.ndim == 2 and set(np.unique(arr)) <= {0, 255}
            assert arr.max() == 255               # single source always heard
        wav, sr = sf.read(osp.join(base, 'audio_wav', s, c, f'{n}.wav'))
        assert sr == SR and wav.shape == (5 * SR, )
        assert np.abs(wav).max() > 0.5


def test_ms3_layout(ms3_root):
    rows = _csv(osp.join(ms3_root, 'ms3_meta_data.csv'))
    assert list(rows[0])[-1] == 'split'
    base = osp.join(ms3_root, 'ms3_data')
    assert sorted(os.listdir(osp.join(base, 'visual_frames'))) == sorted(
        r['video_id'] for r in rows)              # not split by folder
    for r in rows:
        v, s = r['video_id'], r['split']
        assert sorted(os.listdir(osp.join(base, 'visual_frames', v))) == [
            f'{v}.mp4_{k}.png' for k in range(1, 6)]
        assert sorted(os.listdir(osp.join(base, 'gt_masks', s, v))) == [
            f'{v}_{k}.png' for k in range(1, 6)]
        for k in range(1, 6):
            m = _read(osp.join(base, 'gt_masks', s, v, f'{v}_{k}.png'))
            assert m.shape == (SIZE, SIZE) and set(np.unique(m)) <= {0, 255}
        info = sf.info(osp.join(base, 'audio_wav', s, f'{v}.wav'))
        assert info.samplerate == SR and info.frames == 5 * SR


def test_avss_layout_and_palette(avss_root):
    rows = _csv(osp.join(avss_root, 'metadata.csv'))
    assert list(rows[0]) == ['vid', 'uid', 's_min', 's_max', 'a_obj',
                             'split', 'label']
    assert {r['label'] for r in rows} == {'v1s', 'v1m', 'v2'}
    with open(osp.join(avss_root, 'label2idx.json')) as f:
        l2i = json.load(f)
    assert l2i['background'] == 0 and len(l2i) == len(CLASSES) + 1
    pal = np.asarray(voc_palette(), np.uint8)
    for r in rows:
        d = osp.join(avss_root, r['label'], r['uid'])
        T = 10 if r['label'] == 'v2' else 5
        assert sorted(os.listdir(osp.join(d, 'frames'))) == sorted(
            f'{i}.jpg' for i in range(T))
        n_lab = 1 if (r['label'] == 'v1s' and r['split'] == 'train') else T
        want = sorted(f'{i}.png' for i in range(n_lab))
        assert sorted(os.listdir(osp.join(d, 'labels_semantic'))) == want
        assert sorted(os.listdir(osp.join(d, 'labels_rgb'))) == want
        for i in range(n_lab):
            sem = _read(osp.join(d, 'labels_semantic', f'{i}.png'))
            rgb = _read(osp.join(d, 'labels_rgb', f'{i}.png'))[..., ::-1]
            assert sem.ndim == 2 and sem.max() <= len(CLASSES)
            np.testing.assert_array_equal(rgb, pal[sem])
        info = sf.info(osp.join(d, 'audio.wav'))
        assert info.samplerate == SR and info.frames == T * SR
        assert r['vid'] == r['uid'].rsplit('_', 1)[0]


# -- scene content ------------------------------------------------------------
def test_masks_vary_per_second_and_silent_objects(ms3_root):
    info = load_info(ms3_root)
    varying, silent_seen, empty = 0, 0, 0
    for rec in info['clips']:
        masks = [_read(osp.join(ms3_root, p)) > 0 for p in rec['mask_paths']]
        varying += any((m != masks[0]).any() for m in masks[1:])
        empty += sum(not m.any() for m in masks)
        scene = sample_scene(info['seed'], 'ms3', rec['split'], rec['index'],
                             SIZE, 5)
        _, maps = render_clip(scene, info['seed'])
        for k, m in enumerate(masks):
            sounding = set(rec['sounding_per_frame'][k])
            for inst in rec['instances']:
                px = maps[k] == inst['uid']
                if not px.any():
                    continue
                if inst['uid'] in sounding:
                    assert m[px].all()
                else:                             # visible but not in mask
                    assert not m[px].any()
                    silent_seen += inst['role'] != 'sounding'
            assert not (m & (maps[k] < 0)).any()  # background never sounds
    assert varying >= len(info['clips']) // 2
    assert silent_seen > 0
    n_frames = 5 * len(info['clips'])
    assert 0 < empty < 0.25 * n_frames


def test_scene_kinds_and_sidecar(ms3_root, s4_root):
    info = load_info(ms3_root)
    assert info['preset'] == 'ms3' and info['seed'] == 0
    assert len(info['classes']) == len(CLASSES)
    srcs = [s for c in info['clips'] for s in c['sources']]
    offscreen = [s for s in srcs if not s['onscreen'] and any(s['active'])]
    assert offscreen                              # heard but not seen
    roles = {i['role'] for c in info['clips'] for i in c['instances']}
    assert {'sounding', 'lookalike', 'distractor'} <= roles
    assert any(len(s['instances']) == 2 for s in srcs)  # multi-instance
    for c in info['clips']:
        # (class, size bin) pairs are unique among sources and silent objects
        keys = [(s['class_id'], s['size_bin']) for s in c['sources']]
        keys += [(i['class_id'], i['size_bin']) for i in c['instances']
                 if i['role'] != 'sounding']
        assert len(keys) == len(set(keys))
        for i in c['instances']:
            assert size_bin_of(i['size_frac']) == i['size_bin']
    for e in info['single_source_index']:
        rec = next(c for c in info['clips'] if c['clip_id'] == e['clip_id'])
        active = [s for s in rec['sources'] if s['active'][e['second']]]
        assert len(active) == 1 and active[0]['class_id'] == e['class_id']
    s4 = load_info(s4_root)
    assert len(s4['single_source_index']) == 5 * len(s4['clips'])


def test_visual_only_oracle_is_low_on_ms3(ms3_root):
    sc = oracle_scores(ms3_root, 'test')
    assert sc['audio_oracle_j'] == pytest.approx(1.0)
    assert sc['num_frames'] == 40 * 5
    assert sc['visual_only_j'] < 0.62


def test_overlays(ms3_root, tmp_path):
    paths = write_overlays(ms3_root, str(tmp_path), 'test', [0, 1])
    assert len(paths) == 2
    img = _read(paths[0])
    assert img.shape[1] > 5 * SIZE and img.shape[2] == 3


def test_cli(tmp_path):
    sys.path.insert(0, osp.join(ROOT, 'tools', 'dataset_converters'))
    try:
        import make_synthetic_avs
    finally:
        sys.path.pop(0)
    out = str(tmp_path / 'cli')
    make_synthetic_avs.main(['--preset', 's4', '--out', out, '--num-train',
                             '1', '--num-val', '0', '--num-test', '1',
                             '--size', '32', '--oracle'])
    assert osp.isfile(osp.join(out, INFO_FILE))
    assert len(_csv(osp.join(out, 's4_meta_data.csv'))) == 2


# -- read back through the project's readers ----------------------------------
PIPE = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipMasks'),
    dict(type='LoadAudio', sample_rate=SR, segment_seconds=1.0),
    dict(type='PackAVSInputs'),
]


def _datasets():
    import ddavs_mm.datasets as ds_mod
    from ddavs_mm.utils import register_all_modules
    register_all_modules()  # default scope 'ddavs_mm' for the pipeline
    return ds_mod


def test_read_back_s4(s4_root):
    ds_mod = _datasets()
    tr = ds_mod.AVSBenchS4Dataset(data_root=s4_root, split='train',
                                  pipeline=PIPE)
    te = ds_mod.AVSBenchS4Dataset(data_root=s4_root, split='test',
                                  pipeline=PIPE)
    assert len(tr) == 4 and len(te) == 3
    assert tr.get_data_info(0)['mask_flags'] == [True] + [False] * 4
    out = te[0]
    s = out['data_samples']
    assert out['inputs']['frames'].shape == (5, 3, SIZE, SIZE)
    assert out['inputs']['audio'].shape == (5, SR)
    m = _read(te.get_data_info(0)['mask_paths'][2]) // 255
    np.testing.assert_array_equal(s.gt_masks[2].numpy(), m)


def test_read_back_ms3(ms3_root):
    ds_mod = _datasets()
    ds = ds_mod.AVSBenchMS3Dataset(data_root=ms3_root, split='val',
                                   pipeline=PIPE)
    assert len(ds) == 3
    out = ds[1]
    s = out['data_samples']
    assert out['inputs']['frames'].shape == (5, 3, SIZE, SIZE)
    assert out['inputs']['audio'].shape == (5, SR)
    assert s.mask_flags.all()
    info = load_info(ms3_root)
    rec = next(c for c in info['clips'] if c['clip_id'] == 'ms3_val_00001')
    for k in range(5):
        m = _read(osp.join(ms3_root, rec['mask_paths'][k])) // 255
        np.testing.assert_array_equal(s.gt_masks[k].numpy(), m)
    frame0 = _read(osp.join(ms3_root, rec['frame_paths'][0]))[..., ::-1]
    np.testing.assert_array_equal(
        out['inputs']['frames'][0].permute(1, 2, 0).numpy(), frame0)


def test_read_back_avss(avss_root):
    ds_mod = _datasets()
    for split in ('train', 'test'):
        for source in ('semantic', 'rgb'):
            ds = ds_mod.AVSBenchSemanticDataset(
                data_root=avss_root, split=split, label_source=source,
                pipeline=PIPE)
            assert ds.metainfo['classes'][0] == 'background'
            assert len(ds.metainfo['classes']) == len(CLASSES) + 1
            subsets = set()
            for i in range(len(ds)):
                d = ds.get_data_info(i)
                subsets.add(d['subset'])
                out = ds[i]
                s = out['data_samples']
                assert out['inputs']['frames'].shape == (10, 3, SIZE, SIZE)
                assert out['inputs']['audio'].shape == (10, SR)
                n_real = 10 if d['subset'] == 'v2' else 5
                assert s.frame_flags.tolist() == [True] * n_real + [False] * (
                    10 - n_real)
                sem = _read(osp.join(avss_root, d['subset'], d['clip_id'],
                                     'labels_semantic', '0.png'))
                np.testing.assert_array_equal(s.gt_masks[0].numpy(), sem)
                if split == 'train' and d['subset'] == 'v1s':
                    assert d['mask_flags'] == [True] + [False] * 9
            assert subsets == {'v1s', 'v1m', 'v2'}


def _role_predictions(root, split, pick):
    """clip id -> per-frame masks chosen by ``pick(scene, imap, k)``."""
    return {rec['clip_id']: [pick(scene, m, k) for k, m in enumerate(maps)]
            for rec, scene, maps in iter_rendered_clips(load_info(root),
                                                        split)}


def test_role_coverage_hand_cases(ms3_root):
    # exactly the sounding objects: 1 for them, 0 for every other role
    res = role_coverage(ms3_root, 'test', _role_predictions(
        ms3_root, 'test', lambda s, m, k: sounding_mask(s, m, k)))
    assert {'sounding', 'silent_source', 'lookalike', 'distractor',
            'background'} <= set(res)
    assert res['sounding']['mean'] == 1.0
    for role in ('silent_source', 'lookalike', 'distractor', 'background'):
        assert res[role]['mean'] == 0.0, role
    # every visible object (a model that only looks): 1 for every object
    res = role_coverage(ms3_root, 'test', _role_predictions(
        ms3_root, 'test', lambda s, m, k: visible_mask(m)))
    assert all(res[r]['mean'] == 1.0 for r in res if r != 'background')
    assert res['background']['mean'] == 0.0
    # left half of every frame: background and objects hit in between
    res_half = role_coverage(ms3_root, 'test', _role_predictions(
        ms3_root, 'test',
        lambda s, m, k: np.arange(m.shape[1])[None].repeat(m.shape[0], 0)
        < m.shape[1] // 2))
    assert 0.3 < res_half['background']['mean'] < 0.7
    assert res_half['background']['count'] == 40 * 5


def test_role_coverage_object_role_and_errors(ms3_root):
    info = load_info(ms3_root)
    scene = sample_scene(info['seed'], 'ms3', 'test', 0, info['size'],
                         info['frames'])
    for k in range(scene.num_frames):
        for inst in scene.instances:
            role = object_role(scene, inst.uid, k)
            active = inst.uid in scene.sounding_instances(k)
            assert (role == 'sounding') == active
            if inst.role == 'sounding' and not active:
                assert role == 'silent_source'
            if inst.role != 'sounding':
                assert role == inst.role
    preds = _role_predictions(ms3_root, 'test',
                              lambda s, m, k: np.zeros(m.shape, bool))
    cid = sorted(preds)[0]
    with pytest.raises(KeyError, match=cid):
        role_coverage(ms3_root, 'test',
                      {c: v for c, v in preds.items() if c != cid})
    with pytest.raises(ValueError, match='4 predicted frames'):
        role_coverage(ms3_root, 'test', dict(preds, **{cid: preds[cid][:4]}))
    with pytest.raises(ValueError, match='prediction'):
        role_coverage(ms3_root, 'test', dict(
            preds, **{cid: [np.zeros((8, 8), bool)] * 5}))
