"""The tools end to end: train -> checkpoint -> test, exact resume, and
2-process (gloo) training matching 1 process with twice the batch."""
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG = osp.join(ROOT, 'tests', 'data', 'ddavs_tiny_synthetic_ms3_nobank.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from ddavs_mm.datasets.synthetic import generate_synthetic_avs
    root = str(tmp_path_factory.mktemp('synthetic') / 'ms3')
    generate_synthetic_avs(root, 'ms3', seed=0, num_train=4, num_val=2,
                           num_test=2, size=64, sample_rate=16000)
    return root


def data_options(root: str) -> list:
    return [f'{split}_dataloader.dataset.data_root={root}'
            for split in ('train', 'val', 'test')]


def run_tool(args: list, cwd: str = ROOT) -> subprocess.CompletedProcess:
    # PYTHON: the interpreter of tools/dist_*.sh (tools/python_env.sh)
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1',
               PYTHON=sys.executable)
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def train(work_dir: str, root: str, *extra: str, epochs: int = 2,
          launcher: list = None, config: str = CFG):
    cmd = launcher or [sys.executable, 'tools/train.py', config]
    return run_tool(cmd + [
        '--work-dir', work_dir, '--cfg-options', *data_options(root),
        f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.max_keep_ckpts=5', *extra
    ])


def weights(path: str) -> dict:
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    return ckpt['state_dict']


def test_train_checkpoint_test_round_trip(data_root, tmp_path):
    work = str(tmp_path / 'work')
    train(work, data_root, epochs=1)
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    meta = torch.load(ckpt, map_location='cpu', weights_only=True)
    assert meta['meta']['epoch'] == 1 and 'rng_state' in meta
    out = str(tmp_path / 'metrics.pkl')
    run_tool([sys.executable, 'tools/test.py', CFG, ckpt, '--work-dir',
              str(tmp_path / 'test'), '--out', out, '--show-dir',
              str(tmp_path / 'vis'), '--cfg-options',
              *data_options(data_root),
              'default_hooks.visualization.interval=1'])
    with open(out, 'rb') as f:
        dumped = pickle.load(f)
    assert len(dumped) == 2  # one prediction per test clip
    # the test pipeline resizes the 64x64 data to 128x128; predictions are
    # restored to the frames' own 64x64
    assert dumped[0]['pred_masks'].shape == (5, 64, 64)
    pngs = [p for p in os.listdir(tmp_path / 'vis') if p.endswith('.png')]
    assert len(pngs) == 2


def test_test_tool_names_a_missing_checkpoint(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', CFG, str(tmp_path / 'nope.pth')],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert 'checkpoint file not found' in proc.stderr
    assert 'nope.pth' in proc.stderr


def test_resume_continues_exactly(data_root, tmp_path):
    straight, stopped = str(tmp_path / 'straight'), str(tmp_path / 'stopped')
    train(straight, data_root, epochs=2)
    train(stopped, data_root, epochs=1)  # "interrupted" after epoch 1
    proc = train(stopped, data_root, '--resume', epochs=2)
    assert 'resumed epoch: 1' in proc.stdout + proc.stderr
    a = weights(osp.join(straight, 'epoch_2.pth'))
    b = weights(osp.join(stopped, 'epoch_2.pth'))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # and the run really trained: epoch 1 and epoch 2 weights differ
    first = weights(osp.join(stopped, 'epoch_1.pth'))
    assert any(not torch.equal(first[k], a[k]) for k in a
               if a[k].is_floating_point())


DIST_CFG = osp.join(ROOT, 'tests', 'data', 'ddavs_tiny_dist_check.py')


def test_two_processes_match_one_with_twice_the_batch(data_root, tmp_path,
                                                    monkeypatch):
    one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
    train(one, data_root, 'train_dataloader.batch_size=2', epochs=1,
          config=DIST_CFG)
    monkeypatch.setenv('PORT', str(29500 + os.getpid() % 1000))
    proc = train(two, data_root, 'train_dataloader.batch_size=1', epochs=1,
                 launcher=['bash', 'tools/dist_train.sh', DIST_CFG, '2'])
    assert 'Distributed training: True' in proc.stdout + proc.stderr
    a = weights(osp.join(one, 'epoch_1.pth'))
    b = weights(osp.join(two, 'epoch_1.pth'))
    assert a.keys() == b.keys()
    for key in a:
        if a[key].is_floating_point():
            torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5,
                                       msg=key)


def test_role_coverage_tool(data_root, tmp_path):
    import json

    from mmengine.config import Config

    from ddavs_mm.registry import MODELS
    from ddavs_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    model = MODELS.build(Config.fromfile(CFG).model)
    ckpt = str(tmp_path / 'untrained.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    proc = run_tool([
        sys.executable, 'tools/analysis/synthetic_role_coverage.py', CFG,
        ckpt, '--cfg-options',
        *data_options(data_root)
    ])
    assert '| object role (test) |' in proc.stdout
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    # 2 test clips x 5 frames
    assert res['background']['count'] == 10
    assert res['sounding']['count'] > 0
    for role in res.values():
        assert 0.0 <= role['mean'] <= 1.0
