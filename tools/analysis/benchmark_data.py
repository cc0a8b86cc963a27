"""Clips per second that one data-loader worker prepares for training.

Runs the config's *training* pipeline (for the paper configs: load 5 PNG
frames and masks, load and resample the audio to 32 kHz, resize to 224 x 224,
flip, ``WaveformAugment``, pack) on ``--data-root`` in this process, one clip
after the other, the way one ``DataLoader`` worker does (one torch and one
OpenCV thread). It reports the wall-clock rate and the rate by process CPU
time (robust on a machine shared with other jobs), and from the CPU-time
rate the workers needed per GPU and in total to feed a training step of
``--target-fps`` frames per second per GPU:

    workers per GPU = ceil(target_fps / frames_per_clip / clips_per_s)

(+1 worker of margin is *not* added; add it for a machine whose cores are
busier than this one's). Data loading outside the worker (collation, pinning,
the host-to-device copy, the data preprocessor on the GPU) is not included.

``--make-synthetic N`` first writes N clips of the built-in synthetic MS3
set (224 x 224 frames, 16 kHz wavs like AVSBench) to a temporary folder, so
the tool runs anywhere.

Example::

    python tools/analysis/benchmark_data.py configs/ddavs_mitb5_htsat_ms3.py \
        --make-synthetic 24 --clips 48
"""
import argparse
import json
import math
import os
import statistics
import tempfile
import time
from typing import Optional, Sequence

import torch
from mmengine.config import DictAction


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description='Training-pipeline clips/s of one data-loader worker.')
    p.add_argument('config', help='training config')
    p.add_argument('--data-root', default=None,
                   help='data set root (overrides train_dataloader.dataset.'
                   'data_root)')
    p.add_argument('--make-synthetic', type=int, default=None, metavar='N',
                   help='generate N synthetic MS3 train clips (224 x 224, '
                   '16 kHz) in a temporary folder and use them')
    p.add_argument('--clips', type=int, default=40,
                   help='timed clips (cycling over the data set)')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--target-fps', type=float, default=1000.,
                   help='training frames per second per GPU to feed')
    p.add_argument('--gpus', type=int, default=8)
    p.add_argument('--out', default=None, help='write results as JSON')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   metavar='KEY=VALUE', help='config overrides')
    return p.parse_args(argv)


def build_train_dataset(config: str, data_root: Optional[str],
                        cfg_options: Optional[dict] = None):
    """The config's training data set (with its pipeline)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from ddavs_mm.registry import DATASETS
    from ddavs_mm.utils import register_all_modules
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'ddavs_mm'))
    register_all_modules(init_default_scope=False)
    ds_cfg = cfg.train_dataloader.dataset
    if data_root is not None:
        ds_cfg.data_root = data_root
    return DATASETS.build(ds_cfg), cfg


def make_synthetic(root: str, clips: int) -> str:
    """Write ``clips`` synthetic MS3 training clips (224 x 224, 16 kHz)."""
    from ddavs_mm.datasets.synthetic import generate_synthetic_avs
    generate_synthetic_avs(root, 'ms3', seed=0, num_train=clips, num_val=1,
                           num_test=1, size=224, sample_rate=16000,
                           workers=min(4, os.cpu_count() or 1))
    return root


def frames_per_clip(sample: dict) -> int:
    """T of a packed training sample."""
    return int(sample['inputs']['frames'].shape[0])


def benchmark_data(args: argparse.Namespace) -> dict:
    import cv2
    torch.set_num_threads(1)  # what a DataLoader worker gets
    cv2.setNumThreads(0)  # mmengine's mp_cfg: opencv_num_threads=0
    with tempfile.TemporaryDirectory() as tmp:
        data_root = args.data_root
        if args.make_synthetic:
            data_root = make_synthetic(os.path.join(tmp, 'ms3'),
                                       args.make_synthetic)
        dataset, cfg = build_train_dataset(args.config, data_root,
                                           args.cfg_options)
        n = len(dataset)
        if n == 0:
            raise ValueError(f'the training set of {args.config} under '
                             f'{data_root} is empty')
        for i in range(args.warmup):
            dataset[i % n]
        wall, cpu, frames = [], [], None
        for i in range(args.clips):
            t0, c0 = time.perf_counter(), time.process_time()
            sample = dataset[(args.warmup + i) % n]
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - t0)
            frames = frames_per_clip(sample)
    rate_cpu = 1. / statistics.mean(cpu)
    rate_wall = 1. / statistics.mean(wall)
    clips_needed = args.target_fps / frames
    per_gpu = math.ceil(clips_needed / rate_cpu)
    pipeline = [t.get('type') for t in cfg.train_dataloader.dataset.pipeline]
    return dict(
        config=args.config, data_root=args.data_root or
        f'synthetic ({args.make_synthetic} clips, 224x224, 16 kHz)',
        pipeline=pipeline, clips=args.clips, frames_per_clip=frames,
        clips_per_s_wall=rate_wall, clips_per_s_cpu=rate_cpu,
        frames_per_s_cpu=rate_cpu * frames, target_fps_per_gpu=
        args.target_fps, clips_per_s_needed_per_gpu=clips_needed,
        workers_per_gpu=per_gpu, gpus=args.gpus,
        workers_total=per_gpu * args.gpus, torch=torch.__version__,
        date=time.strftime('%Y-%m-%d'))


def format_report(r: dict) -> str:
    return '\n'.join([
        f'pipeline: {" -> ".join(r["pipeline"])}',
        f'{r["clips"]} clips of {r["frames_per_clip"]} frames from '
        f'{r["data_root"]}',
        f'one worker: {r["clips_per_s_cpu"]:.2f} clips/s by CPU time '
        f'({r["frames_per_s_cpu"]:.1f} frames/s), '
        f'{r["clips_per_s_wall"]:.2f} clips/s by wall clock',
        f'to feed {r["target_fps_per_gpu"]:.0f} frames/s per GPU '
        f'({r["clips_per_s_needed_per_gpu"]:.1f} clips/s): '
        f'{r["workers_per_gpu"]} workers per GPU, {r["workers_total"]} for '
        f'{r["gpus"]} GPUs',
    ])


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.data_root is None and not args.make_synthetic:
        raise SystemExit('benchmark_data.py: give --data-root or '
                         '--make-synthetic N')
    results = benchmark_data(args)
    print(format_report(results))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
        print(f'Results written to {args.out}')
    return results


if __name__ == '__main__':
    main()
