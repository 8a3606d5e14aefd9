#!/usr/bin/env bash
# Sets Atelier up in ./.venv on a fresh machine: the CPU build of torch when there is no GPU (the
# machine's local wheel if it has one; a plain `pip install torch` would pull the multi-GB CUDA
# build), then the package with every extra. `--browser` also installs Debian's chromium for the
# UI tests. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for candidate in python3.11 python3; do command -v "$candidate" >/dev/null && { PY=$candidate; break; }; done
fi
[ -d .venv ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip

# torchvision (Qwen-Image-Edit's Qwen2-VL processor needs it) comes with torch from the same index, the
# build made for that torch; none beside the local CPU wheel: the only torchvision on PyPI links CUDA
# torch, fails to import beside it ('operator torchvision::nms does not exist') and then stops
# transformers importing any model
if ! python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    pip install -q torch torchvision
  elif local_wheel=$(ls /opt/wheels/torch-*+cpu-cp311-*.whl 2>/dev/null | head -1) && [ -n "$local_wheel" ]; then
    pip install -q "$local_wheel"
  else
    pip install -q torch torchvision --index-url https://download.pytorch.org/whl/cpu
  fi
fi
pip install -q -e ".[local,ui,mcp,serve,video,ray,credentials,test]"

if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-color-emoji ffmpeg >/dev/null
  else
    echo "setup: chromium is not installed; the browser tests will be skipped (apt-get install chromium)" >&2
  fi
fi
echo "setup: ready (.venv)" >&2
