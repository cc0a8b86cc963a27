# The Python interpreter DDAVS-MM's shell tools run with. Sourced (not run)
# by tools/install.sh, run_tests.sh, run_main_job.sh and dist_*.sh.
#
# ddavs_select_python picks, in this order:
#   1. $PYTHON, if set;
#   2. the active virtual environment ($VIRTUAL_ENV) or conda environment
#      ($CONDA_PREFIX, except conda's `base`);
#   3. the project environment .venv/ at the repository root.
# ddavs_create_venv makes .venv/ from the newest python3.X >= 3.11 on PATH
# (then `python3`), once; later runs reuse it.
# Both set PYTHON, or print one line `error: ...` and exit with status 2.

DDAVS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DDAVS_VENV="$DDAVS_ROOT/.venv"
DDAVS_MIN_PYTHON=3.11  # the pinned numpy/scipy need 3.11

ddavs_die() {
    echo "error: $*" >&2
    exit 2
}

# Prints nothing and succeeds when "$1" is a Python >= DDAVS_MIN_PYTHON.
ddavs_check_version() {
    "$1" -c "import sys; v = tuple(map(int, '$DDAVS_MIN_PYTHON'.split('.')))
sys.exit(0 if sys.version_info[:2] >= v else 1)" 2>/dev/null
}

ddavs_select_python() {
    if [ -n "${PYTHON:-}" ]; then
        command -v "$PYTHON" >/dev/null 2>&1 ||
            ddavs_die "PYTHON=$PYTHON: no such interpreter (unset PYTHON to use the project environment .venv/)"
    elif [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
        PYTHON="$VIRTUAL_ENV/bin/python"
    elif [ -n "${CONDA_PREFIX:-}" ] && [ "${CONDA_DEFAULT_ENV:-}" != base ] &&
            [ -x "$CONDA_PREFIX/bin/python" ]; then
        PYTHON="$CONDA_PREFIX/bin/python"
    elif [ -x "$DDAVS_VENV/bin/python" ]; then
        PYTHON="$DDAVS_VENV/bin/python"
    else
        return 1
    fi
    ddavs_check_version "$PYTHON" || ddavs_die "$PYTHON: Python $("$PYTHON" -c \
'import sys; print(sys.version.split()[0])' 2>/dev/null || echo '?') is too old or does not run \
(DDAVS-MM needs Python >= $DDAVS_MIN_PYTHON)"
    export PYTHON
}

ddavs_create_venv() {
    local candidate base=""
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
                ddavs_check_version "$candidate"; then
            base=$(command -v "$candidate")
            break
        fi
    done
    if [ -z "$base" ]; then
        local found
        found=$(command -v python3 >/dev/null 2>&1 &&
            python3 -c 'import sys; print(sys.version.split()[0])' || echo none)
        ddavs_die "no Python >= $DDAVS_MIN_PYTHON on PATH (python3: $found; install python3.11 or newer, or set PYTHON=/path/to/python)"
    fi
    if ! "$base" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        ddavs_die "$base: the venv module cannot create environments (on Debian/Ubuntu: apt install python3-venv, or python$("$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv)"
    fi
    echo "Creating the project environment $DDAVS_VENV with $base"
    if ! "$base" -m venv "$DDAVS_VENV"; then
        rm -rf "$DDAVS_VENV"
        ddavs_die "$base -m venv $DDAVS_VENV failed (see the message above)"
    fi
    PYTHON="$DDAVS_VENV/bin/python"
    export PYTHON
}
