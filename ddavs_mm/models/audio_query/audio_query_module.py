"""Audio Query Module (AQM) of DDAVS (Sec. 3.1, Eq. 4).

``Q_a = f_QG(E_a; {q_i})``: n learnable queries read the audio tokens through
a Q-Former (transformers' ``Blip2QFormerModel``, built from a config, never
downloaded). Then the queries attend to the fixed prototype bank M:

    A = softmax((Q_a W_Q)(M W_K)^T / sqrt(d)),  Q~ = A (M W_V),
    Q = LN(Q_a + γ Q~).

All attentions run through ``F.scaled_dot_product_attention`` (the Q-Former
with transformers' ``attn_implementation='sdpa'``). The bank's keys and
values ``M W_K``, ``M W_V`` do not depend on the input: outside autograd
they are computed once and cached until the bank or ``W_K`` / ``W_V``
change (:class:`~ddavs_mm.models.utils.weight_cache.WeightDerivedCache`;
cleared by ``train()`` and ``load_state_dict``).
"""
import logging
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from transformers import Blip2QFormerConfig, Blip2QFormerModel

from ddavs_mm.registry import MODELS
from ..utils.weight_cache import WeightDerivedCache
from .prototype_bank import PrototypeBank

DEFAULT_QFORMER_CFG = dict(
    num_hidden_layers=2,
    num_attention_heads=12,
    intermediate_size=3072,
    cross_attention_frequency=1,
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    hidden_act='gelu',
    layer_norm_eps=1e-12)


@MODELS.register_module()
class AudioQueryModule(BaseModule):
    """Q-Former query generator plus bank-based refinement.

    Args:
        in_channels (int): width D of the audio tokens (the audio encoder's
            ``out_channels``); the bank rows must have this width too (the
            bank is built from the same encoder's embeddings).
        embed_dims (int): Q-Former / query width d. Tokens are linearly
            projected (+LN) to d when ``in_channels != embed_dims``.
        num_queries (int): n. Defaults to 5.
        qformer_cfg (dict, optional): overrides of ``Blip2QFormerConfig``
            (``num_hidden_layers``, ``num_attention_heads``,
            ``intermediate_size``, ``cross_attention_frequency``, dropouts).
            ``hidden_size`` and ``encoder_hidden_size`` are set to
            ``embed_dims``. Default: 2 layers, 12 heads, FFN 3072, cross-
            attention in every layer.
        bank (dict | PrototypeBank, optional): bank config; ``None`` runs
            without bank refinement (Q = Q_a, LN'd when ``final_norm``).
        gamma (float): γ, weight of the bank residual. Defaults to 1.0.
        qkv_bias (bool): bias in W_Q/W_K/W_V. Defaults to False (plain
            d×d matrices as in Eq. 4).
        final_norm (bool): apply the LN also when there is no bank.
            Defaults to True.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 in_channels: int = 768,
                 embed_dims: int = 768,
                 num_queries: int = 5,
                 qformer_cfg: Optional[dict] = None,
                 bank: Optional[Union[dict, PrototypeBank]] = None,
                 gamma: float = 1.0,
                 qkv_bias: bool = False,
                 final_norm: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if num_queries < 1:
            raise ValueError(f'num_queries must be >= 1, got {num_queries}')
        self.in_channels = in_channels
        self.embed_dims = embed_dims
        self.num_queries = num_queries
        self.gamma = gamma

        if in_channels != embed_dims:
            self.input_proj = nn.Sequential(
                nn.Linear(in_channels, embed_dims), nn.LayerNorm(embed_dims))
        else:
            self.input_proj = nn.Identity()
        cfg = dict(DEFAULT_QFORMER_CFG)
        cfg.update(qformer_cfg or {})
        for key in ('hidden_size', 'encoder_hidden_size'):
            if cfg.pop(key, embed_dims) != embed_dims:
                raise ValueError(f'qformer_cfg.{key} must equal embed_dims '
                                 f'({embed_dims})')
        if embed_dims % cfg['num_attention_heads']:
            raise ValueError(
                f'embed_dims {embed_dims} is not divisible by the Q-Former '
                f"num_attention_heads {cfg['num_attention_heads']}")
        self.qformer_config = Blip2QFormerConfig(
            hidden_size=embed_dims, encoder_hidden_size=embed_dims,
            attn_implementation='sdpa', **cfg)
        self.qformer = Blip2QFormerModel(self.qformer_config)
        self.query_embeds = nn.Parameter(
            torch.zeros(1, num_queries, embed_dims))
        nn.init.normal_(self.query_embeds, std=0.02)

        if isinstance(bank, dict):
            bank = MODELS.build(bank)
        if bank is not None and not isinstance(bank, PrototypeBank):
            raise TypeError('bank must be a PrototypeBank config, a '
                            f'PrototypeBank or None, got {type(bank)}')
        self.bank = bank
        if bank is None:
            print_log(
                'AudioQueryModule runs without a prototype bank (bank=None): '
                'Q = LN(Q_a), no bank refinement (Eq. 4).',
                logger='current', level=logging.WARNING)
        if bank is not None:
            bank.check_dims(in_channels,
                            'AudioQueryModule.in_channels (audio encoder '
                            'width)')
            self.w_q = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
            self.w_k = nn.Linear(in_channels, embed_dims, bias=qkv_bias)
            self.w_v = nn.Linear(in_channels, embed_dims, bias=qkv_bias)
        self.norm = nn.LayerNorm(embed_dims) if (
            bank is not None or final_norm) else nn.Identity()
        self._bank_kv_cache = WeightDerivedCache()

    def train(self, mode: bool = True) -> 'AudioQueryModule':
        """Set the mode and drop the cached bank keys and values."""
        self._bank_kv_cache.clear()
        return super().train(mode)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._bank_kv_cache.clear()
        super()._load_from_state_dict(*args, **kwargs)

    @property
    def with_bank(self) -> bool:
        return self.bank is not None

    def generate_queries(self, tokens: torch.Tensor) -> torch.Tensor:
        """Q-Former step: ``[N, L, D] -> Q_a [N, n, d]``."""
        if tokens.dim() != 3 or tokens.shape[-1] != self.in_channels:
            raise ValueError(
                f'AudioQueryModule expects tokens [N, L, {self.in_channels}],'
                f' got {tuple(tokens.shape)}')
        enc = self.input_proj(tokens)
        queries = self.query_embeds.expand(tokens.shape[0], -1, -1)
        out = self.qformer(
            query_embeds=queries.to(enc.dtype), encoder_hidden_states=enc)
        return out.last_hidden_state

    def bank_key_value(self, dtype: Optional[torch.dtype] = None
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The bank's keys ``M W_K`` and values ``M W_V``, each ``[P, d]``.

        Cached outside autograd while the bank and the two projections are
        unchanged (see the module doc).

        Args:
            dtype (torch.dtype, optional): dtype of the bank fed to the
                projections. Defaults to the bank's.
        """
        if self.bank is None:
            raise RuntimeError('AudioQueryModule has no prototype bank')
        sources = [self.bank.prototypes] + list(self.w_k.parameters()) + \
            list(self.w_v.parameters())

        def compute():
            bank = self.bank()
            bank = bank.to(dtype) if dtype is not None else bank
            return self.w_k(bank), self.w_v(bank)

        return self._bank_kv_cache.get(sources, compute, (dtype, ))

    def refine(self, q_a: torch.Tensor, return_attn: bool = False):
        """Bank cross-attention (Eq. 4): ``Q_a [N, n, d] -> Q [N, n, d]``.

        With ``return_attn`` also the attention ``[N, n, P]`` (computed
        explicitly; otherwise by SDPA).
        """
        if self.bank is None:
            return (self.norm(q_a), None) if return_attn else self.norm(q_a)
        key, value = self.bank_key_value(q_a.dtype)  # [P, d]
        query = self.w_q(q_a)
        if return_attn:
            logits = query @ key.t() / self.embed_dims**0.5
            attn = logits.softmax(dim=-1)  # [N, n, P]
            q = self.norm(q_a + self.gamma * (attn @ value))
            return q, attn
        n = q_a.shape[0]
        out = F.scaled_dot_product_attention(
            query.unsqueeze(1), key.expand(n, 1, *key.shape),
            value.expand(n, 1, *value.shape)).squeeze(1)
        return self.norm(q_a + self.gamma * out)

    def forward(self, tokens: torch.Tensor,
                return_attn: bool = False) -> torch.Tensor:
        """Args:
            tokens (Tensor): audio tokens ``[N, L, D]``.
            return_attn (bool): also return the bank attention ``[N, n, P]``
                (None without bank).

        Returns:
            Tensor: bank-grounded queries ``[N, n, d]``.
        """
        return self.refine(self.generate_queries(tokens), return_attn)
