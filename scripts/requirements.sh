# Build requirements of rp, each detected the way its consumer looks for it. Sourced by bootstrap.sh,
# nvrtc_env.sh and scripts/test_requirements.sh; defines functions only.
#
# RP_ROOT (default empty = the real machine) prefixes every absolute path searched, so the detection
# can be tested on a fake root: a folder holding only usr/lib/x86_64-linux-gnu/libclang-cpp.so.14 must
# count as "libclang missing". Executables are looked up in $RP_ROOT + each PATH entry; LIBCLANG_PATH,
# LD_LIBRARY_PATH and LIBRARY_PATH entries are prefixed the same way.
#
# Requirements and their consumers:
#   cc, c++   the cc crate and cmake (C and C++ compilers; $CC/$CXX win when set)       -> build-essential, g++
#   make      cmake's default generator on Unix ("Unix Makefiles")                        -> make
#   cmake     highs-sys builds HiGHS from C++ source (HiGHS needs cmake >= 3.15)          -> cmake
#   libclang  bindgen loads it at build time through clang-sys (rules in rp_find_libclang) -> libclang-dev
#   python3 with venv + ensurepip   scripts/nvrtc_env.sh (CI only: NVRTC from a pip wheel)  -> python3-venv
# pkg-config is not needed: highs-sys's `discover` feature (the only pkg-config user) is off.

RP_ROOT=${RP_ROOT:-}

# The first executable named $1 in $RP_ROOT-prefixed PATH entries.
rp_find_exe() {
  local name=$1 dir
  case $name in
    /*) [ -x "$RP_ROOT$name" ] && [ ! -d "$RP_ROOT$name" ] && { echo "$RP_ROOT$name"; return 0; }; return 1 ;;
  esac
  local IFS=:
  for dir in $PATH; do
    [ -n "$dir" ] || continue
    if [ -x "$RP_ROOT$dir/$name" ] && [ ! -d "$RP_ROOT$dir/$name" ]; then
      echo "$RP_ROOT$dir/$name"
      return 0
    fi
  done
  return 1
}

# True when $1 is a readable 64-bit ELF file (clang-sys rejects other files; a dangling symlink or a
# linker script is no library).
rp_is_elf64() {
  [ -f "$1" ] && [ -r "$1" ] || return 1
  local magic
  magic=$(head -c 5 -- "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')
  [ "$magic" = "7f454c4602" ]
}

# The libclang files in directory $1 that clang-sys (bindgen's loader, feature `runtime`) accepts:
# libclang.so, libclang-*.so, libclang.so.*, libclang-*.so.*, never a name containing "-cpp." (the
# C++ library libclang-cpp.so.N), and only 64-bit ELF files.
rp_libclang_in_dir() {
  local dir=$1 f base
  [ -d "$dir" ] || return 1
  local found=1
  for f in "$dir"/libclang.so "$dir"/libclang-*.so "$dir"/libclang.so.* "$dir"/libclang-*.so.*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    base=${f##*/}
    case $base in *-cpp.*) continue ;; esac
    if rp_is_elf64 "$f"; then
      echo "$f"
      found=0
    fi
  done
  return $found
}

# The first of rp_libclang_in_dir's files (no early-exit pipe: callers may run under pipefail).
rp_first_libclang_in() {
  local all
  all=$(rp_libclang_in_dir "$1") || return 1
  echo "${all%%$'\n'*}"
}

# Prints the path of a libclang that bindgen will load, searching as clang-sys 1.x does on Linux:
# only $LIBCLANG_PATH when it is set (a file or a folder); else `llvm-config --prefix`'s bin/lib/lib64
# (real root only), LD_LIBRARY_PATH, LIBRARY_PATH, then the folders matching /usr/local/llvm*/lib*,
# /usr/local/lib*/*/*, /usr/local/lib*/*, /usr/local/lib*, /usr/lib*/*/*, /usr/lib*/*, /usr/lib*.
rp_find_libclang() {
  local d p
  if [ -n "${LIBCLANG_PATH:-}" ]; then
    p="$RP_ROOT$LIBCLANG_PATH"
    if [ -f "$p" ] || [ -L "$p" ]; then
      rp_libclang_in_dir "$(dirname "$p")" | grep -Fx -- "$p" && return 0
      return 1
    fi
    rp_first_libclang_in "$p"
    return
  fi
  if [ -z "$RP_ROOT" ] && command -v "${LLVM_CONFIG_PATH:-llvm-config}" >/dev/null 2>&1; then
    local prefix
    prefix=$("${LLVM_CONFIG_PATH:-llvm-config}" --prefix 2>/dev/null | sed -n 1p) || prefix=""
    if [ -n "$prefix" ]; then
      for d in "$prefix/bin" "$prefix/lib" "$prefix/lib64"; do
        rp_first_libclang_in "$d" && return 0
      done
    fi
  fi
  local IFS=:
  for d in ${LD_LIBRARY_PATH:-} ${LIBRARY_PATH:-}; do
    [ -n "$d" ] || continue
    rp_first_libclang_in "$RP_ROOT$d" && return 0
  done
  unset IFS
  local pattern
  for pattern in "/usr/local/llvm*/lib*" "/usr/local/lib*/*/*" "/usr/local/lib*/*" "/usr/local/lib*" \
                 "/usr/lib*/*/*" "/usr/lib*/*" "/usr/lib*"; do
    for d in $RP_ROOT$pattern; do
      [ -d "$d" ] || continue
      rp_first_libclang_in "$d" && return 0
    done
  done
  return 1
}

# Prints "MAJOR.MINOR.PATCH" of the cmake that the cmake crate runs ($CMAKE, else cmake on PATH).
rp_cmake_version() {
  local exe
  exe=$(rp_find_exe "${CMAKE:-cmake}") || return 1
  local v
  v=$("$exe" --version 2>/dev/null | sed -n 's/^cmake version \([0-9][0-9.]*\).*/\1/p' | sed -n 1p)
  [ -n "$v" ] && echo "$v"
}

# True when version $1 >= version $2 (dotted numbers).
rp_version_ge() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | sed -n 1p)" = "$2" ]
}

# True when the python3 on PATH can create a venv with pip (python3 -m venv needs ensurepip; on Debian
# that is the python3-venv package, while `python3 -m venv --help` works without it).
rp_python_venv_ok() {
  local py
  py=$(rp_find_exe python3) || return 1
  "$py" -c 'import venv, ensurepip' >/dev/null 2>&1
}

# One line per missing requirement: "<debian package> <what is missing and who needs it>".
# $1 = "ci" also checks what .ci/run needs beyond the build (python3 venv for the NVRTC wheel).
rp_missing_requirements() {
  local scope=${1:-build} v
  rp_find_exe "${CC:-cc}" >/dev/null || echo "build-essential no C compiler (${CC:-cc}) on PATH: the cc crate and cmake need one"
  rp_find_exe "${CXX:-c++}" >/dev/null || echo "g++ no C++ compiler (${CXX:-c++}) on PATH: cmake builds HiGHS (C++) with it"
  rp_find_exe make >/dev/null || echo "make no make on PATH: cmake's default generator (Unix Makefiles) runs it"
  if ! v=$(rp_cmake_version); then
    echo "cmake no cmake (${CMAKE:-cmake}) on PATH: highs-sys builds HiGHS from source with it"
  elif ! rp_version_ge "$v" 3.15; then
    echo "cmake cmake $v is older than 3.15, which HiGHS needs"
  fi
  rp_find_libclang >/dev/null || echo "libclang-dev no libclang that bindgen loads (libclang.so, libclang-N.so, libclang.so.N, libclang-N.so.M; libclang-cpp does not count)${LIBCLANG_PATH:+ in LIBCLANG_PATH=$LIBCLANG_PATH}: highs-sys generates its bindings with bindgen"
  if [ "$scope" = ci ]; then
    rp_python_venv_ok || echo "python3-venv no python3 that can create a venv with pip (venv + ensurepip): scripts/nvrtc_env.sh installs NVRTC from a wheel with it"
  fi
  return 0
}
