"""The single-source seconds of an AVS data set and their audio.

A prototype of class ``c`` (DDAVS appendix B.1) is the embedding of a
second of audio in which ``c`` is the only sounding source; the audio
encoders are pretrained on the same seconds. :func:`collect_single_source_
items` lists them per clip (:class:`ClipSeconds`) and
:func:`iter_segments` reads them.

A second is paired with a frame as AVSBench pairs them: one frame per
second, frame ``i`` shows second ``i`` of the clip (audio ``[i, i + 1)`` s),
as :class:`~ddavs_mm.datasets.transforms.LoadAudio` cuts a clip's audio for
training.

Sources and their rule for "single source":

* ``'s4'``: AVSBench S4, every clip single source; all 5 seconds; class =
  the clip's ``category``, ids index the sorted categories of the CSV.
* ``'avss'``: AVSBench-semantic, subsets ``labels`` (default all three);
  class ids are the ``label2idx.json`` indices (background = 0 gets none):

  - ``v1s`` clips are single source by construction: all 5 real seconds
    belong to the foreground class with the most pixels in the clip's
    annotated label maps (train: frame 0 only);
  - ``v1m`` / ``v2`` clips: second ``i`` is single source when label map
    ``i`` holds exactly one foreground class (pixels other than background
    0 and ignore 255); a map with several classes or only background makes
    no single-source second.

  For a class that is labelled in the split but has no single-source
  second, the notes list its *least-mixed* seconds (the annotated frames
  holding it with the fewest other foreground classes) under
  ``'fallback_items'``; the bank builder may use them (they are never
  returned as items).
* ``'vpo'``: VPO-SS, class = ``cateName``, ids index
  :data:`~ddavs_mm.datasets.VPO_CLASSES`; the 3 centre seconds.
* ``'synthetic'``: a set written by
  :func:`~ddavs_mm.datasets.synthetic.generate_synthetic_avs`; the seconds
  of its ``single_source_index``; ids are the catalogue indices (preset
  ``avss``: shifted by one, background = 0); with ``by_size_bin=True`` the
  3 x 10 sounds (class, size bin) instead.
"""
import logging
import math
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log

SOURCES = ('s4', 'avss', 'vpo', 'synthetic')


@dataclass
class ClipSeconds:
    """Seconds of one clip that belong to one class.

    Attributes:
        clip_id (str): clip identifier.
        audio_paths (list[str]): audio file(s) of the clip (read and summed
            by ``LoadAudio``).
        num_seconds (int): seconds of audio to load (the clip window).
        seconds (list[int]): the seconds (``0 <= s < num_seconds``).
        class_id (int): the class.
        num_classes (int): foreground classes labelled in these seconds: 1
            for single-source seconds, more for AVSS fallback seconds.
        audio_offset (float): seconds skipped at the start.
        audio_duration (float | None): seconds kept (VPO: 3.0).
        audio_crop (str): ``'start'`` or ``'center'`` (VPO).
        subset (str): AVSS subset of the clip (``''`` elsewhere).
    """
    clip_id: str
    audio_paths: List[str]
    num_seconds: int
    class_id: int
    seconds: List[int] = field(default_factory=list)
    num_classes: int = 1
    audio_offset: float = 0.0
    audio_duration: Optional[float] = None
    audio_crop: str = 'start'
    subset: str = ''


def _warn(msg: str) -> None:
    print_log(msg, logger='current', level=logging.WARNING)


def _head(names: Sequence[str], n: int = 10) -> str:
    return f'{list(names[:n])}{" ..." if len(names) > n else ""}'


# ------------------------------------------------------------------ S4 / VPO
def _s4_items(data_root: str, split: str, **kwargs) -> Tuple[list, list]:
    from ddavs_mm.datasets import AVSBenchS4Dataset, read_s4_csv
    ds = AVSBenchS4Dataset(
        data_root=data_root, split=split, check_files=False, **kwargs)
    names = sorted({r.category for r in read_s4_csv(ds.ann_file)})
    items = []
    for i in range(len(ds)):
        clip = ds.get_data_info(i)
        t = int(clip['num_frames'])
        items.append(
            ClipSeconds(clip['clip_id'], list(clip['audio_paths']), t,
                        names.index(clip['category']), list(range(t))))
    return items, names


def _vpo_items(data_root: str, split: str, **kwargs) -> Tuple[list, list]:
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
            ClipSeconds(
                clip['clip_id'], list(clip['audio_paths']), n,
                names.index(cats[0]), list(range(n)),
                audio_offset=float(clip.get('audio_offset') or 0.0),
                audio_duration=dur,
                audio_crop=clip.get('audio_crop', 'start')))
    return items, names


# ---------------------------------------------------------------------- AVSS
def label_map_pixels(path: str, num_classes: int,
                     clip_id: str = '?') -> np.ndarray:
    """Pixels of every class in one AVSS label map.

    Args:
        path (str): ``labels_semantic`` (class indices) or ``labels_rgb``
            (VOC bit-shift palette) png.
        num_classes (int): classes of the data set, background included.
        clip_id (str): for messages.

    Returns:
        ndarray: int64 ``[num_classes]`` pixel counts (ignore 255 left out).
    """
    from ddavs_mm.datasets.transforms.loading import (read_mask_array,
                                                      rgb_to_index)
    arr = read_mask_array(path)
    if arr.ndim == 3:
        arr = rgb_to_index(arr, num_classes, path)
    vals = arr[arr != 255].astype(np.int64)
    if vals.size and vals.max() >= num_classes:
        raise ValueError(f'Mask {path} (clip {clip_id}) has class id '
                         f'{int(vals.max())} >= {num_classes} classes')
    return np.bincount(vals, minlength=num_classes)[:num_classes]


def _avss_items(data_root: str,
                split: str,
                labels: Sequence[str] = ('v1s', 'v1m', 'v2'),
                **kwargs) -> Tuple[list, list, dict]:
    from ddavs_mm.datasets import AVSBenchSemanticDataset
    ds = AVSBenchSemanticDataset(
        data_root=data_root, split=split, labels=tuple(labels),
        check_files=False, **kwargs)
    names = list(ds.metainfo['classes'])
    nc = len(names)
    items: List[ClipSeconds] = []
    # class id -> seconds holding it with others: {num classes: [items]}
    mixed: Dict[int, Dict[int, List[ClipSeconds]]] = {}
    no_fg, several = [], []
    per_subset = {s: np.zeros(nc, np.int64) for s in ds.labels}
    for i in range(len(ds)):
        clip = ds.get_data_info(i)
        cid, sub = clip['clip_id'], clip['subset']
        t = int(sum(bool(f) for f in clip['frame_flags']))
        masks = [(s, p) for s, p in enumerate(clip['mask_paths'][:t])
                 if p is not None]
        if not masks:
            raise ValueError(f'AVSS clip {cid} has no label map to read '
                             'its classes from')
        pixels = [label_map_pixels(p, nc, cid) for _, p in masks]
        for px in pixels:
            px[0] = 0  # background is no source
        audio = list(clip['audio_paths'])
        if sub == 'v1s':
            total = np.sum(pixels, 0)
            if not total.any():
                no_fg.append(cid)
                continue
            if (total > 0).sum() > 1:
                several.append(cid)
            c = int(np.argmax(total))
            items.append(ClipSeconds(cid, audio, t, c, list(range(t)),
                                     subset=sub))
            per_subset[sub][c] += t
            continue
        by_class: Dict[Tuple[int, int], ClipSeconds] = {}
        for (s, _), px in zip(masks, pixels):
            present = np.flatnonzero(px)
            for c in present.tolist():
                key = (c, len(present))
                if key not in by_class:
                    by_class[key] = ClipSeconds(cid, audio, t, c,
                                                num_classes=len(present),
                                                subset=sub)
                by_class[key].seconds.append(s)
        for (c, k), it in by_class.items():
            if k == 1:
                items.append(it)
                per_subset[sub][c] += len(it.seconds)
            else:
                mixed.setdefault(c, {}).setdefault(k, []).append(it)
    if no_fg:
        _warn(f'AVSS: {len(no_fg)} v1s clip(s) have only background in '
              f'their label maps, so their class is unknown; not used: '
              f'{_head(no_fg)}')
    if several:
        _warn(f'AVSS: {len(several)} v1s clip(s) show several foreground '
              f'classes; each uses the class with the most pixels: '
              f'{_head(several)}')
    single = {it.class_id for it in items}
    fallback = {c: by_k[min(by_k)] for c, by_k in sorted(mixed.items())
                if c not in single}
    present = sorted(single | set(mixed))
    notes = dict(
        present_classes=[names[c] for c in present],
        single_source_seconds_by_subset={
            names[c]: {s: int(v[c]) for s, v in per_subset.items()}
            for c in present},
        v1s_clips_without_foreground=no_fg,
        v1s_clips_with_several_classes=several,
        fallback_items=fallback)
    return items, names, notes


# ----------------------------------------------------------------- synthetic
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


def _synthetic_items(data_root: str, split: str,
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
    by_clip: Dict[Tuple[str, int], ClipSeconds] = {}
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
            by_clip[key] = ClipSeconds(
                e['clip_id'], [osp.join(data_root, e['audio_path'])], n, cid)
        by_clip[key].seconds.append(int(e['second']))
    items = list(by_clip.values())  # insertion order: the index's order
    for it in items:
        it.seconds = sorted(set(it.seconds))
    return items, names


# ------------------------------------------------------------------- public
def collect_single_source_items(source: str,
                                data_root: str,
                                split: str = 'train',
                                **dataset_kwargs
                                ) -> Tuple[List[ClipSeconds], List[str],
                                           Dict[str, Any]]:
    """List the single-source seconds of a data set (see the module doc).

    Args:
        source (str): one of :data:`SOURCES`.
        data_root (str): the data set's root folder.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        **dataset_kwargs: extra arguments of the dataset class (e.g.
            ``ann_file``, ``data_prefix``; AVSS ``labels``). The synthetic
            source takes only ``by_size_bin`` (bool).

    Returns:
        tuple: items (one per clip and class, ``num_classes == 1``), class
        names indexed by class id, and notes (dict; AVSS: ``present_classes``
        (labelled anywhere in the split), ``single_source_seconds_by_subset``
        and ``fallback_items`` {class id: least-mixed :class:`ClipSeconds`}
        for the present classes without a single-source second).
    """
    if source not in SOURCES:
        raise ValueError(f'unknown source {source!r}; expected one of '
                         f'{SOURCES}')
    if not osp.isdir(data_root):
        raise FileNotFoundError(f'data root not found: {data_root}')
    notes: Dict[str, Any] = {}
    if source == 's4':
        items, names = _s4_items(data_root, split, **dataset_kwargs)
    elif source == 'avss':
        items, names, notes = _avss_items(data_root, split, **dataset_kwargs)
    elif source == 'vpo':
        items, names = _vpo_items(data_root, split, **dataset_kwargs)
    else:
        extra = sorted(set(dataset_kwargs) - {'by_size_bin'})
        if extra:
            raise ValueError('the synthetic source takes only the '
                             f'by_size_bin argument, got {extra}')
        items, names = _synthetic_items(data_root, split, **dataset_kwargs)
    if not items:
        raise ValueError(f'no single-source second in split {split!r} of '
                         f'{source} data at {data_root}')
    return items, names, notes


def iter_segments(items: Sequence[ClipSeconds],
                  sample_rate: int,
                  segment_seconds: float = 1.0,
                  silence_rms: float = 1e-4,
                  progress: bool = True,
                  silent: Optional[List[str]] = None
                  ) -> Iterator[Tuple[np.ndarray, int, str]]:
    """Yield the audio of every non-silent second of ``items``.

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

    Raises:
        ValueError: a second outside its clip's window.
        FileNotFoundError: a missing audio file (from ``LoadAudio``).
    """
    from mmengine.utils import ProgressBar

    from ddavs_mm.datasets.transforms import LoadAudio
    loader = LoadAudio(sample_rate, segment_seconds)
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
