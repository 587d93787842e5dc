#!/usr/bin/env bash
# Tests of the requirement detection in scripts/requirements.sh on fake roots (run by .ci/run).
# Each case builds a folder tree, points RP_ROOT at it and checks what is reported missing. The first
# case is the bug of issue 10: a fresh Debian 12 ships only libclang-cpp.so.14, which bindgen does not load.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=requirements.sh
. "$here/requirements.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0 cases=0

elf64() { mkdir -p "$(dirname "$1")"; printf '\177ELF\002\001\001\000' >"$1"; }
elf32() { mkdir -p "$(dirname "$1")"; printf '\177ELF\001\001\001\000' >"$1"; }
exe() {   # exe PATH [OUTPUT-OF---version]
  mkdir -p "$(dirname "$1")"
  printf '#!/bin/sh\necho "%s"\n' "${2:-}" >"$1"
  chmod +x "$1"
}
# A root with every build requirement but libclang (compilers, make, cmake 3.25.1).
base_root() {
  local r=$work/$1
  mkdir -p "$r"
  exe "$r/usr/bin/cc"; exe "$r/usr/bin/c++"; exe "$r/usr/bin/make"
  exe "$r/usr/bin/cmake" "cmake version 3.25.1"
  echo "$r"
}
# expect NAME ROOT WANT(found|missing) [ENV=VALUE ...]: libclang detection on ROOT
expect_libclang() {
  local name=$1 root=$2 want=$3 got
  shift 3
  cases=$((cases + 1))
  if (unset LIBCLANG_PATH LD_LIBRARY_PATH LIBRARY_PATH; [ $# -eq 0 ] || export "$@"; RP_ROOT=$root PATH=/usr/bin:/bin rp_find_libclang >/dev/null); then got=found; else got=missing; fi
  if [ "$got" != "$want" ]; then
    echo "FAIL libclang: $name: want $want, got $got" >&2
    fails=$((fails + 1))
  fi
}
# expect_missing NAME ROOT "PACKAGES" [SCOPE]: the packages rp_missing_requirements names on ROOT
expect_missing() {
  local name=$1 root=$2 want=$3 scope=${4:-build} got
  cases=$((cases + 1))
  got=$(unset LIBCLANG_PATH LD_LIBRARY_PATH LIBRARY_PATH CC CXX CMAKE; RP_ROOT=$root PATH=/usr/bin:/bin rp_missing_requirements "$scope" | awk '{print $1}' | sort -u | tr '\n' ' ' | sed 's/ $//')
  if [ "$got" != "$want" ]; then
    echo "FAIL requirements: $name: want '$want', got '$got'" >&2
    fails=$((fails + 1))
  fi
}

# --- libclang, as clang-sys searches -----------------------------------------------------------
r=$(base_root fresh-debian)                       # the issue's case: only the C++ library
elf64 "$r/usr/lib/x86_64-linux-gnu/libclang-cpp.so.14"
elf64 "$r/usr/lib/llvm-14/lib/libclang-cpp.so.14"
expect_libclang "only libclang-cpp.so.14" "$r" missing
expect_missing "fresh Debian 12" "$r" "libclang-dev"

r=$(base_root libclang1)                          # Debian's libclang1-14: versioned names only
elf64 "$r/usr/lib/x86_64-linux-gnu/libclang-14.so.14.0.6"
ln -s libclang-14.so.14.0.6 "$r/usr/lib/x86_64-linux-gnu/libclang-14.so.13"
ln -s libclang-14.so.13 "$r/usr/lib/x86_64-linux-gnu/libclang-14.so.1"
expect_libclang "libclang-N.so.M (libclang1-14)" "$r" found
expect_missing "libclang1-14 installed" "$r" ""

r=$(base_root dev-symlink)                        # libclang-dev's unversioned symlink to the real file
elf64 "$r/usr/lib/x86_64-linux-gnu/real/clang.bin"
mkdir -p "$r/usr/lib/llvm-14/lib"
ln -s ../../x86_64-linux-gnu/real/clang.bin "$r/usr/lib/llvm-14/lib/libclang.so"
expect_libclang "libclang.so symlink to a real library" "$r" found

r=$(base_root dangling)                           # libclang-dev's symlink, libclang1 removed
mkdir -p "$r/usr/lib/llvm-14/lib"
ln -s ../../x86_64-linux-gnu/libclang-14.so.1 "$r/usr/lib/llvm-14/lib/libclang.so"
elf64 "$r/usr/lib/llvm-14/lib/libclang-cpp.so.14"
expect_libclang "dangling libclang.so symlink" "$r" missing

r=$(base_root unversioned-dash)
elf64 "$r/usr/local/lib/libclang-17.so"
expect_libclang "libclang-N.so in /usr/local/lib" "$r" found
r=$(base_root suffix)
elf64 "$r/usr/local/llvm18/lib/libclang.so.18"
expect_libclang "libclang.so.N in /usr/local/llvm*/lib" "$r" found

r=$(base_root elf32)
elf32 "$r/usr/lib/libclang.so"
expect_libclang "32-bit libclang" "$r" missing
r=$(base_root script)
mkdir -p "$r/usr/lib"; echo "INPUT(libclang-14.so.1)" >"$r/usr/lib/libclang.so"
expect_libclang "linker script, not a library" "$r" missing
r=$(base_root elsewhere)
elf64 "$r/opt/llvm/lib/libclang.so"
expect_libclang "outside the searched folders" "$r" missing
expect_libclang "outside, named by LD_LIBRARY_PATH" "$r" found LD_LIBRARY_PATH=/opt/llvm/lib
expect_libclang "outside, named by LIBCLANG_PATH" "$r" found LIBCLANG_PATH=/opt/llvm/lib
expect_libclang "LIBCLANG_PATH names the file" "$r" found LIBCLANG_PATH=/opt/llvm/lib/libclang.so
r=$(base_root libclang-path-only)                 # clang-sys searches only LIBCLANG_PATH when it is set
elf64 "$r/usr/lib/x86_64-linux-gnu/libclang-14.so.1"
mkdir -p "$r/opt/empty"
expect_libclang "LIBCLANG_PATH set to a folder without libclang" "$r" missing LIBCLANG_PATH=/opt/empty
expect_libclang "LIBCLANG_PATH names libclang-cpp" "$r" missing LIBCLANG_PATH=/usr/lib/x86_64-linux-gnu/libclang-cpp.so.14

# --- compilers, make, cmake ----------------------------------------------------------------------
r=$work/empty; mkdir -p "$r"
expect_missing "empty root" "$r" "build-essential cmake g++ libclang-dev make"
r=$(base_root old-cmake); elf64 "$r/usr/lib/libclang.so"
exe "$r/usr/bin/cmake" "cmake version 3.10.2"
expect_missing "cmake 3.10 is too old" "$r" "cmake"
r=$(base_root no-cxx); elf64 "$r/usr/lib/libclang.so"; rm "$r/usr/bin/c++"
expect_missing "no C++ compiler" "$r" "g++"
r=$(base_root no-make); elf64 "$r/usr/lib/libclang.so"; rm "$r/usr/bin/make"
expect_missing "no make" "$r" "make"
r=$(base_root cmake-dir); elf64 "$r/usr/lib/libclang.so"; rm "$r/usr/bin/cmake"; mkdir -p "$r/usr/bin/cmake"
expect_missing "a folder named cmake is no cmake" "$r" "cmake"

# --- what .ci/run needs beyond the build -------------------------------------------------------------
r=$(base_root ci); elf64 "$r/usr/lib/libclang.so"
expect_missing "CI without python3" "$r" "python3-venv" ci
expect_missing "build scope ignores python" "$r" ""
mkdir -p "$r/usr/bin"
printf '#!/bin/sh\nexit 1\n' >"$r/usr/bin/python3"; chmod +x "$r/usr/bin/python3"   # no ensurepip
expect_missing "python3 without ensurepip" "$r" "python3-venv" ci
printf '#!/bin/sh\nexit 0\n' >"$r/usr/bin/python3"
expect_missing "python3 with venv" "$r" "" ci

# --- bootstrap.sh itself on a fake root: reports, installs nothing, exits 1 ---------------------
cases=$((cases + 1))
out=$(unset LIBCLANG_PATH LD_LIBRARY_PATH LIBRARY_PATH; RP_ROOT=$work/fresh-debian PATH=/usr/bin:/bin:$PATH bash "$here/bootstrap.sh" 2>&1); rc=$?
if [ $rc -ne 1 ] || ! grep -q "would install: libclang-dev" <<<"$out"; then
  echo "FAIL bootstrap --check on a fresh root: rc=$rc, output: $out" >&2
  fails=$((fails + 1))
fi
cases=$((cases + 1))
out=$(unset LIBCLANG_PATH LD_LIBRARY_PATH LIBRARY_PATH; RP_ROOT=$work/libclang1 PATH=/usr/bin:/bin:$PATH bash "$here/bootstrap.sh" 2>&1); rc=$?
if [ $rc -ne 0 ]; then
  echo "FAIL bootstrap --check on a complete root: rc=$rc, output: $out" >&2
  fails=$((fails + 1))
fi

if [ $fails -gt 0 ]; then
  echo "test_requirements: $fails of $cases cases failed" >&2
  exit 1
fi
echo "test_requirements: all $cases cases passed" >&2
