from .array_loading import LoadAudioFromNDArray, LoadClipFramesFromNDArray
from .audio import LoadAudio
from .clip_transforms import (ClipCenterCrop, ClipPhotoMetricDistortion,
                              ClipRandomCrop, ClipRandomFlip,
                              ClipRandomResizedCrop, ClipResize,
                              ClipShortSideResize)
from .formatting import PackAVSInputs
from .loading import LoadClipFrames, LoadClipMasks
from .temporal_sampling import ClipSampleFrames
from .waveform_augment import WaveformAugment

__all__ = [
    'LoadAudio', 'ClipCenterCrop', 'ClipPhotoMetricDistortion',
    'ClipRandomCrop', 'ClipRandomFlip', 'ClipRandomResizedCrop', 'ClipResize',
    'ClipShortSideResize', 'ClipSampleFrames', 'PackAVSInputs',
    'LoadClipFrames', 'LoadClipMasks', 'WaveformAugment',
    'LoadClipFramesFromNDArray', 'LoadAudioFromNDArray'
]
