"""Checkpoints that survive a kill at any instant, and resume that says what
it finds: AtomicCheckpointHook, atomic_file, StrictLoadRunner.load_or_resume.
"""
import itertools
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from ddavs_mm.utils.atomic_file import (atomic_write_bytes,
                                        remove_stale_temporaries)
from ddavs_mm.utils.checkpoint_loading import CheckpointError

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = osp.join(ROOT, 'tests', 'data')
sys.path.insert(0, DATA)
import toy_training  # noqa: E402


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / 'sub' / 'f.bin'
    atomic_write_bytes(path, b'old')
    atomic_write_bytes(path, b'new content')
    assert path.read_bytes() == b'new content'
    assert os.listdir(tmp_path / 'sub') == ['f.bin']


def test_atomic_write_interrupted_before_rename_keeps_old(tmp_path,
                                                          monkeypatch):
    path = tmp_path / 'f.bin'
    atomic_write_bytes(path, b'old')

    def crash(*args):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'replace', crash)
    with pytest.raises(OSError, match='disk full'):
        atomic_write_bytes(path, b'new')
    assert path.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['f.bin']  # the temporary is gone


def test_remove_stale_temporaries_only_touches_its_own(tmp_path):
    for name in ('.epoch_3.pth.tmp-4242', '.last_checkpoint.tmp-7',
                 'epoch_3.pth', '.hidden', 'x.tmp-1'):
        (tmp_path / name).write_bytes(b'x')
    removed = remove_stale_temporaries(str(tmp_path))
    assert sorted(osp.basename(p) for p in removed) == [
        '.epoch_3.pth.tmp-4242', '.last_checkpoint.tmp-7']
    assert sorted(os.listdir(tmp_path)) == ['.hidden', 'epoch_3.pth',
                                            'x.tmp-1']


_RUNNER_IDS = itertools.count()


def _toy_runner(tmp_path, work_dir, epochs=2, **cfg_options):
    from mmengine.config import Config

    from ddavs_mm.engine import StrictLoadRunner
    from ddavs_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg_file = tmp_path / 'toy_cfg.py'
    cfg_file.write_text(toy_training.toy_config_text(ROOT, epochs=epochs))
    cfg = Config.fromfile(str(cfg_file))
    cfg.work_dir = str(work_dir)
    cfg.launcher = 'none'
    # a name of its own: MMEngine keys its logger (and log file) by the
    # experiment name, which otherwise is the config name and the second
    cfg.experiment_name = f'toy_{next(_RUNNER_IDS)}_{os.getpid()}'
    cfg.merge_from_dict(cfg_options)
    return StrictLoadRunner.from_cfg(cfg)


def _log_text(work_dir) -> str:
    text = ''
    for folder, _, files in os.walk(work_dir):
        for name in files:
            if name.endswith('.log'):
                with open(osp.join(folder, name)) as f:
                    text += f.read()
    return text


def test_hook_saves_keeps_and_retires_in_order(tmp_path):
    work = tmp_path / 'work'
    runner = _toy_runner(tmp_path, work, epochs=4)
    runner.train()
    # max_keep_ckpts=1: only the last epoch, plus the best of the 2
    # validations (epochs 2 and 4), and last_checkpoint naming the former
    names = sorted(os.listdir(work))
    ckpts = [n for n in names if n.endswith('.pth')]
    assert 'epoch_4.pth' in ckpts and len(ckpts) == 2
    assert [n for n in ckpts if n.startswith('best_acc_epoch_')]
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_4.pth')
    assert not [n for n in names if '.tmp-' in n]
    # leftovers of a kill: a temporary and a checkpoint due for deletion
    (work / '.epoch_5.pth.tmp-123').write_bytes(b'partial')
    (work / 'epoch_1.pth').write_bytes((work / 'epoch_4.pth').read_bytes())
    runner = _toy_runner(tmp_path, work, epochs=5, resume=True)
    runner.train()
    names = sorted(os.listdir(work))
    assert 'epoch_5.pth' in names and 'epoch_4.pth' not in names
    assert 'epoch_1.pth' not in names and '.epoch_5.pth.tmp-123' not in names


def test_resume_warns_when_the_work_dir_holds_no_checkpoint(tmp_path):
    work = tmp_path / 'empty'
    runner = _toy_runner(tmp_path, work, epochs=1, resume=True)
    runner.train()
    log = _log_text(work)
    assert f'resume: {work} holds no checkpoint to resume' in log
    assert 'training starts from scratch' in log
    assert (work / 'epoch_1.pth').is_file()


def test_resume_refuses_a_last_checkpoint_naming_a_missing_file(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'last_checkpoint').write_text(str(work / 'epoch_9.pth'))
    runner = _toy_runner(tmp_path, work, epochs=1, resume=True)
    with pytest.raises(CheckpointError) as err:
        runner.train()
    assert str(err.value).startswith(f'{work}/epoch_9.pth: named by ')
    assert 'does not exist' in str(err.value)


def test_kill_at_random_instants_then_resume_reaches_the_same_weights(
        tmp_path):
    """SIGKILL training at random times and at every step of a save,
    resume each time: every file stays loadable, last_checkpoint always
    names one, and each round ends with the uninterrupted run's weights,
    EMA, optimizer and scheduler states, bit for bit."""
    cfg = tmp_path / 'toy_cfg.py'
    cfg.write_text(toy_training.toy_config_text(ROOT, epochs=4,
                                                ballast=200000))
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, osp.join(DATA, 'kill_resume_driver.py'), str(cfg),
         str(tmp_path / 'out'), '--kills', '24', '--seed', '0'],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report['straight'] == 'done'
    attempts = [a for r in report['rounds'] for a in r['attempts']]
    killed = [a for a in attempts if a['status'] == 'killed']
    assert all(a['status'] in ('killed', 'done') for a in attempts), attempts
    # the kills happened, in the saves too: 12 in-save plans cycle through
    # the 8 (step, before/after) points; a plan finds no save left to hit
    # when an earlier kill landed late, so not every one fires
    assert len(killed) >= 8
    in_save = {(a['step'], a['when']) for a in killed
               if a['kind'] == 'in_save'}
    assert len(in_save) >= 6, in_save
    for round_ in report['rounds']:
        saved = False
        for attempt in round_['attempts']:
            assert attempt['bad'] == [], attempt
            # once saved, a complete checkpoint is always named
            saved |= attempt['last_checkpoint'] is not None
            assert attempt['last_checkpoint'] is not None or not saved
        assert round_['differences'] == [], round_
        final = round_['attempts'][-1]
        assert final['status'] == 'done' and final['temporaries'] == []
        assert sorted(c for c in final['checkpoints']
                      if not c.startswith('best_')) == ['epoch_4.pth']
        # best files: all complete (checked above); there may be none (a
        # run resumed from a checkpoint saved before a validation skips
        # it) or, besides the recorded one, a newer one whose recording
        # the kill prevented (see docs/reliability.md)
    assert len(report['rounds']) >= 1


def test_checkpoint_written_by_the_hook_loads_weights_only(tmp_path):
    work = tmp_path / 'work'
    _toy_runner(tmp_path, work, epochs=1).train()
    ckpt = torch.load(work / 'epoch_1.pth', weights_only=True)
    assert ckpt['meta']['epoch'] == 1 and 'rng_state' in ckpt
