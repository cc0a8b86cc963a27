"""Parameters, FLOPs per frame and speed of DDAVS and of its encoders alone.

Three components are measured in one run: the full model (``mode='tensor'``
on already pre-processed inputs: frames ``[B, T, 3, H, W]`` float, audio
``[B, T, S]``), the visual backbone alone (``[B*T, 3, H, W]``) and the audio
encoder alone (``[B*T, S]``). Timing repeats are *interleaved* (full, visual,
audio, full, ... with the order rotated every iteration), so a slow phase of
a noisy machine hits all three alike; the ``share`` column is the median over
iterations of (component time / full-model time in the same iteration).

Two modes: ``latency`` (one clip of T frames, batch 1) and ``throughput``
(``--batch-size`` clips per call). FPS = frames processed per second; the
audio encoder processes one segment per frame.

FLOPs convention: **2 FLOPs per multiply-add** (the convention of papers
quoting GFLOPs, e.g. the field facts' MiT-B5 23.4 GFLOP per 224 x 224 frame).
``mmengine.analysis.FlopAnalyzer`` counts one fused multiply-add as *one*
flop, so its count is multiplied by 2 here. As a cross-check the FLOPs are
also counted with ``torch.utils.flop_counter.FlopCounterMode`` (already 2 per
multiply-add). Both ignore element-wise ops (activations, additions,
softmax), so they are a lower bound dominated by matmuls / convolutions.
FLOPs are counted in fp32, batch 1, with PyTorch's fused
``nn.MultiheadAttention`` fast path switched off (neither counter can see
inside that fused kernel); attention matmuls inside
``scaled_dot_product_attention`` are counted by a handle added here.

Examples::

    python tools/analysis/benchmark.py configs/ddavs_tiny_synthetic_ms3.py \
        --device cpu --iters 5
    python tools/analysis/benchmark.py configs/ddavs_mitb5_htsat_ms3.py \
        --device cuda --dtype bf16 --batch-size 32 --iters 50 \
        --out results.json
"""
import argparse
import contextlib
import json
import math
import platform
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from ddavs_mm.apis.inference import (find_audio_encoder, find_visual_backbone,
                                     get_audio_settings, get_num_frames,
                                     get_test_resize, init_model)

COMPONENTS = ('full', 'visual', 'audio')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description='Params / FLOPs / FPS of DDAVS and its encoders.')
    p.add_argument('config', help='model config file')
    p.add_argument('--checkpoint', default=None,
                   help='optional checkpoint (speed does not depend on it)')
    p.add_argument('--device', default='cpu', help='cpu or cuda[:i]')
    p.add_argument('--dtype', choices=('fp32', 'bf16'), default='fp32',
                   help='bf16 runs under torch.autocast')
    p.add_argument('--compile', action='store_true',
                   help='torch.compile each component before timing')
    p.add_argument('--mode', choices=('latency', 'throughput', 'both'),
                   default='both')
    p.add_argument('--num-frames', type=int, default=None,
                   help='frames per clip T (default: config, else 5)')
    p.add_argument('--batch-size', type=int, default=8,
                   help='clips per call in throughput mode')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--no-flops', action='store_true',
                   help='skip FLOP counting')
    p.add_argument(
        '--dummy-bank', default=None, metavar='C,K',
        help='replace a PrototypeBank file by C*K random prototypes of D dims '
        '(D = audio_query.in_channels), e.g. 23,5: cost is the same, so the '
        'full config can be benchmarked before the bank is built')
    p.add_argument('--out', default=None, help='write results as JSON')
    p.add_argument('--cfg-options', nargs='+', default=None,
                   metavar='KEY=VALUE', help='config overrides')
    return p.parse_args(argv)


# ---------------------------------------------------------------------------
# Components as plain tensor -> tensor modules
# ---------------------------------------------------------------------------
def _flatten_tensors(out) -> Tuple[torch.Tensor, ...]:
    """Tensors of a nested output, in order (for tracing)."""
    if isinstance(out, torch.Tensor):
        return (out, )
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        res: List[torch.Tensor] = []
        for o in out:
            res.extend(_flatten_tensors(o))
        return tuple(res)
    return ()


class FullModel(nn.Module):
    """``model(inputs, mode='tensor')`` on frames [B,T,3,H,W], audio [B,T,S]."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor,
                audio: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        out = self.model(dict(frames=frames, audio=audio), None,
                         mode='tensor')
        return _flatten_tensors(out)


class VisualOnly(nn.Module):
    """The visual backbone on frames [N, 3, H, W]."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, frames: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return _flatten_tensors(self.backbone(frames))


class AudioOnly(nn.Module):
    """The audio encoder on waveforms [N, S]."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, wave: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return _flatten_tensors(self.encoder(wave))


def make_inputs(batch: int, num_frames: int, size: Tuple[int, int],
                seg_len: int, device: torch.device
                ) -> Dict[str, Tuple[torch.Tensor, ...]]:
    """Random pre-processed inputs of each component."""
    g = torch.Generator().manual_seed(0)
    frames = torch.randn(batch, num_frames, 3, *size, generator=g)
    audio = 0.1 * torch.randn(batch, num_frames, seg_len, generator=g)
    frames, audio = frames.to(device), audio.to(device)
    return dict(
        full=(frames, audio),
        visual=(frames.flatten(0, 1), ),
        audio=(audio.flatten(0, 1), ))


# ---------------------------------------------------------------------------
# FLOPs
# ---------------------------------------------------------------------------
def _prod(xs) -> int:
    return int(math.prod(int(x) for x in xs))


def _sdpa_flop_jit(inputs, outputs) -> int:
    """Multiply-adds of ``scaled_dot_product_attention``: QK^T and AV."""
    from mmengine.analysis.jit_handles import get_shape
    q, k, v = (get_shape(inputs[i]) for i in range(3))
    return _prod(q[:-2]) * q[-2] * k[-2] * (q[-1] + v[-1])


def _sdpa_cpu_flops(q_shape, k_shape, v_shape, *args, out_shape=None,
                    **kwargs) -> int:
    """FLOPs (2 per multiply-add) of the CPU fused attention kernel.

    ``FlopCounterMode`` knows the CUDA attention kernels but not
    ``aten._scaled_dot_product_flash_attention_for_cpu``.
    """
    return 2 * _prod(q_shape[:-2]) * q_shape[-2] * k_shape[-2] * (
        q_shape[-1] + v_shape[-1])


@contextlib.contextmanager
def _no_mha_fastpath():
    backend = getattr(torch.backends, 'mha', None)
    if backend is None or not hasattr(backend, 'set_fastpath_enabled'):
        yield
        return
    old = backend.get_fastpath_enabled()
    backend.set_fastpath_enabled(False)
    try:
        yield
    finally:
        backend.set_fastpath_enabled(old)


@contextlib.contextmanager
def _frozen_params(module: nn.Module):
    """Temporarily set ``requires_grad=False`` on every parameter.

    ``FlopCounterMode``'s module tracker registers gradient hooks on inputs
    that require grad, which fails under ``no_grad`` for parameters passed
    as module inputs (e.g. learned query tokens).
    """
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def count_flops(module: nn.Module, inputs: Tuple[torch.Tensor, ...]
                ) -> Dict[str, object]:
    """FLOPs (2 per multiply-add) of one call, by two counters.

    Returns:
        dict: ``mmengine`` (FlopAnalyzer multiply-adds x 2, or None if the
        trace failed), ``torch`` (FlopCounterMode total), ``unsupported``
        (ops FlopAnalyzer skipped, with counts) and ``error`` messages.
    """
    res: Dict[str, object] = dict(mmengine=None, torch=None, unsupported={},
                                  errors=[])
    with torch.no_grad(), _no_mha_fastpath(), _frozen_params(module):
        try:
            from mmengine.analysis import FlopAnalyzer
            analyzer = FlopAnalyzer(module, inputs)
            analyzer.set_op_handle(
                'aten::scaled_dot_product_attention', _sdpa_flop_jit)
            analyzer.unsupported_ops_warnings(False)
            analyzer.uncalled_modules_warnings(False)
            # mmengine: one multiply-add = one flop -> x2.
            res['mmengine'] = 2 * int(analyzer.total())
            res['unsupported'] = dict(analyzer.unsupported_ops())
        except Exception as e:  # tracing can fail on dynamic code
            res['errors'].append(f'mmengine FlopAnalyzer: {e!r}'[:300])
        try:
            from torch.utils.flop_counter import FlopCounterMode
            custom = {}
            cpu_sdpa = getattr(torch.ops.aten,
                               '_scaled_dot_product_flash_attention_for_cpu',
                               None)
            if cpu_sdpa is not None:
                custom[cpu_sdpa] = _sdpa_cpu_flops
            counter = FlopCounterMode(display=False, custom_mapping=custom)
            with counter:
                module(*inputs)
            res['torch'] = int(counter.get_total_flops())
        except Exception as e:
            res['errors'].append(f'torch FlopCounterMode: {e!r}'[:300])
    return res


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_interleaved(fns: Dict[str, Callable[[], object]],
                     device: torch.device, warmup: int,
                     iters: int) -> Dict[str, List[float]]:
    """Seconds per call of each function, measured round-robin.

    Every iteration calls each function once, the order rotated by one per
    iteration, so drifts of machine speed affect all of them alike.
    """
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    _sync(device)
    times: Dict[str, List[float]] = {n: [] for n in names}
    for it in range(iters):
        order = names[it % len(names):] + names[:it % len(names)]
        for n in order:
            _sync(device)
            t0 = time.perf_counter()
            fns[n]()
            _sync(device)
            times[n].append(time.perf_counter() - t0)
    return times


def _use_dummy_bank(config, spec: str) -> None:
    """Swap ``model.audio_query.bank`` for random prototypes ``[C, K, D]``."""
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


def _params(module: Optional[nn.Module]) -> Optional[int]:
    if module is None:
        return None
    return sum(p.numel() for p in module.parameters())


def benchmark(args: argparse.Namespace) -> dict:
    """Run the benchmark; returns the results dict."""
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError('--device cuda but CUDA is not available.')
    cfg_options = None
    if args.cfg_options:
        from mmengine.config import DictAction
        ns = argparse.Namespace()
        DictAction(option_strings=[], dest='o')(None, ns, args.cfg_options)
        cfg_options = ns.o
    from mmengine.config import Config
    config = Config.fromfile(args.config)
    if cfg_options:
        config.merge_from_dict(cfg_options)
    if args.dummy_bank:
        _use_dummy_bank(config, args.dummy_bank)
    model = init_model(config, args.checkpoint, device=str(device))
    cfg = model.cfg
    num_frames = args.num_frames or get_num_frames(cfg)
    (h, w), _ = get_test_resize(cfg)
    rate, seg_seconds = get_audio_settings(cfg, model)
    seg_len = int(round(rate * seg_seconds))

    visual, audio_enc = find_visual_backbone(model), find_audio_encoder(model)
    modules: Dict[str, nn.Module] = dict(full=FullModel(model).eval())
    if visual is not None:
        modules['visual'] = VisualOnly(visual).eval()
    if audio_enc is not None:
        modules['audio'] = AudioOnly(audio_enc).eval()
    results = dict(
        config=args.config, device=str(device),
        device_name=(torch.cuda.get_device_name(device)
                     if device.type == 'cuda' else platform.processor()
                     or platform.machine()),
        cpu_threads=torch.get_num_threads(), torch=torch.__version__,
        dtype=args.dtype, compile=args.compile, num_frames=num_frames,
        frame_size=[h, w], audio_samples=seg_len, sample_rate=rate,
        warmup=args.warmup, iters=args.iters,
        flops_convention='2 FLOPs per multiply-add (mmengine count x 2)',
        components={})
    for name, m in modules.items():
        results['components'][name] = dict(params=_params(
            model if name == 'full' else (visual if name == 'visual'
                                          else audio_enc)))
    if hasattr(model, 'parameter_counts'):
        # Per-part counts; the full model's row shows the parameters used at
        # inference (without a training-only contrastive head).
        counts = dict(model.parameter_counts())
        results['parameter_counts'] = counts
        if 'total_inference' in counts:
            results['components']['full']['params'] = counts[
                'total_inference']
            results['components']['full']['params_total'] = counts.get(
                'total')

    # FLOPs per frame: batch 1, one clip of T frames, fp32.
    if not args.no_flops:
        one = make_inputs(1, num_frames, (h, w), seg_len, device)
        for name, m in modules.items():
            fl = count_flops(m, one[name])
            entry = results['components'][name]
            for key in ('mmengine', 'torch'):
                entry[f'flops_per_frame_{key}'] = (
                    fl[key] / num_frames if fl[key] is not None else None)
            entry['flops_unsupported_ops'] = fl['unsupported']
            if fl['errors']:
                entry['flops_errors'] = fl['errors']

    modes = (('latency', 'throughput') if args.mode == 'both'
             else (args.mode, ))
    autocast = (torch.autocast(device_type=device.type, dtype=torch.bfloat16)
                if args.dtype == 'bf16' else contextlib.nullcontext())
    for mode in modes:
        batch = 1 if mode == 'latency' else args.batch_size
        inputs = make_inputs(batch, num_frames, (h, w), seg_len, device)
        fns = {}
        for name, m in modules.items():
            call = torch.compile(m) if args.compile else m
            fns[name] = (lambda c=call, x=inputs[name]: c(*x))
        with torch.inference_mode(), autocast:
            times = time_interleaved(fns, device, args.warmup, args.iters)
        frames_per_call = batch * num_frames
        for name, ts in times.items():
            med = statistics.median(ts)
            share = statistics.median(
                t / f for t, f in zip(ts, times['full']))
            results['components'][name][mode] = dict(
                batch_clips=batch, frames_per_call=frames_per_call,
                median_ms=1e3 * med,
                min_ms=1e3 * min(ts),
                fps=frames_per_call / med,
                share_of_full=share)
    return results


def _fmt(x, scale=1.0, digits=2) -> str:
    if x is None:
        return '-'
    v = x / scale
    return f'{v:.{digits}f}' if abs(v) >= 10**-digits or v == 0 \
        else f'{v:.3g}'


def format_table(results: dict) -> str:
    """The results as a markdown table."""
    labels = dict(full='DDAVS (full model)', visual='visual backbone alone',
                  audio='audio encoder alone')
    modes = [m for m in ('latency', 'throughput')
             if m in results['components']['full']]
    head = ['component', 'params (M)', 'GFLOPs/frame (mmengine x2)',
            'GFLOPs/frame (torch counter)']
    for m in modes:
        b = results['components']['full'][m]['batch_clips']
        head += [f'{m} FPS (B={b}, T={results["num_frames"]})',
                 f'{m} share of full']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for name, e in results['components'].items():
        row = [labels.get(name, name), _fmt(e.get('params'), 1e6),
               _fmt(e.get('flops_per_frame_mmengine'), 1e9, 3),
               _fmt(e.get('flops_per_frame_torch'), 1e9, 3)]
        for m in modes:
            row += [_fmt(e[m]['fps'], 1, 1), _fmt(e[m]['share_of_full'])]
        lines.append('| ' + ' | '.join(row) + ' |')
    lines.append('')
    lines.append(
        f'Device {results["device"]} ({results["device_name"]}), '
        f'{results["dtype"]}, compile={results["compile"]}, frames '
        f'{results["frame_size"][0]}x{results["frame_size"][1]}, audio '
        f'{results["audio_samples"]} samples/frame, warmup '
        f'{results["warmup"]}, iters {results["iters"]} (median). FLOPs: 2 per '
        f'multiply-add; FPS = frames per second; share = median per-iteration '
        f'time ratio to the full model (interleaved runs).')
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
