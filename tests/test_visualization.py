"""Clip overlays, AVSLocalVisualizer and AVSVisualizationHook."""
import glob
import os.path as osp
import uuid
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

import ddavs_mm  # noqa: F401
from ddavs_mm.engine.hooks.avs_visualization_hook import AVSVisualizationHook
from ddavs_mm.registry import HOOKS, VISUALIZERS
from ddavs_mm.structures import AVSDataSample
from ddavs_mm.visualization import (AVSLocalVisualizer, draw_clip_overlay,
                                    overlay_mask, voc_palette)

T, H, W = 3, 8, 10


def _frames(t=T, h=H, w=W):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def _name():
    return f'vis_{uuid.uuid4().hex[:8]}'


def _sample(t=T, h=H, w=W, mode='binary', flags=None, clip_id='c'):
    ds = AVSDataSample()
    gt = torch.zeros(t, h, w, dtype=torch.long)
    gt[:, :4, :5] = 1
    pred = torch.zeros(t, h, w, dtype=torch.long)
    pred[:, 4:, 5:] = 1
    ds.gt_masks = gt
    ds.pred_masks = pred
    ds.frame_flags = torch.tensor(flags if flags is not None else [True] * t)
    ds.set_metainfo(dict(clip_id=clip_id, mask_mode=mode, num_classes=2))
    return ds


# ------------------------------------------------------------ the function
def test_draw_clip_overlay_shape_and_colours():
    frames = _frames()
    masks = np.zeros((T, H, W), np.int64)
    masks[:, 2:5, 3:7] = 1
    masks[0, 0, 0] = 255  # ignore: untouched
    pal = [[0, 0, 0], [255, 0, 0]]
    img = draw_clip_overlay(frames, masks, pal, alpha=0.5, gap=2)
    assert img.dtype == np.uint8 and img.shape == (H, T * W + 2 * (T - 1), 3)
    for t in range(T):
        tile = img[:, t * (W + 2):t * (W + 2) + W]
        fg = masks[t] == 1
        expect = np.floor(0.5 * frames[t][fg].astype(np.float32) +
                          0.5 * np.array([255, 0, 0], np.float32) + 0.5)
        assert np.array_equal(tile[fg], expect.astype(np.uint8))
        assert np.array_equal(tile[~fg], frames[t][~fg])  # bg + ignore kept
    # gaps are white
    assert (img[:, W:W + 2] == 255).all()
    # alpha = 1 paints the exact palette colour; [T, 3, H, W] tensors work
    img1 = draw_clip_overlay(torch.from_numpy(frames).permute(0, 3, 1, 2),
                             torch.from_numpy(masks), pal, alpha=1.0, gap=0)
    assert img1.shape == (H, T * W, 3)
    assert (img1[:H, :W][masks[0] == 1] == [255, 0, 0]).all()


def test_draw_clip_overlay_semantic_palette_and_errors():
    frames = np.zeros((2, H, W, 3), np.uint8)
    masks = np.zeros((2, H, W), np.int64)
    masks[0, :2] = 1
    masks[1, :2] = 2
    pal = [[0, 0, 0], [0, 255, 0], [0, 0, 255]]
    img = draw_clip_overlay(frames, masks, pal, alpha=1.0, gap=0)
    assert (img[:2, :W] == [0, 255, 0]).all()
    assert (img[:2, W:] == [0, 0, 255]).all()
    assert (img[2:] == 0).all()
    # masks of another size are resized (nearest) to the frames
    small = np.ones((2, H // 2, W // 2), np.int64)
    assert draw_clip_overlay(frames, small, pal, 1.0, 0)[..., 1].min() == 255
    with pytest.raises(ValueError, match='palette'):
        draw_clip_overlay(frames, masks, pal[:2])
    with pytest.raises(ValueError, match='masks'):
        draw_clip_overlay(frames, masks[:1], pal)
    with pytest.raises(ValueError, match='alpha'):
        draw_clip_overlay(frames, masks, pal, alpha=2.0)
    # no masks: the frames side by side
    assert draw_clip_overlay(frames, None, gap=1).shape == (H, 2 * W + 1, 3)


def test_voc_palette_bit_spreading():
    # class 1 = bit 0 -> red MSB; 2 -> green; 4 -> blue; 8 = bit 3 -> red
    # bit 6; 9 = bits 0 and 3 -> red 128 + 64
    pal = voc_palette(10)
    assert pal[:5] == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0],
                       [0, 0, 128]]
    assert pal[8] == [64, 0, 0] and pal[9] == [192, 0, 0]
    assert len(voc_palette()) == 256
    assert len({tuple(c) for c in voc_palette()}) == 256
    assert voc_palette(0) == []
    with pytest.raises(ValueError, match='num_classes'):
        voc_palette(-1)


def test_overlay_mask_one_frame_hand_values():
    frame = np.full((2, 3, 3), 100, np.uint8)
    mask = np.array([[0, 1, 2], [255, 1, 0]])
    pal = [[0, 0, 0], [200, 0, 50], [10, 20, 30]]
    out = overlay_mask(frame, mask, 0.25, pal)
    # 0.75 * 100 + 0.25 * c, rounded half up
    assert out[0, 1].tolist() == [125, 75, 88]     # 87.5 -> 88
    assert out[0, 2].tolist() == [78, 80, 83]      # 77.5, 80, 82.5
    assert out[0, 0].tolist() == [100] * 3         # background
    assert out[1, 0].tolist() == [100] * 3         # 255 = ignore
    # default palette: the VOC colours, class 1 drawn red
    dflt = overlay_mask(frame, mask, 1.0)
    assert dflt[0, 1].tolist() == [255, 0, 0]
    assert dflt[0, 2].tolist() == voc_palette(3)[2]
    with pytest.raises(ValueError, match='does not match'):
        overlay_mask(frame, mask[:, :2], 0.5, pal)
    with pytest.raises(ValueError, match='palette of 2'):
        overlay_mask(frame, mask, 0.5, pal[:2])
    with pytest.raises(ValueError, match='alpha'):
        overlay_mask(frame, mask, -0.1, pal)


def test_overlay_mask_equals_cv2_add_weighted():
    # the synthetic overlays' translucent fill, as cv2 blends two images
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    mask = rng.integers(0, 2, (9, 11))
    colour = (40, 230, 40)
    fill = frame.copy()
    fill[mask == 1] = colour
    expect = cv2.addWeighted(frame, 0.6, fill, 0.4, 0)
    out = overlay_mask(frame, mask, 0.4, [(0, 0, 0), colour])
    np.testing.assert_array_equal(out, expect)


def test_clip_overlay_tiles_blend_frame_by_frame():
    frames = _frames()
    masks = np.random.default_rng(1).integers(0, 4, (T, H, W))
    pal = voc_palette(4)
    img = draw_clip_overlay(frames, masks, pal, 0.3, gap=1, outline=True)
    clip = overlay_mask(frames, masks, 0.3, pal, outline=True)
    for t in range(T):
        tile = img[:, t * (W + 1):t * (W + 1) + W]
        np.testing.assert_array_equal(tile, clip[t])
        np.testing.assert_array_equal(
            tile, overlay_mask(frames[t], masks[t], 0.3, pal, outline=True))


def test_video_io_uses_the_one_overlay():
    from ddavs_mm.apis import video_io
    assert video_io.overlay_mask is overlay_mask


# --------------------------------------------------------- the visualizer
def test_visualizer_draws_gt_and_pred_rows(tmp_path):
    vis = VISUALIZERS.build(
        dict(type='AVSLocalVisualizer', name=_name(),
             vis_backends=[dict(type='LocalVisBackend')],
             save_dir=str(tmp_path), alpha=1.0, gap=2))
    assert isinstance(vis, AVSLocalVisualizer)
    frames = torch.from_numpy(_frames()).permute(0, 3, 1, 2)  # packed layout
    img = vis.add_datasample('clip_a', frames, _sample(), step=3)
    assert img.shape == (2 * H + 2, T * W + 2 * (T - 1), 3)
    col = np.array(vis.binary_color)
    assert (img[:4, :5] == col).all()  # gt row, gt region
    assert (img[H + 2 + 4:2 * H + 2, 5:W] == col).all()  # pred row
    assert not (img[H + 2:H + 2 + 4, :5] == col).all(-1).any()
    files = glob.glob(osp.join(str(tmp_path), '**', 'clip_a_3.png'),
                      recursive=True)
    assert len(files) == 1
    saved = cv2.imread(files[0])[..., ::-1]
    assert np.array_equal(saved, img)
    # out_file writes there instead
    out = str(tmp_path / 'x' / 'clip.png')
    vis.add_datasample('clip_b', frames, _sample(), draw_gt=False,
                       out_file=out)
    assert cv2.imread(out).shape == (H, T * W + 2 * (T - 1), 3)


def test_visualizer_skips_padded_frames_and_uses_semantic_palette():
    vis = AVSLocalVisualizer(name=_name(), alpha=1.0, gap=0)
    pal = [[0, 0, 0], [10, 20, 30], [40, 50, 60]]
    vis.dataset_meta = dict(classes=('bg', 'a', 'b'), palette=pal)
    ds = _sample(t=4, mode='semantic', flags=[True, True, False, False])
    img = vis.add_datasample('s', _frames(t=4), ds)
    assert img.shape == (2 * H, 2 * W, 3)  # padded frames left out
    assert (img[:4, :5] == pal[1]).all()
    vis.draw_padded = True
    assert vis.draw_clip(_frames(t=4), ds.gt_masks, None, 'semantic',
                         ds.frame_flags).shape == (H, 4 * W, 3)


# ---------------------------------------------------------------- the hook
def _batches(n, bs, t=T):
    batches, k = [], 0
    while k < n:
        m = min(bs, n - k)
        frames = [torch.from_numpy(_frames(t)).permute(0, 3, 1, 2)
                  for _ in range(m)]
        samples = [_sample(t, clip_id=f'clip{k + i:02d}') for i in range(m)]
        batches.append((dict(inputs=dict(frames=frames),
                             data_samples=samples), samples))
        k += m
    return batches


def test_hook_saves_every_interval_clip(tmp_path):
    vis = AVSLocalVisualizer(name=_name(),
                             vis_backends=[dict(type='LocalVisBackend')],
                             save_dir=str(tmp_path / 'vis'))
    hook = HOOKS.build(dict(type='AVSVisualizationHook', draw=True,
                            interval=2, test_out_dir='show'))
    assert isinstance(hook, AVSVisualizationHook)
    runner = SimpleNamespace(visualizer=vis, work_dir=str(tmp_path),
                             timestamp='20250101_000000', iter=0)
    hook.before_test_epoch(runner)
    for i, (batch, outs) in enumerate(_batches(7, 3)):
        hook.after_test_iter(runner, i, batch, outs)
    files = sorted(glob.glob(str(tmp_path / '20250101_000000' / 'show' /
                                 '*.png')))
    # clips 0, 2, 4, 6 across batches of 3
    assert [osp.basename(f) for f in files] == [
        'clip00.png', 'clip02.png', 'clip04.png', 'clip06.png']
    assert cv2.imread(files[0]).shape == (2 * H + 2, T * W + 2 * (T - 1), 3)

    # a second test loop starts counting again; stacked (default_collate)
    # frames work too
    hook.before_test_epoch(runner)
    (batch, outs), = _batches(2, 2)
    batch['inputs']['frames'] = torch.stack(batch['inputs']['frames'])
    hook.after_test_iter(runner, 0, batch, outs)
    assert len(glob.glob(str(tmp_path / '20250101_000000' / 'show' /
                             '*.png'))) == 4  # clip00 overwritten


def test_hook_validation_goes_to_backends_and_draw_false(tmp_path):
    vis = AVSLocalVisualizer(name=_name(),
                             vis_backends=[dict(type='LocalVisBackend')],
                             save_dir=str(tmp_path / 'vis'))
    runner = SimpleNamespace(visualizer=vis, work_dir=str(tmp_path),
                             timestamp='t', iter=5)
    hook = AVSVisualizationHook(draw=True, interval=1)
    hook.before_val_epoch(runner)
    for i, (batch, outs) in enumerate(_batches(3, 2)):
        hook.after_val_iter(runner, i, batch, outs)
    files = glob.glob(str(tmp_path / 'vis' / '**' / '*.png'), recursive=True)
    assert sorted(osp.basename(f) for f in files) == [
        'val_clip00_5.png', 'val_clip01_5.png', 'val_clip02_5.png']

    off = AVSVisualizationHook(draw=False, interval=1, test_out_dir='o')
    off.before_test_epoch(runner)
    for i, (batch, outs) in enumerate(_batches(2, 1)):
        off.after_test_iter(runner, i, batch, outs)
    assert not osp.exists(tmp_path / 't' / 'o')
    with pytest.raises(ValueError, match='interval'):
        AVSVisualizationHook(interval=0)


def test_outline_marks_exactly_the_mask_boundary():
    frames = np.zeros((1, 6, 6, 3), np.uint8)
    masks = np.zeros((1, 6, 6), np.int64)
    masks[0, 1:5, 1:5] = 1  # a 4x4 square: 12 boundary + 4 interior pixels
    img = draw_clip_overlay(frames, masks, [[0, 0, 0], [0, 0, 200]],
                            alpha=1.0, gap=0, outline=True)
    white = (img == 255).all(-1)
    expect = np.zeros((6, 6), bool)
    expect[1:5, 1:5] = True
    expect[2:4, 2:4] = False
    assert np.array_equal(white, expect)
    assert (img[2:4, 2:4] == [0, 0, 200]).all()  # interior keeps its colour
    assert (img[0] == 0).all()  # background untouched
