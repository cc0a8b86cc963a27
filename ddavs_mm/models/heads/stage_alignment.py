"""Audio-visual alignment of the visual encoder's stages: the Delayed AVAM
(Sec. 3.3) and the fusion of the Table 3 rows without it.

``H_v^i = AVAM^i(Q, H_v^{i-1})`` is applied only at the injected stages of
the 4-stage visual encoder (default stages 2 and 3, 0-based, = the paper's
blocks "3,4"; any subset reproduces a row of Table 4). The segmentor owns
this module; where its blocks act is ``fusion_position``:

* ``'encoder'`` (default, "Encoder-Decoder" in Table 6): *inside* the
  encoder. The segmentor runs the backbone stage by stage
  (:class:`~ddavs_mm.models.backbones.StageWiseBackbone`) with
  :meth:`StageAlignment.forward_stage` as the hook, so an aligned stage
  feeds the next stage and is also the pyramid level the decode head reads;
* ``'head'`` (Table 6 "Head (pre-LN)" / "Head (post-LN)" with
  ``norm_position``): at the decode head's input. The encoder runs
  untouched and :meth:`StageAlignment.forward` aligns the injected pyramid
  levels before the decode head reads them; any backbone returning the
  levels works.

Inside the encoder, ``encoder_position`` says where in an injected stage the
block acts (the paper is ambiguous, docs/design.md): ``'after_stage'``
(default) on the stage's output, after its transformer layers and norm;
``'before_blocks'`` ("injecting audio information before the last two
transformer blocks", Sec. 4.4) after the stage's patch embedding, before its
transformer layers, so the stage's own layers process the aligned tokens.

``with_alignment=False`` (Table 3 "Baseline" / "+AQM"): no Cross Alignment
Block. The paper does not specify how its baseline fuses the audio;
``baseline_fusion`` picks one of two readings (docs/design.md):

* ``'bias'`` (default): the mean of the queries (or audio tokens) over the n
  slots is linearly projected to the channels of the last pyramid level and
  *added* to every position of that level at the decode head's input,
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
class StageAlignment(BaseModule):
    """Alignment blocks at chosen encoder stages (or the baseline fusion).

    Args:
        in_channels (Sequence[int]): channels of the backbone's pyramid
            levels (= the decode head's ``in_channels``).
        query_channels (int): width d of the audio queries.
        inject_stages (Sequence[int]): 0-based stages that get a block.
            Defaults to (2, 3).
        fusion_position (str): 'encoder' or 'head' (see the module doc).
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

    @property
    def acts_in_encoder(self) -> bool:
        """Whether blocks act inside the encoder (the segmentor then runs
        the backbone stage by stage with :meth:`forward_stage`)."""
        return self.fusion_position == 'encoder' and bool(self.blocks)

    def init_weights(self) -> None:
        super().init_weights()
        if self.baseline_proj is not None:
            nn.init.zeros_(self.baseline_proj.weight)
            nn.init.zeros_(self.baseline_proj.bias)

    def forward_stage(self, stage_idx: int, feat: torch.Tensor,
                      queries: torch.Tensor) -> torch.Tensor:
        """The block of one stage (AVAM's, or the baseline's with
        ``baseline_fusion='blocks'``); identity at a stage without one.

        Args:
            stage_idx (int): 0-based stage (= pyramid level).
            feat (Tensor): ``[N, C_i, H_i, W_i]``.
            queries (Tensor): ``[N, n, d]``.

        Returns:
            Tensor: ``[N, C_i, H_i, W_i]``.
        """
        key = str(stage_idx)
        if key not in self.blocks:
            return feat
        return self.blocks[key].forward_map(feat, queries)

    def fuse_baseline(self, feats: List[torch.Tensor],
                      queries: torch.Tensor) -> List[torch.Tensor]:
        """Baseline fusion (no AVAM): add the projected mean query to
        ``F_4``."""
        bias = self.baseline_proj(queries.mean(dim=1).to(feats[-1].dtype))
        return list(feats[:-1]) + [feats[-1] + bias[:, :, None, None]]

    def forward(self, feats: Sequence[torch.Tensor],
                queries: torch.Tensor) -> List[torch.Tensor]:
        """The fusion at the decode head's input: the baseline bias, or the
        blocks with ``fusion_position='head'``; identity otherwise (the
        blocks acted inside the encoder).

        Args:
            feats (list[Tensor]): pyramid ``[N, C_i, H_i, W_i]``.
            queries (Tensor): ``[N, n, d]``.

        Returns:
            list[Tensor]: the pyramid the decode head reads.
        """
        if len(feats) != len(self.in_channels):
            raise ValueError(f'{type(self).__name__} expects '
                             f'{len(self.in_channels)} levels, got '
                             f'{len(feats)}')
        feats = list(feats)
        if self.baseline_proj is not None:
            return self.fuse_baseline(feats, queries)
        if self.fusion_position == 'head':
            return [self.forward_stage(i, f, queries)
                    for i, f in enumerate(feats)]
        return feats
