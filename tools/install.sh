#!/usr/bin/env bash
# Install DDAVS-MM and its pinned dependencies into the current Python (3.9+).
# The one documented place for the install decisions (see docs/install.md):
#   * mmcv-lite (pure Python) instead of compiling mmcv; ddavs_mm stubs the
#     compiled ops mmseg imports and fails with a clear message if one is called.
#   * exact versions in requirements/constraints.txt, wide ranges in setup.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
"$PYTHON" -m pip install --disable-pip-version-check -q \
    -c requirements/constraints.txt -e ".[tests]"
"$PYTHON" - <<'PY'
import ddavs_mm, mmseg.models, torch, torchaudio, transformers
print(f'ddavs_mm {ddavs_mm.__version__} | torch {torch.__version__} | '
      f'torchaudio {torchaudio.__version__} | transformers {transformers.__version__}')
PY
