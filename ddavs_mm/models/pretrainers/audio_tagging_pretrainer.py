"""An audio encoder trained to name the sounds of one-second segments."""
from typing import Dict, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor

from ddavs_mm.registry import MODELS


@MODELS.register_module()
class AudioTaggingPretrainer(BaseModel):
    """Audio encoder + linear classifier on its pooled embedding.

    The stand-in for AudioSet pretraining of HTSAT on the synthetic data set
    (see :class:`~ddavs_mm.datasets.AudioSecondsDataset`). In training every
    segment gets a random gain of ``±gain_db`` dB, so that the sounds are
    told apart by timbre, not loudness. Single-label: cross-entropy;
    ``multilabel``: binary cross-entropy per label, and a segment counts as
    right when its whole set of labels is predicted exactly.

    Args:
        encoder (dict): audio encoder config (with ``embed(waveform)``).
        num_classes (int): number of labels.
        multilabel (bool): tag several sounds per segment. Defaults to False.
        gain_db (float): random gain range in dB. Defaults to 12.
        data_preprocessor (dict, optional): Defaults to
            ``BaseDataPreprocessor`` (moves the batch to the device).
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 encoder: dict,
                 num_classes: int,
                 multilabel: bool = False,
                 gain_db: float = 12.0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.encoder = MODELS.build(encoder)
        self.head = torch.nn.Linear(self.encoder.out_channels, num_classes)
        self.multilabel = multilabel
        self.gain_db = float(gain_db)

    def forward(self,
                inputs: Tensor,
                gt_label: Optional[Tensor] = None,
                mode: str = 'tensor') -> Union[Tensor, Dict[str, Tensor]]:
        """Logits or losses of a batch of segments.

        Args:
            inputs (Tensor): waveforms ``[B, S]``.
            gt_label (Tensor, optional): ``[B]`` class ids, or ``[B, C]``
                multi-hot targets with ``multilabel``.
            mode (str): ``'tensor'`` / ``'predict'`` (logits ``[B, C]``) or
                ``'loss'`` (dict with ``loss`` and the batch ``accuracy``).
        """
        if self.training and self.gain_db:
            gain = (torch.rand(len(inputs), 1, device=inputs.device) * 2 -
                    1) * self.gain_db / 20
            inputs = inputs * 10**gain
        logits = self.head(self.encoder.embed(inputs))
        if mode in ('tensor', 'predict'):
            return logits
        if mode != 'loss':
            raise ValueError(f'unknown mode {mode!r}')
        if self.multilabel:
            loss = F.binary_cross_entropy_with_logits(logits, gt_label)
            hit = ((logits > 0) == (gt_label > 0.5)).all(1)
        else:
            loss = F.cross_entropy(logits, gt_label)
            hit = logits.argmax(1) == gt_label
        return dict(loss=loss, accuracy=hit.float().mean().detach())
