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
    """Checkpoint the generator states (runs after every other hook)."""

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = dict(
            python=random.getstate(),
            numpy=np.random.get_state(),
            torch=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint['rng_state'] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('rng_state')
        if state is None:
            return
        random.setstate(_as_python_state(state['python']))
        np.random.set_state(state['numpy'])
        torch.set_rng_state(state['torch'])
        if 'cuda' in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state['cuda'])


def _as_python_state(state):
    """``random.setstate`` needs tuples; pickling may have kept them."""
    version, internal, gauss = state
    return version, tuple(internal), gauss
