"""Pretrain an audio encoder as a sound classifier on single-source audio.

DDAVS uses HTSAT pretrained on AudioSet, frozen, and builds its prototype
bank with that same frozen encoder. On the built-in synthetic data set no
such weights exist, so the main job first pretrains the tiny HTSAT of the
tiny configs on the synthetic single-source seconds (the analogue of
AudioSet tagging) and saves it in the CLAP checkpoint layout, which
:class:`~ddavs_mm.models.audio_encoders.HTSATAudioEncoder` loads through its
``pretrained`` argument. Bank builder and training then share one encoder.
"""
import logging
import os
import os.path as osp
from typing import Dict, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import print_log

from .prototype_bank_builder import (collect_single_source_items,
                                     iter_single_source_segments)


def encoder_state_in_clap_layout(encoder: torch.nn.Module
                                 ) -> Dict[str, torch.Tensor]:
    """An :class:`HTSATAudioEncoder` state dict under CLAP key names.

    ``frontend.bn0.*`` becomes ``audio_encoder.batch_norm.*``; the Swin keys
    ``audio_encoder.*`` stay as they are (see ``htsat_checkpoint.py``).
    """
    out = {}
    for key, value in encoder.state_dict().items():
        if key.startswith('frontend.bn0.'):
            out['audio_encoder.batch_norm.' + key[len('frontend.bn0.'):]] = \
                value.detach().clone()
        elif key.startswith('audio_encoder.'):
            out[key] = value.detach().clone()
    return out


def pretrain_audio_encoder(config: Union[str, Config],
                           source: str,
                           data_root: str,
                           out: str,
                           split: str = 'train',
                           epochs: int = 20,
                           batch_size: int = 64,
                           lr: float = 3e-3,
                           gain_db: float = 12.0,
                           seed: int = 0,
                           progress: bool = True,
                           **source_kwargs) -> dict:
    """Train ``model.audio_encoder`` of ``config`` to classify sources.

    A linear classifier on the pooled embedding is trained with the encoder
    (cross-entropy, AdamW); each segment gets a random gain of
    ``±gain_db`` dB so the classes are told apart by timbre, not loudness.

    Args:
        config (str | Config): model config with ``model.audio_encoder``.
        source (str): single-source data (see ``collect_single_source_items``).
        data_root (str): data set root.
        out (str): checkpoint path to write (CLAP layout, ``.pth``).
        split (str): split to train on. Defaults to ``'train'``.
        epochs (int): passes over the segments.
        batch_size (int): segments per step.
        lr (float): AdamW learning rate.
        gain_db (float): random gain range in dB.
        seed (int): seed of initialisation, order and gains.
        progress (bool): show the segment-loading progress bar.
        **source_kwargs: passed to ``collect_single_source_items`` (e.g.
            ``by_size_bin=True`` for the synthetic source: one label per
            distinct sound, so the encoder keeps the pitch that tells a
            large bell from a small one).

    Returns:
        dict: ``path``, ``num_segments``, ``num_classes``, ``train_accuracy``
        (last epoch) and ``losses`` per epoch.
    """
    from ddavs_mm.registry import MODELS
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    enc_cfg = cfg.model.audio_encoder.to_dict() if hasattr(
        cfg.model.audio_encoder, 'to_dict') else dict(cfg.model.audio_encoder)
    enc_cfg.update(frozen=False, pretrained=None, init_cfg=None)
    torch.manual_seed(seed)
    encoder = MODELS.build(enc_cfg)
    sr = int(encoder.frontend.sample_rate)
    items, names, _ = collect_single_source_items(source, data_root, split,
                                                  **source_kwargs)
    wavs, labels = [], []
    for wav, class_id, _ in iter_single_source_segments(
            items, sr, progress=progress):
        wavs.append(wav)
        labels.append(class_id)
    x = torch.from_numpy(np.stack(wavs))
    y = torch.as_tensor(labels, dtype=torch.long)
    num_classes = max(len(names), int(y.max()) + 1)
    head = torch.nn.Linear(encoder.out_channels, num_classes)
    params = list(encoder.parameters()) + list(head.parameters())
    optim = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optim, max_lr=lr, total_steps=epochs * -(-len(y) // batch_size))
    gen = torch.Generator().manual_seed(seed)
    losses, acc = [], 0.0
    encoder.train()
    for epoch in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        total, correct = 0.0, 0
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            gain = 10**((torch.rand(len(idx), 1, generator=gen) * 2 - 1) *
                        gain_db / 20)
            logits = head(encoder.embed(x[idx] * gain))
            loss = F.cross_entropy(logits, y[idx])
            optim.zero_grad()
            loss.backward()
            optim.step()
            sched.step()
            total += float(loss) * len(idx)
            correct += int((logits.argmax(1) == y[idx]).sum())
        losses.append(total / len(y))
        acc = correct / len(y)
        print_log(f'audio pretraining epoch {epoch + 1}/{epochs}: loss '
                  f'{losses[-1]:.4f}, train accuracy {acc:.3f}',
                  logger='current', level=logging.INFO)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    torch.save(
        dict(state_dict=encoder_state_in_clap_layout(encoder),
             meta=dict(source=source, data_root=data_root, split=split,
                       classes=list(names), epochs=epochs, seed=seed,
                       source_kwargs=dict(source_kwargs),
                       train_accuracy=acc)), out)
    return dict(path=out, num_segments=len(y), num_classes=num_classes,
                train_accuracy=acc, losses=losses)
