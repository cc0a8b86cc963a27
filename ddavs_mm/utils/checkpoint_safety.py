"""Let ``torch.load(weights_only=True)`` read MMEngine's own checkpoints.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
any pickled global it does not know. MMEngine 0.10.x checkpoints hold a
:class:`~mmengine.logging.HistoryBuffer` per logged scalar, and numpy arrays,
scalars and dtypes inside it, so resuming fails. Rather than switching the
protection off (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``), this module allows
exactly those types; any other global in a third-party file is still refused.

A ``HistoryBuffer`` pickles by default with its bound statistics methods,
i.e. through the builtin ``getattr``, which must never be allowed (it would
open the door to arbitrary attribute access).
:func:`allow_mmengine_checkpoint_types` therefore also registers a
``copyreg`` reducer so DDAVS-MM writes a buffer as
``HistoryBuffer(log_history, count_history, max_length)``: plain arrays and
an int. Checkpoints written by DDAVS-MM tools load with ``weights_only=True``;
a checkpoint written by plain MMEngine elsewhere still holds ``getattr`` and
is refused, as it should be unless the user chooses to trust it.

torch's own default is not relied on: :func:`safe_torch_load` passes
``weights_only=True`` explicitly, which torch honours even when
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` is set (that variable only changes
calls that leave ``weights_only`` out). MMEngine's checkpoint loaders call
``torch.load`` without it, so :func:`use_weights_only_loaders` replaces them
(``CheckpointLoader.register_scheme(..., force=True)``, MMEngine's own
extension point): local files, ``http(s)://`` (through
``torch.hub.load_state_dict_from_url(weights_only=True)``), ``s3://`` /
``petrel://`` and the model-zoo names that resolve to one of those
(``torchvision://``, ``open-mmlab://``, ``mmcls://``). ``pavi://`` is
refused. Every ``Pretrained`` init, ``load_from``, resume and
``load_checkpoint`` then reads with ``weights_only=True``.
"""
import copyreg
import io
import os.path as osp
from typing import List

import numpy as np
import torch


def mmengine_checkpoint_types() -> List[object]:
    """The globals that MMEngine checkpoints pickle besides tensors.

    Returns:
        list: Classes and functions for
        ``torch.serialization.add_safe_globals``.
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


def safe_torch_load(file, map_location='cpu'):
    """``torch.load(file, map_location, weights_only=True)``.

    Args:
        file (str | file-like): what to read.
        map_location: as for :func:`torch.load`. Defaults to ``'cpu'``.

    Returns:
        object: the unpickled tensors and plain containers.
    """
    return torch.load(file, map_location=map_location, weights_only=True)


def load_from_local(filename, map_location=None):
    """Scheme ``''``: a local file."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location)


def load_from_http(url, map_location=None, model_dir=None):
    """``http(s)://``: downloaded by rank 0 into torch's hub cache, read by
    every rank."""
    from mmengine.dist import barrier, get_dist_info
    rank, world_size = get_dist_info()

    def fetch():
        return torch.hub.load_state_dict_from_url(
            url, model_dir=model_dir, map_location=map_location,
            weights_only=True)

    if rank == 0:  # download once, then the other ranks read the cache
        checkpoint = fetch()
    if world_size > 1:
        barrier()
        if rank > 0:
            checkpoint = fetch()
    return checkpoint


def load_from_ceph(filename, map_location=None):
    """``s3://`` / ``petrel://``: read through MMEngine's petrel backend."""
    from mmengine.fileio import get_file_backend
    backend = get_file_backend(filename, backend_args={'backend': 'petrel'})
    with io.BytesIO(backend.get(filename)) as buffer:
        return safe_torch_load(buffer, map_location)


def load_from_torchvision(filename, map_location=None):
    """``torchvision://NAME``: the URL MMEngine knows for NAME."""
    from mmengine.runner.checkpoint import get_torchvision_models
    name = filename.split('://', 1)[1]
    return load_from_http(get_torchvision_models()[name], map_location)


def load_from_openmmlab(filename, map_location=None):
    """``open-mmlab://NAME``: the URL (or MMEngine-home file) of NAME."""
    from mmengine.runner.checkpoint import (_get_mmengine_home,
                                            get_deprecated_model_names,
                                            get_external_models)
    name = filename.split('://', 1)[1]
    name = get_deprecated_model_names().get(name, name)
    url = get_external_models()[name]
    if url.startswith(('http://', 'https://')):
        return load_from_http(url, map_location)
    return load_from_local(osp.join(_get_mmengine_home(), url), map_location)


def load_from_mmcls(filename, map_location=None):
    """``mmcls://NAME``: the URL of NAME, keys converted as MMEngine does."""
    from mmengine.runner.checkpoint import (_process_mmcls_checkpoint,
                                            get_mmcls_models)
    url = get_mmcls_models()[filename.split('://', 1)[1]]
    return _process_mmcls_checkpoint(load_from_http(url, map_location))


def load_from_pavi(filename, map_location=None):
    """``pavi://``: refused; download the file and pass its path."""
    raise ValueError(f'{filename}: pavi:// checkpoints are not read by '
                     f'DDAVS-MM (download the file and pass its path)')


def use_weights_only_loaders() -> None:
    """Make MMEngine's ``CheckpointLoader`` read with ``weights_only=True``.

    Replaces the loader of every scheme MMEngine 0.10 registers (see the
    module docstring). Idempotent.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    loaders = {
        '': load_from_local,
        ('http://', 'https://'): load_from_http,
        (r'(\S+\:)?s3://', r'(\S+\:)?petrel://'): load_from_ceph,
        ('modelzoo://', 'torchvision://'): load_from_torchvision,
        ('open-mmlab://', 'openmmlab://'): load_from_openmmlab,
        'mmcls://': load_from_mmcls,
        'pavi://': load_from_pavi,
    }
    for prefixes, loader in loaders.items():
        CheckpointLoader.register_scheme(prefixes, loader, force=True)
