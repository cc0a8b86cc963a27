"""AVSBench-semantic (AVSS) dataset.

Layout (``data_root`` e.g. ``data/AVSBench/AVSBench-semantic``)::

    metadata.csv                    vid, uid, s_min, s_max, a_obj, split, label
    label2idx.json                      {class name: index}, background = 0
    {label}/{uid}/frames/{i}.jpg        i = 0..4 (v1s, v1m) or 0..9 (v2)
    {label}/{uid}/labels_semantic/{i}.png   class-index png (preferred)
    {label}/{uid}/labels_rgb/{i}.png        colour png (VOC bit-shift palette)
    {label}/{uid}/audio.wav

Clip length and flags (``T = num_frames = 10`` for every clip; v1s / v1m
clips have ``T // 2`` real frames):

* v2 clips: 10 real frames, all annotated.
* v1s / v1m clips: 5 real frames padded to 10. A padded frame has
  ``frame_path = ''`` (loaded as a black frame), ``frame_flag = False`` and
  ``mask_path = None`` (loaded as an all-background label).
* v1s train clips are annotated on frame 0 only (frames 1-4 load as
  all-255 ignore labels).
* ``mask_flags`` of padded frames: False in train (they carry no
  supervision), True in val / test because the official AVSS metric
  (``compute_color_metrics.py``) scores them as all-background frames.
"""
import json
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

from ..registry import DATASETS
from ..visualization.palette import voc_palette
from .base_avs_dataset import BaseAVSDataset
from .metadata import AVSS_SUBSETS, read_avss_csv


def load_label2idx(path: str) -> tuple:
    """Read AVSS class names from ``label2idx.json``.

    Args:
        path (str): the json file: ``{name: index}`` with indices
            ``0..N-1`` (background = 0), or a list of names.

    Returns:
        tuple[str]: class names ordered by index.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'AVSS class list not found: {path} (the AVSBench-semantic '
            f'release ships label2idx.json in its data root)')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f'Cannot parse AVSS class list {path}: {e}') from e
    if isinstance(data, list):
        names = [str(x) for x in data]
    elif isinstance(data, dict):
        try:
            by_idx = {int(v): str(k) for k, v in data.items()}
        except (TypeError, ValueError) as e:
            raise ValueError(f'{path}: indices must be integers') from e
        if sorted(by_idx) != list(range(len(data))):
            raise ValueError(f'{path}: class indices must be 0..'
                             f'{len(data) - 1} without gaps or repeats')
        names = [by_idx[i] for i in range(len(data))]
    else:
        raise ValueError(f'{path}: expected a dict {{name: index}} or a '
                         f'list of names, got {type(data).__name__}')
    if len(names) < 2:
        raise ValueError(f'{path}: needs at least 2 classes')
    return tuple(names)


@DATASETS.register_module()
class AVSBenchSemanticDataset(BaseAVSDataset):
    """AVSBench-semantic: 10-frame clips with class-index masks.

    Args:
        ann_file (str): Defaults to ``'metadata.csv'``.
        labels (Sequence[str]): subsets to use, any of ``('v1s', 'v1m',
            'v2')``. Defaults to all three.
        label_file (str): class list, relative to ``data_root``. Defaults to
            ``'label2idx.json'``.
        label_source (str): ``'auto'`` (``labels_semantic`` when a clip has
            it, else ``labels_rgb``), ``'semantic'`` or ``'rgb'``.
        mask_mode (str): ``'semantic'`` (default) or ``'binary'`` (every
            non-background class becomes 1).
        **kwargs: see :class:`BaseAVSDataset`.
    """
    NUM_FRAMES = 10
    MASK_MODES = ('semantic', 'binary')

    def __init__(self,
                 ann_file: str = 'metadata.csv',
                 labels: Sequence[str] = AVSS_SUBSETS,
                 label_file: str = 'label2idx.json',
                 label_source: str = 'auto',
                 data_root: str = '',
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        labels = tuple(labels)
        bad = [x for x in labels if x not in AVSS_SUBSETS]
        if bad or not labels:
            raise ValueError(f'AVSBenchSemanticDataset: labels must be a '
                             f'non-empty subset of {AVSS_SUBSETS}, got '
                             f'{labels}')
        if label_source not in ('auto', 'semantic', 'rgb'):
            raise ValueError(f'label_source must be auto, semantic or rgb, '
                             f'got {label_source}')
        self.labels = labels
        self.label_source = label_source
        label_path = label_file if osp.isabs(label_file) \
            else osp.join(data_root, label_file)
        classes = load_label2idx(label_path)
        meta = dict(classes=classes, palette=voc_palette(len(classes)))
        meta.update(metainfo or {})
        super().__init__(
            ann_file=ann_file, data_root=data_root, metainfo=meta, **kwargs)

    def _mask_encoding(self, clip_dir: str) -> str:
        if self.label_source == 'semantic':
            return 'index'
        if self.label_source == 'rgb':
            return 'rgb'
        has_index = osp.isfile(osp.join(clip_dir, 'labels_semantic', '0.png'))
        return 'index' if has_index else 'rgb'

    def load_clips(self) -> List[Dict[str, Any]]:
        root = self.data_root
        T = self.num_frames
        train = self.split == 'train'
        clips = []
        for row in read_avss_csv(self.ann_file):
            if row.split != self.split or row.label not in self.labels:
                continue
            n = T if row.label == 'v2' else T // 2
            clip_dir = osp.join(root, row.label, row.uid)
            enc = self._mask_encoding(clip_dir)
            mask_dir = osp.join(
                clip_dir, 'labels_semantic' if enc == 'index' else
                'labels_rgb')
            frames = [osp.join(clip_dir, 'frames', f'{i}.jpg')
                      for i in range(n)] + [''] * (T - n)
            annotated = 1 if (train and row.label == 'v1s') else n
            masks = [osp.join(mask_dir, f'{i}.png')
                     for i in range(annotated)] + [None] * (T - annotated)
            real_flags = [True] * n + [False] * (T - n)
            if train:
                mask_flags = [True] * annotated + [False] * (T - annotated)
            else:  # padded frames count as all-background (official metric)
                mask_flags = [True] * T
            clips.append(
                self._base_clip(
                    row.uid,
                    frame_paths=frames,
                    mask_paths=masks,
                    mask_flags=mask_flags,
                    frame_flags=real_flags,
                    audio_paths=[osp.join(clip_dir, 'audio.wav')],
                    mask_encoding=enc,
                    category=row.a_obj,
                    category_ids=None,
                    vid=row.vid,
                    subset=row.label))
        return clips
