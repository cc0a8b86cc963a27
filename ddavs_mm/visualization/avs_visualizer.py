"""Clip visualisation: frames side by side with coloured mask overlays."""
import os
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np
from mmengine.visualization import Visualizer

from ddavs_mm.registry import VISUALIZERS
from .overlay import (DEFAULT_BINARY_COLOR, ArrayLike, draw_clip_overlay,
                      frames_to_hwc, to_numpy)
from .palette import voc_palette


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
            flags = to_numpy(frame_flags).astype(bool).reshape(-1)
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
            m = to_numpy(masks)
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
