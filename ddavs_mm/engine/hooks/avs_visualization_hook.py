"""Draw validation / test clips through the visualizer."""
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from mmengine.hooks import Hook
from mmengine.visualization import Visualizer

from ddavs_mm.registry import HOOKS


def _clip_frames(data_batch, i: int):
    """Frames of clip ``i`` of a collated batch (pseudo_collate: list of
    ``[T, 3, H, W]``; default_collate: ``[B, T, 3, H, W]``), or None."""
    if data_batch is None:
        return None
    inputs = data_batch.get('inputs') if isinstance(data_batch, dict) \
        else None
    samples = data_batch.get('data_samples') if inputs is not None else None
    if samples and isinstance(samples[0], (list, tuple)):
        inputs = inputs[0]  # test-time augmentation: the first (plain) one
    if isinstance(inputs, dict):
        frames = inputs.get('frames')
        return None if frames is None else frames[i]
    if isinstance(inputs, (list, tuple)) and i < len(inputs):
        item = inputs[i]
        return item.get('frames') if isinstance(item, dict) else item
    return None


def _frames_from_paths(paths: Sequence[str], size) -> np.ndarray:
    """Fallback: read the clip's frame files (black for padded '')."""
    import cv2

    from ddavs_mm.datasets.transforms.loading import read_rgb_image
    h, w = size
    out = []
    for p in paths:
        img = read_rgb_image(p) if p else np.zeros((h, w, 3), np.uint8)
        if img.shape[:2] != (h, w):
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        out.append(img)
    return np.stack(out)


@HOOKS.register_module()
class AVSVisualizationHook(Hook):
    """Draw every ``interval``-th validation / test clip.

    Each drawn clip is one image (ground-truth row over prediction row, see
    :class:`~ddavs_mm.visualization.AVSLocalVisualizer`). Without
    ``test_out_dir`` the images go to the visualizer's backends
    (``LocalVisBackend`` / ``TensorboardVisBackend``) as ``val_{clip_id}`` /
    ``test_{clip_id}``; with ``test_out_dir`` test clips are written as
    ``{test_out_dir}/{clip_id}.png`` (``tools/test.py --show-dir`` sets
    ``draw=True`` and ``test_out_dir``). A relative ``test_out_dir`` is
    placed under ``{work_dir}/{timestamp}/`` (as mmseg does).

    Clips are counted over the whole loop (not per batch), so the number of
    drawn clips is ``ceil(num_clips / interval)`` whatever the batch size.

    Args:
        draw (bool): draw at all. Defaults to False.
        interval (int): draw clip 0, interval, 2 * interval, ...
        show (bool): show each image in a window.
        wait_time (float): seconds to show.
        draw_gt (bool): draw the ground-truth row.
        draw_pred (bool): draw the prediction row.
        test_out_dir (str, optional): folder of the test PNGs.
    """

    priority = 'NORMAL'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 show: bool = False,
                 wait_time: float = 0.,
                 draw_gt: bool = True,
                 draw_pred: bool = True,
                 test_out_dir: Optional[str] = None) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        try:
            self._visualizer: Optional[Visualizer] = \
                Visualizer.get_current_instance()
        except RuntimeError:  # no visualizer built yet; taken from runner
            self._visualizer = None
        self.draw = draw
        self.interval = int(interval)
        self.show = show
        self.wait_time = wait_time
        self.draw_gt = draw_gt
        self.draw_pred = draw_pred
        self.test_out_dir = test_out_dir
        self._out_dir: Optional[str] = None
        self._count = 0

    # --------------------------------------------------------------- helpers
    def _reset(self, runner) -> None:
        self._count = 0
        self._visualizer = runner.visualizer if getattr(
            runner, 'visualizer', None) is not None else self._visualizer
        if not self.draw:
            return
        if self._visualizer is None:
            raise RuntimeError('AVSVisualizationHook needs a visualizer '
                               '(the `visualizer` config entry)')
        if not hasattr(self._visualizer, 'draw_clip'):
            raise TypeError(
                f'AVSVisualizationHook needs AVSLocalVisualizer, got '
                f'{type(self._visualizer).__name__}; set visualizer = '
                "dict(type='AVSLocalVisualizer', ...)")
        if self.show:  # as mmseg: showing replaces the backends
            self._visualizer._vis_backends = {}

    def _draw_batch(self, runner, data_batch, outputs, mode: str) -> None:
        if not self.draw or outputs is None:
            return
        for i, sample in enumerate(outputs):
            idx = self._count
            self._count += 1
            if idx % self.interval:
                continue
            frames = _clip_frames(data_batch, i)
            if frames is None:
                ref = sample.get('gt_masks', sample.get('pred_masks', None))
                if ref is None:
                    continue
                frames = _frames_from_paths(
                    sample.metainfo.get('frame_paths', []),
                    tuple(ref.shape[-2:]))
            clip_id = str(sample.metainfo.get('clip_id', idx))
            out_file = None
            if mode == 'test' and self._out_dir is not None:
                out_file = osp.join(self._out_dir, f'{clip_id}.png')
            self._visualizer.add_datasample(
                f'{mode}_{clip_id}',
                frames,
                data_sample=sample,
                draw_gt=self.draw_gt,
                draw_pred=self.draw_pred,
                show=self.show,
                wait_time=self.wait_time,
                out_file=out_file,
                step=runner.iter if mode == 'val' else idx)

    # ---------------------------------------------------------------- hooks
    def before_val_epoch(self, runner) -> None:
        self._reset(runner)

    def before_test_epoch(self, runner) -> None:
        self._reset(runner)
        if self.draw and self.test_out_dir is not None:
            d = self.test_out_dir
            if not osp.isabs(d):
                d = osp.join(runner.work_dir, runner.timestamp, d)
            os.makedirs(d, exist_ok=True)
            self._out_dir = d
        else:
            self._out_dir = None

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs: Optional[Sequence] = None) -> None:
        self._draw_batch(runner, data_batch, outputs, 'val')

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        self._draw_batch(runner, data_batch, outputs, 'test')
