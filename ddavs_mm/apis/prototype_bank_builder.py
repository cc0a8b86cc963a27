"""Build the prototype memory bank M of DDAVS (appendix B.1).

Recipe (DDAVS follows DDESeg): for every class ``c`` collect the clips in
which ``c`` is the only audible source, cut their waveforms into
``segment_seconds`` (1 s) segments, embed every segment with the *same*
frozen audio encoder as the model (pooled embedding, ``[D]``), cluster the
class's features ``E_c`` with K-means (k-means++ initialisation, seeded) and
keep the ``per_cluster`` features nearest each centre as prototypes. The
bank is the concatenation over classes, ``[P, D]`` with ``P = Σ_c K_c m``
(``m = per_cluster``), plus the class id of every row.

Data sources (:func:`collect_single_source_items`):

* ``'s4'``: AVSBench S4 (every clip is single source); class = the clip's
  ``category``; ids index the sorted categories of the whole CSV.
* ``'avss'``: AVSBench-semantic ``v1s`` clips (single source); class = the
  non-background class with the most pixels in the clip's annotated label
  maps; ids are the ``label2idx.json`` indices (background = 0 gets no
  prototypes).
* ``'vpo'``: VPO-SS; class = ``cateName``; ids index
  :data:`~ddavs_mm.datasets.VPO_CLASSES` (background = 0).
* ``'synthetic'``: a set written by
  :func:`ddavs_mm.datasets.synthetic.generate_synthetic_avs`; the seconds
  listed in the ``single_source_index`` of ``synthetic_info.json``; ids are
  the catalogue indices (preset ``avss``: shifted by one, as in its
  ``label2idx.json``, background = 0); with ``by_size_bin=True`` the ids are
  the 3 x 10 sounds (class, size bin) instead (for audio pretraining: the
  size bin changes every frequency of a class sound).

Rules for small classes: a class with ``n_c < K * m`` features gets
``K_c = max(1, min(K, n_c // m))`` centres and ``min(m, n_c)`` prototypes
per centre, with a warning (the bank is then ragged, which
:class:`~ddavs_mm.models.audio_query.PrototypeBank` supports through its
``class_ids``); with ``strict=True`` it is an error instead. A class absent
from the split has no prototypes (listed in ``build_info['missing_classes']``).
Silent segments (RMS < 1e-4) are not embedded; their number is logged and
stored in ``build_info``. Nothing else is skipped: a missing or corrupt audio
file raises (via :class:`~ddavs_mm.datasets.transforms.LoadAudio`).

Determinism: the encoder (when not loaded from a checkpoint) is initialised
after ``torch.manual_seed(seed)``, K-means uses ``random_state=seed``, and the
clusters of a class are ordered by size (largest first, ties by the lowest
index of their nearest feature), so the same inputs give the same bank.
"""
import datetime
import json
import logging
import math
import os.path as osp
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import print_log

SOURCES = ('s4', 'avss', 'vpo', 'synthetic')


@dataclass
class SingleSourceItem:
    """Seconds of one clip in which one class is the only audible source.

    Attributes:
        clip_id (str): clip identifier.
        audio_paths (list[str]): audio file(s) of the clip (read and summed
            by ``LoadAudio``).
        num_seconds (int): seconds of audio to load (the clip window).
        seconds (list[int]): which of those seconds are single source.
        class_id (int): class of the single source.
        audio_offset (float): seconds skipped at the start.
        audio_duration (float | None): seconds kept (VPO: 3.0).
        audio_crop (str): ``'start'`` or ``'center'`` (VPO).
    """
    clip_id: str
    audio_paths: List[str]
    num_seconds: int
    seconds: List[int]
    class_id: int
    audio_offset: float = 0.0
    audio_duration: Optional[float] = None
    audio_crop: str = 'start'


# ---------------------------------------------------------------------------
# data sources
# ---------------------------------------------------------------------------
def _items_s4(data_root: str, split: str, **kwargs) -> Tuple[list, list]:
    from ddavs_mm.datasets import AVSBenchS4Dataset, read_s4_csv
    ds = AVSBenchS4Dataset(
        data_root=data_root, split=split, check_files=False, **kwargs)
    names = sorted({r.category for r in read_s4_csv(ds.ann_file)})
    index = {n: i for i, n in enumerate(names)}
    items = []
    for i in range(len(ds)):
        clip = ds.get_data_info(i)
        t = int(clip['num_frames'])
        items.append(
            SingleSourceItem(
                clip_id=clip['clip_id'],
                audio_paths=list(clip['audio_paths']),
                num_seconds=t,
                seconds=list(range(t)),
                class_id=index[clip['category']]))
    return items, names


def _label_class(paths: Sequence[str], num_classes: int,
                 clip_id: str) -> Tuple[Optional[int], int]:
    """Majority non-background class of some AVSS label maps.

    Returns:
        tuple: (class id or None when every pixel is background / ignore,
        number of distinct foreground classes seen).
    """
    from ddavs_mm.datasets.transforms.loading import (read_mask_array,
                                                      rgb_to_index)
    counts = np.zeros(num_classes, np.int64)
    for p in paths:
        arr = read_mask_array(p)
        if arr.ndim == 3:
            arr = rgb_to_index(arr, num_classes, p)
        vals = arr[arr != 255].astype(np.int64)
        if vals.size and vals.max() >= num_classes:
            raise ValueError(f'Mask {p} (clip {clip_id}) has class id '
                             f'{int(vals.max())} >= {num_classes} classes')
        counts += np.bincount(vals, minlength=num_classes)[:num_classes]
    counts[0] = 0
    if not counts.any():
        return None, 0
    return int(np.argmax(counts)), int((counts > 0).sum())


def _items_avss(data_root: str, split: str, labels: Sequence[str] = ('v1s', ),
                **kwargs) -> Tuple[list, list, dict]:
    from ddavs_mm.datasets import AVSBenchSemanticDataset
    ds = AVSBenchSemanticDataset(
        data_root=data_root, split=split, labels=tuple(labels),
        check_files=False, **kwargs)
    names = list(ds.metainfo['classes'])
    items, no_fg, multi = [], [], 0
    for i in range(len(ds)):
        clip = ds.get_data_info(i)
        masks = [p for p in clip['mask_paths'] if p is not None]
        if not masks:
            raise ValueError(f'AVSS clip {clip["clip_id"]} has no label map '
                             'to read its class from')
        cid, n_fg = _label_class(masks, len(names), clip['clip_id'])
        if cid is None:
            no_fg.append(clip['clip_id'])
            continue
        multi += int(n_fg > 1)
        t = int(sum(bool(f) for f in clip['frame_flags']))
        items.append(
            SingleSourceItem(
                clip_id=clip['clip_id'],
                audio_paths=list(clip['audio_paths']),
                num_seconds=t,
                seconds=list(range(t)),
                class_id=cid))
    if no_fg:
        print_log(
            f'AVSS: {len(no_fg)} clip(s) have only background in their '
            f'label maps, so their class is unknown; not used: '
            f'{no_fg[:10]}{" ..." if len(no_fg) > 10 else ""}',
            logger='current', level=logging.WARNING)
    if multi:
        print_log(f'AVSS: {multi} clip(s) show several foreground classes; '
                  'each uses the class with the most pixels',
                  logger='current', level=logging.WARNING)
    return items, names, dict(clips_without_foreground=no_fg,
                              clips_with_several_classes=multi)


def _items_vpo(data_root: str, split: str, **kwargs) -> Tuple[list, list]:
    from ddavs_mm.datasets import VPODataset
    ds = VPODataset(subset='ss', data_root=data_root, split=split,
                    check_files=False, **kwargs)
    names = list(ds.metainfo['classes'])
    items = []
    for i in range(len(ds)):
        clip = ds.get_data_info(i)
        cats = list(clip['category'])
        if len(cats) != 1:
            raise ValueError(f'VPO-SS clip {clip["clip_id"]} has '
                             f'{len(cats)} classes {cats}; expected one')
        dur = float(clip['audio_duration'])
        n = max(1, int(math.floor(dur + 1e-6)))
        items.append(
            SingleSourceItem(
                clip_id=clip['clip_id'],
                audio_paths=list(clip['audio_paths']),
                num_seconds=n,
                seconds=list(range(n)),
                class_id=names.index(cats[0]),
                audio_offset=float(clip.get('audio_offset') or 0.0),
                audio_duration=dur,
                audio_crop=clip.get('audio_crop', 'start')))
    return items, names


def synthetic_sound_labels(info: dict, by_size_bin: bool = False
                           ) -> Tuple[List[str], int]:
    """Label names of a synthetic data set's sounds and the bin count.

    Labels are the classes or, with ``by_size_bin``, the (class, size bin)
    sounds, class-major, named ``'{class}-{bin}'``; see
    :func:`synthetic_sound_label` for the id of a source.

    Args:
        info (dict): the data set's ``synthetic_info.json``.
        by_size_bin (bool): one label per sound instead of per class.

    Returns:
        tuple: label names (index = label id), number of size bins.
    """
    classes = [c['name'] if isinstance(c, dict) else str(c)
               for c in info['classes']]
    bins = [b['name'] for b in info['size_bins']]
    if by_size_bin:
        return [f'{c}-{b}' for c in classes for b in bins], len(bins)
    return classes, len(bins)


def synthetic_sound_label(class_id: int, size_bin: int, num_bins: int,
                          by_size_bin: bool = False) -> int:
    """Label id of a synthetic source (see :func:`synthetic_sound_labels`):
    its class, or ``class * num_bins + size_bin`` with ``by_size_bin``."""
    class_id = int(class_id)
    return class_id * num_bins + int(size_bin) if by_size_bin else class_id


def _items_synthetic(data_root: str, split: str,
                     by_size_bin: bool = False) -> Tuple[list, list]:
    from ddavs_mm.datasets.synthetic import load_info
    info = load_info(data_root)
    index = info.get('single_source_index')
    if index is None:
        raise ValueError(f'{data_root}: synthetic_info.json has no '
                         'single_source_index')
    base, num_bins = synthetic_sound_labels(info, by_size_bin)
    shift = 1 if info.get('preset') == 'avss' else 0
    names = (['background'] if shift else []) + base
    frames_of = {c['clip_id']: int(c['num_frames']) for c in info['clips']}
    by_clip: Dict[Tuple[str, int], SingleSourceItem] = {}
    order = []
    for e in index:
        if e['split'] != split:
            continue
        cid = synthetic_sound_label(e['class_id'], e['size_bin'], num_bins,
                                    by_size_bin) + shift
        key = (e['clip_id'], cid)
        if key not in by_clip:
            n = frames_of.get(e['clip_id'])
            if n is None:
                raise ValueError(f'{data_root}: single-source entry of '
                                 f'unknown clip {e["clip_id"]}')
            by_clip[key] = SingleSourceItem(
                clip_id=e['clip_id'],
                audio_paths=[osp.join(data_root, e['audio_path'])],
                num_seconds=n,
                seconds=[],
                class_id=cid)
            order.append(key)
        by_clip[key].seconds.append(int(e['second']))
    items = [by_clip[k] for k in order]
    for it in items:
        it.seconds = sorted(set(it.seconds))
    return items, names


def collect_single_source_items(source: str,
                                data_root: str,
                                split: str = 'train',
                                **dataset_kwargs
                                ) -> Tuple[List[SingleSourceItem], List[str],
                                           Dict[str, Any]]:
    """List the single-source seconds of a data set.

    Args:
        source (str): one of :data:`SOURCES`.
        data_root (str): the data set's root folder.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        **dataset_kwargs: extra arguments of the dataset class (e.g.
            ``ann_file``, ``data_prefix``; AVSS ``labels``). The synthetic
            source takes ``by_size_bin`` (bool): label each second with its
            sound, (class, size bin) as ``class * num_bins + bin``, named
            ``'{class}-{bin}'``, instead of its class.

    Returns:
        tuple: items, class names indexed by class id, and notes (dict).
    """
    if source not in SOURCES:
        raise ValueError(f'unknown source {source!r}; expected one of '
                         f'{SOURCES}')
    if not osp.isdir(data_root):
        raise FileNotFoundError(f'data root not found: {data_root}')
    notes: Dict[str, Any] = {}
    if source == 's4':
        items, names = _items_s4(data_root, split, **dataset_kwargs)
    elif source == 'avss':
        items, names, notes = _items_avss(data_root, split, **dataset_kwargs)
    elif source == 'vpo':
        items, names = _items_vpo(data_root, split, **dataset_kwargs)
    else:
        extra = sorted(set(dataset_kwargs) - {'by_size_bin'})
        if extra:
            raise ValueError('the synthetic source takes only the '
                             f'by_size_bin argument, got {extra}')
        items, names = _items_synthetic(data_root, split, **dataset_kwargs)
    if not items:
        raise ValueError(f'no single-source clip in split {split!r} of '
                         f'{source} data at {data_root}')
    return items, names, notes


# ---------------------------------------------------------------------------
# encoder
# ---------------------------------------------------------------------------
def _model_checkpoint_encoder_state(path: str) -> Optional[dict]:
    """The audio-encoder state dict of a DDAVS-MM model checkpoint, or None
    when ``path`` is not one (e.g. an HTSAT / CLAP checkpoint)."""
    if not osp.isfile(path):
        return None
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception:  # not loadable safely: leave it to the HTSAT loader
        return None
    sd = obj.get('state_dict', obj) if isinstance(obj, dict) else None
    if not isinstance(sd, dict):
        return None
    prefix = 'audio_encoder.'
    keys = [k for k in sd if isinstance(k, str) and k.startswith(prefix)]
    if not any(k.startswith(prefix + 'frontend.') for k in keys):
        return None
    return {k[len(prefix):]: v for k, v in sd.items()
            if isinstance(k, str) and k.startswith(prefix)}


def build_audio_encoder(cfg: Union[str, Config, dict],
                        checkpoint: Optional[str] = None,
                        device: str = 'cpu',
                        seed: int = 0) -> Tuple[torch.nn.Module, dict]:
    """Build the frozen audio encoder of a model config.

    Args:
        cfg (str | Config | dict): model config (file or object) with
            ``model.audio_encoder``; or an encoder config dict itself (a dict
            with ``type``).
        checkpoint (str, optional): weights: an HTSAT Lightning checkpoint,
            a CLAP directory / file (both via ``load_pretrained``) or a
            DDAVS-MM model checkpoint (its ``audio_encoder.*`` weights).
            Without it, the config's own ``pretrained`` / ``init_cfg`` is
            loaded; with neither the encoder keeps its seeded random
            initialisation (a warning says so).
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
        state = _model_checkpoint_encoder_state(checkpoint)
        if state is not None:
            missing, unexpected = encoder.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise ValueError(
                    f'{checkpoint}: audio_encoder weights do not match the '
                    f'configured encoder (missing {missing[:5]}, unexpected '
                    f'{unexpected[:5]})')
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
        print_log(msg, logger='current', level=logging.WARNING)
    if hasattr(encoder, 'frozen') and not encoder.frozen:
        print_log('the configured audio encoder is not frozen; the bank '
                  'then only matches the encoder it was built with',
                  logger='current', level=logging.WARNING)
    encoder = encoder.to(device).eval()
    info = dict(encoder=enc_cfg, checkpoint=checkpoint, weights=weights)
    return encoder, info


def encoder_sample_rate(encoder: torch.nn.Module) -> int:
    """Sample rate the encoder's front end expects."""
    fe = getattr(encoder, 'frontend', None)
    sr = getattr(fe, 'sample_rate', None)
    if sr is None:
        raise AttributeError(f'{type(encoder).__name__}: cannot tell its '
                             'sample rate (no frontend.sample_rate)')
    return int(sr)


# ---------------------------------------------------------------------------
# embedding
# ---------------------------------------------------------------------------
def iter_single_source_segments(items: Sequence[SingleSourceItem],
                                sample_rate: int,
                                segment_seconds: float = 1.0,
                                silence_rms: float = 1e-4,
                                progress: bool = True,
                                silent: Optional[List[str]] = None):
    """Yield every non-silent single-source segment of ``items``.

    Audio is read by :class:`~ddavs_mm.datasets.transforms.LoadAudio` (the
    training reader: mono, resampled, the clip window, zero-padded) and cut
    into ``segment_seconds`` segments.

    Args:
        items: from :func:`collect_single_source_items`.
        sample_rate (int): rate to resample to (the encoder's).
        segment_seconds (float): segment length. Defaults to 1.0.
        silence_rms (float): a segment whose RMS is below this (default
            1e-4, -80 dBFS) is silent and skipped (it carries no class
            sound; resampling leaves tiny non-zero values in true silence).
        progress (bool): show a progress bar (one tick per clip).
        silent (list, optional): receives ``'clip_id@second'`` of each
            skipped silent segment.

    Yields:
        tuple: (waveform float32 ndarray ``[S]``, class id, ``'clip@sec'``).
    """
    from mmengine.utils import ProgressBar

    from ddavs_mm.datasets.transforms import LoadAudio
    loader = LoadAudio(sample_rate=sample_rate, segment_seconds=segment_seconds)
    seg = int(round(segment_seconds * sample_rate))
    bar = ProgressBar(len(items)) if progress else None
    for it in items:
        bad = [s for s in it.seconds if not 0 <= s < it.num_seconds]
        if bad:
            raise ValueError(f'clip {it.clip_id}: seconds {bad} outside its '
                             f'{it.num_seconds}-second window')
        res = loader(
            dict(clip_id=it.clip_id, audio_paths=list(it.audio_paths),
                 num_frames=it.num_seconds, audio_offset=it.audio_offset,
                 audio_duration=it.audio_duration, audio_crop=it.audio_crop))
        wav = res['waveform'].reshape(it.num_seconds, seg)
        for s in it.seconds:
            name = f'{it.clip_id}@{s}'
            rms = float(np.sqrt(np.mean(np.square(wav[s], dtype=np.float64))))
            if rms < silence_rms:
                if silent is not None:
                    silent.append(name)
                continue
            yield wav[s], it.class_id, name
        if bar is not None:
            bar.update()
    if bar is not None:
        print()


def embed_items(encoder: torch.nn.Module,
                items: Sequence[SingleSourceItem],
                sample_rate: Optional[int] = None,
                segment_seconds: float = 1.0,
                batch_size: int = 32,
                progress: bool = True,
                silence_rms: float = 1e-4) -> Dict[str, Any]:
    """Embed every single-source segment with ``encoder.embed``.

    Segments come from :func:`iter_single_source_segments`.

    Args:
        encoder: module with ``embed(waveform [N, S]) -> [N, D]``.
        items: from :func:`collect_single_source_items`.
        sample_rate (int, optional): defaults to the encoder's.
        segment_seconds (float): segment length. Defaults to 1.0.
        batch_size (int): segments per forward pass.
        progress (bool): show a progress bar (one tick per clip).
        silence_rms (float): see :func:`iter_single_source_segments`.

    Returns:
        dict: ``features`` float32 ndarray ``[N, D]``, ``class_ids`` int64
        ``[N]``, ``sources`` (``'clip_id@second'`` of each feature) and
        ``silent_segments`` (list of skipped silent segments).
    """
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    sr = sample_rate or encoder_sample_rate(encoder)
    device = next(iter(encoder.parameters())).device
    feats: List[np.ndarray] = []
    cls: List[int] = []
    srcs: List[str] = []
    silent: List[str] = []
    pending: List[np.ndarray] = []

    def flush():
        if not pending:
            return
        wav = torch.from_numpy(np.stack(pending)).to(device)
        with torch.no_grad():
            emb = encoder.embed(wav)
        emb = emb.detach().float().cpu().numpy()
        if emb.ndim != 2 or emb.shape[0] != len(pending):
            raise ValueError(f'encoder.embed returned {emb.shape} for '
                             f'{len(pending)} segments; expected [N, D]')
        if not np.isfinite(emb).all():
            raise ValueError('the audio encoder produced NaN/Inf embeddings')
        feats.append(emb)
        pending.clear()

    for wav, class_id, name in iter_single_source_segments(
            items, sr, segment_seconds, silence_rms, progress, silent):
        pending.append(wav)
        cls.append(class_id)
        srcs.append(name)
        if len(pending) >= batch_size:
            flush()
    flush()
    if silent:
        print_log(f'{len(silent)} silent segment(s) (RMS < {silence_rms}) '
                  'not embedded:'
                  f' {silent[:10]}{" ..." if len(silent) > 10 else ""}',
                  logger='current', level=logging.WARNING)
    if not feats:
        raise ValueError('no non-silent single-source segment to embed '
                         f'(of {len(silent)} segments)')
    return dict(
        features=np.concatenate(feats).astype(np.float32),
        class_ids=np.asarray(cls, np.int64),
        sources=srcs,
        silent_segments=silent)


# ---------------------------------------------------------------------------
# clustering
# ---------------------------------------------------------------------------
def select_prototypes(features: np.ndarray,
                      num_clusters: int = 5,
                      per_cluster: int = 1,
                      seed: int = 0,
                      n_init: int = 10,
                      strict: bool = False,
                      name: str = 'class') -> Tuple[np.ndarray, dict]:
    """K-means (k-means++) on one class and the features nearest each centre.

    For each centre (largest cluster first) the ``per_cluster`` members of
    its cluster nearest the centre are taken; if the cluster has fewer
    members, the nearest not yet chosen features of the class fill up. A
    feature is never chosen twice.

    Args:
        features (ndarray): ``[n, D]`` features of the class.
        num_clusters (int): K.
        per_cluster (int): features kept per centre (m).
        seed (int): K-means ``random_state``.
        n_init (int): K-means restarts (best inertia wins).
        strict (bool): raise instead of shrinking K when ``n < K * m``.
        name (str): class name for messages.

    Returns:
        tuple: indices into ``features`` (``[K_c * m_c]``, grouped by
        centre) and info (``k``, ``per_cluster``, ``cluster_sizes``,
        ``inertia``).
    """
    from sklearn.cluster import KMeans
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f'{name}: features must be a non-empty [n, D] '
                         f'array, got {x.shape}')
    if num_clusters < 1 or per_cluster < 1:
        raise ValueError('num_clusters and per_cluster must be >= 1')
    n = x.shape[0]
    k, m = num_clusters, per_cluster
    if n < k * m:
        msg = (f'{name}: {n} feature(s) for {k} clusters x {m} per '
               f'cluster')
        if strict:
            raise ValueError(msg + ' (strict mode)')
        k = max(1, min(k, n // m))
        m = min(m, n)
        warnings.warn(msg + f'; using K={k}, {m} per cluster (ragged bank)')
        print_log(msg + f'; using K={k}, {m} per cluster (ragged bank)',
                  logger='current', level=logging.WARNING)
    x64 = x.astype(np.float64)
    with warnings.catch_warnings():
        # few distinct points: sklearn warns, duplicates stay distinct rows
        warnings.filterwarnings('ignore', message='Number of distinct '
                                'clusters')
        km = KMeans(n_clusters=k, init='k-means++', n_init=n_init,
                    random_state=seed).fit(x64)
    centres, labels = km.cluster_centers_, km.labels_
    dist = np.stack([((x64 - c)**2).sum(1) for c in centres], 1)  # [n, k]
    sizes = np.bincount(labels, minlength=k)
    nearest = dist.argmin(0)
    order = sorted(range(k), key=lambda j: (-sizes[j], nearest[j]))
    taken = np.zeros(n, bool)
    chosen: List[int] = []
    for j in order:
        members = np.flatnonzero(labels == j)
        members = members[np.lexsort((members, dist[members, j]))]
        picks = [int(i) for i in members if not taken[i]][:m]
        if len(picks) < m:
            rest = np.lexsort((np.arange(n), dist[:, j]))
            picks += [int(i) for i in rest
                      if not taken[i] and i not in picks][:m - len(picks)]
        taken[picks] = True
        chosen.extend(picks)
    info = dict(k=int(k), per_cluster=int(m),
                cluster_sizes=[int(sizes[j]) for j in order],
                inertia=float(km.inertia_))
    return np.asarray(chosen, np.int64), info


def cluster_bank(features: np.ndarray,
                 class_ids: np.ndarray,
                 class_names: Optional[Sequence[str]] = None,
                 num_clusters: int = 5,
                 per_cluster: int = 1,
                 seed: int = 0,
                 n_init: int = 10,
                 strict: bool = False) -> Dict[str, Any]:
    """Prototypes of every class, concatenated in class-id order.

    Args:
        features (ndarray): ``[N, D]``.
        class_ids (ndarray): ``[N]``.
        class_names (Sequence[str], optional): names by class id.
        num_clusters, per_cluster, seed, n_init, strict: see
            :func:`select_prototypes`.

    Returns:
        dict: ``prototypes`` float32 ``[P, D]`` (rows copied from
        ``features``), ``class_ids`` int64 ``[P]``, ``indices`` ``[P]`` (rows
        of ``features``) and ``per_class`` (dict name -> info).
    """
    features = np.asarray(features)
    class_ids = np.asarray(class_ids, np.int64)
    if features.ndim != 2 or class_ids.shape != (features.shape[0], ):
        raise ValueError(f'features {features.shape} and class_ids '
                         f'{class_ids.shape} do not match')
    idx_all, ids_all, per_class = [], [], {}
    for c in np.unique(class_ids):
        rows = np.flatnonzero(class_ids == c)
        name = class_names[c] if class_names is not None and \
            0 <= c < len(class_names) else str(int(c))
        sel, info = select_prototypes(
            features[rows], num_clusters, per_cluster, seed, n_init, strict,
            name=f'class {int(c)} ({name})')
        info.update(class_id=int(c), num_features=int(len(rows)))
        per_class[name] = info
        idx_all.append(rows[sel])
        ids_all.append(np.full(len(sel), c, np.int64))
    indices = np.concatenate(idx_all)
    return dict(
        prototypes=features[indices].astype(np.float32),
        class_ids=np.concatenate(ids_all),
        indices=indices,
        per_class=per_class)


# ---------------------------------------------------------------------------
# end to end
# ---------------------------------------------------------------------------
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
                         strict: bool = False,
                         progress: bool = True,
                         dataset_kwargs: Optional[dict] = None
                         ) -> Dict[str, Any]:
    """Embed, cluster and (optionally) save a prototype bank.

    Args:
        config: model config (see :func:`build_audio_encoder`).
        source (str): one of :data:`SOURCES`.
        data_root (str): data set root.
        split (str): split whose clips are used. Defaults to ``'train'``.
        out (str, optional): bank file (``.pt``, ``.npz``, or ``.npy`` when
            the class ids are ``0..C-1`` with equal K); written with
            :func:`~ddavs_mm.models.audio_query.save_bank`.
        checkpoint (str, optional): encoder weights.
        num_clusters (int): K centres per class (default 5, as DDESeg).
        per_cluster (int): features kept per centre (default 1).
        seed (int): seed of K-means and of a random encoder init.
        batch_size (int): segments per encoder pass.
        device (str): torch device of the encoder.
        segment_seconds (float): segment length (default 1 s, as DDESeg).
        n_init (int): K-means restarts.
        strict (bool): error on classes with too few features.
        progress (bool): progress bar.
        dataset_kwargs (dict, optional): extra dataset arguments.

    Returns:
        dict: ``prototypes`` float32 ``[P, D]``, ``class_ids`` int64 ``[P]``,
        ``class_names``, ``build_info``, ``features`` ``[N, D]``,
        ``feature_class_ids`` ``[N]``, ``indices`` ``[P]`` and ``path``.
    """
    from ddavs_mm.models.audio_query.prototype_bank import (BANK_SUFFIXES,
                                                            save_bank)
    if out is not None and osp.splitext(out)[1].lower() not in BANK_SUFFIXES:
        raise ValueError(f'bank file {out!r}: unknown suffix; expected one '
                         f'of {BANK_SUFFIXES}')
    items, names, notes = collect_single_source_items(
        source, data_root, split, **(dataset_kwargs or {}))
    encoder, enc_info = build_audio_encoder(config, checkpoint, device, seed)
    sr = encoder_sample_rate(encoder)
    emb = embed_items(encoder, items, sr, segment_seconds, batch_size,
                      progress)
    bank = cluster_bank(emb['features'], emb['class_ids'], names,
                        num_clusters, per_cluster, seed, n_init, strict)
    present = set(int(c) for c in np.unique(emb['class_ids']))
    missing = [n for i, n in enumerate(names)
               if i not in present and n != 'background']
    if missing:
        print_log(f'{len(missing)} class(es) have no single-source segment '
                  f'in this split and get no prototype: {missing}',
                  logger='current', level=logging.WARNING)
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
        num_clips=len(items),
        num_features=int(emb['features'].shape[0]),
        silent_segments_skipped=len(emb['silent_segments']),
        num_clusters=int(num_clusters),
        per_cluster=int(per_cluster),
        kmeans=dict(init='k-means++', n_init=int(n_init), random_state=seed),
        seed=int(seed),
        strict=bool(strict),
        counts_per_class={n: v['num_features']
                          for n, v in bank['per_class'].items()},
        prototypes_per_class={n: v['k'] * v['per_cluster']
                              for n, v in bank['per_class'].items()},
        clusters=bank['per_class'],
        missing_classes=missing,
        prototype_sources=[emb['sources'][i] for i in bank['indices']],
        notes={k: v for k, v in notes.items()},
    )
    build_info = json.loads(json.dumps(build_info, default=str))
    path = None
    if out is not None:
        path = save_bank(out, bank['prototypes'], bank['class_ids'], names,
                         build_info)
        print_log(f'prototype bank [{bank["prototypes"].shape[0]}, '
                  f'{bank["prototypes"].shape[1]}] of '
                  f'{len(bank["per_class"])} classes written to {path}',
                  logger='current')
    return dict(
        prototypes=bank['prototypes'],
        class_ids=bank['class_ids'],
        class_names=names,
        build_info=build_info,
        features=emb['features'],
        feature_class_ids=emb['class_ids'],
        indices=bank['indices'],
        path=path)
