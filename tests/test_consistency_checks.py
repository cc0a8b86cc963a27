"""Tests of the checks run before the first step
(ddavs_mm/engine/consistency_checks.py, ConsistencyCheckHook): each check
passes on parts that fit and, on a mismatch built here, raises an error that
names both sides."""
import copy
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.hooks import CheckpointHook, Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(__file__))

from avs_fixtures import (AVSS_CLASSES, make_avss, make_s4,  # noqa: E402
                          make_vpo_subsets)

import ddavs_mm  # noqa: E402,F401
from ddavs_mm.engine import ConsistencyError  # noqa: E402
from ddavs_mm.engine.consistency_checks import (check_audio, check_bank,
                                                check_classes,
                                                check_frame_sizes,
                                                check_metric, check_save_best,
                                                pipeline_frame_size)
from ddavs_mm.evaluation import JFMetric  # noqa: E402
from ddavs_mm.models.audio_query.prototype_bank import save_bank  # noqa
from ddavs_mm.registry import DATASETS, MODELS, TRANSFORMS  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = osp.join(ROOT, 'configs', '_base_', 'models', 'ddavs_tiny.py')
AUDIO_16K = dict(type='LoadAudio', sample_rate=16000, segment_seconds=1.0)


@pytest.fixture(scope='module', autouse=True)
def scope():
    init_default_scope('ddavs_mm')


def tiny_model(num_classes=1, bank=None, **audio_encoder):
    cfg = copy.deepcopy(Config.fromfile(TINY).model)
    if num_classes > 1:
        cfg.mask_mode = 'semantic'
    cfg.num_classes = num_classes
    cfg.decode_head.mask_decoder.num_classes = num_classes
    cfg.audio_query.bank = bank
    cfg.audio_encoder.update(audio_encoder)
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def binary_model():
    return tiny_model()


@pytest.fixture(scope='module')
def avss_root(tmp_path_factory):
    return make_avss(str(tmp_path_factory.mktemp('avss')))


@pytest.fixture(scope='module')
def s4_root(tmp_path_factory):
    return make_s4(str(tmp_path_factory.mktemp('s4')))


def avss_set(root, pipeline=(AUDIO_16K, ), **kwargs):
    return DATASETS.build(dict(type='AVSBenchSemanticDataset',
                               data_root=root, split='train',
                               pipeline=list(pipeline), **kwargs))


def s4_set(root, pipeline=(AUDIO_16K, ), **kwargs):
    return DATASETS.build(dict(type='AVSBenchS4Dataset', data_root=root,
                               split='train', pipeline=list(pipeline),
                               **kwargs))


# -- classes ------------------------------------------------------------------
def test_classes_match(binary_model, s4_root, avss_root):
    line = check_classes(binary_model, s4_set(s4_root), 'train_dataloader')
    assert 'binary' in line
    model = tiny_model(num_classes=len(AVSS_CLASSES))
    line = check_classes(model, avss_set(avss_root), 'train_dataloader')
    assert '4 output maps = 4 classes' in line


def test_class_count_mismatch_names_both_sides(avss_root):
    model = tiny_model(num_classes=71)
    with pytest.raises(ConsistencyError) as err:
        check_classes(model, avss_set(avss_root), 'train_dataloader.dataset',
                      'configs/x.py')
    msg = str(err.value)
    for part in ('model.num_classes=71', 'configs/x.py', 'outputs 71',
                 'has 4 classes', "'background', 'dog'",
                 'train_dataloader.dataset', 'AVSBenchSemanticDataset',
                 repr(avss_root), "split='train'"):
        assert part in msg, (part, msg)


def test_mask_mode_mismatch_data_set_and_pipeline(binary_model, avss_root,
                                                  s4_root):
    with pytest.raises(ConsistencyError,
                       match=r"predicts binary masks but .* gives semantic "
                       r"masks \(mask_mode='semantic'\)"):
        check_classes(binary_model, avss_set(avss_root), 'val')
    # the pipeline's LoadClipMasks overrides the data set's mode
    forced = [dict(type='LoadClipMasks', mask_mode='semantic'), AUDIO_16K]
    with pytest.raises(ConsistencyError,
                       match=r"LoadClipMasks\(mask_mode='semantic'\)"):
        check_classes(binary_model, s4_set(s4_root, forced), 'train')
    binary_avss = avss_set(avss_root, mask_mode='binary')
    assert 'binary' in check_classes(binary_model, binary_avss, 'train')


# -- metric -------------------------------------------------------------------
def test_metric_mode_and_classes(binary_model):
    assert 'binary logits' in check_metric(binary_model,
                                           JFMetric(mode='avsbench'), 'val')
    with pytest.raises(ConsistencyError,
                       match=r"gives binary logits but val_evaluator "
                       r"\(JFMetric\(mode='avss'\)\) reads semantic"):
        check_metric(binary_model, JFMetric(mode='avss'), 'val_evaluator')
    semantic = tiny_model(num_classes=4)
    with pytest.raises(ConsistencyError, match='reads binary logits'):
        check_metric(semantic, JFMetric(mode='avsbench'), 'test_evaluator')
    with pytest.raises(ConsistencyError,
                       match=r'outputs 4 classes but test_evaluator .* '
                       r'counts 6'):
        check_metric(semantic, JFMetric(mode='vpo', num_classes=6),
                     'test_evaluator')
    assert 'semantic' in check_metric(semantic,
                                      JFMetric(mode='vpo', num_classes=4),
                                      'test_evaluator')


@pytest.mark.parametrize('mode,num_classes', [('avsbench', 1), ('avss', 3),
                                              ('vpo', 3)])
def test_metric_names_are_the_computed_keys(mode, num_classes):
    from mmengine.structures import BaseDataElement
    metric = JFMetric(mode=mode, num_classes=None if mode == 'avsbench'
                      else num_classes)
    sample = BaseDataElement(metainfo=dict(sample_idx=0))
    sample.pred_logits = torch.randn(2, num_classes, 4, 4)
    sample.gt_masks = torch.randint(0, max(num_classes, 2), (2, 4, 4))
    sample.mask_flags = torch.ones(2, dtype=torch.bool)
    metric.process({}, [sample])
    assert tuple(metric.compute_metrics(metric.results)) == \
        metric.metric_names


# -- bank ---------------------------------------------------------------------
def write_bank(path, class_ids, names, width=64):
    g = torch.Generator().manual_seed(0)
    save_bank(path, torch.randn(len(class_ids), width, generator=g),
              class_ids, names)
    return dict(type='PrototypeBank', bank_path=path)


def test_bank_of_the_data_set_passes(avss_root, tmp_path):
    bank = write_bank(str(tmp_path / 'b.pt'), [1, 1, 2, 3], AVSS_CLASSES)
    model = tiny_model(num_classes=4, bank=bank)
    line = check_bank(model, avss_set(avss_root), 'train')
    assert '4 prototypes of d=64' in line and '3 classes' in line


def test_bank_of_another_data_set_names_both(avss_root, tmp_path):
    names = ('background', 'dog', 'cello', 'man')
    path = str(tmp_path / 'other.pt')
    model = tiny_model(num_classes=4, bank=write_bank(path, [1, 2], names))
    with pytest.raises(ConsistencyError) as err:
        check_bank(model, avss_set(avss_root), 'train_dataloader.dataset')
    msg = str(err.value)
    for part in (path, 'model.audio_query.bank', 'built for 4 classes',
                 "class 2 is 'cello' in the bank and 'guitar' in the data",
                 'AVSBenchSemanticDataset', repr(avss_root)):
        assert part in msg, (part, msg)
    # a bank without class names, with class ids beyond the data set's list
    npz = str(tmp_path / 'big.npz')
    save_bank(npz, torch.randn(6, 64), [1, 1, 2, 2, 5, 5])
    model = tiny_model(num_classes=4, bank=dict(type='PrototypeBank',
                                                bank_path=npz))
    with pytest.raises(ConsistencyError,
                       match=r'class ids \[5\] but .* has 4 classes'):
        check_bank(model, avss_set(avss_root), 'train')


def test_bank_width_against_query_module_and_encoder(avss_root, tmp_path):
    bank = write_bank(str(tmp_path / 'b.pt'), [1, 2], AVSS_CLASSES)
    model = tiny_model(num_classes=4, bank=bank)
    # the query module checks the width when it is built; a bank swapped in
    # later (or a module built another way) is caught here
    model.audio_query.in_channels = 32
    with pytest.raises(ConsistencyError,
                       match=r'has d=64 .* query module reads d=32 '
                       r'\(model.audio_query.in_channels\)'):
        check_bank(model, avss_set(avss_root), 'train')
    model.audio_query.in_channels = 64
    model.audio_encoder.out_channels = 96
    with pytest.raises(ConsistencyError,
                       match=r'has d=64 but the audio encoder gives 96-d'):
        check_bank(model, avss_set(avss_root), 'train')


def test_binary_bank_classes_are_not_compared(binary_model, s4_root,
                                              tmp_path):
    bank = write_bank(str(tmp_path / 's4.npy'), [0, 0, 1, 1, 2, 2], None)
    model = tiny_model(bank=bank)
    line = check_bank(model, s4_set(s4_root), 'train')
    assert '3 source classes (not compared' in line
    assert 'none' in check_bank(binary_model, s4_set(s4_root), 'train')


# -- audio --------------------------------------------------------------------
def test_audio_rate_and_segment(binary_model, s4_root):
    line = check_audio(binary_model, s4_set(s4_root), 'train')
    assert '16000 Hz' in line and '16000 samples' in line
    at_32k = [dict(type='LoadAudio', sample_rate=32000)]
    with pytest.raises(ConsistencyError) as err:
        check_audio(binary_model, s4_set(s4_root, at_32k),
                    'train_dataloader.dataset', 'configs/x.py')
    msg = str(err.value)
    for part in ('loads audio at 32000 Hz', 'LoadAudio(sample_rate=32000',
                 'model.audio_encoder.frontend in configs/x.py',
                 'runs at 16000 Hz'):
        assert part in msg, (part, msg)
    enc = binary_model.audio_encoder
    too_long = [dict(type='LoadAudio', sample_rate=16000,
                     segment_seconds=20.0)]
    with pytest.raises(ConsistencyError,
                       match=rf'320000 samples .* at most {enc.max_samples}'):
        check_audio(binary_model, s4_set(s4_root, too_long), 'train')
    too_short = [dict(type='LoadAudio', sample_rate=16000,
                      segment_seconds=0.01)]
    with pytest.raises(ConsistencyError,
                       match=r'160 samples .* n_fft // 2 = 256'):
        check_audio(binary_model, s4_set(s4_root, too_short), 'train')
    with pytest.raises(ConsistencyError, match='has no audio loader'):
        check_audio(binary_model, s4_set(s4_root, []), 'train')


def test_audio_window_of_vpo_against_segments(tmp_path):
    root = make_vpo_subsets(str(tmp_path))
    model = tiny_model(num_classes=22)

    def vpo(seconds):
        # 2 s: within the tiny encoder's limit (2.56 s at 16 kHz)
        return DATASETS.build(dict(
            type='VPODataset', subset='ss', data_root=root, split='train',
            audio_seconds=2.0, pipeline=[dict(
                type='LoadAudio', sample_rate=16000,
                segment_seconds=seconds)]))

    with pytest.raises(ConsistencyError,
                       match=r'keeps 2 s of audio .* cuts 1 frame\(s\) x '
                       r'1 s = 1 s'):
        check_audio(model, vpo(1.0), 'train')
    assert '2-s audio window = 1 segment' in check_audio(model, vpo(2.0),
                                                         'train')


# -- frame sizes --------------------------------------------------------------
def built(*cfgs):
    return [TRANSFORMS.build(c) for c in cfgs]


def test_pipeline_frame_size():
    size, by = pipeline_frame_size(built(dict(type='LoadClipFrames'),
                                         dict(type='ClipResize',
                                              scale=(48, 32))))
    assert size == (32, 48) and 'ClipResize' in by
    size, _ = pipeline_frame_size(built(
        dict(type='ClipShortSideResize', short_side=64),
        dict(type='ClipCenterCrop', crop_size=(40, 56))))
    assert size == (40, 56)
    size, by = pipeline_frame_size(built(
        dict(type='ClipResize', scale=(64, 64), keep_ratio=True)))
    assert size is None and 'keep_ratio=True' in by
    assert pipeline_frame_size(built(dict(type='LoadClipFrames')))[0] is None


def test_frame_sizes_agree_or_error():
    load = dict(type='LoadClipFrames')
    r64 = built(load, dict(type='ClipResize', scale=(64, 64)))
    crop = built(load, dict(type='ClipShortSideResize', short_side=64),
                 dict(type='ClipCenterCrop', crop_size=64))
    line = check_frame_sizes([('train_dataloader', crop, 8),
                              ('val_dataloader', r64, 4)])
    assert '64x64' in line
    r96 = built(load, dict(type='ClipResize', scale=(96, 80)))
    with pytest.raises(ConsistencyError) as err:
        check_frame_sizes([('train_dataloader', crop, 8),
                           ('test_dataloader', r96, 4)])
    msg = str(err.value)
    for part in ('train_dataloader.dataset.pipeline gives 64x64',
                 'ClipCenterCrop(crop_size=(64, 64))',
                 'test_dataloader.dataset.pipeline gives 80x96',
                 'ClipResize(scale=(96, 80)'):
        assert part in msg, (part, msg)
    keep = built(load, dict(type='ClipResize', scale=(64, 64),
                            keep_ratio=True))
    with pytest.raises(ConsistencyError,
                       match=r'val_dataloader stacks 4 clips per batch .* '
                       r'varying size'):
        check_frame_sizes([('val_dataloader', keep, 4)])
    assert 'batch 1' in check_frame_sizes([('val_dataloader', keep, 1)])
    # a pipeline that reads no frames (another model's data) is not sized,
    # even when it stacks several samples and the others are fixed
    assert '64x64' in check_frame_sizes([('train_dataloader', [], 4),
                                         ('val_dataloader', r64, 4)])


# -- save_best ----------------------------------------------------------------
def evaluator(mode='avsbench', prefix=None):
    return Evaluator([JFMetric(mode=mode, prefix=prefix)])


def test_save_best_key_and_rule():
    hook = CheckpointHook(save_best='J&F', rule='greater')
    assert "'J&F' (greater)" in check_save_best(hook, evaluator())
    # mmengine infers 'greater' for mIoU
    assert "'mIoU' (greater)" in check_save_best(
        CheckpointHook(save_best='mIoU'), evaluator('avss'))
    assert 'off' in check_save_best(CheckpointHook(), evaluator())
    with pytest.raises(ConsistencyError) as err:
        check_save_best(CheckpointHook(save_best='auto'), evaluator())
    msg = str(err.value)
    assert "save_best='auto' takes the first key of val_evaluator, 'J'" \
        in msg and "save_best='J&F', rule='greater'" in msg
    # 'auto' with a rule given is fine
    assert "'J' (greater)" in check_save_best(
        CheckpointHook(save_best='auto', rule='greater'), evaluator())


def test_save_best_key_missing_or_without_prefix():
    with pytest.raises(ConsistencyError,
                       match=r"save_best='mIoU' is not a key of "
                       r"val_evaluator, which outputs \['J', 'F', 'J&F'"):
        check_save_best(CheckpointHook(save_best='mIoU', rule='greater'),
                        evaluator('avsbench'))
    with pytest.raises(ConsistencyError, match=r"\['avs/J', 'avs/F'"):
        check_save_best(CheckpointHook(save_best='J&F', rule='greater'),
                        evaluator(prefix='avs'))
    assert 'avs/J&F' in check_save_best(
        CheckpointHook(save_best='avs/J&F', rule='greater'),
        evaluator(prefix='avs'))


def test_save_best_of_an_undeclared_metric_is_left_to_validation():

    class Other:
        prefix = None

    class Ev:
        metrics = [Other()]

    line = check_save_best(CheckpointHook(save_best='acc'), Ev())
    assert 'unknown' in line


# -- the hook in a run --------------------------------------------------------
class CountSteps(Hook):
    priority = 'LOWEST'

    def __init__(self):
        self.steps = 0

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.steps += 1


def test_a_mismatch_stops_the_run_before_its_first_step(tmp_path):
    """A semantic config on a data set with another class list (the issue's
    71-class config on an 11-class set) fails before training."""
    root = make_avss(str(tmp_path / 'avss'),
                     clips=(('t1', 'v2', 'train'), ('v1', 'v2', 'val'),
                            ('e1', 'v2', 'test')))
    cfg = Config.fromfile(osp.join(ROOT, 'configs',
                                   'ddavs_tiny_synthetic_avss.py'))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    count = CountSteps()
    runner.register_hook(count)
    with pytest.raises(ConsistencyError) as err:
        runner.train()
    assert count.steps == 0
    msg = str(err.value)
    n = cfg.model.num_classes
    assert f'model.num_classes={n}' in msg and 'has 4 classes' in msg
    assert 'ddavs_tiny_synthetic_avss.py' in msg and root in msg
