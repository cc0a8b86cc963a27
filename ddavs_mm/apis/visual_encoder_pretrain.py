"""Pretrain a visual encoder to segment the objects of synthetic frames.

DDAVS starts its MiT-B5 from ImageNet weights: before it ever hears a sound,
its features already say *what* is where. The tiny MiT of the synthetic
configs has no such weights, and learning object identity from the sounding
masks alone is the slowest part of training it from scratch (the
mask-pooled stage-4 features of a main-job model name an object's class
barely above chance, docs/archive/main_job_rounds.md). This is the visual
counterpart of :mod:`ddavs_mm.apis.audio_encoder_pretrain`: the backbone of
a config, with a throw-away SegFormer-style head, learns to label every
pixel of the training frames with the object drawn there, (class, size bin)
or class, or background. No sound and no sounding mask is used; the labels
come from re-rendering the clips of the data set's sidecar
(``synthetic_info.json``), the frames themselves are read from disk as
``LoadClipFrames`` reads them
(:class:`~ddavs_mm.datasets.SyntheticObjectFramesDataset`).

The checkpoint holds ``state_dict`` and ``meta``. Its keys are the
backbone's under ``backbone.`` and the head's level projections and fusion
(``convs``, ``fusion_conv``; not its ``conv_seg`` classifier) under
``head.``. The head is built like the config's mask decoder
(``decode_head.mask_decoder``, same width), so a config loads both::

    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=path,
                                prefix='backbone.'))
    decode_head=dict(mask_decoder=dict(init_cfg=dict(
        type='Pretrained', checkpoint=path, prefix='head.',
        ignore_missing=['conv_seg.'])))

The mask decoder then starts with the fused map that already tells the
objects apart, and only its classifier starts from scratch (the strict
``Pretrained`` loader is told so by ``ignore_missing``).
"""
import os
import os.path as osp
from typing import Optional, Union

import torch
from mmengine.config import Config

from ddavs_mm.datasets.single_source_segments import synthetic_sound_labels
from ddavs_mm.engine.pretraining_runner import epoch_means, pretraining_config


def pretrained_state_dict(backbone: torch.nn.Module,
                          head: torch.nn.Module) -> dict:
    """Backbone keys under ``backbone.``, head keys but its classifier
    (``conv_seg``, one logit per pretraining label) under ``head.``."""
    state = {f'backbone.{k}': v.detach().clone()
             for k, v in backbone.state_dict().items()}
    state.update({f'head.{k}': v.detach().clone()
                  for k, v in head.state_dict().items()
                  if not k.startswith('conv_seg.')})
    return state


def pretrain_visual_encoder(config: Union[str, Config],
                            data_root: str,
                            out: str,
                            split: str = 'train',
                            epochs: int = 6,
                            batch_size: int = 32,
                            lr: float = 2e-3,
                            channels: Optional[int] = None,
                            label_stride: int = 4,
                            by_size_bin: bool = True,
                            seed: int = 0,
                            progress: bool = True,
                            work_dir: Optional[str] = None,
                            resume: bool = False,
                            cfg_options: Optional[dict] = None) -> dict:
    """Train ``model.backbone`` of ``config`` to segment the objects.

    An MMEngine Runner trains an
    :class:`~ddavs_mm.models.ObjectSegmentationPretrainer` on a
    :class:`~ddavs_mm.datasets.SyntheticObjectFramesDataset`: a
    SegFormer-style head (``SegformerMaskDecoder``, ``channels`` wide) on
    the backbone's four levels predicts the label of every pixel; its logits
    are compared with the labels taken every ``label_stride`` pixels (the
    head's own 1/4 grid: no upsampling of the logits). Cross-entropy,
    AdamW (weight decay 0.01), one-cycle schedule (10 % warm-up), random
    horizontal flips. The frames are normalised with the config's data
    preprocessor mean/std.

    Args:
        config (str | Config): config with ``model.backbone`` and
            ``model.decode_head.in_channels`` (the backbone's level widths).
        data_root (str): a generated synthetic data set.
        out (str): checkpoint path to write (``.pth``).
        split (str): split to train on. Defaults to ``'train'``.
        epochs (int): passes over the frames. Defaults to 6.
        batch_size (int): frames per step. Defaults to 32.
        lr (float): peak AdamW learning rate. Defaults to 2e-3.
        channels (int, optional): width of the head. Defaults to the
            config's ``decode_head.mask_decoder.channels`` (64 if unset),
            so that the head can initialise the mask decoder.
        label_stride (int): the head's output stride; labels are sampled at
            the centre of each cell. Defaults to 4 (MiT's first stage).
        by_size_bin (bool): (class, size bin) labels instead of classes.
        seed (int): the Runner's seed (initialisation, order and flips).
        progress (bool): show the frame-loading progress bar.
        work_dir (str, optional): the Runner's logs, config and
            checkpoints. Defaults to ``work_dirs/<name of out>``.
        resume (bool): continue from the latest checkpoint in ``work_dir``.
        cfg_options (dict, optional): overrides of the Runner config.

    Returns:
        dict: ``path``, ``num_frames``, ``num_classes``,
        ``train_accuracy`` (foreground pixels labelled right, last epoch;
        the batches' accuracies weighted by batch size) and ``losses`` per
        epoch.
    """
    from ddavs_mm.datasets.synthetic import load_info
    from ddavs_mm.registry import MODELS
    from ..engine import StrictLoadRunner as Runner
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if label_stride < 1:
        raise ValueError(f'label_stride must be >= 1, got {label_stride}')
    names = ['background'] + synthetic_sound_labels(load_info(data_root),
                                                    by_size_bin)[0]
    bb_cfg = cfg.model.backbone.to_dict() if hasattr(
        cfg.model.backbone, 'to_dict') else dict(cfg.model.backbone)
    bb_cfg['init_cfg'] = None  # the file this writes may be the config's
    if bb_cfg.get('frozen_stages'):  # the stages frozen later learn here
        bb_cfg['frozen_stages'] = 0
    dec_cfg = dict(cfg.model.decode_head.get('mask_decoder', None) or {})
    if channels is None:
        channels = dec_cfg.get('channels', 64)
    head = dict(type='SegformerMaskDecoder',
                in_channels=list(cfg.model.decode_head.in_channels),
                channels=channels, num_classes=len(names), dropout_ratio=0.0,
                norm_cfg=dec_cfg.get('norm_cfg', dict(type='BN',
                                                      requires_grad=True)),
                init_cfg=None)
    # normalise as the config's data preprocessor does (its mean/std)
    pre = MODELS.build(cfg.model.get('data_preprocessor', None)
                       or dict(type='AVSDataPreprocessor'))
    model = dict(type='ObjectSegmentationPretrainer', backbone=bb_cfg,
                 head=head, mean=pre.mean.flatten().tolist(),
                 std=pre.std.flatten().tolist())
    dataset = dict(type='SyntheticObjectFramesDataset', data_root=data_root,
                   split=split, by_size_bin=by_size_bin,
                   label_stride=label_stride, progress=progress)
    work_dir = work_dir or osp.join(
        'work_dirs', osp.splitext(osp.basename(out))[0])
    runner = Runner.from_cfg(pretraining_config(
        model, dataset, work_dir, epochs, batch_size,
        dict(type='AdamW', lr=lr, weight_decay=0.01), pct_start=0.1,
        seed=seed, resume=resume, cfg_options=cfg_options))
    runner.train()
    n = len(runner.train_dataloader.dataset)
    bs = runner.train_dataloader.batch_size
    losses = epoch_means(runner, 'loss', n, bs)
    acc = epoch_means(runner, 'accuracy', n, bs)[-1]
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    torch.save(
        dict(state_dict=pretrained_state_dict(runner.model.backbone,
                                              runner.model.head),
             meta=dict(data_root=data_root, split=split, classes=names,
                       by_size_bin=by_size_bin, epochs=epochs, seed=seed,
                       label_stride=label_stride, train_accuracy=acc,
                       backbone=bb_cfg.get('type'), head_channels=channels,
                       work_dir=work_dir)),
        out)
    return dict(path=out, num_frames=n, num_classes=len(names),
                train_accuracy=acc, losses=losses)
