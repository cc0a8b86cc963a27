from .dist import DeviceAwareDistributedDataParallel, init_cpu_distributed
from .worker_init import epoch_varying_worker_init_fn
from .hooks import AVSVisualizationHook, RNGStateHook
from .optimizers import (AutocastOptimWrapper, MergedParamGroupsConstructor,
                         merge_param_groups)
from .schedulers import ResumableOneCycleLR

__all__ = [
    'DeviceAwareDistributedDataParallel', 'init_cpu_distributed',
    'RNGStateHook', 'AVSVisualizationHook', 'AutocastOptimWrapper',
    'MergedParamGroupsConstructor', 'merge_param_groups',
    'epoch_varying_worker_init_fn', 'ResumableOneCycleLR'
]
