"""The fast inference path of DDAVS: one call, same values.

:func:`optimize_for_inference` turns a loaded DDAVS model (e.g. from
:func:`ddavs_mm.apis.init_model`) into its fast inference form, in place.
It is the path that ``init_model(..., fast=True)``, ``tools/test.py
--fast``, ``demo/video_demo.py --fast`` and
``tools/analysis/benchmark.py`` switch on. Steps:

1. **Attention through SDPA everywhere.** MiT's efficient attention is
   switched to
   :class:`~ddavs_mm.models.backbones.SDPAEfficientMultiheadAttention`
   (a config naming mmseg's ``MixVisionTransformer`` gets it here); HTSAT's
   window attention, the Q-Former, the bank attention and the alignment
   blocks use SDPA in every mode already.
2. **Fewer operations, same function.** The alignment blocks attend in the
   folded form (``CrossAlignmentBlock.fold_projections``: the visual tokens
   are never projected to keys, values or queries); the BatchNorm of every
   mmcv ``ConvModule`` (conv -> BN -> act) is folded into its convolution.
   The prototype bank's keys and values and HTSAT's attention bias are
   cached by their modules in eval mode whichever path runs.
3. **Weights in low precision.** ``dtype='bf16'`` casts the weights (not
   autocast: no cast kernels in the forward pass); the log-mel front end and
   the data preprocessor stay in float32 (STFT, dB scale). Frames are cast
   on entry, logits are returned in float32 (metrics and resizing see the
   same dtype as the eager model's).
4. **Memory formats.** Channels-last weights and activations in the visual
   backbone and the refiner (``channels_last``). The pyramid levels enter
   the mask decoder contiguous: MiT hands them out as channels-last views of
   its tokens, and the decoder's sum of a channels-last level with its
   contiguous upsampled levels took a third of the head's time on a CPU.
5. **torch.compile** of the two tensor stages of the segmentor
   (``extract_queries`` and ``_decode``, swapped on the instance like
   MMEngine's ``Runner`` does for ``train_step``): with CUDA graphs for
   fixed shapes (``fixed_shapes=True``, mode ``'reduce-overhead'``, lowest
   latency) or without them and with a dynamic batch size
   (``fixed_shapes=False``, throughput with varying batches, e.g. the last
   batch of a test set).

``'auto'`` settings follow the device: on a GPU bf16 weights and
compilation; on a CPU float32 and eager (there bf16 needs AVX512-BF16/AMX,
and compiling the tiny model took minutes for a few per cent, see
docs/benchmarks.md). Channels-last is on by default (it gained a few per
cent on the CPU too).

Values: in float32 the fast model equals the eager one to float rounding
(tests compare logits with ``atol=1e-4`` on logits of magnitude ~1-10); in
bf16 to bf16 rounding (tests: ``atol=0.1 * max|logit|``, masks agree on
>= 99 % of the pixels).

The optimized model is for inference only: BatchNorms are folded away and
weights may be bf16, so rebuild or reload it to train. It must not be
wrapped again by :func:`optimize_for_inference`.
"""
from typing import Callable, Optional, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

DtypeLike = Union[str, torch.dtype, None]

_DTYPES = {
    'fp32': torch.float32,
    'float32': torch.float32,
    'bf16': torch.bfloat16,
    'bfloat16': torch.bfloat16,
    'fp16': torch.float16,
    'float16': torch.float16,
}


def resolve_dtype(dtype: DtypeLike, device: torch.device) -> torch.dtype:
    """``'auto'`` -> bf16 on CUDA, float32 elsewhere; names -> dtypes.

    Raises:
        ValueError: an unknown name.
    """
    if dtype is None or dtype == 'auto':
        return torch.bfloat16 if device.type == 'cuda' else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f'unknown dtype {dtype!r}; expected one of '
                         f'{sorted(_DTYPES)} or "auto"')
    return _DTYPES[dtype]


def _auto(value: Union[str, bool], device: torch.device) -> bool:
    if value == 'auto':
        return device.type == 'cuda'
    return bool(value)


def fold_conv_bn(model: nn.Module) -> int:
    """Fold the eval-mode BatchNorm of every mmcv ``ConvModule`` whose order
    is conv -> norm -> act into its ``nn.Conv2d``, in place.

    ``y = gamma (W x + b - mu) / sqrt(var + eps) + beta`` becomes
    ``W' x + b'``; the BN module is removed (``with_norm=False``).

    Returns:
        int: number of ConvModules folded.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_weights
    count = 0
    for m in model.modules():
        if not isinstance(m, ConvModule) or not m.with_norm or \
                tuple(m.order[:2]) != ('conv', 'norm') or \
                type(m.conv) is not nn.Conv2d or \
                not isinstance(m.norm, _BatchNorm) or \
                not m.norm.track_running_stats or m.norm.training:
            continue
        bn, conv = m.norm, m.conv
        weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias,
                                            bn.running_mean, bn.running_var,
                                            bn.eps, bn.weight, bn.bias)
        conv.weight = weight
        conv.bias = bias
        delattr(m, m.norm_name)
        m.norm_name = None
        m.with_norm = False
        count += 1
    return count


def cast_for_inference(model: nn.Module, dtype: torch.dtype) -> None:
    """Cast parameters and buffers to ``dtype``, keeping the log-mel front
    end(s) and the data preprocessor in float32."""
    from ddavs_mm.models.audio_encoders import LogMelFrontend
    model.to(dtype)
    for m in model.modules():
        if isinstance(m, LogMelFrontend):
            m.float()
    preprocessor = getattr(model, 'data_preprocessor', None)
    if isinstance(preprocessor, nn.Module):
        preprocessor.float()


def _count(model: nn.Module, cls: type) -> int:
    return sum(isinstance(m, cls) for m in model.modules())


def _contiguous_levels(module: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook: make the pyramid levels (first argument, a list of
    ``[N, C, H, W]``) contiguous."""
    if not args or not isinstance(args[0], (list, tuple)):
        return args
    levels = [
        f.contiguous() if isinstance(f, torch.Tensor) and f.dim() == 4 else f
        for f in args[0]
    ]
    return (levels, ) + tuple(args[1:])


def _compile_kwargs(fixed_shapes: bool, device: torch.device,
                    mode: Optional[str]) -> dict:
    if mode is None:
        mode = 'reduce-overhead' if (fixed_shapes
                                     and device.type == 'cuda') else None
    kwargs = dict(dynamic=False if fixed_shapes else True)
    if mode is not None:
        kwargs['mode'] = mode
    return kwargs


def _uses_cuda_graphs(kwargs: dict, device: torch.device) -> bool:
    return device.type == 'cuda' and kwargs.get('mode') == 'reduce-overhead'


def _wrap(fn: Callable, compile_kwargs: Optional[dict],
          cuda_graphs: bool) -> Callable:
    """Optionally compile ``fn``; with CUDA graphs, hand out copies of its
    outputs (a later replay reuses the graph's output memory)."""
    if compile_kwargs is None:
        return fn
    compiled = torch.compile(fn, **compile_kwargs)
    if not cuda_graphs:
        return compiled

    def call(*args):
        torch.compiler.cudagraph_mark_step_begin()
        return compiled(*args).clone()

    return call


def optimize_for_inference(model: nn.Module,
                           dtype: DtypeLike = 'auto',
                           compile: Union[str, bool] = 'auto',
                           fixed_shapes: bool = True,
                           channels_last: bool = True,
                           compile_mode: Optional[str] = None,
                           fold_attention: bool = True) -> nn.Module:
    """Switch a DDAVS model to its fast inference path, in place.

    Args:
        model (nn.Module): a DDAVS segmentor (``extract_queries`` and
            ``_decode`` methods), weights loaded, on its target device.
        dtype (str | torch.dtype): weight dtype: ``'auto'`` (bf16 on CUDA,
            float32 on CPU), ``'fp32'``, ``'bf16'`` or ``'fp16'``.
        compile (str | bool): ``torch.compile`` the two stages; ``'auto'``
            = on CUDA only.
        fixed_shapes (bool): inputs keep one shape (latency, e.g. one clip
            per call): CUDA graphs. False: no CUDA graphs, dynamic batch.
        channels_last (bool): channels-last memory format in the visual
            backbone and the refiner. Defaults to True.
        compile_mode (str, optional): override the ``torch.compile`` mode
            (e.g. ``'max-autotune-no-cudagraphs'``).
        fold_attention (bool): the alignment blocks' folded attention.
            Defaults to True (fewer multiply-adds). On the tiny model on a
            CPU it made no measurable difference to the decoding stage in
            eager mode (0.97-1.01x) and a compiled CPU graph ran the
            standard form 5 % faster; see docs/benchmarks.md.

    Returns:
        nn.Module: ``model`` itself, in eval mode, with the attribute
        ``fast_inference`` (a dict of the settings and counts).

    Raises:
        TypeError: ``model`` is not a DDAVS-like segmentor.
        RuntimeError: the model was optimized already.
    """
    from ddavs_mm.models.audio_encoders.htsat import (HTSATWindowAttention,
                                                      htsat_attention_to_sdpa)
    from ddavs_mm.models.backbones import (SDPAEfficientMultiheadAttention,
                                           mit_attention_to_sdpa)
    from ddavs_mm.models.heads import CrossAlignmentBlock
    if not (hasattr(model, 'extract_queries') and hasattr(model, '_decode')):
        raise TypeError('optimize_for_inference expects a DDAVS segmentor '
                        '(with extract_queries and _decode), got '
                        f'{type(model).__name__}')
    if getattr(model, 'fast_inference', None) is not None:
        raise RuntimeError('the model is optimized for inference already')
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device('cpu')
    dtype = resolve_dtype(dtype, device)
    do_compile = _auto(compile, device)
    channels_last = bool(channels_last)

    model.eval()
    mit_attention_to_sdpa(model)
    htsat_attention_to_sdpa(model)
    info = dict(dtype=str(dtype).replace('torch.', ''),
                compile=do_compile, fixed_shapes=fixed_shapes,
                channels_last=channels_last,
                sdpa_mit_attention=_count(model,
                                          SDPAEfficientMultiheadAttention),
                sdpa_htsat_attention=_count(model, HTSATWindowAttention))
    blocks = [m for m in model.modules()
              if isinstance(m, CrossAlignmentBlock)]
    for blk in blocks:
        blk.fold_projections = bool(fold_attention)
    info['folded_alignment_blocks'] = len(blocks) if fold_attention else 0
    info['folded_conv_bn'] = fold_conv_bn(model)
    if dtype != torch.float32:
        cast_for_inference(model, dtype)
    if channels_last:
        for name in ('backbone', 'refiner'):
            part = getattr(model, name, None)
            if isinstance(part, nn.Module):
                part.to(memory_format=torch.channels_last)
    head = getattr(model, 'decode_head', None)
    for part in (head, getattr(head, 'mask_decoder', None)):
        if isinstance(part, nn.Module):
            part.register_forward_pre_hook(_contiguous_levels)

    compile_kwargs = None
    cuda_graphs = False
    if do_compile:
        compile_kwargs = _compile_kwargs(fixed_shapes, device, compile_mode)
        cuda_graphs = _uses_cuda_graphs(compile_kwargs, device)
        info['compile_kwargs'] = dict(compile_kwargs)
    info['cuda_graphs'] = cuda_graphs

    extract_queries, decode = model.extract_queries, model._decode

    def fast_decode(frames: torch.Tensor,
                    queries: torch.Tensor) -> torch.Tensor:
        if channels_last and frames.dim() == 4:
            frames = frames.contiguous(memory_format=torch.channels_last)
        return decode(frames.to(dtype), queries.to(dtype)).float()

    model.extract_queries = _wrap(extract_queries, compile_kwargs,
                                  cuda_graphs)
    model._decode = _wrap(fast_decode, compile_kwargs, cuda_graphs)
    model.fast_inference = info
    return model
