from ..visualization.palette import voc_palette
from . import transforms
from .audio_intervention_dataset import AudioInterventionDataset
from .audio_seconds_dataset import AudioSecondsDataset
from .avsbench_object import AVSBenchMS3Dataset, AVSBenchS4Dataset
from .avsbench_semantic import AVSBenchSemanticDataset, load_label2idx
from .base_avs_dataset import BaseAVSDataset
from .metadata import (VPO_SPLIT_MAP, AVSSRow, MS3Row, S4Row, VPORow,
                       read_avss_csv, read_ms3_csv, read_s4_csv, read_vpo_csv)
from .synthetic_object_frames_dataset import SyntheticObjectFramesDataset
from .transforms import *  # noqa: F401,F403
from .vpo import VPO_CLASSES, VPO_COCO_IDS, VPODataset

__all__ = [
    'AVSBenchMS3Dataset', 'AVSBenchS4Dataset', 'AVSBenchSemanticDataset',
    'BaseAVSDataset', 'VPODataset', 'S4Row', 'MS3Row', 'AVSSRow', 'VPORow',
    'read_s4_csv', 'read_ms3_csv', 'read_avss_csv', 'read_vpo_csv',
    'VPO_SPLIT_MAP', 'VPO_CLASSES', 'VPO_COCO_IDS', 'voc_palette',
    'load_label2idx', 'AudioInterventionDataset', 'AudioSecondsDataset',
    'SyntheticObjectFramesDataset'
]
__all__ += transforms.__all__
