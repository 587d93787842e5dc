#!/usr/bin/env bash
# Installs the system packages the build needs when they are missing (Debian/Ubuntu, as root or with
# sudo). Idempotent and quiet when everything is present. Needed today: a C toolchain (cc) for crates
# that build C code. Rust itself must already be installed (rustup).
set -euo pipefail
need=()
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "bootstrap: installing ${need[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "bootstrap: cargo not found; install Rust (rustup) first" >&2; exit 1; }
