"""Audio-conditioned transformer block: one reading of the fusion of the
Table 3 baseline (``StageAlignment(baseline_fusion='blocks')``).

The paper's baseline "only contains encoders, transformer blocks and the
segmentation decoder" (Sec. 4.4) and has more parameters than the "+AVAM"
row (Table 8: 129.02 M vs 127.24 M), which reads as transformer blocks that
AVAM replaces. This block is the unidirectional fusion the paper contrasts
AVAM with (Fig. 2(d), audio as a fixed condition): a pre-LN transformer
decoder layer (torch's ``nn.TransformerDecoderLayer``) in which the visual
tokens attend to each other, then to the audio queries (projected to the
visual width), then pass an FFN; the audio is never updated.

The output projections of both attentions and the last FFN layer are
zero-initialised, so a new block returns its visual input exactly, as a
Cross Alignment Block with ``zero_init=True`` does.
"""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ddavs_mm.registry import MODELS


@MODELS.register_module()
class AudioConditionedBlock(BaseModule):
    """Visual self-attention, visual→audio cross-attention and an FFN.

    Args:
        visual_channels (int): C_v of the visual tokens.
        query_channels (int): d of the audio queries (projected to C_v).
        num_heads (int, optional): attention heads; default ``max(1,
            C_v // 64)``.
        ffn_ratio (float): FFN hidden width / C_v. Defaults to 4.
        dropout (float): dropout of the layer. Defaults to 0.
        zero_init (bool): zero-init the updates (identity at start).
            Defaults to True.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 visual_channels: int,
                 query_channels: int,
                 num_heads: Optional[int] = None,
                 ffn_ratio: float = 4.0,
                 dropout: float = 0.0,
                 zero_init: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        c = visual_channels
        num_heads = num_heads or max(1, c // 64)
        if c % num_heads:
            raise ValueError(f'visual_channels {c} not divisible by '
                             f'num_heads {num_heads}')
        self.visual_channels = c
        self.query_channels = query_channels
        self.zero_init = zero_init
        self.query_proj = nn.Linear(query_channels, c) \
            if query_channels != c else nn.Identity()
        self.layer = nn.TransformerDecoderLayer(
            c, num_heads, dim_feedforward=int(c * ffn_ratio),
            dropout=dropout, activation='gelu', batch_first=True,
            norm_first=True)
        self._zero_updates()

    def _zero_updates(self) -> None:
        if self.zero_init:
            for lin in (self.layer.self_attn.out_proj,
                        self.layer.multihead_attn.out_proj,
                        self.layer.linear2):
                nn.init.zeros_(lin.weight)
                nn.init.zeros_(lin.bias)

    def init_weights(self) -> None:
        super().init_weights()
        self._zero_updates()

    def forward(self, visual: torch.Tensor,
                queries: torch.Tensor) -> torch.Tensor:
        """Args:
            visual (Tensor): H_v ``[N, HW, C_v]``.
            queries (Tensor): Q ``[N, n, d]``.

        Returns:
            Tensor: updated H_v ``[N, HW, C_v]``.
        """
        if visual.shape[-1] != self.visual_channels or \
                queries.shape[-1] != self.query_channels:
            raise ValueError(
                f'AudioConditionedBlock(C_v={self.visual_channels}, '
                f'd={self.query_channels}) got visual '
                f'{tuple(visual.shape)} and queries {tuple(queries.shape)}')
        memory = self.query_proj(queries.to(visual.dtype))
        return self.layer(visual, memory)

    def forward_map(self, feat: torch.Tensor,
                    queries: torch.Tensor) -> torch.Tensor:
        """Same on a feature map: ``[N, C_v, H, W] -> [N, C_v, H, W]``."""
        n, c, h, w = feat.shape
        out = self(feat.flatten(2).transpose(1, 2), queries)
        return out.transpose(1, 2).reshape(n, c, h, w)
