from .audio_conditioned_block import AudioConditionedBlock
from .contrastive_head import ContrastiveHead
from .cross_alignment_block import CrossAlignmentBlock
from .delayed_avam_decoder import DelayedAVAMDecoder
from .image_guided_refiner import ImageGuidedRefiner
from .segformer_mask_decoder import SegformerMaskDecoder
from .stage_alignment import StageAlignment

__all__ = [
    'DelayedAVAMDecoder', 'AudioConditionedBlock', 'ContrastiveHead',
    'CrossAlignmentBlock', 'ImageGuidedRefiner', 'SegformerMaskDecoder',
    'StageAlignment'
]
