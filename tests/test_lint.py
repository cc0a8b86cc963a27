"""The repository passes its linters (ruff.toml, setup.cfg [isort]), as the
pre-commit hooks of CONTRIBUTING.md require."""
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.mark.parametrize('command', [
    ['ruff', 'check', '.'],
    ['isort', '--check-only', '--diff', '.'],
], ids=['ruff', 'isort'])
def test_repository_is_lint_clean(command):
    proc = subprocess.run([sys.executable, '-m', *command], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        f'`{" ".join(command)}` found problems (fix them, or run '
        f'`pre-commit run --all-files`):\n{proc.stdout}\n{proc.stderr}')
