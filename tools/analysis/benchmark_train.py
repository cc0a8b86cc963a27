"""Speed and memory of a DDAVS training step, and the share spent waiting
for data.

For each *variant* the config's model is built with random weights (speed
does not depend on them), moved to the device and trained with its own
optimizer settings on one fixed batch of ``--batch-size`` clips taken from
the training set (``model.train_step``: data preprocessor, forward, losses,
backward, optimizer step): median step time, frames per second (clips x
frames per clip / step time) and peak GPU memory. Variants (combine with
``+``, e.g. ``compile+fused``):

* ``base``: the config as it is;
* ``fused``: ``torch.optim.AdamW(fused=True)`` (one kernel for the step);
* ``with_cp``: activation checkpointing of every MiT block (mmseg's
  ``with_cp``): less memory, one more forward of each block;
* ``compile``: ``torch.compile`` of the segmentor's two tensor stages
  (``extract_queries`` and ``_decode``, forward and backward).

``--amp`` (default on) trains in bf16 autocast without loss scaling
(``AutocastOptimWrapper``); the frozen HTSAT runs without autograd as in
training.

With ``--loader-steps N`` the first variant is then trained for N steps from
the config's real ``DataLoader`` (``--num-workers`` workers, an infinite
sampler), and the share of the step time spent waiting for the next batch
is reported (the first ``--warmup`` steps, while workers start, are left
out).

Data: ``--data-root`` or ``--make-synthetic N`` (N synthetic MS3 clips at
224 x 224 and 16 kHz in a temporary folder, see ``benchmark_data.py``).

Example (one GPU, the paper's 8 clips x 5 frames)::

    python tools/analysis/benchmark_train.py configs/ddavs_mitb5_htsat_ms3.py \
        --device cuda --make-synthetic 64 --dummy-bank 23,5 \
        --variants base fused with_cp compile --loader-steps 30 \
        --num-workers 8
"""
import argparse
import copy
import json
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import Dict, Optional, Sequence

import torch
from mmengine.config import DictAction

VARIANT_PARTS = ('base', 'fused', 'with_cp', 'compile')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='DDAVS training-step speed.')
    p.add_argument('config', help='training config')
    p.add_argument('--device', default='cuda')
    p.add_argument('--batch-size', type=int, default=None,
                   help='clips per step (default: the config\'s)')
    p.add_argument('--variants', nargs='+', default=['base'],
                   help=f'variants of {VARIANT_PARTS}, combined with +')
    p.add_argument('--no-amp', dest='amp', action='store_false',
                   help='train in float32 (default: bf16 autocast)')
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--loader-steps', type=int, default=0,
                   help='also train N steps from the real DataLoader and '
                   'report the data-wait share')
    p.add_argument('--num-workers', type=int, default=None,
                   help='DataLoader workers for --loader-steps')
    p.add_argument('--data-root', default=None)
    p.add_argument('--make-synthetic', type=int, default=None, metavar='N')
    p.add_argument('--dummy-bank', default=None, metavar='C,K',
                   help='random prototype bank (see benchmark.py)')
    p.add_argument('--out', default=None, help='write results as JSON')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   metavar='KEY=VALUE', help='config overrides')
    return p.parse_args(argv)


def parse_variant(name: str) -> Dict[str, bool]:
    """``'compile+fused'`` -> ``{'compile': True, 'fused': True, ...}``."""
    parts = name.split('+')
    bad = [p for p in parts if p not in VARIANT_PARTS]
    if bad:
        raise ValueError(f'unknown variant part(s) {bad} in {name!r}; '
                         f'expected {VARIANT_PARTS} joined by +')
    return {k: k in parts for k in VARIANT_PARTS if k != 'base'}


def load_cfg(args: argparse.Namespace, data_root: Optional[str]):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from ddavs_mm.utils import register_all_modules
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.dummy_bank:
        sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
        from benchmark import use_dummy_bank
        use_dummy_bank(cfg, args.dummy_bank)
    if data_root is not None:
        cfg.train_dataloader.dataset.data_root = data_root
    if args.batch_size:
        cfg.train_dataloader.batch_size = args.batch_size
    init_default_scope(cfg.get('default_scope', 'ddavs_mm'))
    register_all_modules(init_default_scope=False)
    return cfg


def build_step(cfg, variant: Dict[str, bool], amp: bool,
               device: torch.device):
    """Model (train mode, on ``device``) and optimizer wrapper."""
    from mmengine.optim import build_optim_wrapper

    from ddavs_mm.registry import MODELS
    cfg = copy.deepcopy(cfg)
    if variant['with_cp']:
        cfg.model.backbone.with_cp = True
    optim_cfg = cfg.optim_wrapper
    if variant['fused']:
        optim_cfg.optimizer.fused = True
    if amp:
        optim_cfg.type = 'AutocastOptimWrapper'
        optim_cfg.dtype = 'bfloat16'
    model = MODELS.build(cfg.model).to(device)
    model.train()
    optim_wrapper = build_optim_wrapper(model, optim_cfg)
    if variant['compile']:
        model.extract_queries = torch.compile(model.extract_queries)
        model._decode = torch.compile(model._decode)
    return model, optim_wrapper


def fixed_batch(cfg, batch_size: int) -> dict:
    """One collated batch of the first ``batch_size`` training clips."""
    from mmengine.dataset import pseudo_collate

    from ddavs_mm.registry import DATASETS
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    if len(dataset) == 0:
        raise ValueError('the training set is empty')
    return pseudo_collate([dataset[i % len(dataset)]
                           for i in range(batch_size)])


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_steps(model, optim_wrapper, data: dict, device: torch.device,
               warmup: int, iters: int) -> Dict[str, object]:
    """First-step, warm-up and per-step seconds on a fixed batch."""
    _sync(device)
    t0 = time.perf_counter()
    model.train_step(data, optim_wrapper)
    _sync(device)
    first = time.perf_counter() - t0
    for _ in range(warmup):
        model.train_step(data, optim_wrapper)
    _sync(device)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        model.train_step(data, optim_wrapper)
        _sync(device)
        times.append(time.perf_counter() - t0)
    return dict(first_step_s=first, times=times)


def loader_wait_share(cfg, model, optim_wrapper, device: torch.device,
                      steps: int, warmup: int,
                      num_workers: Optional[int]) -> dict:
    """Train ``steps`` steps from the real loader; time waiting for data."""
    from mmengine.runner import Runner
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.sampler = dict(type='InfiniteSampler', shuffle=True)
    if num_workers is not None:
        loader_cfg.num_workers = num_workers
    loader_cfg.persistent_workers = loader_cfg.num_workers > 0
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    it = iter(loader)
    waits, steps_s = [], []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        data = next(it)
        t1 = time.perf_counter()
        model.train_step(data, optim_wrapper)
        _sync(device)
        t2 = time.perf_counter()
        if i >= warmup:
            waits.append(t1 - t0)
            steps_s.append(t2 - t1)
    total = sum(waits) + sum(steps_s)
    return dict(num_workers=loader_cfg.num_workers, steps=steps,
                wait_share=sum(waits) / total,
                median_wait_ms=1e3 * statistics.median(waits),
                median_step_ms=1e3 * statistics.median(steps_s))


def benchmark_train(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError('--device cuda but CUDA is not available.')
    variants = {name: parse_variant(name) for name in args.variants}
    with tempfile.TemporaryDirectory() as tmp:
        data_root = args.data_root
        if args.make_synthetic:
            sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
            from benchmark_data import make_synthetic
            data_root = make_synthetic(osp.join(tmp, 'ms3'),
                                       args.make_synthetic)
        cfg = load_cfg(args, data_root)
        batch_size = cfg.train_dataloader.batch_size
        data = fixed_batch(cfg, batch_size)
        frames = int(data['inputs']['frames'][0].shape[0])
        results = dict(
            config=args.config, device=str(device),
            device_name=(torch.cuda.get_device_name(device)
                         if device.type == 'cuda' else 'cpu'),
            torch=torch.__version__, date=time.strftime('%Y-%m-%d'),
            amp='bf16 autocast' if args.amp else 'fp32',
            batch_clips=batch_size, frames_per_clip=frames,
            frames_per_step=batch_size * frames, iters=args.iters,
            warmup=args.warmup, variants={})
        first_model = None
        for name, variant in variants.items():
            if device.type == 'cuda':
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
            model, optim_wrapper = build_step(cfg, variant, args.amp,
                                              device)
            timed = time_steps(model, optim_wrapper, data, device,
                               args.warmup, args.iters)
            med = statistics.median(timed['times'])
            entry = dict(variant, median_step_ms=1e3 * med,
                         frames_per_s=batch_size * frames / med,
                         first_step_s=timed['first_step_s'])
            if device.type == 'cuda':
                entry['peak_memory_gib'] = \
                    torch.cuda.max_memory_allocated(device) / 2**30
            results['variants'][name] = entry
            if first_model is None and args.loader_steps:
                first_model = (name, model, optim_wrapper)
            else:
                del model, optim_wrapper
        if first_model is not None:
            name, model, optim_wrapper = first_model
            share = loader_wait_share(cfg, model, optim_wrapper, device,
                                      args.loader_steps, args.warmup,
                                      args.num_workers)
            share['variant'] = name
            share['frames_per_s'] = batch_size * frames / (
                share['median_step_ms'] + share['median_wait_ms']) * 1e3
            results['loader'] = share
    return results


def format_report(r: dict) -> str:
    lines = [
        f'{r["config"]} on {r["device"]} ({r["device_name"]}), torch '
        f'{r["torch"]}, {r["date"]}: {r["batch_clips"]} clips x '
        f'{r["frames_per_clip"]} frames per step, {r["amp"]}', '',
        '| variant | step ms | frames/s | peak memory GiB | first step s |',
        '|---|---|---|---|---|'
    ]
    for name, e in r['variants'].items():
        mem = e.get('peak_memory_gib')
        lines.append(f'| {name} | {e["median_step_ms"]:.1f} | '
                     f'{e["frames_per_s"]:.1f} | '
                     f'{"-" if mem is None else f"{mem:.2f}"} | '
                     f'{e["first_step_s"]:.1f} |')
    if 'loader' in r:
        ld = r['loader']
        lines += [
            '', f'real DataLoader ({ld["num_workers"]} workers, variant '
            f'{ld["variant"]}, {ld["steps"]} steps): data wait '
            f'{100 * ld["wait_share"]:.1f} % of the step time (median wait '
            f'{ld["median_wait_ms"]:.1f} ms, step {ld["median_step_ms"]:.1f}'
            f' ms), {ld["frames_per_s"]:.1f} frames/s'
        ]
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.data_root is None and not args.make_synthetic:
        raise SystemExit('benchmark_train.py: give --data-root or '
                         '--make-synthetic N')
    results = benchmark_train(args)
    print(format_report(results))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
        print(f'Results written to {args.out}')
    return results


if __name__ == '__main__':
    main()
