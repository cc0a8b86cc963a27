#!/usr/bin/env bash
# Install DDAVS-MM and its pinned dependencies (see docs/install.md).
#
# Into: $PYTHON if set, else the active virtual/conda environment, else the
# project environment .venv/, created here on first use (tools/python_env.sh).
# A later run with unchanged requirements and the same checkout skips pip.
#   * mmcv-lite (pure Python) instead of compiling mmcv; ddavs_mm stubs the
#     compiled ops mmseg imports and fails with a clear message if one is called.
#   * exact versions in requirements/constraints.txt, wide ranges in setup.py.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/python_env.sh
ddavs_select_python || ddavs_create_venv

# What the installed environment was made from: this checkout and its
# requirement files. Kept next to the interpreter's site-packages.
stamp_file="$("$PYTHON" -c 'import sys; print(sys.prefix)')/.ddavs_mm_install"
stamp=$( { pwd; cat setup.py requirements/*.txt; } | sha256sum | cut -d' ' -f1)
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
    echo "DDAVS-MM is installed in $PYTHON (requirements unchanged; pip skipped)"
    exit 0
fi
echo "Installing DDAVS-MM into $PYTHON"
"$PYTHON" -m pip install --disable-pip-version-check -q \
    -c requirements/constraints.txt -e ".[tests]"
"$PYTHON" - <<'PY'
import ddavs_mm, mmseg.models, torch, torchaudio, transformers
print(f'ddavs_mm {ddavs_mm.__version__} | torch {torch.__version__} | '
      f'torchaudio {torchaudio.__version__} | transformers {transformers.__version__}')
PY
# a prefix we cannot write (a system Python named by PYTHON) just re-checks
echo "$stamp" > "$stamp_file" 2>/dev/null || true
