from .freezable_mit import FreezableMixVisionTransformer
from .mit_checkpoint import (convert_mit_state_dict, detect_mit_layout,
                             load_mit_checkpoint, read_mit_checkpoint)
from .stage_wise_backbone import HOOK_POSITIONS, StageHook, StageWiseBackbone

__all__ = [
    'FreezableMixVisionTransformer', 'HOOK_POSITIONS', 'StageHook',
    'StageWiseBackbone', 'convert_mit_state_dict', 'detect_mit_layout',
    'load_mit_checkpoint', 'read_mit_checkpoint'
]
