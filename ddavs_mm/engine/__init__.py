from .dist import DeviceAwareDistributedDataParallel, init_cpu_distributed
from .hooks import AVSVisualizationHook, RNGStateHook

__all__ = [
    'DeviceAwareDistributedDataParallel', 'init_cpu_distributed',
    'RNGStateHook', 'AVSVisualizationHook'
]
