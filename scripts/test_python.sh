#!/usr/bin/env bash
# The Python package's tests, as a new user gets the package: a fresh venv, the README's install
# command (`pip install './python[test,pandas,ray]'`, which builds the extension with maturin), then
# pytest against the CLI built from the same tree. The torch tests skip when torch is not installed
# (set RP_PY_EXTRAS=test,pandas,ray,torch to include them); nothing else skips.
#   bash scripts/test_python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
venv=${RP_PY_VENV:-$CARGO_TARGET_DIR/rp-python-venv}
extras=${RP_PY_EXTRAS:-test,pandas,ray}
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "./python[$extras]"
cargo build --release --quiet --bin rp
RP_BIN="$CARGO_TARGET_DIR/release/rp" "$venv/bin/pytest" -q -p no:cacheprovider python/tests
