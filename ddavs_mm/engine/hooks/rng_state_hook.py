"""Save and restore random-number-generator states with checkpoints.

MMEngine reseeds every generator from ``randomness.seed`` when a run starts,
so a resumed run would draw different augmentation parameters and dropout
masks than the uninterrupted one. This hook stores the Python, numpy and
torch (CPU and CUDA) generator states in each checkpoint and restores them on
resume, so an epoch-based run resumed at an epoch boundary continues exactly.
"""
import random

import numpy as np
import torch
from mmengine.hooks import Hook

from ddavs_mm.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Checkpoint the generator states (runs after every other hook).

    Validation inside training draws from the generators too (each data
    loader iterator takes a seed from torch's), so the states are put back
    after it, and a checkpoint saved during it (the best checkpoint and the
    epoch checkpoint saved again with it) stores the states of before it:
    the training stream is the same whether or not an epoch validated.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._before_val = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = self._before_val or _get_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('rng_state')
        if state is not None:
            _set_state(state)

    def before_val_epoch(self, runner) -> None:
        self._before_val = _get_state()

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._before_val is not None:
            _set_state(self._before_val)
            self._before_val = None


def _get_state() -> dict:
    state = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def _set_state(state: dict) -> None:
    random.setstate(_as_python_state(state['python']))
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def _as_python_state(state):
    """``random.setstate`` needs tuples; pickling may have kept them."""
    version, internal, gauss = state
    return version, tuple(internal), gauss
