"""Clip-consistent geometric and photometric transforms.

Every transform draws its random parameters once per clip and applies the
same geometry / colour change to all ``T`` frames (``results['frames']``,
list of RGB uint8 ``[H, W, 3]``) and masks (``results['gt_masks']``, list of
uint8 ``[H, W]``, optional). Frames are resized bilinearly, masks with
nearest neighbour. Randomness comes from numpy's global RNG (seeded per
worker by MMEngine) and is drawn only in methods decorated with mmcv's
``cache_randomness``, so that ``KeyMapper`` / ``TransformBroadcaster`` (in
``cache_random_params``) can apply one draw to several inputs.
"""
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from ddavs_mm.registry import TRANSFORMS


def _pair(x: Union[int, Sequence[int]]) -> Tuple[int, int]:
    if isinstance(x, int):
        return (x, x)
    if len(x) != 2:
        raise ValueError(f'expected an int or a pair, got {x}')
    return (int(x[0]), int(x[1]))


def _shape(results: dict) -> Tuple[int, int]:
    if not results.get('frames'):
        raise KeyError('results has no "frames"; run LoadClipFrames first')
    return tuple(results['frames'][0].shape[:2])


def _apply(results: dict, frame_fn, mask_fn) -> None:
    results['frames'] = [frame_fn(f) for f in results['frames']]
    if results.get('gt_masks') is not None:
        results['gt_masks'] = [mask_fn(m) for m in results['gt_masks']]
    results['img_shape'] = tuple(results['frames'][0].shape[:2])


def _resize_all(results: dict, w: int, h: int) -> None:
    _apply(
        results,
        lambda f: cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR),
        lambda m: cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST))


def _crop_all(results: dict, y: int, x: int, h: int, w: int) -> None:
    _apply(results, lambda f: np.ascontiguousarray(f[y:y + h, x:x + w]),
           lambda m: np.ascontiguousarray(m[y:y + h, x:x + w]))


@TRANSFORMS.register_module()
class ClipResize(BaseTransform):
    """Resize every frame and mask of a clip to the same size.

    Args:
        scale (int | tuple[int, int]): target ``(w, h)``.
        keep_ratio (bool): if True, the largest size that fits in ``scale``
            (long edge <= ``max(scale)``, short edge <= ``min(scale)``) with
            the clip's aspect ratio (as mmcv's ``Resize``). Defaults to
            False.

    Added / updated keys: ``frames``, ``gt_masks``, ``img_shape``,
    ``scale_factor`` (``(w_scale, h_scale)``).
    """

    def __init__(self, scale: Union[int, Tuple[int, int]],
                 keep_ratio: bool = False) -> None:
        self.scale = _pair(scale)
        self.keep_ratio = keep_ratio

    def transform(self, results: dict) -> dict:
        h, w = _shape(results)
        if self.keep_ratio:
            long_, short = max(self.scale), min(self.scale)
            factor = min(long_ / max(h, w), short / min(h, w))
            nw, nh = int(w * factor + 0.5), int(h * factor + 0.5)
        else:
            nw, nh = self.scale
        _resize_all(results, nw, nh)
        results['scale_factor'] = (nw / w, nh / h)
        results['keep_ratio'] = self.keep_ratio
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, '
                f'keep_ratio={self.keep_ratio})')


@TRANSFORMS.register_module()
class ClipShortSideResize(BaseTransform):
    """Resize so that the short side equals ``short_side`` (aspect kept).

    Follows the AVSS train rule of AVSBench: the long side becomes
    ``int(long * short_side / short)``.

    Args:
        short_side (int): target short side. Defaults to 224.
    """

    def __init__(self, short_side: int = 224) -> None:
        self.short_side = int(short_side)

    def transform(self, results: dict) -> dict:
        h, w = _shape(results)
        s = self.short_side
        if w > h:
            nh, nw = s, int(w * s / h)
        else:
            nw, nh = s, int(h * s / w)
        _resize_all(results, nw, nh)
        results['scale_factor'] = (nw / w, nh / h)
        return results


@TRANSFORMS.register_module()
class ClipCenterCrop(BaseTransform):
    """Crop the centre ``crop_size`` of every frame and mask.

    The crop origin is ``round((W - w) / 2), round((H - h) / 2)`` as in the
    AVSS reference loader. Use after :class:`ClipShortSideResize` for the
    AVSS train rule (short side to 224 + centre crop).

    Args:
        crop_size (int | tuple[int, int]): ``(h, w)``.
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]] = 224) -> None:
        self.crop_size = _pair(crop_size)

    def transform(self, results: dict) -> dict:
        h, w = _shape(results)
        ch, cw = self.crop_size
        if ch > h or cw > w:
            raise ValueError(
                f'ClipCenterCrop: crop {self.crop_size} larger than the '
                f'frames ({h}, {w}) of clip {results.get("clip_id", "?")}')
        y, x = int(round((h - ch) / 2.)), int(round((w - cw) / 2.))
        _crop_all(results, y, x, ch, cw)
        return results


@TRANSFORMS.register_module()
class ClipRandomCrop(BaseTransform):
    """Crop the same random ``crop_size`` window from every frame and mask.

    Args:
        crop_size (int | tuple[int, int]): ``(h, w)``; frames smaller than
            it raise an error.
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]]) -> None:
        self.crop_size = _pair(crop_size)

    @cache_randomness
    def _origin(self, h: int, w: int) -> Tuple[int, int]:
        """Random top-left corner ``(y, x)`` of the crop in ``h x w``."""
        ch, cw = self.crop_size
        y = np.random.randint(0, h - ch + 1)
        x = np.random.randint(0, w - cw + 1)
        return y, x

    def transform(self, results: dict) -> dict:
        h, w = _shape(results)
        ch, cw = self.crop_size
        if ch > h or cw > w:
            raise ValueError(
                f'ClipRandomCrop: crop {self.crop_size} larger than the '
                f'frames ({h}, {w}) of clip {results.get("clip_id", "?")}')
        y, x = self._origin(h, w)
        _crop_all(results, y, x, ch, cw)
        return results


@TRANSFORMS.register_module()
class ClipRandomResizedCrop(BaseTransform):
    """Crop a random box (same for all frames) and resize it to ``scale``.

    The box has a random area fraction in ``crop_ratio_range`` and a random
    aspect ratio (w / h, log-uniform) in ``aspect_ratio_range``; after
    ``max_attempts`` failed tries the whole frame is used.

    Args:
        scale (int | tuple[int, int]): output ``(w, h)``.
        crop_ratio_range (tuple[float, float]): area fraction range.
            Defaults to ``(0.5, 1.0)``.
        aspect_ratio_range (tuple[float, float]): Defaults to
            ``(3 / 4, 4 / 3)``.
        max_attempts (int): Defaults to 10.
    """

    def __init__(self,
                 scale: Union[int, Tuple[int, int]],
                 crop_ratio_range: Tuple[float, float] = (0.5, 1.0),
                 aspect_ratio_range: Tuple[float, float] = (3. / 4., 4. / 3.),
                 max_attempts: int = 10) -> None:
        self.scale = _pair(scale)
        if not 0 < crop_ratio_range[0] <= crop_ratio_range[1] <= 1:
            raise ValueError(f'bad crop_ratio_range {crop_ratio_range}')
        if not 0 < aspect_ratio_range[0] <= aspect_ratio_range[1]:
            raise ValueError(f'bad aspect_ratio_range {aspect_ratio_range}')
        self.crop_ratio_range = tuple(crop_ratio_range)
        self.aspect_ratio_range = tuple(aspect_ratio_range)
        self.max_attempts = max_attempts

    @cache_randomness
    def _box(self, h: int, w: int) -> Tuple[int, int, int, int]:
        """Random crop box ``(y, x, h, w)`` in an ``h x w`` frame."""
        area = h * w
        log_r = np.log(self.aspect_ratio_range)
        for _ in range(self.max_attempts):
            target = area * np.random.uniform(*self.crop_ratio_range)
            ratio = np.exp(np.random.uniform(*log_r))
            cw = int(round(np.sqrt(target * ratio)))
            ch = int(round(np.sqrt(target / ratio)))
            if 0 < cw <= w and 0 < ch <= h:
                y = np.random.randint(0, h - ch + 1)
                x = np.random.randint(0, w - cw + 1)
                return y, x, ch, cw
        return 0, 0, h, w

    def transform(self, results: dict) -> dict:
        h, w = _shape(results)
        y, x, ch, cw = self._box(h, w)
        _crop_all(results, y, x, ch, cw)
        _resize_all(results, *self.scale)
        results['crop_bbox'] = (x, y, x + cw, y + ch)
        return results


@TRANSFORMS.register_module()
class ClipRandomFlip(BaseTransform):
    """Flip every frame and mask of a clip together.

    Args:
        prob (float): flip probability. Defaults to 0.5.
        direction (str): ``'horizontal'`` or ``'vertical'``.

    Added keys: ``flip`` (bool), ``flip_direction``.
    """

    def __init__(self, prob: float = 0.5,
                 direction: str = 'horizontal') -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        if direction not in ('horizontal', 'vertical'):
            raise ValueError(f'bad direction {direction}')
        self.prob = prob
        self.direction = direction

    @cache_randomness
    def _flip(self) -> bool:
        """Whether to flip this clip."""
        return bool(np.random.rand() < self.prob)

    def transform(self, results: dict) -> dict:
        flip = self._flip()
        if flip:
            axis = 1 if self.direction == 'horizontal' else 0
            fn = lambda a: np.ascontiguousarray(np.flip(a, axis=axis))  # noqa
            _apply(results, fn, fn)
        results['flip'] = flip
        results['flip_direction'] = self.direction if flip else None
        return results


@TRANSFORMS.register_module()
class ClipPhotoMetricDistortion(BaseTransform):
    """Brightness, contrast, saturation and hue jitter, same for all frames.

    Each distortion is applied with probability 0.5 (contrast before or
    after the HSV changes, chosen at random), with parameters drawn once
    per clip. Padded frames (``frame_flags`` False) stay black.

    Args:
        brightness_delta (int): Defaults to 32.
        contrast_range (tuple[float, float]): Defaults to (0.5, 1.5).
        saturation_range (tuple[float, float]): Defaults to (0.5, 1.5).
        hue_delta (int): in OpenCV hue units (0-179). Defaults to 18.
    """

    def __init__(self,
                 brightness_delta: int = 32,
                 contrast_range: Tuple[float, float] = (0.5, 1.5),
                 saturation_range: Tuple[float, float] = (0.5, 1.5),
                 hue_delta: int = 18) -> None:
        self.brightness_delta = brightness_delta
        self.contrast_range = tuple(contrast_range)
        self.saturation_range = tuple(saturation_range)
        self.hue_delta = hue_delta

    @cache_randomness
    def _params(self) -> dict:
        """The clip's distortion parameters (None = not applied)."""
        r = np.random
        p = dict(
            brightness=r.uniform(-self.brightness_delta,
                                 self.brightness_delta)
            if r.randint(2) else None,
            contrast_first=bool(r.randint(2)),
            contrast=r.uniform(*self.contrast_range)
            if r.randint(2) else None,
            saturation=r.uniform(*self.saturation_range)
            if r.randint(2) else None,
            hue=r.randint(-self.hue_delta, self.hue_delta + 1)
            if r.randint(2) else None)
        return p

    @staticmethod
    def _distort(img: np.ndarray, p: dict) -> np.ndarray:
        x = img.astype(np.float32)
        if p['brightness'] is not None:
            x = x + p['brightness']
        if p['contrast_first'] and p['contrast'] is not None:
            x = x * p['contrast']
        x = np.clip(x, 0, 255)
        if p['saturation'] is not None or p['hue'] is not None:
            hsv = cv2.cvtColor(x.astype(np.uint8), cv2.COLOR_RGB2HSV)
            hsv = hsv.astype(np.float32)
            if p['saturation'] is not None:
                hsv[..., 1] = np.clip(hsv[..., 1] * p['saturation'], 0, 255)
            if p['hue'] is not None:
                hsv[..., 0] = (hsv[..., 0] + p['hue']) % 180
            x = cv2.cvtColor(hsv.astype(np.uint8),
                             cv2.COLOR_HSV2RGB).astype(np.float32)
        if not p['contrast_first'] and p['contrast'] is not None:
            x = x * p['contrast']
        return np.clip(x, 0, 255).astype(np.uint8)

    def transform(self, results: dict) -> dict:
        p = self._params()
        flags: Optional[List[bool]] = results.get('frame_flags')
        frames = results['frames']
        results['frames'] = [
            self._distort(f, p) if flags is None or flags[t] else f
            for t, f in enumerate(frames)
        ]
        return results
