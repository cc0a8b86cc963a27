"""MiT (SegFormer encoder) weights in the layouts users have, as mmseg keys.

Three layouts of the same weights exist:

* ``'nvidia'``: NVIDIA's original SegFormer ImageNet files
  (``mit_b0.pth`` ... ``mit_b5.pth``): ``patch_embed{s}.*``,
  ``block{s}.{j}.*``, ``norm{s}.*`` (s = 1..4) and the ImageNet classifier
  ``head.*``;
* ``'transformers'``: a transformers directory such as ``nvidia/mit-b5``
  (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``), read
  with ``SegformerModel.from_pretrained``; the names of its files
  (``[segformer.]encoder.block.{i}.{j}.attention.self.query.*``, ...) and
  those of transformers 5's modules (``stages.{i}.blocks.{j}.attention.
  q_proj.*``, ...) are both understood;
* ``'mmseg'``: mmseg's ``MixVisionTransformer`` keys (``layers.{i}.0.*``
  patch embedding, ``layers.{i}.1.{j}.*`` blocks, ``layers.{i}.2.*`` norm),
  e.g. the output of mmseg's ``mit2mmseg.py`` or OpenMMLab's download.

The mapping to mmseg keys, with ``i = s - 1``, NVIDIA's ``B =
block{s}.{j}``, transformers' ``T = encoder.block.{i}.{j}`` (files) or
``stages.{i}.blocks.{j}`` (transformers 5 modules) and mmseg's ``L =
layers.{i}.1.{j}``::

    NVIDIA            transformers                      mmseg
    patch_embed{s}.proj
                      encoder.patch_embeddings.{i}.proj /
                      stages.{i}.patch_embeddings.proj  layers.{i}.0.projection
    patch_embed{s}.norm
                      (same).layer_norm                 layers.{i}.0.norm
    B.norm1           T.layer_norm_1 / layernorm_before L.norm1
    B.attn.q          T.attention.self.query / q_proj   L.attn.attn.in_proj_*
    B.attn.kv         T.attention.self.key + value /      = [q; k; v]
                      k_proj + v_proj
    B.attn.proj       T.attention.output.dense / o_proj L.attn.attn.out_proj
    B.attn.sr         T.attention.self.sr / sequence_reduction.
                      sequence_reduction                L.attn.sr
    B.attn.norm       T.attention.self.layer_norm /
                      sequence_reduction.layer_norm     L.attn.norm
    B.norm2           T.layer_norm_2 / layernorm_after  L.norm2
    B.mlp.fc1         T.mlp.dense1 / mlp.fc1            L.ffn.layers.0
    B.mlp.dwconv.dwconv
                      T.mlp.dwconv.dwconv               L.ffn.layers.1
    B.mlp.fc2         T.mlp.dense2 / mlp.fc2            L.ffn.layers.4
    norm{s}           encoder.layer_norm.{i} /
                      stages.{i}.layer_norm             layers.{i}.2

Linear weights ``[out, in]`` of the FFN become 1x1 conv weights
``[out, in, 1, 1]``; NVIDIA's ``kv`` holds the key rows, then the value rows.
Classifier keys (``head.*``, ``classifier.*``) and a SegFormer decode head
(``decode_head.*``) are dropped and named in the report; any other key is an
error. The number of attention heads does not show in the shapes: it is
checked against ``config.json`` where a transformers directory has one.

:func:`load_mit_checkpoint` reads a file or directory, converts it, loads it
with MMEngine's ``load_state_dict`` (strict) and logs what it loaded;
``tools/model_converters/mit2ddavs.py`` writes the converted state dict.
"""
import logging
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict
from torch import Tensor

#: Source keys that are not part of the encoder, with the reason.
DROPPED_PREFIXES = (
    ('head.', 'ImageNet classifier'),
    ('classifier.', 'ImageNet classifier'),
    ('decode_head.', 'SegFormer decode head'),
)

# transformers names inside a block (file names | transformers 5 modules)
# -> NVIDIA names; k and v are concatenated into NVIDIA's kv
_HF_BLOCK_PARTS = (
    (r'layer_norm_1|layernorm_before', 'norm1'),
    (r'layer_norm_2|layernorm_after', 'norm2'),
    (r'attention\.self\.query|attention\.q_proj', 'attn.q'),
    (r'attention\.self\.key|attention\.k_proj', 'attn.k'),
    (r'attention\.self\.value|attention\.v_proj', 'attn.v'),
    (r'attention\.output\.dense|attention\.o_proj', 'attn.proj'),
    (r'attention\.self\.sr|'
     r'attention\.sequence_reduction\.sequence_reduction', 'attn.sr'),
    (r'attention\.self\.layer_norm|'
     r'attention\.sequence_reduction\.layer_norm', 'attn.norm'),
    (r'mlp\.dense1|mlp\.fc1', 'mlp.fc1'),
    (r'mlp\.dense2|mlp\.fc2', 'mlp.fc2'),
    (r'mlp\.dwconv\.dwconv', 'mlp.dwconv.dwconv'),
)
_HF_BLOCK = re.compile(r'^(?:encoder\.block\.(\d+)\.|stages\.(\d+)\.blocks\.)'
                       r'(\d+)\.(.+)\.(weight|bias)$')
_HF_PATCH = re.compile(r'^(?:encoder\.patch_embeddings\.(\d+)|'
                       r'stages\.(\d+)\.patch_embeddings)\.'
                       r'(proj|layer_norm)\.(weight|bias)$')
_HF_NORM = re.compile(r'^(?:encoder\.layer_norm\.(\d+)|stages\.(\d+)\.'
                      r'layer_norm)\.(weight|bias)$')

# NVIDIA names inside a block -> mmseg names
_NV_BLOCK_PARTS = {
    'norm1': 'norm1',
    'norm2': 'norm2',
    'attn.proj': 'attn.attn.out_proj',
    'attn.sr': 'attn.sr',
    'attn.norm': 'attn.norm',
    'mlp.fc1': 'ffn.layers.0',
    'mlp.dwconv.dwconv': 'ffn.layers.1',
    'mlp.fc2': 'ffn.layers.4',
}
_NV_BLOCK = re.compile(r'^block(\d+)\.(\d+)\.(.+)\.(weight|bias)$')
_NV_PATCH = re.compile(r'^patch_embed(\d+)\.(proj|norm)\.(weight|bias)$')
_NV_NORM = re.compile(r'^norm(\d+)\.(weight|bias)$')

_LAYOUT_ANCHORS = (
    ('mmseg', re.compile(r'^layers\.0\.0\.projection\.weight$')),
    ('nvidia', re.compile(r'^patch_embed1\.proj\.weight$')),
    ('transformers', re.compile(
        r'^(segformer\.)?(encoder\.patch_embeddings\.0|'
        r'stages\.0\.patch_embeddings)\.proj\.weight$')),
)


def detect_mit_layout(state_dict: Mapping[str, Tensor]) -> Optional[str]:
    """``'mmseg'``, ``'nvidia'``, ``'transformers'`` or ``None``."""
    for layout, anchor in _LAYOUT_ANCHORS:
        if any(anchor.match(k) for k in state_dict):
            return layout
    return None


def _split_dropped(state_dict: Mapping[str, Tensor]
                   ) -> Tuple[Dict[str, Tensor], Dict[str, str]]:
    kept, dropped = OrderedDict(), OrderedDict()
    for key, value in state_dict.items():
        why = next((why for prefix, why in DROPPED_PREFIXES
                    if key.startswith(prefix)), None)
        if why is None:
            kept[key] = value
        else:
            dropped[key] = why
    return kept, dropped


def _unmapped_error(keys, layout: str) -> ValueError:
    keys = sorted(keys)
    return ValueError(
        f'{len(keys)} key(s) of the {layout} MiT layout have no mmseg '
        f'counterpart: {keys[:8]}')


def transformers_to_nvidia(state_dict: Mapping[str, Tensor]
                           ) -> Tuple[Dict[str, Tensor], Dict[str, str]]:
    """transformers Segformer keys -> NVIDIA SegFormer keys.

    Args:
        state_dict (Mapping[str, Tensor]): keys of a transformers file or of
            a ``SegformerModel`` (with or without ``segformer.``).

    Returns:
        tuple: ``(converted, dropped)``: the NVIDIA-keyed tensors, and the
        dropped source keys with the reason.

    Raises:
        ValueError: a key has no counterpart, or a block has a key but no
            value projection (or the reverse).
    """
    stripped = OrderedDict(
        (k[len('segformer.'):] if k.startswith('segformer.') else k, v)
        for k, v in state_dict.items())
    kept, dropped = _split_dropped(stripped)
    out, kv, unmapped = OrderedDict(), {}, []
    for key, value in kept.items():
        m = _HF_PATCH.match(key)
        if m:
            stage = int(m.group(1) or m.group(2)) + 1
            part = 'proj' if m.group(3) == 'proj' else 'norm'
            out[f'patch_embed{stage}.{part}.{m.group(4)}'] = value
            continue
        m = _HF_NORM.match(key)
        if m:
            stage = int(m.group(1) or m.group(2)) + 1
            out[f'norm{stage}.{m.group(3)}'] = value
            continue
        m = _HF_BLOCK.match(key)
        part = None
        if m:
            part = next((nv for hf, nv in _HF_BLOCK_PARTS
                         if re.fullmatch(hf, m.group(4))), None)
        if part is None:
            unmapped.append(key)
            continue
        stage = int(m.group(1) or m.group(2)) + 1
        prefix = f'block{stage}.{m.group(3)}.'
        if part in ('attn.k', 'attn.v'):
            kv.setdefault((prefix, m.group(5)), {})[part] = value
        else:
            out[f'{prefix}{part}.{m.group(5)}'] = value
    if unmapped:
        raise _unmapped_error(unmapped, 'transformers')
    for (prefix, kind), parts in kv.items():
        if set(parts) != {'attn.k', 'attn.v'}:
            raise ValueError(f'{prefix}: the key and value projections '
                             f'({kind}) must both be present')
        out[f'{prefix}attn.kv.{kind}'] = torch.cat(
            [parts['attn.k'], parts['attn.v']], dim=0)
    return out, dropped


def nvidia_to_mmseg(state_dict: Mapping[str, Tensor]
                    ) -> Tuple[Dict[str, Tensor], Dict[str, str]]:
    """NVIDIA SegFormer keys -> mmseg ``MixVisionTransformer`` keys.

    Returns:
        tuple: ``(converted, dropped)`` as :func:`transformers_to_nvidia`.

    Raises:
        ValueError: a key has no counterpart, or a block has ``attn.q`` but
            no ``attn.kv`` (or the reverse).
    """
    kept, dropped = _split_dropped(state_dict)
    out, qkv, unmapped = OrderedDict(), {}, []
    for key, value in kept.items():
        m = _NV_PATCH.match(key)
        if m:
            part = 'projection' if m.group(2) == 'proj' else 'norm'
            out[f'layers.{int(m.group(1)) - 1}.0.{part}.{m.group(3)}'] = \
                value
            continue
        m = _NV_NORM.match(key)
        if m:
            out[f'layers.{int(m.group(1)) - 1}.2.{m.group(2)}'] = value
            continue
        m = _NV_BLOCK.match(key)
        if not m:
            unmapped.append(key)
            continue
        prefix = f'layers.{int(m.group(1)) - 1}.1.{m.group(2)}.'
        part, kind = m.group(3), m.group(4)
        if part in ('attn.q', 'attn.kv'):
            qkv.setdefault((prefix, kind), {})[part] = value
            continue
        if part not in _NV_BLOCK_PARTS:
            unmapped.append(key)
            continue
        if part in ('mlp.fc1', 'mlp.fc2') and kind == 'weight':
            value = value.reshape(*value.shape, 1, 1)
        out[f'{prefix}{_NV_BLOCK_PARTS[part]}.{kind}'] = value
    if unmapped:
        raise _unmapped_error(unmapped, 'NVIDIA')
    for (prefix, kind), parts in qkv.items():
        if set(parts) != {'attn.q', 'attn.kv'}:
            raise ValueError(f'{prefix}: attn.q and attn.kv ({kind}) must '
                             'both be present')
        out[f'{prefix}attn.attn.in_proj_{kind}'] = torch.cat(
            [parts['attn.q'], parts['attn.kv']], dim=0)
    return out, dropped


def convert_mit_state_dict(state_dict: Mapping[str, Tensor]
                           ) -> Tuple[Dict[str, Tensor], str, Dict[str, str]]:
    """Any of the three layouts -> mmseg keys.

    Returns:
        tuple: ``(converted, layout, dropped)``.

    Raises:
        ValueError: the keys match none of the layouts, or some key of the
            detected layout has no counterpart.
    """
    layout = detect_mit_layout(state_dict)
    if layout is None:
        raise ValueError(
            'the keys match none of the MiT layouts (NVIDIA patch_embed1.*, '
            'transformers encoder.patch_embeddings.0.*, mmseg '
            f'layers.0.0.projection.*); first keys: {list(state_dict)[:5]}')
    if layout == 'mmseg':
        kept, dropped = _split_dropped(state_dict)
        return OrderedDict(kept), layout, dropped
    if layout == 'transformers':
        state_dict, dropped = transformers_to_nvidia(state_dict)
    else:
        dropped = {}
    converted, more = nvidia_to_mmseg(state_dict)
    dropped.update(more)
    return converted, layout, dropped


def read_mit_checkpoint(path: str) -> Tuple[Dict[str, Tensor],
                                            Optional[object]]:
    """Tensors of a MiT checkpoint, as stored.

    Args:
        path (str): a transformers directory (``config.json`` and weights,
            read by ``SegformerModel.from_pretrained(path,
            local_files_only=True)``), a ``.safetensors`` file, a torch file
            (``torch.load(weights_only=True)``; a dict holding
            ``state_dict`` or ``model`` is unwrapped) or a URL that MMEngine's
            ``CheckpointLoader`` reads.

    Returns:
        tuple: ``(state_dict, config)``; ``config`` is the
        ``SegformerConfig`` of a directory, else ``None``.

    Raises:
        FileNotFoundError: a local ``path`` does not exist.
        ValueError: the directory's weights do not fill the model of its
            ``config.json``, or the file holds no tensors.
    """
    path = os.fspath(path)
    if osp.isdir(path):
        from transformers import SegformerModel
        model, info = SegformerModel.from_pretrained(
            path, local_files_only=True, output_loading_info=True)
        if info['missing_keys'] or info['mismatched_keys']:
            raise ValueError(
                f'{path}: the weights do not fill the SegformerModel of its '
                f'config.json (missing {sorted(info["missing_keys"])[:5]}, '
                f'mismatched {list(info["mismatched_keys"])[:5]})')
        return OrderedDict(model.state_dict()), model.config
    if '://' in path:
        obj = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    elif not osp.isfile(path):
        raise FileNotFoundError(f'MiT checkpoint not found: {path}')
    elif path.endswith('.safetensors'):
        from safetensors.torch import load_file
        obj = load_file(path, device='cpu')
    else:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    if isinstance(obj, Mapping):
        for key in ('state_dict', 'model'):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise ValueError(f'{path} holds a {type(obj).__name__}, not a state '
                         'dict')
    state = OrderedDict((k, v) for k, v in obj.items()
                        if isinstance(v, Tensor))
    if not state:
        raise ValueError(f'{path} holds no tensors')
    return state, None


def _check_config(module: nn.Module, config, path: str) -> None:
    """Compare a transformers ``SegformerConfig`` with mmseg MiT settings
    (the number of heads does not show in the shapes)."""
    fields = dict(num_layers='depths', num_heads='num_attention_heads',
                  sr_ratios='sr_ratios', patch_sizes='patch_sizes',
                  strides='strides')
    diffs = []
    for ours, theirs in fields.items():
        if hasattr(module, ours) and hasattr(config, theirs) and \
                list(getattr(module, ours)) != list(getattr(config, theirs)):
            diffs.append(f'{ours}={list(getattr(module, ours))} vs '
                         f'{theirs}={list(getattr(config, theirs))}')
    if diffs:
        raise ValueError(f'{path}: config.json describes another MiT than '
                         f'the backbone: {"; ".join(diffs)}')


def load_mit_checkpoint(module: nn.Module,
                        path: str,
                        prefix: Optional[str] = None,
                        logger: str = 'current') -> dict:
    """Load MiT weights of any layout into an mmseg ``MixVisionTransformer``.

    Args:
        module (nn.Module): the backbone (mmseg keys).
        path (str): file, URL or transformers directory
            (see :func:`read_mit_checkpoint`).
        prefix (str, optional): take only the keys under this prefix (e.g.
            ``'backbone.'`` of a segmentor checkpoint), with it removed.
        logger (str): MMEngine logger of the report.

    Returns:
        dict: ``layout``, ``loaded`` (number of tensors), ``dropped``
        (source key -> reason).

    Raises:
        ValueError: unknown layout, unmapped keys, another architecture in
            ``config.json``, or keys/shapes that do not fit ``module``
            (MMEngine's strict ``load_state_dict``); the message names
            ``path``.
    """
    state, config = read_mit_checkpoint(path)
    if prefix:
        state = OrderedDict((k[len(prefix):], v) for k, v in state.items()
                            if k.startswith(prefix))
        if not state:
            raise ValueError(f'{path}: no key starts with {prefix!r}')
    try:
        converted, layout, dropped = convert_mit_state_dict(state)
    except ValueError as err:
        hint = ''
        if detect_mit_layout(state) is None and any(
                k.startswith('backbone.') for k in state):
            hint = " (its keys start with 'backbone.': set prefix)"
        raise ValueError(f'{path}{hint}: {err}') from err
    if config is not None:
        _check_config(module, config, path)
    try:
        load_state_dict(module, converted, strict=True, logger=logger)
    except RuntimeError as err:
        raise ValueError(f'{path} ({layout} layout) does not fit '
                         f'{type(module).__name__}: {err}') from err
    text = (f'MiT weights {path}: {layout} layout, {len(converted)} tensors '
            f'loaded into {type(module).__name__}')
    if dropped:
        reasons = sorted(set(dropped.values()))
        text += (f'; dropped {len(dropped)} key(s) of the file: '
                 f'{", ".join(reasons)}')
    print_log(text, logger=logger, level=logging.INFO)
    return dict(layout=layout, loaded=len(converted), dropped=dropped)
