from .avs_visualization_hook import AVSVisualizationHook
from .rng_state_hook import RNGStateHook

__all__ = ['AVSVisualizationHook', 'RNGStateHook']
