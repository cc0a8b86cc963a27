from .atomic_checkpoint_hook import AtomicCheckpointHook
from .avs_visualization_hook import AVSVisualizationHook
from .rng_state_hook import RNGStateHook

__all__ = ['AtomicCheckpointHook', 'AVSVisualizationHook', 'RNGStateHook']
