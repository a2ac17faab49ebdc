#!/usr/bin/env bash
# GPU check (issue 13): inference frames/s of ldn121 and ldn121_ss at 1024x448 and 2048x1024
# in fp32, channels_last, fp16/bf16 and CUDA graphs, and one training step at 2048x1024
# batch 2 (time, peak memory), as one table. Fits an 8-minute run; downloads nothing.
#
#   bench/gpu_check.sh              # on a machine with torch + CUDA
#   bench/gpu_check.sh --dry-run    # any CPU, seconds: tiny model, small sizes
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the package without installing it
[ -x "$PY" ] || PY=python3
# 7.5 minutes at most, so that the table (or what was reached of it) comes back in 8.
exec timeout --signal=INT 450 "$PY" bench/gpu_check.py "$@"
