#!/usr/bin/env bash
# The main job on a fresh machine: install (tools/install.sh), then train and
# evaluate DDAVS on the built-in synthetic data set on CPU (tools/main_job.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
source tools/python_env.sh
ddavs_select_python
"$PYTHON" tools/main_job.py "$@"
