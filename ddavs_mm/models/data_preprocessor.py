"""Batching, normalisation and device transfer of packed AVS clips."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor

from ddavs_mm.registry import MODELS

INPUT_KEYS = ('frames', 'audio', 'audio_aug')


@MODELS.register_module()
class AVSDataPreprocessor(BaseDataPreprocessor):
    """Stack the clips of a batch, normalise frames and move to the device.

    Accepts the output of ``mmengine.dataset.pseudo_collate`` (``inputs`` a
    dict of lists, one entry per clip), a list of per-clip input dicts, or
    already stacked tensors (``default_collate``).

    Output::

        {'inputs': {'frames': float32 [B, T, 3, H, W], (x - mean) / std,
                    'audio': float32 [B, T, S],
                    'audio_aug': float32 [B, T, S]},   # only if present
         'data_samples': list[AVSDataSample] on the device}

    Args:
        mean (Sequence[float]): RGB mean in 0-255 scale. Defaults to the
            ImageNet mean (123.675, 116.28, 103.53).
        std (Sequence[float]): RGB std in 0-255 scale. Defaults to the
            ImageNet std (58.395, 57.12, 57.375).
        non_blocking (bool): non-blocking device copies. Defaults to False.

    Raises:
        ValueError: clips of a batch differ in T, S or H, W (the message
            names the clip ids), or an input is missing in some clips.
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError('mean and std need 3 (RGB) values')
        if any(s <= 0 for s in std):
            raise ValueError(f'std must be > 0, got {std}')
        self.register_buffer('mean',
                             torch.tensor(mean, dtype=torch.float32).view(
                                 1, 1, 3, 1, 1), False)
        self.register_buffer('std',
                             torch.tensor(std, dtype=torch.float32).view(
                                 1, 1, 3, 1, 1), False)

    @staticmethod
    def _as_dict_of_lists(
            inputs: Union[dict, list]) -> Dict[str, Union[list, torch.Tensor]]:
        if isinstance(inputs, dict):
            return dict(inputs)
        if isinstance(inputs, (list, tuple)):
            keys = set().union(*(d.keys() for d in inputs))
            missing = [k for k in keys if any(k not in d for d in inputs)]
            if missing:
                raise ValueError(f'AVSDataPreprocessor: inputs {missing} '
                                 f'present in only some clips of the batch')
            return {k: [d[k] for d in inputs] for k in keys}
        raise TypeError(f'AVSDataPreprocessor: inputs must be a dict or a '
                        f'list of dicts, got {type(inputs).__name__}')

    @staticmethod
    def _stack(name: str, items: Union[List[torch.Tensor], torch.Tensor],
               ids: List[str]) -> torch.Tensor:
        if isinstance(items, torch.Tensor):
            return items
        shapes = [tuple(x.shape) for x in items]
        if len(set(shapes)) > 1:
            detail = ', '.join(f'{i}: {s}' for i, s in zip(ids, shapes))
            what = {
                'frames': 'frame count T or size H, W',
                'audio': 'frame count T or samples per segment S',
                'audio_aug': 'frame count T or samples per segment S'
            }.get(name, 'shape')
            raise ValueError(f'AVSDataPreprocessor: clips of a batch differ '
                             f'in {what} of "{name}" ({detail}); use a fixed '
                             f'resize / audio length')
        return torch.stack(list(items), 0)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Stack, normalise and move a batch.

        Args:
            data (dict): ``{'inputs': ..., 'data_samples': [...]}``.
            training (bool): unused (no batch augmentation).

        Returns:
            dict: ``{'inputs': {...}, 'data_samples': [...]}``.
        """
        inputs = self._as_dict_of_lists(data['inputs'])
        samples: Optional[list] = data.get('data_samples')
        if 'frames' not in inputs:
            raise KeyError('AVSDataPreprocessor: inputs have no "frames"')
        n = len(inputs['frames'])
        ids = [
            str(s.metainfo.get('clip_id', i)) if samples is not None else
            str(i) for i, s in enumerate(samples or [None] * n)
        ]
        out = {}
        for key, items in inputs.items():
            out[key] = self._stack(key, items, ids)
        frames = out['frames']
        if frames.dim() != 5 or frames.shape[2] != 3:
            raise ValueError(f'AVSDataPreprocessor: frames must be '
                             f'[B, T, 3, H, W], got {tuple(frames.shape)}')
        T = frames.shape[1]
        for key in ('audio', 'audio_aug'):
            if key in out:
                a = out[key]
                if a.dim() != 3 or a.shape[1] != T:
                    raise ValueError(
                        f'AVSDataPreprocessor: {key} must be [B, T={T}, S], '
                        f'got {tuple(a.shape)}')
        if 'audio' in out and 'audio_aug' in out and \
                out['audio'].shape != out['audio_aug'].shape:
            raise ValueError('AVSDataPreprocessor: audio and audio_aug '
                             'shapes differ')
        out = self.cast_data(out)
        out['frames'] = (out['frames'].float() - self.mean) / self.std
        for key in ('audio', 'audio_aug'):
            if key in out:
                out[key] = out[key].float()
        if samples is not None:
            samples = self.cast_data(list(samples))
        return {'inputs': out, 'data_samples': samples}
