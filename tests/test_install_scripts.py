"""The shell scripts that choose, create and fill the Python environment.

``tools/python_env.sh`` picks ``$PYTHON``, an active environment or the
project's ``.venv/``, and creates ``.venv/`` from the newest ``python3.X``
on PATH; ``tools/install.sh`` skips pip when nothing changed. The tests run
copies of the scripts in a scratch repository with stand-in interpreters on
PATH, so nothing is installed.
"""
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _write_exe(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def _fake_python(bin_dir: Path, name: str, version: str,
                 has_venv: bool = True) -> Path:
    """A stand-in interpreter: answers the version and venv probes of
    python_env.sh, makes a venv with a further stand-in, and logs pip."""
    major, minor = version.split('.')[:2]
    log = bin_dir / 'calls.log'
    return _write_exe(bin_dir / name, f"""#!/bin/bash
echo "{name} $*" >> {log}
case "$1" in
  -c)
    case "$2" in
      *ensurepip*) {'exit 0' if has_venv else 'exit 1'} ;;
      *version_info*'>='*)
        {sys.executable} -c "import sys; sys.exit(0 if ({major}, {minor}) \\
>= tuple(map(int, '3.11'.split('.'))) else 1)" ;;
      *sys.prefix*) echo "$(dirname "$(dirname "$0")")" ;;
      *) echo {version} ;;
    esac ;;
  -m)
    if [ "$2" = venv ]; then
      mkdir -p "$3/bin" && cp "$0" "$3/bin/python"
    fi ;;
  -) cat > /dev/null ;;
esac
""")


@pytest.fixture
def repo(tmp_path):
    """A scratch checkout holding the scripts and requirement files."""
    dst = tmp_path / 'repo'
    (dst / 'tools').mkdir(parents=True)
    for name in ('python_env.sh', 'install.sh'):
        shutil.copy(ROOT / 'tools' / name, dst / 'tools' / name)
    shutil.copytree(ROOT / 'requirements', dst / 'requirements')
    shutil.copy(ROOT / 'setup.py', dst / 'setup.py')
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    # bash, coreutils and sha256sum, but no python of the machine
    for tool in ('bash', 'cat', 'cut', 'dirname', 'mkdir', 'cp', 'rm',
                 'sha256sum', 'pwd', 'echo'):
        found = shutil.which(tool)
        if found:
            os.symlink(found, bin_dir / tool)
    return dst, bin_dir


def _run(repo_dir: Path, bin_dir: Path, script: str, **env):
    full_env = {'PATH': str(bin_dir), 'HOME': str(repo_dir.parent)}
    full_env.update(env)
    return subprocess.run(['bash', '-c', script], cwd=repo_dir,
                          env=full_env, capture_output=True, text=True,
                          timeout=60)


SELECT = 'source tools/python_env.sh; ' \
    '{ ddavs_select_python || ddavs_create_venv; } && echo "PY=$PYTHON"'


def test_creates_venv_from_newest_python3(repo):
    repo_dir, bin_dir = repo
    _fake_python(bin_dir, 'python3', '3.11.2')
    _fake_python(bin_dir, 'python3.12', '3.12.1')
    out = _run(repo_dir, bin_dir, SELECT)
    assert out.returncode == 0, out.stderr
    assert f'PY={repo_dir}/.venv/bin/python' in out.stdout
    assert 'python3.12 -m venv' in (bin_dir / 'calls.log').read_text()
    # the second time the existing environment is chosen, none is made
    (bin_dir / 'calls.log').unlink()
    out = _run(repo_dir, bin_dir, SELECT)
    assert f'PY={repo_dir}/.venv/bin/python' in out.stdout
    assert '-m venv' not in (bin_dir / 'calls.log').read_text()


def test_python_variable_and_active_env_win(repo, tmp_path):
    repo_dir, bin_dir = repo
    _fake_python(bin_dir, 'python3', '3.11.2')
    active = tmp_path / 'active'
    (active / 'bin').mkdir(parents=True)
    _fake_python(active / 'bin', 'python', '3.12.0')
    named = _fake_python(tmp_path, 'mypython', '3.13.0')
    out = _run(repo_dir, bin_dir, SELECT, VIRTUAL_ENV=str(active))
    assert f'PY={active}/bin/python' in out.stdout
    out = _run(repo_dir, bin_dir, SELECT, VIRTUAL_ENV=str(active),
               PYTHON=str(named))
    assert f'PY={named}' in out.stdout
    assert not (repo_dir / '.venv').exists()


@pytest.mark.parametrize('case', ['too_old', 'no_venv', 'none', 'bad_var'])
def test_one_line_error_without_usable_python(repo, case):
    repo_dir, bin_dir = repo
    env = {}
    if case == 'too_old':
        _fake_python(bin_dir, 'python3', '3.9.18')
        expected = 'no Python >= 3.11 on PATH (python3: 3.9.18'
    elif case == 'no_venv':
        _fake_python(bin_dir, 'python3', '3.11.2', has_venv=False)
        expected = 'apt install python3-venv'
    elif case == 'none':
        expected = 'no Python >= 3.11 on PATH (python3: none'
    else:
        env['PYTHON'] = '/nowhere/python'
        expected = 'PYTHON=/nowhere/python: no such interpreter'
    out = _run(repo_dir, bin_dir, SELECT, **env)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), out.stderr
    assert expected in lines[0]
    assert not (repo_dir / '.venv').exists()


def test_install_skips_pip_when_nothing_changed(repo):
    repo_dir, bin_dir = repo
    _fake_python(bin_dir, 'python3', '3.11.2')
    out = _run(repo_dir, bin_dir, 'bash tools/install.sh')
    assert out.returncode == 0, out.stderr
    log = bin_dir / 'calls.log'
    assert log.read_text().count('-m pip install') == 1
    out = _run(repo_dir, bin_dir, 'bash tools/install.sh')
    assert out.returncode == 0, out.stderr
    assert 'pip skipped' in out.stdout
    assert log.read_text().count('-m pip install') == 1
    # a changed requirement file installs again
    with open(repo_dir / 'requirements' / 'runtime.txt', 'a') as f:
        f.write('\n# changed\n')
    out = _run(repo_dir, bin_dir, 'bash tools/install.sh')
    assert out.returncode == 0, out.stderr
    assert log.read_text().count('-m pip install') == 2
