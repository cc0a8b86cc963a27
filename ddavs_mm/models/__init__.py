from . import audio_encoders, audio_query, heads, losses, segmentors  # noqa: F401
