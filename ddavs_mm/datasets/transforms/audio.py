"""Waveform loading."""
import io
import warnings
from typing import List, Optional

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
from mmcv.transforms import BaseTransform

from ddavs_mm.registry import TRANSFORMS
from ddavs_mm.utils.tool_errors import InputError
from .loading import read_file_bytes

SHORT_AUDIO_MODES = ('warn', 'error', 'ignore')


class ShortAudioWarning(UserWarning):
    """An audio file ends before the window its clip needs (zero-padded)."""


def read_wav_mono(path: str, backend_args: Optional[dict] = None) -> tuple:
    """Read an audio file as a mono float32 waveform (mean of channels).

    The bytes come through :mod:`mmengine.fileio` (see
    :func:`~ddavs_mm.datasets.transforms.loading.read_file_bytes`), so
    remote storage works as for the frames; soundfile decodes them.

    Args:
        path (str): audio file path or URL.
        backend_args (dict, optional): arguments of the file backend.

    Returns:
        tuple[np.ndarray, int]: waveform ``[N]`` and its sample rate.

    Raises:
        FileNotFoundError: missing file. ValueError: corrupt file, empty
            file or NaN / inf samples (the message names the file).
    """
    raw = read_file_bytes(path, 'Audio', backend_args)
    try:
        data, sr = sf.read(io.BytesIO(raw), dtype='float32',
                           always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError..
        raise ValueError(f'Corrupt or unreadable audio file {path}: '
                         f'{e}') from e
    if data.size == 0:
        raise ValueError(f'Audio file {path} has no samples')
    if not np.isfinite(data).all():
        raise ValueError(f'Audio file {path} contains NaN or inf samples')
    return data.mean(axis=1).astype(np.float32), int(sr)


@TRANSFORMS.register_module()
class LoadAudio(BaseTransform):
    """Load a clip's waveform: mono, resampled, cropped, summed, fixed length.

    For each file of ``audio_paths``: read (soundfile), average the
    channels, resample to ``sample_rate`` (``torchaudio.functional.resample``)
    and apply the clip's window: skip ``audio_offset`` seconds (after the
    centre offset when ``audio_crop == 'center'``) and keep
    ``audio_duration`` seconds (zero-padded if the file is shorter). Several
    sources (VPO multi-source) are summed. The result is trimmed or
    zero-padded to ``num_frames * segment_seconds`` seconds so that it
    splits into one ``segment_seconds`` segment per frame.

    Args:
        sample_rate (int): output rate in Hz. Defaults to 32000 (HTSAT).
        segment_seconds (float): seconds of audio per frame. Defaults to 1.
        allow_silent (bool): accept an all-zero source file. Defaults to
            False (error naming the file).

    When ``ClipSampleFrames`` ran before (``frame_indices`` and
    ``clip_num_frames`` set), the window covers all ``clip_num_frames``
    frames and only the segments of ``frame_indices`` are kept, in that
    order.

    Required keys: ``audio_paths``, ``num_frames`` (or ``frame_paths``);
    optional ``audio_offset``, ``audio_duration``, ``audio_crop``,
    ``frame_indices`` with ``clip_num_frames``.

    Added keys: ``waveform`` (float32 ``[num_frames * S]``, ``S =
    round(segment_seconds * sample_rate)``), ``sample_rate``,
    ``audio_segment_samples`` (``S``).
    """

    def __init__(self,
                 sample_rate: int = 32000,
                 segment_seconds: float = 1.0,
                 allow_silent: bool = False,
                 short_audio: str = 'warn',
                 short_audio_tolerance: float = 0.05) -> None:
        if sample_rate <= 0 or segment_seconds <= 0:
            raise ValueError('sample_rate and segment_seconds must be > 0')
        if short_audio not in SHORT_AUDIO_MODES:
            raise ValueError(f'short_audio must be one of '
                             f'{SHORT_AUDIO_MODES}, got {short_audio!r}')
        if short_audio_tolerance < 0:
            raise ValueError('short_audio_tolerance must be >= 0')
        self.sample_rate = int(sample_rate)
        self.segment_seconds = float(segment_seconds)
        self.allow_silent = allow_silent
        self.short_audio = short_audio
        self.short_audio_tolerance = float(short_audio_tolerance)

    def _check_length(self, path: str, got: int, needed: int,
                      offset: float) -> None:
        """Warn about, or refuse, a file that ends ``needed - got`` samples
        before the clip's window does."""
        sr = self.sample_rate
        missing = (needed - got) / sr
        if self.short_audio == 'ignore' or \
                missing <= self.short_audio_tolerance:
            return
        problem = (f'audio ends {missing:.2f} s before the {needed / sr:.2f}'
                   f' s its clip needs from {offset:.2f} s')
        if self.short_audio == 'error':
            raise InputError(path, problem,
                             'use a complete file, or LoadAudio '
                             'short_audio="warn" to zero-pad it')
        warnings.warn(f'{path}: {problem}; zero-padded (LoadAudio '
                      f'short_audio="error" refuses such files)',
                      ShortAudioWarning)

    def _load_one(self, path: str, offset: float, duration: Optional[float],
                  crop: str, needed: int) -> np.ndarray:
        wav, sr = read_wav_mono(path)
        if not self.allow_silent and not np.any(wav):
            raise ValueError(f'Audio file {path} is silent (all zeros); '
                             f'set allow_silent=True to accept it')
        if sr != self.sample_rate:
            wav = AF.resample(
                torch.from_numpy(wav), sr, self.sample_rate).numpy()
        sr = self.sample_rate
        start = int(round(offset * sr))
        if duration is not None:
            n = int(round(duration * sr))
            if crop == 'center':
                start += max(0, (len(wav) - n) // 2)
            wav = wav[start:start + n]
            self._check_length(path, len(wav), min(n, needed), offset)
            if len(wav) < n:
                wav = np.pad(wav, (0, n - len(wav)))
        else:
            wav = wav[start:]
            self._check_length(path, len(wav), needed, offset)
        return wav

    @staticmethod
    def _used_segments(results: dict, indices, T: int) -> int:
        """Segments of the window up to the last one a real frame uses
        (padded frames, ``frame_paths`` entry ``''``, need no audio)."""
        used = list(range(T)) if indices is None else list(indices)
        paths = results.get('frame_paths')
        if paths is not None and len(paths) == len(used):
            used = [i for i, p in zip(used, paths) if p != '']
        return max(used) + 1 if used else 0

    def transform(self, results: dict) -> dict:
        paths: List[str] = list(results['audio_paths'])
        if not paths:
            raise ValueError(f'Clip {results.get("clip_id", "?")} has no '
                             f'audio file')
        T = results.get('num_frames') or len(results['frame_paths'])
        indices = results.get('frame_indices')
        if indices is not None:  # ClipSampleFrames ran before loading
            T = results.get('clip_num_frames')
            kept = results.get('num_frames') or len(indices)
            if T is None or len(indices) != kept or \
                    not all(0 <= i < T for i in indices):
                raise ValueError(
                    f'Clip {results.get("clip_id", "?")}: frame_indices '
                    f'{list(indices)} do not fit clip_num_frames={T} and '
                    f'num_frames={results.get("num_frames")}')
        seg = int(round(self.segment_seconds * self.sample_rate))
        total = T * seg
        offset = float(results.get('audio_offset') or 0.0)
        duration = results.get('audio_duration')
        crop = results.get('audio_crop', 'start')
        if crop not in ('start', 'center'):
            raise ValueError(f'audio_crop must be start or center, got '
                             f'{crop}')
        out = np.zeros(total, np.float32)
        needed = seg * self._used_segments(results, indices, T)
        for p in paths:
            wav = self._load_one(p, offset, duration, crop, needed)[:total]
            out[:len(wav)] += wav
        if not np.isfinite(out).all():
            raise ValueError(f'Waveform of {paths} has NaN or inf samples '
                             f'after resampling')
        if not self.allow_silent and not np.any(out):
            raise ValueError(f'Waveform of {paths} is silent in the used '
                             f'window; set allow_silent=True to accept it')
        if indices is not None:
            out = np.ascontiguousarray(
                out.reshape(T, seg)[list(indices)].reshape(-1))
        results['waveform'] = out
        results['sample_rate'] = self.sample_rate
        results['audio_segment_samples'] = seg
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(sample_rate={self.sample_rate}, '
                f'segment_seconds={self.segment_seconds}, '
                f'allow_silent={self.allow_silent}, '
                f'short_audio={self.short_audio!r})')
