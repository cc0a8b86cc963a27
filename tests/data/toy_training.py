"""A tiny regression model, data set and metric for runner-level tests.

Trains in milliseconds per step on a CPU, yet has what makes an exact
resume hard: dropout (random state), BatchNorm buffers, AdamW state, an LR
schedule, EMA weights (when the config adds EMAHook) and a validation
metric for best checkpoints. ``ballast`` adds a parameter that only makes
checkpoints bigger (its gradient is zero), so that saves take long enough
for a kill to land inside them.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, METRICS, MODELS
from torch.utils.data import Dataset


@DATASETS.register_module()
class ToyRegressionDataset(Dataset):
    """``size`` samples ``x ~ N(0, 1)^dim``, ``y = x . w + noise``."""

    def __init__(self, size: int = 16, dim: int = 8, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(size, dim, generator=gen)
        weight = torch.randn(dim, 1, generator=gen)
        self.y = self.x @ weight + 0.1 * torch.randn(size, 1, generator=gen)
        self.metainfo = dict(name='toy')

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=self.x[index], target=self.y[index])


@MODELS.register_module()
class ToyRegressor(BaseModel):
    """Linear -> BatchNorm -> ReLU -> Dropout -> Linear."""

    def __init__(self, dim: int = 8, hidden: int = 32, ballast: int = 0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.fc1 = nn.Linear(dim, hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(hidden, 1)
        self.ballast = nn.Parameter(torch.zeros(ballast)) if ballast \
            else None

    def forward(self, inputs: Sequence[torch.Tensor],
                target: Optional[Sequence[torch.Tensor]] = None,
                mode: str = 'tensor'):
        x = torch.stack(list(inputs))
        out = self.fc2(self.drop(F.relu(self.bn(self.fc1(x)))))
        if self.ballast is not None:
            out = out + 0.0 * self.ballast.sum()
        if mode == 'tensor':
            return out
        y = torch.stack(list(target))
        if mode == 'loss':
            return dict(loss=F.mse_loss(out, y))
        return [dict(sq_err=float((o - t).pow(2).sum())) for o, t in
                zip(out, y)]


@METRICS.register_module()
class ToyAccuracy(BaseMetric):
    """``acc = 1 / (1 + mean squared error)`` (higher is better)."""

    def process(self, data_batch, data_samples: List[dict]) -> None:
        self.results.extend(d['sq_err'] for d in data_samples)

    def compute_metrics(self, results: list) -> dict:
        return dict(acc=1.0 / (1.0 + sum(results) / len(results)))


def toy_config_text(root: str, epochs: int = 8, ballast: int = 0,
                    max_keep_ckpts: int = 1) -> str:
    """A config (``.py`` text) that trains :class:`ToyRegressor` with the
    repository's default runtime (its checkpoint hook, RNG state hook) plus
    EMA, a validation every 2 epochs and a checkpoint every epoch."""
    return f'''
_base_ = [{root + '/configs/_base_/default_runtime.py'!r}]
custom_imports = dict(imports=['toy_training'], allow_failed_imports=False)
model = dict(type='ToyRegressor', ballast={ballast})
train_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ToyRegressionDataset', size=16))
val_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ToyRegressionDataset', size=8, seed=1))
val_evaluator = dict(type='ToyAccuracy')
train_cfg = dict(by_epoch=True, max_epochs={epochs}, val_interval=2)
val_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=0.01))
param_scheduler = [dict(type='CosineAnnealingLR', T_max={epochs},
                        by_epoch=True, convert_to_iter_based=True)]
default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts={max_keep_ckpts},
                    save_best='auto'),
    logger=dict(interval=1))
custom_hooks = [dict(type='RNGStateHook'),
                dict(type='EMAHook', momentum=0.2, priority=49)]
visualizer = dict(_delete_=True, type='Visualizer',
                  vis_backends=[dict(type='LocalVisBackend')])
env_cfg = dict(dist_cfg=dict(backend='gloo'))
'''
