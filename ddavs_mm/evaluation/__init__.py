"""Evaluation of DDAVS-MM: official AVS metrics (functional and mmengine)."""
from .functional import (avsbench_frame_stats, avsbench_fscore,
                         avsbench_fscore_from_stats, avsbench_jaccard,
                         avsbench_jaccard_from_stats, avss_miou_fscore,
                         avss_reduce, semantic_frame_stats, vpo_miou_fscore,
                         vpo_reduce)
from .metrics import JFMetric

__all__ = [
    'JFMetric', 'avsbench_frame_stats', 'avsbench_jaccard',
    'avsbench_jaccard_from_stats', 'avsbench_fscore',
    'avsbench_fscore_from_stats', 'semantic_frame_stats', 'avss_reduce',
    'vpo_reduce', 'avss_miou_fscore', 'vpo_miou_fscore'
]
