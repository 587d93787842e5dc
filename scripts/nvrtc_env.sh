#!/usr/bin/env bash
# Installs NVRTC (CUDA 12.8's run-time compiler) from the `nvidia-cuda-nvrtc-cu12` wheel into a venv
# (no CUDA toolkit, no GPU needed) and prints the folder to put on LD_LIBRARY_PATH, where cudarc's
# dynamic loading finds libnvrtc.so.12. Reused between runs.
set -euo pipefail
venv=${RP_NVRTC_VENV:-$HOME/.cache/rp-nvrtc}
lib="$venv/lib/python3*/site-packages/nvidia/cuda_nvrtc/lib"
if ! ls $lib/libnvrtc.so.12 >/dev/null 2>&1; then
  if ! python3 -m venv --help >/dev/null 2>&1; then
    echo "nvrtc_env: installing python3-venv" >&2
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq python3-venv >&2
  fi
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q "nvidia-cuda-nvrtc-cu12==12.8.*" >&2
fi
echo $lib
