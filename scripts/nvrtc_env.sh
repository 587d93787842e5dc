#!/usr/bin/env bash
# Installs NVRTC (CUDA 12.8's run-time compiler) from the `nvidia-cuda-nvrtc-cu12` wheel into a venv
# (no CUDA toolkit, no GPU needed) and prints the folder to put on LD_LIBRARY_PATH, where cudarc's
# dynamic loading finds libnvrtc.so.12. Reused between runs.
set -euo pipefail
venv=${RP_NVRTC_VENV:-$HOME/.cache/rp-nvrtc}
lib="$venv/lib/python3*/site-packages/nvidia/cuda_nvrtc/lib"
if ! ls $lib/libnvrtc.so.12 >/dev/null 2>&1; then
  # python3 -m venv needs ensurepip (Debian: python3-venv); bootstrap.sh --ci installs it
  . "$(dirname "${BASH_SOURCE[0]}")/requirements.sh"
  rp_python_venv_ok || bash "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh" --ci >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q "nvidia-cuda-nvrtc-cu12==12.8.*" >&2
fi
echo $lib
