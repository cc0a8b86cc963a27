"""Clip visualisation: frames side by side with coloured mask overlays."""
import os
import os.path as osp
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch
from mmengine.visualization import Visualizer

from ddavs_mm.registry import VISUALIZERS

ArrayLike = Union[np.ndarray, torch.Tensor]

#: Colour of the foreground of binary masks (RGB).
DEFAULT_BINARY_COLOR = (255, 48, 48)


def _to_numpy(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def frames_to_hwc(frames: ArrayLike) -> np.ndarray:
    """Frames as uint8 ``[T, H, W, 3]`` RGB.

    Accepts ``[T, H, W, 3]`` or ``[T, 3, H, W]`` (the packed layout), uint8
    or float in ``[0, 255]``; a single ``[H, W, 3]`` frame becomes ``T = 1``.
    """
    f = _to_numpy(frames)
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


def _resize_masks(masks: np.ndarray, size: Sequence[int]) -> np.ndarray:
    h, w = size
    if masks.shape[1:] == (h, w):
        return masks
    return np.stack([
        cv2.resize(m.astype(np.int32), (w, h),
                   interpolation=cv2.INTER_NEAREST) for m in masks
    ]).astype(masks.dtype)


def _mask_boundary(fg: np.ndarray) -> np.ndarray:
    """Pixels of ``fg`` [T, H, W] with a 4-neighbour outside it."""
    pad = np.pad(fg, ((0, 0), (1, 1), (1, 1)), constant_values=False)
    interior = (pad[:, :-2, 1:-1] & pad[:, 2:, 1:-1] & pad[:, 1:-1, :-2]
                & pad[:, 1:-1, 2:])
    return fg & ~interior


def draw_clip_overlay(frames: ArrayLike,
                      masks: Optional[ArrayLike] = None,
                      palette: Optional[Sequence[Sequence[int]]] = None,
                      alpha: float = 0.5,
                      gap: int = 2,
                      ignore_index: int = 255,
                      gap_value: int = 255,
                      outline: bool = False) -> np.ndarray:
    """Draw a clip's frames side by side with a coloured mask overlay.

    A pixel with mask value ``v`` (``0 < v``, ``v != ignore_index``) is
    blended as ``(1 - alpha) * frame + alpha * palette[v]``; background (0)
    and ignored pixels keep the frame colour. With ``outline`` the mask
    boundaries are drawn white, so a mask stays visible on an object of its
    own colour.

    Args:
        frames (ndarray | Tensor): uint8 ``[T, H, W, 3]`` RGB (``[T, 3, H,
            W]`` accepted).
        masks (ndarray | Tensor, optional): int ``[T, H, W]`` (binary {0, 1}
            or class ids; 255 = ignore); resized with nearest neighbour if
            its size differs from the frames'. None draws the frames only.
        palette (Sequence, optional): RGB colour per class; entry 0
            (background) is unused. Defaults to black / red (binary).
        alpha (float): overlay opacity in ``[0, 1]``.
        gap (int): pixels between frames.
        outline (bool): draw mask boundaries in white. Defaults to False.
        ignore_index (int): mask value that is not drawn.
        gap_value (int): grey level of the gaps.

    Returns:
        np.ndarray: uint8 ``[H, T * W + (T - 1) * gap, 3]`` RGB.
    """
    f = frames_to_hwc(frames)
    t, h, w, _ = f.shape
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    out = f.astype(np.float32)
    if masks is not None:
        m = _to_numpy(masks)
        if m.ndim == 2:
            m = m[None]
        if m.ndim != 3 or m.shape[0] != t:
            raise ValueError(f'masks must be [T={t}, H, W], got {m.shape}')
        m = _resize_masks(m.astype(np.int64), (h, w))
        pal = np.asarray(
            palette if palette is not None else [[0, 0, 0],
                                                 DEFAULT_BINARY_COLOR],
            dtype=np.float32).reshape(-1, 3)
        fg = (m > 0) & (m != ignore_index)
        if fg.any() and int(m[fg].max()) >= len(pal):
            raise ValueError(f'mask value {int(m[fg].max())} has no colour '
                             f'in a palette of {len(pal)} entries')
        colour = pal[np.where(fg, m, 0)]
        out = np.where(fg[..., None], (1 - alpha) * out + alpha * colour,
                       out)
        if outline:
            out[_mask_boundary(fg)] = 255.0
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if t == 1 or gap <= 0:
        return np.ascontiguousarray(np.concatenate(list(out), axis=1))
    sep = np.full((h, gap, 3), gap_value, np.uint8)
    tiles = []
    for i in range(t):
        if i:
            tiles.append(sep)
        tiles.append(out[i])
    return np.ascontiguousarray(np.concatenate(tiles, axis=1))


@VISUALIZERS.register_module()
class AVSLocalVisualizer(Visualizer):
    """Draws AVS clips: one row of ground-truth overlays over one row of
    predicted overlays (frames side by side), sent to the vis backends.

    Binary masks are drawn in ``binary_color``; semantic masks with the
    palette of ``dataset_meta`` (set by the Runner from the dataset's
    metainfo) or the VOC bit-shift palette.

    Args:
        name (str): instance name. Defaults to ``'visualizer'``.
        image (ndarray, optional): initial image.
        vis_backends (list[dict], optional): e.g.
            ``[dict(type='LocalVisBackend'),
            dict(type='TensorboardVisBackend')]``.
        save_dir (str, optional): backends' save folder (the Runner sets it).
        alpha (float): overlay opacity. Defaults to 0.5.
        binary_color (Sequence[int]): RGB colour of binary foreground.
        gap (int): pixels between frames and between rows.
        outline (bool): draw mask boundaries in white. Defaults to False.
        draw_padded (bool): also draw padded frames (``frame_flags`` False,
            e.g. AVSS v1s frames 5-9). Defaults to False.
        dataset_meta (dict, optional): ``classes`` / ``palette``.
        **kwargs: other :class:`mmengine.visualization.Visualizer` arguments.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[list] = None,
                 save_dir: Optional[str] = None,
                 alpha: float = 0.5,
                 binary_color: Sequence[int] = DEFAULT_BINARY_COLOR,
                 gap: int = 2,
                 draw_padded: bool = False,
                 dataset_meta: Optional[dict] = None,
                 outline: bool = False,
                 **kwargs) -> None:
        super().__init__(name=name, image=image, vis_backends=vis_backends,
                         save_dir=save_dir, **kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'alpha must be in [0, 1], got {alpha}')
        self.alpha = float(alpha)
        self.outline = bool(outline)
        self.binary_color = tuple(int(c) for c in binary_color)
        self.gap = int(gap)
        self.draw_padded = draw_padded
        if dataset_meta is not None:
            self.dataset_meta = dataset_meta

    # ------------------------------------------------------------------ utils
    def palette_for(self, mask_mode: str, num_classes: Optional[int] = None
                    ) -> np.ndarray:
        """``[K, 3]`` uint8 palette for ``'binary'`` or ``'semantic'``."""
        if mask_mode == 'binary':
            return np.array([[0, 0, 0], self.binary_color], np.uint8)
        meta = getattr(self, 'dataset_meta', None) or {}
        pal = meta.get('palette')
        if pal is not None and len(pal) >= max(2, num_classes or 0):
            return np.asarray(pal, np.uint8).reshape(-1, 3)
        from ddavs_mm.datasets.base_avs_dataset import voc_palette
        return np.asarray(voc_palette(max(256, num_classes or 0)), np.uint8)

    def draw_clip(self,
                  frames: ArrayLike,
                  gt_masks: Optional[ArrayLike] = None,
                  pred_masks: Optional[ArrayLike] = None,
                  mask_mode: str = 'binary',
                  frame_flags: Optional[ArrayLike] = None,
                  num_classes: Optional[int] = None) -> np.ndarray:
        """Compose the clip image.

        Args:
            frames: uint8 ``[T, H, W, 3]`` or ``[T, 3, H, W]``.
            gt_masks, pred_masks: int ``[T, H, W]`` (optional each).
            mask_mode (str): ``'binary'`` or ``'semantic'``.
            frame_flags: bool ``[T]``; padded frames are left out unless
                ``draw_padded``.
            num_classes (int, optional): for the semantic palette.

        Returns:
            np.ndarray: uint8 RGB ``[R * H + (R - 1) * gap, T' * W + (T' -
            1) * gap, 3]``, ``R`` = number of mask rows given (1 when none),
            top row ground truth, bottom row prediction.
        """
        f = frames_to_hwc(frames)
        keep = np.arange(f.shape[0])
        if frame_flags is not None and not self.draw_padded:
            flags = _to_numpy(frame_flags).astype(bool).reshape(-1)
            if flags.shape[0] != f.shape[0]:
                raise ValueError(f'{flags.shape[0]} frame_flags for '
                                 f'{f.shape[0]} frames')
            if flags.any():
                keep = np.flatnonzero(flags)
        pal = self.palette_for(mask_mode, num_classes)
        rows = []
        for masks in (gt_masks, pred_masks):
            if masks is None:
                continue
            m = _to_numpy(masks)
            if m.ndim == 4 and m.shape[1] == 1:
                m = m[:, 0]
            if m.shape[0] != f.shape[0]:
                raise ValueError(f'{m.shape[0]} masks for {f.shape[0]} '
                                 'frames')
            rows.append(
                draw_clip_overlay(f[keep], m[keep], pal, self.alpha,
                                  self.gap, outline=self.outline))
        if not rows:
            rows.append(draw_clip_overlay(f[keep], None, gap=self.gap))
        if len(rows) == 1 or self.gap <= 0:
            return np.concatenate(rows, 0)
        sep = np.full((self.gap, rows[0].shape[1], 3), 255, np.uint8)
        return np.concatenate([rows[0], sep, rows[1]], 0)

    # ------------------------------------------------------------ mmengine
    def add_datasample(self,
                       name: str,
                       image: ArrayLike,
                       data_sample=None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0) -> np.ndarray:
        """Draw one clip and send it to the backends (or ``out_file``).

        Args:
            name (str): image name (backend key).
            image: the clip's frames, uint8 ``[T, H, W, 3]`` or ``[T, 3, H,
                W]``.
            data_sample (AVSDataSample, optional): ``gt_masks`` /
                ``pred_masks`` ``[T, H, W]``, ``frame_flags`` and metainfo
                ``mask_mode`` / ``num_classes``.
            draw_gt, draw_pred (bool): which rows to draw.
            show (bool): show in a window.
            wait_time (float): seconds to show.
            out_file (str, optional): write the PNG there instead of sending
                it to the backends.
            step (int): global step for the backends.

        Returns:
            np.ndarray: the drawn uint8 RGB image.
        """
        gt = pred = flags = None
        mode, ncls = 'binary', None
        if data_sample is not None:
            if draw_gt:
                gt = data_sample.get('gt_masks', None)
            if draw_pred:
                pred = data_sample.get('pred_masks', None)
            flags = data_sample.get('frame_flags', None)
            meta = data_sample.metainfo
            ncls = meta.get('num_classes')
            mode = meta.get('mask_mode') or (
                getattr(self, 'dataset_meta', None) or {}).get(
                    'mask_mode', 'binary')
        drawn = self.draw_clip(image, gt, pred, mode, flags, ncls)
        self.set_image(drawn)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            d = osp.dirname(out_file)
            if d:
                os.makedirs(d, exist_ok=True)
            if not cv2.imwrite(out_file, drawn[..., ::-1]):
                raise OSError(f'could not write {out_file}')
        else:
            self.add_image(name, drawn, step)
        return drawn
