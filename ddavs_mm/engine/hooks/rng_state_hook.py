"""Save and restore random-number-generator states with checkpoints.

MMEngine reseeds every generator from ``randomness.seed`` when a run starts,
so a resumed run would draw different augmentation parameters and dropout
masks than the uninterrupted one. This hook stores the Python, numpy and
torch (CPU and CUDA) generator states in each checkpoint and restores them on
resume, so an epoch-based run resumed at an epoch boundary continues exactly.

Validation draws from the same generators (every DataLoader iterator draws
a base seed), and a run resumed from a checkpoint saved before a validation
skips that validation. So the hook also takes a validation out of the
training streams: the states before ``before_val_epoch`` are restored
after it, and a checkpoint saved during or right after validation (the
best one, the re-saved epoch one) records those states. Training then
draws the same numbers whether or not a validation ran in between.
"""
import random

import numpy as np
import torch
from mmengine.hooks import Hook

from ddavs_mm.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Checkpoint the generator states (runs after every other hook)."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._before_val = None

    def before_val_epoch(self, runner) -> None:
        self._before_val = _capture()

    def after_val_epoch(self, runner, metrics=None) -> None:
        # VERY_LOW: runs after the checkpoint hook's best-checkpoint save
        if self._before_val is not None:
            _restore(self._before_val)
            self._before_val = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = self._before_val or _capture()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('rng_state')
        if state is not None:
            _restore(state)


def _capture() -> dict:
    state = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def _restore(state: dict) -> None:
    random.setstate(_as_python_state(state['python']))
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def _as_python_state(state):
    """``random.setstate`` needs tuples; pickling may have kept them."""
    version, internal, gauss = state
    return version, tuple(internal), gauss
