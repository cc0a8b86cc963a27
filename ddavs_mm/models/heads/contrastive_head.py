"""Contrastive Optimization Module (COM) head of DDAVS (Sec. 3.2, Eqs. 5-6).

Training only. The n queries of the clean waveform, Q, and of its augmented
copy, Q' (same audio encoder and AQM, shared weights), are projected by φ and
ℓ2-normalised: z_i = φ(q_i)/||φ(q_i)||, z'_j likewise. With
s_ij = z_i · z'_j the loss per sample is (Eq. 6)

    L_con = -(1/n) Σ_i log( exp(s_ii/τ) / Σ_j exp(s_ij/τ) ),

averaged over the samples (frames) of the batch.

``negatives='slots'`` (the default) is Eq. 6 and Appendix F ("the remaining
query slots serve as negatives"): the candidates of z_i are the n augmented
queries z'_j of the same sample. With n = 1 there is a single candidate and
the loss is identically 0.

``negatives='batch'`` goes beyond the paper: the candidates of z_i are all
N·n augmented queries of the batch, so the other seconds of the same
recording and the clips of the same class are negatives too.
"""
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from ddavs_mm.registry import MODELS


@MODELS.register_module()
class ContrastiveHead(BaseModule):
    """Projector φ + per-sample InfoNCE over query slots.

    Args:
        in_channels (int): query width d.
        hidden_channels (int, optional): hidden width of φ; defaults to
            ``in_channels``.
        out_channels (int): output width of φ. Defaults to 256.
        num_layers (int): Linear layers in φ (ReLU between). Defaults to 2;
            0 means identity.
        temperature (float): τ. Defaults to 0.07.
        loss_weight (float): λ_con. Defaults to 0.1.
        loss_name (str): Defaults to ``'loss_con'``.
        negatives (str): ``'slots'`` (default, Eq. 6: the other query slots
            of the same sample) or ``'batch'`` (every query of the batch);
            see the module docstring.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 in_channels: int = 768,
                 hidden_channels: Optional[int] = None,
                 out_channels: int = 256,
                 num_layers: int = 2,
                 temperature: float = 0.07,
                 loss_weight: float = 0.1,
                 loss_name: str = 'loss_con',
                 negatives: str = 'slots',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if negatives not in ('slots', 'batch'):
            raise ValueError(
                f"negatives must be 'slots' or 'batch', got {negatives!r}")
        self.negatives = negatives
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        hidden_channels = hidden_channels or in_channels
        layers = []
        dims = [in_channels] + [hidden_channels] * max(num_layers - 1, 0) + \
            [out_channels]
        for i in range(num_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < num_layers - 1:
                layers.append(nn.ReLU(inplace=True))
        self.projector = nn.Sequential(*layers) if layers else nn.Identity()
        self.in_channels = in_channels
        self.temperature = temperature
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        """φ and ℓ2 normalisation (Eq. 5): ``[N, n, d] -> z [N, n, d_out]``."""
        return F.normalize(self.projector(queries), dim=-1)

    def info_nce(self, z: torch.Tensor, z_aug: torch.Tensor) -> torch.Tensor:
        """InfoNCE on normalised embeddings ``[N, n, c]``, mean over N·n.

        With ``negatives='slots'`` the candidates of z_i are the n augmented
        queries of its sample; with ``'batch'`` all N·n of the batch.
        """
        if self.negatives == 'batch':
            flat, flat_aug = z.flatten(0, 1), z_aug.flatten(0, 1)  # [N*n, c]
            sim = flat @ flat_aug.t() / self.temperature
            target = torch.arange(sim.shape[0], device=sim.device)
            return F.cross_entropy(sim.float(), target)
        sim = z @ z_aug.transpose(1, 2) / self.temperature  # [N, n, n]
        n = sim.shape[-1]
        target = torch.arange(n, device=sim.device).expand(sim.shape[0], n)
        return F.cross_entropy(sim.reshape(-1, n).float(), target.reshape(-1))

    def loss(self, queries: torch.Tensor,
             queries_aug: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Args:
            queries (Tensor): clean queries Q ``[N, n, d]``.
            queries_aug (Tensor): augmented queries Q' ``[N, n, d]``.

        Returns:
            dict: ``{loss_name: λ_con · L_con}``.
        """
        if queries.shape != queries_aug.shape or queries.dim() != 3:
            raise ValueError(
                'ContrastiveHead expects two [N, n, d] query sets of equal '
                f'shape, got {tuple(queries.shape)} and '
                f'{tuple(queries_aug.shape)}')
        if queries.shape[0] == 0:
            return {self.loss_name: queries.sum() * 0.}
        loss = self.info_nce(self(queries), self(queries_aug))
        return {self.loss_name: self.loss_weight * loss}
