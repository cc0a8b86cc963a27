from .dist import DeviceAwareDistributedDataParallel, init_cpu_distributed
from .worker_init import epoch_varying_worker_init_fn
from .consistency_checks import ConsistencyError, run_consistency_checks
from .hooks import AVSVisualizationHook, ConsistencyCheckHook, RNGStateHook
from .optimizers import (AutocastOptimWrapper, MergedParamGroupsConstructor,
                         merge_param_groups)

__all__ = [
    'DeviceAwareDistributedDataParallel', 'init_cpu_distributed',
    'RNGStateHook', 'AVSVisualizationHook', 'ConsistencyCheckHook',
    'ConsistencyError', 'run_consistency_checks', 'AutocastOptimWrapper',
    'MergedParamGroupsConstructor', 'merge_param_groups',
    'epoch_varying_worker_init_fn'
]
