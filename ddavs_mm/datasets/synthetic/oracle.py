"""Reference scores: the visual-only oracle and the TPAVI frame IoU.

The *visual-only oracle* segments every visible object in every frame, i.e.
the best a model that does not listen can do if it segments all candidates.
The *audio oracle* segments exactly the sounding objects (J = 1).
"""
import os.path as osp
from typing import Dict, Sequence

import cv2
import numpy as np

from .generator import iter_rendered_clips, load_info
from .render import sounding_mask, visible_mask


def tpavi_frame_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """TPAVI frame IoU of bool masks; empty GT -> true-negative fraction."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    if pred.shape != gt.shape:
        raise ValueError(f'shape mismatch {pred.shape} vs {gt.shape}')
    if not gt.any():
        return float(np.mean(~pred))
    inter = np.logical_and(pred, gt).sum()
    return float(inter / np.logical_or(pred, gt).sum())


def tpavi_miou(preds: Sequence[np.ndarray],
               gts: Sequence[np.ndarray]) -> float:
    """Mean TPAVI IoU over frames."""
    if len(preds) != len(gts) or not preds:
        raise ValueError('need equally many (>0) predictions and masks')
    return float(np.mean([tpavi_frame_iou(p, g) for p, g in zip(preds, gts)]))


def _read_gt(path: str) -> np.ndarray:
    m = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if m is None:
        raise FileNotFoundError(f'cannot read mask {path}')
    return m > 0


def oracle_scores(root: str, split: str = 'test') -> Dict[str, float]:
    """J of the visual-only and audio oracles on a generated split.

    Scenes are re-sampled from the sidecar's seed; ground truth is read from
    the written masks (AVSS: any non-background class counts).

    Returns:
        dict: ``visual_only_j``, ``audio_oracle_j``, ``num_frames`` and
        ``empty_fraction`` (frames whose ground truth is empty).
    """
    vis, aud, empty = [], [], 0
    for rec, scene, maps in iter_rendered_clips(load_info(root), split):
        for k, rel in enumerate(rec['mask_paths']):
            if rel is None:
                continue
            gt = _read_gt(osp.join(root, rel))
            empty += int(not gt.any())
            vis.append(tpavi_frame_iou(visible_mask(maps[k]), gt))
            aud.append(tpavi_frame_iou(sounding_mask(scene, maps[k], k), gt))
    if not vis:
        raise ValueError(f'no annotated frames in split {split!r} of {root}')
    return dict(visual_only_j=float(np.mean(vis)),
                audio_oracle_j=float(np.mean(aud)), num_frames=len(vis),
                empty_fraction=empty / len(vis))


def visual_only_oracle_j(root: str, split: str = 'test') -> float:
    """TPAVI J of segmenting every visible object (:func:`oracle_scores`)."""
    return oracle_scores(root, split)['visual_only_j']
