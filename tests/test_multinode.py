"""Multi-node training, proven on one machine: two "hosts" are two network
namespaces joined by a veth pair; ``tools/dist_train.sh`` runs with
``NNODES=2`` and 2 processes on each, gloo on CPU, and must reach the
weights of one node with 4 processes. Also: the launch scripts run the
interpreter that ``tools/python_env.sh`` chooses, never a bare ``python``.
"""
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch

import ddavs_mm  # noqa: F401  (MMEngine's checkpoint types, weights-only)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DIST_CFG = osp.join(ROOT, 'tests', 'data', 'ddavs_tiny_dist_check.py')


def _netns_unavailable() -> str:
    """Why network namespaces cannot be made here ('' if they can)."""
    if shutil.which('ip') is None:
        return 'ip(8) (iproute2) is not installed'
    if os.geteuid() != 0:
        return 'creating network namespaces needs root'
    probe = f'ddavs-probe-{os.getpid()}'
    proc = subprocess.run(['ip', 'netns', 'add', probe], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        return f'`ip netns add` fails here: {proc.stderr.strip()}'
    subprocess.run(['ip', 'netns', 'del', probe], capture_output=True)
    return ''


def _ip(*args: str) -> None:
    subprocess.run(['ip', *args], check=True, capture_output=True)


@pytest.fixture
def two_hosts():
    """Two namespaces ``A`` (10.213.N.1) and ``B`` (10.213.N.2) linked by a
    veth pair; removed afterwards."""
    reason = _netns_unavailable()
    if reason:
        pytest.skip(reason)
    tag = os.getpid() % 100000
    subnet = f'10.213.{tag % 250}'
    hosts = [dict(ns=f'ddavs-{tag}-{side}', ifname=f'dv{tag}{side}',
                  addr=f'{subnet}.{i + 1}') for i, side in enumerate('ab')]
    try:
        for host in hosts:
            _ip('netns', 'add', host['ns'])
        _ip('link', 'add', hosts[0]['ifname'], 'type', 'veth', 'peer',
            'name', hosts[1]['ifname'])
        for host in hosts:
            _ip('link', 'set', host['ifname'], 'netns', host['ns'])
            _ip('-n', host['ns'], 'addr', 'add', f'{host["addr"]}/24', 'dev',
                host['ifname'])
            _ip('-n', host['ns'], 'link', 'set', host['ifname'], 'up')
            _ip('-n', host['ns'], 'link', 'set', 'lo', 'up')
        yield hosts
    finally:
        for host in hosts:  # deleting a namespace deletes its veth end
            subprocess.run(['ip', 'netns', 'del', host['ns']],
                           capture_output=True)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from ddavs_mm.datasets.synthetic import generate_synthetic_avs
    root = str(tmp_path_factory.mktemp('synthetic') / 'ms3')
    generate_synthetic_avs(root, 'ms3', seed=0, num_train=4, num_val=2,
                           num_test=2, size=64, sample_rate=16000)
    return root


def _train_args(work_dir: str, data_root: str) -> list:
    return ['--work-dir', work_dir, '--cfg-options'] + [
        f'{s}_dataloader.dataset.data_root={data_root}'
        for s in ('train', 'val', 'test')] + [
            'train_cfg.max_epochs=1', 'train_cfg.val_interval=100',
            'train_dataloader.batch_size=1']


def _env(**changes) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1',
               PYTHON=sys.executable)
    env.update(changes)
    return env


def _weights(path: str) -> dict:
    return torch.load(path, map_location='cpu',
                      weights_only=True)['state_dict']


def test_two_nodes_of_two_match_one_node_of_four(two_hosts, data_root,
                                                 tmp_path):
    port = str(20000 + os.getpid() % 20000)
    one = str(tmp_path / 'one')
    # cwd: MMEngine gathers distributed validation results in ./.dist_test
    proc = subprocess.run(
        ['bash', f'{ROOT}/tools/dist_train.sh', DIST_CFG, '4'] +
        _train_args(one, data_root), cwd=tmp_path, env=_env(PORT=port),
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]

    master = two_hosts[0]['addr']
    nodes = []
    for rank, host in enumerate(two_hosts):
        env = _env(NNODES='2', NODE_RANK=str(rank), MASTER_ADDR=master,
                   PORT='29500', GLOO_SOCKET_IFNAME=host['ifname'])
        work = str(tmp_path / f'node{rank}')
        nodes.append(subprocess.Popen(
            ['ip', 'netns', 'exec', host['ns'], 'bash',
             f'{ROOT}/tools/dist_train.sh', DIST_CFG, '2'] +
            _train_args(work, data_root),
            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True))
    outputs = []
    for node in nodes:
        try:
            outputs.append(node.communicate(timeout=900)[0])
        finally:
            if node.poll() is None:
                node.kill()
    for node, out in zip(nodes, outputs):
        assert node.returncode == 0, out[-3000:]
    # one job of world size 4 across the two namespaces (MMEngine logs the
    # world size as "GPU number"), rank 0 on node 0
    assert 'Distributed training: True' in outputs[0]
    assert 'GPU number: 4' in outputs[0]
    a = _weights(osp.join(one, 'epoch_1.pth'))
    b = _weights(osp.join(tmp_path / 'node0', 'epoch_1.pth'))
    assert not osp.exists(tmp_path / 'node1' / 'epoch_1.pth')  # rank 0 saves
    assert a.keys() == b.keys()
    for key in a:
        if a[key].is_floating_point():
            torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6,
                                       msg=key)
        else:
            assert torch.equal(a[key], b[key]), key


def _fake_root(tmp_path, with_venv: bool) -> str:
    """A copy of the launch scripts whose Python prints its arguments."""
    root = tmp_path / 'repo'
    (root / 'tools').mkdir(parents=True)
    for name in ('dist_train.sh', 'dist_test.sh', 'python_env.sh'):
        shutil.copy(osp.join(ROOT, 'tools', name), root / 'tools' / name)
    if with_venv:
        (root / '.venv' / 'bin').mkdir(parents=True)
        fake = root / '.venv' / 'bin' / 'python'
        fake.write_text('#!/bin/sh\n'
                        'case "$1" in -c) exit 0;; esac\n'  # version check
                        'echo "venv-python $*"\n')
        fake.chmod(0o755)
    return str(root)


def test_launch_scripts_use_python_env_not_path_python(tmp_path):
    # a `python` on PATH that must never run
    trap = tmp_path / 'bin'
    trap.mkdir()
    (trap / 'python').write_text('#!/bin/sh\necho "PATH python $*"\n')
    (trap / 'python').chmod(0o755)
    env = dict(os.environ, PATH=f'{trap}:{os.environ["PATH"]}')
    for key in ('PYTHON', 'VIRTUAL_ENV', 'CONDA_PREFIX'):
        env.pop(key, None)
    root = _fake_root(tmp_path, with_venv=True)
    out = subprocess.run(
        ['bash', f'{root}/tools/dist_train.sh', 'cfg.py', '3', '--amp'],
        env=env, capture_output=True, text=True, check=True).stdout
    assert out.startswith('venv-python -m torch.distributed.run ')
    assert '--nproc_per_node=3' in out
    assert out.rstrip().endswith('cfg.py --launcher pytorch --amp')
    # $PYTHON wins over the project environment
    chosen = tmp_path / 'chosen-python'
    chosen.write_text('#!/bin/sh\ncase "$1" in -c) exit 0;; esac\n'
                      'echo "chosen $*"\n')
    chosen.chmod(0o755)
    out = subprocess.run(
        ['bash', f'{root}/tools/dist_test.sh', 'cfg.py', 'x.pth', '2'],
        env=dict(env, PYTHON=str(chosen)), capture_output=True, text=True,
        check=True).stdout
    assert out.startswith('chosen -m torch.distributed.run ')
    assert out.rstrip().endswith('cfg.py x.pth --launcher pytorch')
    # no environment at all: python3 from PATH, still not `python`
    root = _fake_root(tmp_path / 'bare', with_venv=False)
    (trap / 'python3').write_text('#!/bin/sh\necho "python3 $*"\n')
    (trap / 'python3').chmod(0o755)
    out = subprocess.run(
        ['bash', f'{root}/tools/dist_train.sh', 'cfg.py', '1'], env=env,
        capture_output=True, text=True, check=True).stdout
    assert out.startswith('python3 -m torch.distributed.run ')


def _pids_with_env(**wanted) -> list:
    """Processes whose environment holds every ``key=value`` of wanted."""
    pids = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/environ', 'rb') as f:
                env = f.read().split(b'\0')
        except OSError:
            continue
        if all(f'{k}={v}'.encode() in env for k, v in wanted.items()):
            pids.append(int(pid))
    return pids


def test_a_lost_rank_stops_the_job_and_resume_continues(tmp_path):
    """SIGKILL rank 1 of a 2-process job: the launcher stops the job with
    an error, the work dir keeps a complete checkpoint, and --resume
    finishes the run."""
    import signal
    import time
    sys.path.insert(0, osp.join(ROOT, 'tests', 'data'))
    import toy_training
    cfg = tmp_path / 'toy_cfg.py'
    cfg.write_text(toy_training.toy_config_text(ROOT, epochs=40))
    work = str(tmp_path / 'work')
    tag = f'lost-rank-{os.getpid()}'
    env = _env(PORT=str(20000 + (os.getpid() + 7) % 20000),
               DDAVS_TEST_TAG=tag)
    env['PYTHONPATH'] = f'{ROOT}:{ROOT}/tests/data'
    # cwd: MMEngine gathers distributed validation results in ./.dist_test
    cmd = ['bash', f'{ROOT}/tools/dist_train.sh', str(cfg), '2',
           '--work-dir', work]
    job = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 600
        while not osp.exists(osp.join(work, 'last_checkpoint')):
            assert job.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        victims = _pids_with_env(DDAVS_TEST_TAG=tag, RANK='1',
                                 LOCAL_RANK='1')
        assert len(victims) == 1, victims
        os.kill(victims[0], signal.SIGKILL)
        out = job.communicate(timeout=600)[0]
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0
    assert 'ChildFailedError' in out and 'Signal 9 (SIGKILL)' in out
    with open(osp.join(work, 'last_checkpoint')) as f:
        last = f.read().strip()
    stopped_at = torch.load(last, weights_only=True)['meta']['epoch']
    assert stopped_at < 40
    proc = subprocess.run(cmd + ['--resume'], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert f'resumed epoch: {stopped_at}' in proc.stdout
    assert torch.load(osp.join(work, 'epoch_40.pth'),
                      weights_only=True)['meta']['epoch'] == 40
