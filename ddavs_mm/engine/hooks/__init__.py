from .atomic_checkpoint_hook import AtomicCheckpointHook
from .avs_visualization_hook import AVSVisualizationHook
from .consistency_check_hook import ConsistencyCheckHook
from .fast_inference_hook import FastInferenceHook
from .rng_state_hook import RNGStateHook

__all__ = [
    'AtomicCheckpointHook', 'AVSVisualizationHook', 'ConsistencyCheckHook',
    'FastInferenceHook', 'RNGStateHook'
]
