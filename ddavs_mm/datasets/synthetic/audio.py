"""Audio synthesis: class sounds, per-second gating, mixing with noise.

Each source is synthesised as one continuous waveform over the clip, scaled
by its random gain and gated on/off per second (10 ms ramps). The mixture of
all sources (on- and off-screen) gets white-ish background noise at the
clip's SNR and is peak-normalised, so absolute loudness carries no
information.
"""
from typing import List

import numpy as np

from .catalogue import CLASSES, SoundSpec, size_factor
from .scene import ClipScene, Source, clip_rngs


def _band_noise(rng, n: int, sr: int, lo: float, hi: float) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sr)
    spec[(f < lo) | (f > hi)] = 0
    x = np.fft.irfft(spec, n)
    return x / (np.std(x) + 1e-12)


def synth_sound(spec: SoundSpec, size_bin: int, seconds: int, sr: int,
                rng: np.random.Generator) -> np.ndarray:
    """One class sound, ``seconds`` long, unit RMS.

    Every frequency and rate of ``spec`` is multiplied by
    :func:`size_factor` ``(size_bin)``.

    Returns:
        np.ndarray: float64 [seconds * sr].
    """
    r = size_factor(size_bin)
    n = seconds * sr
    t = np.arange(n) / sr
    nyq = 0.45 * sr
    phase0 = rng.uniform(0, 2 * np.pi)
    if spec.kind == 'harmonic':
        f0 = spec.f0 * r
        inst_f = f0 * (1 + spec.vibrato_depth *
                       np.sin(2 * np.pi * spec.vibrato_hz * t))
        ph = 2 * np.pi * np.cumsum(inst_f) / sr + phase0
        x = np.zeros(n)
        for h, a in enumerate(spec.profile, start=1):
            if a and h * f0 < nyq:
                x += a * np.sin(h * ph)
    elif spec.kind == 'noise':
        x = _band_noise(rng, n, sr, spec.lo * r, min(spec.hi * r, nyq))
        if spec.rate:
            x *= 0.55 + 0.45 * np.sin(2 * np.pi * spec.rate * r * t + phase0)
    elif spec.kind == 'pulse':
        period = 1.0 / (spec.rate * r)
        tl = np.mod(t + rng.uniform(0, period), period)
        x = np.exp(-spec.decay * tl) * np.sin(2 * np.pi * spec.f0 * r * tl)
    elif spec.kind == 'chirp':
        period = 1.0 / (spec.rate * r)
        tl = np.mod(t + rng.uniform(0, period), period)
        lo, hi = spec.lo * r, min(spec.hi * r, nyq)
        ph = 2 * np.pi * (lo * tl + 0.5 * (hi - lo) / period * tl * tl)
        x = np.sin(ph) * np.minimum(1.0, np.minimum(tl, period - tl) / 0.01)
    else:
        raise ValueError(f'unknown sound kind {spec.kind!r}')
    return x / (np.sqrt(np.mean(x * x)) + 1e-12)


def _gate(active: List[bool], sr: int, ramp: float = 0.01) -> np.ndarray:
    g = np.repeat(np.asarray(active, np.float64), sr)
    k = max(1, int(ramp * sr))
    c = np.concatenate([[0.0], np.cumsum(np.pad(g, (k // 2, k - 1 - k // 2)))])
    return (c[k:] - c[:-k]) / k  # moving average: linear on/off ramps


def source_waveform(src: Source, seconds: int, sr: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Gated, gain-scaled waveform of one source (float64 [seconds*sr])."""
    x = synth_sound(CLASSES[src.class_id].sound, src.size_bin, seconds, sr,
                    rng)
    return x * 10**(src.gain_db / 20) * _gate(src.active, sr)


def mix_clip(scene: ClipScene, seed: int, sample_rate: int = 16000
             ) -> np.ndarray:
    """The clip's soundtrack: float32 [T * sample_rate], peak 0.9."""
    rng = clip_rngs(seed, scene.preset, scene.split, scene.index)[2]
    T, sr = scene.num_frames, sample_rate
    mix = np.zeros(T * sr)
    for src in scene.sources:
        mix += source_waveform(src, T, sr, rng)
    on = np.repeat([bool(scene.audible_sources(k)) for k in range(T)], sr)
    ref = np.sqrt(np.mean(mix[on]**2)) if on.any() else 0.3
    noise = _band_noise(rng, T * sr, sr, 40.0, 0.45 * sr)
    mix += noise * ref * 10**(-scene.snr_db / 20)
    mix *= 0.9 / (np.max(np.abs(mix)) + 1e-12)
    return mix.astype(np.float32)
