"""Every public config runs its whole cycle.

For each config found by glob (the paper configs
``configs/ddavs_mitb5_htsat_*.py``, ``configs/ablations/*.py``, the tiny
configs ``configs/ddavs_tiny_*.py`` and ``projects/*/configs/*.py``), in one
process, as ``tools/train.py`` and ``tools/test.py`` run it (mmengine's
``Runner.from_cfg``):

1. train one epoch, validate, keep the best checkpoint (by the config's
   ``save_best``);
2. resume from the work dir and train the second epoch;
3. test;
4. segment a clip with the inference API (``ddavs_mm.apis``) from the best
   checkpoint.

The data are small fixture sets in the config's own layout
(``tests/avs_fixtures.py``: S4, MS3, AVSS, VPO; the synthetic generator for
the configs written for ``data/synthetic``). The model is shrunk only where
it is above a CPU budget, and data, pretrained and bank paths point at
fixtures, and the loaders read in the main process; ``tests/cpu_config.py``
lists exactly what is changed. Runtime, hooks, evaluator, schedule (but
``max_epochs`` / ``val_interval``), data pipelines and the other loader
settings are the config's own. A config that cannot run its cycle fails
here.
"""
import copy
import glob
import math
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(__file__))

from avs_fixtures import make_official_layout, tone  # noqa: E402
from cpu_config import (SHRUNK_KEYS, no_workers,  # noqa: E402
                        point_at_fixtures, short_schedule,
                        shrink_model_for_cpu)

import ddavs_mm  # noqa: E402,F401  (registers every module)
from ddavs_mm.engine.hooks import ConsistencyCheckHook  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def public_configs():
    patterns = ('configs/ddavs_mitb5_htsat_*.py', 'configs/ablations/*.py',
                'configs/ddavs_tiny_*.py', 'projects/*/configs/*.py')
    found = []
    for pattern in patterns:
        found += sorted(glob.glob(osp.join(ROOT, pattern)))
    return found


CONFIGS = public_configs()
DATASET_LAYOUTS = dict(AVSBenchS4Dataset='s4', AVSBenchMS3Dataset='ms3',
                       AVSBenchSemanticDataset='avss', VPODataset='vpo')


def data_layout(cfg: Config) -> str:
    """``'s4'`` / ``'ms3'`` / ``'avss'`` / ``'vpo'``, or ``'synthetic-*'``
    for a config written for the synthetic set (``data/synthetic/...``)."""
    dataset = cfg.train_dataloader.dataset
    layout = DATASET_LAYOUTS[dataset.type]
    if 'synthetic' in str(dataset.get('data_root', '')):
        return f'synthetic-{layout}'
    return layout


# -- shared fixtures ----------------------------------------------------------
@pytest.fixture(scope='module')
def data_roots(tmp_path_factory):
    """``layout -> data_root``, each written once on first use."""
    roots = {}

    def get(layout: str) -> str:
        if layout not in roots:
            root = str(tmp_path_factory.mktemp(layout))
            if layout.startswith('synthetic-'):
                from ddavs_mm.datasets.synthetic import generate_synthetic_avs
                generate_synthetic_avs(
                    root, layout.split('-', 1)[1], seed=0, num_train=2,
                    num_val=1, num_test=1, size=64, sample_rate=16000,
                    overwrite=True)
            else:
                make_official_layout(root, layout)
            roots[layout] = root
        return roots[layout]

    return get


@pytest.fixture(scope='module', autouse=True)
def one_process_many_runs():
    """Process-level settings for many short runs in one process; none
    changes what a run computes.

    * one torch thread (two threads on a shared 2-core machine wait on
      each other);
    * librosa's pitch shift compiled (numba) in this process, so every
      data-loader worker forked from it starts warm instead of compiling
      again (a long run pays this once per worker start);
    * the objects of the imports frozen out of the garbage collector:
      mmengine collects garbage at every data set build, which takes a
      second with the heap of torch, transformers and mmseg;
    * mmengine re-formats the config text with yapf (seconds) for every
      log, dump and checkpoint of a run: here the text is only checked to
      parse, what yapf would refuse, and kept as mmengine wrote it.
    """
    import ast
    import gc

    import mmengine.config.config as mm_config

    from ddavs_mm.datasets.transforms import WaveformAugment
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    WaveformAugment(pitch_prob=1.0)(dict(
        waveform=tone(440, 0.5, 16000), sample_rate=16000))
    gc.collect()
    gc.freeze()
    format_code = mm_config.FormatCode

    def parse_only(text, **kwargs):
        ast.parse(text)
        return text, False

    mm_config.FormatCode = parse_only
    yield
    mm_config.FormatCode = format_code
    gc.unfreeze()
    torch.set_num_threads(threads)


class Probe(Hook):
    """Records what a run did: the weights it starts from, its training
    iterations, its validation metrics."""

    priority = 'LOWEST'

    def __init__(self):
        self.start_state = None
        self.iters = 0
        self.val_metrics = []

    def before_train(self, runner):
        self.start_state = {k: v.detach().clone()
                            for k, v in runner.model.state_dict().items()}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        assert all(math.isfinite(float(v)) for v in outputs.values()), \
            outputs
        self.iters += 1

    def after_val_epoch(self, runner, metrics=None):
        self.val_metrics.append(dict(metrics))


def run(cfg: Config) -> tuple:
    runner = Runner.from_cfg(cfg)
    probe = Probe()
    runner.register_hook(probe)
    runner.train()
    return runner, probe


def assert_jf(metrics: dict, where: str) -> None:
    for key in ('J', 'F', 'J&F'):
        assert key in metrics, f'{where}: {sorted(metrics)}'
        assert 0.0 <= metrics[key] <= 100.0, (where, key, metrics[key])


def weights(path: str) -> dict:
    return torch.load(path, map_location='cpu', weights_only=True)


def dataset_classes(cfg: Config, root: str):
    """The train set's class list for a semantic model, else None."""
    if cfg.model.get('mask_mode') != 'semantic':
        return None
    from ddavs_mm.registry import DATASETS
    init_default_scope('ddavs_mm')
    dataset = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset.update(data_root=root, pipeline=[], lazy_init=True)
    return tuple(DATASETS.build(dataset).metainfo['classes'])


@pytest.mark.parametrize(
    'config', CONFIGS, ids=[osp.relpath(c, ROOT) for c in CONFIGS])
def test_config_runs_its_whole_cycle(config, data_roots, tmp_path):
    cfg = Config.fromfile(config)
    shrink_model_for_cpu(cfg)
    short_schedule(cfg, max_epochs=1)
    no_workers(cfg)
    root = data_roots(data_layout(cfg))
    work = str(tmp_path / 'work')
    point_at_fixtures(cfg, root, work, dataset_classes(cfg, root))
    cfg.work_dir = work
    cfg.launcher = 'none'
    save_best = cfg.default_hooks.checkpoint.save_best
    assert save_best == 'J&F', 'public configs keep the best J&F'

    # 1. one epoch, validation, best checkpoint
    first, probe = run(cfg)
    checks = [h for h in first.hooks if isinstance(h, ConsistencyCheckHook)]
    assert len(checks) == 1 and any('save_best' in line
                                    for line in checks[0].report)
    assert first.epoch == 1 and probe.iters == len(first.train_dataloader)
    assert len(probe.val_metrics) == 1
    assert_jf(probe.val_metrics[0], 'validation')
    best = osp.join(work, 'best_J&F_epoch_1.pth')
    assert osp.isfile(best) and osp.isfile(osp.join(work, 'epoch_1.pth'))
    trained = {k: v.detach().clone()
               for k, v in first.model.state_dict().items()}
    saved_1 = weights(osp.join(work, 'epoch_1.pth'))['state_dict']

    # 2. resume from the work dir, train the second epoch
    cfg2 = copy.deepcopy(cfg)
    cfg2.resume = True
    cfg2.train_cfg.max_epochs = 2
    second, probe2 = run(cfg2)
    assert probe2.start_state.keys() == trained.keys()
    for key, value in trained.items():
        assert torch.equal(probe2.start_state[key], value), key
    assert second.epoch == 2
    assert probe2.iters == len(second.train_dataloader)  # epoch 2 only
    assert_jf(probe2.val_metrics[-1], 'validation after resume')
    after = weights(osp.join(work, 'epoch_2.pth'))['state_dict']
    assert any(not torch.equal(saved_1[k], after[k]) for k in after
               if after[k].is_floating_point()), 'epoch 2 changed nothing'

    # 3. test
    assert_jf(second.test(), 'test')

    # 4. inference API from the best checkpoint (of epoch 1 or 2)
    from ddavs_mm.apis import get_num_frames, inference_clip, init_model
    best = second.message_hub.get_info('best_ckpt')
    assert osp.basename(best) in ('best_J&F_epoch_1.pth',
                                  'best_J&F_epoch_2.pth')
    model = init_model(cfg, best)
    frames_t = get_num_frames(cfg)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (frames_t, 40, 48, 3), dtype=np.uint8)
    out = inference_clip(model, frames, tone(330, frames_t, 16000), 16000)
    num_maps = 1 if cfg.model.mask_mode == 'binary' else \
        cfg.model.num_classes
    assert out['pred_masks'].shape == (frames_t, 40, 48)
    assert out['pred_logits'].shape == (frames_t, num_maps, 40, 48)
    assert out['pred_masks'].min() >= 0
    assert out['pred_masks'].max() < max(num_maps, 2)


def test_every_family_of_public_configs_is_found():
    names = [osp.relpath(c, ROOT) for c in CONFIGS]
    assert sum(n.startswith('configs/ddavs_mitb5_htsat_') for n in names) \
        == 6
    assert len([n for n in names if n.startswith('configs/ablations/')]) \
        == len(glob.glob(osp.join(ROOT, 'configs', 'ablations', '*.py')))
    assert any(n.startswith('configs/ddavs_tiny_') for n in names)
    assert any(n.startswith('projects/') for n in names)


def leaves(tree, prefix=''):
    """``{'a.b': value}`` of the non-dict values of a nested dict."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(leaves(value, f'{prefix}{key}.'))
        else:
            out[f'{prefix}{key}'] = value
    return out


def test_shrinking_changes_sizes_only():
    """The paper and ablation models are shrunk in their widths and depths
    only (keys listed in cpu_config.SHRUNK_KEYS); the CPU configs not at
    all."""
    for config in CONFIGS:
        cfg = Config.fromfile(config)
        before = leaves(cfg.model.to_dict())
        notes = shrink_model_for_cpu(cfg)
        after = leaves(cfg.model.to_dict())
        name = osp.relpath(config, ROOT)
        changed = {k for k in before.keys() | after.keys()
                   if before.get(k) != after.get(k)}
        if name.startswith(('configs/ddavs_tiny_', 'projects/')):
            assert not notes and not changed, (name, changed)
        else:
            assert notes and changed, name
            assert changed <= SHRUNK_KEYS, (name, changed - SHRUNK_KEYS)
