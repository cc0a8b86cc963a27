"""The MMEngine Runner set-up shared by the two encoder pretrainings.

``tools/pretrain_audio_encoder.py`` and ``tools/pretrain_visual_encoder.py``
train a model on a data set held in memory for a few epochs with AdamW and a
one-cycle policy. :func:`pretraining_config` writes that as a Runner config
(logging, checkpoints, ``resume``), which the Runner dumps into its
``work_dir``; :func:`epoch_means` reads the per-epoch loss and accuracy back
from the Runner's message hub.

The learning rate follows the one-cycle policy (MMEngine's ``OneCycleLR``,
as :class:`~ddavs_mm.engine.ResumableOneCycleLR`, whose checkpoints resume):
from ``lr / 25`` up to ``lr`` over the first ``pct_start`` of the steps, then
down to ``lr / 25e4``, both along half cosines.
"""
import math
from typing import List, Optional

import numpy as np
from mmengine.config import Config


def pretraining_config(model: dict,
                       dataset: dict,
                       work_dir: str,
                       epochs: int,
                       batch_size: int,
                       optimizer: dict,
                       pct_start: float = 0.3,
                       seed: int = 0,
                       resume: bool = False,
                       num_checkpoints: int = 3,
                       cfg_options: Optional[dict] = None) -> Config:
    """A Runner config that trains ``model`` on ``dataset``.

    Args:
        model (dict): model config (a ``BaseModel`` returning ``loss`` and
            ``accuracy`` in ``'loss'`` mode).
        dataset (dict): training dataset config.
        work_dir (str): logs, the dumped config and checkpoints.
        epochs (int): passes over the data set.
        batch_size (int): samples per step (one process, no workers: the
            data set is in memory).
        optimizer (dict): optimizer config; its ``lr`` is the one-cycle
            peak.
        pct_start (float): share of the cycle spent warming up.
        seed (int): the Runner's seed (initialisation, order, augmentation).
        resume (bool): continue from the latest checkpoint in ``work_dir``.
        num_checkpoints (int): checkpoints kept during the run (evenly
            spaced; the last epoch is always saved).
        cfg_options (dict, optional): overrides merged last (``a.b=value``
            keys, as ``--cfg-options``).

    Returns:
        Config: for ``Runner.from_cfg``.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f'epochs ({epochs}) and batch_size ({batch_size}) '
                         'must be >= 1')
    cfg = Config(dict(
        default_scope='ddavs_mm',
        work_dir=work_dir,
        model=model,
        train_dataloader=dict(
            batch_size=batch_size,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            dataset=dataset),
        train_cfg=dict(by_epoch=True, max_epochs=epochs),
        optim_wrapper=dict(type='OptimWrapper', optimizer=optimizer),
        param_scheduler=dict(
            type='ResumableOneCycleLR', eta_max=optimizer['lr'],
            pct_start=pct_start, by_epoch=True, begin=0, end=epochs,
            convert_to_iter_based=True),
        default_hooks=dict(
            timer=dict(type='IterTimerHook'),
            logger=dict(type='LoggerHook', interval=50),
            param_scheduler=dict(type='ParamSchedulerHook'),
            checkpoint=dict(
                type='AtomicCheckpointHook', by_epoch=True,
                interval=math.ceil(epochs / max(1, num_checkpoints)),
                max_keep_ckpts=1, save_last=True),
            sampler_seed=dict(type='DistSamplerSeedHook')),
        env_cfg=dict(cudnn_benchmark=False,
                     mp_cfg=dict(mp_start_method='fork',
                                 opencv_num_threads=0),
                     dist_cfg=dict(backend='gloo')),
        log_processor=dict(type='LogProcessor', window_size=50,
                           by_epoch=True),
        log_level='INFO',
        randomness=dict(seed=seed),
        load_from=None,
        resume=resume))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def epoch_means(runner, key: str, num_samples: int,
                batch_size: int) -> List[float]:
    """Per-epoch means of a per-batch training value, weighted by batch
    size (the last batch of an epoch may be short).

    Args:
        runner (Runner): a Runner after ``train()``.
        key (str): a value the model returned, e.g. ``'loss'``.
        num_samples (int): data set length.
        batch_size (int): the loader's batch size (``drop_last=False``).

    Returns:
        list[float]: one mean per epoch still in the message hub's history.
    """
    sizes = np.full(math.ceil(num_samples / batch_size), batch_size, float)
    sizes[-1] = num_samples - batch_size * (len(sizes) - 1)
    values = runner.message_hub.get_scalar(f'train/{key}').data[0]
    values = values[len(values) % len(sizes):].reshape(-1, len(sizes))
    return [float(v) for v in (values * sizes).sum(1) / num_samples]

