"""VPO (Visual Post-production, Chen et al. CVPR 2024) datasets.

Layout (``data_root`` e.g. ``data/VPO``; folder names are constructor
arguments)::

    VPO-SS/vpo_ss_data_stereo.csv       cateName, img_Id, ann_Ids, cateId,
    VPO-MS/vpo_ms_data_stereo.csv       vgg_file, split (+ multi_instance
    VPO-MSMI/vpo_msmi_data_stereo.csv   in MSMI)
    VPO-xx/data/{img_id:012}.jpg        512 x 512 COCO image
    VPO-xx/mask/{img_id:012}_{ann_id:012}.png
    audios/{vgg_file}.wav               VGGSound audio (``audio_dir``)

How one sample is formed (following CAVP, the VPO authors' code):

* ``ss``: one sample per CSV row (one image, one sounding class, one audio).
* ``ms`` / ``msmi``: one sample per image: all rows with the same
  ``img_Id`` merge. The sample's audio is the *sum* of the rows' VGGSound
  waveforms (``audio_paths`` has one entry per row) and its mask merges the
  rows' masks.
* ``msmi``: rows with ``multi_instance == 0`` belong to VPO-MS, so their
  image and masks are read from the VPO-MS folder.
* Split mapping (:data:`~ddavs_mm.datasets.metadata.VPO_SPLIT_MAP`): CSV
  ``train`` -> ``train``; CSV ``val`` (and ``test``, if present) -> both
  our ``val`` and ``test`` splits, because VPO's ``val`` rows are its test
  set (CAVP renames them to ``test``) and there is no other held-out set.

Mask files: a row's ``ann_Ids`` may hold several ids, one mask file each.
Pixel values are decoded by ``LoadClipMasks`` (``mask_encoding='vpo'``):
a file whose non-zero values are only 255 or only 1 is a binary instance
mask and its foreground takes the row's class; otherwise the values are
COCO category ids (VPO's own masks) mapped to class indices with
``mask_value_map`` (255 = ignore). Files are merged in row order; a class
pixel overrides background / ignore.

Audio: the centre ``audio_seconds`` (3 s) of each VGGSound clip
(``audio_crop='center'``), zero-padded if shorter; T = 1 frame.
"""
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, List, Optional

from ..registry import DATASETS
from ..visualization.palette import voc_palette
from .base_avs_dataset import BaseAVSDataset
from .metadata import VPO_SPLIT_MAP, VPORow, read_vpo_csv

VPO_CLASSES = ('background', 'airplane', 'baby', 'bird', 'bus', 'car', 'cat',
               'cell phone', 'cow', 'dog', 'elephant', 'female', 'horse',
               'keyboard', 'male', 'motorcycle', 'mouse', 'sheep',
               'skateboard', 'sports ball', 'tennis racket', 'zebra')

#: COCO category id of each VPO class (pixel values of VPO's masks);
#: 92 / 93 / 94 are VPO's split of COCO's ``person``.
VPO_COCO_IDS = {
    'airplane': 5, 'bird': 16, 'bus': 6, 'car': 3, 'cat': 17,
    'cell phone': 77, 'cow': 21, 'dog': 18, 'elephant': 22, 'horse': 19,
    'keyboard': 76, 'motorcycle': 4, 'mouse': 74, 'sheep': 20,
    'skateboard': 41, 'sports ball': 37, 'tennis racket': 43, 'zebra': 24,
    'male': 92, 'female': 93, 'baby': 94
}

VPO_SUBSETS = ('ss', 'ms', 'msmi')
DEFAULT_SUBSET_DIRS = dict(ss='VPO-SS', ms='VPO-MS', msmi='VPO-MSMI')


@DATASETS.register_module()
class VPODataset(BaseAVSDataset):
    """VPO-SS / VPO-MS / VPO-MSMI: still images with (summed) VGGSound audio.

    Args:
        subset (str): ``'ss'``, ``'ms'`` or ``'msmi'``.
        ann_file (str, optional): CSV relative to ``data_root``; defaults to
            ``{subset_dir}/vpo_{subset}_data_stereo.csv``.
        audio_dir (str): folder of the VGGSound wavs ``{vgg_file}.wav``,
            relative to ``data_root`` (or absolute). Defaults to
            ``'audios'`` (i.e. ``data/VPO/audios``).
        subset_dirs (dict, optional): folder of each subset relative to
            ``data_root``; defaults ``VPO-SS``, ``VPO-MS``, ``VPO-MSMI``.
        audio_seconds (float): centre crop length. Defaults to 3.0.
        **kwargs: see :class:`BaseAVSDataset`.
    """
    METAINFO = dict(classes=VPO_CLASSES, palette=voc_palette(22))
    NUM_FRAMES = 1
    MASK_MODES = ('semantic', 'binary')

    def __init__(self,
                 subset: str = 'ss',
                 ann_file: Optional[str] = None,
                 audio_dir: str = 'audios',
                 subset_dirs: Optional[dict] = None,
                 audio_seconds: float = 3.0,
                 **kwargs) -> None:
        if subset not in VPO_SUBSETS:
            raise ValueError(f'VPODataset: subset must be one of '
                             f'{VPO_SUBSETS}, got "{subset}"')
        if kwargs.get('num_frames', 1) not in (None, 1):
            raise ValueError('VPODataset: VPO samples are still images '
                             '(num_frames = 1)')
        if audio_seconds <= 0:
            raise ValueError('audio_seconds must be > 0')
        self.subset = subset
        self.subset_dirs = dict(DEFAULT_SUBSET_DIRS)
        self.subset_dirs.update(subset_dirs or {})
        self.audio_seconds = float(audio_seconds)
        if ann_file is None:
            ann_file = osp.join(self.subset_dirs[subset],
                                f'vpo_{subset}_data_stereo.csv')
        prefix = dict(audio=audio_dir, **self.subset_dirs)
        prefix.update(kwargs.pop('data_prefix', None) or {})
        super().__init__(ann_file=ann_file, data_prefix=prefix, **kwargs)
        self._metainfo.update(subset=subset)

    def _row_dir(self, row: VPORow) -> str:
        if self.subset == 'msmi' and row.multi_instance == 0:
            return self.data_prefix['ms']
        return self.data_prefix[self.subset]

    def _value_map(self, rows: List[VPORow]) -> Dict[int, int]:
        classes = list(self.metainfo['classes'])
        value_map = {
            cid: classes.index(name)
            for name, cid in VPO_COCO_IDS.items() if name in classes
        }
        for r in rows:  # the CSV's own (cateId, cateName) pairs win
            value_map[r.cate_id] = classes.index(r.cate_name)
        return value_map

    def load_clips(self) -> List[Dict[str, Any]]:
        classes = list(self.metainfo['classes'])
        rows = read_vpo_csv(
            self.ann_file,
            classes=classes[1:],
            require_multi_instance=self.subset == 'msmi')
        value_map = self._value_map(rows)
        wanted = VPO_SPLIT_MAP[self.split]
        rows = [r for r in rows if r.split in wanted]
        groups: 'OrderedDict[str, List[VPORow]]' = OrderedDict()
        for r in rows:
            key = f'{r.img_id:012d}_{r.line}' if self.subset == 'ss' \
                else f'{r.img_id:012d}'
            groups.setdefault(key, []).append(r)
        audio_dir = self.data_prefix['audio']
        clips = []
        for key, group in groups.items():
            img_id = group[0].img_id
            img_dir = self._row_dir(group[0])
            mask_files, mask_labels = [], []
            for r in group:
                d = self._row_dir(r)
                for ann in r.ann_ids:
                    mask_files.append(
                        osp.join(d, 'mask', f'{img_id:012d}_{ann:012d}.png'))
                    mask_labels.append(classes.index(r.cate_name))
            audio_paths = [
                osp.join(audio_dir, r.vgg_file if r.vgg_file.endswith(
                    '.wav') else f'{r.vgg_file}.wav') for r in group
            ]
            clip_id = f'{img_id:012d}' if self.subset != 'ss' else \
                f'{img_id:012d}_' + '_'.join(str(a) for a in group[0].ann_ids)
            clips.append(
                self._base_clip(
                    clip_id,
                    frame_paths=[
                        osp.join(img_dir, 'data', f'{img_id:012d}.jpg')
                    ],
                    mask_paths=[mask_files],
                    mask_labels=[mask_labels],
                    mask_value_map=value_map,
                    mask_flags=[True],
                    frame_flags=[True],
                    audio_paths=audio_paths,
                    audio_offset=0.0,
                    audio_duration=self.audio_seconds,
                    audio_crop='center',
                    mask_encoding='vpo',
                    category=[r.cate_name for r in group],
                    category_ids=sorted(
                        {classes.index(r.cate_name)
                         for r in group})))
        return clips
