"""Log-mel front end of HTSAT: raw waveform -> normalised log-mel "image".

HTSAT (Chen et al., ICASSP 2022) computes its input with torchlibrosa::

    power spectrogram (|STFT|^2, periodic Hann window, centred, reflect pad)
    -> mel filterbank (librosa's: Slaney mel scale, Slaney area norm)
    -> 10 * log10(max(mel, amin)) - 10 * log10(max(amin, ref))   (amin 1e-10,
       ref 1.0, no top_db clamp)
    -> ``bn0``: BatchNorm2d over the mel bins (applied as
       ``x.transpose(1, 3) -> bn0 -> transpose(1, 3)``).

:class:`LogMelFrontend` reproduces that pipeline with ``torchaudio.functional``
(``spectrogram`` + ``melscale_fbanks``), so no torchlibrosa/librosa is needed.
The STFT window and the filterbank are *non-persistent* buffers (they are
derived from the config, never stored in checkpoints); only ``bn0`` holds
learned state.

Batch norm lives here, not in the Swin: transformers' ``ClapAudioEncoder``
applies its own ``batch_norm`` as the first step of its forward; the
:class:`~ddavs_mm.models.audio_encoders.HTSATAudioEncoder` replaces that one by
an identity so the normalisation runs exactly once (here), and the checkpoint
converter maps both ``bn0.*`` (HTSAT) and ``audio_encoder.batch_norm.*``
(CLAP) onto ``frontend.bn0.*``.

Sample rate and hop must follow the checkpoint: original HTSAT AudioSet
checkpoints were trained at 32 kHz with hop 320 (100 frames/s, 10 s -> 1001
frames); CLAP (laion/clap-htsat-*) at 48 kHz with hop 480 (also 100 frames/s).
CLAP's feature extractor additionally uses an HTK mel scale without area
normalisation in its ``fusion`` truncation mode (Slaney otherwise); see
:func:`ddavs_mm.models.audio_encoders.htsat_checkpoint.clap_frontend_cfg`.
"""
import math
from typing import Optional

import torch
import torch.nn as nn
import torchaudio.functional as AF
from torch import Tensor

from ddavs_mm.registry import MODELS


@MODELS.register_module()
class LogMelFrontend(nn.Module):
    """Waveform -> log-mel spectrogram -> ``bn0`` (HTSAT's input pipeline).

    Defaults are the original HTSAT AudioSet settings.

    Args:
        sample_rate (int): Sampling rate of the input waveform in Hz.
            Default 32000.
        n_fft (int): FFT size. Default 1024.
        win_length (int, optional): Hann window length; ``None`` = ``n_fft``.
        hop_length (int): Hop between frames in samples. Default 320.
        n_mels (int): Number of mel bins. Default 64.
        f_min (float): Lowest filter frequency in Hz. Default 50.
        f_max (float, optional): Highest filter frequency in Hz; ``None`` =
            Nyquist. Default 14000.
        power (float): Exponent of the magnitude spectrogram. Default 2.0.
        amin (float): Floor applied before the log. Default 1e-10.
        ref (float): Reference power; the output is
            ``10 log10(max(x, amin)) - 10 log10(max(amin, ref))``. Default 1.0.
        top_db (float, optional): If set, clamp every example's log-mel to
            ``max - top_db`` (per example; torchlibrosa clamps to the batch
            max). Default ``None`` (HTSAT).
        mel_scale (str): ``'slaney'`` (librosa/torchlibrosa, HTSAT) or
            ``'htk'``. Default ``'slaney'``.
        mel_norm (str, optional): ``'slaney'`` (area normalisation, librosa
            default) or ``None``. Default ``'slaney'``.
        center (bool): Centre frames (pad ``n_fft // 2`` each side).
            Default True.
        pad_mode (str): Padding mode when centring. Default ``'reflect'``.
        use_bn (bool): Apply ``bn0`` (BatchNorm2d over mel bins).
            Default True.
        bn_eps (float): ``bn0`` epsilon. Default 1e-5.
        bn_momentum (float): ``bn0`` momentum. Default 0.1.

    Shapes:
        - input ``waveform``: float ``[N, S]`` at ``sample_rate``.
        - output: float ``[N, 1, frames, n_mels]`` with
          ``frames = S // hop_length + 1`` when ``center`` (else
          ``(S - n_fft) // hop_length + 1``).
    """

    def __init__(self,
                 sample_rate: int = 32000,
                 n_fft: int = 1024,
                 win_length: Optional[int] = None,
                 hop_length: int = 320,
                 n_mels: int = 64,
                 f_min: float = 50.0,
                 f_max: Optional[float] = 14000.0,
                 power: float = 2.0,
                 amin: float = 1e-10,
                 ref: float = 1.0,
                 top_db: Optional[float] = None,
                 mel_scale: str = 'slaney',
                 mel_norm: Optional[str] = 'slaney',
                 center: bool = True,
                 pad_mode: str = 'reflect',
                 use_bn: bool = True,
                 bn_eps: float = 1e-5,
                 bn_momentum: float = 0.1) -> None:
        super().__init__()
        win_length = n_fft if win_length is None else win_length
        f_max = sample_rate / 2 if f_max is None else float(f_max)
        if win_length > n_fft:
            raise ValueError(f'LogMelFrontend: win_length ({win_length}) '
                             f'must not exceed n_fft ({n_fft}).')
        if not 0 <= f_min < f_max <= sample_rate / 2:
            raise ValueError(
                f'LogMelFrontend: need 0 <= f_min < f_max <= sample_rate/2, '
                f'got f_min={f_min}, f_max={f_max}, '
                f'sample_rate={sample_rate}.')
        if mel_scale not in ('slaney', 'htk'):
            raise ValueError(f"LogMelFrontend: mel_scale must be 'slaney' or "
                             f"'htk', got {mel_scale!r}.")
        if mel_norm not in ('slaney', None):
            raise ValueError(f"LogMelFrontend: mel_norm must be 'slaney' or "
                             f'None, got {mel_norm!r}.')
        if amin <= 0:
            raise ValueError(f'LogMelFrontend: amin must be > 0, got {amin}.')
        self.sample_rate = int(sample_rate)
        self.n_fft = int(n_fft)
        self.win_length = int(win_length)
        self.hop_length = int(hop_length)
        self.n_mels = int(n_mels)
        self.f_min = float(f_min)
        self.f_max = f_max
        self.power = float(power)
        self.amin = float(amin)
        self.ref = float(ref)
        self.top_db = top_db
        self.mel_scale = mel_scale
        self.mel_norm = mel_norm
        self.center = center
        self.pad_mode = pad_mode

        # periodic Hann (librosa's fftbins=True), centred in n_fft by stft
        self.register_buffer(
            'window', torch.hann_window(self.win_length, periodic=True),
            persistent=False)
        fbank = AF.melscale_fbanks(
            n_freqs=self.n_fft // 2 + 1,
            f_min=self.f_min,
            f_max=self.f_max,
            n_mels=self.n_mels,
            sample_rate=self.sample_rate,
            norm=self.mel_norm,
            mel_scale=self.mel_scale)  # [n_freqs, n_mels]
        self.register_buffer('mel_fbank', fbank, persistent=False)
        self.bn0 = (
            nn.BatchNorm2d(self.n_mels, eps=bn_eps, momentum=bn_momentum)
            if use_bn else None)

    def num_frames(self, num_samples: int) -> int:
        """Number of log-mel frames produced for ``num_samples`` samples."""
        if self.center:
            return num_samples // self.hop_length + 1
        return (num_samples - self.n_fft) // self.hop_length + 1

    def log_mel(self, waveform: Tensor) -> Tensor:
        """Log-mel spectrogram *before* ``bn0``.

        Args:
            waveform (Tensor): ``[N, S]`` float waveform.

        Returns:
            Tensor: ``[N, 1, frames, n_mels]`` in dB (re ``ref``).
        """
        if waveform.dim() != 2:
            raise ValueError(
                f'LogMelFrontend expects a waveform batch [N, S], got shape '
                f'{tuple(waveform.shape)}.')
        if not waveform.is_floating_point():
            raise TypeError(f'LogMelFrontend expects a floating waveform, got '
                            f'{waveform.dtype}.')
        if self.center and waveform.shape[-1] <= self.n_fft // 2:
            raise ValueError(
                f'LogMelFrontend: waveform of {waveform.shape[-1]} samples is '
                f'too short for centred STFT with n_fft={self.n_fft} (needs '
                f'> {self.n_fft // 2}).')
        if not torch.isfinite(waveform).all():
            raise ValueError('LogMelFrontend: waveform contains NaN or Inf.')
        # float32, autocast off: powers down to amin=1e-10 underflow in fp16
        with torch.autocast(device_type=waveform.device.type, enabled=False):
            return self._log_mel_fp32(waveform.float())

    def _log_mel_fp32(self, x: Tensor) -> Tensor:
        """[N, S] float32 -> [N, 1, frames, n_mels] dB, all in float32."""
        spec = AF.spectrogram(
            x,
            pad=0,
            window=self.window.float(),
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            power=self.power,
            normalized=False,
            center=self.center,
            pad_mode=self.pad_mode,
            onesided=True)  # [N, n_freqs, frames]
        # [N, n_freqs, T] -> [N, T, n_mels]
        mel = torch.matmul(spec.transpose(1, 2), self.mel_fbank.float())
        log_mel = 10.0 * torch.log10(torch.clamp(mel, min=self.amin))
        log_mel = log_mel - 10.0 * math.log10(max(self.amin, self.ref))
        if self.top_db is not None:
            peak = log_mel.amax(dim=(1, 2), keepdim=True)
            log_mel = torch.maximum(log_mel, peak - float(self.top_db))
        return log_mel.unsqueeze(1)

    def forward(self, waveform: Tensor) -> Tensor:
        """Waveform -> normalised log-mel.

        Args:
            waveform (Tensor): ``[N, S]`` float waveform at ``sample_rate``.

        Returns:
            Tensor: ``[N, 1, frames, n_mels]``, ``bn0`` applied over mel bins.
        """
        x = self.log_mel(waveform)
        if self.bn0 is not None:
            x = x.to(self.bn0.weight.dtype)
            x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        return x

    def extra_repr(self) -> str:
        return (f'sample_rate={self.sample_rate}, n_fft={self.n_fft}, '
                f'win_length={self.win_length}, hop_length={self.hop_length}, '
                f'n_mels={self.n_mels}, f_min={self.f_min}, '
                f'f_max={self.f_max}, '
                f'mel_scale={self.mel_scale}, mel_norm={self.mel_norm}')
