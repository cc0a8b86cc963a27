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

Both attentions run through ``F.scaled_dot_product_attention`` with the
parameters of their ``nn.MultiheadAttention`` modules (which stay the
parameter containers, so checkpoints are unchanged).

``fold_projections=True`` (set by ``ddavs_mm.apis.optimize_for_inference``;
used in eval mode only) computes the same function with fewer operations,
because there are only n (5) queries against HW visual tokens per frame:

* audio-guided filtering: ``(q_h W_K,h) (H_v)^T`` instead of
  ``q_h (H_v W_K,h)^T``, and ``(A_h H_v) W_V,h`` instead of
  ``A_h (H_v W_V,h)``: the HW visual tokens are never projected (the key
  bias adds a constant to every score of a row and cancels in the softmax;
  the value bias passes through since the weights of a row sum to 1);
* visual-guided enhancement: the keys are mapped back into the visual space,
  ``K~_h = K_h W_Q,h``, and the values through the output projection,
  ``V~_h = V_h W_O,h^T``, so ``sum_h softmax(H_v K~_h^T / sqrt(d) + b_h)
  V~_h`` replaces the visual query and output projections (``b_h = b_Q,h
  K_h^T / sqrt(d)`` is the query bias's share of the scores).

This saves ``2 HW C^2`` multiply-adds per block and attention direction at
the cost of ``~2 H n HW C``, a gain whenever ``H n < C``. Values are equal
to float rounding.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ddavs_mm.registry import MODELS
from ..backbones.sdpa_mit import check_sdpa_compatible, multihead_sdpa


def _heads_first(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``[N, n, H*d]`` -> ``[H, N*n, d]`` (a view)."""
    n, lq, c = x.shape
    return x.reshape(n * lq, heads, c // heads).transpose(0, 1)


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

    Attributes:
        fold_projections (bool): in eval mode, compute the attentions in the
            folded form of the module doc. Defaults to False.
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
        for attn in (self.a2v_attn, self.v2a_attn):
            check_sdpa_compatible(attn)
        self.fold_projections = False
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
            q = q + self.drop(
                self.attend_visual(self.a2v_norm_q(q), self.a2v_norm_v(v)))
            q = q + self.a_ffn(self.a_ffn_norm(q))
            v = v + self.drop(
                self.attend_queries(self.v2a_norm_v(v), self.v2a_norm_a(q)))
            v = v + self.v_ffn(self.v_ffn_norm(v))
        else:
            q = self.a2v_norm_q(q + self.drop(self.attend_visual(q, v)))
            q = self.a_ffn_norm(q + self.a_ffn(q))
            v = self.v2a_norm_v(v + self.drop(self.attend_queries(v, q)))
            v = self.v_ffn_norm(v + self.v_ffn(v))
        return (v, q) if return_queries else v

    def _folded(self) -> bool:
        return self.fold_projections and not self.training

    def attend_visual(self, queries: torch.Tensor,
                      visual: torch.Tensor) -> torch.Tensor:
        """Eq. 7's attention, ``a2v_attn(queries, visual, visual)``.

        Args:
            queries (Tensor): ``[N, n, C_v]`` (normalised).
            visual (Tensor): ``[N, HW, C_v]`` (normalised).

        Returns:
            Tensor: ``[N, n, C_v]``, after the output projection.
        """
        if not self._folded():
            return multihead_sdpa(self.a2v_attn, queries, visual)
        attn = self.a2v_attn
        n, lq, c = queries.shape
        heads = attn.num_heads
        d = c // heads
        w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
        b = attn.in_proj_bias
        q = F.linear(queries, w_q, None if b is None else b[:c])
        # q_h W_K,h: the queries in the space of the visual tokens, as one
        # batched product per head [H, N*n, d] @ [H, d, C]
        q = torch.bmm(_heads_first(q, heads), w_k.view(heads, d, c))
        q = q.view(heads, n, lq, c).transpose(0, 1).reshape(
            n, 1, heads * lq, c)
        # one attention over the (head, query) rows: [N, 1, H*n, C]
        tokens = visual.unsqueeze(1)
        out = F.scaled_dot_product_attention(q, tokens, tokens,
                                             scale=d**-0.5)
        # (A_h H_v) W_V,h^T: [H, N*n, C] @ [H, C, d] -> [N, n, C]
        out = out.view(n, heads, lq, c).transpose(0, 1).reshape(
            heads, n * lq, c)
        out = torch.bmm(out, w_v.view(heads, d, c).transpose(1, 2))
        out = out.view(heads, n, lq, d).permute(1, 2, 0, 3).reshape(
            n, lq, c)
        if b is not None:
            out = out + b[2 * c:]
        return F.linear(out, attn.out_proj.weight, attn.out_proj.bias)

    def attend_queries(self, visual: torch.Tensor,
                       queries: torch.Tensor) -> torch.Tensor:
        """Eq. 8's attention, ``v2a_attn(visual, queries, queries)``.

        Args:
            visual (Tensor): ``[N, HW, C_v]`` (normalised).
            queries (Tensor): ``[N, n, C_v]`` (normalised).

        Returns:
            Tensor: ``[N, HW, C_v]``, after the output projection.
        """
        if not self._folded():
            return multihead_sdpa(self.v2a_attn, visual, queries)
        attn = self.v2a_attn
        n, lv, c = visual.shape
        lq = queries.shape[1]
        heads = attn.num_heads
        d = c // heads
        w_q, w_kv = attn.in_proj_weight.split((c, 2 * c))
        b = attn.in_proj_bias
        k, v = F.linear(queries, w_kv,
                        None if b is None else b[c:]).chunk(2, dim=-1)
        # K_h W_Q,h and V_h W_O,h^T: [H, N*n, d] @ [H, d, C] -> [N, H, n, C]
        k_vis = torch.bmm(_heads_first(k, heads), w_q.view(heads, d, c))
        w_o = attn.out_proj.weight.view(c, heads, d).permute(1, 2, 0)
        v_vis = torch.bmm(_heads_first(v, heads), w_o)
        k_vis = k_vis.view(heads, n, lq, c).transpose(0, 1)
        v_vis = v_vis.view(heads, n, lq, c).transpose(0, 1)
        bias = None
        if b is not None:  # b_Q,h . K_h / sqrt(d): [N, H, 1, n]
            bias = (k.view(n, lq, heads, d) * b[:c].view(heads, d)).sum(-1)
            bias = bias.transpose(1, 2).unsqueeze(2) * d**-0.5
        out = F.scaled_dot_product_attention(
            visual.unsqueeze(1).expand(n, heads, lv, c), k_vis, v_vis,
            attn_mask=bias, scale=d**-0.5)  # [N, H, HW, C]
        out = out.sum(dim=1)
        if attn.out_proj.bias is not None:
            out = out + attn.out_proj.bias
        return out

    def forward_map(self, feat: torch.Tensor,
                    queries: torch.Tensor) -> torch.Tensor:
        """Same on a feature map: ``[N, C_v, H, W] -> [N, C_v, H, W]``."""
        n, c, h, w = feat.shape
        tokens = feat.flatten(2).transpose(1, 2)
        out = self(tokens, queries)
        return out.transpose(1, 2).reshape(n, c, h, w)
