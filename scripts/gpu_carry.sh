#!/usr/bin/env bash
# What the GPU machine needs and cannot download (it has no network), carried inside the working tree
# (issue 19). The binary links cudarc's CUDA 12.8 bindings, which dlopen NVRTC under the names
# libnvrtc.so, then libnvrtc.so.12 (cudarc's get_lib_name_candidates; never .so.13), so the machine's
# CUDA 13 libraries do not serve: NVRTC 12.8 comes from the `nvidia-cuda-nvrtc-cu12==12.8.*` wheel.
#
#   bash scripts/gpu_carry.sh            here: packs NVRTC into .gpu-carry/xz/ (xz -9; checksums in
#                                        SHA256SUMS); builds rp, examples/gpu_info, examples/make_mlp and
#                                        the GPU test binaries with --features cuda, strips and packs them
#                                        into .gpu-carry/bin/ (the machine has no crates registry, so no
#                                        cargo build there); copies the ACAS Xu networks and properties the
#                                        GPU test and bench use into .gpu-carry/shared/ (git-ignored, never
#                                        committed); reports sizes. Carry `.gpu-carry/xz`, `.gpu-carry/bin`
#                                        and `.gpu-carry/shared` with the run
#   bash scripts/gpu_carry.sh --unpack   there: unpacks NVRTC into .gpu-carry/lib/ and the binaries into
#                                        .gpu-carry/run/ (rp, examples/, tests/<name>; all checked against
#                                        the checksums), prints the library folder for LD_LIBRARY_PATH
#
# Why compressed: libnvrtc.so.12 is 104,487,248 bytes, over the 64 MiB a run may carry in all; xz -9
# makes it 29,643,376 (nothing is stripped: the unpacked file is the wheel's, byte for byte). The
# builtins library (6,338,504 bytes) xz's to 265,748. libnvrtc.so.12 finds libnvrtc-builtins.so.12.8
# through its RUNPATH $ORIGIN, so both sit in one folder. --unpack also adds libnvrtc.so as a hard link
# (no symlink, one copy on disk) so that cudarc's first candidate name is the 12.8 library too, not a
# CUDA 13 libnvrtc.so from the system's linker cache.
#
# cuBLAS (Cargo.toml's cudarc feature `cublas`). With cuda-12080, cudarc looks for libcublas.so,
# libcublas64*.so (Windows-style names), libcublas.so.12, .so.11, .so.10, .so.9, .so.1: never
# libcublas.so.13, which is what the machine's CUDA 13 has. CUDA 12's cuBLAS cannot be carried: the
# nvidia-cublas-cu12 12.8.4.1 wheel is 594,346,921 bytes compressed (libcublasLt.so.12 is most of it),
# about 9x the 64 MiB limit. The fallback, with nothing carried: when no libcublas.so.12 is on the
# library path, --unpack makes .gpu-carry/lib/libcublas.so (the first name cudarc tries) point at the
# machine's libcublas.so.13 and adds that library's folder to the printed path (for libcublasLt.so.13),
# saying so on stderr. cudarc looks each cuBLAS symbol up when first called, and a DGEMM backend needs
# only cublasCreate_v2, cublasSetStream_v2, cublasDgemm_v2 and cublasDestroy_v2, which CUDA 13 is
# expected to keep (not verified here: no CUDA 13 on this machine); the pairing is not NVIDIA-supported,
# so the GPU-vs-CPU tests are the check.
# The symlink is made there, on that machine, never carried (links do not travel). The clean
# alternative is a build with cudarc's `cuda-13000` feature, whose candidates include libcublas.so.13
# (the `.so.{major}` name), with CUDA 13's NVRTC (libnvrtc.so.13) as well.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
carry=.gpu-carry
libs=(libnvrtc.so.12 libnvrtc-builtins.so.12.8)

if [ "${1:-}" = --unpack ]; then
  [ -f "$carry/xz/SHA256SUMS" ] || { echo "no $carry/xz here: run scripts/gpu_carry.sh where the wheel is and carry $carry/xz" >&2; exit 1; }
  # `unxz SRC DST`: SRC decompressed to DST, by xz or, without an xz binary, Python's lzma (same format)
  unxz() {
    if command -v xz >/dev/null; then
      xz -dc "$1" > "$2.part"
    else
      python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2.part"
    fi
    mv "$2.part" "$2"
  }
  mkdir -p "$carry/lib"
  if ! (cd "$carry/lib" && sha256sum --quiet -c ../xz/SHA256SUMS >/dev/null 2>&1); then
    for f in "${libs[@]}"; do unxz "$carry/xz/$f.xz" "$carry/lib/$f"; done
    (cd "$carry/lib" && sha256sum --quiet -c ../xz/SHA256SUMS) >&2
  fi
  if [ -f "$carry/bin/SHA256SUMS" ]; then
    mkdir -p "$carry/run/examples" "$carry/run/tests"
    while read -r sum name; do
      unxz "$carry/bin/$name.xz" "$carry/run/$name"
      chmod +x "$carry/run/$name"
    done < "$carry/bin/SHA256SUMS"
    (cd "$carry/run" && sha256sum --quiet -c ../bin/SHA256SUMS) >&2
  fi
  ln -f "$carry/lib/libnvrtc.so.12" "$carry/lib/libnvrtc.so" 2>/dev/null || cp "$carry/lib/libnvrtc.so.12" "$carry/lib/libnvrtc.so"
  path="$PWD/$carry/lib"
  has12() { ldconfig -p 2>/dev/null | grep -q 'libcublas\.so\.12 ' || for d in $(echo "${LD_LIBRARY_PATH:-}" | tr : " "); do [ -e "$d/libcublas.so.12" ] && return 0; done; return 1; }
  rm -f "$carry/lib/libcublas.so"
  if ! has12; then
    c13=$({ find /opt/torch /usr/local/cuda /usr/local/cuda-13* -name 'libcublas.so.13*' 2>/dev/null; ldconfig -p 2>/dev/null | awk '/libcublas\.so\.13 / { print $NF }'; } | head -n 1 || true)  # head's early exit is no failure (SIGPIPE under pipefail)
    if [ -n "$c13" ]; then
      ln -s "$c13" "$carry/lib/libcublas.so"
      path="$path:$(dirname "$c13")"
      echo "no libcublas.so.12 here: cudarc's 12.8 bindings will load CUDA 13's $c13 as libcublas.so" >&2
    else
      echo "no libcublas.so.12 nor .13 here: the CUDA backend's cuBLAS calls will fail" >&2
    fi
  fi
  echo "$path"
  exit 0
fi

src=$(bash scripts/nvrtc_env.sh)
src=$(echo $src) # the venv path is a glob (python3.*)
mkdir -p "$carry/xz"
grep -qx "/$carry/" .gitignore || echo "/$carry/" >> .gitignore
for f in "${libs[@]}"; do
  [ -f "$src/$f" ] || { echo "$src/$f missing: is the wheel nvidia-cuda-nvrtc-cu12==12.8.*?" >&2; exit 1; }
  # xz -9 takes about 90 s for libnvrtc; skipped while the packed file is newer than the wheel's
  if [ ! "$carry/xz/$f.xz" -nt "$src/$f" ]; then
    xz -9 -T0 -c "$src/$f" > "$carry/xz/$f.xz.part" && mv "$carry/xz/$f.xz.part" "$carry/xz/$f.xz"
  fi
done
(cd "$src" && sha256sum "${libs[@]}") > "$carry/xz/SHA256SUMS"
for f in "${libs[@]}"; do
  printf '%-28s %11d bytes, packed %11d\n' "$f" "$(stat -c %s "$src/$f")" "$(stat -c %s "$carry/xz/$f.xz")"
done

# the binaries, built here: the GPU machine's image has no crates registry (nothing can be fetched there)
target=${CARGO_TARGET_DIR:-target}
cargo build --release --features cuda --bin rp --example gpu_info --example make_mlp
rm -rf "$carry/bin" "$carry/stage" && mkdir -p "$carry/bin" "$carry/stage/examples" "$carry/stage/tests"
strip -o "$carry/stage/rp" "$target/release/rp"
for e in gpu_info make_mlp; do strip -o "$carry/stage/examples/$e" "$target/release/examples/$e"; done
# each test binary under its target's name (the lib's unit tests as tests/lib)
cargo test --release --features cuda --no-run --lib --test backends --test kernels --test nvrtc --test verify --message-format=json \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        kind = m["target"]["kind"][0]
        print("lib" if kind == "lib" else m["target"]["name"], m["executable"])' \
  | while read -r name exe; do strip -o "$carry/stage/tests/$name" "$exe"; done
(cd "$carry/stage" && find . -type f | sed 's|^\./||' | sort | xargs sha256sum) > "$carry/bin/SHA256SUMS"
while read -r sum name; do
  mkdir -p "$carry/bin/$(dirname "$name")"
  xz -6 -T0 -c "$carry/stage/$name" > "$carry/bin/$name.xz"
done < "$carry/bin/SHA256SUMS"
rm -rf "$carry/stage"
echo "binaries: $(wc -l < "$carry/bin/SHA256SUMS") files, packed $(du -cb "$carry/bin" | tail -1 | cut -f1) bytes"

# the ACAS Xu instances that tests/verify.rs's GPU test and benches/gpu.sh read (RP_SHARED there)
shared=${RP_SHARED:-../shared}
rm -rf "$carry/shared" && mkdir -p "$carry/shared/benchmarks/acasxu/onnx" "$carry/shared/benchmarks/acasxu/vnnlib"
if [ -d "$shared/benchmarks/acasxu" ]; then
  for n in 1_1 1_2 2_1 4_5 2_7; do cp "$shared/benchmarks/acasxu/onnx/ACASXU_run2a_${n}_batch_2000.onnx" "$carry/shared/benchmarks/acasxu/onnx/"; done
  for p in 1 2 3 10; do cp "$shared/benchmarks/acasxu/vnnlib/prop_$p.vnnlib" "$carry/shared/benchmarks/acasxu/vnnlib/"; done
else
  echo "no $shared/benchmarks/acasxu: the GPU ACAS Xu test and bench will skip there" >&2
fi
packed=$(du -cb "$carry/xz" "$carry/bin" "$carry/shared" | tail -1 | cut -f1)
tree=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
limit=$((64 * 1024 * 1024))
echo "carried: $carry/{xz,bin,shared} $packed bytes + tracked tree $tree bytes = $((packed + tree)) of $limit"
if [ $((packed + tree)) -ge $limit ]; then
  echo "over the 64 MiB carry limit (nothing stripped): carry less beside it" >&2
  exit 1
fi
