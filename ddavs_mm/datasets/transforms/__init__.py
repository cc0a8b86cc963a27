from .audio import LoadAudio
from .clip_transforms import (ClipCenterCrop, ClipPhotoMetricDistortion,
                              ClipRandomCrop, ClipRandomFlip,
                              ClipRandomResizedCrop, ClipResize,
                              ClipShortSideResize)
from .formatting import PackAVSInputs
from .loading import LoadClipFrames, LoadClipMasks
from .waveform_augment import WaveformAugment

__all__ = [
    'LoadAudio', 'ClipCenterCrop', 'ClipPhotoMetricDistortion',
    'ClipRandomCrop', 'ClipRandomFlip', 'ClipRandomResizedCrop', 'ClipResize',
    'ClipShortSideResize', 'PackAVSInputs', 'LoadClipFrames', 'LoadClipMasks',
    'WaveformAugment'
]
