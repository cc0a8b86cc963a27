"""Waveform augmentation of the Contrastive Optimization Module (paper
Table 7), built on pedalboard's effects and librosa's pitch shift."""
from typing import Tuple

import numpy as np
import pedalboard
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from ddavs_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class WaveformAugment(BaseTransform):
    """Reverb -> pitch shift -> compressor -> volume jitter, each optional.

    Paper Table 7 (DDAVS supplement, Sec. C) and its reading here:

    * Reverberation ``r in [20, 40]``: pedalboard ``Reverb`` with
      ``room_size = r / 100`` (``room_size_range=(0.2, 0.4)``).
    * Pitch shift ``[-150, 150]`` cents: ``semitones = cents / 100``, by
      ``librosa.effects.pitch_shift`` (phase vocoder and soxr resampling;
      ``pitch_backend='librosa'``, the default) or by pedalboard's
      ``PitchShift`` (Rubber Band; ``pitch_backend='pedalboard'``). On one
      core librosa shifts a 5-s, 16-kHz clip in ~17 ms, Rubber Band in
      ~50 ms. The data worker shares the cores with the training step, so
      on a 2-core machine its time adds to every iteration almost one to
      one: with Rubber Band the pitch shift alone was a fifth of a tiny
      DDAVS step (``docs/main_job.md``).
    * Dynamic-range compression, "fixed setting": ``Compressor`` with
      constant ``threshold_db``, ``ratio``, ``attack_ms``, ``release_ms``.
    * Volume jitter, ``SNR in [10, 20]`` dB: the paper calls it an
      "SNR-style amplitude perturbation"; we read it as additive white
      Gaussian noise at a random SNR in that range, relative to the power of
      the (already augmented) waveform. An all-zero waveform gets no noise.

    Each effect runs with its own probability, in the order above; all
    parameters and the noise are drawn from numpy's global RNG, which
    MMEngine seeds per worker, so runs are reproducible, in methods decorated
    with mmcv's ``cache_randomness`` (reusable under
    ``cache_random_params``). The whole ``T * S`` waveform is processed as one
    mono signal (pedalboard takes float32 ``[channels, samples]``) and the
    output is trimmed / zero-padded to the input length.

    Args:
        reverb_prob (float): Defaults to 0.5.
        room_size_range (tuple[float, float]): Defaults to (0.2, 0.4).
        pitch_prob (float): Defaults to 0.5.
        pitch_cents_range (tuple[float, float]): Defaults to (-150, 150).
        pitch_backend (str): ``'librosa'`` (default) or ``'pedalboard'``.
        compressor_prob (float): Defaults to 0.5.
        compressor_threshold_db (float): Defaults to -20.
        compressor_ratio (float): Defaults to 4.
        compressor_attack_ms (float): Defaults to 5.
        compressor_release_ms (float): Defaults to 100.
        noise_prob (float): Defaults to 0.5.
        snr_db_range (tuple[float, float]): Defaults to (10, 20).
        key (str): input key. Defaults to ``'waveform'``.
        out_key (str): output key. Defaults to ``'waveform_aug'``.

    Required keys: ``waveform`` (float32 ``[N]``), ``sample_rate``.
    Added keys: ``waveform_aug`` (float32 ``[N]``), ``waveform_aug_params``
    (dict of what was applied).
    """

    def __init__(self,
                 reverb_prob: float = 0.5,
                 room_size_range: Tuple[float, float] = (0.2, 0.4),
                 pitch_prob: float = 0.5,
                 pitch_cents_range: Tuple[float, float] = (-150., 150.),
                 pitch_backend: str = 'librosa',
                 compressor_prob: float = 0.5,
                 compressor_threshold_db: float = -20.,
                 compressor_ratio: float = 4.,
                 compressor_attack_ms: float = 5.,
                 compressor_release_ms: float = 100.,
                 noise_prob: float = 0.5,
                 snr_db_range: Tuple[float, float] = (10., 20.),
                 key: str = 'waveform',
                 out_key: str = 'waveform_aug') -> None:
        for name, p in (('reverb_prob', reverb_prob),
                        ('pitch_prob', pitch_prob),
                        ('compressor_prob', compressor_prob),
                        ('noise_prob', noise_prob)):
            if not 0 <= p <= 1:
                raise ValueError(f'{name} must be in [0, 1], got {p}')
        for name, r in (('room_size_range', room_size_range),
                        ('pitch_cents_range', pitch_cents_range),
                        ('snr_db_range', snr_db_range)):
            if len(r) != 2 or r[0] > r[1]:
                raise ValueError(f'{name} must be (low, high), got {r}')
        if pitch_backend not in ('librosa', 'pedalboard'):
            raise ValueError(f'pitch_backend must be "librosa" or '
                             f'"pedalboard", got {pitch_backend!r}')
        if not 0 <= room_size_range[0] <= room_size_range[1] <= 1:
            raise ValueError('room_size_range must lie in [0, 1]')
        self.reverb_prob = reverb_prob
        self.room_size_range = tuple(room_size_range)
        self.pitch_prob = pitch_prob
        self.pitch_cents_range = tuple(pitch_cents_range)
        self.pitch_backend = pitch_backend
        if pitch_backend == 'librosa':
            # import (numba, ~1 s) here, in the process that builds the
            # pipeline: data-loader workers forked from it inherit it
            import librosa.effects  # noqa: F401
        self.compressor_prob = compressor_prob
        self.compressor = dict(
            threshold_db=compressor_threshold_db,
            ratio=compressor_ratio,
            attack_ms=compressor_attack_ms,
            release_ms=compressor_release_ms)
        self.noise_prob = noise_prob
        self.snr_db_range = tuple(snr_db_range)
        self.key = key
        self.out_key = out_key

    @cache_randomness
    def _draw(self) -> dict:
        """Which effects run, with their parameters."""
        r = np.random
        params = {}
        if r.rand() < self.reverb_prob:
            params['room_size'] = float(r.uniform(*self.room_size_range))
        if r.rand() < self.pitch_prob:
            params['pitch_cents'] = float(r.uniform(*self.pitch_cents_range))
        if r.rand() < self.compressor_prob:
            params['compressor'] = True
        if r.rand() < self.noise_prob:
            params['snr_db'] = float(r.uniform(*self.snr_db_range))
        return params

    def transform(self, results: dict) -> dict:
        wav = np.asarray(results[self.key], dtype=np.float32)
        if wav.ndim != 1:
            raise ValueError(f'{self.key} must be 1-D, got shape '
                             f'{wav.shape}')
        sr = float(results['sample_rate'])
        params = self._draw()
        out = wav
        if 'room_size' in params:
            out = self._board(
                out, sr, pedalboard.Reverb(room_size=params['room_size']))
        if 'pitch_cents' in params:
            out = self._pitch_shift(out, sr, params['pitch_cents'] / 100.)
        if 'compressor' in params:
            out = self._board(out, sr,
                              pedalboard.Compressor(**self.compressor))
        if 'snr_db' in params:
            power = float(np.mean(out.astype(np.float64)**2))
            if power > 0:
                noise_power = power / (10.**(params['snr_db'] / 10.))
                out = out + self._noise(len(out)) * np.sqrt(noise_power)
        out = np.asarray(out, dtype=np.float32)
        if not np.isfinite(out).all():
            raise ValueError(f'WaveformAugment produced NaN/inf for '
                             f'{results.get("audio_paths")} with {params}')
        results[self.out_key] = out
        results['waveform_aug_params'] = params
        return results

    @cache_randomness
    def _noise(self, num_samples: int) -> np.ndarray:
        """Standard normal noise, float64 ``[num_samples]``."""
        return np.random.standard_normal(num_samples)

    @staticmethod
    def _fit(out: np.ndarray, n: int) -> np.ndarray:
        """Trim or zero-pad to ``n`` samples."""
        if len(out) >= n:
            return out[:n]
        return np.pad(out, (0, n - len(out)))

    def _board(self, wav: np.ndarray, sr: float, effect) -> np.ndarray:
        board = pedalboard.Pedalboard([effect])
        out = board(wav[None, :].astype(np.float32, copy=True), sr)[0]
        return self._fit(out, len(wav))

    def _pitch_shift(self, wav: np.ndarray, sr: float,
                     semitones: float) -> np.ndarray:
        if self.pitch_backend == 'pedalboard':
            return self._board(wav, sr,
                               pedalboard.PitchShift(semitones=semitones))
        import librosa
        out = librosa.effects.pitch_shift(
            np.ascontiguousarray(wav, dtype=np.float32), sr=sr,
            n_steps=semitones)
        return self._fit(out, len(wav))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(reverb_prob={self.reverb_prob}, '
                f'room_size_range={self.room_size_range}, '
                f'pitch_prob={self.pitch_prob}, '
                f'pitch_cents_range={self.pitch_cents_range}, '
                f'pitch_backend={self.pitch_backend!r}, '
                f'compressor_prob={self.compressor_prob}, '
                f'compressor={self.compressor}, '
                f'noise_prob={self.noise_prob}, '
                f'snr_db_range={self.snr_db_range})')
