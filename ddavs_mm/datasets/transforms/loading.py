"""Loading of clip frames and masks."""
from functools import lru_cache
from typing import List, Optional, Sequence

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio

from ddavs_mm.registry import TRANSFORMS
from ddavs_mm.visualization.palette import voc_palette

IGNORE_INDEX = 255


def read_file_bytes(path: str, what: str,
                    backend_args: Optional[dict] = None) -> bytes:
    """Read a file's bytes through MMEngine's file backends.

    Local paths, ``http(s)://`` URLs and the other storages of
    :mod:`mmengine.fileio` are read alike (``backend_args`` selects and
    configures the backend, as in mmcv's ``LoadImageFromFile``).

    Args:
        path (str): file path or URL.
        what (str): what the file holds, for error messages (``'Frame'``).
        backend_args (dict, optional): arguments of the file backend.

    Returns:
        bytes: the file's content.

    Raises:
        FileNotFoundError: the file does not exist.
        OSError: any other failure to read it. Both name the file.
    """
    try:
        return fileio.get(path, backend_args=backend_args)
    except FileNotFoundError as e:
        raise FileNotFoundError(f'{what} file not found: {path}') from e
    except Exception as e:  # backends raise OSError, HTTPError, ...
        raise OSError(f'Cannot read {what} file {path}: {e}') from e


def read_rgb_image(path: str,
                   backend_args: Optional[dict] = None) -> np.ndarray:
    """Read an image file as RGB uint8 ``[H, W, 3]``.

    Bytes by :func:`read_file_bytes`, decoded by ``mmcv.imfrombytes`` (cv2,
    colour, EXIF orientation applied).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be decoded (names the file).
    """
    data = read_file_bytes(path, 'Frame', backend_args)
    img = None
    if data:
        try:
            img = mmcv.imfrombytes(data, flag='color', channel_order='rgb',
                                   backend='cv2')
        except cv2.error:  # colour conversion of a failed decode
            img = None
    if img is None:
        raise ValueError(f'Corrupt or unreadable frame image: {path}')
    return img


def read_mask_array(path: str,
                    backend_args: Optional[dict] = None) -> np.ndarray:
    """Read a mask image without colour conversion.

    Bytes by :func:`read_file_bytes`, decoded by ``mmcv.imfrombytes``
    (pillow, ``'unchanged'``, as mmseg's ``LoadAnnotations``): palette
    (``P``) and grey images give their pixel values, 1-bit images 0 / 1,
    16-bit images their values (which must lie in 0..255), colour images
    RGB without alpha, grey + alpha images the grey value on 3 channels.

    Returns:
        np.ndarray: ``[H, W]`` (palette indices / grey values) or
        ``[H, W, 3]`` (RGB) uint8.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be decoded or holds values outside
            0..255 (names the file).
    """
    data = read_file_bytes(path, 'Mask', backend_args)
    try:
        arr = mmcv.imfrombytes(data, flag='unchanged', backend='pillow')
    except Exception as e:  # PIL raises many types for corrupt files
        raise ValueError(f'Corrupt or unreadable mask image: {path} '
                         f'({e})') from e
    if arr.ndim == 3:
        if arr.shape[2] >= 3:  # BGR(A) from imfrombytes -> RGB
            return np.ascontiguousarray(arr[..., 2::-1])
        return np.repeat(arr[..., :1], 3, axis=2)  # grey + alpha
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f'Mask {path} has {arr.dtype} pixels; expected '
                         f'integer labels')
    if arr.max(initial=0) > 255 or arr.min(initial=0) < 0:
        raise ValueError(f'Mask {path} has values outside 0..255')
    return arr.astype(np.uint8)


@lru_cache(maxsize=8)
def _palette_lookup(num_classes: int) -> dict:
    return {(r << 16) | (g << 8) | b: i
            for i, (r, g, b) in enumerate(voc_palette(num_classes))}


def rgb_to_index(rgb: np.ndarray, num_classes: int, path: str) -> np.ndarray:
    """Convert a colour label ``[H, W, 3]`` to class indices with the VOC
    bit-shift palette; a colour outside the palette raises (naming the
    file)."""
    lookup = _palette_lookup(num_classes)
    code = (rgb[..., 0].astype(np.int64) << 16) | \
        (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2].astype(np.int64)
    uniq, inv = np.unique(code, return_inverse=True)
    out_vals = np.empty(len(uniq), dtype=np.uint8)
    for k, c in enumerate(uniq):
        if int(c) not in lookup:
            raise ValueError(
                f'Mask {path} has colour {(c >> 16, (c >> 8) & 255, c & 255)}'
                f' which is not in the {num_classes}-class palette')
        out_vals[k] = lookup[int(c)]
    return out_vals[inv].reshape(code.shape)


@TRANSFORMS.register_module()
class LoadClipFrames(BaseTransform):
    """Load the ``T`` frames of a clip as RGB uint8 arrays.

    Required keys: ``frame_paths`` (``''`` = padded frame), optional
    ``frame_flags``, ``num_frames``, ``clip_id``.

    Added keys: ``frames`` (list of ``T`` arrays ``[H, W, 3]`` uint8, RGB;
    padded frames are black), ``img_shape``, ``ori_shape`` (``(H, W)``).

    Args:
        backend_args (dict, optional): arguments of the
            :mod:`mmengine.fileio` backend the files are read with (e.g.
            ``dict(backend='petrel')``); None infers it from the path, a
            local path reads the disk. Defaults to None.

    Raises:
        FileNotFoundError / ValueError: a frame file is missing or corrupt,
            the clip's frames differ in size, the number of frames differs
            from ``num_frames`` or a clip has only padded frames. The message
            names the file (or clip).
    """

    def __init__(self, backend_args: Optional[dict] = None) -> None:
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        paths: List[str] = list(results['frame_paths'])
        clip = results.get('clip_id', '?')
        where = next((p for p in paths if p), '')
        expected = results.get('num_frames')
        if expected is not None and len(paths) != expected:
            raise ValueError(
                f'Clip {clip} ({where or "no frame file"}) has {len(paths)} '
                f'frame paths but the dataset expects {expected}')
        flags = results.get('frame_flags')
        if flags is None:
            flags = [bool(p) for p in paths]
            results['frame_flags'] = flags
        if len(flags) != len(paths):
            raise ValueError(f'Clip {clip}: {len(flags)} frame_flags for '
                             f'{len(paths)} frames')
        frames: List[Optional[np.ndarray]] = []
        shape = None
        for p, real in zip(paths, flags):
            if bool(p) != bool(real):
                raise ValueError(
                    f'Clip {clip}: frame "{p}" has frame_flag {real}; '
                    f'padded frames must have an empty path and vice versa')
            if not p:
                frames.append(None)
                continue
            img = read_rgb_image(p, self.backend_args)
            if shape is None:
                shape = img.shape[:2]
            elif img.shape[:2] != shape:
                raise ValueError(f'Frame {p} has size {img.shape[:2]} but '
                                 f'the clip\'s first frame has {shape}')
            frames.append(img)
        if shape is None:
            raise ValueError(f'Clip {clip} has only padded frames')
        results['frames'] = [
            f if f is not None else np.zeros((*shape, 3), np.uint8)
            for f in frames
        ]
        results['img_shape'] = tuple(shape)
        results['ori_shape'] = tuple(shape)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(backend_args={self.backend_args})'


@TRANSFORMS.register_module()
class LoadClipMasks(BaseTransform):
    """Load the ``T`` masks of a clip as uint8 ``[H, W]`` label maps.

    Per frame: a mask file is decoded by ``mask_encoding`` (see
    :data:`ddavs_mm.datasets.base_avs_dataset.MASK_ENCODINGS`); a frame
    without mask (``mask_paths[t] is None``) is all 255 (ignore) when it is a
    real frame and all 0 (background) when it is padded
    (``frame_flags[t] is False``).

    Output values: ``mask_mode == 'binary'``: {0, 1, 255};
    ``'semantic'``: class ids in ``[0, num_classes)`` or 255.

    Args:
        mask_mode (str, optional): override of the clip's ``mask_mode``.
        backend_args (dict, optional): arguments of the
            :mod:`mmengine.fileio` backend the files are read with; None
            infers it from the path. Defaults to None.

    Required keys: ``mask_paths``, ``mask_encoding``, ``mask_mode``,
    ``frame_flags``; ``ori_shape`` (from :class:`LoadClipFrames`) when a
    clip has a frame without mask file; ``num_classes`` for semantic
    encodings; ``mask_labels`` and ``mask_value_map`` for VPO.

    Added keys: ``gt_masks`` (list of ``T`` uint8 ``[H, W]``), at the
    frames' original size: a test pipeline loads them after its resize, so
    predictions are scored against the masks as stored (as mmseg's test
    pipelines load annotations after ``Resize``).
    """

    def __init__(self,
                 mask_mode: Optional[str] = None,
                 backend_args: Optional[dict] = None) -> None:
        if mask_mode not in (None, 'binary', 'semantic'):
            raise ValueError(f'mask_mode must be binary or semantic, got '
                             f'{mask_mode}')
        self.mask_mode = mask_mode
        self.backend_args = backend_args

    # -- decoders ------------------------------------------------------------
    @staticmethod
    def _binary(arr: np.ndarray) -> np.ndarray:
        if arr.ndim == 3:
            arr = arr.max(axis=2)
        thr = 0 if arr.max(initial=0) <= 1 else 127
        return (arr > thr).astype(np.uint8)

    @staticmethod
    def _index(arr: np.ndarray, num_classes: int, path: str) -> np.ndarray:
        if arr.ndim == 3:
            return rgb_to_index(arr, num_classes, path)
        bad = (arr >= num_classes) & (arr != IGNORE_INDEX)
        if bad.any():
            raise ValueError(f'Mask {path} has class id '
                             f'{int(arr[bad].max())} >= num_classes '
                             f'{num_classes}')
        return arr.astype(np.uint8)

    def _vpo(self, paths: Sequence[str], labels: Sequence[int],
             value_map: dict) -> np.ndarray:
        out = None
        for p, label in zip(paths, labels):
            arr = read_mask_array(p, self.backend_args)
            if arr.ndim == 3:
                arr = arr[..., 0]
            if out is None:
                out = np.zeros(arr.shape, np.uint8)
            elif arr.shape != out.shape:
                raise ValueError(f'Mask {p} has size {arr.shape} but the '
                                 f'other masks of its image have '
                                 f'{out.shape}')
            vals = set(np.unique(arr).tolist()) - {0}
            if vals and (vals == {255} or vals == {1}):  # binary instance
                out[arr > 0] = label
                continue
            ignore = arr == IGNORE_INDEX
            for v in vals - {IGNORE_INDEX}:
                if v not in value_map:
                    raise ValueError(
                        f'Mask {p} has pixel value {v}, which is no known '
                        f'category id ({sorted(value_map)}) and not a '
                        f'binary 0/255 mask')
                out[arr == v] = value_map[v]
            out[ignore & (out == 0)] = IGNORE_INDEX
        return out

    def transform(self, results: dict) -> dict:
        paths = list(results['mask_paths'])
        flags = list(results['frame_flags'])
        enc = results.get('mask_encoding', 'binary')
        mode = self.mask_mode or results.get('mask_mode', 'binary')
        num_classes = results.get('num_classes')
        if len(paths) != len(flags):
            raise ValueError(f'Clip {results.get("clip_id", "?")}: '
                             f'{len(paths)} mask paths for {len(flags)} '
                             f'frames')
        # the frames' size as loaded: masks may be loaded after a resize
        shape = results.get('ori_shape', results.get('img_shape'))
        masks: List[Optional[np.ndarray]] = []
        for t, p in enumerate(paths):
            if p is None:
                masks.append(None)
                continue
            name = p if isinstance(p, str) else p[0]
            if enc == 'binary':
                m = self._binary(read_mask_array(p, self.backend_args))
            elif enc in ('index', 'rgb'):
                if num_classes is None:
                    raise KeyError(f'num_classes is needed to decode {p}')
                m = self._index(read_mask_array(p, self.backend_args),
                                num_classes, p)
            elif enc == 'vpo':
                m = self._vpo(p, results['mask_labels'][t],
                              results['mask_value_map'])
            else:
                raise ValueError(f'Unknown mask_encoding {enc} for {name}')
            if mode == 'binary' and enc != 'binary':
                m = np.where((m != 0) & (m != IGNORE_INDEX), 1,
                             m).astype(np.uint8)
            if shape is not None and tuple(m.shape) != tuple(shape):
                raise ValueError(f'Mask {name} has size {m.shape} but its '
                                 f'frames have {tuple(shape)}')
            shape = shape or tuple(m.shape)
            masks.append(m)
        if shape is None:
            raise ValueError(f'Clip {results.get("clip_id", "?")}: no mask '
                             f'file and no img_shape; run LoadClipFrames '
                             f'first')
        results['gt_masks'] = [
            m if m is not None else np.full(
                shape, IGNORE_INDEX if real else 0, np.uint8)
            for m, real in zip(masks, flags)
        ]
        results['mask_mode'] = mode
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(mask_mode={self.mask_mode}, '
                f'backend_args={self.backend_args})')
