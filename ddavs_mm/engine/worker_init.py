"""Seeding of data-loader workers that varies per epoch and resumes exactly.

MMEngine's default ``worker_init_fn`` seeds every worker with
``seed + worker_id + rank * num_workers`` whenever workers start. With
persistent workers a resumed run restarts that stream at the epoch it
resumes, and with non-persistent workers every epoch repeats the same
augmentation stream. :func:`epoch_varying_worker_init_fn` instead derives the
numpy/Python seeds from ``torch.initial_seed()``, which PyTorch sets in each
worker to a base seed drawn from the main process's generator when the
epoch's iterator is created (plus the worker id). Use it with
``persistent_workers=False``: every epoch gets new augmentation draws, and
since :class:`~ddavs_mm.engine.RNGStateHook` restores the main generator on
resume, a resumed run draws the same ones as the uninterrupted run.
"""
import os
import random

import numpy as np
import torch
from mmengine.registry import FUNCTIONS


@FUNCTIONS.register_module()
def epoch_varying_worker_init_fn(worker_id: int) -> None:
    """Seed numpy and ``random`` in a data-loader worker.

    Args:
        worker_id (int): The worker's id (PyTorch passes it; the id is
            already part of ``torch.initial_seed()``).
    """
    rank = int(os.environ.get('RANK', 0))
    seed = (torch.initial_seed() + rank * 1_000_003) % 2**32
    np.random.seed(seed)
    random.seed(seed)
