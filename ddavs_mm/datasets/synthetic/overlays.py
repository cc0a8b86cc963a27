"""Overlay images: frames with sounding and silent objects marked.

Sounding instances: translucent green fill + solid green outline.
Silent instances: thin red dashed outline. The strip above each frame lists
what is heard in that second (``*`` = off-screen, letters = size bin).
"""
import os
import os.path as osp
from typing import Dict, List, Optional

import cv2
import numpy as np

from ...visualization.overlay import overlay_mask
from .catalogue import CLASSES, SIZE_BINS
from .generator import load_info
from .render import render_clip
from .scene import ClipScene, sample_scene

_GREEN = (40, 230, 40)
_RED = (235, 30, 30)


def _dashed(img: np.ndarray, contour: np.ndarray, colour, dash: int = 4
            ) -> None:
    pts = contour.reshape(-1, 2)
    for i in range(len(pts)):
        if (i // dash) % 2 == 0:
            a, b = pts[i], pts[(i + 1) % len(pts)]
            cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])),
                     colour, 1, cv2.LINE_AA)


def _heard(scene: ClipScene, k: int) -> str:
    parts = []
    for s in scene.audible_sources(k):
        tag = SIZE_BINS[s.size_bin][0][0].upper()
        parts.append(f"{CLASSES[s.class_id].name}{tag}"
                     f"{'' if s.onscreen else '*'}")
    return ' '.join(parts) if parts else '(silence)'


def draw_scene_overlay(scene: ClipScene, seed: int,
                       scale: int = 2) -> np.ndarray:
    """One row of annotated frames of a clip, drawn from its scene.

    Sounding instances get a 40 % green fill (:func:`overlay_mask`) and a
    green outline, silent ones a red dashed outline; a strip above each
    frame lists what is heard.

    Args:
        scene (ClipScene): The clip's scene.
        seed (int): Data set seed (selects the render generator).
        scale (int): Integer up-scaling of the frames.

    Returns:
        np.ndarray: uint8 [H', W', 3] RGB image.
    """
    frames, maps = render_clip(scene, seed)
    tiles = []
    for k, (img, imap) in enumerate(zip(frames, maps)):
        img = cv2.resize(img, None, fx=scale, fy=scale,
                         interpolation=cv2.INTER_NEAREST)
        imap = cv2.resize(imap.astype(np.int32), None, fx=scale, fy=scale,
                          interpolation=cv2.INTER_NEAREST)
        sounding = set(scene.sounding_instances(k))
        out = img.copy()
        for inst in scene.instances:
            m = (imap == inst.uid).astype(np.uint8)
            if not m.any():
                continue
            cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL,
                                     cv2.CHAIN_APPROX_NONE)
            if inst.uid in sounding:
                out = overlay_mask(out, m, 0.4, [(0, 0, 0), _GREEN])
                cv2.drawContours(out, cs, -1, _GREEN, 2, cv2.LINE_AA)
            else:
                for c in cs:
                    _dashed(out, c, _RED)
        head = np.full((22, out.shape[1], 3), 255, np.uint8)
        cv2.putText(head, f't={k}: {_heard(scene, k)}', (3, 15),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([head, out], 0))
        tiles.append(np.full((tiles[-1].shape[0], 4, 3), 255, np.uint8))
    return np.concatenate(tiles[:-1], 1)


def write_overlays(root: str, out_dir: str, split: str = 'test',
                   clip_indices: Optional[List[int]] = None, num: int = 3,
                   prefix: str = 'synthetic', scale: int = 2) -> List[str]:
    """Write overlay PNGs for some clips of a generated data set.

    Args:
        root (str): Generated data set (holds ``synthetic_info.json``).
        out_dir (str): Where the PNGs go.
        split (str): Split to draw from.
        clip_indices (list[int], optional): Clip indices; default the first
            ``num``.
        prefix (str): File-name prefix; files are
            ``{prefix}_{preset}_{split}_{index}.png``.
        scale (int): Integer up-scaling of the frames.

    Returns:
        list[str]: Written paths.
    """
    info: Dict = load_info(root)
    n = info['splits'][split]
    idx = clip_indices if clip_indices is not None else list(
        range(min(num, n)))
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for i in idx:
        if not 0 <= i < n:
            raise IndexError(f'clip index {i} outside split {split!r} '
                             f'(0..{n - 1})')
        scene = sample_scene(info['seed'], info['preset'], split, i,
                             info['size'], info['frames'])
        img = draw_scene_overlay(scene, info['seed'], scale)
        p = osp.join(out_dir, f"{prefix}_{info['preset']}_{split}_{i}.png")
        if not cv2.imwrite(p, img[..., ::-1]):
            raise OSError(f'could not write {p}')
        paths.append(p)
    return paths
