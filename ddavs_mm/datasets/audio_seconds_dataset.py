"""One-second audio segments with sound labels, for audio-encoder pretraining.

DDAVS uses HTSAT pretrained on AudioSet; on the built-in synthetic data set
no such weights exist, so the main job pretrains the tiny HTSAT to name the
sounds of the training seconds (``tools/pretrain_audio_encoder.py``). This
dataset serves those seconds: either the single-source seconds of a data
set (:mod:`.single_source_segments`, one class each) or, on the synthetic
set, every second with the set of sources audible in it (``mixtures``, as
AudioSet tagging labels real HTSAT's mixtures).
"""
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np
from mmengine.dataset import BaseDataset

from ddavs_mm.registry import DATASETS
from .single_source_segments import (collect_single_source_items,
                                     iter_segments, synthetic_sound_label,
                                     synthetic_sound_labels)


def collect_synthetic_mixture_segments(data_root: str,
                                       split: str,
                                       sample_rate: int,
                                       by_size_bin: bool = False,
                                       progress: bool = True
                                       ) -> Tuple[np.ndarray, np.ndarray,
                                                  List[str]]:
    """Every 1-s segment of a synthetic split with its audible sources.

    Args:
        data_root (str): a generated synthetic data set.
        split (str): its split.
        sample_rate (int): rate to resample to (the encoder's).
        by_size_bin (bool): label sounds, (class, size bin) as ``class *
            num_bins + bin``, instead of classes.
        progress (bool): show a progress bar (one tick per clip).

    Returns:
        tuple: waveforms ``[M, S]`` float32, multi-hot targets ``[M, C]``
        float32 (all zero: nothing but background noise), label names.
    """
    from mmengine.utils import ProgressBar

    from .synthetic import load_info
    from .transforms import LoadAudio
    info = load_info(data_root)
    names, num_bins = synthetic_sound_labels(info, by_size_bin)
    clips = [c for c in info['clips'] if c['split'] == split]
    if not clips:
        raise ValueError(f'no clip in split {split!r} of {data_root}')
    loader = LoadAudio(sample_rate=sample_rate)
    seg = int(sample_rate)
    wavs, targets = [], []
    bar = ProgressBar(len(clips)) if progress else None
    for clip in clips:
        n = int(clip['num_frames'])
        res = loader(dict(clip_id=clip['clip_id'], num_frames=n,
                          audio_paths=[osp.join(data_root,
                                                clip['audio_path'])]))
        wavs.append(res['waveform'].reshape(n, seg))
        y = np.zeros((n, len(names)), np.float32)
        for src in clip['sources']:
            label = synthetic_sound_label(src['class_id'], src['size_bin'],
                                          num_bins, by_size_bin)
            for k, active in enumerate(src['active'][:n]):
                if active:
                    y[k, label] = 1.
        targets.append(y)
        if bar is not None:
            bar.update()
    return (np.concatenate(wavs).astype(np.float32),
            np.concatenate(targets), names)


def audio_label_names(source: str,
                      data_root: str,
                      split: str = 'train',
                      mixtures: bool = False,
                      by_size_bin: bool = False,
                      source_kwargs: Optional[dict] = None) -> List[str]:
    """The label names :class:`AudioSecondsDataset` will use, without
    reading any audio (to size a classifier before the data loads)."""
    if mixtures:
        from .synthetic import load_info
        return synthetic_sound_labels(load_info(data_root), by_size_bin)[0]
    kwargs = dict(source_kwargs or {})
    if by_size_bin:
        kwargs['by_size_bin'] = True
    return collect_single_source_items(source, data_root, split,
                                       **kwargs)[1]


@DATASETS.register_module()
class AudioSecondsDataset(BaseDataset):
    """One-second audio segments and their sound labels, held in memory.

    Each sample is ``dict(inputs=float32 [S], gt_label=...)`` with ``S =
    sample_rate`` samples; ``gt_label`` is the class id (int) or, with
    ``mixtures``, a float32 multi-hot ``[C]`` of the audible sources.
    ``metainfo['classes']`` holds the label names.

    Args:
        source (str): single-source data set kind, one of
            :data:`~.single_source_segments.SOURCES`.
        data_root (str): the data set's root.
        split (str): Defaults to ``'train'``.
        sample_rate (int): rate to resample to (the encoder's).
        mixtures (bool): every second of a synthetic set with its audible
            sources (multi-label) instead of the single-source seconds.
        by_size_bin (bool): synthetic sets: label the (class, size bin)
            sounds instead of the classes.
        source_kwargs (dict, optional): passed to
            :func:`~.single_source_segments.collect_single_source_items`
            (e.g. AVSS ``labels``).
        progress (bool): show a loading progress bar.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments
            (``pipeline``, ``lazy_init``...).
    """

    def __init__(self,
                 source: str,
                 data_root: str,
                 split: str = 'train',
                 sample_rate: int = 32000,
                 mixtures: bool = False,
                 by_size_bin: bool = False,
                 source_kwargs: Optional[dict] = None,
                 progress: bool = True,
                 serialize_data: bool = False,
                 **kwargs) -> None:
        if mixtures and source != 'synthetic':
            raise ValueError('mixtures=True needs the synthetic source (the '
                             'sources audible in each second are known '
                             f'there), got {source!r}')
        if by_size_bin and source != 'synthetic':
            raise ValueError('by_size_bin needs the synthetic source, got '
                             f'{source!r}')
        self.source = source
        self.split = split
        self.sample_rate = int(sample_rate)
        self.mixtures = mixtures
        self.by_size_bin = by_size_bin
        self.source_kwargs = dict(source_kwargs or {})
        self.progress = progress
        super().__init__(data_root=data_root, serialize_data=serialize_data,
                         **kwargs)

    def load_data_list(self) -> List[dict]:
        if self.mixtures:
            wavs, targets, names = collect_synthetic_mixture_segments(
                self.data_root, self.split, self.sample_rate,
                self.by_size_bin, self.progress)
            labels = list(targets)
        else:
            kwargs = dict(self.source_kwargs)
            if self.by_size_bin:
                kwargs['by_size_bin'] = True
            items, names, _ = collect_single_source_items(
                self.source, self.data_root, self.split, **kwargs)
            segments = list(iter_segments(items, self.sample_rate,
                                          progress=self.progress))
            wavs = [w for w, _, _ in segments]
            labels = [c for _, c, _ in segments]
        self._metainfo['classes'] = tuple(names)
        return [dict(inputs=w, gt_label=y) for w, y in zip(wavs, labels)]

    def prepare_data(self, idx: int) -> dict:
        """The sample's model inputs (without BaseDataset's ``sample_idx``)
        through the pipeline."""
        info = self.get_data_info(idx)
        return self.pipeline({k: info[k] for k in ('inputs', 'gt_label')})
