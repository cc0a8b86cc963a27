"""DDAVS's decode head: the decoder of the delayed AVAM, the mask decoder
``D`` of ``Y = D(H_v^L)`` (Sec. 3), optionally with the query readout.

The name is the design's: the Audio-Visual Alignment Module acts at the
delayed stages (:class:`~.StageAlignment`, owned by the segmentor) and this
head decodes the pyramid it leaves.

The head only decodes: the audio reaches the pyramid it reads through
:class:`~.StageAlignment` (inside the encoder or at this head's input). The
mask decoder is any mmseg decode head (``forward(list of [N, C_i, H_i, W_i])
-> logits``), :class:`~.SegformerMaskDecoder` in the paper configs.

``query_readout=True`` (our addition, off in the paper configs) adds an
audio-conditioned term to the decoder's logits: every pixel of the fused map
``E [N, C, H, W]`` is compared with every audio query,
``z_k = conv_seg(E)_k + max_i <E, W_k q_i> / sqrt(C)`` for each output map
``k`` (one projection ``W_k`` per map). It lets a pixel's object
identity meet the audio semantics by a dot product at the output, which a
small model learns much faster than the same matching through attention.
It needs a mask decoder with ``fuse(feats)`` and ``classify(fused)``.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ddavs_mm.registry import MODELS


@MODELS.register_module()
class DelayedAVAMDecoder(BaseModule):
    """The mask decoder of the delayed-AVAM pyramid, plus the optional
    query readout.

    Args:
        in_channels (Sequence[int]): channels of the pyramid levels.
        mask_decoder (dict): mask decoder config (``in_channels`` is filled
            in when absent). Defaults to ``SegformerMaskDecoder`` with 256
            channels.
        query_channels (int, optional): width d of the audio queries; needed
            by the query readout only.
        query_readout (bool): add the query dot-product readout (see the
            module doc). Defaults to False.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (64, 128, 320, 512),
                 mask_decoder: dict = dict(
                     type='SegformerMaskDecoder', channels=256,
                     num_classes=1),
                 query_channels: Optional[int] = None,
                 query_readout: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        self.query_channels = query_channels
        mask_decoder = dict(mask_decoder)
        mask_decoder.setdefault('in_channels', self.in_channels)
        self.mask_decoder = MODELS.build(mask_decoder)
        self.num_classes = self.mask_decoder.num_classes
        self.readout_proj = None
        if query_readout:
            if query_channels is None:
                raise ValueError('query_readout needs query_channels')
            if not (hasattr(self.mask_decoder, 'fuse')
                    and hasattr(self.mask_decoder, 'classify')):
                raise ValueError(
                    'query_readout needs a mask decoder with fuse() and '
                    f'classify(); {type(self.mask_decoder).__name__} has not')
            self.readout_proj = nn.Linear(
                query_channels,
                self.num_classes * self.mask_decoder.channels)

    def forward(self, feats: Sequence[torch.Tensor],
                queries: torch.Tensor) -> torch.Tensor:
        """Args:
            feats (list[Tensor]): pyramid ``[N, C_i, H_i, W_i]``, already
                aligned with the audio.
            queries (Tensor): ``[N, n, d]`` (read by the query readout only).

        Returns:
            Tensor: logits ``[N, K, H_0, W_0]`` (1/4 of the input).
        """
        if len(feats) != len(self.in_channels):
            raise ValueError(f'{type(self).__name__} expects '
                             f'{len(self.in_channels)} levels, got '
                             f'{len(feats)}')
        feats = list(feats)
        if self.readout_proj is None:
            return self.mask_decoder(feats)
        fused = self.mask_decoder.fuse(feats)
        return self.mask_decoder.classify(fused) + \
            self.query_readout(fused, queries)

    def query_readout(self, fused: torch.Tensor,
                      queries: torch.Tensor) -> torch.Tensor:
        """``max_i <E, W_k q_i> / sqrt(C)``: ``[N, C, H, W], [N, n, d] ->
        [N, K, H, W]``."""
        n, c = fused.shape[:2]
        keys = self.readout_proj(queries.to(fused.dtype))
        keys = keys.reshape(n, queries.shape[1], self.num_classes, c)
        sim = torch.einsum('nqkc,nchw->nqkhw', keys, fused)
        return sim.amax(dim=1) / c**0.5
