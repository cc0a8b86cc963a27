"""Tests of ddavs_mm.apis (inference, video I/O), demo/video_demo.py and
tools/analysis/benchmark.py."""
import copy
import csv
import importlib.util
import json
import os.path as osp

import av
import numpy as np
import pytest
import torch
from mmengine.config import Config

import ddavs_mm  # noqa: F401
from ddavs_mm.apis import (build_test_pipeline, centered_audio_segments,
                           clip_timestamps, get_audio_settings, get_num_frames,
                           get_test_resize, inference_clip, init_model,
                           probe_video, read_audio, read_video,
                           write_overlay_video)
from ddavs_mm.datasets.transforms import (LoadAudioFromNDArray,
                                          LoadClipFramesFromNDArray,
                                          PackAVSInputs)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CFG = osp.join(ROOT, 'tests', 'data',
                    'ddavs_tiny_synthetic_ms3_nobank.py')


def _load_script(rel_path: str, name: str):
    spec = importlib.util.spec_from_file_location(name,
                                                  osp.join(ROOT, rel_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_video(path, seconds=3, fps=10, size=64, audio_rate=44100,
               channels=2, with_audio=True, tone=440.0):
    """A moving-square video with a sine tone, written with PyAV."""
    container = av.open(str(path), 'w')
    vs = container.add_stream('libx264' if _has_encoder('libx264')
                              else 'mpeg4', rate=fps)
    vs.width = vs.height = size
    vs.pix_fmt = 'yuv420p'
    if with_audio:
        ast = container.add_stream('aac', rate=audio_rate)
        ast.layout = 'stereo' if channels == 2 else 'mono'
    n = seconds * fps
    for i in range(n):
        img = np.full((size, size, 3), 40, np.uint8)
        x = int(i * (size // 2) / n)
        img[size // 4:size // 2, x:x + size // 4] = 255
        frame = av.VideoFrame.from_ndarray(img, format='rgb24')
        frame.pts = i
        for packet in vs.encode(frame):
            container.mux(packet)
    for packet in vs.encode(None):
        container.mux(packet)
    if with_audio:
        t = np.arange(seconds * audio_rate) / audio_rate
        wave = (0.5 * np.sin(2 * np.pi * tone * t)).astype(np.float32)
        wave = np.stack([wave] * channels)
        fs = ast.codec_context.frame_size or 1024
        for s in range(0, wave.shape[1], fs):
            af = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(wave[:, s:s + fs]), format='fltp',
                layout=ast.layout.name)
            af.sample_rate = audio_rate
            af.pts = s
            for packet in ast.encode(af):
                container.mux(packet)
        for packet in ast.encode(None):
            container.mux(packet)
    container.close()
    return str(path)


def _has_encoder(name):
    try:
        av.codec.Codec(name, 'w')
        return True
    except Exception:
        return False


# --------------------------------------------------------------------------
# audio centring (pure)
# --------------------------------------------------------------------------
def test_centered_segments_hand_computed():
    wave = np.arange(10, dtype=np.float32)
    # sr 2 Hz, 2-s segments -> S = 4 samples, start = round(2 t) - 2.
    seg = centered_audio_segments(wave, 2, [0.0, 2.5, 4.5], 2.0)
    np.testing.assert_array_equal(
        seg, [[0, 0, 0, 1],      # t=0: samples -2..1, left edge zero-padded
              [3, 4, 5, 6],      # t=2.5: centre 5
              [7, 8, 9, 0]])     # t=4.5: samples 7..10, right edge padded
    assert seg.dtype == np.float32


def test_centered_segments_odd_length_and_outside():
    wave = np.arange(1, 6, dtype=np.float32)  # [1..5]
    seg = centered_audio_segments(wave, 1, [0.0, 2.0, 10.0], 3.0)
    np.testing.assert_array_equal(seg, [[0, 1, 2], [2, 3, 4], [0, 0, 0]])


def test_centered_segments_match_avsbench_split():
    """Frames at k + 0.5 s with 1-s segments = the per-second split."""
    sr = 100
    wave = np.random.RandomState(0).randn(5 * sr).astype(np.float32)
    seg = centered_audio_segments(wave, sr, clip_timestamps(5, 5.0), 1.0)
    np.testing.assert_array_equal(seg, wave.reshape(5, sr))


def test_centered_segments_bad_input():
    with pytest.raises(ValueError, match='1-D'):
        centered_audio_segments(np.zeros((2, 10)), 10, [0.5], 1.0)
    with pytest.raises(ValueError, match='positive'):
        centered_audio_segments(np.zeros(10), 0, [0.5], 1.0)


def test_clip_timestamps():
    np.testing.assert_allclose(clip_timestamps(5, 5.0),
                               [0.5, 1.5, 2.5, 3.5, 4.5])
    np.testing.assert_allclose(clip_timestamps(2, 3.0), [0.75, 2.25])


def test_config_lookups_read_the_test_pipeline():
    cfg = Config(dict(test_pipeline=[
        dict(type='LoadClipFrames'),
        dict(type='LoadAudio', sample_rate=16000, segment_seconds=0.5),
        dict(type='ClipResize', scale=(320, 240), keep_ratio=True),
        dict(type='LoadClipMasks'),
        dict(type='PackAVSInputs')
    ], test_dataloader=dict(dataset=dict(type='AVSBenchSemanticDataset'))))
    assert get_test_resize(cfg) == ((240, 320), True)  # scale is (w, h)
    assert get_audio_settings(cfg) == (16000, 0.5)
    assert get_num_frames(cfg) == 10  # the data set class's clip length
    cfg.test_dataloader.dataset.num_frames = 7
    assert get_num_frames(cfg) == 7
    # in-memory loaders swapped in with the same arguments, masks dropped
    steps = build_test_pipeline(cfg).transforms
    assert [type(t) for t in steps[:2]] == [LoadClipFramesFromNDArray,
                                             LoadAudioFromNDArray]
    assert steps[1].sample_rate == 16000 and steps[1].segment_seconds == 0.5
    assert len(steps) == 4 and isinstance(steps[-1], PackAVSInputs)
    # LoadAudio without arguments -> the transform's own defaults
    cfg.test_pipeline[1] = dict(type='LoadAudio')
    assert get_audio_settings(cfg) == (32000, 1.0)


def test_config_without_what_inference_needs_is_an_error():
    frames = dict(type='LoadClipFrames')
    audio = dict(type='LoadAudio', sample_rate=16000)
    with pytest.raises(ValueError, match='no test_pipeline'):
        build_test_pipeline(Config(dict()))
    with pytest.raises(ValueError, match='no LoadAudio'):
        get_audio_settings(Config(dict(test_pipeline=[frames])))
    with pytest.raises(ValueError, match='no LoadClipFrames'):
        build_test_pipeline(Config(dict(test_pipeline=[audio])))
    with pytest.raises(ValueError, match='no ClipResize'):
        get_test_resize(Config(dict(test_pipeline=[frames, audio])))
    with pytest.raises(KeyError, match='NoSuchTransform'):
        build_test_pipeline(
            Config(dict(test_pipeline=[dict(type='NoSuchTransform')])))
    with pytest.raises(ValueError, match='num_frames'):
        get_num_frames(Config(dict(test_dataloader=dict(dataset=dict()))))


# --------------------------------------------------------------------------
# video I/O
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp('vid') / 'clip.mp4')


def test_read_video_and_audio(video):
    frames, times = read_video(video, fps=1)
    assert frames.shape == (3, 64, 64, 3) and frames.dtype == np.uint8
    np.testing.assert_allclose(times, [0.5, 1.5, 2.5])
    frames, times = read_video(video, fps=None)
    assert len(frames) == 30
    np.testing.assert_allclose(times[:3], [0.0, 0.1, 0.2], atol=1e-6)

    wave = read_audio(video, 16000)  # 44.1 kHz stereo -> 16 kHz mono
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) / 16000 - 3.0) < 0.1
    # A 0.5-amplitude 440 Hz tone, aligned to t = 0 (AAC priming dropped).
    t = np.arange(len(wave)) / 16000
    ref = np.sin(2 * np.pi * 440 * t)
    mid = slice(1600, 40000)
    corr = np.dot(wave[mid], ref[mid]) / np.linalg.norm(
        wave[mid]) / np.linalg.norm(ref[mid])
    assert corr > 0.99
    assert 0.45 < np.abs(wave[mid]).max() < 0.55
    stereo = read_audio(video, None, mono=False)
    assert stereo.shape[0] == 2
    assert abs(stereo.shape[1] / 44100 - 3.0) < 0.1


def test_write_overlay_video_round_trip(tmp_path):
    frames = np.zeros((4, 33, 47, 3), np.uint8)  # odd sides get padded
    masks = np.zeros((4, 33, 47), np.int64)
    masks[:, 5:20, 5:20] = 1
    audio = np.zeros((2, 16000), np.float32)
    out = write_overlay_video(str(tmp_path / 'o.mp4'), frames, masks, 2,
                              audio=audio, audio_rate=16000)
    info = probe_video(out)
    assert info['has_audio'] and info['num_frames'] == 4
    back, _ = read_video(out, None)
    assert back.shape == (4, 34, 48, 3)
    assert back[0, 10, 10, 0] > 60  # red overlay in the mask region
    with pytest.raises(ValueError, match='masks'):
        write_overlay_video(str(tmp_path / 'x.mp4'), frames, masks[:2], 2)


def test_io_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.mp4'):
        read_video(str(tmp_path / 'nope.mp4'))
    bad = tmp_path / 'corrupt.mp4'
    bad.write_bytes(b'not a video at all' * 10)
    with pytest.raises(ValueError, match='corrupt.mp4'):
        read_audio(str(bad))
    silent = make_video(tmp_path / 'silent.mp4', seconds=1,
                        with_audio=False)
    with pytest.raises(ValueError, match='no audio track'):
        read_audio(silent)
    assert read_audio(silent, 16000, allow_silent=True).shape == (16000, )


# --------------------------------------------------------------------------
# model inference (tiny config, random weights)
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def tiny_model():
    torch.manual_seed(0)
    return init_model(TINY_CFG, device='cpu')


@pytest.fixture(scope='module')
def tiny_ckpt(tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    torch.save(dict(state_dict=tiny_model.state_dict(),
                    meta=dict(epoch=1)), path)
    return str(path)


def test_inference_clip_masks_at_input_size(tiny_model):
    rng = np.random.RandomState(0)
    frames = rng.randint(0, 256, (3, 50, 70, 3), dtype=np.uint8)
    wave = (0.1 * rng.randn(3 * 22050)).astype(np.float32)
    out = inference_clip(tiny_model, frames, wave, 22050)
    assert out['pred_masks'].shape == (3, 50, 70)
    assert out['pred_logits'].shape[0] == 3
    assert out['pred_logits'].shape[2:] == (50, 70)
    assert out['probs'].shape == out['pred_logits'].shape
    assert np.all((out['probs'] >= 0) & (out['probs'] <= 1))
    rate, seg = get_audio_settings(tiny_model.cfg, tiny_model)
    assert out['audio'].shape == (3, int(round(rate * seg)))
    if out['pred_logits'].shape[1] == 1:  # binary: mask = prob > 0.5
        np.testing.assert_array_equal(out['pred_masks'],
                                      out['probs'][:, 0] > 0.5)
    # Same call twice gives the same answer (eval mode, no dropout).
    again = inference_clip(tiny_model, frames, wave, 22050)
    np.testing.assert_array_equal(again['pred_logits'], out['pred_logits'])


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    from ddavs_mm.datasets.synthetic import generate_synthetic_avs
    root = str(tmp_path_factory.mktemp('synthetic') / 'ms3')
    generate_synthetic_avs(root, 'ms3', seed=0, num_train=1, num_val=1,
                           num_test=1, size=64, sample_rate=16000)
    return root


def test_inference_clip_equals_the_data_set_path(tiny_model, synthetic_root):
    """Frames and audio in memory give the inputs and predictions of the
    config's test pipeline reading the same clip from its files."""
    from mmengine.dataset import pseudo_collate

    from ddavs_mm.datasets.transforms.audio import read_wav_mono
    from ddavs_mm.datasets.transforms.loading import read_rgb_image
    from ddavs_mm.registry import DATASETS
    ds_cfg = tiny_model.cfg.test_dataloader.dataset.copy()
    ds_cfg.update(data_root=synthetic_root, split='test')
    dataset = DATASETS.build(ds_cfg)
    info, data = dataset.get_data_info(0), dataset[0]
    frames = np.stack([read_rgb_image(p) for p in info['frame_paths']])
    wave, rate = read_wav_mono(info['audio_paths'][0])
    t = len(frames)
    out = inference_clip(tiny_model, frames, wave, rate,
                         timestamps=clip_timestamps(t, float(t)))
    np.testing.assert_array_equal(out['audio'],
                                  data['inputs']['audio'].numpy())
    with torch.no_grad():
        ref = tiny_model.test_step(pseudo_collate([data]))[0]
    # the pipeline resizes 64 -> 128; predictions come back at 64
    assert data['inputs']['frames'].shape[-2:] == (128, 128)
    assert out['pred_masks'].shape == ref.gt_masks.shape == (t, 64, 64)
    np.testing.assert_allclose(out['pred_logits'], ref.pred_logits.numpy(),
                               rtol=0, atol=1e-5)
    np.testing.assert_array_equal(out['pred_masks'], ref.pred_masks.numpy())


def test_inference_clip_threshold_and_audio_rate(tiny_model):
    rng = np.random.RandomState(1)
    frames = rng.randint(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    wave = (0.1 * rng.randn(32000)).astype(np.float32)
    out = inference_clip(tiny_model, frames, wave, 16000, threshold=0.52)
    np.testing.assert_array_equal(out['pred_masks'],
                                  out['probs'][:, 0] > 0.52)
    good = tiny_model.cfg
    bad = copy.deepcopy(good)
    for step in bad.test_pipeline:
        if step['type'] == 'LoadAudio':
            step['sample_rate'] = 32000
    tiny_model.cfg = bad
    try:
        with pytest.raises(ValueError, match='32000 Hz.*expects 16000'):
            inference_clip(tiny_model, frames, wave, 16000)
    finally:
        tiny_model.cfg = good


def test_inference_clip_bad_input(tiny_model):
    frames = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(TypeError, match='uint8'):
        inference_clip(tiny_model, frames.astype(np.float32),
                       np.zeros(16000, np.float32), 16000)
    with pytest.raises(ValueError, match='timestamps'):
        inference_clip(tiny_model, frames, np.zeros(16000, np.float32),
                       16000, timestamps=[0.5])
    with pytest.raises(ValueError, match='NaN'):
        inference_clip(tiny_model, frames,
                       np.full(16000, np.nan, np.float32), 16000)


def test_init_model_checkpoint(tiny_model, tiny_ckpt, tmp_path):
    model = init_model(TINY_CFG, tiny_ckpt)
    assert not model.training and model.cfg is not None
    for (k, a), b in zip(tiny_model.state_dict().items(),
                         model.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        init_model(TINY_CFG, str(tmp_path / 'missing.pth'))


# --------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------
def test_video_demo(tiny_ckpt, video, tmp_path):
    demo = _load_script('demo/video_demo.py', 'video_demo')
    out_dir = tmp_path / 'out'
    summary = demo.main([
        video, TINY_CFG, tiny_ckpt, '--out-dir',
        str(out_dir), '--fps', '2', '--no-progress'
    ])
    assert summary['num_frames'] == 6
    pngs = sorted((out_dir / 'masks').glob('*.png'))
    assert len(pngs) == 6
    from PIL import Image
    assert Image.open(pngs[0]).size == (64, 64)
    info = probe_video(str(out_dir / 'overlay.mp4'))
    assert info['num_frames'] == 6 and info['has_audio']
    assert (info['width'], info['height']) == (64, 64)
    with open(out_dir / 'frames.csv') as f:
        rows = list(csv.DictReader(f))
    np.testing.assert_allclose([float(r['timestamp']) for r in rows],
                               [0.25, 0.75, 1.25, 1.75, 2.25, 2.75])


def test_video_demo_cfg_options_parse_to_a_dict():
    demo = _load_script('demo/video_demo.py', 'video_demo')
    args = demo.parse_args(['v.mp4', 'c.py', 'none', '--out-dir', 'o',
                            '--cfg-options', 'model.num_classes=1',
                            'test_pipeline.2.scale=[32,32]'])
    assert args.cfg_options == {'model.num_classes': 1,
                                'test_pipeline.2.scale': [32, 32]}


def test_video_demo_fast_path_same_masks(tiny_ckpt, video, tmp_path):
    demo = _load_script('demo/video_demo.py', 'video_demo')
    from PIL import Image
    masks = {}
    for name, extra in (('eager', []), ('fast', ['--fast'])):
        out_dir = tmp_path / name
        demo.main([video, TINY_CFG, tiny_ckpt, '--out-dir', str(out_dir),
                   '--fps', '2', '--no-progress', '--no-audio-mux'] + extra)
        masks[name] = np.stack([
            np.asarray(Image.open(p))
            for p in sorted((out_dir / 'masks').glob('*.png'))
        ])
    assert masks['fast'].shape == masks['eager'].shape == (6, 64, 64)
    # float32 on a CPU: logits equal to ~1e-5, so masks (nearly) all agree
    assert (masks['fast'] == masks['eager']).mean() >= 0.999


def test_video_demo_errors(tiny_ckpt, tmp_path):
    demo = _load_script('demo/video_demo.py', 'video_demo')
    silent = make_video(tmp_path / 'silent.mp4', seconds=1,
                        with_audio=False)
    with pytest.raises(ValueError, match='no audio track'):
        demo.main([silent, TINY_CFG, tiny_ckpt, '--out-dir',
                   str(tmp_path / 'o')])
    with pytest.raises(FileNotFoundError, match='absent.mp4'):
        demo.main([str(tmp_path / 'absent.mp4'), TINY_CFG, tiny_ckpt,
                   '--out-dir', str(tmp_path / 'o')])
    # --allow-silent runs it with silence.
    summary = demo.main([silent, TINY_CFG, tiny_ckpt, '--out-dir',
                         str(tmp_path / 's'), '--allow-silent',
                         '--no-progress'])
    assert summary['num_frames'] == 1
    assert len(list((tmp_path / 's' / 'masks').glob('*.png'))) == 1


# --------------------------------------------------------------------------
# benchmark
# --------------------------------------------------------------------------
def test_benchmark_tiny_cpu(tmp_path, capsys):
    bench = _load_script('tools/analysis/benchmark.py', 'benchmark')
    out = tmp_path / 'bench.json'
    results = bench.main([
        TINY_CFG, '--device', 'cpu', '--iters', '2', '--warmup', '0',
        '--batch-size', '2', '--threads', '1', '--timer', 'cpu',
        '--profile', '--out', str(out)
    ])
    printed = capsys.readouterr().out
    for label in ('DDAVS eager', 'DDAVS fast path',
                  'floor: SegFormer (MiT + head) + HTSAT',
                  'floor: MiT + HTSAT (no head)', 'floor/fast',
                  'eager/fast'):
        assert label in printed
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(results))
    for mode, batch in (('latency', 1), ('throughput', 2)):
        entry = saved['modes'][mode]
        assert entry['batch_clips'] == batch
        assert entry['frames_per_call'] == batch * saved['num_frames']
        comps = entry['components']
        assert set(comps) == {'eager', 'fast', 'floor', 'floor_encoders'}
        for c in comps.values():
            assert c['median_ms'] > 0 and c['first_call_s'] > 0
            assert c['fps'] == pytest.approx(
                entry['frames_per_call'] / c['median_ms'] * 1e3)
            assert c['profile']['ops_per_call'] > 0
        # the floor runs a subset of the fast model's work
        assert comps['floor_encoders']['profile']['ops_per_call'] < \
            comps['fast']['profile']['ops_per_call']
        assert set(entry['ratios']) == {'floor/fast', 'floor_encoders/fast',
                                        'floor/eager', 'eager/fast'}
    assert saved['fast_path']['folded_alignment_blocks'] == 2


def test_benchmark_floor_is_segformer_plus_htsat(tiny_model):
    """The floor computes the model's own backbone + mask decoder and audio
    encoder outputs."""
    bench = _load_script('tools/analysis/benchmark.py', 'benchmark')
    floor = bench.Floor(tiny_model.backbone, tiny_model.audio_encoder,
                        tiny_model.decode_head.mask_decoder, torch.float32,
                        False, None, False)
    frames = torch.randn(1, 2, 3, 128, 128)
    audio = 0.1 * torch.randn(1, 2, 16000)
    with torch.no_grad():
        tokens, logits = floor(frames, audio)
        ref = tiny_model.decode_head.mask_decoder(
            tiny_model.backbone(frames[0]))
        torch.testing.assert_close(logits, ref)
        torch.testing.assert_close(tokens, tiny_model.audio_encoder(audio[0]))


def test_get_flops_tiny(tiny_model, tmp_path, capsys):
    flops = _load_script('tools/analysis/get_flops.py', 'get_flops')
    out = tmp_path / 'flops.json'
    results = flops.main([TINY_CFG, '--out', str(out)])
    printed = capsys.readouterr().out
    assert 'params (M)' in printed and 'GFLOPs/frame' in printed
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(results))
    comps = saved['components']
    full = comps['full']
    assert full['params'] == sum(
        p.numel() for n, p in tiny_model.named_parameters()
        if not n.startswith('contrastive_head.'))
    assert full['flops_per_frame_mmengine'] > 0
    assert full['flops_per_frame_torch'] > 0
    for name in ('visual', 'audio', 'segformer'):
        assert 0 < comps[name]['params'] < full['params']
        assert 0 < comps[name]['flops_per_frame_torch'] < \
            full['flops_per_frame_torch']
    # backbone + head > backbone alone
    assert comps['segformer']['flops_per_frame_torch'] > \
        comps['visual']['flops_per_frame_torch']
    assert comps['segformer']['params'] == comps['visual']['params'] + sum(
        p.numel() for p in tiny_model.decode_head.mask_decoder.parameters())


def test_benchmark_flop_handles():
    """The two counters agree on attention (2 FLOPs per multiply-add)."""
    bench = _load_script('tools/analysis/get_flops.py', 'get_flops')

    class Attn(torch.nn.Module):

        def forward(self, q, k, v):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)

    q = torch.randn(2, 3, 10, 8)
    k = torch.randn(2, 3, 7, 8)
    v = torch.randn(2, 3, 7, 4)
    fl = bench.count_flops(Attn(), (q, k, v))
    expected = 2 * (2 * 3) * 10 * 7 * (8 + 4)
    assert fl['mmengine'] == expected
    assert fl['torch'] == expected

    lin = torch.nn.Linear(16, 32)
    fl = bench.count_flops(lin, (torch.randn(5, 16), ))
    assert fl['mmengine'] == fl['torch'] == 2 * 5 * 16 * 32
