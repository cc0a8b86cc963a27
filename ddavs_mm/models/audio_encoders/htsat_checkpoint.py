"""Load HTSAT weights into :class:`HTSATAudioEncoder` from either checkpoint
family, with a key-by-key report.

Target keys (the encoder's own ``state_dict``)::

    frontend.bn0.{weight,bias,running_mean,running_var,num_batches_tracked}
    audio_encoder.<transformers ClapAudioEncoder keys, minus batch_norm>

Supported sources
-----------------
1. **Original HTSAT** (RetroCirce/HTS-Audio-Transformer), e.g. the Lightning
   checkpoint ``HTSAT_AudioSet_Saved_*.ckpt``: a dict whose ``'state_dict'``
   holds keys ``sed_model.<name>``. Also accepted: a bare state dict, and the
   same Swin under LAION-CLAP's original prefix ``audio_branch.`` /
   ``module.audio_branch.``. After the prefix is stripped, keys are renamed by
   :data:`HTSAT_RENAME_RULES` (first match wins) and fused ``attn.qkv`` is
   split (:data:`HTSAT_QKV_RULE`). With ``L = layers.i``,
   ``B = layers.i.blocks.j`` and ``AE = audio_encoder``::

       bn0.*                       -> frontend.bn0.*
       patch_embed.proj.*          -> AE.patch_embed.proj.*
       patch_embed.norm.*          -> AE.patch_embed.norm.*
       B.norm1.*                   -> AE.B.layernorm_before.*
       B.attn.qkv.{weight,bias}    -> split dim 0 into 3 equal parts, in
                                      order: AE.B.attention.self.query.*,
                                      AE.B.attention.self.key.*,
                                      AE.B.attention.self.value.*
       B.attn.proj.*               -> AE.B.attention.output.dense.*
       B.attn.relative_position_bias_table
                                   -> AE.B.attention.self.<same name>
       B.attn.relative_position_index
                                   -> AE.B.attention.self.<same name>
       B.norm2.*                   -> AE.B.layernorm_after.*
       B.mlp.fc1.*                 -> AE.B.intermediate.dense.*
       B.mlp.fc2.*                 -> AE.B.output.dense.*
       L.downsample.reduction.*    -> AE.L.downsample.reduction.*
       L.downsample.norm.*         -> AE.L.downsample.norm.*
       norm.*                      -> AE.norm.*

   The qkv split is exact: HTSAT
   reshapes ``qkv(x)`` to ``[B, N, 3, heads, head_dim]``, i.e. rows
   ``[0, C)`` are the query, ``[C, 2C)`` the key, ``[2C, 3C)`` the value, each
   head-major as transformers' ``view(B, N, heads, head_dim)`` expects; HTSAT
   scales q by ``head_dim**-0.5`` before ``q @ k^T``, transformers divides the
   product by ``sqrt(head_dim)``: the same.

   Keys without counterpart are *unexpected* (with the reason in
   ``report.notes``): ``*.attn_mask`` (shift mask buffer, recomputed in
   forward), ``spectrogram_extractor.*`` / ``logmel_extractor.*``
   (torchlibrosa STFT kernels and mel matrix; the front end recomputes both
   with torchaudio), ``tscam_conv.*`` / ``head.*`` (AudioSet classifier),
   ``absolute_pos_embed`` (``ape=True`` variant, unsupported).

2. **CLAP** (a transformers ``ClapModel`` or ``ClapAudioModel`` save: a
   directory with ``config.json`` and ``model.safetensors`` (or a
   ``model.safetensors.index.json`` with shards) or ``pytorch_model.bin``; a
   single weight file is accepted too). Keys are
   ``[audio_model.]audio_encoder.<name>``; rules
   (:func:`convert_clap_state_dict`)::

       <prefix>audio_encoder.batch_norm.*  -> frontend.bn0.*
       <prefix>audio_encoder.<rest>        -> audio_encoder.<rest>

   Everything else (``text_model.*``, ``text_projection.*``,
   ``audio_projection.*``, ``logit_scale_*``) is unexpected; so are the fusion
   branch keys (``patch_embed.fusion_model.*``, ``patch_embed.mel_conv2d.*``)
   of ``enable_fusion=True`` checkpoints, since this encoder runs unfused.
   The architecture in ``config.json`` (``audio_config``) is compared with the
   encoder's; ``spec_size`` etc. do not show up as shape mismatches, so a
   difference is an error under ``strict``.

Files are read with ``safetensors`` or ``torch.load(weights_only=True)``;
nothing is downloaded and no ``from_pretrained`` hub logic runs. Pickled
globals that ``weights_only`` refuses (Lightning stores callback classes and
hparams objects next to the state dict) are bound to inert stub classes and
the load is retried, still under ``weights_only``; only if that fails too and
``trust_checkpoint=True`` is a full pickle load done.

Front end: the checkpoint decides the front end. HTSAT AudioSet: 32 kHz, hop
320, Slaney mel. CLAP: 48 kHz, hop 480 (``preprocessor_config.json``);
:func:`clap_frontend_cfg` turns that file into ``LogMelFrontend`` kwargs.
"""
import json
import logging
import os
import os.path as osp
import pickle
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from torch import Tensor

# --------------------------------------------------------------------------
# mapping rules
# --------------------------------------------------------------------------
_BLK = r'^layers\.(\d+)\.blocks\.(\d+)\.'
_TBLK = r'audio_encoder.layers.\1.blocks.\2.'

#: Renaming rules for the original HTSAT layout (prefix already stripped):
#: ``(regex, replacement)``, first match wins.
HTSAT_RENAME_RULES: List[Tuple[str, str]] = [
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
]

#: Fused qkv of the original layout: split along dim 0 into three equal
#: parts -> query, key, value.
HTSAT_QKV_RULE: Tuple[str, str] = (
    _BLK + r'attn\.qkv\.(weight|bias)$',
    _TBLK + r'attention.self.{part}.\3')

#: Original-layout keys that have no counterpart, with the reason.
HTSAT_NO_COUNTERPART: List[Tuple[str, str]] = [
    (r'\.attn_mask$', 'shifted-window mask buffer; recomputed in forward'),
    (r'^spectrogram_extractor\.',
     'torchlibrosa STFT kernel; LogMelFrontend uses torchaudio'),
    (r'^logmel_extractor\.',
     'torchlibrosa mel matrix; LogMelFrontend builds its own filterbank'),
    (r'^tscam_conv\.', 'HTSAT token-semantic AudioSet classifier'),
    (r'^head\.', 'AudioSet classifier head'),
    (r'^absolute_pos_embed$',
     'absolute position embedding (ape=True): not supported'),
]

#: Prefixes under which the original Swin may sit, tried in order.
HTSAT_PREFIXES = ('sed_model.', 'module.audio_branch.', 'audio_branch.',
                  'module.')

#: CLAP keys without counterpart, with the reason.
CLAP_NO_COUNTERPART: List[Tuple[str, str]] = [
    (r'(^|\.)text_model\.', 'CLAP text tower'),
    (r'(^|\.)text_projection\.', 'CLAP text projection'),
    (r'(^|\.)audio_projection\.', 'CLAP audio projection head'),
    (r'(^|\.)logit_scale', 'CLAP contrastive temperature'),
    (r'patch_embed\.(fusion_model|mel_conv2d)\.',
     'CLAP feature-fusion branch (enable_fusion=True); encoder runs unfused'),
]

#: Model buffers that are derived from the config; missing them is harmless.
DERIVED_BUFFERS = ('relative_position_index', 'num_batches_tracked')

#: Architecture fields compared with a CLAP ``config.json``.
CLAP_ARCH_FIELDS = ('spec_size', 'num_mel_bins', 'patch_size', 'patch_stride',
                    'patch_embeds_hidden_size', 'depths',
                    'num_attention_heads', 'window_size', 'mlp_ratio',
                    'qkv_bias', 'patch_embed_input_channels',
                    'enable_patch_layer_norm', 'flatten_patch_embeds')


@dataclass
class CheckpointLoadReport:
    """What a checkpoint load did, key by key.

    Attributes:
        path (str): The file or directory read.
        layout (str): ``'htsat'`` (original) or ``'clap'``.
        loaded (dict): model key -> source key(s) it was filled from.
        missing (list): model keys not filled from the file.
        unexpected (list): file keys not used.
        mismatched (list): ``(model key, source key, file shape, model
            shape)`` of converted tensors whose shape differs (not loaded).
        notes (dict): file key -> why it has no counterpart.
        config_differences (dict): CLAP ``config.json`` field ->
            ``(file value, encoder value)``.
    """
    path: str
    layout: str
    loaded: Dict[str, str] = field(default_factory=dict)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, str, tuple, tuple]] = field(
        default_factory=list)
    notes: Dict[str, str] = field(default_factory=dict)
    config_differences: Dict[str, Tuple[object, object]] = field(
        default_factory=dict)

    def summary(self, max_keys: int = 50, list_loaded: bool = False) -> str:
        """Multi-line human-readable report.

        Args:
            max_keys (int): Keys listed per section before eliding.
            list_loaded (bool): Also list ``model key <- file key`` pairs.
        """

        def block(title, items):
            items = list(items)
            lines = [f'  {title}: {len(items)}']
            lines += [f'    {it}' for it in items[:max_keys]]
            if len(items) > max_keys:
                lines.append(f'    ... ({len(items) - max_keys} more)')
            return lines

        lines = [f'HTSAT checkpoint load report for {self.path} '
                 f'(layout: {self.layout})']
        if list_loaded:
            lines += block('loaded', [f'{t} <- {s}'
                                      for t, s in self.loaded.items()])
        else:
            lines += [f'  loaded: {len(self.loaded)}']
        lines += block('missing (in model, not filled)', self.missing)
        lines += block('unexpected (in file, unused)', [
            f'{k}' + (f'  [{self.notes[k]}]' if k in self.notes else '')
            for k in self.unexpected
        ])
        lines += block('shape mismatches', [
            f'{m} <- {s}: file {tuple(fs)} vs model {tuple(ms)}'
            for m, s, fs, ms in self.mismatched
        ])
        if self.config_differences:
            lines += block('config.json differences (file vs encoder)', [
                f'{k}: {a!r} vs {b!r}'
                for k, (a, b) in self.config_differences.items()
            ])
        return '\n'.join(lines)

    def __str__(self) -> str:
        return self.summary()


# --------------------------------------------------------------------------
# reading files
# --------------------------------------------------------------------------
def _inert_stub(qualified_name: str) -> type:
    """A do-nothing class standing in for a pickled global we do not trust
    (e.g. ``pytorch_lightning.callbacks.ModelCheckpoint`` used as a dict key
    in Lightning checkpoints). It only stores what it is given."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.state = state

    return type(
        qualified_name.rsplit('.', 1)[-1], (), {
            '__new__': __new__,
            '__init__': __init__,
            '__setstate__': __setstate__,
            'stub_of': qualified_name,
        })


def _torch_load(path: str, trust_checkpoint: bool) -> object:
    """``torch.load(weights_only=True)``; if that refuses some pickled
    globals (typical of Lightning checkpoints: callback classes, hparams
    containers), retry with those names bound to inert stubs - still under
    ``weights_only`` - and finally, only if ``trust_checkpoint``, a full
    pickle load."""
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        first_error = err
    except Exception as err:  # corrupt / not a torch file
        raise RuntimeError(
            f'Cannot read HTSAT checkpoint {path!r}: {err}') from err
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        stubs = [(_inert_stub(n), n) for n in names]
        with torch.serialization.safe_globals(stubs):
            obj = torch.load(path, map_location='cpu', weights_only=True)
        print_log(
            f'HTSAT checkpoint {path!r}: replaced non-tensor pickled '
            f'globals by inert stubs: {names}', logger='current')
        return obj
    except Exception:  # fall through to the explicit error / trusted load
        pass
    if not trust_checkpoint:
        raise RuntimeError(
            f'HTSAT checkpoint {path!r} contains pickled objects that '
            f'torch.load(weights_only=True) refuses ({first_error}). If the '
            f'file comes from a source you trust, pass trust_checkpoint=True; '
            f'otherwise re-save its state_dict.') from first_error
    return torch.load(path, map_location='cpu', weights_only=False)


def _read_safetensors(path: str) -> Dict[str, Tensor]:
    from safetensors.torch import load_file
    try:
        return load_file(path, device='cpu')
    except Exception as err:
        raise RuntimeError(
            f'Cannot read safetensors file {path!r}: {err}') from err


def _extract_state_dict(obj: object, path: str) -> Dict[str, Tensor]:
    """Find the state dict inside a loaded checkpoint object."""
    if isinstance(obj, Mapping):
        for key in ('state_dict', 'model', 'module'):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(
                    isinstance(v, Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise ValueError(f'HTSAT checkpoint {path!r} holds no state dict.')
    sd = {k: v for k, v in obj.items() if isinstance(v, Tensor)}
    if not sd:
        raise ValueError(f'HTSAT checkpoint {path!r} holds no tensors.')
    return sd


def read_checkpoint(
        path: str,
        trust_checkpoint: bool = False) -> Tuple[Dict[str, Tensor],
                                                 Optional[dict]]:
    """Read a checkpoint file or a CLAP save directory.

    Args:
        path (str): ``.ckpt``/``.pth``/``.bin``/``.safetensors`` file, or a
            directory with ``model.safetensors`` (optionally sharded) or
            ``pytorch_model.bin`` and ``config.json``.
        trust_checkpoint (bool): Allow a full pickle load when
            ``weights_only=True`` refuses the file. Default False.

    Returns:
        tuple: ``(state_dict, config)``; ``config`` is the parsed
        ``config.json`` of a directory, else ``None``.

    Raises:
        FileNotFoundError: ``path`` (or the weights inside a directory) does
            not exist.
    """
    path = os.fspath(path)
    if not osp.exists(path):
        raise FileNotFoundError(f'HTSAT checkpoint not found: {path!r}')
    config = None
    if osp.isdir(path):
        cfg_file = osp.join(path, 'config.json')
        if osp.isfile(cfg_file):
            with open(cfg_file, encoding='utf-8') as f:
                try:
                    config = json.load(f)
                except json.JSONDecodeError as err:
                    raise ValueError(
                        f'Malformed config.json in {path!r}: {err}') from err
        st_file = osp.join(path, 'model.safetensors')
        st_index = osp.join(path, 'model.safetensors.index.json')
        bin_file = osp.join(path, 'pytorch_model.bin')
        if osp.isfile(st_file):
            sd = _read_safetensors(st_file)
        elif osp.isfile(st_index):
            with open(st_index, encoding='utf-8') as f:
                shards = sorted(set(json.load(f)['weight_map'].values()))
            sd = {}
            for shard in shards:
                shard_path = osp.join(path, shard)
                if not osp.isfile(shard_path):
                    raise FileNotFoundError(
                        f'Shard {shard_path!r} listed in {st_index!r} is '
                        f'missing.')
                sd.update(_read_safetensors(shard_path))
        elif osp.isfile(bin_file):
            sd = _extract_state_dict(
                _torch_load(bin_file, trust_checkpoint), bin_file)
        else:
            raise FileNotFoundError(
                f'CLAP checkpoint directory {path!r} has none of '
                f'model.safetensors, model.safetensors.index.json, '
                f'pytorch_model.bin.')
        return sd, config
    if path.endswith('.safetensors'):
        return _read_safetensors(path), None
    return _extract_state_dict(_torch_load(path, trust_checkpoint), path), None


def detect_layout(state_dict: Mapping[str, Tensor]) -> Optional[str]:
    """``'htsat'`` (fused qkv), ``'clap'`` (``audio_encoder.``) or ``None``."""
    keys = list(state_dict)
    if any(k.endswith('.attn.qkv.weight') for k in keys):
        return 'htsat'
    if any('audio_encoder.patch_embed.' in k or 'audio_encoder.layers.' in k
           for k in keys):
        return 'clap'
    return None


# --------------------------------------------------------------------------
# conversion
# --------------------------------------------------------------------------
ConvertResult = Tuple[Dict[str, Tensor], Dict[str, str], Dict[str, str],
                      List[Tuple[str, str, tuple, tuple]]]


def _reason(key: str, table: List[Tuple[str, str]]) -> Optional[str]:
    for pattern, why in table:
        if re.search(pattern, key):
            return why
    return None


def convert_htsat_state_dict(
        state_dict: Mapping[str, Tensor]) -> ConvertResult:
    """Apply the original-HTSAT rules.

    Returns:
        tuple: ``(converted, source_of, unused, bad)`` where ``converted``
        maps target keys to tensors, ``source_of`` target -> source key,
        ``unused`` source key -> reason for keys no rule takes, and ``bad``
        lists ``(target, source, shape, expected)`` for a qkv whose first dim
        is not divisible by 3.
    """
    prefix = next((p for p in HTSAT_PREFIXES
                   if any(k.startswith(p) for k in state_dict)), '')
    converted, source_of, unused, bad = {}, {}, {}, []
    qkv_pattern, qkv_target = HTSAT_QKV_RULE
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            unused[key] = f'outside the {prefix!r} prefix'
            continue
        name = key[len(prefix):]
        m = re.match(qkv_pattern, name)
        if m:
            base = m.expand(qkv_target)
            if value.shape[0] % 3:
                bad.append((base.format(part='query'), key, tuple(value.shape),
                            ('3*C', ) + tuple(value.shape[1:])))
                continue
            for part, chunk in zip(('query', 'key', 'value'),
                                   value.chunk(3, dim=0)):
                target = base.format(part=part)
                converted[target] = chunk.clone()
                source_of[target] = key
            continue
        for pattern, repl in HTSAT_RENAME_RULES:
            if re.match(pattern, name):
                target = re.sub(pattern, repl, name)
                converted[target] = value
                source_of[target] = key
                break
        else:
            unused[key] = (_reason(name, HTSAT_NO_COUNTERPART)
                           or 'no mapping rule')
    return converted, source_of, unused, bad


def convert_clap_state_dict(
        state_dict: Mapping[str, Tensor]) -> ConvertResult:
    """Apply the CLAP rules (see module docstring); same return as
    :func:`convert_htsat_state_dict` (``bad`` is always empty)."""
    anchor = next((k for k in state_dict if 'audio_encoder.patch_embed.' in k
                   or 'audio_encoder.layers.' in k), None)
    if anchor is None:
        return {}, {}, {k: 'no mapping rule' for k in state_dict}, []
    prefix = anchor[:anchor.index('audio_encoder.')] + 'audio_encoder.'
    converted, source_of, unused = {}, {}, {}
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            unused[key] = (_reason(key, CLAP_NO_COUNTERPART)
                           or f'outside the {prefix!r} prefix')
            continue
        rest = key[len(prefix):]
        if rest.startswith('batch_norm.'):
            target = 'frontend.bn0.' + rest[len('batch_norm.'):]
        else:
            target = 'audio_encoder.' + rest
        converted[target] = value
        source_of[target] = key
    return converted, source_of, unused, []


def _compare_clap_config(config: Optional[dict],
                         model_config: Optional[object]) -> Dict[str, tuple]:
    if config is None or model_config is None:
        return {}
    audio_cfg = config.get('audio_config', config)
    diffs = {}
    for name in CLAP_ARCH_FIELDS:
        if name not in audio_cfg or not hasattr(model_config, name):
            continue
        a, b = audio_cfg[name], getattr(model_config, name)
        norm = (lambda v: list(v) if isinstance(v, (list, tuple)) else v)
        if norm(a) != norm(b):
            diffs[name] = (a, b)
    if audio_cfg.get('enable_fusion', False):
        diffs['enable_fusion'] = (True, False)
    return diffs


def load_htsat_checkpoint(model: nn.Module,
                          path: str,
                          strict: bool = True,
                          trust_checkpoint: bool = False,
                          model_config: Optional[object] = None,
                          logger: Optional[str] = 'current',
                          log_fn: Optional[Callable[[str], None]] = None
                          ) -> CheckpointLoadReport:
    """Load an original-HTSAT or CLAP checkpoint into ``model``.

    Args:
        model (nn.Module): Module with ``frontend.bn0`` and ``audio_encoder``
            (an :class:`HTSATAudioEncoder`).
        path (str): Checkpoint file or CLAP directory.
        strict (bool): Raise if a model key stays missing (config-derived
            buffers excepted), on any shape mismatch, or on a CLAP
            ``config.json`` architecture difference (``enable_fusion``
            excepted: fusion keys are reported unexpected). Default True.
        trust_checkpoint (bool): See :func:`read_checkpoint`.
        model_config (ClapAudioConfig, optional): The encoder's config, to
            compare with a CLAP ``config.json``.
        logger (str, optional): mmengine logger for the report.
        log_fn (callable, optional): Alternative sink for the report text.

    Returns:
        CheckpointLoadReport: The key-by-key report.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: Unknown layout, nothing loaded, or (``strict``) missing
            keys / shape mismatches / architecture differences.
    """
    path = os.fspath(path)
    state_dict, config = read_checkpoint(path, trust_checkpoint)
    layout = detect_layout(state_dict)
    if layout is None:
        raise ValueError(
            f'HTSAT checkpoint {path!r}: keys match neither the original '
            f'HTSAT layout (fused attn.qkv) nor the CLAP layout '
            f'(audio_encoder.*); first keys: {list(state_dict)[:5]}')
    convert = (convert_htsat_state_dict
               if layout == 'htsat' else convert_clap_state_dict)
    converted, source_of, unused, bad = convert(state_dict)

    report = CheckpointLoadReport(path=path, layout=layout)
    if layout == 'clap':
        report.config_differences = _compare_clap_config(config, model_config)
    model_sd = model.state_dict()
    to_load = {}
    for target, value in converted.items():
        src = source_of[target]
        if target not in model_sd:
            report.unexpected.append(src)
            why = _reason(src, CLAP_NO_COUNTERPART if layout == 'clap' else
                          HTSAT_NO_COUNTERPART)
            report.notes[src] = why or f'converted to {target!r}, not in model'
        elif tuple(value.shape) != tuple(model_sd[target].shape):
            report.mismatched.append(
                (target, src, tuple(value.shape),
                 tuple(model_sd[target].shape)))
        else:
            to_load[target] = value
    for target, src, shape, expected in bad:
        report.mismatched.append((target, src, shape, expected))
    for src, why in unused.items():
        report.unexpected.append(src)
        report.notes[src] = why
    # a fused qkv source is reported unexpected only if none of its parts
    # were used
    used_sources = {source_of[t] for t in to_load}
    report.unexpected = sorted(
        set(k for k in report.unexpected if k not in used_sources))
    report.notes = {k: v for k, v in report.notes.items()
                    if k in report.unexpected}
    report.loaded = {t: source_of[t] for t in sorted(to_load)}
    report.missing = sorted(k for k in model_sd if k not in to_load)

    text = report.summary()
    if log_fn is not None:
        log_fn(text)
    else:
        problem = report.mismatched or [
            k for k in report.missing if not k.endswith(DERIVED_BUFFERS)
        ] or report.config_differences
        print_log(text, logger=logger,
                  level=logging.WARNING if problem else logging.INFO)

    if not to_load:
        raise ValueError(
            f'HTSAT checkpoint {path!r} ({layout} layout): no tensor could '
            f'be loaded into the encoder.\n{text}')
    if strict:
        hard_missing = [k for k in report.missing
                        if not k.endswith(DERIVED_BUFFERS)]
        arch_diffs = {k: v for k, v in report.config_differences.items()
                      if k != 'enable_fusion'}
        if hard_missing or report.mismatched or arch_diffs:
            raise ValueError(
                f'HTSAT checkpoint {path!r} ({layout} layout) does not fit '
                f'the encoder config ({len(hard_missing)} missing, '
                f'{len(report.mismatched)} shape mismatches, '
                f'{len(arch_diffs)} config.json differences); pass '
                f'strict=False to load the rest anyway.\n{text}')
    model.load_state_dict(to_load, strict=False)
    return report


def clap_frontend_cfg(path: str) -> dict:
    """``LogMelFrontend`` kwargs from a CLAP ``preprocessor_config.json``.

    CLAP's ``ClapFeatureExtractor`` computes a power mel spectrogram in dB
    (amin 1e-10, ref 1) like HTSAT, but at its own rate/hop (48 kHz / 480 for
    laion/clap-htsat-*), and with an HTK-scale, unnormalised filterbank when
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
                                f'{file!r}')
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
