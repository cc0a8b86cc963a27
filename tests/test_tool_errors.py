"""One-line errors from the tools: ``error: <file>: <problem> (<hint>)`` and
exit status 2 for input errors, full tracebacks for bugs and on request."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from ddavs_mm.utils.tool_errors import (InputError, input_error_message,
                                        run_tool)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG = osp.join(ROOT, 'tests', 'data', 'ddavs_tiny_synthetic_ms3_nobank.py')
GN_CFG = osp.join(ROOT, 'tests', 'data', 'ddavs_tiny_dist_check.py')


def test_input_error_text_and_pickling():
    import pickle
    err = InputError('a/b.wav', 'is silent', 'pass allow_silent=True')
    assert str(err) == 'a/b.wav: is silent (pass allow_silent=True)'
    assert isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.hint == err.hint


class _Payload:
    """Unpickling it would create a file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def _raised(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return e
    raise AssertionError('nothing raised')


def test_which_errors_are_input_errors(tmp_path):
    from ddavs_mm.datasets.transforms.audio import read_wav_mono
    bad = tmp_path / 'bad.wav'
    bad.write_bytes(b'RIFF0000WAVEjunk')
    # a project ValueError naming the file
    msg = input_error_message(_raised(lambda: read_wav_mono(str(bad))))
    assert msg.startswith(f'Corrupt or unreadable audio file {bad}: ')
    # a file-system error anywhere: file name and reason
    missing = tmp_path / 'nope.txt'
    msg = input_error_message(_raised(lambda: open(missing)))
    assert msg == f'{missing}: No such file or directory'
    # a ValueError inside numpy or torch is a bug: keep the traceback
    assert input_error_message(
        _raised(lambda: np.zeros(3).reshape(2, 2))) is None
    assert input_error_message(
        _raised(lambda: torch.zeros(2) @ torch.zeros(3))) is None
    assert input_error_message(_raised(lambda: 1 / 0)) is None


class _WavDataset(torch.utils.data.Dataset):

    def __init__(self, path, transform=None):
        self.path, self.transform = path, transform

    def __len__(self):
        return 2

    def __getitem__(self, index):
        from ddavs_mm.datasets.transforms.audio import read_wav_mono
        if self.transform is not None:
            return self.transform(dict(audio_paths=[self.path], num_frames=2))
        return read_wav_mono(self.path)[0]


def test_errors_from_dataloader_workers_are_unwrapped(tmp_path):
    bad = tmp_path / 'bad.wav'
    bad.write_bytes(b'not audio at all')
    loader = torch.utils.data.DataLoader(_WavDataset(str(bad)),
                                         num_workers=1)
    err = _raised(lambda: next(iter(loader)))
    assert 'DataLoader worker process 0' in str(err)  # torch re-wrapped it
    assert input_error_message(err).startswith(
        f'Corrupt or unreadable audio file {bad}: ')
    # an InputError raised in a worker keeps its one line
    import soundfile as sf

    from ddavs_mm.datasets.transforms.audio import LoadAudio
    short = tmp_path / 'short.wav'
    sf.write(str(short), np.full(8000, 0.1, np.float32), 16000)
    loader = torch.utils.data.DataLoader(
        _WavDataset(str(short), LoadAudio(16000, short_audio='error')),
        num_workers=1)
    err = _raised(lambda: next(iter(loader)))
    assert input_error_message(err) == (
        f'{short}: audio ends 1.50 s before the 2.00 s its clip needs from '
        f'0.00 s (use a complete file, or LoadAudio short_audio="warn" to '
        f'zero-pad it)')


def test_run_tool_exit_status_and_debug(capsys, monkeypatch):
    monkeypatch.delenv('DDAVS_DEBUG', raising=False)

    def bad_input():
        raise InputError('x.pth', 'is empty (0 bytes)', 'use another')

    with pytest.raises(SystemExit) as exit_:
        run_tool(bad_input, argv=[])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == \
        'error: x.pth: is empty (0 bytes) (use another)\n'
    with pytest.raises(InputError):  # --debug: the exception itself
        run_tool(bad_input, argv=['--debug'])
    monkeypatch.setenv('DDAVS_DEBUG', '1')
    with pytest.raises(InputError):
        run_tool(bad_input, argv=[])
    monkeypatch.delenv('DDAVS_DEBUG')
    with pytest.raises(ZeroDivisionError):  # a bug is never shortened
        run_tool(lambda: 1 / 0, argv=[])


# --------------------------------------------------------------------------
# the tools themselves
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from ddavs_mm.datasets.synthetic import generate_synthetic_avs
    root = str(tmp_path_factory.mktemp('synthetic') / 'ms3')
    generate_synthetic_avs(root, 'ms3', seed=0, num_train=2, num_val=2,
                           num_test=2, size=64, sample_rate=16000)
    return root


@pytest.fixture(scope='module')
def own_checkpoint(tmp_path_factory):
    return _model_checkpoint(CFG, tmp_path_factory.mktemp('own'))


def _model_checkpoint(config, folder):
    from mmengine.config import Config

    from ddavs_mm.registry import MODELS
    from ddavs_mm.utils import register_all_modules
    register_all_modules()
    path = str(folder / 'model.pth')
    state = MODELS.build(Config.fromfile(config).model).state_dict()
    torch.save({'state_dict': state, 'meta': {}}, path)
    return path


def tool(args, data_root=None, **env_changes):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    env.pop('DDAVS_DEBUG', None)
    env.update(env_changes)
    if data_root is not None:
        args = args + ['--cfg-options'] + [
            f'{s}_dataloader.dataset.data_root={data_root}'
            for s in ('train', 'val', 'test')]
    return subprocess.run([sys.executable] + args, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def last_line(proc) -> str:
    return proc.stderr.strip().splitlines()[-1]


def test_test_tool_one_line_for_an_empty_checkpoint(tmp_path, data_root):
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    proc = tool(['tools/test.py', CFG, str(empty), '--work-dir',
                 str(tmp_path / 'work')], data_root)
    assert proc.returncode == 2
    assert last_line(proc) == (
        f'error: {empty}: is empty (0 bytes) (its writing was interrupted: '
        f'use another checkpoint)')
    assert 'Traceback' not in proc.stderr


def test_test_tool_refuses_pickled_code_with_the_torch_override(
        tmp_path, data_root):
    marker = tmp_path / 'code_ran'
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'meta': _Payload(str(marker))}, path)
    proc = tool(['tools/test.py', CFG, path, '--work-dir',
                 str(tmp_path / 'work')], data_root,
                TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1')
    assert proc.returncode == 2
    assert last_line(proc).startswith(
        f'error: {path}: holds a pickled posix.system that weights-only '
        f'loading refuses')
    assert not marker.exists()


def test_test_tool_strict_by_default_no_strict_on_request(tmp_path,
                                                          data_root):
    other = _model_checkpoint(GN_CFG, tmp_path)  # GroupNorm for BatchNorm
    proc = tool(['tools/test.py', CFG, other, '--work-dir',
                 str(tmp_path / 'work')], data_root)
    assert proc.returncode == 2
    line = last_line(proc)
    assert line.startswith(f'error: {other}: does not fit the model: ')
    assert '25 missing (decode_head.mask_decoder.convs.0.bn.weight' in line
    assert '10 unexpected (decode_head.mask_decoder.convs.0.gn.weight' in line
    assert 'pass --no-strict' in line
    proc = tool(['tools/test.py', CFG, other, '--no-strict',
                 '--work-dir', str(tmp_path / 'work')], data_root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'not loaded:' in proc.stdout
    assert '| decode_head.mask_decoder.convs.0.bn.running_var' in proc.stdout
    assert 'J&F' in proc.stdout


def test_data_error_in_a_loader_worker_is_one_line(tmp_path, data_root,
                                                   own_checkpoint):
    """A corrupt frame fails in a DataLoader worker; torch re-raises it in
    the main process inside 40 lines of worker traceback."""
    import shutil
    root = tmp_path / 'ms3'
    shutil.copytree(data_root, root)
    frame = sorted(
        osp.join(d, f) for d, _, fs in os.walk(root) for f in fs
        if 'visual_frames' in d and '_test_' in f)[0]
    with open(frame, 'wb') as f:
        f.write(b'not a png')
    proc = tool(['tools/test.py', CFG, own_checkpoint, '--work-dir',
                 str(tmp_path / 'work'), '--cfg-options',
                 'test_dataloader.num_workers=1'] +
                [f'{s}_dataloader.dataset.data_root={root}'
                 for s in ('train', 'val', 'test')])
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert last_line(proc) == \
        f'error: Corrupt or unreadable frame image: {frame}'
    assert 'Traceback' not in proc.stderr


def test_train_tool_resume_from_a_missing_file(tmp_path):
    nope = tmp_path / 'nope.pth'
    proc = tool(['tools/train.py', CFG, '--resume', str(nope),
                 '--work-dir', str(tmp_path / 'w')])
    assert proc.returncode == 2
    assert last_line(proc) == (
        f'error: {nope}: --resume: checkpoint file not found (check the '
        f'path; --resume without a value resumes from the latest '
        f'checkpoint of the work dir)')
