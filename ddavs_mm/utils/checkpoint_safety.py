"""Let ``torch.load(weights_only=True)`` read MMEngine's own checkpoints.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
any pickled global it does not know. MMEngine 0.10.x checkpoints hold a
:class:`~mmengine.logging.HistoryBuffer` per logged scalar, and numpy arrays,
scalars and dtypes inside it, so resuming fails. Rather than switching the
protection off (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``), this module allows
exactly those types; any other global in a third-party file is still refused.

A ``HistoryBuffer`` pickles by default with its bound statistics methods,
i.e. through the builtin ``getattr``, which must never be allowed (it would
open the door to arbitrary attribute access). :func:`allow_mmengine_checkpoint_types`
therefore also registers a ``copyreg`` reducer so DDAVS-MM writes a buffer as
``HistoryBuffer(log_history, count_history, max_length)``: plain arrays and
an int. Checkpoints written by DDAVS-MM tools load with ``weights_only=True``;
a checkpoint written by plain MMEngine elsewhere still holds ``getattr`` and
is refused, as it should be unless the user chooses to trust it.
"""
import copyreg
from typing import List

import numpy as np
import torch


def mmengine_checkpoint_types() -> List[object]:
    """The globals that MMEngine checkpoints pickle besides tensors.

    Returns:
        list: Classes and functions for ``torch.serialization.add_safe_globals``.
    """
    from mmengine.logging import HistoryBuffer

    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(name)) for name in (
        'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16',
        'uint32', 'uint64', 'float16', 'float32', 'float64')]
    return [HistoryBuffer, _reconstruct, scalar, np.ndarray, np.dtype,
            *dtype_classes]


def _reduce_history_buffer(buffer):
    """Pickle a HistoryBuffer through its constructor (no bound methods)."""
    return type(buffer), (buffer._log_history, buffer._count_history,
                          buffer.max_length)


def allow_mmengine_checkpoint_types() -> None:
    """Register MMEngine's checkpoint types as safe for ``weights_only`` loads.

    A no-op on torch versions without ``add_safe_globals`` (< 2.4), which do
    not default to ``weights_only=True`` anyway.
    """
    from mmengine.logging import HistoryBuffer

    copyreg.pickle(HistoryBuffer, _reduce_history_buffer)
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:
        add_safe_globals(mmengine_checkpoint_types())
