"""Visualisation of audio-visual segmentation clips: the VOC palette, mask
overlays and the clip visualiser."""
from .avs_visualizer import AVSLocalVisualizer
from .overlay import (DEFAULT_BINARY_COLOR, draw_clip_overlay, frames_to_hwc,
                      overlay_mask)
from .palette import voc_palette

__all__ = [
    'AVSLocalVisualizer', 'DEFAULT_BINARY_COLOR', 'draw_clip_overlay',
    'frames_to_hwc', 'overlay_mask', 'voc_palette'
]
