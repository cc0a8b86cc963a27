"""``tools/train.py CONFIG --preflight``: the tiny synthetic main-job config
on fixture data passes (checks, steps, save, exact resume, estimate) and
leaves nothing behind; a mismatch, a missing file and a resume that does
not restore the saved state each fail with an error that names them."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook

sys.path.insert(0, osp.dirname(__file__))

from avs_fixtures import make_avss, make_official_layout  # noqa: E402
from cpu_config import point_at_fixtures  # noqa: E402

import ddavs_mm  # noqa: E402,F401
from ddavs_mm.engine.preflight import PreflightError  # noqa: E402
from ddavs_mm.engine.preflight import (_first_difference, _iterations,
                                       _validations, preflight_main,
                                       run_preflight)
from ddavs_mm.registry import HOOKS  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_MS3 = osp.join(ROOT, 'configs', 'ddavs_tiny_synthetic_ms3.py')


@pytest.fixture(scope='module')
def ms3_root(tmp_path_factory):
    from ddavs_mm.datasets.synthetic import generate_synthetic_avs
    root = str(tmp_path_factory.mktemp('synthetic_ms3'))
    generate_synthetic_avs(root, 'ms3', seed=0, num_train=12, num_val=3,
                           num_test=1, size=64, sample_rate=16000)
    return root


def data_options(root):
    return [f'{split}_dataloader.dataset.data_root={root}'
            for split in ('train', 'val', 'test')]


def train_tool(*args):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, 'tools/train.py', *args],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def test_preflight_of_the_main_job_config(ms3_root, tmp_path):
    # the config's pretrained encoders and bank, as fixture files
    cfg = Config.fromfile(TINY_MS3)
    files = point_at_fixtures(cfg, ms3_root, str(tmp_path), None)
    model = cfg.model
    options = data_options(ms3_root) + [
        f'model.audio_encoder.pretrained={model.audio_encoder.pretrained}',
        f'model.backbone.init_cfg.checkpoint='
        f'{model.backbone.init_cfg.checkpoint}',
        f'model.decode_head.mask_decoder.init_cfg.checkpoint='
        f'{model.decode_head.mask_decoder.init_cfg.checkpoint}',
        f'model.audio_query.bank.bank_path={model.audio_query.bank.bank_path}'
    ]
    assert len(files) == 3  # audio encoder, visual encoder + head, bank
    work = str(tmp_path / 'work')
    proc = train_tool(TINY_MS3, '--work-dir', work, '--preflight', '4',
                      '--cfg-options', *options)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    report = out[out.index('preflight passed'):]
    for line in (
            'data: 12 train clips, 3 val clips (every file found)',
            'classes: binary model', 'audio: train_dataloader.dataset '
            'loads 16000 Hz', 'frame size: 128x128',
            "save_best: 'J&F' (greater)", 'training: 2 steps of',
            'validation: 2 steps of', 'epoch_1.pth saved',
            'weights and optimizer state restored exactly',
            'iteration 2,'):
        assert line in report, (line, report)
    # 12 clips / (10 per step x 4 processes): 3 clips per process, 1 step
    step = float(re.search(r'training: 2 steps of [\d.]+ s, ([\d.]+) s',
                           report).group(1))
    assert re.search(r'one epoch = 12 clips / \(10 per step x 4 processes\)'
                     rf' = 1 iteration x {step:.2f} s', report), report
    assert 'the schedule (30 epochs, 1 validation)' in report
    # nothing left behind: no checkpoint, no temporary folder
    assert not [f for f in os.listdir(work)
                if f.endswith('.pth') or f.startswith('preflight_')]


def tiny_cfg(name, root, work):
    cfg = Config.fromfile(osp.join(ROOT, name))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root
    cfg.work_dir = work
    return cfg


def test_preflight_stops_at_a_mismatch(tmp_path, capsys):
    root = make_avss(str(tmp_path / 'avss'),  # 4 classes
                     clips=(('t1', 'v2', 'train'), ('v1', 'v2', 'val'),
                            ('e1', 'v2', 'test')))
    cfg = tiny_cfg('configs/ddavs_tiny_synthetic_avss.py', root,
                   str(tmp_path / 'work'))
    assert preflight_main(cfg) == 1
    out = capsys.readouterr().err
    assert 'preflight FAILED before the first step' in out
    assert 'model.num_classes=11' in out and 'has 4 classes' in out


def test_preflight_names_a_missing_file(ms3_root, tmp_path, capsys):
    import shutil
    root = str(tmp_path / 'ms3')
    shutil.copytree(ms3_root, root)
    wavs = osp.join(root, 'ms3_data', 'audio_wav', 'val')
    missing = osp.join(wavs, sorted(os.listdir(wavs))[0])
    os.remove(missing)
    cfg = tiny_cfg('tests/data/ddavs_tiny_synthetic_ms3_nobank.py', root,
                   str(tmp_path / 'work'))
    assert preflight_main(cfg) == 1
    out = capsys.readouterr().err
    assert 'preflight FAILED: build the full train and val data sets ' \
        'failed: FileNotFoundError' in out
    assert missing in out


@HOOKS.register_module()
class _SpoilResumeHook(Hook):
    """Test-only: changes a weight of a resumed run before it trains."""

    def before_train(self, runner):
        if runner.iter > 0:  # resumed
            with torch.no_grad():
                next(runner.model.parameters()).add_(1.0)


def test_preflight_catches_a_resume_that_changes_the_state(tmp_path):
    root = make_official_layout(str(tmp_path / 's4'), 's4')
    cfg = tiny_cfg('configs/ddavs_tiny_synthetic_s4.py', root,
                   str(tmp_path / 'work'))
    cfg.custom_hooks = list(cfg.custom_hooks) + [
        dict(type='_SpoilResumeHook')]
    with pytest.raises(PreflightError,
                       match=r'did not restore the saved state: model\..* '
                       'differs'):
        run_preflight(cfg, train_steps=1, val_steps=1)


def test_epoch_arithmetic():
    # DefaultSampler pads each process to ceil(n / world) clips
    assert _iterations(10, 4, 1, False) == 3
    assert _iterations(10, 4, 2, False) == 2  # 5 clips per process
    assert _iterations(10, 4, 2, True) == 1
    assert _iterations(4732, 8, 8, False) == 74  # 592 clips per process
    # mmengine validates every val_interval epochs and after the last
    assert _validations(dict(max_epochs=120, val_interval=5)) == 24
    assert _validations(dict(max_epochs=7, val_interval=5)) == 2
    assert _validations(dict(max_epochs=12, val_interval=5,
                             val_begin=6)) == 2
    assert _validations(dict(max_epochs=30, val_interval=30)) == 1


def test_first_difference():
    a = dict(state={0: dict(step=torch.tensor(2.), exp_avg=torch.ones(3))},
             param_groups=[dict(lr=0.1, params=[0])])
    b = dict(state={0: dict(step=torch.tensor(2.), exp_avg=torch.ones(3))},
             param_groups=[dict(lr=0.1, params=[0])])
    assert _first_difference(a, b, 'optimizer') is None
    b['state'][0]['exp_avg'][1] = 2.0
    assert _first_difference(a, b, 'optimizer') == \
        'optimizer.state.0.exp_avg'
    b = dict(a, param_groups=[dict(lr=0.2, params=[0])])
    assert _first_difference(a, b, 'o') == 'o.param_groups[0].lr'
    assert 'keys' in _first_difference(dict(x=1), dict(y=1), 'm')
