"""Distributed training that also works on CPU-only machines (gloo).

MMEngine 0.10 assumes CUDA when launched with ``--launcher pytorch``: it calls
``torch.cuda.set_device`` before ``init_process_group`` and wraps the model
with ``device_ids=[LOCAL_RANK]``. Both fail without a GPU. This module
provides the two pieces the tools use instead:

* :func:`init_cpu_distributed` initialises a gloo process group itself when
  no GPU is present, so the runner finds the group ready and skips its own
  CUDA-only initialisation.
* :class:`DeviceAwareDistributedDataParallel` builds MMEngine's DDP wrapper
  with ``device_ids`` only when the model is on a GPU.
"""
import os
from datetime import timedelta

import torch
import torch.distributed as torch_dist
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS


def init_cpu_distributed(launcher: str, timeout_s: int = 1800) -> bool:
    """Start a gloo process group for a CPU-only ``pytorch`` launch.

    Args:
        launcher (str): The job launcher given to the tool.
        timeout_s (int): Collective timeout in seconds.

    Returns:
        bool: True if this call initialised a gloo group.
    """
    if launcher != 'pytorch' or torch.cuda.is_available():
        return False
    if torch_dist.is_available() and torch_dist.is_initialized():
        return False
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if key not in os.environ:
            raise RuntimeError(
                f'--launcher pytorch needs the environment variable {key}; '
                'start the job with tools/dist_train.sh or torchrun.')
    torch_dist.init_process_group(
        backend='gloo', timeout=timedelta(seconds=timeout_s))
    return True


@MODEL_WRAPPERS.register_module()
class DeviceAwareDistributedDataParallel:
    """Build :class:`MMDistributedDataParallel` for GPU or CPU models.

    Not a subclass of ``DistributedDataParallel`` on purpose: MMEngine then
    does not inject ``device_ids``, and this factory sets them only for a
    module that lives on a GPU.

    Args:
        module (nn.Module): The model to wrap.
        **kwargs: Other ``MMDistributedDataParallel`` arguments
            (e.g. ``find_unused_parameters``).
    """

    def __new__(cls, module: torch.nn.Module, **kwargs):
        kwargs.setdefault('broadcast_buffers', False)
        param = next(module.parameters(), None)
        if param is not None and param.device.type == 'cuda':
            kwargs.setdefault('device_ids', [param.device.index or 0])
        else:
            kwargs['device_ids'] = None
        return MMDistributedDataParallel(module=module, **kwargs)
