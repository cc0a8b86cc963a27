from .avs_visualization_hook import AVSVisualizationHook
from .consistency_check_hook import ConsistencyCheckHook
from .rng_state_hook import RNGStateHook

__all__ = ['AVSVisualizationHook', 'ConsistencyCheckHook', 'RNGStateHook']
