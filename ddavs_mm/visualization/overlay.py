"""Mask overlays: frames with their masks blended on in class colours."""
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch

from .palette import voc_palette

ArrayLike = Union[np.ndarray, torch.Tensor]

#: Colour of the foreground of binary masks in clip overlays (RGB).
DEFAULT_BINARY_COLOR = (255, 48, 48)


def to_numpy(x: ArrayLike) -> np.ndarray:
    """A tensor (any device) or array-like as a numpy array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def frames_to_hwc(frames: ArrayLike) -> np.ndarray:
    """Frames as uint8 ``[T, H, W, 3]`` RGB.

    Accepts ``[T, H, W, 3]`` or ``[T, 3, H, W]`` (the packed layout), uint8
    or float in ``[0, 255]``; a single ``[H, W, 3]`` frame becomes ``T = 1``.
    """
    f = to_numpy(frames)
    if f.ndim == 3:
        f = f[None]
    if f.ndim != 4:
        raise ValueError(f'frames must be [T, H, W, 3] or [T, 3, H, W], got '
                         f'{f.shape}')
    if f.shape[-1] != 3 and f.shape[1] == 3:
        f = f.transpose(0, 2, 3, 1)
    if f.shape[-1] != 3:
        raise ValueError(f'frames must have 3 channels, got {f.shape}')
    if f.dtype != np.uint8:
        f = np.clip(np.round(f.astype(np.float32)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(f)


def _mask_boundary(fg: np.ndarray) -> np.ndarray:
    """Pixels of ``fg`` ``[..., H, W]`` with a 4-neighbour outside it."""
    pad_width = [(0, 0)] * (fg.ndim - 2) + [(1, 1), (1, 1)]
    pad = np.pad(fg, pad_width, constant_values=False)
    interior = (pad[..., :-2, 1:-1] & pad[..., 2:, 1:-1]
                & pad[..., 1:-1, :-2] & pad[..., 1:-1, 2:])
    return fg & ~interior


def overlay_mask(frame: np.ndarray,
                 mask: ArrayLike,
                 alpha: float = 0.5,
                 palette: Optional[Sequence[Sequence[int]]] = None,
                 ignore_index: int = 255,
                 outline: bool = False) -> np.ndarray:
    """Blend a mask onto a frame (or masks onto frames) in class colours.

    A pixel with mask value ``v`` (``0 < v``, ``v != ignore_index``) becomes
    ``(1 - alpha) * frame + alpha * palette[v]``, rounded half up;
    background (0) and ignored pixels keep the frame colour. With
    ``outline`` the mask boundaries (foreground pixels with a 4-neighbour
    outside the foreground) are drawn white, so a mask stays visible on an
    object of its own colour.

    Args:
        frame (np.ndarray): uint8 ``[..., H, W, 3]`` RGB, e.g. one frame
            ``[H, W, 3]`` or a clip ``[T, H, W, 3]``.
        mask (np.ndarray | Tensor): int ``[..., H, W]`` of the frame's
            shape: 0 = background, ``k > 0`` = class ``k`` (binary masks use
            class 1).
        alpha (float): opacity of the mask colour in ``[0, 1]``. Defaults
            to 0.5.
        palette (Sequence, optional): RGB colour per class, ``[K, 3]``;
            entry 0 (background) is unused. Defaults to the VOC palette
            (:func:`voc_palette`, 256 entries) with class 1 drawn red.
        ignore_index (int): mask value that is not drawn. Defaults to 255.
        outline (bool): draw mask boundaries in white. Defaults to False.

    Returns:
        np.ndarray: uint8 RGB of the frame's shape.

    Raises:
        ValueError: the shapes differ, ``alpha`` is outside ``[0, 1]`` or a
            mask value has no colour in ``palette``.
    """
    frame = np.asarray(frame)
    mask = to_numpy(mask)
    if frame.shape[-1:] != (3, ) or frame.shape[:-1] != mask.shape:
        raise ValueError(f'Mask shape {mask.shape} does not match frame '
                         f'shape {frame.shape[:-1]}.')
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    if palette is None:
        palette = voc_palette(256)
        palette[1] = [255, 0, 0]
    pal = np.asarray(palette, dtype=np.float32).reshape(-1, 3)
    mask = mask.astype(np.int64)
    fg = (mask > 0) & (mask != ignore_index)
    if fg.any() and int(mask[fg].max()) >= len(pal):
        raise ValueError(f'mask value {int(mask[fg].max())} has no colour '
                         f'in a palette of {len(pal)} entries')
    out = frame.astype(np.float32)
    colour = pal[np.where(fg, mask, 0)]
    out = np.where(fg[..., None], (1 - alpha) * out + alpha * colour, out)
    if outline:
        out[_mask_boundary(fg)] = 255.0
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _resize_masks(masks: np.ndarray, size: Sequence[int]) -> np.ndarray:
    h, w = size
    if masks.shape[1:] == (h, w):
        return masks
    return np.stack([
        cv2.resize(m.astype(np.int32), (w, h),
                   interpolation=cv2.INTER_NEAREST) for m in masks
    ]).astype(masks.dtype)


def draw_clip_overlay(frames: ArrayLike,
                      masks: Optional[ArrayLike] = None,
                      palette: Optional[Sequence[Sequence[int]]] = None,
                      alpha: float = 0.5,
                      gap: int = 2,
                      ignore_index: int = 255,
                      gap_value: int = 255,
                      outline: bool = False) -> np.ndarray:
    """Draw a clip's frames side by side with a coloured mask overlay.

    Each frame is blended with its mask by :func:`overlay_mask`.

    Args:
        frames (ndarray | Tensor): uint8 ``[T, H, W, 3]`` RGB (``[T, 3, H,
            W]`` accepted).
        masks (ndarray | Tensor, optional): int ``[T, H, W]`` (binary {0, 1}
            or class ids; 255 = ignore); resized with nearest neighbour if
            its size differs from the frames'. None draws the frames only.
        palette (Sequence, optional): RGB colour per class; entry 0
            (background) is unused. Defaults to black /
            :data:`DEFAULT_BINARY_COLOR` (binary).
        alpha (float): overlay opacity in ``[0, 1]``.
        gap (int): pixels between frames.
        ignore_index (int): mask value that is not drawn.
        gap_value (int): grey level of the gaps.
        outline (bool): draw mask boundaries in white. Defaults to False.

    Returns:
        np.ndarray: uint8 ``[H, T * W + (T - 1) * gap, 3]`` RGB.
    """
    f = frames_to_hwc(frames)
    t, h, w, _ = f.shape
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    out = f
    if masks is not None:
        m = to_numpy(masks)
        if m.ndim == 2:
            m = m[None]
        if m.ndim != 3 or m.shape[0] != t:
            raise ValueError(f'masks must be [T={t}, H, W], got {m.shape}')
        m = _resize_masks(m.astype(np.int64), (h, w))
        if palette is None:
            palette = [[0, 0, 0], DEFAULT_BINARY_COLOR]
        out = overlay_mask(f, m, alpha, palette, ignore_index, outline)
    if t == 1 or gap <= 0:
        return np.ascontiguousarray(np.concatenate(list(out), axis=1))
    sep = np.full((h, gap, 3), gap_value, np.uint8)
    tiles = []
    for i in range(t):
        if i:
            tiles.append(sep)
        tiles.append(out[i])
    return np.ascontiguousarray(np.concatenate(tiles, axis=1))
