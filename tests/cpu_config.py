"""Make a public config runnable in a CPU test, and change nothing else.

:func:`shrink_model_for_cpu` is the only place where a config's *model* is
changed for the config-cycle test (``tests/test_config_cycle.py``); the
data, pretrained-file, schedule and loader overrides are in
:func:`point_at_fixtures`, :func:`short_schedule` and :func:`no_workers`.
What each one changes:

* ``shrink_model_for_cpu`` (only parts above the CPU budget, see
  ``CPU_BUDGET``; the CPU configs ``configs/ddavs_tiny_*.py`` and
  ``projects/*/configs/*.py`` stay untouched):

  - a MiT backbone: ``embed_dims`` and ``num_layers`` of the repository's
    tiny model (``configs/_base_/models/ddavs_tiny.py``);
    ``decode_head.in_channels`` follows the new stage widths;
  - the HTSAT audio encoder: one block per stage, the tiny model's output
    width (stage widths halving down from it, 8-d attention heads); its
    stages, window, spectrogram size, mel bins and front end (so the input
    length it accepts and its token grid) are kept;
  - the Q-Former: the tiny model's width, layers, heads and FFN size;
    ``audio_query.in_channels``, ``contrastive_head.in_channels`` /
    ``hidden_channels`` / ``out_channels`` and ``decode_head.query_channels``
    follow the new audio and query widths;
  - the mask decoder: the tiny model's ``channels``.

  Everything else of the model stays: the switches the ablations vary
  (``num_queries``, ``inject_stages``, ``fusion_position``,
  ``norm_position``, ``with_alignment``, ``query_readout``, a missing
  bank / AQM / COM), class counts, losses, norms, dropouts, initialisation
  configs and the data preprocessor.
* ``point_at_fixtures``: ``data_root`` of the three loaders, and every
  pretrained file (``init_cfg`` checkpoints, ``audio_encoder.pretrained``)
  and bank file of the model, which it writes (random weights of the
  shrunk model's parts, in the layout the real files have; a random bank
  of the data set's class count).
* ``short_schedule``: ``train_cfg.max_epochs`` and ``val_interval``.
* ``no_workers``: the loaders read in the main process
  (``num_workers=0``).

Runtime, hooks, evaluator, param schedulers, optimizer, data pipelines and
the other loader settings (batch sizes, samplers, ``worker_init_fn``) are
the config's own.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_MODEL = osp.join(ROOT, 'configs', '_base_', 'models', 'ddavs_tiny.py')

#: The largest size of each part that the repository's CPU configs use;
#: a part above it is shrunk to the tiny model's size.
CPU_BUDGET = dict(
    mit_embed_dims=32, mit_blocks=4, htsat_hidden_size=64, htsat_blocks=2,
    qformer_dims=64, qformer_layers=1, mask_decoder_channels=128)

#: Every model key ``shrink_model_for_cpu`` may change (nothing else).
SHRUNK_KEYS = frozenset((
    'backbone.embed_dims', 'backbone.num_layers', 'decode_head.in_channels',
    'audio_encoder.depths', 'audio_encoder.hidden_size',
    'audio_encoder.patch_embeds_hidden_size',
    'audio_encoder.num_attention_heads', 'audio_query.in_channels',
    'audio_query.embed_dims', 'audio_query.qformer_cfg.num_hidden_layers',
    'audio_query.qformer_cfg.num_attention_heads',
    'audio_query.qformer_cfg.intermediate_size',
    'contrastive_head.in_channels', 'contrastive_head.hidden_channels',
    'contrastive_head.out_channels', 'decode_head.query_channels',
    'decode_head.mask_decoder.channels', 'alignment.in_channels',
    'alignment.query_channels'))

MIT_TYPES = ('MixVisionTransformer', 'mmseg.MixVisionTransformer',
             'FreezableMixVisionTransformer', 'SDPAMixVisionTransformer')
#: Categories of AVSBench S4 (the source classes of the binary configs'
#: banks, DDESeg's [23, K, 768] layout); binary data sets have no class
#: list of their own to take the count from.
S4_NUM_CATEGORIES = 23
BANK_PROTOTYPES_PER_CLASS = 2
#: width of an attention head in a shrunk HTSAT
HEAD_DIMS = 8


def _tiny() -> ConfigDict:
    return Config.fromfile(TINY_MODEL).model


# -- the model ----------------------------------------------------------------
def _follow(part: Optional[ConfigDict], key: str, old, new) -> bool:
    """Set ``part[key] = new`` where it equals the old width (a width that
    was tied to the shrunk part); a value that did not match before is
    left as the config has it."""
    if part is None or part.get(key) != old or old == new:
        return False
    part[key] = new
    return True


def _shrink_mit(model: ConfigDict, tiny: ConfigDict) -> List[str]:
    bb = model.backbone
    if bb.get('type') not in MIT_TYPES:
        return []
    layers = list(bb.get('num_layers', [3, 4, 6, 3]))
    if bb.get('embed_dims', 64) <= CPU_BUDGET['mit_embed_dims'] and \
            sum(layers) <= CPU_BUDGET['mit_blocks']:
        return []
    heads = bb.get('num_heads', [1, 2, 5, 8])
    old = [bb.get('embed_dims', 64) * h for h in heads]
    bb.embed_dims = tiny.backbone.embed_dims
    bb.num_layers = [1] * len(layers)
    new = [bb.embed_dims * h for h in heads]
    _follow(model.decode_head, 'in_channels', old, new)
    _follow(model.get('alignment'), 'in_channels', old, new)
    return [f'backbone: embed_dims {bb.embed_dims}, num_layers '
            f'{bb.num_layers}; decode_head.in_channels '
            f'{model.decode_head.get("in_channels")}']


def _shrink_htsat(model: ConfigDict, tiny: ConfigDict) -> List[str]:
    enc = model.audio_encoder
    if enc.get('type') != 'HTSATAudioEncoder':
        return []
    depths = list(enc.get('depths', (2, 2, 6, 2)))
    if enc.get('hidden_size', 768) <= CPU_BUDGET['htsat_hidden_size'] and \
            sum(depths) <= CPU_BUDGET['htsat_blocks']:
        return []
    # same stages (so the same token grid), spectrogram and front end: the
    # input length the encoder accepts and the tokens it gives stay
    width = tiny.audio_encoder.hidden_size
    stages = len(depths)
    first = width // 2**(stages - 1)
    enc.depths = [1] * stages
    enc.hidden_size = width
    enc.patch_embeds_hidden_size = first
    enc.num_attention_heads = [max(1, first * 2**i // HEAD_DIMS)
                               for i in range(stages)]
    return [f'audio_encoder: HTSAT widths {first}..{width}, depths '
            f'{enc.depths}, heads {enc.num_attention_heads}']


def _shrink_queries(model: ConfigDict, tiny: ConfigDict,
                    old_audio: int) -> List[str]:
    notes = []
    new_audio = model.audio_encoder.get('hidden_size', 768)
    old_query, new_query = old_audio, new_audio
    aqm = model.get('audio_query')
    if aqm is not None:
        _follow(aqm, 'in_channels', old_audio, new_audio)
        qf = aqm.setdefault('qformer_cfg', ConfigDict())
        old_query = new_query = aqm.get('embed_dims', 768)
        if old_query > CPU_BUDGET['qformer_dims'] or \
                qf.get('num_hidden_layers', 2) > \
                CPU_BUDGET['qformer_layers']:
            new_query = aqm.embed_dims = tiny.audio_query.embed_dims
            for key in ('num_hidden_layers', 'num_attention_heads',
                        'intermediate_size'):
                qf[key] = tiny.audio_query.qformer_cfg[key]
            notes.append(f'audio_query: width {new_query}, '
                         f'{qf.num_hidden_layers} Q-Former layer')
    head = model.get('contrastive_head')
    if _follow(head, 'in_channels', old_query, new_query):
        _follow(head, 'hidden_channels', old_query, new_query)
        head.out_channels = min(head.get('out_channels', 256),
                                tiny.contrastive_head.out_channels)
        notes.append(f'contrastive_head: {new_query} -> '
                     f'{head.out_channels}')
    for name in ('alignment', 'decode_head'):
        if _follow(model.get(name), 'query_channels', old_query, new_query):
            notes.append(f'{name}.query_channels {new_query}')
    return notes


def _shrink_mask_decoder(model: ConfigDict, tiny: ConfigDict) -> List[str]:
    dec = model.decode_head.get('mask_decoder')
    if dec is None or dec.get('channels', 0) <= \
            CPU_BUDGET['mask_decoder_channels']:
        return []
    dec.channels = tiny.decode_head.mask_decoder.channels
    return [f'mask_decoder: channels {dec.channels}']


def shrink_model_for_cpu(cfg: Config) -> List[str]:
    """Shrink the parts of ``cfg.model`` above ``CPU_BUDGET`` in place.

    Returns:
        list[str]: what was changed (empty for a CPU-sized model).
    """
    tiny = _tiny()
    model = cfg.model
    old_audio = model.audio_encoder.get('hidden_size', 768)
    notes = _shrink_mit(model, tiny) + _shrink_htsat(model, tiny)
    return notes + _shrink_queries(model, tiny, old_audio) + \
        _shrink_mask_decoder(model, tiny)


# -- schedule and loaders -----------------------------------------------------
def short_schedule(cfg: Config, max_epochs: int = 1) -> None:
    """``max_epochs`` epochs, validation after each."""
    cfg.train_cfg.max_epochs = max_epochs
    cfg.train_cfg.val_interval = 1


def no_workers(cfg: Config) -> None:
    """Load the data in the main process (``num_workers=0``, so no
    persistent workers): on a shared 2-core machine each worker process's
    start and shutdown cost a run more than its steps. The worker path
    (fork, ``worker_init_fn``) runs in ``tests/test_tools.py``, which
    trains the main job's config through ``tools/train.py``."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False


# -- data and files -----------------------------------------------------------
def point_at_fixtures(cfg: Config, data_root: str, work_dir: str,
                      classes: Optional[Sequence[str]]) -> Dict[str, str]:
    """Point the loaders at ``data_root`` and the model's pretrained and bank
    files at fixtures written under ``work_dir/fixtures``.

    Args:
        cfg (Config): the (shrunk) config, changed in place.
        data_root (str): fixture data set in the config's layout.
        work_dir (str): folder of this config's run.
        classes (Sequence[str], optional): the data set's class list
            (semantic data sets) for the bank; None for binary data sets.

    Returns:
        dict: original path -> fixture path of every file written.
    """
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = data_root
    out_dir = osp.join(work_dir, 'fixtures')
    os.makedirs(out_dir, exist_ok=True)
    model = cfg.model
    written = {}

    def fixture(path: str) -> str:
        new = osp.join(out_dir, osp.basename(path))
        written[path] = new
        return new

    aqm = model.get('audio_query')
    bank = aqm.get('bank') if aqm is not None else None
    if bank is not None and bank.get('bank_path'):
        bank.bank_path = fixture(bank.bank_path)
        write_random_bank(bank.bank_path, aqm.in_channels, classes)

    # pretrained files: (module name in the model, fixture path, prefix)
    refs: List[Tuple[str, str, Optional[str]]] = []
    enc = model.audio_encoder
    if enc.get('pretrained'):
        enc.pretrained = fixture(enc.pretrained)
        refs.append(('audio_encoder', enc.pretrained, None))
    for name, part in (('backbone', model.backbone),
                       ('decode_head.mask_decoder',
                        model.decode_head.get('mask_decoder'))):
        init = part.get('init_cfg') if part is not None else None
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            init.checkpoint = fixture(init.checkpoint)
            refs.append((name, init.checkpoint, init.get('prefix')))
    if refs:
        write_pretrained_files(cfg, refs)
    return written


def write_random_bank(path: str, width: int,
                      classes: Optional[Sequence[str]]) -> None:
    """A random bank of ``BANK_PROTOTYPES_PER_CLASS`` rows per class, in the
    format the suffix asks for: every non-background class of ``classes``
    (ids and names as the bank builder writes them), or the S4 categories
    for a binary data set."""
    from ddavs_mm.models.audio_query.prototype_bank import save_bank
    k = BANK_PROTOTYPES_PER_CLASS
    rng = np.random.default_rng(0)
    if classes is None:
        names = [f's4_category_{i}' for i in range(S4_NUM_CATEGORIES)]
        ids = np.repeat(np.arange(len(names)), k)
    else:
        names = list(classes)
        # DDESeg's .npy numbers its classes from 0; the builder's files
        # use the data set's ids (background has no prototypes)
        first = 0 if path.endswith('.npy') else 1
        ids = np.repeat(np.arange(first, len(names)), k)
    protos = rng.standard_normal((len(ids), width)).astype(np.float32)
    save_bank(path, protos, ids, None if path.endswith('.npy') else names,
              dict(builder='tests/cpu_config.py (random)'))


def write_pretrained_files(cfg: Config,
                           refs: List[Tuple[str, str, Optional[str]]]) -> None:
    """Write random weights of the model's parts where its config loads
    pretrained files, as the real files hold them: HTSAT in CLAP key layout
    (what ``tools/pretrain_audio_encoder.py`` writes), a visual part under
    its ``prefix`` (a mask decoder without its classifier ``conv_seg``, as
    ``tools/pretrain_visual_encoder.py`` writes it)."""
    from ddavs_mm.apis.audio_encoder_pretrain import \
        encoder_state_in_clap_layout
    from ddavs_mm.registry import MODELS
    init_default_scope('ddavs_mm')
    torch.manual_seed(0)
    built = MODELS.build(cfg.model)
    files: Dict[str, dict] = {}
    for name, path, prefix in refs:
        module = built.get_submodule(name)
        if name == 'audio_encoder':
            state = encoder_state_in_clap_layout(module)
        else:
            state = {k: v for k, v in module.state_dict().items()
                     if not k.startswith('conv_seg.')}
        files.setdefault(path, {}).update(
            {(prefix or '') + k: v.detach().clone()
             for k, v in state.items()})
    for path, state in files.items():
        torch.save(dict(state_dict=state), path)
