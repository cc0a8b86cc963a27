"""Lightweight SegFormer-style all-MLP mask decoder D.

mmseg's ``SegformerHead`` with DDAVS's interface: each pyramid level goes
through a 1x1 ConvModule (Linear + BN + ReLU) to ``channels``, is upsampled
to the size of the first (1/4) level, the levels are concatenated, fused by
another 1x1 ConvModule and classified by a 1x1 conv into ``num_classes``
logit maps (1 for binary masks). The modules and their state-dict keys are
``SegformerHead``'s (``convs.{i}``, ``fusion_conv``, ``conv_seg``); the
decoder is called on the list of levels and split into ``fuse`` and
``classify`` so that DDAVS's decoder can add to the fused map.

The fusion is computed in an equivalent, cheaper order (``fuse``): the
fusion conv's weight ``[C, L*C]`` is split into one ``[C, C]`` block per
level, each block is applied to its level *before* upsampling (a 1x1 conv
and bilinear upsampling commute), and the upsampled levels are summed by one
matrix product (``ddavs_mm.models.utils.resize_bilinear``'s matrices, side by
side). The 1/4-size ``L*C``-channel concatenation and its 1x1 conv are never
built. Same values to float rounding (``fuse_concat`` is the reference
order); on 2 CPU cores it takes a fifth of a tiny-DDAVS training step off.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.decode_heads import SegformerHead

from ddavs_mm.registry import MODELS
from ..utils import bilinear_resize_matrix, resize_bilinear


@MODELS.register_module()
class SegformerMaskDecoder(SegformerHead):
    """All-MLP decoder: list of ``[N, C_i, H_i, W_i]`` → ``[N, K, H_0, W_0]``.

    Args:
        in_channels (Sequence[int]): channels of the input levels, all of
            which are used (``in_index`` = every level).
        channels (int): embedding width. Defaults to 256 (768 for MiT-B5).
        num_classes (int): output maps K (1 = binary, predicted as
            ``sigmoid > 0.5``). Defaults to 1.
        dropout_ratio (float): dropout before the classifier.
        norm_cfg (dict): norm of the ConvModules. Defaults to BN.
        act_cfg (dict): activation of the per-level ConvModules; the fusion
            ConvModule uses ReLU, as in ``SegformerHead``. Defaults to ReLU.
        align_corners (bool): for the bilinear upsampling.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (64, 128, 320, 512),
                 channels: int = 256,
                 num_classes: int = 1,
                 dropout_ratio: float = 0.1,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 act_cfg: dict = dict(type='ReLU'),
                 align_corners: bool = False,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', std=0.01, override=dict(name='conv_seg'))):
        in_channels = list(in_channels)
        super().__init__(
            in_channels=in_channels,
            channels=channels,
            num_classes=num_classes,
            # BaseDecodeHead's binary threshold (its predict); DDAVS
            # predicts sigmoid > 0.5 as well
            threshold=0.5 if num_classes == 1 else None,
            in_index=list(range(len(in_channels))),
            # the DDAVS segmentor computes the losses
            loss_decode=[],
            dropout_ratio=dropout_ratio,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            align_corners=align_corners,
            init_cfg=init_cfg)

    def fuse(self, feats: List[torch.Tensor]) -> torch.Tensor:
        """Project, upsample and fuse the levels.

        Args:
            feats (list[Tensor]): ``[N, C_i, H_i, W_i]`` per level, the first
                the largest.

        Returns:
            Tensor: ``[N, channels, H_0, W_0]``, the map the classifier
            reads.
        """
        if len(feats) != len(self.convs):
            raise ValueError(f'SegformerMaskDecoder expects {len(self.convs)} '
                             f'levels, got {len(feats)}')
        fusion = self.fusion_conv
        if fusion.order != ('conv', 'norm', 'act') or \
                type(fusion.conv) is not nn.Conv2d:
            return self.fuse_concat(feats)
        out_h, out_w = feats[0].shape[-2:]
        blocks = fusion.conv.weight.split(self.channels, dim=1)
        total = None
        rows, mats = [], []
        for feat, conv, block in zip(feats, self.convs, blocks):
            # the level's share of the fusion conv, at the level's own size
            x = F.conv2d(conv(feat), block)
            h, w = x.shape[-2:]
            if (h, w) == (out_h, out_w):
                total = x if total is None else total + x
                continue
            # widths now; the heights below, summed with one product
            rows.append(resize_bilinear(x, (h, out_w), self.align_corners))
            mats.append(bilinear_resize_matrix(
                h, out_h, self.align_corners, x.dtype, x.device))
        if rows:
            # sum_i A_i @ x_i as one product: [A_1 .. A_L] @ [x_1; ..; x_L]
            upsampled = torch.cat(mats, dim=1) @ torch.cat(rows, dim=-2)
            total = upsampled if total is None else total + upsampled
        if fusion.conv.bias is not None:
            total = total + fusion.conv.bias.view(1, -1, 1, 1)
        if fusion.with_norm:
            total = fusion.norm(total)
        if fusion.with_activation:
            total = fusion.activate(total)
        return total

    def fuse_concat(self, feats: List[torch.Tensor]) -> torch.Tensor:
        """``fuse`` as mmseg's ``SegformerHead`` writes it (upsample,
        concatenate, 1x1 ConvModule): the reference ``fuse`` equals, and the
        path taken for a fusion ConvModule that is not conv -> norm -> act.

        Args:
            feats (list[Tensor]): ``[N, C_i, H_i, W_i]`` per level.

        Returns:
            Tensor: ``[N, channels, H_0, W_0]``.
        """
        size = feats[0].shape[-2:]
        outs = []
        for feat, conv in zip(feats, self.convs):
            x = conv(feat)
            if x.shape[-2:] != size:
                x = F.interpolate(x, size=size, mode='bilinear',
                                  align_corners=self.align_corners)
            outs.append(x)
        return self.fusion_conv(torch.cat(outs, dim=1))

    def classify(self, fused: torch.Tensor) -> torch.Tensor:
        """``[N, channels, H, W]`` fused map → ``[N, K, H, W]`` logits
        (dropout, then ``conv_seg``: ``BaseDecodeHead.cls_seg``)."""
        return self.cls_seg(fused)

    def forward(self, feats: List[torch.Tensor]) -> torch.Tensor:
        """``classify(fuse(feats))``: ``[N, K, H_0, W_0]`` logits."""
        return self.classify(self.fuse(feats))
