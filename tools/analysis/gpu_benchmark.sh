#!/usr/bin/env bash
# All GPU measurements of the fast-DDAVS work in a few stages, each well
# inside a 10-minute command, writing JSON and logs to OUT_DIR.
#
#   bash tools/analysis/gpu_benchmark.sh OUT_DIR STAGE [--smoke]
#
# Files: OUT_DIR/log.txt (everything printed) and one JSON per measurement
# (at most 7 files for `all`). A CPU smoke run of compiled + dynamic took
# 25 minutes on a loaded 2-core machine; on the GPU machine's 16 cores
# compilation is several times faster, but keep each stage its own command.
# Stages (run them as separate commands on a device with a time limit, or
# `all` where there is none):
#   infer     paper config, bf16: eager (bf16 autocast) vs fast path (bf16
#             weights, SDPA, folded BNs and alignment attention) vs the
#             floors SegFormer-B5 + HTSAT and MiT-B5 + HTSAT, B=1 x T=5 and
#             32 clips x 5 frames, no compilation, torch.profiler summary
#             (kernel launches per call); then the fast path without the
#             folded attention (eager / fast / floor again)      ~2-3 min
#   compiled  eager / fast / SegFormer floor with torch.compile and CUDA
#             graphs (fixed shapes) at B=1 and at 32 clips; compile +
#             warm-up times in the JSON                          ~4-7 min
#   dynamic   the same at 32 clips compiled with a dynamic batch size and
#             no CUDA graphs (what tools/test.py --fast uses)    ~3-5 min
#   train     paper config, 8 clips x 5 frames, bf16 AMP, frozen HTSAT:
#             variants base / fused AdamW / with_cp / compile (frames/s,
#             peak memory), the data-wait share with 8 loader workers on
#             synthetic 224x224 / 16 kHz clips, and the training pipeline's
#             clips/s per worker                                 ~4-6 min
#   all       the four in a row
# --smoke runs every stage on the tiny config on the CPU with few iterations
# (a check of the script itself; numbers meaningless).
#
# Packages: the device image has torch, transformers and opencv but not the
# OpenMMLab stack or the audio packages. Download their wheels on the CPU
# side first (needs the package index):
#   bash tools/analysis/gpu_benchmark.sh .whl wheels
# (.whl must be ignored by git: echo /.whl/ >> .git/info/exclude), carry
# `.whl`, and the stages install them to /tmp/site before running.
set -euo pipefail

OUT=${1:?usage: gpu_benchmark.sh OUT_DIR STAGE [--smoke]}
STAGE=${2:?usage: gpu_benchmark.sh OUT_DIR STAGE [--smoke]}
SMOKE=${3:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

if [ "$STAGE" = wheels ]; then
    # versions as installed here (requirements/constraints.txt pins most)
    mkdir -p "$OUT"
    PKGS=$("$PY" - <<'EOF'
import importlib.metadata as md
names = ['mmengine', 'mmcv-lite', 'mmsegmentation', 'addict', 'termcolor',
         'yapf', 'platformdirs', 'prettytable', 'wcwidth', 'ftfy',
         'pedalboard', 'soundfile', 'cffi', 'pycparser', 'librosa',
         'audioread', 'decorator', 'pooch', 'soxr', 'av']
print(' '.join(f'{n}=={md.version(n)}' for n in names))
EOF
)
    for spec in $PKGS; do
        "$PY" -m pip download -q --no-deps --only-binary=:all: \
            --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
            --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d "$OUT" "$spec" || "$PY" -m pip download -q --no-deps \
            --only-binary=:all: -d "$OUT" "$spec"
    done
    ls "$OUT"
    exit 0
fi

mkdir -p "$OUT"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$ROOT
else
    export PYTHONPATH=$ROOT:${PYTHONPATH:-}
fi

if [ "$SMOKE" = --smoke ]; then
    CFG=configs/ddavs_tiny_synthetic_ms3.py
    DEV=cpu; DTYPE=fp32; BIG=2; ITERS=2; WARM=1; TRAIN_B=2
    TRAIN_VARIANTS="base fused with_cp"; LOADER_STEPS=2; WORKERS=1
    SYN=4; CLIPS=3; EXTRA=(--threads 1)
else
    CFG=configs/ddavs_mitb5_htsat_ms3.py
    DEV=cuda; DTYPE=bf16; BIG=32; ITERS=30; WARM=5; TRAIN_B=8
    TRAIN_VARIANTS="base fused with_cp compile"; LOADER_STEPS=30; WORKERS=8
    SYN=64; CLIPS=64; EXTRA=()
fi
BENCH=(tools/analysis/benchmark.py "$CFG" --device "$DEV" --dtype "$DTYPE"
       --eager-amp --dummy-bank 23,5 --batch-size "$BIG" --iters "$ITERS"
       --warmup "$WARM" "${EXTRA[@]}")

{
    echo "== $(date -u +%FT%TZ) stage $STAGE $SMOKE"
    "$PY" -c 'import torch; print("torch", torch.__version__, "cuda",
torch.cuda.is_available() and torch.cuda.get_device_name(0))'
    nvidia-smi --query-gpu=name,driver_version,memory.total \
        --format=csv,noheader 2>/dev/null || true
} 2>&1 | tee -a "$OUT/log.txt"

run() {  # run NAME CMD...: append to OUT/log.txt, keep going on failure
    local name=$1; shift
    echo "== $name: $*" | tee -a "$OUT/log.txt"
    if ! "$@" 2>&1 | tee -a "$OUT/log.txt"; then
        echo "!! $name failed" | tee -a "$OUT/log.txt"
    fi
}

stage_infer() {
    run infer "$PY" "${BENCH[@]}" --profile --out "$OUT/infer.json"
    run infer_nofold "$PY" "${BENCH[@]}" --no-fold \
        --components eager fast floor --out "$OUT/infer_nofold.json"
}

stage_compiled() {
    # CUDA graphs, fixed shapes: B=1 and B=BIG (each shape compiles once)
    run compiled_fixed "$PY" "${BENCH[@]}" --compile fixed \
        --components eager fast floor --out "$OUT/compiled_fixed.json"
}

stage_dynamic() {
    # varying batch: no CUDA graphs, dynamic batch dimension
    run compiled_dynamic "$PY" "${BENCH[@]}" --compile dynamic \
        --mode throughput --components eager fast floor \
        --out "$OUT/compiled_dynamic.json"
}

stage_train() {
    run train "$PY" tools/analysis/benchmark_train.py "$CFG" --device "$DEV" \
        --make-synthetic "$SYN" --dummy-bank 23,5 --batch-size "$TRAIN_B" \
        --variants $TRAIN_VARIANTS --iters "$ITERS" --warmup "$WARM" \
        --loader-steps "$LOADER_STEPS" --num-workers "$WORKERS" \
        --out "$OUT/train.json"
    run data "$PY" tools/analysis/benchmark_data.py "$CFG" \
        --make-synthetic "$SYN" --clips "$CLIPS" --out "$OUT/data.json"
}

case "$STAGE" in
    infer) stage_infer ;;
    compiled) stage_compiled ;;
    dynamic) stage_dynamic ;;
    train) stage_train ;;
    all) stage_infer; stage_compiled; stage_dynamic; stage_train ;;
    *) echo "unknown stage $STAGE (infer, compiled, dynamic, train, all," \
            "wheels)"
       exit 2 ;;
esac
echo "== done: $(ls "$OUT")"
