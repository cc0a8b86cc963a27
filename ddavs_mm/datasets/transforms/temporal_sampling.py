"""Temporal sampling: train on a random subset of a clip's frames."""
from typing import List

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from ddavs_mm.registry import TRANSFORMS

#: per-frame keys of a clip's results (lists or sequences of length T)
PER_FRAME_KEYS = ('frames', 'gt_masks', 'frame_paths', 'mask_paths',
                  'mask_flags', 'frame_flags', 'mask_labels')


@TRANSFORMS.register_module()
class ClipSampleFrames(BaseTransform):
    """Keep ``num_frames`` random frames of a clip, with their audio.

    DDAVS segments every frame from that frame and its own second of audio;
    nothing couples the frames of a clip. A training batch can therefore hold
    a few frames of more clips instead of every frame of fewer clips, at the
    same cost per step. The kept frames are drawn without replacement, in
    time order, first among the annotated frames (``mask_flags``), then, if
    a clip has fewer annotated frames than ``num_frames``, among the others
    (whose masks the losses skip). Every per-frame key (see
    :data:`PER_FRAME_KEYS`) and the waveform's per-frame segments are cut to
    the kept frames; evaluation pipelines do not use this transform.

    It works at either end of the loading transforms:

    * **first** in the pipeline (cheapest): it cuts the paths and flags,
      so ``LoadClipFrames`` / ``LoadClipMasks`` read only the kept files,
      and ``LoadAudio`` reads the clip's whole window and keeps the kept
      frames' seconds (``frame_indices``, ``clip_num_frames``);
    * after ``LoadClipFrames``, ``LoadClipMasks`` and ``LoadAudio``: it cuts
      the loaded frames, masks and the waveform's per-frame segments.

    Either way it goes before the waveform augmentation, which then
    processes only the kept seconds.

    Args:
        num_frames (int): frames to keep (>= 1).

    Required keys: ``frame_paths`` or ``frames``; ``audio_segment_samples``
    if ``waveform`` is already loaded. Modified keys: the per-frame keys
    present, ``waveform``, ``num_frames``. Added keys: ``frame_indices``
    (the kept frames' indices in the clip) and ``clip_num_frames`` (the
    clip's frame count).

    Raises:
        ValueError: the clip has fewer than ``num_frames`` frames, or a
            per-frame key or the waveform does not match the clip's frame
            count (the message names the clip).
    """

    def __init__(self, num_frames: int) -> None:
        if int(num_frames) < 1:
            raise ValueError(f'num_frames must be >= 1, got {num_frames}')
        self.num_frames = int(num_frames)

    @cache_randomness
    def _choose(self, annotated: np.ndarray) -> List[int]:
        """Sorted random frame indices, annotated frames (``annotated``
        True) first."""
        first = np.flatnonzero(annotated)
        rest = np.flatnonzero(~annotated)
        k = self.num_frames
        if len(first) >= k:
            chosen = np.random.choice(first, k, replace=False)
        else:
            chosen = np.concatenate([
                first,
                np.random.choice(rest, k - len(first), replace=False)])
        return sorted(int(i) for i in chosen)

    def transform(self, results: dict) -> dict:
        clip = results.get('clip_id', '?')
        if results.get('frame_indices') is not None:
            raise ValueError(f'Clip {clip}: frames were sampled already '
                             '(frame_indices is set)')
        source = results.get('frames') or results.get('frame_paths')
        if not source:
            raise KeyError(f'Clip {clip} has neither "frame_paths" nor '
                           '"frames"')
        num_total = len(source)
        if num_total < self.num_frames:
            raise ValueError(f'Clip {clip} has {num_total} frames, fewer '
                             f'than num_frames={self.num_frames}')
        for key in PER_FRAME_KEYS:
            if results.get(key) is not None and \
                    len(results[key]) != num_total:
                raise ValueError(f'Clip {clip}: {key} has '
                                 f'{len(results[key])} entries for '
                                 f'{num_total} frames')
        flags = results.get('mask_flags')
        annotated = np.ones(num_total, bool) if flags is None else \
            np.asarray([bool(f) for f in flags])
        keep = self._choose(annotated)
        for key in PER_FRAME_KEYS:
            if results.get(key) is not None:
                values = results[key]
                results[key] = [values[i] for i in keep]
        if results.get('waveform') is not None:
            wav = np.asarray(results['waveform'])
            seg = results.get('audio_segment_samples')
            if not seg or wav.ndim != 1 or wav.size != num_total * seg:
                raise ValueError(
                    f'Clip {clip}: waveform of shape {wav.shape} does not '
                    f'split into {num_total} segments of '
                    f'audio_segment_samples={seg}')
            results['waveform'] = np.ascontiguousarray(
                wav.reshape(num_total, seg)[keep].reshape(-1))
        results['num_frames'] = self.num_frames
        results['clip_num_frames'] = num_total
        results['frame_indices'] = keep
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_frames={self.num_frames})'
