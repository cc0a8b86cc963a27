#!/usr/bin/env bash
# Install everything from nothing, then run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
PYTHON=${PYTHON:-python}
"$PYTHON" -m pytest tests -q -p no:cacheprovider "$@"
