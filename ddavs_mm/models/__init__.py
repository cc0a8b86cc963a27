from . import (audio_encoders, audio_query, backbones, heads,  # noqa: F401
               losses, pretrainers, segmentors, utils)
from .data_preprocessor import AVSDataPreprocessor  # noqa: F401
