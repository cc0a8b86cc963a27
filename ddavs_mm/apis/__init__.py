"""High-level inference APIs: build a model, segment clips and videos."""
from .fast_inference import optimize_for_inference
from .inference import (build_test_pipeline, centered_audio_segments,
                        clip_timestamps, get_audio_settings, get_num_frames,
                        get_test_resize, inference_clip, init_model)
from .video_io import (OverlayVideoWriter, iter_video_frames, overlay_mask,
                       probe_video, read_audio, read_video,
                       write_overlay_video)

__all__ = [
    'init_model', 'inference_clip', 'build_test_pipeline',
    'centered_audio_segments', 'clip_timestamps', 'get_audio_settings',
    'get_num_frames', 'get_test_resize', 'read_video', 'read_audio',
    'iter_video_frames', 'probe_video', 'write_overlay_video',
    'overlay_mask', 'OverlayVideoWriter',
    'optimize_for_inference'
]
