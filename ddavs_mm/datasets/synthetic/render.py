"""Rendering: textured background, textured shapes, instance maps, masks.

All drawing is aliased (cv2 ``LINE_8``), so a mask is exactly the set of
pixels painted with the object's colours; later objects in ``draw_order``
occlude earlier ones.
"""
from typing import List, Tuple

import cv2
import numpy as np

from .catalogue import CLASSES
from .scene import ClipScene, clip_rngs

_SHIFT = 4  # fixed-point bits for cv2.fillPoly


def _regular(n: int, r: float, rot: float) -> np.ndarray:
    t = np.deg2rad(rot) + np.arange(n) * 2 * np.pi / n - np.pi / 2
    return np.stack([r * np.cos(t), r * np.sin(t)], 1)


def _rotate(p: np.ndarray, deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    m = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return p @ m.T


def shape_polygon(shape: str, s: float, angle: float) -> np.ndarray:
    """Vertices (float [N, 2], centred on 0) of a shape of bounding side s."""
    r = s / 2
    if shape == 'circle':
        return _regular(48, r, 0)
    if shape == 'square':
        p = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * r * 0.72
        return _rotate(p, angle)
    if shape == 'triangle':
        return _regular(3, r, angle) + [0, r * 0.2]
    if shape == 'diamond':
        p = np.array([[0, -r], [r * .65, 0], [0, r], [-r * .65, 0]])
        return _rotate(p, angle * 0.3)
    if shape == 'hexagon':
        return _regular(6, r, angle)
    if shape == 'pentagon':
        return _regular(5, r, angle)
    if shape == 'star':
        outer, inner = _regular(5, r, angle), _regular(5, r * .45, angle + 36)
        return np.stack([outer, inner], 1).reshape(-1, 2)
    if shape == 'cross':
        a, b = r, r * 0.36
        p = np.array([[-b, -a], [b, -a], [b, -b], [a, -b], [a, b], [b, b],
                      [b, a], [-b, a], [-b, b], [-a, b], [-a, -b], [-b, -b]])
        return _rotate(p, angle)
    if shape == 'ellipse':
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        return _rotate(np.stack([r * np.cos(t), r * .6 * np.sin(t)], 1), angle)
    if shape == 'halfdisc':
        t = np.linspace(np.pi, 2 * np.pi, 25)
        p = np.stack([r * np.cos(t), r * np.sin(t) + r * .45], 1)
        return _rotate(p, angle * 0.5)
    raise ValueError(f'unknown shape {shape!r}')


def _texture(texture: str, u: np.ndarray, v: np.ndarray,
             period: float) -> np.ndarray:
    """Bool map: True where the texture's dark colour is used."""
    if texture == 'solid':
        return np.zeros(np.broadcast(u, v).shape, bool)
    if texture == 'checker':
        return ((np.floor(u / period) + np.floor(v / period)) % 2) == 1
    if texture == 'hstripes':
        return (np.floor(v / period) % 2) == 1
    if texture == 'vstripes':
        return (np.floor(u / period) % 2) == 1
    if texture == 'dstripes':
        return (np.floor((u + v) / period) % 2) == 1
    if texture == 'dots':
        du = u / period - np.round(u / period)
        dv = v / period - np.round(v / period)
        return du * du + dv * dv < 0.09
    raise ValueError(f'unknown texture {texture!r}')


def render_background(rng: np.random.Generator, side: int) -> np.ndarray:
    """Muted smooth colour field with thin clutter lines (float32 RGB)."""
    base = rng.uniform(60, 170) + rng.uniform(-30, 30, 3)
    field = cv2.resize(rng.uniform(-30, 30, (5, 5, 3)).astype(np.float32),
                       (side, side), interpolation=cv2.INTER_CUBIC)
    img = np.clip(base[None, None] + field, 0, 255).astype(np.float32)
    for _ in range(int(rng.integers(4, 12))):
        p = rng.uniform(0, side, 4).astype(int)
        col = tuple(float(x) for x in
                    np.clip(base + rng.uniform(-45, 45, 3), 0, 255))
        cv2.line(img, (p[0], p[1]), (p[2], p[3]), col,
                 int(rng.integers(1, 3)), cv2.LINE_8)
    return img


def render_clip(scene: ClipScene, seed: int
                ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    """Render every frame of a scene.

    Args:
        scene (ClipScene): The sampled scene.
        seed (int): Data set seed (selects the clip's render generator).

    Returns:
        tuple: frames, list of T uint8 [H, W, 3] RGB images; instance maps,
        list of T int16 [H, W] arrays holding the uid of the visible
        instance per pixel, -1 for background.
    """
    rng = clip_rngs(seed, scene.preset, scene.split, scene.index)[1]
    side = scene.size
    bg = render_background(rng, side)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    frames, maps = [], []
    for k in range(scene.num_frames):
        img = bg + rng.normal(0, 3.0, bg.shape).astype(np.float32)
        img += float(rng.uniform(-6, 6))
        imap = np.full((side, side), -1, np.int16)
        for uid in scene.draw_order:
            inst = scene.instances[uid]
            cls = CLASSES[inst.class_id]
            cx, cy = inst.centres[k]
            poly = shape_polygon(cls.shape, inst.size_px, inst.angle)
            pts = np.round((poly + [cx, cy]) * (1 << _SHIFT)).astype(np.int32)
            m = np.zeros((side, side), np.uint8)
            cv2.fillPoly(m, [pts], 1, cv2.LINE_8, _SHIFT)
            m = m.astype(bool)
            if not m.any():
                continue
            period = max(2.5, inst.size_px / 4.5)
            dark = _texture(cls.texture, xx[m] - cx, yy[m] - cy, period)
            col = np.asarray(cls.colour, np.float32)
            pix = np.where(dark[:, None], col * 0.45, col)
            img[m] = pix + rng.normal(0, 2.0, pix.shape).astype(np.float32)
            imap[m] = uid
        frames.append(np.clip(np.round(img), 0, 255).astype(np.uint8))
        maps.append(imap)
    return frames, maps


def sounding_mask(scene: ClipScene, imap: np.ndarray, k: int) -> np.ndarray:
    """Bool [H, W]: pixels of instances that sound in second k."""
    ids = scene.sounding_instances(k)
    return np.isin(imap, ids) if ids else np.zeros(imap.shape, bool)


def semantic_mask(scene: ClipScene, imap: np.ndarray, k: int) -> np.ndarray:
    """uint8 [H, W]: class id + 1 of sounding pixels, 0 elsewhere."""
    out = np.zeros(imap.shape, np.uint8)
    for uid in scene.sounding_instances(k):
        out[imap == uid] = scene.instances[uid].class_id + 1
    return out


def visible_mask(imap: np.ndarray) -> np.ndarray:
    """Bool [H, W]: pixels of any visible instance."""
    return imap >= 0
