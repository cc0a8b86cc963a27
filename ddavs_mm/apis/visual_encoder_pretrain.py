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
``LoadClipFrames`` reads them.

The checkpoint holds ``state_dict`` and ``meta``. Its keys are the
backbone's under ``backbone.`` and the head's level projections and fusion
(``convs``, ``fusion_conv``; not its ``conv_seg`` classifier) under
``head.``. The head is built like the config's mask decoder
(``decode_head.mask_decoder``, same width), so a config loads both::

    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=path,
                                prefix='backbone.'))
    decode_head=dict(mask_decoder=dict(init_cfg=dict(
        type='Pretrained', checkpoint=path, prefix='head.')))

The mask decoder then starts with the fused map that already tells the
objects apart, and only its classifier starts from scratch.
"""
import logging
import os
import os.path as osp
from typing import List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import print_log

from .prototype_bank_builder import (synthetic_sound_label,
                                     synthetic_sound_labels)


def collect_synthetic_object_frames(data_root: str,
                                    split: str = 'train',
                                    by_size_bin: bool = True,
                                    progress: bool = True
                                    ) -> Tuple[np.ndarray, np.ndarray,
                                               List[str]]:
    """Every frame of a synthetic split with a per-pixel object label.

    Args:
        data_root (str): a generated synthetic data set.
        split (str): its split. Defaults to ``'train'``.
        by_size_bin (bool): label objects by (class, size bin), the sound
            they make, instead of by class. Defaults to True.
        progress (bool): show a progress bar (one tick per clip).

    Returns:
        tuple: frames ``uint8 [N, H, W, 3]`` (RGB), labels ``uint8 [N, H,
        W]`` (0 = background, ``1 + synthetic_sound_label(...)`` for an
        object) and the label names (index = label, ``'background'``
        first).

    Raises:
        FileNotFoundError: ``data_root`` is no synthetic data set, or a
            frame file is missing.
        ValueError: the split is empty, or a frame on disk does not match
            the re-rendered clip (the data set changed after generation).
    """
    from mmengine.utils import ProgressBar

    from ddavs_mm.datasets.synthetic import load_info
    from ddavs_mm.datasets.synthetic.generator import iter_rendered_clips
    from ddavs_mm.datasets.transforms.loading import read_rgb_image
    info = load_info(data_root)
    names, num_bins = synthetic_sound_labels(info, by_size_bin)
    if len(names) + 1 > 255:
        raise ValueError(f'{len(names)} labels do not fit uint8 label maps')
    num_clips = sum(c['split'] == split for c in info['clips'])
    if not num_clips:
        raise ValueError(f'{data_root} has no {split!r} clips')
    bar = ProgressBar(num_clips) if progress else None
    frames, labels = [], []
    for rec, scene, maps in iter_rendered_clips(info, split):
        lut = np.zeros(len(scene.instances) + 1, dtype=np.uint8)
        for inst in scene.instances:  # uids are 0..n-1; -1 = background
            lut[inst.uid + 1] = 1 + synthetic_sound_label(
                inst.class_id, inst.size_bin, num_bins, by_size_bin)
        for rel, imap in zip(rec['frame_paths'], maps):
            path = osp.join(data_root, rel)
            img = read_rgb_image(path)
            if img.shape[:2] != imap.shape:
                raise ValueError(
                    f'{path}: frame is {img.shape[:2]} but the clip renders '
                    f'at {imap.shape}; the data set changed after it was '
                    'generated (regenerate it)')
            frames.append(img)
            labels.append(lut[imap.astype(np.int64) + 1])
        if bar is not None:
            bar.update()
    return np.stack(frames), np.stack(labels), ['background'] + list(names)


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
                            progress: bool = True) -> dict:
    """Train ``model.backbone`` of ``config`` to segment the objects.

    A SegFormer-style head (``SegformerMaskDecoder``, ``channels`` wide) on
    the backbone's four levels predicts the label of every pixel; its logits
    are compared with the labels taken every ``label_stride`` pixels (the
    head's own 1/4 grid: no upsampling of the logits). Cross-entropy,
    AdamW, one-cycle schedule, random horizontal flips. The frames are
    normalised with the config's data preprocessor mean/std.

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
        seed (int): seed of initialisation, order and flips.
        progress (bool): show the frame-loading progress bar.

    Returns:
        dict: ``path``, ``num_frames``, ``num_classes``,
        ``train_accuracy`` (foreground pixels labelled right, last epoch)
        and ``losses`` per epoch.
    """
    from ddavs_mm.registry import MODELS
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    if label_stride < 1:
        raise ValueError(f'label_stride must be >= 1, got {label_stride}')
    frames, labels, names = collect_synthetic_object_frames(
        data_root, split, by_size_bin=by_size_bin, progress=progress)
    bb_cfg = cfg.model.backbone.to_dict() if hasattr(
        cfg.model.backbone, 'to_dict') else dict(cfg.model.backbone)
    bb_cfg['init_cfg'] = None  # the file this writes may be the config's
    if bb_cfg.get('frozen_stages'):  # the stages frozen later learn here
        bb_cfg['frozen_stages'] = 0
    torch.manual_seed(seed)
    backbone = MODELS.build(bb_cfg)
    backbone.init_weights()
    dec_cfg = dict(cfg.model.decode_head.get('mask_decoder', None) or {})
    if channels is None:
        channels = dec_cfg.get('channels', 64)
    head = MODELS.build(
        dict(type='SegformerMaskDecoder',
             in_channels=list(cfg.model.decode_head.in_channels),
             channels=channels, num_classes=len(names), dropout_ratio=0.0,
             norm_cfg=dec_cfg.get('norm_cfg', dict(type='BN',
                                                   requires_grad=True)),
             init_cfg=None))
    # normalise as the config's data preprocessor does (its mean/std)
    pre = MODELS.build(cfg.model.get('data_preprocessor', None)
                       or dict(type='AVSDataPreprocessor'))
    mean, std = pre.mean.view(1, 3, 1, 1), pre.std.view(1, 3, 1, 1)
    x_all = torch.from_numpy(frames).permute(0, 3, 1, 2)
    off = label_stride // 2
    y_all = torch.from_numpy(labels[:, off::label_stride, off::label_stride]
                             .astype(np.int64))
    params = list(backbone.parameters()) + list(head.parameters())
    optim = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    steps = epochs * -(-len(x_all) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optim, max_lr=lr, total_steps=steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(seed)
    losses, acc = [], 0.0
    backbone.train()
    head.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x_all), generator=gen)
        total, hits, fg = 0.0, 0, 0
        for start in range(0, len(x_all), batch_size):
            idx = order[start:start + batch_size]
            x = (x_all[idx].float() - mean) / std
            y = y_all[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
            y = torch.where(flip.view(-1, 1, 1), y.flip(-1), y)
            logits = head(list(backbone(x)))
            if logits.shape[-2:] != y.shape[-2:]:
                raise ValueError(
                    f'head output {tuple(logits.shape[-2:])} does not match '
                    f'labels at stride {label_stride} {tuple(y.shape[-2:])}; '
                    'set label_stride to the first level\'s stride')
            loss = F.cross_entropy(logits, y)
            optim.zero_grad()
            loss.backward()
            optim.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            mask = y > 0
            hits += int((logits.argmax(1)[mask] == y[mask]).sum())
            fg += int(mask.sum())
        losses.append(total / len(x_all))
        acc = hits / max(fg, 1)
        print_log(f'visual pretraining epoch {epoch + 1}/{epochs}: loss '
                  f'{losses[-1]:.4f}, foreground pixel accuracy {acc:.3f}',
                  logger='current', level=logging.INFO)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    torch.save(
        dict(state_dict=pretrained_state_dict(backbone, head),
             meta=dict(data_root=data_root, split=split, classes=names,
                       by_size_bin=by_size_bin, epochs=epochs, seed=seed,
                       label_stride=label_stride, train_accuracy=acc,
                       backbone=bb_cfg.get('type'), head_channels=channels)),
        out)
    return dict(path=out, num_frames=len(x_all), num_classes=len(names),
                train_accuracy=acc, losses=losses)
