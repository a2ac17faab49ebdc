#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv.
# Idempotent: a stamp file records the requirement files it was built from.
# ROS 2 wheels are installed only when no ROS is sourced (a car with /opt/ros/<distro>
# sourced keeps its system rclpy; the wheels are never installed over it).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${LADDERSEG_VENV:-.venv}
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

# An interpreter asked for by PYTHON that differs from the venv's rebuilds the venv;
# TORCH_SPEC is part of the stamp, so a new one re-pins torch.
if [ -n "${PYTHON:-}" ] && [ -x "$VENV/bin/python" ]; then
  version() { "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])'; }
  have=$(version "$VENV/bin/python")
  asked=$(version "$PY")
  if [ "$have" != "$asked" ]; then
    echo "$VENV has Python $have, PYTHON=$PY is $asked: rebuilding $VENV"
    rm -rf "$VENV"
  fi
fi
want=$(cat requirements.txt requirements-ros.txt setup.py | sha256sum | cut -c1-16)-${ROS_DISTRO:-wheels}-$TORCH_SPEC
if [ -f "$VENV/.stamp" ] && [ "$(cat "$VENV/.stamp")" = "$want" ]; then
  exit 0
fi
echo "setting up $VENV (python: $($PY --version 2>&1))"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
# Re-pin torch when another version is there (a plain `torch` would pull a CUDA build).
"$VENV/bin/python" -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '${TORCH_SPEC#torch==}')" \
  2>/dev/null || pip install "$TORCH_SPEC"
pip install -r requirements.txt
if [ -n "${ROS_DISTRO:-}" ] && "$VENV/bin/python" -c "import rclpy" 2>/dev/null; then
  echo "using the sourced ROS 2 $ROS_DISTRO (not installing ROS wheels)"
else
  pip install -r requirements-ros.txt
fi
pip install --no-deps --no-build-isolation -e .
echo "$want" > "$VENV/.stamp"
