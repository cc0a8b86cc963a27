"""Speed of DDAVS: eager model, fast inference path and the encoders' floor.

Four components are timed *interleaved* in one run (each iteration calls
every component once, the order rotated by one per iteration), so a slow
phase of a shared machine hits them alike; every ratio is the median over
iterations of the per-iteration ratio of two components:

* ``eager``: the model as built (``mode='tensor'`` on pre-processed frames
  ``[B, T, 3, H, W]`` and audio ``[B, T, S]``), float32 weights, optionally
  under bf16 autocast (``--eager-amp``);
* ``fast``: the same weights after
  :func:`ddavs_mm.apis.optimize_for_inference` (SDPA everywhere, folded
  alignment attention and BatchNorms, ``--dtype`` weights, channels-last
  and ``--compile`` as set);
* ``floor``: **SegFormer (MiT + its all-MLP head) + HTSAT**, i.e. the
  model's own visual backbone, mask decoder (without the query readout) and
  audio encoder, on the same inputs, modules of the fast model with the same
  dtype, memory format and compilation. This is what any audio-visual
  segmenter built from these two encoders runs: an encoder pair alone gives
  no mask. It is the issue's GPU reference ("SegFormer-B5 with its head plus
  HTSAT"); DDAVS adds to it the Audio Query Module, the alignment blocks,
  the query readout (when configured) and the glue between them;
* ``floor_encoders``: MiT + HTSAT without the head (the issue's CPU
  reference of 0.62); printed too, as it costs one more call per iteration.

``floor / fast`` is the share of the fast model's time that the floor would
take (1.0 = DDAVS costs nothing on top of SegFormer + HTSAT).

Two modes: ``latency`` (one clip of T frames) and ``throughput``
(``--batch-size`` clips per call). FPS = frames per second. The first call
of each component is timed on its own (compilation, CUDA-graph capture), then
``--warmup`` calls, then ``--iters`` timed calls.

Timers: ``wall`` (default) or ``cpu`` (process CPU time, only for
``--device cpu``; with ``--threads 1`` it is robust to other jobs on a
shared machine, as the time a job waits for a core is not counted).

``--profile`` adds a ``torch.profiler`` summary per component: the top
operators by self time and the number of operator (CPU) or kernel (CUDA)
launches per call.

Parameters and FLOPs are counted by ``tools/analysis/get_flops.py``.

Examples::

    python tools/analysis/benchmark.py configs/ddavs_tiny_synthetic_ms3.py \
        --dummy-bank 23,5 --threads 1 --timer cpu --iters 30
    python tools/analysis/benchmark.py configs/ddavs_mitb5_htsat_ms3.py \
        --device cuda --dtype bf16 --compile fixed --batch-size 32 \
        --dummy-bank 23,5 --out results.json
"""
import argparse
import contextlib
import copy
import json
import platform
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import DictAction

from ddavs_mm.apis.fast_inference import (_compile_kwargs, _uses_cuda_graphs,
                                          _wrap, optimize_for_inference)
from ddavs_mm.apis.inference import (find_audio_encoder, find_visual_backbone,
                                     get_audio_settings, get_num_frames,
                                     get_test_resize, init_model)

COMPONENTS = ('eager', 'fast', 'floor', 'floor_encoders')
RATIOS = (('floor', 'fast'), ('floor_encoders', 'fast'), ('floor', 'eager'),
          ('eager', 'fast'))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description='Eager vs fast DDAVS vs SegFormer + HTSAT, interleaved.')
    p.add_argument('config', help='model config file')
    p.add_argument('--checkpoint', default=None,
                   help='optional checkpoint (speed does not depend on it)')
    p.add_argument('--device', default='cpu', help='cpu or cuda[:i]')
    p.add_argument('--dtype', default='auto',
                   choices=('auto', 'fp32', 'bf16', 'fp16'),
                   help='weights of the fast model and the floor (auto: '
                   'bf16 on CUDA, fp32 on CPU)')
    p.add_argument('--eager-amp', action='store_true',
                   help='run the eager model under bf16 autocast')
    p.add_argument('--compile', choices=('none', 'fixed', 'dynamic'),
                   default='none',
                   help='torch.compile the fast model and the floor: fixed '
                   'shapes (CUDA graphs on CUDA) or dynamic batch')
    p.add_argument('--compile-mode', default=None,
                   help='override the torch.compile mode')
    p.add_argument('--channels-last', choices=('on', 'off'), default='on',
                   help='channels-last backbone in the fast model and floor')
    p.add_argument('--no-fold', action='store_true',
                   help='keep the alignment blocks\' standard attention form '
                   'in the fast model')
    p.add_argument('--mode', choices=('latency', 'throughput', 'both'),
                   default='both')
    p.add_argument('--components', nargs='+', default=list(COMPONENTS),
                   choices=COMPONENTS, help='what to time')
    p.add_argument('--num-frames', type=int, default=None,
                   help='frames per clip T (default: config, else 5)')
    p.add_argument('--batch-size', type=int, default=8,
                   help='clips per call in throughput mode')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--threads', type=int, default=None,
                   help='torch CPU threads (default: torch\'s)')
    p.add_argument('--timer', choices=('wall', 'cpu'), default='wall')
    p.add_argument('--profile', action='store_true',
                   help='torch.profiler summary of each component')
    p.add_argument(
        '--dummy-bank', default=None, metavar='C,K',
        help='replace a PrototypeBank file by C*K random prototypes of D dims '
        '(D = audio_query.in_channels), e.g. 23,5: cost is the same, so the '
        'full config can be benchmarked before the bank is built')
    p.add_argument('--out', default=None, help='write results as JSON')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   metavar='KEY=VALUE', help='config overrides')
    return p.parse_args(argv)


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------
def use_dummy_bank(config, spec: str) -> None:
    """Swap ``model.audio_query.bank`` for random prototypes ``[C*K, D]``."""
    import numpy as np
    try:
        c, k = (int(v) for v in spec.split(','))
    except ValueError:
        raise ValueError(f'--dummy-bank expects C,K (e.g. 23,5), got {spec!r}')
    aqm = config.model.get('audio_query')
    if not aqm or not aqm.get('bank'):
        return
    dims = aqm.get('in_channels')
    if dims is None:
        raise ValueError('--dummy-bank needs model.audio_query.in_channels.')
    protos = np.random.RandomState(0).randn(c * k, dims).astype(np.float32)
    aqm.bank.pop('bank_path', None)
    aqm.bank['prototypes'] = protos  # [C*K, D] with a class id per row
    aqm.bank['class_ids'] = np.repeat(np.arange(c), k).tolist()


def build_model(config_path: str, cfg_options: Optional[dict],
                dummy_bank: Optional[str], device: str,
                checkpoint: Optional[str] = None):
    """The model (eval mode) and its config, with overrides and a dummy
    bank applied."""
    from mmengine.config import Config
    config = Config.fromfile(config_path)
    if cfg_options:
        config.merge_from_dict(cfg_options)
    if dummy_bank:
        use_dummy_bank(config, dummy_bank)
    model = init_model(config, checkpoint, device=device)
    return model, model.cfg


def config_sizes(cfg, model: nn.Module, num_frames: Optional[int] = None
                 ) -> Tuple[int, Tuple[int, int], int]:
    """``(T, (H, W), S)``: frames per clip, test frame size, audio samples
    per frame."""
    t = num_frames or get_num_frames(cfg)
    (h, w), _ = get_test_resize(cfg)
    rate, seconds = get_audio_settings(cfg, model)
    return t, (h, w), int(round(rate * seconds))


class FullModel(nn.Module):
    """``model(inputs, mode='tensor')`` on frames [B,T,3,H,W], audio [B,T,S];
    returns the logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor,
                audio: torch.Tensor) -> torch.Tensor:
        return self.model(dict(frames=frames, audio=audio), None,
                          mode='tensor')


class Floor(nn.Module):
    """The encoders' floor on the fast model's modules: the visual backbone
    (+ the mask decoder when ``head`` is given) and the audio encoder.

    Built like the fast model's two stages: the frames are cast to
    ``dtype`` (and channels-last when set), each stage is compiled with the
    same settings, and the logits are returned in float32.
    """

    def __init__(self, backbone: nn.Module, audio_encoder: nn.Module,
                 head: Optional[nn.Module], dtype: torch.dtype,
                 channels_last: bool, compile_kwargs: Optional[dict],
                 cuda_graphs: bool):
        super().__init__()
        self.backbone, self.audio_encoder, self.head = (backbone,
                                                        audio_encoder, head)

        def visual(frames: torch.Tensor):
            if channels_last:
                frames = frames.contiguous(memory_format=torch.channels_last)
            feats = self.backbone(frames.to(dtype))
            if self.head is None:
                return feats[-1]
            return self.head(list(feats)).float()

        self._visual = _wrap(visual, compile_kwargs, cuda_graphs)
        self._audio = _wrap(self.audio_encoder, compile_kwargs, cuda_graphs)

    def forward(self, frames: torch.Tensor,
                audio: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return (self._audio(audio.flatten(0, 1)),
                self._visual(frames.flatten(0, 1)))


def build_components(args: argparse.Namespace, device: torch.device
                     ) -> Tuple[Dict[str, nn.Module], dict, tuple]:
    """The timed components, the fast path's settings and the sizes."""
    eager, cfg = build_model(args.config, args.cfg_options, args.dummy_bank,
                             str(device), args.checkpoint)
    sizes = config_sizes(cfg, eager, args.num_frames)
    fast = copy.deepcopy(eager)
    fast.cfg = cfg
    channels_last = args.channels_last == 'on'
    compile_flag = args.compile != 'none'
    optimize_for_inference(fast, dtype=args.dtype, compile=compile_flag,
                           fixed_shapes=args.compile != 'dynamic',
                           channels_last=channels_last,
                           compile_mode=args.compile_mode,
                           fold_attention=not args.no_fold)
    info = fast.fast_inference
    dtype = next(fast.backbone.parameters()).dtype
    compile_kwargs = None
    cuda_graphs = False
    if compile_flag:
        compile_kwargs = _compile_kwargs(args.compile != 'dynamic', device,
                                         args.compile_mode)
        cuda_graphs = _uses_cuda_graphs(compile_kwargs, device)
    comps: Dict[str, nn.Module] = {}
    if 'eager' in args.components:
        comps['eager'] = FullModel(eager).eval()
    if 'fast' in args.components:
        comps['fast'] = FullModel(fast).eval()
    visual, audio = find_visual_backbone(fast), find_audio_encoder(fast)
    head = getattr(fast.decode_head, 'mask_decoder', None)
    if visual is None or audio is None:
        raise ValueError('the floor needs a visual backbone and an audio '
                         'encoder')
    for name, h in (('floor', head), ('floor_encoders', None)):
        if name in args.components:
            comps[name] = Floor(visual, audio, h, dtype,
                                info['channels_last'], compile_kwargs,
                                cuda_graphs).eval()
    return comps, info, sizes


def make_inputs(batch: int, num_frames: int, size: Tuple[int, int],
                seg_len: int, device: torch.device
                ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Random pre-processed frames ``[B,T,3,H,W]`` and audio ``[B,T,S]``."""
    g = torch.Generator().manual_seed(0)
    frames = torch.randn(batch, num_frames, 3, *size, generator=g)
    audio = 0.1 * torch.randn(batch, num_frames, seg_len, generator=g)
    return frames.to(device), audio.to(device)


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _clock(timer: str) -> Callable[[], float]:
    return time.process_time if timer == 'cpu' else time.perf_counter


def time_interleaved(fns: Dict[str, Callable[[], object]],
                     device: torch.device, warmup: int, iters: int,
                     timer: str = 'wall') -> Dict[str, object]:
    """Seconds per call of each function, measured round-robin.

    Returns:
        dict: ``first`` (seconds of each function's first call), ``warmup``
        (total seconds of the warm-up calls) and ``times`` (list of seconds
        per timed call).
    """
    clock = _clock(timer)
    names = list(fns)
    first, warm = {}, {n: 0. for n in names}
    for n in names:
        _sync(device)
        t0 = clock()
        fns[n]()
        _sync(device)
        first[n] = clock() - t0
    for _ in range(warmup):
        for n in names:
            t0 = clock()
            fns[n]()
            _sync(device)
            warm[n] += clock() - t0
    times: Dict[str, List[float]] = {n: [] for n in names}
    for it in range(iters):
        order = names[it % len(names):] + names[:it % len(names)]
        for n in order:
            _sync(device)
            t0 = clock()
            fns[n]()
            _sync(device)
            times[n].append(clock() - t0)
    return dict(first=first, warmup=warm, times=times)


def median_ratio(num: Sequence[float], den: Sequence[float]) -> float:
    """Median over iterations of ``num[i] / den[i]``."""
    return statistics.median(a / b for a, b in zip(num, den))


def profile_calls(fn: Callable[[], object], device: torch.device,
                  calls: int = 3, top: int = 12) -> dict:
    """``torch.profiler`` summary of ``calls`` calls of ``fn``.

    Returns:
        dict: ``ops_per_call`` (operator calls on the CPU side),
        ``kernels_per_call`` (CUDA kernel launches; 0 on a CPU) and ``top``
        (the ``top`` operators or kernels by self time: name, calls per
        call, self ms per call).
    """
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        acts.append(ProfilerActivity.CUDA)
    with profile(activities=acts) as prof:
        for _ in range(calls):
            fn()
        _sync(device)
    events = prof.key_averages()
    ops = sum(e.count for e in events if e.key.startswith('aten::'))
    kernels = 0
    top_rows = []
    if device.type == 'cuda':
        kernel_events = [e for e in events
                         if getattr(e, 'device_type', None) is not None
                         and 'CUDA' in str(e.device_type)]
        kernels = sum(e.count for e in kernel_events)
        ranked = sorted(kernel_events,
                        key=lambda e: e.self_device_time_total, reverse=True)
        for e in ranked[:top]:
            top_rows.append((e.key[:80], e.count / calls,
                             e.self_device_time_total / 1e3 / calls))
    else:
        ranked = sorted((e for e in events if e.key.startswith('aten::')),
                        key=lambda e: e.self_cpu_time_total, reverse=True)
        for e in ranked[:top]:
            top_rows.append((e.key, e.count / calls,
                             e.self_cpu_time_total / 1e3 / calls))
    return dict(ops_per_call=ops / calls, kernels_per_call=kernels / calls,
                top=top_rows)


def benchmark(args: argparse.Namespace) -> dict:
    """Run the benchmark; returns the results dict."""
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError('--device cuda but CUDA is not available.')
    if args.timer == 'cpu' and device.type != 'cpu':
        raise ValueError('--timer cpu measures CPU time: use it with '
                         '--device cpu')
    if args.threads:
        torch.set_num_threads(args.threads)
    comps, info, (num_frames, (h, w), seg_len) = build_components(
        args, device)
    results = dict(
        config=args.config, device=str(device),
        device_name=(torch.cuda.get_device_name(device)
                     if device.type == 'cuda' else platform.processor()
                     or platform.machine()),
        cpu_threads=torch.get_num_threads(), torch=torch.__version__,
        date=time.strftime('%Y-%m-%d'), timer=args.timer,
        eager_amp=args.eager_amp, compile=args.compile, fast_path=info,
        num_frames=num_frames, frame_size=[h, w], audio_samples=seg_len,
        warmup=args.warmup, iters=args.iters, modes={})
    modes = (('latency', 'throughput') if args.mode == 'both'
             else (args.mode, ))
    amp = (torch.autocast(device_type=device.type, dtype=torch.bfloat16)
           if args.eager_amp else contextlib.nullcontext())
    for mode in modes:
        batch = 1 if mode == 'latency' else args.batch_size
        frames, audio = make_inputs(batch, num_frames, (h, w), seg_len,
                                    device)
        fns = {}
        for name, m in comps.items():
            if name == 'eager':
                def call(m=m):
                    with amp:
                        return m(frames, audio)
            else:
                def call(m=m):
                    return m(frames, audio)
            fns[name] = call
        if device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(device)
        with torch.inference_mode():
            timed = time_interleaved(fns, device, args.warmup, args.iters,
                                     args.timer)
            prof = ({n: profile_calls(f, device) for n, f in fns.items()}
                    if args.profile else None)
        frames_per_call = batch * num_frames
        entry = dict(batch_clips=batch, frames_per_call=frames_per_call,
                     components={}, ratios={})
        times = timed['times']
        for name, ts in times.items():
            med = statistics.median(ts)
            entry['components'][name] = dict(
                median_ms=1e3 * med, min_ms=1e3 * min(ts),
                fps=frames_per_call / med,
                first_call_s=timed['first'][name],
                warmup_s=timed['warmup'][name])
            if prof is not None:
                entry['components'][name]['profile'] = prof[name]
        for num, den in RATIOS:
            if num in times and den in times:
                entry['ratios'][f'{num}/{den}'] = median_ratio(
                    times[num], times[den])
        if device.type == 'cuda':
            entry['peak_memory_gib'] = torch.cuda.max_memory_allocated(
                device) / 2**30
        results['modes'][mode] = entry
    return results


LABELS = dict(eager='DDAVS eager', fast='DDAVS fast path',
              floor='floor: SegFormer (MiT + head) + HTSAT',
              floor_encoders='floor: MiT + HTSAT (no head)')


def format_table(results: dict) -> str:
    """The results as markdown tables."""
    lines = []
    for mode, entry in results['modes'].items():
        lines.append(f'{mode}: {entry["batch_clips"]} clip(s) x '
                     f'{results["num_frames"]} frames per call')
        lines.append('')
        lines.append('| component | median ms | FPS | first call s | '
                     'warm-up s |')
        lines.append('|---|---|---|---|---|')
        for name, e in entry['components'].items():
            lines.append(f'| {LABELS.get(name, name)} | {e["median_ms"]:.2f}'
                         f' | {e["fps"]:.1f} | {e["first_call_s"]:.2f} | '
                         f'{e["warmup_s"]:.2f} |')
        lines.append('')
        for key, val in entry['ratios'].items():
            lines.append(f'- {key} (median per-iteration time ratio): '
                         f'{val:.3f}')
        if 'peak_memory_gib' in entry:
            lines.append(f'- peak GPU memory: {entry["peak_memory_gib"]:.2f}'
                         ' GiB')
        for name, e in entry['components'].items():
            prof = e.get('profile')
            if prof is None:
                continue
            lines.append(f'- profile {name}: {prof["ops_per_call"]:.0f} '
                         f'operator calls, {prof["kernels_per_call"]:.0f} '
                         'CUDA kernels per call; top: ' + '; '.join(
                             f'{k} x{c:.0f} {ms:.2f} ms'
                             for k, c, ms in prof['top'][:6]))
        lines.append('')
    fp = results['fast_path']
    lines.append(
        f'Device {results["device"]} ({results["device_name"]}, '
        f'{results["cpu_threads"]} CPU threads), torch {results["torch"]}, '
        f'{results["date"]}; fast path: {fp["dtype"]} weights, '
        f'compile={results["compile"]}, channels_last={fp["channels_last"]}'
        f', CUDA graphs={fp["cuda_graphs"]}; eager '
        f'{"bf16 autocast" if results["eager_amp"] else "fp32"}; frames '
        f'{results["frame_size"][0]}x{results["frame_size"][1]}, audio '
        f'{results["audio_samples"]} samples/frame; warmup '
        f'{results["warmup"]}, iters {results["iters"]} (median), timer '
        f'{results["timer"]}.')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    results = benchmark(args)
    print(format_table(results))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
        print(f'Results written to {args.out}')
    return results


if __name__ == '__main__':
    main()
