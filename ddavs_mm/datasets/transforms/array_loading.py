"""In-memory variants of the clip loaders, for inference on decoded data.

:func:`ddavs_mm.apis.build_test_pipeline` swaps them in for
:class:`LoadClipFrames` / :class:`LoadAudio` in a config's
``test_pipeline``, as mmseg swaps ``LoadImageFromFile`` for
``LoadImageFromNDArray``; the rest of the pipeline (resize, packing) runs
unchanged, so the config stays the only source of sizes and rates.
"""
from typing import Optional, Sequence

import numpy as np
import torch
import torchaudio.functional as AF

from ddavs_mm.registry import TRANSFORMS
from .audio import LoadAudio
from .loading import LoadClipFrames


def centered_audio_segments(waveform: np.ndarray,
                            sample_rate: int,
                            timestamps: Sequence[float],
                            segment_seconds: float = 1.0) -> np.ndarray:
    """Cut one audio segment centred on each frame's timestamp.

    Segment ``i`` holds the samples ``[c_i - S // 2, c_i - S // 2 + S)`` with
    ``S = round(segment_seconds * sample_rate)`` and
    ``c_i = round(timestamps[i] * sample_rate)``; samples outside the
    waveform (clip edges) are zeros. A frame at ``k + 0.5`` s with 1-s
    segments gets exactly the audio second ``[k, k + 1)``, AVSBench's pairing.

    Args:
        waveform (np.ndarray): float [N] mono waveform, sample ``j`` at time
            ``j / sample_rate``.
        sample_rate (int): Sample rate in Hz.
        timestamps (Sequence[float]): T frame times in seconds.
        segment_seconds (float): Segment length in seconds. Defaults to 1.0.

    Returns:
        np.ndarray: float32 [T, S].

    Examples:
        >>> centered_audio_segments(np.arange(1, 6), 1, [0.0, 2.0], 3.0)
        array([[0., 1., 2.],
               [2., 3., 4.]], dtype=float32)
    """
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise ValueError(f'waveform must be 1-D (mono), got shape '
                         f'{waveform.shape}.')
    if sample_rate <= 0 or segment_seconds <= 0:
        raise ValueError(f'sample_rate ({sample_rate}) and segment_seconds '
                         f'({segment_seconds}) must be positive.')
    seg_len = int(round(segment_seconds * sample_rate))
    n = waveform.shape[0]
    out = np.zeros((len(timestamps), seg_len), np.float32)
    for i, t in enumerate(timestamps):
        start = int(round(float(t) * sample_rate)) - seg_len // 2
        lo, hi = max(start, 0), min(start + seg_len, n)
        if hi > lo:
            out[i, lo - start:hi - start] = waveform[lo:hi]
    return out


def clip_timestamps(num_frames: int, duration: float) -> np.ndarray:
    """Times of ``num_frames`` frames spread evenly over ``duration`` seconds.

    Frame ``i`` sits at the centre of the ``i``-th of ``num_frames`` equal
    intervals: ``(i + 0.5) * duration / num_frames`` (a 5-s AVSBench clip:
    0.5, 1.5, ..., 4.5 s).

    Args:
        num_frames (int): T.
        duration (float): Clip length in seconds.

    Returns:
        np.ndarray: float64 [T].
    """
    return (np.arange(num_frames) + 0.5) * (duration / num_frames)


@TRANSFORMS.register_module()
class LoadClipFramesFromNDArray(LoadClipFrames):
    """Take a clip's frames from ``results['frames']`` instead of files.

    Required keys: ``frames`` (uint8 ``[T, H, W, 3]`` RGB array, or a list
    of ``T`` such ``[H, W, 3]`` arrays).

    Added / updated keys: ``frames`` (list of ``T`` arrays), ``img_shape``,
    ``ori_shape`` (``(H, W)``), ``num_frames`` (``T``), ``frame_flags``
    (all True unless given), ``frame_paths`` (``T`` empty strings unless
    given).

    Raises:
        TypeError / ValueError: the frames are not uint8 RGB of one size.
    """

    def transform(self, results: dict) -> dict:
        if 'frames' not in results:
            raise KeyError('LoadClipFramesFromNDArray needs results["frames"]'
                           ' (uint8 [T, H, W, 3] RGB)')
        frames = [np.asarray(f) for f in results['frames']]
        if not frames:
            raise ValueError('LoadClipFramesFromNDArray: no frames')
        shape = frames[0].shape
        for f in frames:
            if f.dtype != np.uint8:
                raise TypeError(f'frames must be uint8, got {f.dtype}.')
            if f.ndim != 3 or f.shape[-1] != 3 or f.shape != shape:
                raise ValueError(
                    f'frames must be [T, H, W, 3] RGB of one size, got a '
                    f'frame of shape {f.shape} after {shape}.')
        t = len(frames)
        if results.get('num_frames', t) != t:
            raise ValueError(f'{t} frames but num_frames is '
                             f'{results["num_frames"]}.')
        results['frames'] = frames
        results['num_frames'] = t
        results.setdefault('frame_flags', [True] * t)
        results.setdefault('frame_paths', [''] * t)
        results['img_shape'] = results['ori_shape'] = tuple(shape[:2])
        return results


@TRANSFORMS.register_module()
class LoadAudioFromNDArray(LoadAudio):
    """Cut a clip's per-frame audio from an in-memory waveform.

    The waveform is resampled to ``sample_rate`` and segment ``t`` holds
    the ``segment_seconds`` centred on frame ``t``'s timestamp
    (:func:`centered_audio_segments`, zeros beyond the waveform). Without
    ``timestamps`` frame ``t`` sits at ``(t + 0.5) * segment_seconds``,
    i.e. the segments are the consecutive ones :class:`LoadAudio` reads
    from a file. Silence is accepted (the caller holds the data).

    Args: as :class:`LoadAudio` (``allow_silent`` is unused).

    Required keys: ``waveform`` (float ``[N]`` mono, sample 0 at time 0),
    ``waveform_rate`` (its rate in Hz), ``num_frames``; optional
    ``timestamps`` (``T`` seconds).

    Added / updated keys: ``waveform`` (float32 ``[T * S]``),
    ``sample_rate``, ``audio_segment_samples`` (``S``).
    """

    def transform(self, results: dict) -> dict:
        for key in ('waveform', 'waveform_rate', 'num_frames'):
            if key not in results:
                raise KeyError(f'LoadAudioFromNDArray needs results[{key!r}]')
        wav = np.asarray(results['waveform'], dtype=np.float32)
        if wav.ndim != 1:
            raise ValueError(f'waveform must be 1-D (mono), got shape '
                             f'{wav.shape}.')
        if not np.isfinite(wav).all():
            raise ValueError('waveform contains NaN or inf.')
        rate, t = int(results['waveform_rate']), int(results['num_frames'])
        if rate <= 0:
            raise ValueError(f'waveform_rate must be positive, got {rate}.')
        if rate != self.sample_rate:
            wav = AF.resample(torch.from_numpy(wav), rate,
                              self.sample_rate).numpy()
        times: Optional[Sequence[float]] = results.get('timestamps')
        if times is None:
            times = (np.arange(t) + 0.5) * self.segment_seconds
        if len(times) != t:
            raise ValueError(f'{len(times)} timestamps for {t} frames.')
        segments = centered_audio_segments(wav, self.sample_rate, times,
                                           self.segment_seconds)
        results['waveform'] = segments.reshape(-1)
        results['sample_rate'] = self.sample_rate
        results['audio_segment_samples'] = segments.shape[1]
        return results
