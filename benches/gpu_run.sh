#!/usr/bin/env bash
# The GPU machine's one prepared run (issue 19): unpacks what scripts/gpu_carry.sh packed here (NVRTC
# 12.8, the binaries built with --features cuda, the ACAS Xu files), describes the machine, runs every
# GPU test with RP_REQUIRE_GPU=1 (a missing GPU fails), each under a time limit and going on past a
# failure, then benches/gpu.sh. The log goes to stdout and to $OUT/log.txt (target/gpu-run without OUT).
#   here:  bash scripts/gpu_carry.sh
#   there: bash benches/gpu_run.sh [SCALE]   carrying .gpu-carry/xz, .gpu-carry/bin, .gpu-carry/shared
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-target/gpu-run}
mkdir -p "$out"
exec > >(tee "$out/log.txt") 2>&1
failed=()
# `step NAME LIMIT_S COMMAND...`: runs COMMAND under a time limit, timing it and noting a failure
step() {
  local name=$1 limit=$2 t0 rc
  shift 2
  echo "== $name"
  t0=$(date +%s.%N)
  timeout "$limit" "$@"
  rc=$?
  echo "== $name: exit $rc after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
  [ "$rc" = 0 ] || failed+=("$name (exit $rc)")
}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || true
nproc; uname -r; ldd --version | head -n 1
ldconfig -p | grep -E 'libcuda\.so|libcublas' || true
lib=$(bash scripts/gpu_carry.sh --unpack) || { echo "unpacking failed"; exit 1; }
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
ls -la .gpu-carry/lib
run=.gpu-carry/run
export RP_SHARED=$PWD/.gpu-carry/shared RP_REQUIRE_GPU=1 RP_REQUIRE_NVRTC=1 RUST_BACKTRACE=1
step gpu_info 60 "$run/examples/gpu_info"
step "tests: nvrtc" 120 "$run/tests/nvrtc"
step "tests: kernels (GPU)" 180 "$run/tests/kernels" cuda::
step "tests: lib (gpu)" 60 "$run/tests/lib" gpu::
step "tests: backends (CPU and GPU)" 180 "$run/tests/backends"
step "tests: verify (ACAS Xu on the GPU)" 240 "$run/tests/verify" on_the_gpu
RP_BIN=$run/rp RP_BENCH_OUT=target/gpu-bench step "bench: benches/gpu.sh" 380 bash benches/gpu.sh "${1:-1}"
tar czf "$out/bench.tgz" target/gpu-bench 2>/dev/null   # the bench's inputs, outputs and logs
echo "== failed: ${#failed[@]}"
for f in "${failed[@]}"; do echo "  $f"; done
[ "${#failed[@]}" = 0 ]
