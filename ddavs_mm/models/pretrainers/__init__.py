"""Models that pretrain the encoders on the synthetic data set."""
from .audio_tagging_pretrainer import AudioTaggingPretrainer
from .object_segmentation_pretrainer import ObjectSegmentationPretrainer

__all__ = ['AudioTaggingPretrainer', 'ObjectSegmentationPretrainer']
