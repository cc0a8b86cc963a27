"""AVSBench-object datasets: S4 (single source) and MS3 (multi source).

Layouts (AVSBench v1 release; ``data_root`` is the subset folder, e.g.
``data/AVSBench/Single-source``; the default ``data_prefix`` folders are
relative to it):

S4::

    s4_meta_data.csv
    s4_data/visual_frames/{split}/{category}/{name}/{name}_{1..5}.png
    s4_data/gt_masks/{split}/{category}/{name}/{name}_{k}.png
    s4_data/audio_wav/{split}/{category}/{name}.wav

MS3::

    ms3_meta_data.csv
    ms3_data/visual_frames/{vid}/{vid}.mp4_{1..5}.png     (no split folder)
    ms3_data/gt_masks/{split}/{vid}/{vid}_{k}.png
    ms3_data/audio_wav/{split}/{vid}.wav

Masks are binary pngs (0 / 255); they load as {0, 1}.
"""
import os.path as osp
from typing import Any, Dict, List

from ..registry import DATASETS
from .base_avs_dataset import BaseAVSDataset
from .metadata import read_ms3_csv, read_s4_csv

OBJECT_METAINFO = dict(
    classes=('background', 'sounding'), palette=[[0, 0, 0], [255, 255, 255]])


@DATASETS.register_module()
class AVSBenchS4Dataset(BaseAVSDataset):
    """AVSBench single-source (S4): 5 frames per clip, binary masks.

    Train clips are annotated on frame 1 only (``mask_flags`` =
    ``[True, False, False, False, False]``, the other ``mask_paths`` are
    ``None``); val / test clips have all 5 masks.

    Args:
        ann_file (str): Defaults to ``'s4_meta_data.csv'``.
        data_prefix (dict): keys ``frames``, ``masks``, ``audio``; defaults
            ``s4_data/visual_frames``, ``s4_data/gt_masks``,
            ``s4_data/audio_wav``.
        **kwargs: see :class:`BaseAVSDataset`.
    """
    METAINFO = OBJECT_METAINFO
    NUM_FRAMES = 5
    MASK_MODES = ('binary', )
    DEFAULT_PREFIX = dict(
        frames='s4_data/visual_frames',
        masks='s4_data/gt_masks',
        audio='s4_data/audio_wav')

    def __init__(self, ann_file: str = 's4_meta_data.csv', **kwargs) -> None:
        super().__init__(ann_file=ann_file, **kwargs)

    def load_clips(self) -> List[Dict[str, Any]]:
        p = self.data_prefix
        clips = []
        for row in read_s4_csv(self.ann_file):
            if row.split != self.split:
                continue
            rel = osp.join(row.split, row.category, row.name)
            ks = range(1, self.num_frames + 1)
            frames = [
                osp.join(p['frames'], rel, f'{row.name}_{k}.png') for k in ks
            ]
            masks = [
                osp.join(p['masks'], rel, f'{row.name}_{k}.png') for k in ks
            ]
            flags = [True] * self.num_frames
            if self.split == 'train':  # only frame 1 is annotated
                masks = masks[:1] + [None] * (self.num_frames - 1)
                flags = [True] + [False] * (self.num_frames - 1)
            clips.append(
                self._base_clip(
                    row.name,
                    frame_paths=frames,
                    mask_paths=masks,
                    mask_flags=flags,
                    frame_flags=[True] * self.num_frames,
                    audio_paths=[
                        osp.join(p['audio'], row.split, row.category,
                                 f'{row.name}.wav')
                    ],
                    mask_encoding='binary',
                    category=row.category,
                    category_ids=[1]))
        return clips


@DATASETS.register_module()
class AVSBenchMS3Dataset(BaseAVSDataset):
    """AVSBench multi-source (MS3): 5 frames, 5 binary masks in every split.

    Args:
        ann_file (str): Defaults to ``'ms3_meta_data.csv'``.
        data_prefix (dict): keys ``frames``, ``masks``, ``audio``; defaults
            ``ms3_data/visual_frames``, ``ms3_data/gt_masks``,
            ``ms3_data/audio_wav``.
        **kwargs: see :class:`BaseAVSDataset`.
    """
    METAINFO = OBJECT_METAINFO
    NUM_FRAMES = 5
    MASK_MODES = ('binary', )
    DEFAULT_PREFIX = dict(
        frames='ms3_data/visual_frames',
        masks='ms3_data/gt_masks',
        audio='ms3_data/audio_wav')

    def __init__(self, ann_file: str = 'ms3_meta_data.csv', **kwargs) -> None:
        super().__init__(ann_file=ann_file, **kwargs)

    def load_clips(self) -> List[Dict[str, Any]]:
        p = self.data_prefix
        clips = []
        for row in read_ms3_csv(self.ann_file):
            if row.split != self.split:
                continue
            vid = row.name
            ks = range(1, self.num_frames + 1)
            clips.append(
                self._base_clip(
                    vid,
                    frame_paths=[
                        osp.join(p['frames'], vid, f'{vid}.mp4_{k}.png')
                        for k in ks
                    ],
                    mask_paths=[
                        osp.join(p['masks'], row.split, vid, f'{vid}_{k}.png')
                        for k in ks
                    ],
                    mask_flags=[True] * self.num_frames,
                    frame_flags=[True] * self.num_frames,
                    audio_paths=[osp.join(p['audio'], row.split,
                                          f'{vid}.wav')],
                    mask_encoding='binary',
                    category=None,
                    category_ids=[1]))
        return clips
