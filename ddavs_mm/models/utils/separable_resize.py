"""Bilinear resizing as two matrix products.

``F.interpolate(x, size, mode='bilinear')`` is separable: resizing an
``h x w`` map to ``H x W`` is ``A_h @ x @ A_w^T`` with two small
interpolation matrices (``[H, h]`` and ``[W, w]``, at most two non-zeros per
row). Written that way, forward and backward are dense matrix products. On a
CPU the backward of ``upsample_bilinear2d`` is a scatter loop and was a tenth
of a training step of the tiny DDAVS; the matrix form computes the same
values (to float rounding) several times faster.
"""
from functools import lru_cache
from typing import Sequence, Tuple

import torch


@lru_cache(maxsize=64)
@torch.inference_mode(False)  # cached: must stay usable by autograd later
def _matrix_fp64(n_in: int, n_out: int, align_corners: bool) -> torch.Tensor:
    dst = torch.arange(n_out, dtype=torch.float64)
    if align_corners:
        scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.
        src = dst * scale
    else:
        # PyTorch's area_pixel_compute_source_index for a given output size
        src = ((dst + 0.5) * (n_in / n_out) - 0.5).clamp(min=0.)
    i0 = src.floor().long().clamp(max=n_in - 1)
    i1 = (i0 + 1).clamp(max=n_in - 1)
    frac = src - i0.to(torch.float64)
    mat = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    mat.index_put_((rows, i0), 1. - frac, accumulate=True)
    mat.index_put_((rows, i1), frac, accumulate=True)
    return mat


def bilinear_resize_matrix(n_in: int,
                           n_out: int,
                           align_corners: bool = False,
                           dtype: torch.dtype = torch.float32,
                           device=None) -> torch.Tensor:
    """The ``[n_out, n_in]`` matrix of 1-D linear interpolation.

    Row ``j`` holds the weights of output position ``j``, computed as
    PyTorch's bilinear ``F.interpolate`` does for an output *size* (not a
    scale factor). Each row sums to 1.

    Args:
        n_in (int): input length (>= 1).
        n_out (int): output length (>= 1).
        align_corners (bool): as in ``F.interpolate``.
        dtype (torch.dtype): of the returned matrix.
        device: of the returned matrix.

    Returns:
        Tensor: ``[n_out, n_in]``, cached per sizes, dtype and device (so
        a GPU forward pass copies nothing from the host); do not modify it
        in place.
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f'sizes must be >= 1, got n_in={n_in}, '
                         f'n_out={n_out}')
    return _matrix(int(n_in), int(n_out), bool(align_corners), dtype,
                   torch.device(device) if device is not None else
                   torch.device('cpu'))


@lru_cache(maxsize=256)
@torch.inference_mode(False)  # cached: must stay usable by autograd later
def _matrix(n_in: int, n_out: int, align_corners: bool, dtype: torch.dtype,
            device: torch.device) -> torch.Tensor:
    # cached per dtype and device: no host-to-device copy per forward pass
    return _matrix_fp64(n_in, n_out, align_corners).to(dtype=dtype,
                                                       device=device)


def resize_bilinear(x: torch.Tensor,
                    size: Sequence[int],
                    align_corners: bool = False) -> torch.Tensor:
    """Bilinear resize of ``[..., h, w]`` to ``[..., H, W]`` by matrix
    products; same values as ``F.interpolate(x, size, mode='bilinear',
    align_corners=align_corners)`` for 4-D ``x``.

    Args:
        x (Tensor): ``[..., h, w]``, floating point.
        size (Sequence[int]): ``(H, W)``.
        align_corners (bool): as in ``F.interpolate``.

    Returns:
        Tensor: ``[..., H, W]``.
    """
    out_h, out_w = _size2(size)
    h, w = x.shape[-2:]
    if (h, w) == (out_h, out_w):
        return x
    if w != out_w:
        x = x @ bilinear_resize_matrix(w, out_w, align_corners, x.dtype,
                                       x.device).t()
    if h != out_h:
        x = bilinear_resize_matrix(h, out_h, align_corners, x.dtype,
                                   x.device) @ x
    return x


def _size2(size: Sequence[int]) -> Tuple[int, int]:
    if len(size) != 2:
        raise ValueError(f'size must be (H, W), got {tuple(size)}')
    return int(size[0]), int(size[1])
