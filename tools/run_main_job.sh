#!/usr/bin/env bash
# The main job on a fresh machine: install, then train and evaluate DDAVS on
# the built-in synthetic data set on CPU (see tools/main_job.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
PYTHON=${PYTHON:-python}
"$PYTHON" tools/main_job.py "$@"
