"""Synthetic frames with per-pixel object labels, for visual pretraining.

DDAVS starts its MiT-B5 from ImageNet weights: before it ever hears a sound,
its features already say *what* is where. The tiny MiT of the synthetic
configs has no such weights, so the main job first trains it to label every
pixel of the training frames with the object drawn there, (class, size bin)
or class, or background (``tools/pretrain_visual_encoder.py``). No sound and
no sounding mask is used: the labels come from re-rendering the clips of the
data set's sidecar (``synthetic_info.json``); the frames themselves are read
from disk as ``LoadClipFrames`` reads them.
"""
import os.path as osp
from typing import List, Tuple

import numpy as np
from mmengine.dataset import BaseDataset

from ddavs_mm.registry import DATASETS
from .single_source_segments import (synthetic_sound_label,
                                     synthetic_sound_labels)


def collect_synthetic_object_frames(data_root: str,
                                    split: str = 'train',
                                    by_size_bin: bool = True,
                                    progress: bool = True
                                    ) -> Tuple[np.ndarray, np.ndarray,
                                               List[str]]:
    """Every frame of a synthetic split with a per-pixel object label.

    Args:
        data_root (str): a generated synthetic data set.
        split (str): its split. Defaults to ``'train'``.
        by_size_bin (bool): label objects by (class, size bin), the sound
            they make, instead of by class. Defaults to True.
        progress (bool): show a progress bar (one tick per clip).

    Returns:
        tuple: frames ``uint8 [N, H, W, 3]`` (RGB), labels ``uint8 [N, H,
        W]`` (0 = background, ``1 + synthetic_sound_label(...)`` for an
        object) and the label names (index = label, ``'background'``
        first).

    Raises:
        FileNotFoundError: ``data_root`` is no synthetic data set, or a
            frame file is missing.
        ValueError: the split is empty, or a frame on disk does not match
            the re-rendered clip (the data set changed after generation).
    """
    from mmengine.utils import ProgressBar

    from .synthetic import load_info
    from .synthetic.generator import iter_rendered_clips
    from .transforms.loading import read_rgb_image
    info = load_info(data_root)
    names, num_bins = synthetic_sound_labels(info, by_size_bin)
    if len(names) + 1 > 255:
        raise ValueError(f'{len(names)} labels do not fit uint8 label maps')
    num_clips = sum(c['split'] == split for c in info['clips'])
    if not num_clips:
        raise ValueError(f'{data_root} has no {split!r} clips')
    bar = ProgressBar(num_clips) if progress else None
    frames, labels = [], []
    for rec, scene, maps in iter_rendered_clips(info, split):
        lut = np.zeros(len(scene.instances) + 1, dtype=np.uint8)
        for inst in scene.instances:  # uids are 0..n-1; -1 = background
            lut[inst.uid + 1] = 1 + synthetic_sound_label(
                inst.class_id, inst.size_bin, num_bins, by_size_bin)
        for rel, imap in zip(rec['frame_paths'], maps):
            path = osp.join(data_root, rel)
            img = read_rgb_image(path)
            if img.shape[:2] != imap.shape:
                raise ValueError(
                    f'{path}: frame is {img.shape[:2]} but the clip renders '
                    f'at {imap.shape}; the data set changed after it was '
                    'generated (regenerate it)')
            frames.append(img)
            labels.append(lut[imap.astype(np.int64) + 1])
        if bar is not None:
            bar.update()
    return np.stack(frames), np.stack(labels), ['background'] + list(names)


@DATASETS.register_module()
class SyntheticObjectFramesDataset(BaseDataset):
    """The frames of a synthetic split with object labels, held in memory.

    Each sample is ``dict(inputs=uint8 [H, W, 3], gt_seg=int64 [h, w])``:
    the RGB frame and its labels taken every ``label_stride`` pixels, at
    the centre of each cell (the grid of a head at that stride).
    ``metainfo['classes']`` holds the label names, ``'background'`` first.

    Args:
        data_root (str): a generated synthetic data set.
        split (str): Defaults to ``'train'``.
        by_size_bin (bool): (class, size bin) labels instead of classes.
            Defaults to True.
        label_stride (int): Defaults to 4 (MiT's first stage).
        progress (bool): show a loading progress bar.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments.
    """

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 by_size_bin: bool = True,
                 label_stride: int = 4,
                 progress: bool = True,
                 serialize_data: bool = False,
                 **kwargs) -> None:
        if label_stride < 1:
            raise ValueError(f'label_stride must be >= 1, got {label_stride}')
        self.split = split
        self.by_size_bin = by_size_bin
        self.label_stride = int(label_stride)
        self.progress = progress
        super().__init__(data_root=data_root, serialize_data=serialize_data,
                         **kwargs)

    def load_data_list(self) -> List[dict]:
        frames, labels, names = collect_synthetic_object_frames(
            self.data_root, self.split, self.by_size_bin, self.progress)
        off, s = self.label_stride // 2, self.label_stride
        labels = labels[:, off::s, off::s].astype(np.int64)
        self._metainfo['classes'] = tuple(names)
        return [dict(inputs=f, gt_seg=y) for f, y in zip(frames, labels)]

    def prepare_data(self, idx: int) -> dict:
        """The sample's model inputs (without BaseDataset's ``sample_idx``)
        through the pipeline."""
        info = self.get_data_info(idx)
        return self.pipeline({k: info[k] for k in ('inputs', 'gt_seg')})
