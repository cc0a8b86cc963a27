"""Shared logic of the audio-visual segmentation datasets."""
import os.path as osp
from typing import Any, Dict, Iterable, List, Optional, Sequence

from mmengine.dataset import BaseDataset

from .metadata import SPLITS

MASK_MODES = ('binary', 'semantic')
#: How a mask file is stored on disk (read by ``LoadClipMasks``).
#: ``binary``: 0 / 255 (or 0 / 1) png, any non-zero pixel is foreground;
#: ``index``: class-index png; ``rgb``: colour png decoded with the
#: dataset palette; ``vpo``: VPO mask files (see ``VPODataset``).
MASK_ENCODINGS = ('binary', 'index', 'rgb', 'vpo')


class BaseAVSDataset(BaseDataset):
    """Base class of the clip datasets of DDAVS-MM.

    Each item of ``load_data_list()`` is one clip following the data contract
    of ``docs/design.md``: ``clip_id``, ``frame_paths`` (``''`` = padded
    frame), ``mask_paths`` (``None`` = not annotated / padded),
    ``mask_flags``, ``frame_flags``, ``audio_paths``, ``audio_offset``,
    ``audio_duration``, ``mask_mode``, class metadata (``category``,
    ``category_ids``), plus ``num_frames``, ``num_classes`` and
    ``mask_encoding`` used by the loading transforms.

    Subclasses set ``NUM_FRAMES``, ``MASK_MODES`` (the first is the default)
    and implement :meth:`load_clips`.

    Args:
        ann_file (str): metadata CSV, relative to ``data_root``.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        data_root (str): data set folder.
        data_prefix (dict, optional): folders (relative to ``data_root``)
            used by the subclass; missing keys take the subclass defaults
            ``DEFAULT_PREFIX``.
        mask_mode (str, optional): ``'binary'`` or ``'semantic'``; defaults
            to the subclass default.
        num_frames (int, optional): frames per clip ``T``; defaults to the
            subclass's ``NUM_FRAMES`` (the real data sets' value). Only
            change it for data written with another clip length (e.g. the
            synthetic generator's ``frames`` option).
        check_files (bool): check at load time that every frame, mask and
            audio file exists; the error names the first missing files.
            Defaults to True. With False, a missing file raises when the
            pipeline reads it.
        metainfo (dict, optional): overrides of the class metainfo.
        pipeline (list): data transforms.
        test_mode (bool): as in :class:`mmengine.dataset.BaseDataset`.
        lazy_init (bool): as in :class:`mmengine.dataset.BaseDataset`.
        **kwargs: other :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO: dict = dict(classes=(), palette=[])
    NUM_FRAMES: int = 5
    MASK_MODES: Sequence[str] = MASK_MODES
    DEFAULT_PREFIX: Dict[str, str] = {}

    def __init__(self,
                 ann_file: str,
                 split: str = 'train',
                 data_root: str = '',
                 data_prefix: Optional[dict] = None,
                 mask_mode: Optional[str] = None,
                 num_frames: Optional[int] = None,
                 check_files: bool = True,
                 metainfo: Optional[dict] = None,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 lazy_init: bool = False,
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(f'{type(self).__name__}: split must be one of '
                             f'{SPLITS}, got "{split}"')
        mask_mode = mask_mode or self.MASK_MODES[0]
        if mask_mode not in self.MASK_MODES:
            raise ValueError(f'{type(self).__name__}: mask_mode must be one '
                             f'of {tuple(self.MASK_MODES)}, got '
                             f'"{mask_mode}"')
        num_frames = int(num_frames or self.NUM_FRAMES)
        if num_frames < 1:
            raise ValueError(f'{type(self).__name__}: num_frames must be '
                             f'>= 1, got {num_frames}')
        self.num_frames = num_frames
        self.split = split
        self.mask_mode = mask_mode
        self.check_files = check_files
        prefix = dict(self.DEFAULT_PREFIX)
        prefix.update(data_prefix or {})
        super().__init__(
            ann_file=ann_file,
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=prefix,
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init,
            **kwargs)
        self._metainfo.update(
            num_frames=self.num_frames, mask_mode=self.mask_mode,
            split=self.split)

    @classmethod
    def _load_metainfo(cls, metainfo: Optional[dict] = None) -> dict:
        meta = super()._load_metainfo(metainfo)
        classes = meta.get('classes', ())
        palette = meta.get('palette', [])
        if len(palette) != len(classes):
            raise ValueError(f'{cls.__name__}: metainfo has '
                             f'{len(classes)} classes but {len(palette)} '
                             f'palette colours')
        return meta

    # -- subclass interface --------------------------------------------------
    def load_clips(self) -> List[Dict[str, Any]]:
        """Return the clip dicts of ``self.split`` (without file checks)."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------
    def load_data_list(self) -> List[dict]:
        """Load the clips of the split and check them.

        Returns:
            list[dict]: one dict per clip (see the class docstring).
        """
        clips = self.load_clips()
        if not clips:
            raise ValueError(f'{type(self).__name__}: no clip of split '
                             f'"{self.split}" in {self.ann_file}')
        for clip in clips:
            self._check_clip(clip)
        if self.check_files:
            self._check_files_exist(clips)
        return clips

    def _base_clip(self, clip_id: str, **fields) -> Dict[str, Any]:
        clip = dict(
            clip_id=clip_id,
            audio_offset=0.0,
            audio_duration=None,
            mask_mode=self.mask_mode,
            num_frames=self.num_frames,
            num_classes=len(self._metainfo.get('classes', ())),
            category=None,
            category_ids=None)
        clip.update(fields)
        return clip

    def _check_clip(self, clip: dict) -> None:
        t = clip['num_frames']
        for key in ('frame_paths', 'mask_paths', 'mask_flags',
                    'frame_flags'):
            if len(clip[key]) != t:
                raise ValueError(
                    f'{type(self).__name__}: clip {clip["clip_id"]} has '
                    f'{len(clip[key])} {key}, expected {t}')
        if not clip['audio_paths']:
            raise ValueError(f'{type(self).__name__}: clip '
                             f'{clip["clip_id"]} has no audio file')
        if clip['mask_encoding'] not in MASK_ENCODINGS:
            raise ValueError(f'unknown mask_encoding '
                             f'{clip["mask_encoding"]}')

    @staticmethod
    def _clip_files(clip: dict) -> Iterable[str]:
        for p in clip['frame_paths']:
            if p:
                yield p
        for p in clip['mask_paths']:
            if p is None:
                continue
            if isinstance(p, (list, tuple)):
                yield from p
            else:
                yield p
        yield from clip['audio_paths']

    def _check_files_exist(self, clips: List[dict]) -> None:
        missing = []
        for clip in clips:
            for p in self._clip_files(clip):
                if not osp.isfile(p):
                    missing.append((clip['clip_id'], p))
        if missing:
            shown = '\n'.join(f'  {p} (clip {c})' for c, p in missing[:10])
            more = f'\n  ... and {len(missing) - 10} more' \
                if len(missing) > 10 else ''
            raise FileNotFoundError(
                f'{type(self).__name__} ({self.split}, {self.ann_file}): '
                f'{len(missing)} file(s) missing:\n{shown}{more}')
