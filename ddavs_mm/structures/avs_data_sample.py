"""Data sample of one audio-visual clip."""
from typing import Optional

import torch
from mmengine.structures import BaseDataElement


class AVSDataSample(BaseDataElement):
    """Annotations and predictions of one clip of ``T`` frames.

    Data fields (all ``torch.Tensor``):

    * ``gt_masks``: int64 ``[T, H, W]``; binary {0, 1} or class ids,
      255 = ignore (frame not annotated).
    * ``mask_flags``: bool ``[T]``; True where the frame's mask counts in the
      loss / metric.
    * ``frame_flags``: bool ``[T]``; True for real frames, False for padding.
    * ``pred_logits``: float ``[T, 1, H, W]`` (binary) or ``[T, C, H, W]``
      (semantic), written by ``predict``.
    * ``pred_masks``: int64 ``[T, H, W]``, written by ``predict``.

    Metainfo (see ``docs/design.md``): ``sample_idx``, ``clip_id``,
    ``frame_paths``, ``audio_paths``, ``ori_shape``, ``img_shape``,
    ``num_frames``, ``mask_mode``, ``flip`` and class metadata.

    Examples:
        >>> s = AVSDataSample(metainfo=dict(clip_id='a'))
        >>> s.gt_masks = torch.zeros(5, 4, 4, dtype=torch.long)
        >>> s.gt_masks.shape
        torch.Size([5, 4, 4])
    """

    @staticmethod
    def _check(value, name: str, ndim: int,
               dtype: Optional[torch.dtype] = None) -> torch.Tensor:
        if not isinstance(value, torch.Tensor):
            raise TypeError(f'AVSDataSample.{name} must be a torch.Tensor, '
                            f'got {type(value).__name__}')
        if value.dim() != ndim:
            raise ValueError(f'AVSDataSample.{name} must have {ndim} '
                             f'dimensions, got shape {tuple(value.shape)}')
        if dtype is not None and value.dtype != dtype:
            raise TypeError(f'AVSDataSample.{name} must be {dtype}, '
                            f'got {value.dtype}')
        return value

    # gt_masks ---------------------------------------------------------------
    @property
    def gt_masks(self) -> torch.Tensor:
        return self._gt_masks

    @gt_masks.setter
    def gt_masks(self, value: torch.Tensor) -> None:
        self.set_field(
            self._check(value, 'gt_masks', 3, torch.int64), '_gt_masks',
            dtype=torch.Tensor)

    @gt_masks.deleter
    def gt_masks(self) -> None:
        del self._gt_masks

    # mask_flags -------------------------------------------------------------
    @property
    def mask_flags(self) -> torch.Tensor:
        return self._mask_flags

    @mask_flags.setter
    def mask_flags(self, value: torch.Tensor) -> None:
        self.set_field(
            self._check(value, 'mask_flags', 1, torch.bool), '_mask_flags',
            dtype=torch.Tensor)

    @mask_flags.deleter
    def mask_flags(self) -> None:
        del self._mask_flags

    # frame_flags ------------------------------------------------------------
    @property
    def frame_flags(self) -> torch.Tensor:
        return self._frame_flags

    @frame_flags.setter
    def frame_flags(self, value: torch.Tensor) -> None:
        self.set_field(
            self._check(value, 'frame_flags', 1, torch.bool), '_frame_flags',
            dtype=torch.Tensor)

    @frame_flags.deleter
    def frame_flags(self) -> None:
        del self._frame_flags

    # pred_logits ------------------------------------------------------------
    @property
    def pred_logits(self) -> torch.Tensor:
        return self._pred_logits

    @pred_logits.setter
    def pred_logits(self, value: torch.Tensor) -> None:
        self.set_field(
            self._check(value, 'pred_logits', 4), '_pred_logits',
            dtype=torch.Tensor)

    @pred_logits.deleter
    def pred_logits(self) -> None:
        del self._pred_logits

    # pred_masks -------------------------------------------------------------
    @property
    def pred_masks(self) -> torch.Tensor:
        return self._pred_masks

    @pred_masks.setter
    def pred_masks(self, value: torch.Tensor) -> None:
        self.set_field(
            self._check(value, 'pred_masks', 3, torch.int64), '_pred_masks',
            dtype=torch.Tensor)

    @pred_masks.deleter
    def pred_masks(self) -> None:
        del self._pred_masks
