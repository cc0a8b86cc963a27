from .consistency_checks import ConsistencyError, run_consistency_checks
from .dist import DeviceAwareDistributedDataParallel, init_cpu_distributed
from .hooks import (AtomicCheckpointHook, AVSVisualizationHook,
                    ConsistencyCheckHook, RNGStateHook)
from .optimizers import (AutocastOptimWrapper, MergedParamGroupsConstructor,
                         merge_param_groups)
from .schedulers import ResumableOneCycleLR
from .strict_load_runner import StrictLoadRunner
from .strict_pretrained_init import StrictPretrainedInit
from .worker_init import epoch_varying_worker_init_fn

__all__ = [
    'DeviceAwareDistributedDataParallel', 'init_cpu_distributed',
    'RNGStateHook', 'AVSVisualizationHook', 'ConsistencyCheckHook',
    'ConsistencyError', 'run_consistency_checks', 'AutocastOptimWrapper',
    'MergedParamGroupsConstructor', 'merge_param_groups',
    'epoch_varying_worker_init_fn', 'AtomicCheckpointHook',
    'StrictLoadRunner', 'StrictPretrainedInit', 'ResumableOneCycleLR'
]
