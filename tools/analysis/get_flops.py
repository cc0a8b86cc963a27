"""Parameters and FLOPs per frame of DDAVS and of its parts (no timing).

Counted components (batch 1, one clip of T frames, float32, random inputs of
the config's sizes):

* ``full``: the whole model in ``mode='tensor'`` (frames ``[1, T, 3, H, W]``,
  audio ``[1, T, S]``);
* ``visual``: the visual backbone alone (``[T, 3, H, W]``);
* ``segformer``: the backbone plus the model's mask decoder (SegFormer's
  all-MLP head) on the backbone's levels;
* ``audio``: the audio encoder alone (``[T, S]``).

FLOPs convention: **2 FLOPs per multiply-add** (the convention of papers
quoting GFLOPs, e.g. the field facts' MiT-B5 23.4 GFLOP per 224 x 224 frame).
``mmengine.analysis.FlopAnalyzer`` counts one fused multiply-add as *one*
flop, so its count is multiplied by 2 here. As a cross-check the FLOPs are
also counted with ``torch.utils.flop_counter.FlopCounterMode`` (already 2 per
multiply-add). Both ignore element-wise ops (activations, additions,
softmax), so they are a lower bound dominated by matmuls / convolutions.
PyTorch's fused ``nn.MultiheadAttention`` fast path is switched off while
counting (neither counter can see inside that fused kernel); attention
matmuls inside ``scaled_dot_product_attention`` are counted by handles
added here. The counts are of the model as built (the eager path); the fast
inference path (``ddavs_mm.apis.optimize_for_inference``) does fewer
multiply-adds in the alignment blocks.

Speed is measured by ``tools/analysis/benchmark.py``.

Example::

    python tools/analysis/get_flops.py configs/ddavs_mitb5_htsat_ms3.py \
        --dummy-bank 23,5
"""
import argparse
import contextlib
import json
import math
import os.path as osp
import sys
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import DictAction

COUNTED = ('full', 'visual', 'segformer', 'audio')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description='Parameters and FLOPs per frame of DDAVS and its parts.')
    p.add_argument('config', help='model config file')
    p.add_argument('--num-frames', type=int, default=None,
                   help='frames per clip T (default: config, else 5)')
    p.add_argument(
        '--dummy-bank', default=None, metavar='C,K',
        help='replace a PrototypeBank file by C*K random prototypes (see '
        'tools/analysis/benchmark.py)')
    p.add_argument('--out', default=None, help='write results as JSON')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   metavar='KEY=VALUE', help='config overrides')
    return p.parse_args(argv)


# ---------------------------------------------------------------------------
# Components as plain tensor -> tensor modules
# ---------------------------------------------------------------------------
def flatten_tensors(out) -> Tuple[torch.Tensor, ...]:
    """Tensors of a nested output, in order (for tracing)."""
    if isinstance(out, torch.Tensor):
        return (out, )
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        res = []
        for o in out:
            res.extend(flatten_tensors(o))
        return tuple(res)
    return ()


class FullModel(nn.Module):
    """``model(inputs, mode='tensor')`` on frames [B,T,3,H,W] and audio
    [B,T,S]."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor,
                audio: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        out = self.model(dict(frames=frames, audio=audio), None,
                         mode='tensor')
        return flatten_tensors(out)


class Part(nn.Module):
    """``head(module(x))`` (``head`` optional) on one tensor."""

    def __init__(self, module: nn.Module, head: Optional[nn.Module] = None):
        super().__init__()
        self.module = module
        self.head = head

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        out = self.module(x)
        if self.head is not None:
            out = self.head(list(out))
        return flatten_tensors(out)


def counted_parts(model: nn.Module) -> Dict[str, nn.Module]:
    """The counted components of a DDAVS model (those it has)."""
    from ddavs_mm.apis.inference import (find_audio_encoder,
                                         find_visual_backbone)
    parts = dict(full=FullModel(model))
    visual = find_visual_backbone(model)
    if visual is not None:
        parts['visual'] = Part(visual)
        decoder = getattr(getattr(model, 'decode_head', None),
                          'mask_decoder', None)
        if decoder is not None:
            parts['segformer'] = Part(visual, decoder)
    audio = find_audio_encoder(model)
    if audio is not None:
        parts['audio'] = Part(audio)
    return parts


def part_inputs(name: str, frames: torch.Tensor,
                audio: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    """Inputs of a counted part from clip tensors ``[B,T,...]``."""
    if name == 'full':
        return frames, audio
    if name == 'audio':
        return (audio.flatten(0, 1), )
    return (frames.flatten(0, 1), )


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


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def get_flops(args: argparse.Namespace) -> dict:
    """Parameters and FLOPs per frame; returns the results dict."""
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
    from benchmark import build_model, config_sizes
    model, cfg = build_model(args.config, args.cfg_options, args.dummy_bank,
                             'cpu')
    num_frames, (h, w), seg_len = config_sizes(cfg, model, args.num_frames)
    g = torch.Generator().manual_seed(0)
    frames = torch.randn(1, num_frames, 3, h, w, generator=g)
    audio = 0.1 * torch.randn(1, num_frames, seg_len, generator=g)
    results = dict(config=args.config, num_frames=num_frames,
                   frame_size=[h, w], audio_samples=seg_len,
                   flops_convention='2 FLOPs per multiply-add (mmengine '
                   'count x 2)', components={})
    for name, part in counted_parts(model).items():
        params = parameter_count(part)
        if name == 'full' and hasattr(model, 'parameter_counts'):
            # used at inference: without a training-only contrastive head
            params = model.parameter_counts()['total_inference']
        fl = count_flops(part.eval(), part_inputs(name, frames, audio))
        entry = dict(params=params)
        for key in ('mmengine', 'torch'):
            entry[f'flops_per_frame_{key}'] = (
                fl[key] / num_frames if fl[key] is not None else None)
        entry['flops_unsupported_ops'] = fl['unsupported']
        if fl['errors']:
            entry['flops_errors'] = fl['errors']
        results['components'][name] = entry
    if hasattr(model, 'parameter_counts'):
        results['parameter_counts'] = dict(model.parameter_counts())
    return results


def format_table(results: dict) -> str:
    """The results as a markdown table."""
    labels = dict(full='DDAVS (full model)', visual='visual backbone alone',
                  segformer='backbone + SegFormer head',
                  audio='audio encoder alone')
    lines = ['| component | params (M) | GFLOPs/frame (mmengine x2) | '
             'GFLOPs/frame (torch counter) |', '|---|---|---|---|']
    for name, e in results['components'].items():
        cells = [labels.get(name, name), f'{e["params"] / 1e6:.2f}']
        for key in ('mmengine', 'torch'):
            v = e.get(f'flops_per_frame_{key}')
            cells.append('-' if v is None else f'{v / 1e9:.3f}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines.append('')
    lines.append(
        f'Frames {results["frame_size"][0]}x{results["frame_size"][1]}, '
        f'audio {results["audio_samples"]} samples/frame, T='
        f'{results["num_frames"]}; FLOPs: 2 per multiply-add.')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    results = get_flops(args)
    print(format_table(results))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
        print(f'Results written to {args.out}')
    return results


if __name__ == '__main__':
    main()
