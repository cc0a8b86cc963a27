"""HTSAT weights as :class:`HTSATAudioEncoder` state dicts ("ddavs keys").

The encoder's own keys are ``frontend.bn0.*`` (the mel-bin batch norm) and
``audio_encoder.*`` (transformers' ``ClapAudioEncoder``). Three sources are
converted to them:

* ``'htsat'``: the original HTSAT (RetroCirce/HTS-Audio-Transformer), e.g.
  the Lightning checkpoint ``HTSAT_AudioSet_Saved_1.ckpt`` whose
  ``state_dict`` holds ``sed_model.*`` (also accepted: a bare state dict and
  LAION-CLAP's ``[module.]audio_branch.*``). With ``B = layers.i.blocks.j``
  and ``AE = audio_encoder``::

      bn0.*                     -> frontend.bn0.*
      patch_embed.{proj,norm}.* -> AE.patch_embed.{proj,norm}.*
      B.norm1.*                 -> AE.B.layernorm_before.*
      B.attn.qkv.*              -> rows [0, C), [C, 2C), [2C, 3C) to
                                   AE.B.attention.self.{query,key,value}.*
      B.attn.proj.*             -> AE.B.attention.output.dense.*
      B.attn.relative_position_{bias_table,index}
                                -> AE.B.attention.self.<same name>
      B.norm2.*                 -> AE.B.layernorm_after.*
      B.mlp.fc1.* / B.mlp.fc2.* -> AE.B.intermediate.dense.* /
                                   AE.B.output.dense.*
      layers.i.downsample.*     -> AE.layers.i.downsample.*
      norm.*                    -> AE.norm.*

  The qkv split is exact: HTSAT reshapes ``qkv(x)`` to ``[B, N, 3, heads,
  head_dim]`` and scales q by ``head_dim ** -0.5`` before ``q @ k^T``;
  transformers divides the product by ``sqrt(head_dim)``.
  :data:`HTSAT_DROPPED` lists the keys without counterpart (AudioSet
  classifier, torchlibrosa STFT/mel kernels, shift masks);
* ``'clap'``: a transformers CLAP save (``ClapModel`` or ``ClapAudioModel``,
  e.g. ``laion/clap-htsat-unfused``), read with ``ClapAudioModel.
  from_pretrained(path, local_files_only=True)``, or a single file in its
  keys: ``[audio_model.]audio_encoder.batch_norm.*`` -> ``frontend.bn0.*``,
  the rest of ``audio_encoder.*`` unchanged; :data:`CLAP_DROPPED` lists the
  keys without counterpart. CLAP's front end runs at 48 kHz / hop 480:
  :func:`clap_frontend_cfg` reads it from ``preprocessor_config.json``;
* ``'ddavs'``: already the encoder's keys (the output of
  ``tools/model_converters/htsat2ddavs.py`` / ``clap2ddavs.py``).

:func:`read_htsat_weights` returns ddavs keys for any of them; the converter
scripts save that state dict, and :meth:`HTSATAudioEncoder.load_pretrained`
loads it (so a config may name the original ``.ckpt`` or a CLAP directory
directly). Every file is read with ``torch.load(weights_only=True)`` or
safetensors; Lightning's pickled callback and hparams classes are bound to
inert stand-ins, still under ``weights_only``.
"""
import json
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor

_BLK = r'^layers\.(\d+)\.blocks\.(\d+)\.'
_TBLK = r'audio_encoder.layers.\1.blocks.\2.'

#: Original-HTSAT renaming rules ``(regex, replacement)``, prefix stripped.
HTSAT_RENAME_RULES = (
    (r'^bn0\.(.+)$', r'frontend.bn0.\1'),
    (r'^patch_embed\.(proj|norm)\.(.+)$', r'audio_encoder.patch_embed.\1.\2'),
    (_BLK + r'norm1\.(.+)$', _TBLK + r'layernorm_before.\3'),
    (_BLK + r'attn\.proj\.(.+)$', _TBLK + r'attention.output.dense.\3'),
    (_BLK + r'attn\.relative_position_(bias_table|index)$',
     _TBLK + r'attention.self.relative_position_\3'),
    (_BLK + r'norm2\.(.+)$', _TBLK + r'layernorm_after.\3'),
    (_BLK + r'mlp\.fc1\.(.+)$', _TBLK + r'intermediate.dense.\3'),
    (_BLK + r'mlp\.fc2\.(.+)$', _TBLK + r'output.dense.\3'),
    (r'^layers\.(\d+)\.downsample\.(reduction|norm)\.(.+)$',
     r'audio_encoder.layers.\1.downsample.\2.\3'),
    (r'^norm\.(weight|bias)$', r'audio_encoder.norm.\1'),
)
_QKV = re.compile(_BLK + r'attn\.qkv\.(weight|bias)$')

#: Original-HTSAT keys without counterpart ``(regex, reason)``.
HTSAT_DROPPED = (
    (r'\.attn_mask$', 'shifted-window mask, recomputed in forward'),
    (r'^spectrogram_extractor\.', 'torchlibrosa STFT kernel'),
    (r'^logmel_extractor\.', 'torchlibrosa mel filterbank'),
    (r'^tscam_conv\.', 'AudioSet token-semantic classifier'),
    (r'^head\.', 'AudioSet classifier'),
)

#: Prefixes under which the original Swin may sit, tried in order.
HTSAT_PREFIXES = ('sed_model.', 'module.audio_branch.', 'audio_branch.',
                  'module.')

#: CLAP keys without counterpart ``(regex, reason)``.
CLAP_DROPPED = (
    (r'^text_model\.', 'CLAP text tower'),
    (r'^text_projection\.', 'CLAP text projection'),
    (r'^audio_projection\.', 'CLAP audio projection'),
    (r'^logit_scale', 'CLAP contrastive temperature'),
    (r'patch_embed\.(fusion_model|mel_conv2d)\.',
     'CLAP feature-fusion branch; the encoder runs unfused'),
)

#: Architecture fields of a CLAP ``config.json`` compared with the encoder.
CLAP_ARCH_FIELDS = ('spec_size', 'num_mel_bins', 'patch_size', 'patch_stride',
                    'patch_embeds_hidden_size', 'depths',
                    'num_attention_heads', 'window_size', 'mlp_ratio',
                    'qkv_bias', 'patch_embed_input_channels',
                    'enable_patch_layer_norm', 'flatten_patch_embeds')

ConvertResult = Tuple[Dict[str, Tensor], Dict[str, str]]


def _reason(key: str, table) -> Optional[str]:
    return next((why for pattern, why in table if re.search(pattern, key)),
                None)


def _unmapped_error(keys, layout: str) -> ValueError:
    keys = sorted(keys)
    return ValueError(f'{len(keys)} key(s) of the {layout} layout have no '
                      f'counterpart in HTSATAudioEncoder: {keys[:8]}')


def detect_htsat_layout(state_dict: Mapping[str, Tensor]) -> Optional[str]:
    """``'htsat'`` (fused ``attn.qkv``), ``'ddavs'`` (``frontend.bn0.``),
    ``'clap'`` (``audio_encoder.*`` with ``batch_norm``) or ``None``."""
    keys = list(state_dict)
    if any(k.endswith('.attn.qkv.weight') for k in keys):
        return 'htsat'
    if any(k.startswith('frontend.bn0.') for k in keys):
        return 'ddavs'
    if any(re.search(r'(^|\.)audio_encoder\.(layers|patch_embed)\.', k)
           for k in keys):
        return 'clap'
    return None


def convert_htsat_state_dict(state_dict: Mapping[str, Tensor]
                             ) -> ConvertResult:
    """Original HTSAT keys -> ddavs keys.

    Returns:
        tuple: ``(converted, dropped)``: the ddavs-keyed tensors and the
        dropped source keys with the reason.

    Raises:
        ValueError: a key has no rule, or a fused qkv is not ``3C`` rows.
    """
    prefix = next((p for p in HTSAT_PREFIXES
                   if any(k.startswith(p) for k in state_dict)), '')
    converted, dropped, unmapped = OrderedDict(), OrderedDict(), []
    for key, value in state_dict.items():
        name = key[len(prefix):] if key.startswith(prefix) else None
        if name is None:
            unmapped.append(key)
            continue
        m = _QKV.match(name)
        if m:
            if value.shape[0] % 3:
                raise ValueError(f'{key}: a fused qkv needs 3 * C rows, got '
                                 f'{tuple(value.shape)}')
            base = m.expand(_TBLK + 'attention.self.')
            for part, chunk in zip(('query', 'key', 'value'),
                                   value.chunk(3, dim=0)):
                converted[f'{base}{part}.{m.group(3)}'] = chunk.clone()
            continue
        for pattern, repl in HTSAT_RENAME_RULES:
            if re.match(pattern, name):
                converted[re.sub(pattern, repl, name)] = value
                break
        else:
            why = _reason(name, HTSAT_DROPPED)
            if why is None:
                unmapped.append(key)
            else:
                dropped[key] = why
    if unmapped:
        raise _unmapped_error(unmapped, 'original HTSAT')
    return converted, dropped


def convert_clap_state_dict(state_dict: Mapping[str, Tensor]
                            ) -> ConvertResult:
    """CLAP keys (``ClapModel`` or ``ClapAudioModel``) -> ddavs keys.

    Returns:
        tuple: ``(converted, dropped)`` as :func:`convert_htsat_state_dict`.

    Raises:
        ValueError: a key has no counterpart.
    """
    converted, dropped, unmapped = OrderedDict(), OrderedDict(), []
    for key, value in state_dict.items():
        name = key[len('audio_model.'):] if key.startswith(
            'audio_model.') else key
        why = _reason(name, CLAP_DROPPED)
        if why is not None:
            dropped[key] = why
        elif name.startswith('audio_encoder.batch_norm.'):
            converted['frontend.bn0.' + name[len('audio_encoder.batch_norm.'
                                                 ):]] = value
        elif name.startswith('audio_encoder.'):
            converted[name] = value
        else:
            unmapped.append(key)
    if unmapped:
        raise _unmapped_error(unmapped, 'CLAP')
    return converted, dropped


def _inert_stub(qualified_name: str) -> type:
    """A class that only stores what it is given, standing in for a pickled
    global (Lightning callbacks, hparams containers) that the state dict
    does not need."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.state = state

    return type(qualified_name.rsplit('.', 1)[-1], (), {
        '__new__': lambda cls, *a, **k: object.__new__(cls),
        '__init__': __init__,
        '__setstate__': __setstate__,
    })


def load_torch_file(path: str) -> object:
    """``torch.load(path, weights_only=True)``; pickled globals that
    ``weights_only`` refuses (a Lightning checkpoint's callback classes and
    hparams) are bound to inert stand-ins and the load is retried, still
    under ``weights_only``."""
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:
        first_error = err
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:
        names = []
    if names:
        stubs = [(_inert_stub(n), n) for n in names]
        try:
            with torch.serialization.safe_globals(stubs):
                return torch.load(path, map_location='cpu',
                                  weights_only=True)
        except Exception:
            pass
    raise ValueError(f'cannot read {path} with torch.load(weights_only='
                     f'True): {first_error}') from first_error


def _state_dict_of(obj: object, path: str) -> Dict[str, Tensor]:
    if isinstance(obj, Mapping) and isinstance(obj.get('state_dict'),
                                               Mapping):
        obj = obj['state_dict']
    if not isinstance(obj, Mapping):
        raise ValueError(f'{path} holds a {type(obj).__name__}, not a state '
                         'dict')
    state = OrderedDict((k, v) for k, v in obj.items()
                        if isinstance(v, Tensor))
    if not state:
        raise ValueError(f'{path} holds no tensors')
    return state


def read_clap_directory(path: str) -> Tuple[Dict[str, Tensor], object,
                                            Dict[str, str]]:
    """A transformers CLAP directory through ``ClapAudioModel.
    from_pretrained(path, local_files_only=True)``.

    A ``ClapModel`` save (``audio_model.audio_encoder.*``) is read with
    ``key_mapping`` stripping ``audio_model.``; its text tower is left out.

    Returns:
        tuple: ``(state_dict, config, dropped)``: the ``ClapAudioModel``
        keys, its ``ClapAudioConfig`` and the file keys it left out.

    Raises:
        FileNotFoundError: no ``config.json`` or no weights.
        ValueError: the weights do not fill the model of ``config.json``.
    """
    from transformers import ClapAudioModel
    if not osp.isfile(osp.join(path, 'config.json')):
        raise FileNotFoundError(f'CLAP directory {path} has no config.json')
    try:
        model, info = ClapAudioModel.from_pretrained(
            path, local_files_only=True, output_loading_info=True,
            key_mapping={r'^audio_model\.': ''})
    except OSError as err:
        raise FileNotFoundError(f'CLAP directory {path}: {err}') from err
    if info['missing_keys'] or info['mismatched_keys']:
        raise ValueError(
            f'CLAP directory {path}: the weights do not fill the '
            f'ClapAudioModel of its config.json (missing '
            f'{sorted(info["missing_keys"])[:5]}, mismatched '
            f'{list(info["mismatched_keys"])[:5]})')
    dropped = OrderedDict(
        (k, _reason(k, CLAP_DROPPED) or 'not part of ClapAudioModel')
        for k in sorted(info['unexpected_keys']))
    return OrderedDict(model.state_dict()), model.config, dropped


def read_htsat_weights(path: str) -> Tuple[Dict[str, Tensor], str,
                                           Dict[str, str], Optional[object]]:
    """Any HTSAT source (see the module doc) as ddavs keys.

    Args:
        path (str): original HTSAT ``.ckpt``/``.pth``, CLAP directory, CLAP
            or ddavs-keyed ``.pth``/``.safetensors``.

    Returns:
        tuple: ``(state_dict, layout, dropped, clap_config)``;
        ``clap_config`` is the ``ClapAudioConfig`` of a CLAP directory,
        else ``None``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: unreadable file, unknown layout or unmapped keys (the
            message names ``path``).
    """
    path = os.fspath(path)
    if not osp.exists(path):
        raise FileNotFoundError(f'HTSAT checkpoint not found: {path}')
    config, dropped = None, OrderedDict()
    if osp.isdir(path):
        state, config, dropped = read_clap_directory(path)
    elif path.endswith('.safetensors'):
        from safetensors.torch import load_file
        state = load_file(path, device='cpu')
    else:
        state = _state_dict_of(load_torch_file(path), path)
    layout = detect_htsat_layout(state)
    try:
        if layout == 'htsat':
            state, more = convert_htsat_state_dict(state)
        elif layout == 'clap':
            state, more = convert_clap_state_dict(state)
        elif layout == 'ddavs':
            more = {}
        else:
            raise ValueError(
                'the keys match none of the HTSAT layouts (original HTSAT '
                'with a fused attn.qkv, CLAP audio_encoder.*, ddavs '
                f'frontend.bn0.*); first keys: {list(state)[:5]}')
    except ValueError as err:
        raise ValueError(f'{path}: {err}') from err
    dropped.update(more)
    return state, ('clap' if config is not None else layout), dropped, config


def compare_clap_config(clap_config, encoder_config) -> Dict[str, tuple]:
    """Architecture fields in which a ``ClapAudioConfig`` differs from the
    encoder's: ``{field: (file value, encoder value)}``
    (``enable_fusion`` is not compared: fusion keys are dropped)."""
    def norm(v):
        return list(v) if isinstance(v, (list, tuple)) else v

    diffs = {}
    for name in CLAP_ARCH_FIELDS:
        if not hasattr(clap_config, name):
            continue
        a, b = getattr(clap_config, name), getattr(encoder_config, name)
        if norm(a) != norm(b):
            diffs[name] = (a, b)
    return diffs


def clap_frontend_cfg(path: str) -> dict:
    """``LogMelFrontend`` kwargs from a CLAP ``preprocessor_config.json``.

    CLAP's ``ClapFeatureExtractor`` computes a power mel spectrogram in dB
    (amin 1e-10, ref 1) like HTSAT, at its own rate and hop (48 kHz / 480 for
    laion/clap-htsat-*), with an HTK-scale, unnormalised filterbank when
    ``truncation == 'fusion'`` (Slaney otherwise).

    Args:
        path (str): CLAP directory or the json file itself.

    Returns:
        dict: ``sample_rate``, ``n_fft``, ``hop_length``, ``n_mels``,
        ``f_min``, ``f_max``, ``mel_scale``, ``mel_norm``.
    """
    path = os.fspath(path)
    file = (osp.join(path, 'preprocessor_config.json')
            if osp.isdir(path) else path)
    if not osp.isfile(file):
        raise FileNotFoundError(f'CLAP preprocessor config not found: '
                                f'{file}')
    with open(file, encoding='utf-8') as f:
        cfg = json.load(f)
    fusion = cfg.get('truncation', 'fusion') == 'fusion'
    return dict(
        sample_rate=int(cfg.get('sampling_rate', 48000)),
        n_fft=int(cfg.get('fft_window_size', 1024)),
        hop_length=int(cfg.get('hop_length', 480)),
        n_mels=int(cfg.get('feature_size', 64)),
        f_min=float(cfg.get('frequency_min', 0.0)),
        f_max=float(cfg.get('frequency_max', 14000.0)),
        mel_scale='htk' if fusion else 'slaney',
        mel_norm=None if fusion else 'slaney')
