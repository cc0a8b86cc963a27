"""Segment the sounding objects of any video with audio using DDAVS.

Frames are sampled at ``--fps`` (default 1 per second, like AVSBench; ``0``
= every frame), each paired with the audio segment of the config's test
pipeline (1 s in the AVSBench configs) centred on its timestamp, and
segmented ``T`` frames at a time (``T`` from the config's test data set, or
``--clip-len``) through the config's test pipeline, so memory stays bounded
for long videos. Masks come at the video's frame size. Writes
``overlay.mp4`` (masks blended on the frames, original audio muxed
back in), ``masks/{index:06d}.png`` (binary: 0/255; semantic: class ids with
a palette) and ``frames.csv`` (index, timestamp, mask file) to ``--out-dir``.

Example::

    python demo/video_demo.py clip.mp4 configs/ddavs_mitb5_htsat_ms3.py \
        work_dirs/ddavs_ms3/best.pth --out-dir outputs/clip --device cuda
"""
import argparse
import csv
import math
import os
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmengine.config import DictAction

from ddavs_mm.apis.inference import (get_audio_settings, get_num_frames,
                                     inference_clip, init_model)
from ddavs_mm.apis.video_io import (OverlayVideoWriter, iter_video_frames,
                                    probe_video, read_audio)
from ddavs_mm.utils.tool_errors import add_debug_arg, run_tool
from ddavs_mm.visualization import overlay_mask, voc_palette


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='DDAVS audio-visual segmentation of a video file.')
    parser.add_argument('video', help='video file with an audio track')
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        'checkpoint',
        help="checkpoint file ('none' = random weights, for smoke tests)")
    parser.add_argument('--out-dir', required=True, help='output folder')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--fps', type=float, default=1.0,
        help='frames sampled per second (default 1, like AVSBench); '
        '0 = every frame of the video')
    parser.add_argument('--threshold', type=float, default=0.5,
                        help='probability threshold of binary masks')
    parser.add_argument(
        '--clip-len', type=int, default=None,
        help='frames per model call T (default: the frames per clip of '
        'the config\'s test data set)')
    parser.add_argument('--alpha', type=float, default=0.5,
                        help='mask opacity in the overlay video')
    parser.add_argument(
        '--allow-silent', action='store_true',
        help='run a video without an audio track with silence')
    parser.add_argument('--no-audio-mux', action='store_true',
                        help='do not copy the audio into overlay.mp4')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bar')
    parser.add_argument(
        '--fast', action='store_true',
        help='run the fast inference path (ddavs_mm.apis.'
        'optimize_for_inference: bf16 weights and torch.compile on a GPU)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. model.num_classes=1')
    parser.add_argument(
        '--no-strict', action='store_true',
        help='use a checkpoint that does not fit the model: load the keys '
        'that fit, with a table of the rest (default: an error)')
    add_debug_arg(parser)
    return parser.parse_args(argv)


def _save_mask(path: str, mask: np.ndarray, binary: bool,
               palette: np.ndarray) -> None:
    from PIL import Image
    if binary:
        Image.fromarray((mask > 0).astype(np.uint8) * 255).save(path)
    else:
        img = Image.fromarray(mask.astype(np.uint8), mode='P')
        img.putpalette(palette[:256].reshape(-1).tolist())
        img.save(path)


def _progress(total: Optional[int], disable: bool):
    from tqdm import tqdm
    return tqdm(total=total, unit='frame', disable=disable,
                desc='segmenting')


def run_demo(args: argparse.Namespace) -> dict:
    """Run the demo; returns a summary dict (used by tests)."""
    if not osp.isfile(args.video):
        raise FileNotFoundError(f'Video file not found: {args.video}')
    info = probe_video(args.video)  # raises a clear error if corrupt
    if not info['has_video']:
        raise ValueError(f'{args.video} has no video stream.')
    if not info['has_audio'] and not args.allow_silent:
        raise ValueError(
            f'{args.video} has no audio track; DDAVS segments sounding '
            f'objects and needs audio (pass --allow-silent to run with '
            f'silence).')
    if args.fps < 0:
        raise ValueError(f'--fps must be >= 0, got {args.fps}.')

    checkpoint = None if args.checkpoint.lower() == 'none' \
        else args.checkpoint
    model = init_model(args.config, checkpoint, device=args.device,
                       cfg_options=args.cfg_options,
                       strict=not args.no_strict, fast=args.fast)
    rate, seg_seconds = get_audio_settings(model.cfg, model)
    clip_len = args.clip_len or get_num_frames(model.cfg)
    if clip_len < 1:
        raise ValueError(f'--clip-len must be >= 1, got {clip_len}.')

    wave = read_audio(args.video, rate, mono=True,
                      allow_silent=args.allow_silent,
                      duration=info['duration'])
    mux_audio, mux_rate = None, None
    if info['has_audio'] and not args.no_audio_mux:
        mux_audio = read_audio(args.video, None, mono=False)
        mux_rate = info['audio_rate']

    every = args.fps == 0
    out_fps = info['fps'] if every else args.fps
    if not out_fps:
        raise ValueError(f'Cannot tell the frame rate of {args.video}; pass '
                         f'--fps.')
    total = None
    if every and info['num_frames']:
        total = info['num_frames']
    elif info['duration']:
        total = max(1, int(round(info['duration'] * out_fps)))

    os.makedirs(osp.join(args.out_dir, 'masks'), exist_ok=True)
    video_path = osp.join(args.out_dir, 'overlay.mp4')
    palette = None
    meta = getattr(model, 'dataset_meta', None) or {}
    if meta.get('palette') is not None:
        palette = np.asarray(meta['palette'], np.uint8)
    writer = OverlayVideoWriter(video_path, out_fps, audio=mux_audio,
                                audio_rate=mux_rate)
    rows = []
    bar = _progress(total, args.no_progress)
    count = 0

    def flush(frames: List[np.ndarray], times: List[float]) -> None:
        nonlocal count, palette
        n_real = len(frames)
        # Pad a short last chunk by repeating its last frame (T is fixed).
        frames = frames + [frames[-1]] * (clip_len - n_real)
        times = times + [times[-1]] * (clip_len - n_real)
        # Only the audio around this chunk (bounded work per chunk).
        lo = max(0, int(math.floor((min(times) - seg_seconds) * rate)))
        hi = int(math.ceil((max(times) + seg_seconds) * rate))
        result = inference_clip(
            model, np.stack(frames), wave[lo:hi], rate,
            timestamps=[t - lo / rate for t in times],
            threshold=args.threshold)
        binary = result['pred_logits'].shape[1] == 1
        if palette is None:
            palette = np.array(voc_palette(256), np.uint8)
            if binary:
                palette[1] = (255, 0, 0)
        for i in range(n_real):
            mask = result['pred_masks'][i]
            name = f'{count:06d}.png'
            _save_mask(osp.join(args.out_dir, 'masks', name), mask, binary,
                       palette)
            writer.write(overlay_mask(frames[i], mask, args.alpha, palette))
            rows.append((count, f'{times[i]:.6f}', f'masks/{name}'))
            count += 1
        bar.update(n_real)

    try:
        buf_frames: List[np.ndarray] = []
        buf_times: List[float] = []
        for frame, t in iter_video_frames(args.video,
                                          None if every else args.fps):
            buf_frames.append(frame)
            buf_times.append(t)
            if len(buf_frames) == clip_len:
                flush(buf_frames, buf_times)
                buf_frames, buf_times = [], []
        if buf_frames:
            flush(buf_frames, buf_times)
    finally:
        bar.close()
        writer.close()

    with open(osp.join(args.out_dir, 'frames.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(('index', 'timestamp', 'mask'))
        w.writerows(rows)
    return dict(num_frames=count, overlay=video_path,
                mask_dir=osp.join(args.out_dir, 'masks'), fps=out_fps)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    summary = run_demo(args)
    print(f"Segmented {summary['num_frames']} frames -> {summary['overlay']}"
          f" and {summary['mask_dir']}")
    return summary


if __name__ == '__main__':
    run_tool(main)
