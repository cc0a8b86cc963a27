from .freezable_mit import FreezableMixVisionTransformer
from .mit_checkpoint import (convert_mit_state_dict, detect_mit_layout,
                             load_mit_checkpoint, read_mit_checkpoint)
from .sdpa_mit import (SDPAEfficientMultiheadAttention,
                       SDPAMixVisionTransformer, mit_attention_to_sdpa,
                       multihead_sdpa)
from .stage_wise_backbone import HOOK_POSITIONS, StageHook, StageWiseBackbone

__all__ = [
    'FreezableMixVisionTransformer', 'SDPAMixVisionTransformer',
    'SDPAEfficientMultiheadAttention', 'mit_attention_to_sdpa',
    'multihead_sdpa', 'HOOK_POSITIONS', 'StageHook', 'StageWiseBackbone',
    'convert_mit_state_dict', 'detect_mit_layout',
    'load_mit_checkpoint', 'read_mit_checkpoint'
]
