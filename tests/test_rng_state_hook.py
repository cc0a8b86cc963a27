"""RNGStateHook: validation inside training does not move the generators
that training draws from, and a checkpoint saved during validation stores
their state from before it."""
import random

import numpy as np
import torch

from ddavs_mm.engine.hooks import RNGStateHook


def draws():
    return (random.random(), float(np.random.rand()),
            float(torch.rand(())))


def test_validation_leaves_the_training_stream_alone():
    hook = RNGStateHook()
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    hook.before_val_epoch(None)
    expected = draws()  # what training would draw next
    hook.after_val_epoch(None)  # back to before the validation's draws
    hook.before_val_epoch(None)
    torch.randint(0, 9, (5, ))  # e.g. a loader iterator's base seed
    np.random.rand(3)
    ckpt = {}
    hook.before_save_checkpoint(None, ckpt)  # best checkpoint during val
    hook.after_val_epoch(None)
    assert draws() == expected
    # resuming from that checkpoint continues the same stream
    hook.after_load_checkpoint(None, ckpt)
    assert draws() == expected


def test_checkpoint_outside_validation_stores_the_current_state():
    hook = RNGStateHook()
    torch.manual_seed(5)
    ckpt = {}
    hook.before_save_checkpoint(None, ckpt)
    expected = float(torch.rand(()))
    torch.rand(10)
    hook.after_load_checkpoint(None, ckpt)
    assert float(torch.rand(())) == expected
