from .separable_resize import (bilinear_resize_matrix,  # noqa: F401
                               resize_bilinear)
