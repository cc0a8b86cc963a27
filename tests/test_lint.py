"""The repository passes its linters (ruff.toml, setup.cfg [isort]), as the
pre-commit hooks of CONTRIBUTING.md require, and the linters' exclusions
leave no source file of the repository unchecked."""
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# the folders that hold the repository's Python sources (with setup.py)
SOURCE_DIRS = ('configs', 'ddavs_mm', 'demo', 'projects', 'tests', 'tools')
# generated folders that may sit among them (see .gitignore)
GENERATED_DIRS = ('__pycache__', 'work_dirs', 'outputs')

LINTERS = {
    'ruff': ['ruff', 'check', '.'],
    'isort': ['isort', '--check-only', '--diff', '.'],
}
SHOW_FILES = {
    'ruff': ['ruff', 'check', '--show-files', '.'],
    'isort': ['isort', '--show-files', '.'],
}


def _run(command):
    """Run ``python -m <command>`` at the repository root."""
    return subprocess.run([sys.executable, '-m', *command], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def _source_files():
    files = {osp.join(ROOT, 'setup.py')}
    for top in SOURCE_DIRS:
        for dirpath, dirnames, filenames in os.walk(osp.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if d not in GENERATED_DIRS]
            files.update(
                osp.join(dirpath, f) for f in filenames if f.endswith('.py'))
    return files


@pytest.mark.parametrize('name', list(LINTERS))
def test_repository_is_lint_clean(name):
    command = LINTERS[name]
    proc = _run(command)
    assert proc.returncode == 0, (
        f'`{" ".join(command)}` found problems (fix them, or run '
        f'`pre-commit run --all-files`):\n{proc.stdout}\n{proc.stderr}')


@pytest.mark.parametrize('name', list(SHOW_FILES))
def test_linters_see_every_source_file(name):
    proc = _run(SHOW_FILES[name])
    assert proc.returncode == 0, f'{name}:\n{proc.stdout}\n{proc.stderr}'
    seen = {
        osp.normpath(osp.join(ROOT, line.strip()))
        for line in proc.stdout.splitlines() if line.strip()
    }
    sources = _source_files()
    assert len(sources) > 100, sorted(sources)  # the walk found the tree
    missed = sorted(osp.relpath(f, ROOT) for f in sources - seen)
    assert not missed, (
        f'{name} does not check these files (an exclusion in ruff.toml or '
        f'setup.cfg [isort] is too wide): {missed}')
