"""Delayed Audio-Visual Alignment Module + mask decoder (Sec. 3.3).

``H_v^i = AVAM^i(Q, H_v^{i-1})`` is applied only at the injected stages of
the 4-stage visual encoder (default stages 2 and 3, 0-based, = the paper's
blocks "3,4"; any subset reproduces a row of Table 4). Two placements:

* ``fusion_position='encoder'`` (default, "Encoder-Decoder" in Table 6): the
  segmentor calls :meth:`align` on the output of each injected encoder stage
  *inside* the encoder, so the aligned feature feeds the next stage and is
  also the pyramid level given to the mask decoder;
* ``fusion_position='head'`` (Table 6 "Head (pre-LN)" / "Head (post-LN)"
  with ``norm_position``): the encoder runs untouched and the blocks are
  applied to the pyramid levels at the decoder input (:meth:`forward`).

Inside the encoder, ``encoder_position`` says where in an injected stage the
block acts (the paper is ambiguous, docs/design.md): ``'after_stage'``
(default) on the stage's output, after its transformer layers and norm;
``'before_blocks'`` ("injecting audio information before the last two
transformer blocks", Sec. 4.4) after the stage's patch embedding, before its
transformer layers, so the stage's own layers process the aligned tokens.

``query_readout=True`` (our addition, off in the paper configs) adds an
audio-conditioned term to the decoder's logits: every pixel of the fused map
``E [N, C, H, W]`` is compared with every audio query,
``z_k = conv_seg(E)_k + max_i <E, W_k q_i> / sqrt(C)`` for each output map
``k`` (one projection ``W_k`` per map). It lets a pixel's object
identity meet the audio semantics by a dot product at the output, which a
small model learns much faster than the same matching through attention.
It needs a mask decoder with ``fuse(feats)`` and ``classify(fused)``.

``with_alignment=False`` (Table 3 "Baseline" / "+AQM"): no Cross Alignment
Block. The paper does not specify how its baseline fuses the audio;
``baseline_fusion`` picks one of two readings (docs/design.md):

* ``'bias'`` (default): the mean of the queries (or audio tokens) over the n
  slots is linearly projected to the channels of the last pyramid level and
  *added* to every position of that level at the decoder input,
  ``F_4 <- F_4 + W mean_i(q_i)``; ``W`` is zero-initialised, so the
  baseline starts as a purely visual model;
* ``'blocks'``: an :class:`AudioConditionedBlock` (a unidirectional
  transformer decoder layer, zero-initialised updates) at each of
  ``inject_stages``, where AVAM's blocks would be, placed as
  ``fusion_position`` / ``encoder_position`` say.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ddavs_mm.registry import MODELS
from .audio_conditioned_block import AudioConditionedBlock
from .cross_alignment_block import CrossAlignmentBlock


@MODELS.register_module()
class DelayedAVAMDecoder(BaseModule):
    """Cross Alignment Blocks at chosen stages, then the mask decoder.

    Args:
        in_channels (Sequence[int]): channels of the 4 pyramid levels.
        query_channels (int): width d of the audio queries.
        inject_stages (Sequence[int]): 0-based stages that get a block.
            Defaults to (2, 3).
        fusion_position (str): 'encoder' or 'head'.
        encoder_position (str): 'after_stage' (default) or 'before_blocks':
            where in an injected encoder stage a block acts (see the module
            doc); only with ``fusion_position='encoder'``.
        norm_position (str): 'pre' or 'post' (passed to the blocks).
        with_alignment (bool): False → baseline fusion, no Cross Alignment
            Block.
        baseline_fusion (str): fusion without alignment: 'bias' (default)
            or 'blocks' (see the module doc).
        block_cfg (dict, optional): extra block args (``num_heads``,
            ``ffn_ratio``, ``dropout``, ``zero_init``).
        mask_decoder (dict): mask decoder config (``in_channels`` is filled
            in). Defaults to ``SegformerMaskDecoder`` with 256 channels.
        query_readout (bool): add the query dot-product readout (see the
            module doc). Defaults to False.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (64, 128, 320, 512),
                 query_channels: int = 768,
                 inject_stages: Sequence[int] = (2, 3),
                 fusion_position: str = 'encoder',
                 encoder_position: str = 'after_stage',
                 norm_position: str = 'pre',
                 with_alignment: bool = True,
                 baseline_fusion: str = 'bias',
                 block_cfg: Optional[dict] = None,
                 mask_decoder: dict = dict(
                     type='SegformerMaskDecoder', channels=256,
                     num_classes=1),
                 query_readout: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if fusion_position not in ('encoder', 'head'):
            raise ValueError('fusion_position must be "encoder" or "head", '
                             f'got {fusion_position!r}')
        if encoder_position not in ('after_stage', 'before_blocks'):
            raise ValueError('encoder_position must be "after_stage" or '
                             f'"before_blocks", got {encoder_position!r}')
        if encoder_position == 'before_blocks' and \
                fusion_position != 'encoder':
            raise ValueError('encoder_position="before_blocks" needs '
                             'fusion_position="encoder"')
        if baseline_fusion not in ('bias', 'blocks'):
            raise ValueError('baseline_fusion must be "bias" or "blocks", '
                             f'got {baseline_fusion!r}')
        self.in_channels = list(in_channels)
        num_levels = len(self.in_channels)
        inject_stages = sorted(set(int(i) for i in inject_stages))
        bad = [i for i in inject_stages if not 0 <= i < num_levels]
        if bad:
            raise ValueError(f'inject_stages {bad} outside [0, {num_levels})')
        with_blocks = with_alignment or baseline_fusion == 'blocks'
        if with_blocks and not inject_stages:
            raise ValueError('alignment (or baseline_fusion="blocks") needs '
                             'at least one inject stage')
        self.query_channels = query_channels
        self.fusion_position = fusion_position
        self.encoder_position = encoder_position
        self.norm_position = norm_position
        self.with_alignment = with_alignment
        self.baseline_fusion = baseline_fusion
        self.inject_stages = tuple(inject_stages) if with_blocks else ()
        block_cfg = dict(block_cfg or {})
        self.blocks = nn.ModuleDict()
        for i in self.inject_stages:
            if with_alignment:
                block = CrossAlignmentBlock(
                    visual_channels=self.in_channels[i],
                    query_channels=query_channels,
                    norm_position=norm_position,
                    **block_cfg)
            else:
                block = AudioConditionedBlock(
                    visual_channels=self.in_channels[i],
                    query_channels=query_channels,
                    **block_cfg)
            self.blocks[str(i)] = block
        self.baseline_proj = None
        if not with_blocks:
            self.baseline_proj = nn.Linear(query_channels,
                                           self.in_channels[-1])
            nn.init.zeros_(self.baseline_proj.weight)
            nn.init.zeros_(self.baseline_proj.bias)
        mask_decoder = dict(mask_decoder)
        mask_decoder.setdefault('in_channels', self.in_channels)
        self.mask_decoder = MODELS.build(mask_decoder)
        self.num_classes = self.mask_decoder.num_classes
        self.readout_proj = None
        if query_readout:
            if not (hasattr(self.mask_decoder, 'fuse')
                    and hasattr(self.mask_decoder, 'classify')):
                raise ValueError(
                    'query_readout needs a mask decoder with fuse() and '
                    f'classify(); {type(self.mask_decoder).__name__} has not')
            self.readout_proj = nn.Linear(
                query_channels,
                self.num_classes * self.mask_decoder.channels)

    def init_weights(self) -> None:
        super().init_weights()
        if self.baseline_proj is not None:
            nn.init.zeros_(self.baseline_proj.weight)
            nn.init.zeros_(self.baseline_proj.bias)

    def align(self, stage_idx: int, feat: torch.Tensor,
              queries: torch.Tensor) -> torch.Tensor:
        """The block of one stage (AVAM's, or the baseline's with
        ``baseline_fusion='blocks'``): ``[N, C, H, W] -> [N, C, H, W]``
        (identity when the stage is not injected)."""
        key = str(stage_idx)
        if key not in self.blocks:
            return feat
        return self.blocks[key].forward_map(feat, queries)

    def fuse_baseline(self, feats: List[torch.Tensor],
                      queries: torch.Tensor) -> List[torch.Tensor]:
        """Baseline fusion (no AVAM): add projected mean query to F_4."""
        bias = self.baseline_proj(queries.mean(dim=1).to(feats[-1].dtype))
        return list(feats[:-1]) + [feats[-1] + bias[:, :, None, None]]

    def forward(self, feats: List[torch.Tensor],
                queries: torch.Tensor) -> torch.Tensor:
        """Args:
            feats (list[Tensor]): pyramid ``[N, C_i, H_i, W_i]`` (already
                aligned inside the encoder when fusion_position='encoder').
            queries (Tensor): ``[N, n, d]``.

        Returns:
            Tensor: logits ``[N, K, H_0, W_0]`` (1/4 of the input).
        """
        if len(feats) != len(self.in_channels):
            raise ValueError(f'DelayedAVAMDecoder expects '
                             f'{len(self.in_channels)} levels, got '
                             f'{len(feats)}')
        feats = list(feats)
        if self.baseline_proj is not None:
            feats = self.fuse_baseline(feats, queries)
        elif self.fusion_position == 'head':
            feats = [self.align(i, f, queries) for i, f in enumerate(feats)]
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
