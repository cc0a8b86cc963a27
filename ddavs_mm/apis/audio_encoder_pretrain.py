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
import os
import os.path as osp
from typing import Dict, Optional, Union

import torch
from mmengine.config import Config

from ddavs_mm.datasets.audio_seconds_dataset import audio_label_names
from ddavs_mm.engine.pretraining_runner import epoch_means, pretraining_config


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


def _sample_rate(enc_cfg: dict) -> int:
    """The rate the encoder's front end expects (built once if the config
    does not say)."""
    from ddavs_mm.registry import MODELS
    rate = (enc_cfg.get('frontend') or {}).get('sample_rate')
    return int(rate or MODELS.build(enc_cfg).frontend.sample_rate)


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
                           work_dir: Optional[str] = None,
                           resume: bool = False,
                           cfg_options: Optional[dict] = None,
                           **source_kwargs) -> dict:
    """Train ``model.audio_encoder`` of ``config`` to classify sources.

    An MMEngine Runner trains an
    :class:`~ddavs_mm.models.AudioTaggingPretrainer` (the encoder with a
    linear classifier on its pooled embedding, random gains of ``±gain_db``
    dB) on an :class:`~ddavs_mm.datasets.AudioSecondsDataset`: AdamW
    (weight decay 1e-4), one-cycle learning rate peaking at ``lr``. With
    ``mixtures=True`` (synthetic source only) every second is a sample and
    the classifier is a multi-label tagger of its audible sources (binary
    cross-entropy; "accuracy" is then the fraction of seconds whose set of
    sources is predicted exactly).

    Args:
        config (str | Config): model config with ``model.audio_encoder``.
        source (str): single-source data (see ``collect_single_source_items``).
        data_root (str): data set root.
        out (str): checkpoint path to write (CLAP layout, ``.pth``).
        split (str): split to train on. Defaults to ``'train'``.
        epochs (int): passes over the segments.
        batch_size (int): segments per step.
        lr (float): AdamW peak learning rate.
        gain_db (float): random gain range in dB.
        seed (int): the Runner's seed (initialisation, order and gains).
        progress (bool): show the segment-loading progress bar.
        mixtures (bool): multi-label pretraining on every second (see the
            module doc). Defaults to False.
        work_dir (str, optional): the Runner's logs, config and
            checkpoints. Defaults to ``work_dirs/<name of out>``.
        resume (bool): continue from the latest checkpoint in ``work_dir``.
        cfg_options (dict, optional): overrides of the Runner config.
        **source_kwargs: passed to ``collect_single_source_items`` (e.g.
            ``by_size_bin=True`` for the synthetic source: one label per
            distinct sound, so the encoder keeps the pitch that tells a
            large bell from a small one).

    Returns:
        dict: ``path``, ``num_segments``, ``num_classes``, ``train_accuracy``
        (last epoch) and ``losses`` per epoch.
    """
    from ..engine import StrictLoadRunner as Runner
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    enc_cfg = cfg.model.audio_encoder.to_dict() if hasattr(
        cfg.model.audio_encoder, 'to_dict') else dict(cfg.model.audio_encoder)
    enc_cfg.update(frozen=False, pretrained=None, init_cfg=None)
    by_size_bin = bool(source_kwargs.pop('by_size_bin', False))
    if (mixtures or by_size_bin) and source != 'synthetic':
        raise ValueError('mixtures and by_size_bin need the synthetic source '
                         f'(its sidecar knows every sound), got {source!r}')
    if mixtures and source_kwargs:
        raise ValueError(f'unexpected arguments {sorted(source_kwargs)}')
    names = audio_label_names(source, data_root, split, mixtures,
                              by_size_bin, source_kwargs)
    dataset = dict(
        type='AudioSecondsDataset', source=source, data_root=data_root,
        split=split, sample_rate=_sample_rate(enc_cfg), mixtures=mixtures,
        by_size_bin=by_size_bin, source_kwargs=source_kwargs,
        progress=progress)
    model = dict(type='AudioTaggingPretrainer', encoder=enc_cfg,
                 num_classes=len(names), multilabel=mixtures,
                 gain_db=gain_db)
    work_dir = work_dir or osp.join(
        'work_dirs', osp.splitext(osp.basename(out))[0])
    runner = Runner.from_cfg(pretraining_config(
        model, dataset, work_dir, epochs, batch_size,
        dict(type='AdamW', lr=lr, weight_decay=1e-4), seed=seed,
        resume=resume, cfg_options=cfg_options))
    runner.train()
    n = len(runner.train_dataloader.dataset)
    bs = runner.train_dataloader.batch_size
    losses = epoch_means(runner, 'loss', n, bs)
    acc = epoch_means(runner, 'accuracy', n, bs)[-1]
    if by_size_bin:
        source_kwargs['by_size_bin'] = True
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    torch.save(
        dict(state_dict=encoder_state_in_clap_layout(runner.model.encoder),
             meta=dict(source=source, data_root=data_root, split=split,
                       classes=list(names), epochs=epochs, seed=seed,
                       source_kwargs=source_kwargs, mixtures=mixtures,
                       train_accuracy=acc, work_dir=work_dir)), out)
    return dict(path=out, num_segments=n, num_classes=len(names),
                train_accuracy=acc, losses=losses)
