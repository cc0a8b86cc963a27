"""Tests of projects/: mmseg/mmpretrain models made audio-aware by config
only with DDAVS parts (projects/audio_aware_mmseg).

For every project config: generate a tiny synthetic MS3 data set, run the
config through mmengine's Runner (what ``tools/train.py`` does) for one
training iteration plus one validation pass, then check that the loss is
finite, that the Cross Alignment Blocks and the unchanged mmseg decode head
were updated, that the trained model's output depends on the audio, and that
a prediction gives one mask per frame at the frame size.
"""
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.structures import BaseDataElement

import ddavs_mm  # noqa: F401  (registers every module)
from ddavs_mm.datasets.synthetic import generate_synthetic_avs
from ddavs_mm.models.heads import CrossAlignmentBlock

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PROJECT = osp.join(ROOT, 'projects', 'audio_aware_mmseg')
CONFIGS = sorted(glob.glob(osp.join(PROJECT, 'configs', '*.py')))
SIZE, FRAMES = 64, 5


@pytest.fixture(scope='module')
def ms3_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic_ms3'))
    generate_synthetic_avs(root, 'ms3', seed=0, num_train=1, num_val=1,
                           num_test=1, size=SIZE, frames=FRAMES,
                           sample_rate=16000)
    return root


@pytest.fixture(scope='module')
def bank_file(tmp_path_factory):
    """A prototype bank built from the single-source segments of a few
    synthetic clips with the project config's own audio encoder (what
    tools/build_prototype_bank.py does)."""
    from ddavs_mm.apis.prototype_bank_builder import build_prototype_bank
    cfg = [c for c in CONFIGS if 'bank' in osp.basename(c)]
    assert cfg, 'no project config with a prototype bank'
    root = str(tmp_path_factory.mktemp('synthetic_ms3_bank'))
    generate_synthetic_avs(root, 'ms3', seed=1, num_train=4, num_val=0,
                           num_test=0, size=SIZE, frames=FRAMES,
                           sample_rate=16000)
    out = str(tmp_path_factory.mktemp('bank') / 'bank.pt')
    build_prototype_bank(cfg[0], 'synthetic', root, split='train', out=out,
                         num_clusters=1, n_init=1, progress=False)
    return out


class _Probe(Hook):
    """Records the parameters of the alignment and the decode head right
    before training (after the runner's weight init), the training losses
    and the val metrics."""

    def __init__(self):
        self.before = None
        self.losses = []
        self.metrics = None

    def before_train(self, runner):
        self.before = {k: v.detach().clone()
                       for k, v in runner.model.named_parameters()
                       if k.startswith(('alignment.', 'decode_head.'))}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses.append(float(outputs['loss'].detach()))

    def after_val_epoch(self, runner, metrics=None):
        self.metrics = metrics


def test_project_files_exist():
    assert osp.isfile(osp.join(PROJECT, 'README.md'))
    assert len(CONFIGS) >= 2, CONFIGS


def _config(path, root, work_dir):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'ddavs_mm'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.batch_size = 1  # one clip (5 frames) per step
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1,
                         val_interval=1)
    # without weight decay a parameter only moves when it got a gradient;
    # constant lr 1e-3 (no warm-up) so one step moves them measurably
    cfg.optim_wrapper.optimizer.weight_decay = 0.0
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    cfg.visualizer.name = f'vis_{osp.basename(path)}'
    return cfg


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.basename(p))
def test_audio_aware_mmseg_trains_one_step(path, ms3_root, tmp_path,
                                           request):
    from mmseg.models.decode_heads.decode_head import BaseDecodeHead
    cfg = _config(path, ms3_root, tmp_path / 'work')
    if cfg.model.audio_query.get('bank') is not None:
        cfg.model.audio_query.bank.bank_path = request.getfixturevalue(
            'bank_file')
    runner = Runner.from_cfg(cfg)
    probe = _Probe()
    runner.register_hook(probe, priority='LOWEST')
    model = runner.train()

    # the model is the configured mmseg/mmpretrain backbone and mmseg head
    head, alignment = model.decode_head, model.alignment
    assert type(head).__name__ == 'DelayedAVAMDecoder'
    assert type(alignment).__name__ == 'StageAlignment'
    assert alignment.fusion_position == 'head'
    assert isinstance(head.mask_decoder, BaseDecodeHead)
    assert type(head.mask_decoder).__module__.startswith('mmseg.')
    assert type(model.backbone).__module__.split('.')[0] in ('mmseg',
                                                             'mmpretrain')
    if cfg.model.audio_query.get('bank') is not None:
        assert model.audio_query.bank is not None

    # one finite training step, one validation pass with finite metrics
    assert len(probe.losses) == 1 and math.isfinite(probe.losses[0])
    assert probe.metrics and all(
        math.isfinite(float(v)) for v in probe.metrics.values()
        if isinstance(v, (int, float)))

    # alignment blocks and the mmseg head were updated
    after = dict(model.named_parameters())
    changed = {k for k, v in probe.before.items()
               if not torch.equal(v, after[k].detach())}
    assert len(alignment.blocks) == len(cfg.model.alignment.inject_stages)
    for name, block in alignment.blocks.items():
        assert isinstance(block, CrossAlignmentBlock)
        assert any(k.startswith(f'alignment.blocks.{name}.')
                   for k in changed), f'alignment block {name} did not change'
    assert 'decode_head.mask_decoder.conv_seg.weight' in changed
    prefix = 'decode_head.mask_decoder.'
    dec = {k for k in changed if k.startswith(prefix)}
    dec_all = {k for k in probe.before if k.startswith(prefix)}
    assert len(dec) > len(dec_all) // 2, sorted(dec_all - dec)

    # prediction: one mask per frame at the frame size, and the output
    # depends on the audio (the zero-initialised blocks were trained)
    model.eval()
    batch = next(iter(runner.val_dataloader))
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        frames = data['inputs']['frames']
        assert frames.shape[-2:] == (SIZE, SIZE)
        samples = [BaseDataElement() for _ in range(frames.shape[0])]
        preds = model.predict(data['inputs'], samples)
        assert preds[0].pred_masks.shape == (FRAMES, SIZE, SIZE)
        assert preds[0].pred_logits.shape == (FRAMES, 1, SIZE, SIZE)
        assert set(preds[0].pred_masks.unique().tolist()) <= {0, 1}
        preds = model.test_step(batch)
        assert preds[0].pred_masks.shape == preds[0].gt_masks.shape
        logits = model(data['inputs'], mode='tensor')
        other = dict(data['inputs'])
        other['audio'] = torch.roll(other['audio'], 1, dims=1) * 0.5 + \
            0.05 * torch.randn_like(other['audio'])
        logits_other = model(other, mode='tensor')
    assert torch.isfinite(logits).all()
    # the frames are identical, so the backbone features are bit-identical;
    # before training the zero-initialised blocks make this difference 0
    diff = (logits - logits_other).abs().max().item()
    assert diff > 1e-6, f'prediction does not depend on the audio ({diff})'


def test_cnn_backbone_needs_head_fusion(tmp_path):
    """A backbone DDAVS cannot run stage by stage (ResNet) is rejected with
    fusion_position='encoder' -- the reason the projects use 'head'."""
    from ddavs_mm.registry import MODELS
    path = [c for c in CONFIGS if 'resnet' in osp.basename(c)][0]
    cfg = Config.fromfile(path)
    cfg.model.audio_query.bank = None
    cfg.model.alignment.fusion_position = 'encoder'
    with pytest.raises(ValueError, match='ResNetV1c cannot be run stage by '
                       'stage.*fusion_position="head"'):
        MODELS.build(cfg.model)


def test_segformer_project_runs_the_encoder_placement_with_stagewise_mit():
    """mmseg's plain MiT is refused for alignment inside the encoder;
    FreezableMixVisionTransformer (same parameters) runs it."""
    from ddavs_mm.registry import MODELS
    path = [c for c in CONFIGS if 'segformer' in osp.basename(c)][0]
    cfg = Config.fromfile(path)
    cfg.model.alignment.fusion_position = 'encoder'
    with pytest.raises(ValueError, match='FreezableMixVisionTransformer'):
        MODELS.build(cfg.model)
    cfg.model.backbone.type = 'FreezableMixVisionTransformer'
    model = MODELS.build(cfg.model).eval()
    assert model.alignment.acts_in_encoder
    inputs = dict(frames=torch.randn(1, 2, 3, SIZE, SIZE),
                  audio=0.1 * torch.randn(1, 2, 16000))
    with torch.no_grad():
        logits = model(inputs, mode='tensor')
    assert logits.shape == (2, 1, SIZE // 4, SIZE // 4)
