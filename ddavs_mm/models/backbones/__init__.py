from .freezable_mit import FreezableMixVisionTransformer
from .mit_checkpoint import (convert_mit_state_dict, detect_mit_layout,
                             load_mit_checkpoint, read_mit_checkpoint)

__all__ = [
    'FreezableMixVisionTransformer', 'convert_mit_state_dict',
    'detect_mit_layout', 'load_mit_checkpoint', 'read_mit_checkpoint'
]
