from . import audio_encoders, audio_query, heads, losses, segmentors  # noqa: F401
from .data_preprocessor import AVSDataPreprocessor  # noqa: F401
