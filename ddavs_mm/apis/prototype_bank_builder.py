"""Build the prototype memory bank M of DDAVS (appendix B.1).

Recipe (DDAVS follows DDESeg): embed every single-source second of a class
``c`` (:mod:`ddavs_mm.datasets.single_source_segments`) with the *same*
frozen audio encoder as the model (pooled embedding, ``[D]``), cluster the
class's features with K-means (k-means++, seeded) and keep the
``per_cluster`` features nearest each centre as prototypes. The bank is the
concatenation over classes, ``[P, D]``, with the class id of every row and
whether the row is a real prototype (see ``small_class``).

A class with ``n < K * m`` features (``m = per_cluster``) follows
``small_class``: ``'fewer'`` (default) keeps ``K_c = max(1, min(K, n //
m))`` centres and ``min(m, n)`` features per centre, so the bank is ragged;
``'duplicate'`` does the same and then repeats those prototypes (largest
cluster first) up to ``K * m`` rows, flagged as not real; ``'error'``
raises. An AVSS class labelled in the split but without a single-source
second gets prototypes from its least-mixed seconds (``mixed_fallback``).
Every such class is listed in the log and in ``build_info``; a class with
no second at all gets no prototype (``build_info['missing_classes']``).

Determinism: the encoder (when not loaded from a checkpoint) is initialised
after ``torch.manual_seed(seed)``, K-means uses ``random_state=seed``, and the
clusters of a class are ordered by size (largest first, ties by the lowest
index of their nearest feature), so the same inputs give the same bank.
"""
import datetime
import itertools
import json
import logging
import os.path as osp
import pickle
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import CheckpointLoader, load_state_dict

from ddavs_mm.datasets.single_source_segments import (
    ClipSeconds, collect_single_source_items, iter_segments)

SMALL_CLASS_RULES = ('fewer', 'duplicate', 'error')


def _log(msg: str, level: int = logging.INFO) -> None:
    print_log(msg, logger='current', level=level)


# ------------------------------------------------------------------ encoder
def _model_checkpoint_state(path: str) -> Optional[dict]:
    """The state dict of a DDAVS-MM model checkpoint (one holding
    ``audio_encoder.frontend.*``), or None for any other file (HTSAT /
    CLAP weights, which the encoder's own loader reads)."""
    if not osp.isfile(path):
        return None
    try:
        ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    except (pickle.UnpicklingError, RuntimeError, EOFError):
        return None  # e.g. a Lightning file that weights_only refuses
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
    if any(str(k).startswith('audio_encoder.frontend.') for k in state):
        return state
    return None


def build_audio_encoder(cfg: Union[str, Config, dict],
                        checkpoint: Optional[str] = None,
                        device: str = 'cpu',
                        seed: int = 0) -> Tuple[torch.nn.Module, dict]:
    """Build the frozen audio encoder of a model config.

    Args:
        cfg (str | Config | dict): model config (file or object) with
            ``model.audio_encoder``; or an encoder config dict itself (a dict
            with ``type``).
        checkpoint (str, optional): weights: a DDAVS-MM model checkpoint
            (its ``audio_encoder.*`` weights, all of them, strictly), else
            anything the encoder's ``load_pretrained`` reads (HTSAT
            Lightning checkpoint, CLAP directory / file). Without it, the
            config's own ``init_cfg`` is loaded; with neither the encoder
            keeps its seeded random initialisation (a warning says so).
        device (str): torch device.
        seed (int): seed of the random initialisation.

    Returns:
        tuple: encoder in eval mode, and a dict describing it (config,
        checkpoint, weights).
    """
    from ddavs_mm.registry import MODELS
    if isinstance(cfg, str):
        cfg = Config.fromfile(cfg)
    if isinstance(cfg, dict) and 'type' in cfg and 'model' not in cfg:
        enc_cfg = dict(cfg)
    else:
        model = cfg.get('model') if hasattr(cfg, 'get') else None
        enc_cfg = model.get('audio_encoder') if model is not None else None
        if enc_cfg is None:
            raise KeyError('the config has no model.audio_encoder; the bank '
                           'must be built with the model\'s audio encoder')
        enc_cfg = enc_cfg.to_dict() if hasattr(enc_cfg, 'to_dict') else \
            dict(enc_cfg)
    torch.manual_seed(seed)
    encoder = MODELS.build(enc_cfg)
    if not hasattr(encoder, 'embed'):
        raise TypeError(f'{type(encoder).__name__} has no embed(waveform) '
                        'method; cannot build a prototype bank with it')
    init_cfg = getattr(encoder, 'init_cfg', None)
    if checkpoint is not None:
        state = _model_checkpoint_state(checkpoint)
        if state is not None:
            # load_checkpoint(revise_keys=...) cannot drop the other
            # sub-models' keys, so it loads non-strictly: a missing or
            # mis-shaped encoder weight would pass with a warning. Take the
            # encoder's keys and load them strictly instead.
            prefix = 'audio_encoder.'
            try:
                load_state_dict(
                    encoder, {k[len(prefix):]: v for k, v in state.items()
                              if k.startswith(prefix)}, strict=True)
            except RuntimeError as e:
                raise ValueError(f'{checkpoint}: its audio_encoder weights '
                                 f'do not fit the configured encoder: '
                                 f'{e}') from e
            weights = 'ddavs_mm model checkpoint (audio_encoder.*)'
        elif hasattr(encoder, 'load_pretrained'):
            encoder.load_pretrained(checkpoint)
            weights = 'pretrained (--checkpoint)'
        else:
            raise ValueError(f'{type(encoder).__name__} cannot load '
                             f'{checkpoint}')
    elif isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
        encoder.init_weights()
        checkpoint = init_cfg.get('checkpoint')
        weights = 'pretrained (config init_cfg)'
    else:
        weights = f'random initialisation (seed {seed})'
        msg = ('the audio encoder has no pretrained weights (no --checkpoint'
               ' and none named in the config): the bank is built from a '
               'randomly initialised encoder; fine for tests and the '
               'synthetic set, meaningless for a paper model')
        warnings.warn(msg)
        _log(msg, logging.WARNING)
    if hasattr(encoder, 'frozen') and not encoder.frozen:
        _log('the configured audio encoder is not frozen; the bank then '
             'only matches the encoder it was built with', logging.WARNING)
    encoder = encoder.to(device).eval()
    info = dict(encoder=enc_cfg, checkpoint=checkpoint, weights=weights)
    return encoder, info


def encoder_sample_rate(encoder: torch.nn.Module) -> int:
    """Sample rate the encoder's front end expects."""
    sr = getattr(getattr(encoder, 'frontend', None), 'sample_rate', None)
    if sr is None:
        raise AttributeError(f'{type(encoder).__name__}: cannot tell its '
                             'sample rate (no frontend.sample_rate)')
    return int(sr)


@torch.no_grad()
def embed_items(encoder: torch.nn.Module,
                items: Sequence[ClipSeconds],
                sample_rate: Optional[int] = None,
                segment_seconds: float = 1.0,
                batch_size: int = 32,
                progress: bool = True,
                silence_rms: float = 1e-4) -> Dict[str, Any]:
    """Embed every second of ``items`` with ``encoder.embed``.

    Args:
        encoder: module with ``embed(waveform [N, S]) -> [N, D]``.
        items: from :func:`collect_single_source_items`.
        sample_rate (int, optional): defaults to the encoder's.
        segment_seconds (float): segment length. Defaults to 1.0.
        batch_size (int): segments per forward pass.
        progress (bool): show a progress bar (one tick per clip).
        silence_rms (float): see
            :func:`~ddavs_mm.datasets.single_source_segments.iter_segments`.

    Returns:
        dict: ``features`` float32 ndarray ``[N, D]``, ``class_ids`` int64
        ``[N]``, ``sources`` (``'clip_id@second'`` of each feature) and
        ``silent_segments`` (list of skipped silent segments).
    """
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    sr = sample_rate or encoder_sample_rate(encoder)
    device = next(iter(encoder.parameters())).device
    silent: List[str] = []
    segments = iter_segments(items, sr, segment_seconds, silence_rms,
                             progress, silent)
    feats, cls, srcs = [], [], []
    while True:
        batch = list(itertools.islice(segments, batch_size))
        if not batch:
            break
        wav = torch.from_numpy(np.stack([w for w, _, _ in batch]))
        emb = encoder.embed(wav.to(device)).float().cpu().numpy()
        if emb.shape[:1] != (len(batch), ) or emb.ndim != 2:
            raise ValueError(f'encoder.embed returned {emb.shape} for '
                             f'{len(batch)} segments; expected [N, D]')
        if not np.isfinite(emb).all():
            raise ValueError('the audio encoder produced NaN/Inf embeddings')
        feats.append(emb)
        cls += [c for _, c, _ in batch]
        srcs += [n for _, _, n in batch]
    if silent:
        _log(f'{len(silent)} silent segment(s) (RMS < {silence_rms}) not '
             f'embedded: {silent[:10]}{" ..." if len(silent) > 10 else ""}',
             logging.WARNING)
    if not feats:
        raise ValueError('no non-silent segment to embed (of '
                         f'{len(silent)} segments)')
    return dict(features=np.concatenate(feats).astype(np.float32),
                class_ids=np.asarray(cls, np.int64), sources=srcs,
                silent_segments=silent)


# --------------------------------------------------------------- clustering
def select_prototypes(features: np.ndarray,
                      num_clusters: int = 5,
                      per_cluster: int = 1,
                      seed: int = 0,
                      n_init: int = 10,
                      small_class: str = 'fewer',
                      name: str = 'class') -> Tuple[np.ndarray, np.ndarray,
                                                    dict]:
    """K-means (k-means++) on one class and the features nearest each centre.

    For each centre (largest cluster first) the ``per_cluster`` members of
    its cluster nearest the centre are taken; if the cluster has fewer
    members, the nearest not yet chosen features of the class fill up. A
    feature is never chosen twice, except as a duplicate (see the module
    doc for ``small_class``).

    Args:
        features (ndarray): ``[n, D]`` features of the class.
        num_clusters (int): K.
        per_cluster (int): features kept per centre (m).
        seed (int): K-means ``random_state``.
        n_init (int): K-means restarts (best inertia wins).
        small_class (str): rule when ``n < K * m``, one of
            :data:`SMALL_CLASS_RULES`.
        name (str): class name for messages.

    Returns:
        tuple: indices into ``features`` (grouped by centre, duplicates
        last), ``real`` bool flags of the same length (False = duplicate)
        and info (``k``, ``per_cluster``, ``cluster_sizes``, ``inertia``,
        ``rule``: None unless the class was small).
    """
    from sklearn.cluster import KMeans
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f'{name}: features must be a non-empty [n, D] '
                         f'array, got {x.shape}')
    if num_clusters < 1 or per_cluster < 1:
        raise ValueError('num_clusters and per_cluster must be >= 1')
    if small_class not in SMALL_CLASS_RULES:
        raise ValueError(f'small_class must be one of {SMALL_CLASS_RULES}, '
                         f'got {small_class!r}')
    n, k, m = x.shape[0], num_clusters, per_cluster
    rule = None
    if n < k * m:
        msg = f'{name}: {n} feature(s) for {k} clusters x {m} per cluster'
        if small_class == 'error':
            raise ValueError(msg + " (small_class='error')")
        k, m, rule = max(1, min(k, n // m)), min(m, n), small_class
        msg += f'; using K={k}, {m} per cluster'
        msg += ' (ragged bank)' if rule == 'fewer' else \
            f', duplicated up to {num_clusters * per_cluster} rows'
        warnings.warn(msg)
        _log(msg, logging.WARNING)
    with warnings.catch_warnings():
        # few distinct points: sklearn warns, duplicates stay distinct rows
        warnings.filterwarnings('ignore', message='Number of distinct '
                                'clusters')
        km = KMeans(n_clusters=k, init='k-means++', n_init=n_init,
                    random_state=seed).fit(x)
    # [n, k] distances to the centres. transform() computes them from dot
    # products, so points equidistant from a centre (the two members of a
    # 2-point cluster) differ by rounding; distances equal to 1e-9 of the
    # largest are ties, broken by the lower feature index.
    dist = km.transform(x)
    dist = np.round(dist / max(dist.max(), 1e-30), 9)
    sizes = np.bincount(km.labels_, minlength=k)
    nearest = dist.argmin(0)
    order = sorted(range(k), key=lambda j: (-sizes[j], nearest[j]))
    taken = np.zeros(n, bool)
    chosen: List[int] = []
    for j in order:
        # own members nearest first, then the rest of the class
        rank = np.lexsort((np.arange(n), dist[:, j], km.labels_ != j))
        picks = [int(i) for i in rank if not taken[i]][:m]
        taken[picks] = True
        chosen.extend(picks)
    real = np.ones(len(chosen), bool)
    if rule == 'duplicate':
        extra = num_clusters * per_cluster - len(chosen)
        chosen += [chosen[i % len(chosen)] for i in range(extra)]
        real = np.concatenate([real, np.zeros(extra, bool)])
    info = dict(k=int(k), per_cluster=int(m),
                cluster_sizes=[int(sizes[j]) for j in order],
                inertia=float(km.inertia_), rule=rule)
    return np.asarray(chosen, np.int64), real, info


def cluster_bank(features: np.ndarray,
                 class_ids: np.ndarray,
                 class_names: Optional[Sequence[str]] = None,
                 num_clusters: int = 5,
                 per_cluster: int = 1,
                 seed: int = 0,
                 n_init: int = 10,
                 small_class: str = 'fewer') -> Dict[str, Any]:
    """Prototypes of every class, concatenated in class-id order.

    Args:
        features (ndarray): ``[N, D]``.
        class_ids (ndarray): ``[N]``.
        class_names (Sequence[str], optional): names by class id.
        num_clusters, per_cluster, seed, n_init, small_class: see
            :func:`select_prototypes`.

    Returns:
        dict: ``prototypes`` float32 ``[P, D]`` (rows copied from
        ``features``), ``class_ids`` int64 ``[P]``, ``real`` bool ``[P]``,
        ``indices`` ``[P]`` (rows of ``features``) and ``per_class`` (dict
        name -> info of :func:`select_prototypes` with ``class_id``,
        ``num_features``, ``num_prototypes`` and ``num_real``).
    """
    features = np.asarray(features)
    class_ids = np.asarray(class_ids, np.int64)
    if features.ndim != 2 or class_ids.shape != (features.shape[0], ):
        raise ValueError(f'features {features.shape} and class_ids '
                         f'{class_ids.shape} do not match')
    idx_all, real_all, per_class = [], [], {}
    for c in np.unique(class_ids):
        rows = np.flatnonzero(class_ids == c)
        name = class_names[c] if class_names is not None and \
            0 <= c < len(class_names) else str(int(c))
        sel, real, info = select_prototypes(
            features[rows], num_clusters, per_cluster, seed, n_init,
            small_class, name=f'class {int(c)} ({name})')
        info.update(class_id=int(c), num_features=int(len(rows)),
                    num_prototypes=int(len(sel)), num_real=int(real.sum()))
        per_class[name] = info
        idx_all.append(rows[sel])
        real_all.append(real)
    indices = np.concatenate(idx_all)
    return dict(prototypes=features[indices].astype(np.float32),
                class_ids=class_ids[indices], real=np.concatenate(real_all),
                indices=indices, per_class=per_class)


def class_table(build_info: dict) -> str:
    """The per-class counts of a bank's ``build_info`` as a text table."""
    from prettytable import PrettyTable
    table = PrettyTable(['class', 'seconds', 'prototypes', 'real', 'note'])
    table.align['class'] = table.align['note'] = 'l'
    fallback = build_info['fallback_classes']
    for name, info in build_info['clusters'].items():
        note = ''
        if name in fallback:
            k = fallback[name]['classes_per_second']
            note = f'least-mixed seconds ({k} classes each); '
        if info['rule'] is not None:
            note += f'{info["rule"]}: K={info["k"]} x {info["per_cluster"]}'
        table.add_row([name, info['num_features'], info['num_prototypes'],
                       info['num_real'], note])
    for name in build_info['missing_classes']:
        table.add_row([name, 0, 0, 0, 'no second: no prototype'])
    return table.get_string()


# --------------------------------------------------------------- end to end
def build_prototype_bank(config: Union[str, Config, dict],
                         source: str,
                         data_root: str,
                         split: str = 'train',
                         out: Optional[str] = None,
                         checkpoint: Optional[str] = None,
                         num_clusters: int = 5,
                         per_cluster: int = 1,
                         seed: int = 0,
                         batch_size: int = 32,
                         device: str = 'cpu',
                         segment_seconds: float = 1.0,
                         n_init: int = 10,
                         small_class: str = 'fewer',
                         mixed_fallback: bool = True,
                         progress: bool = True,
                         dataset_kwargs: Optional[dict] = None
                         ) -> Dict[str, Any]:
    """Embed, cluster and (optionally) save a prototype bank.

    Args:
        config: model config (see :func:`build_audio_encoder`).
        source (str): one of
            :data:`~ddavs_mm.datasets.single_source_segments.SOURCES`.
        data_root (str): data set root.
        split (str): split whose clips are used. Defaults to ``'train'``.
        out (str, optional): bank file (``.pt``, ``.npz``, or ``.npy`` when
            the class ids are ``0..C-1`` with equal K and no duplicate);
            written with :func:`~ddavs_mm.models.audio_query.save_bank`.
        checkpoint (str, optional): encoder weights.
        num_clusters (int): K centres per class (default 5, as DDESeg).
        per_cluster (int): features kept per centre (default 1).
        seed (int): seed of K-means and of a random encoder init.
        batch_size (int): segments per encoder pass.
        device (str): torch device of the encoder.
        segment_seconds (float): segment length (default 1 s, as DDESeg).
        n_init (int): K-means restarts.
        small_class (str): rule for a class with fewer than ``K *
            per_cluster`` features: ``'fewer'``, ``'duplicate'`` or
            ``'error'`` (see the module doc).
        mixed_fallback (bool): give an AVSS class that is labelled in the
            split but has no single-source second the prototypes of its
            least-mixed seconds. Defaults to True.
        progress (bool): progress bar.
        dataset_kwargs (dict, optional): extra dataset arguments.

    Returns:
        dict: ``prototypes`` float32 ``[P, D]``, ``class_ids`` int64 ``[P]``,
        ``real`` bool ``[P]``, ``class_names``, ``build_info``, ``features``
        ``[N, D]``, ``feature_class_ids`` ``[N]``, ``indices`` ``[P]`` and
        ``path``.
    """
    from ddavs_mm.models.audio_query.prototype_bank import (BANK_SUFFIXES,
                                                            save_bank)
    if out is not None and osp.splitext(out)[1].lower() not in BANK_SUFFIXES:
        raise ValueError(f'bank file {out!r}: unknown suffix; expected one '
                         f'of {BANK_SUFFIXES}')
    items, names, notes = collect_single_source_items(
        source, data_root, split, **(dataset_kwargs or {}))
    fallback = notes.pop('fallback_items', {})
    if not mixed_fallback:
        fallback = {}
    encoder, enc_info = build_audio_encoder(config, checkpoint, device, seed)
    sr = encoder_sample_rate(encoder)
    emb = embed_items(encoder, items + [it for its in fallback.values()
                                        for it in its],
                      sr, segment_seconds, batch_size, progress)
    bank = cluster_bank(emb['features'], emb['class_ids'], names,
                        num_clusters, per_cluster, seed, n_init, small_class)
    got = set(emb['class_ids'].tolist())
    missing = [n for i, n in enumerate(names)
               if i not in got and n != 'background']
    cfg_name = config if isinstance(config, str) else getattr(
        config, 'filename', None)
    build_info = dict(
        builder='ddavs_mm.apis.prototype_bank_builder',
        date=datetime.datetime.now().isoformat(timespec='seconds'),
        config=cfg_name,
        encoder=enc_info['encoder'],
        checkpoint=enc_info['checkpoint'],
        weights=enc_info['weights'],
        embedding='pooled embedding (encoder.embed)',
        sample_rate=sr,
        segment_seconds=float(segment_seconds),
        source=source,
        data_root=osp.abspath(data_root),
        split=split,
        dataset_kwargs=dataset_kwargs or {},
        num_clips=len({it.clip_id for it in items}),
        num_features=int(emb['features'].shape[0]),
        silent_segments_skipped=len(emb['silent_segments']),
        num_clusters=int(num_clusters),
        per_cluster=int(per_cluster),
        kmeans=dict(init='k-means++', n_init=int(n_init), random_state=seed),
        seed=int(seed),
        small_class=small_class,
        counts_per_class={n: v['num_features']
                          for n, v in bank['per_class'].items()},
        prototypes_per_class={n: v['num_prototypes']
                              for n, v in bank['per_class'].items()},
        real_prototypes_per_class={n: v['num_real']
                                   for n, v in bank['per_class'].items()},
        small_classes={n: v['rule'] for n, v in bank['per_class'].items()
                       if v['rule'] is not None},
        fallback_classes={
            names[c]: dict(seconds=sum(len(it.seconds) for it in its),
                           classes_per_second=its[0].num_classes)
            for c, its in fallback.items() if c in got},
        clusters=bank['per_class'],
        missing_classes=missing,
        prototype_sources=[emb['sources'][i] for i in bank['indices']],
        notes=notes,
    )
    build_info = json.loads(json.dumps(build_info, default=str))
    _log(f'prototypes per class ({source}, split {split}):\n' +
         class_table(build_info))
    if build_info['small_classes'] or build_info['fallback_classes']:
        _log(f'classes with fewer than {num_clusters * per_cluster} '
             f'single-source seconds: {sorted(build_info["small_classes"])}'
             f' ({small_class}); without any, from least-mixed seconds: '
             f'{sorted(build_info["fallback_classes"])}', logging.WARNING)
    if missing:
        _log(f'{len(missing)} class(es) have no second in this split and '
             f'get no prototype: {missing}', logging.WARNING)
    path = None
    if out is not None:
        path = save_bank(out, bank['prototypes'], bank['class_ids'], names,
                         build_info, real=bank['real'])
        _log(f'prototype bank {list(bank["prototypes"].shape)} of '
             f'{len(bank["per_class"])} classes written to {path}')
    return dict(
        prototypes=bank['prototypes'],
        class_ids=bank['class_ids'],
        real=bank['real'],
        class_names=names,
        build_info=build_info,
        features=emb['features'],
        feature_class_ids=emb['class_ids'],
        indices=bank['indices'],
        path=path)
