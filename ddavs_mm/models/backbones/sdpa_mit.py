"""MiT whose efficient self-attention runs through PyTorch's fused SDPA.

mmseg's ``EfficientMultiheadAttention`` calls ``nn.MultiheadAttention`` with
its default ``need_weights=True``: the attention matrix is then built
explicitly (``bmm``, ``softmax``, ``bmm``) and averaged over the heads, only
to be thrown away. :class:`SDPAEfficientMultiheadAttention` computes the same
function with the same parameters through
``torch.nn.functional.scaled_dot_product_attention`` (flash / memory-
efficient kernels on a GPU, the fused CPU kernel on a CPU): the values are
equal to float rounding, checkpoints load unchanged (same parameter names),
and attention dropout, when set, is SDPA's ``dropout_p`` on the same
probabilities.

With ``with_cp=True`` (activation checkpointing) the blocks checkpoint with
``torch.utils.checkpoint``'s non-reentrant variant (mmseg calls it without
``use_reentrant``, which recent PyTorch versions warn about or reject).

:func:`mit_attention_to_sdpa` converts the attention layers (and blocks) of
an existing MiT in place (e.g. a model built from a config that names mmseg's
``MixVisionTransformer``); :class:`SDPAMixVisionTransformer` is the
registered backbone that is built that way.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmseg.models.backbones.mit import (EfficientMultiheadAttention,
                                        TransformerEncoderLayer)
from mmseg.models.utils import nchw_to_nlc, nlc_to_nchw

from ddavs_mm.registry import MODELS
from .freezable_mit import FreezableMixVisionTransformer


def multihead_sdpa(attn: nn.MultiheadAttention, query: torch.Tensor,
                   key_value: torch.Tensor,
                   self_attention: bool = False) -> torch.Tensor:
    """``nn.MultiheadAttention(query, kv, kv)[0]`` through SDPA.

    Args:
        attn (nn.MultiheadAttention): supplies the packed in-projection,
            the output projection, the heads and the dropout; it must have
            equal query/key/value widths and no ``bias_k`` / zero attention.
        query (Tensor): ``[N, Lq, C]`` (batch first).
        key_value (Tensor): ``[N, Lk, C]``, used as both key and value.
        self_attention (bool): ``key_value is query``; the three
            projections are then one matrix product.

    Returns:
        Tensor: ``[N, Lq, C]``.
    """
    n, lq, c = query.shape
    heads = attn.num_heads
    weight, bias = attn.in_proj_weight, attn.in_proj_bias
    if self_attention:
        q, k, v = F.linear(query, weight, bias).chunk(3, dim=-1)
    else:
        q = F.linear(query, weight[:c], None if bias is None else bias[:c])
        k, v = F.linear(key_value, weight[c:],
                        None if bias is None else bias[c:]).chunk(2, dim=-1)
    q = q.reshape(n, lq, heads, -1).transpose(1, 2)
    k = k.reshape(n, k.shape[1], heads, -1).transpose(1, 2)
    v = v.reshape(n, v.shape[1], heads, -1).transpose(1, 2)
    out = F.scaled_dot_product_attention(
        q, k, v, dropout_p=attn.dropout if attn.training else 0.)
    out = out.transpose(1, 2).reshape(n, lq, c)
    return F.linear(out, attn.out_proj.weight, attn.out_proj.bias)


def check_sdpa_compatible(attn: nn.MultiheadAttention) -> None:
    """Raise ``TypeError`` if :func:`multihead_sdpa` cannot stand in for
    ``attn`` (separate key/value widths, ``bias_k`` or zero attention)."""
    if not attn._qkv_same_embed_dim or attn.bias_k is not None or \
            attn.add_zero_attn:
        raise TypeError(
            'multihead_sdpa needs an nn.MultiheadAttention with equal '
            'query/key/value widths, no bias_k/bias_v and '
            'add_zero_attn=False')


class SDPAEfficientMultiheadAttention(EfficientMultiheadAttention):
    """mmseg's ``EfficientMultiheadAttention`` (spatial-reduction attention)
    with the attention itself computed by SDPA; same arguments, parameters
    and values (to float rounding).

    Shapes: ``x [N, H*W, C]`` with ``hw_shape = (H, W)`` -> ``[N, H*W, C]``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        check_sdpa_compatible(self.attn)

    def forward(self,
                x: torch.Tensor,
                hw_shape: Sequence[int],
                identity: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.sr_ratio > 1:
            x_kv = self.norm(nchw_to_nlc(self.sr(nlc_to_nchw(x, hw_shape))))
        else:
            x_kv = x
        if identity is None:
            identity = x
        out = multihead_sdpa(self.attn, x, x_kv,
                             self_attention=self.sr_ratio == 1)
        return identity + self.dropout_layer(self.proj_drop(out))


class CheckpointedEncoderLayer(TransformerEncoderLayer):
    """mmseg's MiT block whose ``with_cp`` uses non-reentrant activation
    checkpointing (also when the input needs no gradient, e.g. a frozen
    first stage feeding a trained one)."""

    def forward(self, x: torch.Tensor,
                hw_shape: Sequence[int]) -> torch.Tensor:

        def inner(x: torch.Tensor) -> torch.Tensor:
            x = self.attn(self.norm1(x), hw_shape, identity=x)
            return self.ffn(self.norm2(x), hw_shape, identity=x)

        if self.with_cp and self.training and torch.is_grad_enabled():
            return cp.checkpoint(inner, x, use_reentrant=False)
        return inner(x)


def mit_attention_to_sdpa(module: nn.Module) -> int:
    """Switch every mmseg ``EfficientMultiheadAttention`` under ``module`` to
    :class:`SDPAEfficientMultiheadAttention` and every MiT block to
    :class:`CheckpointedEncoderLayer`, in place.

    Only the classes change (they add no parameter or buffer), so weights,
    optimizer state and checkpoints are unaffected.

    Args:
        module (nn.Module): e.g. a ``MixVisionTransformer`` or a whole
            segmentor.

    Returns:
        int: number of attention layers switched.
    """
    count = 0
    for m in module.modules():
        if type(m) is EfficientMultiheadAttention:
            check_sdpa_compatible(m.attn)
            m.__class__ = SDPAEfficientMultiheadAttention
            count += 1
        elif type(m) is TransformerEncoderLayer:
            m.__class__ = CheckpointedEncoderLayer
    return count


@MODELS.register_module()
class SDPAMixVisionTransformer(FreezableMixVisionTransformer):
    """MiT (with ``frozen_stages``) whose attention runs through SDPA.

    Same arguments, parameter names and outputs (to float rounding) as
    mmseg's ``MixVisionTransformer`` / :class:`FreezableMixVisionTransformer`,
    so a MiT checkpoint (e.g. ``mit_b5.pth`` in mmseg keys) loads as is.

    Shapes: ``[N, 3, H, W]`` -> the ``out_indices`` levels
    ``[N, C_i, H / s_i, W / s_i]``.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        mit_attention_to_sdpa(self)
