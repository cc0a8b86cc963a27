"""Tests of the loading, clip, audio, augmentation and packing transforms."""
import copy
import os.path as osp
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from mmcv.transforms.utils import cache_random_params
from mmengine import fileio
from mmengine.fileio import BaseStorageBackend

sys.path.insert(0, osp.dirname(__file__))

from avs_fixtures import (frame, square_mask, tone, write_gray_png,  # noqa
                          write_image, write_wav)

import ddavs_mm  # noqa: E402,F401
from ddavs_mm.datasets.transforms import (ClipCenterCrop,
                                          ClipPhotoMetricDistortion,
                                          ClipRandomCrop, ClipRandomFlip,
                                          ClipRandomResizedCrop, ClipResize,
                                          ClipSampleFrames,
                                          ClipShortSideResize, LoadAudio,
                                          LoadClipFrames, LoadClipMasks,
                                          PackAVSInputs, WaveformAugment)
from ddavs_mm.datasets.transforms.loading import (  # noqa: E402
    read_mask_array, read_rgb_image)
from ddavs_mm.structures import AVSDataSample  # noqa: E402
from ddavs_mm.visualization import voc_palette  # noqa: E402


def _clip(tmp_path, T=3, size=32, pad=0):
    paths, masks = [], []
    for t in range(T - pad):
        p = str(tmp_path / f'f{t}.png')
        write_image(p, frame(t, size))
        m = str(tmp_path / f'm{t}.png')
        write_gray_png(m, square_mask(t + 1, size))
        paths.append(p)
        masks.append(m)
    return dict(
        clip_id='c',
        num_frames=T,
        frame_paths=paths + [''] * pad,
        frame_flags=[True] * (T - pad) + [False] * pad,
        mask_paths=masks + [None] * pad,
        mask_flags=[True] * T,
        mask_encoding='binary',
        mask_mode='binary')


# -- loading ------------------------------------------------------------------
def test_load_frames_and_masks(tmp_path):
    r = _clip(tmp_path, T=4, pad=1)
    r['mask_paths'][1] = None  # a real, non-annotated frame
    r = LoadClipFrames()(r)
    r = LoadClipMasks()(r)
    assert len(r['frames']) == 4 and r['frames'][0].dtype == np.uint8
    assert r['frames'][0].shape == (32, 32, 3)
    np.testing.assert_array_equal(r['frames'][0], frame(0))  # RGB order
    assert (r['frames'][3] == 0).all()
    assert r['img_shape'] == (32, 32)
    np.testing.assert_array_equal(r['gt_masks'][0], square_mask(1) // 255)
    assert (r['gt_masks'][1] == 255).all()  # not annotated -> ignore
    assert (r['gt_masks'][3] == 0).all()    # padded -> background


def test_frame_errors_name_file(tmp_path):
    r = _clip(tmp_path)
    missing = str(tmp_path / 'nope.png')
    r['frame_paths'][1] = missing
    with pytest.raises(FileNotFoundError, match='nope.png'):
        LoadClipFrames()(r)

    r = _clip(tmp_path)
    corrupt = str(tmp_path / 'corrupt.png')
    with open(corrupt, 'wb') as f:
        f.write(b'not a png at all')
    r['frame_paths'][2] = corrupt
    with pytest.raises(ValueError, match='corrupt.png'):
        LoadClipFrames()(r)

    r = _clip(tmp_path)
    r['num_frames'] = 5
    with pytest.raises(ValueError, match=r'f0.png.*3 frame paths.*5'):
        LoadClipFrames()(r)


def test_mask_errors_name_file(tmp_path):
    r = LoadClipFrames()(_clip(tmp_path))
    r['mask_paths'][0] = str(tmp_path / 'gone.png')
    with pytest.raises(FileNotFoundError, match='gone.png'):
        LoadClipMasks()(r)
    corrupt = str(tmp_path / 'bad_mask.png')
    with open(corrupt, 'wb') as f:
        f.write(b'\x89PNG garbage')
    r['mask_paths'][0] = corrupt
    with pytest.raises(ValueError, match='bad_mask.png'):
        LoadClipMasks()(r)
    wrong = str(tmp_path / 'wrong_size.png')
    write_gray_png(wrong, np.zeros((16, 16), np.uint8))
    r['mask_paths'][0] = wrong
    with pytest.raises(ValueError, match='wrong_size.png'):
        LoadClipMasks()(r)


def test_semantic_mask_class_out_of_range(tmp_path):
    r = LoadClipFrames()(_clip(tmp_path, T=1))
    p = str(tmp_path / 'sem.png')
    m = np.zeros((32, 32), np.uint8)
    m[0, 0] = 7
    write_gray_png(p, m)
    r.update(mask_paths=[p], mask_encoding='index', mask_mode='semantic',
             num_classes=4)
    with pytest.raises(ValueError, match='sem.png'):
        LoadClipMasks()(r)


class _MemoryBackend(BaseStorageBackend):
    """A file backend holding files in a dict (stands in for remote
    storage)."""
    files: dict = {}

    def get(self, filepath) -> bytes:
        try:
            return self.files[str(filepath)]
        except KeyError:
            raise FileNotFoundError(f'no such object: {filepath}') from None

    def get_text(self, filepath, encoding='utf-8') -> str:
        return self.get(filepath).decode(encoding)


fileio.register_backend('ddavs_test_memory', _MemoryBackend, force=True,
                        prefixes='ddavsmem')


def test_loading_through_a_file_backend(tmp_path):
    local = LoadClipMasks()(LoadClipFrames()(_clip(tmp_path)))
    remote = _clip(tmp_path)
    for key in ('frame_paths', 'mask_paths'):
        names = []
        for p in remote[key]:
            name = 'bucket/' + osp.basename(p)
            with open(p, 'rb') as f:
                _MemoryBackend.files[name] = f.read()
            names.append(name)
        remote[key] = names  # no such local files: the backend reads them
    args = dict(backend='ddavs_test_memory')
    r = LoadClipFrames(backend_args=args)(remote)
    r = LoadClipMasks(backend_args=args)(r)
    for key in ('frames', 'gt_masks'):
        for a, b in zip(local[key], r[key]):
            np.testing.assert_array_equal(a, b)
    assert 'ddavs_test_memory' in repr(LoadClipFrames(backend_args=args))
    remote['frame_paths'][1] = 'bucket/missing.png'
    with pytest.raises(FileNotFoundError, match='bucket/missing.png'):
        LoadClipFrames(backend_args=args)(remote)
    # without backend_args the path's prefix picks the backend
    p = 'ddavsmem://f0.png'
    _MemoryBackend.files[p] = _MemoryBackend.files['bucket/f0.png']
    np.testing.assert_array_equal(read_rgb_image(p), local['frames'][0])


def test_audio_read_through_a_file_backend(tmp_path):
    sr = 8000
    path = str(tmp_path / 'a.wav')
    write_wav(path, tone(440, 1.0, sr), sr)
    with open(path, 'rb') as f:
        _MemoryBackend.files['ddavsmem://a.wav'] = f.read()
    local = LoadAudio(sample_rate=sr)(_results([path]))['waveform']
    remote = LoadAudio(sample_rate=sr)(
        _results(['ddavsmem://a.wav']))['waveform']
    np.testing.assert_array_equal(local, remote)
    with pytest.raises(FileNotFoundError, match='ddavsmem://b.wav'):
        LoadAudio(sample_rate=sr)(_results(['ddavsmem://b.wav']))


def test_mask_pixel_formats(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    grey = rgb[..., 0]
    cases = [
        ('L', Image.fromarray(grey), grey),
        ('1', Image.fromarray(grey > 100), (grey > 100).astype(np.uint8)),
        ('I;16', Image.fromarray(grey.astype(np.uint16)), grey),
        ('RGB', Image.fromarray(rgb), rgb),
        ('RGBA', Image.fromarray(np.dstack([rgb, grey])), rgb),
        ('LA', Image.fromarray(np.dstack([grey, grey // 2]), 'LA'),
         np.repeat(grey[..., None], 3, axis=2)),
    ]
    pal = Image.fromarray(grey % 5, 'P')
    pal.putpalette(np.asarray(voc_palette(256), np.uint8).ravel().tolist())
    cases.append(('P', pal, grey % 5))  # indices, not colours
    for mode, img, expect in cases:
        p = str(tmp_path / f'{mode.replace(";", "_")}.png')
        img.save(p)
        assert Image.open(p).mode == mode
        got = read_mask_array(p)
        assert got.dtype == np.uint8, mode
        np.testing.assert_array_equal(got, expect, err_msg=mode)
    wide = str(tmp_path / 'wide.png')
    Image.fromarray(np.full((3, 3), 300, np.uint16)).save(wide)
    with pytest.raises(ValueError, match='wide.png.*outside 0..255'):
        read_mask_array(wide)


# -- clip transforms ----------------------------------------------------------
def _same_clip(T=4, h=32, w=48):
    """Identical frames whose red channel marks the mask (for alignment)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 1] = np.arange(w, dtype=np.uint8)[None] * 3
    img[..., 2] = np.arange(h, dtype=np.uint8)[:, None] * 5
    mask = np.zeros((h, w), np.uint8)
    mask[3:13, 5:25] = 1
    img[..., 0] = mask * 200
    return dict(
        clip_id='s',
        frames=[img.copy() for _ in range(T)],
        gt_masks=[mask.copy() for _ in range(T)],
        frame_flags=[True] * T,
        img_shape=(h, w))


@pytest.mark.parametrize('tf', [
    ClipRandomFlip(prob=1.0),
    ClipRandomFlip(prob=1.0, direction='vertical'),
    ClipRandomCrop(crop_size=(20, 30)),
    ClipCenterCrop(crop_size=(24, 24)),
])
def test_geometric_consistency_exact(tf):
    np.random.seed(0)
    for _ in range(3):
        r = tf(_same_clip())
        for f, m in zip(r['frames'], r['gt_masks']):
            np.testing.assert_array_equal(f, r['frames'][0])
            np.testing.assert_array_equal(m, r['gt_masks'][0])
            # crop/flip keep mask and frame pixels aligned exactly
            np.testing.assert_array_equal(m * 200, f[..., 0])
        assert r['img_shape'] == r['frames'][0].shape[:2]


def test_random_resized_crop_and_resize_consistent():
    np.random.seed(1)
    for tf, shape in ((ClipRandomResizedCrop(scale=(24, 16)), (16, 24)),
                      (ClipResize(scale=(40, 20)), (20, 40)),
                      (ClipResize(scale=(224, 224), keep_ratio=True),
                       (149, 224))):
        r = tf(_same_clip())
        assert r['img_shape'] == shape
        for f, m in zip(r['frames'], r['gt_masks']):
            assert f.shape == shape + (3, ) and m.shape == shape
            np.testing.assert_array_equal(f, r['frames'][0])
            np.testing.assert_array_equal(m, r['gt_masks'][0])
            assert set(np.unique(m).tolist()) <= {0, 1}  # nearest
    # different frames: each gets the same crop box
    clip = _same_clip()
    clip['frames'] = [f + np.uint8(10 * t)
                      for t, f in enumerate(clip['frames'])]
    np.random.seed(3)
    r = ClipRandomResizedCrop(scale=(24, 24))(clip)
    for t in range(1, 4):
        d = r['frames'][t].astype(int) - r['frames'][0].astype(int)
        assert np.abs(d - 10 * t).max() <= 1


def test_short_side_resize_center_crop_hand_case():
    r = _same_clip(T=2, h=32, w=48)
    r = ClipShortSideResize(16)(r)
    assert r['img_shape'] == (16, 24)
    r = ClipCenterCrop(16)(r)
    assert r['img_shape'] == (16, 16)
    # origin x = round((24 - 16) / 2) = 4: column 0 of the crop is column 4
    # of the resized frame, whose green value ~ 3 * (4 + .5) * 2 - 1.5
    g = r['frames'][0][0, 0, 1]
    assert abs(int(g) - 3 * (2 * 4 + 0.5)) <= 2
    with pytest.raises(ValueError, match='larger'):
        ClipCenterCrop(64)(r)


def test_photometric_same_for_all_frames_keeps_padding_black():
    np.random.seed(5)
    clip = _same_clip(T=3)
    clip['frames'][2] = np.zeros_like(clip['frames'][2])
    clip['frame_flags'] = [True, True, False]
    changed = False
    for _ in range(5):
        r = ClipPhotoMetricDistortion()(
            {k: (list(v) if isinstance(v, list) else v)
             for k, v in clip.items()})
        np.testing.assert_array_equal(r['frames'][0], r['frames'][1])
        assert (r['frames'][2] == 0).all()
        changed |= not np.array_equal(r['frames'][0], clip['frames'][0])
    assert changed


def _varied_clip(seed, T=5, h=40, w=50):
    rng = np.random.default_rng(seed)
    return dict(
        clip_id=f'v{seed}',
        frames=[rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                for _ in range(T)],
        gt_masks=[rng.integers(0, 2, (h, w), dtype=np.uint8)
                  for _ in range(T)],
        frame_flags=[True] * T,
        mask_flags=[True, False, True, False, True],
        frame_paths=[f'f{t}.png' for t in range(T)])


def test_random_draws_follow_the_global_rng_in_order():
    # each transform's draws, re-derived by hand from the same seed
    augment = WaveformAugment(pitch_backend='pedalboard')
    for seed in range(6):
        np.random.seed(seed)
        r = ClipRandomCrop((17, 23))(_varied_clip(0))
        np.random.seed(seed)
        y, x = np.random.randint(0, 40 - 17 + 1), np.random.randint(
            0, 50 - 23 + 1)
        np.testing.assert_array_equal(
            r['frames'][0], _varied_clip(0)['frames'][0][y:y + 17,
                                                         x:x + 23])
        np.random.seed(seed)
        r = ClipRandomFlip(0.5)(_varied_clip(0))
        np.random.seed(seed)
        assert r['flip'] == bool(np.random.rand() < 0.5)
        np.random.seed(seed)
        r = ClipSampleFrames(2)(_varied_clip(0))
        np.random.seed(seed)
        assert r['frame_indices'] == sorted(
            np.random.choice([0, 2, 4], 2, replace=False).tolist())
        np.random.seed(seed)
        params = augment._draw()
        np.random.seed(seed)
        expect = {}
        if np.random.rand() < 0.5:
            expect['room_size'] = np.random.uniform(0.2, 0.4)
        if np.random.rand() < 0.5:
            expect['pitch_cents'] = np.random.uniform(-150., 150.)
        if np.random.rand() < 0.5:
            expect['compressor'] = True
        if np.random.rand() < 0.5:
            expect['snr_db'] = np.random.uniform(10., 20.)
        assert params == expect


@pytest.mark.parametrize('tf,method', [
    (ClipRandomCrop((17, 23)), '_origin'),
    (ClipRandomResizedCrop((24, 20), (0.2, 1.0)), '_box'),
    (ClipRandomFlip(0.5), '_flip'),
    (ClipPhotoMetricDistortion(), '_params'),
    (ClipSampleFrames(2), '_choose'),
])
def test_clip_transforms_reuse_draws_under_cache_random_params(tf, method):
    assert method in type(tf)._methods_with_randomness
    clip_a, clip_b = _varied_clip(1), _varied_clip(2)
    # one draw for two clips: the second clip gets the first one's crop,
    # flip, colour change or frames, i.e. the output of a fresh transform
    # run on it after re-seeding
    np.random.seed(7)
    with cache_random_params(tf):
        tf(copy.deepcopy(clip_a))
        cached = tf(copy.deepcopy(clip_b))
    np.random.seed(7)
    fresh = tf(copy.deepcopy(clip_b))
    for key in ('frames', 'gt_masks', 'frame_indices', 'flip', 'crop_bbox'):
        if key in fresh:
            np.testing.assert_array_equal(np.asarray(cached[key]),
                                          np.asarray(fresh[key]), key)
    # outside the context every call draws anew
    outs = []
    for _ in range(6):
        out = tf(copy.deepcopy(clip_a))
        outs.append(np.stack(out['frames']).tobytes() +
                    str(out.get('frame_indices')).encode())
    assert len(set(outs)) > 1


def test_waveform_augment_reuses_draws_under_cache_random_params():
    tf = WaveformAugment(pitch_backend='pedalboard')
    assert set(type(tf)._methods_with_randomness) == {'_draw', '_noise'}
    w = (0.3 * np.sin(np.arange(8000) * 0.05)).astype(np.float32)
    seed = next(s for s in range(50)
                if np.random.seed(s) or 'snr_db' in tf._draw())
    np.random.seed(seed)
    with cache_random_params(tf):
        a = tf(dict(waveform=w, sample_rate=16000))
        b = tf(dict(waveform=w, sample_rate=16000))
    assert 'snr_db' in a['waveform_aug_params']
    assert a['waveform_aug_params'] == b['waveform_aug_params']
    np.testing.assert_array_equal(a['waveform_aug'], b['waveform_aug'])
    np.random.seed(seed)
    c = tf(dict(waveform=w, sample_rate=16000))
    d = tf(dict(waveform=w, sample_rate=16000))
    np.testing.assert_array_equal(a['waveform_aug'], c['waveform_aug'])
    assert not np.array_equal(c['waveform_aug'], d['waveform_aug'])


# -- audio --------------------------------------------------------------------
def _results(paths, T=2, **kw):
    d = dict(clip_id='a', audio_paths=paths, num_frames=T)
    d.update(kw)
    return d


def test_load_audio_resample_mono_length(tmp_path):
    p = str(tmp_path / 'st.wav')
    st = np.stack([tone(440, 1.5, 16000), 0.5 * tone(440, 1.5, 16000)], 1)
    write_wav(p, st, 16000)
    r = LoadAudio(sample_rate=32000)(_results([p], T=2))
    w = r['waveform']
    assert w.dtype == np.float32 and w.shape == (64000, )
    assert r['sample_rate'] == 32000 and r['audio_segment_samples'] == 32000
    # 1.5 s of sound, then zero padding to 2 s
    assert (w[48000 + 50:] == 0).all() and np.abs(w[:48000]).max() > 0.1
    # mono = mean of channels: amplitude 0.75 * 0.3
    assert abs(np.abs(w[1000:47000]).max() - 0.225) < 0.01
    # trimming
    r = LoadAudio(sample_rate=16000, segment_seconds=0.5)(_results([p], T=2))
    assert r['waveform'].shape == (16000, )
    np.testing.assert_allclose(r['waveform'], st[:16000].mean(1), atol=1e-6)


def test_load_audio_offset_duration_and_sum(tmp_path):
    sr = 8000
    a = np.arange(5 * sr, dtype=np.float32) / (5 * sr)
    b = np.linspace(0.2, -0.2, 3 * sr).astype(np.float32)
    pa, pb = str(tmp_path / 'a.wav'), str(tmp_path / 'b.wav')
    write_wav(pa, a, sr)
    write_wav(pb, b, sr)
    r = LoadAudio(sample_rate=sr, segment_seconds=2.0)(
        _results([pa, pb], T=1, audio_offset=0.5, audio_duration=2.0))
    expect = a[4000:20000] + b[4000:20000]
    np.testing.assert_allclose(r['waveform'], expect, atol=1e-6)
    # centre crop
    r = LoadAudio(sample_rate=sr, segment_seconds=1.0)(
        _results([pa], T=1, audio_duration=1.0, audio_crop='center'))
    np.testing.assert_allclose(r['waveform'], a[16000:24000], atol=1e-6)


def test_load_audio_errors_name_file(tmp_path):
    sr = 8000
    missing = str(tmp_path / 'missing.wav')
    with pytest.raises(FileNotFoundError, match='missing.wav'):
        LoadAudio(sample_rate=sr)(_results([missing]))
    corrupt = str(tmp_path / 'corrupt.wav')
    with open(corrupt, 'wb') as f:
        f.write(b'RIFF....WAVEgarbage')
    with pytest.raises(ValueError, match='corrupt.wav'):
        LoadAudio(sample_rate=sr)(_results([corrupt]))
    silent = str(tmp_path / 'silent.wav')
    write_wav(silent, np.zeros(2 * sr, np.float32), sr)
    with pytest.raises(ValueError, match='silent.wav.*silent'):
        LoadAudio(sample_rate=sr)(_results([silent]))
    r = LoadAudio(sample_rate=sr, allow_silent=True)(_results([silent]))
    assert (r['waveform'] == 0).all()
    nan = str(tmp_path / 'nan.wav')
    x = tone(300, 2, sr)
    x[100] = np.nan
    sf.write(nan, x, sr, subtype='FLOAT')
    with pytest.raises(ValueError, match='nan.wav.*NaN'):
        LoadAudio(sample_rate=sr)(_results([nan]))
    inf = str(tmp_path / 'inf.wav')
    x[100] = np.inf
    sf.write(inf, x, sr, subtype='FLOAT')
    with pytest.raises(ValueError, match='inf.wav'):
        LoadAudio(sample_rate=sr)(_results([inf]))


# -- waveform augmentation ----------------------------------------------------
def _speechlike(sr=16000, seconds=2.0):
    rng = np.random.default_rng(0)
    x = tone(220, seconds, sr) + tone(660, seconds, sr, amp=0.1)
    x *= (np.sin(np.linspace(0, 12, len(x))) > 0)  # bursts
    return (x + 0.01 * rng.standard_normal(len(x))).astype(np.float32)


def test_waveform_augment_changes_not_length():
    wav = _speechlike()
    r = dict(waveform=wav.copy(), sample_rate=16000)
    np.random.seed(0)
    out = WaveformAugment(reverb_prob=1, pitch_prob=1, compressor_prob=1,
                          noise_prob=1)(r)
    aug = out['waveform_aug']
    assert aug.shape == wav.shape and aug.dtype == np.float32
    assert np.isfinite(aug).all()
    assert np.abs(aug - wav).mean() > 1e-3
    np.testing.assert_array_equal(out['waveform'], wav)  # clean untouched
    p = out['waveform_aug_params']
    assert 0.2 <= p['room_size'] <= 0.4
    assert -150 <= p['pitch_cents'] <= 150
    assert 10 <= p['snr_db'] <= 20 and p['compressor']
    # each effect alone changes the waveform and keeps its length
    for kw in (dict(reverb_prob=1), dict(pitch_prob=1),
               dict(compressor_prob=1), dict(noise_prob=1)):
        base = dict(reverb_prob=0, pitch_prob=0, compressor_prob=0,
                    noise_prob=0)
        base.update(kw)
        a = WaveformAugment(**base)(dict(waveform=wav.copy(),
                                         sample_rate=16000))['waveform_aug']
        assert a.shape == wav.shape and not np.allclose(a, wav), kw


def test_waveform_augment_identity_snr_and_reproducible():
    wav = _speechlike()
    off = WaveformAugment(reverb_prob=0, pitch_prob=0, compressor_prob=0,
                          noise_prob=0)
    np.testing.assert_array_equal(
        off(dict(waveform=wav, sample_rate=16000))['waveform_aug'], wav)
    noise_only = WaveformAugment(reverb_prob=0, pitch_prob=0,
                                 compressor_prob=0, noise_prob=1,
                                 snr_db_range=(15., 15.))
    a = noise_only(dict(waveform=wav, sample_rate=16000))['waveform_aug']
    snr = 10 * np.log10(np.mean(wav**2) / np.mean((a - wav)**2))
    assert abs(snr - 15) < 0.3
    tf = WaveformAugment()
    np.random.seed(42)
    a1 = tf(dict(waveform=wav, sample_rate=16000))['waveform_aug']
    np.random.seed(42)
    a2 = tf(dict(waveform=wav, sample_rate=16000))['waveform_aug']
    np.testing.assert_array_equal(a1, a2)
    with pytest.raises(ValueError):
        WaveformAugment(room_size_range=(0.5, 0.2))


# -- packing ------------------------------------------------------------------
def test_pack_shapes(tmp_path):
    r = _clip(tmp_path, T=3)
    wav_path = str(tmp_path / 'w.wav')
    write_wav(wav_path, tone(300, 3, 8000), 8000)
    r.update(audio_paths=[wav_path], sample_idx=7)
    for t in (LoadClipFrames(), LoadClipMasks(), ClipResize((16, 16)),
              LoadAudio(sample_rate=8000), WaveformAugment(noise_prob=1)):
        r = t(r)
    out = PackAVSInputs()(r)
    x, s = out['inputs'], out['data_samples']
    assert x['frames'].shape == (3, 3, 16, 16)
    assert x['frames'].dtype == torch.uint8
    assert x['audio'].shape == (3, 8000) and x['audio'].dtype == torch.float32
    assert x['audio_aug'].shape == (3, 8000)
    assert torch.equal(x['audio'].flatten(), torch.from_numpy(r['waveform']))
    assert isinstance(s, AVSDataSample)
    assert s.gt_masks.shape == (3, 16, 16) and s.gt_masks.dtype == torch.int64
    assert s.mask_flags.dtype == torch.bool and s.frame_flags.shape == (3, )
    for k in ('sample_idx', 'clip_id', 'frame_paths', 'audio_paths',
              'ori_shape', 'img_shape', 'num_frames', 'mask_mode', 'flip'):
        assert k in s.metainfo, k
    assert s.ori_shape == (32, 32) and s.img_shape == (16, 16)
    assert s.flip is False and s.sample_idx == 7
    # no augmentation -> no audio_aug
    r.pop('waveform_aug')
    assert 'audio_aug' not in PackAVSInputs()(r)['inputs']


# ------------------------------------------------------- ClipSampleFrames
def _stepped_wav(tmp_path, T, sr=8000):
    """Second t of the file is the constant 0.1 * (t + 1)."""
    wav = np.concatenate([np.full(sr, 0.1 * (t + 1), np.float32)
                          for t in range(T)])
    p = str(tmp_path / 'steps.wav')
    write_wav(p, wav, sr)
    return p


def _seconds(wav, sr=8000):
    return [round(float(x), 3) for x in wav.reshape(-1, sr).mean(1)]


@pytest.mark.parametrize('position', ['first', 'after_loading'])
def test_clip_sample_frames_cuts_every_frame_key(tmp_path, position):
    T, sr = 4, 8000
    results = _clip(tmp_path, T=T, size=16)
    results['audio_paths'] = [_stepped_wav(tmp_path, T, sr)]
    results['mask_flags'] = [True, False, True, True]
    load = [LoadClipFrames(), LoadClipMasks(), LoadAudio(sample_rate=sr)]
    sample = ClipSampleFrames(num_frames=2)
    steps = [sample] + load if position == 'first' else load + [sample]
    np.random.seed(3)
    for t in steps:
        results = t(results)
    keep = results['frame_indices']
    assert len(keep) == 2 and keep == sorted(keep) and 1 not in keep
    assert results['num_frames'] == 2 and results['clip_num_frames'] == T
    assert results['frame_paths'] == [str(tmp_path / f'f{t}.png')
                                      for t in keep]
    assert results['mask_flags'] == [True, True]
    for t, frame_t, mask_t in zip(keep, results['frames'],
                                  results['gt_masks']):
        np.testing.assert_array_equal(frame_t, frame(t, 16))
        assert mask_t.sum() == (square_mask(t + 1, 16) > 0).sum()
    # the waveform holds the kept frames' own seconds
    assert _seconds(results["waveform"], sr) == \
        [round(0.1 * (t + 1), 3) for t in keep]
    packed = PackAVSInputs()(results)
    assert packed['inputs']['frames'].shape == (2, 3, 16, 16)
    assert packed['inputs']['audio'].shape == (2, sr)
    assert packed['data_samples'].metainfo['frame_indices'] == keep


def test_clip_sample_frames_fills_up_with_unannotated_frames(tmp_path):
    results = _clip(tmp_path, T=5, size=16)
    results['mask_flags'] = [True] + [False] * 4  # AVSBench S4 train clips
    for seed in range(5):
        np.random.seed(seed)
        out = ClipSampleFrames(num_frames=3)(dict(results))
        assert out['frame_indices'][0] == 0
        assert out['mask_flags'] == [True, False, False]


def test_clip_sample_frames_errors(tmp_path):
    results = _clip(tmp_path, T=2, size=16)
    with pytest.raises(ValueError, match='Clip c has 2 frames'):
        ClipSampleFrames(num_frames=3)(dict(results))
    with pytest.raises(ValueError, match='num_frames'):
        ClipSampleFrames(num_frames=0)
    bad = dict(results, mask_flags=[True])
    with pytest.raises(ValueError, match='mask_flags has 1 entries'):
        ClipSampleFrames(num_frames=1)(bad)
    once = ClipSampleFrames(num_frames=1)(dict(results))
    with pytest.raises(ValueError, match='sampled already'):
        ClipSampleFrames(num_frames=1)(once)
    loaded = LoadClipFrames()(dict(results))
    loaded.update(waveform=np.zeros(100, np.float32),
                  audio_segment_samples=30)
    with pytest.raises(ValueError, match='does not split'):
        ClipSampleFrames(num_frames=1)(loaded)


def test_load_audio_checks_frame_indices(tmp_path):
    results = _clip(tmp_path, T=3, size=16)
    results['audio_paths'] = [_stepped_wav(tmp_path, 3)]
    results.update(frame_indices=[0, 3], clip_num_frames=3, num_frames=2)
    with pytest.raises(ValueError, match='frame_indices'):
        LoadAudio(sample_rate=8000)(results)


@pytest.mark.parametrize('backend', ['librosa', 'pedalboard'])
def test_waveform_augment_pitch_shift_moves_a_tone(backend):
    sr = 16000
    wav = tone(440, 2, sr, amp=0.5)
    aug = WaveformAugment(reverb_prob=0, pitch_prob=1, compressor_prob=0,
                          noise_prob=0, pitch_cents_range=(100., 100.),
                          pitch_backend=backend)
    out = aug(dict(waveform=wav, sample_rate=sr))['waveform_aug']
    assert out.shape == wav.shape and out.dtype == np.float32
    mid = out[4000:-4000] * np.hanning(len(wav) - 8000)
    peak = np.fft.rfftfreq(len(mid), 1 / sr)[np.abs(np.fft.rfft(mid)).argmax()]
    # one semitone up: 440 * 2 ** (1 / 12) = 466.2 Hz (0.5 Hz bins)
    assert abs(peak - 466.16) < 1.5, (backend, peak)
    with pytest.raises(ValueError, match='pitch_backend'):
        WaveformAugment(pitch_backend='sox')
