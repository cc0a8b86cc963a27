"""Cross Alignment Block of the AVAM (Sec. 3.3, Eqs. 7-8).

Audio-guided filtering (Eq. 7): the audio queries gather visual evidence,
``H_a = Attn(Q, H_v W_K1, H_v W_V1)``; visual-guided enhancement (Eq. 8):
the visual tokens read the updated queries,
``H_v <- Attn(H_v W_Q2, H_a W_K2, H_a W_V2)``. Both steps are residual, with
LayerNorms placed before ('pre') or after ('post') each sub-layer, and each
stream ends with an FFN.

Near-identity start: the output projection of the visual cross-attention and
the last Linear of the visual FFN are zero-initialised (``zero_init=True``),
so with ``norm_position='pre'`` an untrained block returns its visual input
unchanged (exactly), and a pretrained visual encoder is not disturbed when the
block is inserted between its stages. With 'post' the visual stream still
passes through two LayerNorms (identity only up to normalisation).
"""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from ddavs_mm.registry import MODELS


class _FFN(nn.Module):

    def __init__(self, dims: int, ratio: float, dropout: float):
        super().__init__()
        hidden = int(dims * ratio)
        self.fc1 = nn.Linear(dims, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dims)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


@MODELS.register_module()
class CrossAlignmentBlock(BaseModule):
    """Bidirectional audio↔visual cross-attention block.

    Args:
        visual_channels (int): C_v of the visual tokens.
        query_channels (int): d of the audio queries (projected to C_v).
        num_heads (int, optional): attention heads; default ``max(1,
            C_v // 64)``.
        ffn_ratio (float): FFN hidden width / C_v. Defaults to 4.
        dropout (float): dropout in attention outputs and FFNs.
        norm_position (str): 'pre' or 'post'. Defaults to 'pre'.
        zero_init (bool): zero-init the visual update (see module doc).
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 visual_channels: int,
                 query_channels: int,
                 num_heads: Optional[int] = None,
                 ffn_ratio: float = 4.0,
                 dropout: float = 0.0,
                 norm_position: str = 'pre',
                 zero_init: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if norm_position not in ('pre', 'post'):
            raise ValueError(f'norm_position must be "pre" or "post", got '
                             f'{norm_position!r}')
        c = visual_channels
        num_heads = num_heads or max(1, c // 64)
        if c % num_heads:
            raise ValueError(f'visual_channels {c} not divisible by '
                             f'num_heads {num_heads}')
        self.visual_channels = c
        self.query_channels = query_channels
        self.norm_position = norm_position
        self.zero_init = zero_init
        self.query_proj = nn.Linear(query_channels, c) \
            if query_channels != c else nn.Identity()
        # Eq. 7: queries attend to visual tokens
        self.a2v_attn = nn.MultiheadAttention(
            c, num_heads, dropout=dropout, batch_first=True)
        self.a2v_norm_q = nn.LayerNorm(c)
        # norms applied only in 'pre' mode are Identity in 'post' mode so
        # that no parameter is left unused (DDP)
        pre = norm_position == 'pre'
        self.a2v_norm_v = nn.LayerNorm(c) if pre else nn.Identity()
        self.a_ffn = _FFN(c, ffn_ratio, dropout)
        self.a_ffn_norm = nn.LayerNorm(c)
        # Eq. 8: visual tokens attend to updated queries
        self.v2a_attn = nn.MultiheadAttention(
            c, num_heads, dropout=dropout, batch_first=True)
        self.v2a_norm_v = nn.LayerNorm(c)
        self.v2a_norm_a = nn.LayerNorm(c) if pre else nn.Identity()
        self.v_ffn = _FFN(c, ffn_ratio, dropout)
        self.v_ffn_norm = nn.LayerNorm(c)
        self.drop = nn.Dropout(dropout)
        self._zero_visual_update()

    def _zero_visual_update(self) -> None:
        if self.zero_init:
            for lin in (self.v2a_attn.out_proj, self.v_ffn.fc2):
                nn.init.zeros_(lin.weight)
                nn.init.zeros_(lin.bias)

    def init_weights(self) -> None:
        super().init_weights()
        self._zero_visual_update()

    def forward(self, visual: torch.Tensor, queries: torch.Tensor,
                return_queries: bool = False):
        """Args:
            visual (Tensor): H_v ``[N, HW, C_v]``.
            queries (Tensor): Q ``[N, n, d]``.
            return_queries (bool): also return H_a ``[N, n, C_v]``.

        Returns:
            Tensor: updated H_v ``[N, HW, C_v]`` (and H_a).
        """
        if visual.shape[-1] != self.visual_channels or \
                queries.shape[-1] != self.query_channels:
            raise ValueError(
                f'CrossAlignmentBlock(C_v={self.visual_channels}, '
                f'd={self.query_channels}) got visual '
                f'{tuple(visual.shape)} and queries {tuple(queries.shape)}')
        q = self.query_proj(queries.to(visual.dtype))
        v = visual
        if self.norm_position == 'pre':
            vn = self.a2v_norm_v(v)
            q = q + self.drop(
                self.a2v_attn(self.a2v_norm_q(q), vn, vn,
                              need_weights=False)[0])
            q = q + self.a_ffn(self.a_ffn_norm(q))
            qn = self.v2a_norm_a(q)
            v = v + self.drop(
                self.v2a_attn(self.v2a_norm_v(v), qn, qn,
                              need_weights=False)[0])
            v = v + self.v_ffn(self.v_ffn_norm(v))
        else:
            q = self.a2v_norm_q(q + self.drop(
                self.a2v_attn(q, v, v, need_weights=False)[0]))
            q = self.a_ffn_norm(q + self.a_ffn(q))
            v = self.v2a_norm_v(v + self.drop(
                self.v2a_attn(v, q, q, need_weights=False)[0]))
            v = self.v_ffn_norm(v + self.v_ffn(v))
        return (v, q) if return_queries else v

    def forward_map(self, feat: torch.Tensor,
                    queries: torch.Tensor) -> torch.Tensor:
        """Same on a feature map: ``[N, C_v, H, W] -> [N, C_v, H, W]``."""
        n, c, h, w = feat.shape
        tokens = feat.flatten(2).transpose(1, 2)
        out = self(tokens, queries)
        return out.transpose(1, 2).reshape(n, c, h, w)
