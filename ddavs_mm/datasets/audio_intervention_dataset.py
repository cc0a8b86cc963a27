"""Test-time audio interventions: does the model listen?

:class:`AudioInterventionDataset` wraps any DDAVS-MM dataset and changes only
the audio of each clip, leaving frames, masks and flags untouched:

* ``mode='silence'``: every waveform segment (and its augmented copy) is
  replaced by zeros after the pipeline ran;
* ``mode='shuffle'``: each clip gets the audio of another clip of the same
  data set (a seeded derangement: no clip keeps its own audio).

A model that segments the sounding objects must score clearly lower under
both than on the clean data.
"""
import copy
from typing import Union

import numpy as np

from ddavs_mm.registry import DATASETS

AUDIO_KEYS = ('audio_paths', 'audio_offset', 'audio_duration')


def derangement(n: int, seed: int) -> np.ndarray:
    """A seeded permutation of ``range(n)`` without fixed points.

    Args:
        n (int): Length; must be at least 2.
        seed (int): Seed of the permutation.

    Returns:
        np.ndarray: int64 [n], ``perm[i] != i`` for every i.
    """
    if n < 2:
        raise ValueError(f'shuffling audio needs at least 2 clips, got {n}')
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    for i in range(n):
        if perm[i] == i:
            j = (i + 1) % n
            perm[i], perm[j] = perm[j], perm[i]
    return perm


@DATASETS.register_module()
class AudioInterventionDataset:
    """Wrap a data set and silence or shuffle its audio.

    Args:
        dataset (dict | BaseDataset): The data set (or its config).
        mode (str): ``'silence'`` or ``'shuffle'``.
        seed (int): Seed of the shuffle. Defaults to 0.
    """

    MODES = ('silence', 'shuffle')

    def __init__(self, dataset: Union[dict, object], mode: str,
                 seed: int = 0) -> None:
        if mode not in self.MODES:
            raise ValueError(
                f'mode must be one of {self.MODES}, got {mode!r}')
        self.dataset = DATASETS.build(dataset) if isinstance(
            dataset, dict) else dataset
        self.mode = mode
        self.seed = seed
        self._perm = derangement(len(self.dataset), seed) \
            if mode == 'shuffle' else None

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self.dataset.metainfo)

    def __len__(self) -> int:
        return len(self.dataset)

    def audio_donor(self, idx: int) -> int:
        """Index of the clip whose audio clip ``idx`` receives."""
        return int(self._perm[idx]) if self._perm is not None else idx

    def __getitem__(self, idx: int) -> dict:
        info = self.dataset.get_data_info(idx)
        if self.mode == 'shuffle':
            donor = self.dataset.get_data_info(self.audio_donor(idx))
            for key in AUDIO_KEYS:
                if key in donor:
                    info[key] = donor[key]
        out = self.dataset.pipeline(info)
        if self.mode == 'silence':
            for key in ('audio', 'audio_aug'):
                if key in out['inputs']:
                    out['inputs'][key] = out['inputs'][key].new_zeros(
                        out['inputs'][key].shape)
        return out

    def full_init(self) -> None:
        self.dataset.full_init()
