"""Visualisation of audio-visual segmentation clips."""
from .avs_visualizer import (AVSLocalVisualizer, draw_clip_overlay,
                             frames_to_hwc)

__all__ = ['AVSLocalVisualizer', 'draw_clip_overlay', 'frames_to_hwc']
