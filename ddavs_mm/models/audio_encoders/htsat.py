"""HTSAT audio encoder of DDAVS: raw waveform -> audio tokens / embedding.

The Swin part is transformers' ``ClapAudioEncoder`` (the HTSAT Swin shared by
HTSAT and CLAP), built from a :class:`~transformers.ClapAudioConfig` only -
nothing is downloaded. The front end is :class:`LogMelFrontend` (log-mel +
``bn0``); ``ClapAudioEncoder.batch_norm`` is replaced by an identity so the
mel-bin batch norm runs exactly once.

Pipeline for the base config (HTSAT AudioSet, 32 kHz)::

    waveform [N, S]
      -> log-mel + bn0           [N, 1, S // 320 + 1, 64]
      -> bicubic resize in time  [N, 1, 1024, 64]   (spec_size * freq_ratio)
      -> fold 4 time chunks      [N, 1, 256, 256]   (freq_ratio 4)
      -> Swin (patch 4, 4 stages, 3 patch mergings), final LayerNorm
      -> regroup                 [N, 768, 2, 32]    (freq bins x time)
      -> tokens                  [N, 64, 768]   (row-major over (freq, time))
      -> embedding (avg pool)    [N, 768]       (HTSAT's ``latent_output``)

Every input is resized to ``spec_size * freq_ratio`` frames, so a 1 s segment
costs as much as a 10 s clip; inputs longer than that (10.23 s at 32 kHz/hop
320) raise.

Weights: ``pretrained=PATH`` or ``init_cfg=dict(type='Pretrained',
checkpoint=PATH)`` names a state dict in the encoder's keys (written by
``tools/model_converters/htsat2ddavs.py`` or ``clap2ddavs.py``), or directly
an original HTSAT Lightning checkpoint or a CLAP directory, converted on load
by the same functions (:mod:`.htsat_checkpoint`). They are loaded by
:meth:`HTSATAudioEncoder.init_weights` (called by the mmengine Runner) or
explicitly by :meth:`HTSATAudioEncoder.load_pretrained`. The front end must
follow the checkpoint: HTSAT 32 kHz / hop 320 (the default), CLAP 48 kHz /
hop 480 (``frontend=clap_frontend_cfg(clap_dir)``).

Attention: the window attention of every Swin block runs through
``F.scaled_dot_product_attention`` (:class:`HTSATWindowAttention`), with the
relative position bias and, in shifted blocks, the shift mask passed as one
additive mask. The values are those of transformers' eager attention (to
float rounding); the parameters and their names are unchanged. Outside
autograd the bias-plus-mask tensor and each block's shift mask are computed
once and cached.
"""
import logging
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import load_state_dict
from torch import Tensor
from transformers import ClapAudioConfig, ClapAudioModel
from transformers.models.clap.modeling_clap import (ClapAudioLayer,
                                                    ClapAudioSelfAttention)

from ddavs_mm.registry import MODELS
from ..utils.weight_cache import WeightDerivedCache
from .htsat_checkpoint import compare_clap_config, read_htsat_weights
from .log_mel_frontend import LogMelFrontend


class HTSATWindowAttention(ClapAudioSelfAttention):
    """transformers' Swin window attention (``ClapAudioSelfAttention``)
    computed by ``F.scaled_dot_product_attention``.

    The relative position bias ``[H, L, L]`` (L = tokens per window) and the
    shift mask of shifted blocks ``[nW, L, L]`` form one additive mask. In a
    shifted block the mask differs per window, so the windows of a sample
    are moved into the head axis (``[B, nW * H, L, d]``) and the mask
    ``[1, nW * H, L, L]`` is broadcast over the batch instead of being
    copied ``B`` times. ``output_attentions=True`` takes transformers' eager
    path (SDPA does not return the probabilities).

    Instances are made by converting ``ClapAudioSelfAttention`` modules in
    place (:func:`htsat_attention_to_sdpa`).
    """

    def _bias_cache(self) -> WeightDerivedCache:
        cache = self.__dict__.get('_attn_bias_cache')
        if cache is None:
            cache = self.__dict__['_attn_bias_cache'] = WeightDerivedCache()
        return cache

    def attention_bias(self, shift_mask: Optional[Tensor],
                       dtype: torch.dtype) -> Tensor:
        """Relative position bias plus shift mask.

        Args:
            shift_mask (Tensor, optional): ``[nW, L, L]`` (0 / -100).
            dtype (torch.dtype): of the result.

        Returns:
            Tensor: ``[1, H, L, L]`` without a shift mask, else
            ``[1, nW * H, L, L]`` (window-major).
        """
        table = self.relative_position_bias_table
        sources = [table, self.relative_position_index]
        if shift_mask is not None:
            sources.append(shift_mask)

        def compute() -> Tensor:
            length = self.window_size[0] * self.window_size[1]
            bias = table[self.relative_position_index.view(-1)].view(
                length, length, -1).permute(2, 0, 1)  # [H, L, L]
            if shift_mask is not None:
                bias = bias.unsqueeze(0) + shift_mask.unsqueeze(1)
            return bias.reshape(1, -1, length, length).to(dtype)

        return self._bias_cache().get(sources, compute, (dtype, ))

    def forward(self,
                hidden_states: Tensor,
                attention_mask: Optional[Tensor] = None,
                output_attentions: Optional[bool] = False
                ) -> Tuple[Tensor, ...]:
        """Args:
            hidden_states (Tensor): windows ``[B * nW, L, C]``.
            attention_mask (Tensor, optional): shift mask ``[nW, L, L]``.
            output_attentions (bool): also return the probabilities
                (eager path).

        Returns:
            tuple[Tensor]: ``([B * nW, L, C], )``.
        """
        if output_attentions:
            return super().forward(hidden_states, attention_mask, True)
        windows, length, dims = hidden_states.shape
        heads, d = self.num_attention_heads, self.attention_head_size
        shape = (windows, length, heads, d)
        q = self.query(hidden_states).view(shape).transpose(1, 2)
        k = self.key(hidden_states).view(shape).transpose(1, 2)
        v = self.value(hidden_states).view(shape).transpose(1, 2)
        bias = self.attention_bias(attention_mask, q.dtype)
        drop = self.dropout.p if self.training else 0.
        if attention_mask is None:
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=bias, dropout_p=drop)
        else:
            # windows of a sample into the head axis: [B, nW * H, L, d]
            grouped = (windows // attention_mask.shape[0], -1, length, d)
            out = F.scaled_dot_product_attention(
                q.reshape(grouped), k.reshape(grouped), v.reshape(grouped),
                attn_mask=bias, dropout_p=drop).view(windows, heads, length,
                                                     d)
        return (out.transpose(1, 2).reshape(windows, length, dims), )


class HTSATSwinLayer(ClapAudioLayer):
    """transformers' Swin block (``ClapAudioLayer``) whose shift mask is
    built once per input size, dtype and device (it depends on nothing
    else) instead of in every forward pass."""

    def get_attn_mask(self, height: int, width: int, dtype: torch.dtype,
                      device: torch.device) -> Optional[Tensor]:
        if self.shift_size <= 0 or torch.compiler.is_compiling():
            return super().get_attn_mask(height, width, dtype, device)
        masks = self.__dict__.setdefault('_shift_masks', {})
        key = (height, width, int(self.window_size), int(self.shift_size),
               dtype, device)
        if key not in masks:
            with torch.inference_mode(False), torch.no_grad():
                masks[key] = super().get_attn_mask(height, width, dtype,
                                                   device)
        return masks[key]


def htsat_attention_to_sdpa(module: nn.Module) -> int:
    """Convert transformers' CLAP/HTSAT Swin attention and blocks under
    ``module`` to :class:`HTSATWindowAttention` / :class:`HTSATSwinLayer`,
    in place (only the classes change; parameters and buffers stay).

    Returns:
        int: number of attention modules converted.
    """
    count = 0
    for m in module.modules():
        if type(m) is ClapAudioSelfAttention:
            m.__class__ = HTSATWindowAttention
            count += 1
        elif type(m) is ClapAudioLayer:
            m.__class__ = HTSATSwinLayer
    return count


@MODELS.register_module()
class HTSATAudioEncoder(BaseModule):
    """HTSAT (Swin audio transformer) on the raw waveform.

    Args:
        spec_size (int): Side of the square spectrogram "image". Default 256.
        num_mel_bins (int): Mel bins (= front end ``n_mels``). Default 64.
        patch_size (int): Patch-embedding kernel. Default 4.
        patch_stride (int | tuple): Patch-embedding stride. Default 4.
        patch_embeds_hidden_size (int): Stage-1 width. Default 96.
        depths (Sequence[int]): Blocks per stage. Default (2, 2, 6, 2).
        num_attention_heads (Sequence[int]): Heads per stage.
            Default (4, 8, 16, 32).
        window_size (int): Attention window. Default 8.
        freq_ratio (int): Number of time chunks folded into the frequency
            axis; transformers derives it as ``spec_size // num_mel_bins``, so
            it must equal that. Default 4.
        hidden_size (int): Output width; must equal
            ``patch_embeds_hidden_size * 2 ** (len(depths) - 1)``.
            Default 768.
        mlp_ratio (float): MLP expansion. Default 4.0.
        qkv_bias (bool): Bias on q/k/v. Default True.
        enable_fusion (bool): CLAP's feature fusion; needs 4-crop inputs and is
            not supported on a raw single waveform, so it must be False.
        drop_path_rate (float): Stochastic depth (HTSAT trained with 0.1).
        hidden_dropout_prob (float): MLP output dropout (HTSAT: 0).
        attention_probs_dropout_prob (float): Attention dropout (HTSAT: 0).
        frontend (dict, optional): :class:`LogMelFrontend` kwargs overriding
            the HTSAT defaults (32 kHz, n_fft 1024, hop 320, 50-14000 Hz).
            ``n_mels`` defaults to ``num_mel_bins`` and must equal it.
        frozen (bool): Freeze all parameters and keep the module in eval mode
            under ``train()``; forward then runs under ``torch.no_grad()``.
            Default True.
        chunk_size (int, optional): Encode at most this many segments at once
            (bounds peak memory). Default None (all at once).
        pretrained (str, optional): Checkpoint path; shorthand for
            ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``.
        strict_load (bool): Raise on missing or unexpected keys and shape
            mismatches when loading (MMEngine's strict ``load_state_dict``);
            False loads what fits and logs the rest. Default True.
        init_cfg (dict, optional): mmengine init config.

    Attributes:
        out_channels (int): Token / embedding width ``D``.
        token_grid (tuple): ``(freq_bins, time_steps)`` of the final grid,
            ``(2, 32)`` for the base config.
        num_tokens (int): ``L = freq_bins * time_steps`` (64 for base).
        max_samples (int): Longest accepted waveform.
        load_report (dict | None): ``layout``, ``loaded`` (number of
            tensors) and ``dropped`` (file key -> reason) of the last load.
    """

    def __init__(self,
                 spec_size: int = 256,
                 num_mel_bins: int = 64,
                 patch_size: int = 4,
                 patch_stride: Union[int, Sequence[int]] = 4,
                 patch_embeds_hidden_size: int = 96,
                 depths: Sequence[int] = (2, 2, 6, 2),
                 num_attention_heads: Sequence[int] = (4, 8, 16, 32),
                 window_size: int = 8,
                 freq_ratio: int = 4,
                 hidden_size: int = 768,
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = True,
                 enable_fusion: bool = False,
                 drop_path_rate: float = 0.1,
                 hidden_dropout_prob: float = 0.0,
                 attention_probs_dropout_prob: float = 0.0,
                 frontend: Optional[dict] = None,
                 frozen: bool = True,
                 chunk_size: Optional[int] = None,
                 pretrained: Optional[str] = None,
                 strict_load: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        if pretrained is not None:
            if init_cfg is not None:
                raise ValueError('HTSATAudioEncoder: give either pretrained '
                                 'or init_cfg, not both.')
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        super().__init__(init_cfg=init_cfg)

        depths, heads = list(depths), list(num_attention_heads)
        if len(depths) != len(heads):
            raise ValueError(f'HTSATAudioEncoder: depths {depths} and '
                             f'num_attention_heads {heads} differ in length.')
        if spec_size % num_mel_bins or spec_size // num_mel_bins != freq_ratio:
            raise ValueError(
                f'HTSATAudioEncoder: freq_ratio ({freq_ratio}) must equal '
                f'spec_size // num_mel_bins ({spec_size} // {num_mel_bins}) '
                f'with no remainder (transformers derives it that way).')
        num_features = patch_embeds_hidden_size * 2**(len(depths) - 1)
        if hidden_size != num_features:
            raise ValueError(
                f'HTSATAudioEncoder: hidden_size ({hidden_size}) must equal '
                f'patch_embeds_hidden_size * 2**(len(depths)-1) = '
                f'{num_features}.')
        if enable_fusion:
            raise ValueError(
                'HTSATAudioEncoder: enable_fusion=True needs CLAP 4-crop '
                'inputs and is not supported; fusion weights of a fused CLAP '
                'checkpoint are reported unexpected and skipped.')
        stride = ((patch_stride, patch_stride)
                  if isinstance(patch_stride, int) else tuple(patch_stride))
        grid = (spec_size // stride[0], spec_size // stride[1])
        down = 2**(len(depths) - 1)
        if grid[0] % down or grid[1] % down:
            raise ValueError(
                f'HTSATAudioEncoder: patch grid {grid} must be divisible by '
                f'2**(len(depths)-1) = {down}.')
        final_f = spec_size // down // stride[0]
        if final_f % freq_ratio:
            raise ValueError(
                f'HTSATAudioEncoder: final frequency size {final_f} is not '
                f'divisible by freq_ratio {freq_ratio}.')

        self.config = ClapAudioConfig(
            spec_size=spec_size,
            num_mel_bins=num_mel_bins,
            patch_size=patch_size,
            patch_stride=list(stride),
            patch_embeds_hidden_size=patch_embeds_hidden_size,
            depths=depths,
            num_attention_heads=heads,
            window_size=window_size,
            hidden_size=hidden_size,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            enable_fusion=False,
            drop_path_rate=drop_path_rate,
            hidden_dropout_prob=hidden_dropout_prob,
            attention_probs_dropout_prob=attention_probs_dropout_prob)

        fe_cfg = dict(frontend or {})
        fe_cfg.setdefault('n_mels', num_mel_bins)
        if fe_cfg['n_mels'] != num_mel_bins:
            raise ValueError(
                f'HTSATAudioEncoder: frontend n_mels ({fe_cfg["n_mels"]}) '
                f'must equal num_mel_bins ({num_mel_bins}).')
        self.frontend = LogMelFrontend(**fe_cfg)

        # ClapAudioModel's post_init gives HF's weight init; keep its encoder.
        self.audio_encoder = ClapAudioModel(self.config).audio_encoder
        # bn0 lives in the front end: make CLAP's own batch norm a no-op
        self.audio_encoder.batch_norm = nn.Identity()
        htsat_attention_to_sdpa(self.audio_encoder)

        self.out_channels = num_features
        self.freq_ratio = freq_ratio
        self.token_grid = (final_f // freq_ratio,
                           (spec_size // down // stride[1]) * freq_ratio)
        self.num_tokens = self.token_grid[0] * self.token_grid[1]
        self.spec_frames = spec_size * freq_ratio
        hop = self.frontend.hop_length
        self.max_samples = (self.spec_frames - 1) * hop + hop - 1 + (
            0 if self.frontend.center else self.frontend.n_fft)
        self.frozen = frozen
        self.chunk_size = chunk_size
        self.strict_load = strict_load
        self.load_report: Optional[dict] = None
        if frozen:
            self._freeze()

    # ------------------------------------------------------------------
    # freezing / weights
    # ------------------------------------------------------------------
    def _freeze(self) -> None:
        for p in self.parameters():
            p.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> 'HTSATAudioEncoder':
        """Set train mode; a frozen encoder always stays in eval mode."""
        super().train(mode)
        if self.frozen:
            super().train(False)
        return self

    def load_pretrained(self, checkpoint: str) -> dict:
        """Load HTSAT weights of any source (see :mod:`.htsat_checkpoint`).

        Args:
            checkpoint (str): ddavs-keyed file, original HTSAT checkpoint or
                CLAP directory / file.

        Returns:
            dict: ``layout``, ``loaded`` and ``dropped`` (also logged and
            stored as ``self.load_report``).

        Raises:
            ValueError: a CLAP ``config.json`` describes another
                architecture, or (``strict_load``) keys or shapes do not
                fit; the message names the file.
        """
        state, layout, dropped, clap_config = read_htsat_weights(checkpoint)
        if clap_config is not None:
            diffs = compare_clap_config(clap_config, self.config)
            if diffs:
                raise ValueError(
                    f'{checkpoint}: config.json differences from the encoder'
                    f' (file vs encoder): {diffs}')
        try:
            load_state_dict(self, state, strict=self.strict_load,
                            logger='current')
        except RuntimeError as err:
            raise ValueError(f'{checkpoint} ({layout} layout) does not fit '
                             f'HTSATAudioEncoder: {err}') from err
        text = (f'HTSAT weights {checkpoint}: {layout} layout, {len(state)} '
                'tensors loaded')
        if dropped:
            text += (f'; dropped {len(dropped)} key(s) of the file: '
                     f'{", ".join(sorted(set(dropped.values())))}')
        print_log(text, logger='current', level=logging.INFO)
        self.load_report = dict(layout=layout, loaded=len(state),
                                dropped=dropped)
        if self.frozen:
            self._freeze()
        return self.load_report

    def init_weights(self) -> None:
        """Load ``init_cfg=dict(type='Pretrained', checkpoint=...)`` with
        :meth:`load_pretrained`; otherwise keep transformers'
        initialisation."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            if 'checkpoint' not in cfg:
                raise ValueError('HTSATAudioEncoder: init_cfg of type '
                                 'Pretrained needs a checkpoint path.')
            self.load_pretrained(cfg['checkpoint'])
            self._is_init = True
            return
        super().init_weights()

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def _encode_2d(self, waveform: Tensor) -> Tuple[Tensor, Tensor]:
        feats = self.frontend(waveform)  # [N, 1, T, M]
        frames = feats.shape[2]
        if frames > self.spec_frames:
            raise ValueError(
                f'HTSATAudioEncoder: waveform of {waveform.shape[-1]} samples '
                f'gives {frames} frames > {self.spec_frames} '
                f'(spec_size * freq_ratio); at most {self.max_samples} '
                f'samples ({self.max_samples / self.frontend.sample_rate:.2f}'
                f' s) are accepted.')
        feats = feats.to(self.audio_encoder.patch_embed.proj.weight.dtype)
        out = self.audio_encoder(feats, return_dict=True)
        grid = out.last_hidden_state  # [N, D, F, T]
        return grid, out.pooler_output

    def encode(self, waveform: Tensor) -> Tuple[Tensor, Tensor]:
        """Tokens and pooled embedding in one pass.

        Args:
            waveform (Tensor): ``[*, S]`` float waveform(s) at the front end's
                sample rate (any leading dims, e.g. ``[B, T, S]``).

        Returns:
            tuple[Tensor, Tensor]: tokens ``[*, L, D]`` (L = ``num_tokens``,
            ordered row-major over ``token_grid`` = (freq, time)) and the
            embedding ``[*, D]``.
        """
        if waveform.dim() < 2:
            raise ValueError(
                f'HTSATAudioEncoder expects a waveform [*, S], got shape '
                f'{tuple(waveform.shape)}.')
        lead = waveform.shape[:-1]
        flat = waveform.reshape(-1, waveform.shape[-1])
        if flat.shape[0] == 0:
            raise ValueError('HTSATAudioEncoder got an empty batch.')
        step = self.chunk_size or flat.shape[0]
        grad = torch.is_grad_enabled() and not self.frozen
        tokens, pooled = [], []
        with torch.set_grad_enabled(grad):
            for start in range(0, flat.shape[0], step):
                grid, emb = self._encode_2d(flat[start:start + step])
                tokens.append(grid.flatten(2).transpose(1, 2))
                pooled.append(emb)
        tokens = torch.cat(tokens)
        pooled = torch.cat(pooled)
        return (tokens.reshape(*lead, *tokens.shape[1:]),
                pooled.reshape(*lead, pooled.shape[-1]))

    def forward(self, waveform: Tensor) -> Tensor:
        """Audio tokens.

        Args:
            waveform (Tensor): ``[N, S]`` (or ``[*, S]``) float waveform.

        Returns:
            Tensor: ``[N, L, D]`` tokens, the final ``(D, F, T)`` grid
            flattened (L = 64, D = 768 for the base config).
        """
        return self.encode(waveform)[0]

    def embed(self, waveform: Tensor) -> Tensor:
        """Pooled embedding (HTSAT's ``latent_output`` / CLAP's pooler).

        Args:
            waveform (Tensor): ``[N, S]`` (or ``[*, S]``) float waveform.

        Returns:
            Tensor: ``[N, D]``.
        """
        return self.encode(waveform)[1]
