#!/usr/bin/env bash
# Installs the system packages that building rp needs, when they are missing (Debian/Ubuntu, as root or
# with sudo), and says what it installed. Each requirement is detected the way its consumer looks for it
# (scripts/requirements.sh: e.g. libclang as bindgen's loader searches, never libclang-cpp). Rust must
# already be installed (rustup).
#
#   bash scripts/bootstrap.sh            # install what the build needs
#   bash scripts/bootstrap.sh --ci       # also what .ci/run needs (python3 venv for the NVRTC wheel)
#   bash scripts/bootstrap.sh --check    # only report; exit 1 when something is missing
#   RP_ROOT=/some/fake/root bash scripts/bootstrap.sh --check   # detection on a fake root (tests)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=requirements.sh
. "$here/requirements.sh"

scope=build check=0
for arg in "$@"; do
  case $arg in
    --ci) scope=ci ;;
    --check) check=1 ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bootstrap: unknown option '$arg' (use --ci, --check or --help)" >&2; exit 2 ;;
  esac
done
[ -z "$RP_ROOT" ] || check=1   # a fake root is only ever inspected

missing=$(rp_missing_requirements "$scope")
if [ -z "$missing" ]; then
  if [ $check = 1 ]; then echo "bootstrap: every requirement is present" >&2; fi
else
  packages=$(echo "$missing" | awk '{print $1}' | sort -u | tr '\n' ' ')
  echo "$missing" | sed 's/^[^ ]* /bootstrap: missing: /' >&2
  if [ $check = 1 ]; then
    echo "bootstrap: would install: $packages" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: no apt-get here; install the equivalent of: $packages (then run this again)" >&2
    exit 1
  fi
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "bootstrap: not root and no sudo; as root run: apt-get install $packages" >&2; exit 1; }
    SUDO=sudo
  fi
  before=$(dpkg-query -W -f='${Package}\n' 2>/dev/null | sort)
  echo "bootstrap: installing $packages(apt-get)" >&2
  log=$(mktemp)
  # shellcheck disable=SC2086
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $packages; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "bootstrap: apt-get failed (output above); install $packages by hand, then run this again" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
  after=$(dpkg-query -W -f='${Package}\n' 2>/dev/null | sort)
  added=$(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')
  echo "bootstrap: installed ${added:-nothing new} " >&2
  still=$(rp_missing_requirements "$scope")
  if [ -n "$still" ]; then
    echo "$still" | sed 's/^[^ ]* /bootstrap: still missing after the install: /' >&2
    exit 1
  fi
fi
if [ -z "$RP_ROOT" ] && ! command -v cargo >/dev/null 2>&1; then
  echo "bootstrap: cargo not found; install Rust first (https://rustup.rs), then run this again" >&2
  exit 1
fi
