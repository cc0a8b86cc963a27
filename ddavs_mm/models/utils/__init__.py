from .separable_resize import bilinear_resize_matrix, resize_bilinear

__all__ = ['bilinear_resize_matrix', 'resize_bilinear']
