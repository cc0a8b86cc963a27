"""Built-in synthetic audio-visual segmentation data set.

Writes the exact AVSBench S4 / MS3 / AVSS layouts (see :mod:`.layouts`), so
the real readers are what it exercises. See docs/synthetic_data.md.
"""
from .audio import mix_clip, synth_sound
from .catalogue import (CLASS_NAMES, CLASSES, SIZE_BINS, SIZE_RATIO, SoundSpec,
                        SyntheticClass, catalogue_dict, size_bin_of,
                        size_factor)
from .generator import (GENERATOR_VERSION, INFO_FILE, generate_clip,
                        generate_synthetic_avs, iter_rendered_clips, load_info)
from .oracle import (oracle_scores, tpavi_frame_iou, tpavi_miou,
                     visual_only_oracle_j)
from .overlays import draw_scene_overlay, write_overlays
from .render import render_clip, semantic_mask, sounding_mask, visible_mask
from .role_coverage import ROLES, object_role, role_coverage
from .scene import (AVSS_SUBSETS, PRESETS, SPLITS, ClipScene, Instance, Source,
                    clip_rngs, sample_scene)

__all__ = [
    'CLASSES', 'CLASS_NAMES', 'SIZE_BINS', 'SIZE_RATIO', 'SoundSpec',
    'SyntheticClass', 'catalogue_dict', 'size_bin_of', 'size_factor',
    'GENERATOR_VERSION', 'INFO_FILE', 'generate_clip',
    'generate_synthetic_avs', 'iter_rendered_clips', 'load_info',
    'oracle_scores', 'tpavi_frame_iou',
    'tpavi_miou', 'visual_only_oracle_j', 'draw_scene_overlay',
    'write_overlays', 'render_clip', 'semantic_mask', 'sounding_mask',
    'visible_mask', 'mix_clip', 'synth_sound', 'AVSS_SUBSETS', 'PRESETS',
    'SPLITS', 'ClipScene', 'Instance', 'Source', 'clip_rngs', 'sample_scene',
    'ROLES', 'object_role', 'role_coverage'
]
