#!/usr/bin/env bash
# Install everything from nothing (tools/install.sh: the project environment
# .venv/ unless PYTHON or an active environment says otherwise), then run the
# test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
source tools/python_env.sh
ddavs_select_python
"$PYTHON" -m pytest tests -q -p no:cacheprovider "$@"
