"""Pretrain an audio encoder as a sound classifier on single-source audio.

DDAVS uses HTSAT pretrained on AudioSet, frozen, and builds its prototype
bank with that same frozen encoder. On the built-in synthetic data set no
such weights exist, so the main job first pretrains the tiny HTSAT of the
tiny configs on the synthetic single-source seconds (the analogue of
AudioSet tagging) and saves it in the CLAP checkpoint layout, which
:class:`~ddavs_mm.models.audio_encoders.HTSATAudioEncoder` loads through its
``pretrained`` argument. Bank builder and training then share one encoder.

On the synthetic data set the encoder can instead be pretrained as a
multi-label tagger of *every* second (``mixtures=True``): the target of a
second is the set of sources audible in it, off-screen ones included, as
AudioSet tagging labels real HTSAT's mixtures. The segmentation task hears
mixtures, and an encoder that learnt to name the sounds inside mixtures
hands the Audio Query Module sources it can separate.
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

from ddavs_mm.datasets.single_source_segments import (
    collect_single_source_items, iter_segments, synthetic_sound_label,
    synthetic_sound_labels)


def collect_synthetic_mixture_segments(data_root: str,
                                       split: str,
                                       sample_rate: int,
                                       by_size_bin: bool = False,
                                       progress: bool = True):
    """Every 1-s segment of a synthetic split with its audible sources.

    Args:
        data_root (str): a generated synthetic data set.
        split (str): its split.
        sample_rate (int): rate to resample to (the encoder's).
        by_size_bin (bool): label sounds, (class, size bin) as ``class *
            num_bins + bin``, instead of classes.
        progress (bool): show a progress bar (one tick per clip).

    Returns:
        tuple: waveforms ``[M, S]`` float32, multi-hot targets ``[M, C]``
        float32 (all zero: nothing but background noise), label names.
    """
    from mmengine.utils import ProgressBar

    from ddavs_mm.datasets.synthetic import load_info
    from ddavs_mm.datasets.transforms import LoadAudio
    info = load_info(data_root)
    names, num_bins = synthetic_sound_labels(info, by_size_bin)
    clips = [c for c in info['clips'] if c['split'] == split]
    if not clips:
        raise ValueError(f'no clip in split {split!r} of {data_root}')
    loader = LoadAudio(sample_rate=sample_rate)
    seg = int(sample_rate)
    wavs, targets = [], []
    bar = ProgressBar(len(clips)) if progress else None
    for clip in clips:
        n = int(clip['num_frames'])
        res = loader(dict(clip_id=clip['clip_id'], num_frames=n,
                          audio_paths=[osp.join(data_root,
                                                clip['audio_path'])]))
        wavs.append(res['waveform'].reshape(n, seg))
        y = np.zeros((n, len(names)), np.float32)
        for src in clip['sources']:
            label = synthetic_sound_label(src['class_id'], src['size_bin'],
                                          num_bins, by_size_bin)
            for k, active in enumerate(src['active'][:n]):
                if active:
                    y[k, label] = 1.
        targets.append(y)
        if bar is not None:
            bar.update()
    return (np.concatenate(wavs).astype(np.float32),
            np.concatenate(targets), names)


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
                           mixtures: bool = False,
                           **source_kwargs) -> dict:
    """Train ``model.audio_encoder`` of ``config`` to classify sources.

    A linear classifier on the pooled embedding is trained with the encoder
    (cross-entropy, AdamW); each segment gets a random gain of
    ``±gain_db`` dB so the classes are told apart by timbre, not loudness.
    With ``mixtures=True`` (synthetic source only) every second is a sample
    and the classifier is a multi-label tagger of its audible sources
    (binary cross-entropy; "accuracy" is then the fraction of seconds whose
    set of sources is predicted exactly).

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
        mixtures (bool): multi-label pretraining on every second (see the
            module doc). Defaults to False.
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
    if mixtures:
        if source != 'synthetic':
            raise ValueError('mixtures=True needs the synthetic source (the '
                             'sources audible in each second are known '
                             f'there), got {source!r}')
        extra = sorted(set(source_kwargs) - {'by_size_bin'})
        if extra:
            raise ValueError(f'unexpected arguments {extra}')
        wavs, targets, names = collect_synthetic_mixture_segments(
            data_root, split, sr, progress=progress, **source_kwargs)
        x, y = torch.from_numpy(wavs), torch.from_numpy(targets)
        num_classes = len(names)
    else:
        items, names, _ = collect_single_source_items(
            source, data_root, split, **source_kwargs)
        wavs, labels = [], []
        for wav, class_id, _ in iter_segments(
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
            if mixtures:
                loss = F.binary_cross_entropy_with_logits(logits, y[idx])
                hit = ((logits > 0) == (y[idx] > 0.5)).all(1)
            else:
                loss = F.cross_entropy(logits, y[idx])
                hit = logits.argmax(1) == y[idx]
            optim.zero_grad()
            loss.backward()
            optim.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            correct += int(hit.sum())
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
                       source_kwargs=dict(source_kwargs), mixtures=mixtures,
                       train_accuracy=acc)), out)
    return dict(path=out, num_segments=len(y), num_classes=num_classes,
                train_accuracy=acc, losses=losses)
