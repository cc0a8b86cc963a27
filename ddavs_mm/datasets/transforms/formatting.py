"""Packing of a transformed clip into model inputs and an AVSDataSample."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from ddavs_mm.registry import TRANSFORMS
from ddavs_mm.structures import AVSDataSample

DEFAULT_META_KEYS = ('sample_idx', 'clip_id', 'frame_paths', 'audio_paths',
                     'ori_shape', 'img_shape', 'num_frames', 'mask_mode',
                     'flip', 'flip_direction', 'scale_factor', 'category',
                     'category_ids', 'num_classes', 'sample_rate',
                     'frame_indices')


@TRANSFORMS.register_module()
class PackAVSInputs(BaseTransform):
    """Pack a clip into ``{'inputs': ..., 'data_samples': AVSDataSample}``.

    Output::

        inputs = {'frames': uint8 Tensor [T, 3, H, W] (RGB),
                  'audio': float32 Tensor [T, S],
                  'audio_aug': float32 Tensor [T, S]}  # only if present
        data_samples = AVSDataSample(gt_masks int64 [T, H, W] or
                                     [T, H0, W0] (if loaded),
                                     mask_flags bool [T],
                                     frame_flags bool [T],
                                     metainfo={meta_keys ...})

    Args:
        meta_keys (Sequence[str]): keys copied to the metainfo when present
            (``flip`` defaults to False).
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    @staticmethod
    def _audio(wav: np.ndarray, T: int, S: int, key: str,
               clip: str) -> torch.Tensor:
        wav = np.asarray(wav, dtype=np.float32)
        if wav.ndim != 1 or wav.size != T * S:
            raise ValueError(f'Clip {clip}: {key} has shape {wav.shape}, '
                             f'expected [{T} * {S}]')
        return torch.from_numpy(np.ascontiguousarray(wav.reshape(T, S)))

    def transform(self, results: dict) -> dict:
        clip = results.get('clip_id', '?')
        frames = results['frames']
        T = len(frames)
        arr = np.ascontiguousarray(np.stack(frames, 0).transpose(0, 3, 1, 2))
        inputs = {'frames': torch.from_numpy(arr)}
        if 'waveform' in results:
            wav = results['waveform']
            S = results.get('audio_segment_samples') or len(wav) // T
            inputs['audio'] = self._audio(wav, T, S, 'waveform', clip)
            if 'waveform_aug' in results:
                inputs['audio_aug'] = self._audio(results['waveform_aug'], T,
                                                  S, 'waveform_aug', clip)

        sample = AVSDataSample()
        if results.get('gt_masks') is not None:
            masks = np.stack(results['gt_masks'], 0).astype(np.int64)
            # at the frames' size, or at their original size (test
            # pipelines load masks after the resize)
            sizes = (arr.shape[2:], tuple(results.get('ori_shape', ())))
            if masks.shape[0] != T or masks.shape[1:] not in sizes:
                raise ValueError(f'Clip {clip}: masks {masks.shape} do not '
                                 f'match frames {arr.shape} (original size '
                                 f'{sizes[1]})')
            sample.gt_masks = torch.from_numpy(masks)
        for key in ('mask_flags', 'frame_flags'):
            if key in results:
                flags = torch.as_tensor(list(results[key]), dtype=torch.bool)
                if flags.numel() != T:
                    raise ValueError(f'Clip {clip}: {key} has {flags.numel()}'
                                     f' entries for {T} frames')
                setattr(sample, key, flags)
        meta = {k: results[k] for k in self.meta_keys if k in results}
        meta.setdefault('flip', False)
        meta.setdefault('num_frames', T)
        sample.set_metainfo(meta)
        return {'inputs': inputs, 'data_samples': sample}

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
