from .freezable_mit import FreezableMixVisionTransformer
from .sdpa_mit import (SDPAEfficientMultiheadAttention,
                       SDPAMixVisionTransformer, mit_attention_to_sdpa,
                       multihead_sdpa)

__all__ = [
    'FreezableMixVisionTransformer', 'SDPAMixVisionTransformer',
    'SDPAEfficientMultiheadAttention', 'mit_attention_to_sdpa',
    'multihead_sdpa'
]
