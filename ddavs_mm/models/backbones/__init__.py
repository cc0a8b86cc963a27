from .freezable_mit import FreezableMixVisionTransformer

__all__ = ['FreezableMixVisionTransformer']
