# Sourced by the peer bench scripts: moves to the repository root, finds ../shared (or $SHARED), builds
# the peers' venv when missing (exits 0 with a message when ../shared is absent), and sets
#   PY  the peers' python,   W  a temporary folder removed on exit.
# Then builds the given cargo targets: peers_env_build --bin rp --example reexport ...
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SHARED=${SHARED:-../shared}
[ -d "$SHARED/peers" ] || { echo "skip: $SHARED/peers not found"; exit 0; }
bash "$SHARED/peers/setup.sh" >/dev/null
PY=${PEERS_VENV:-$HOME/.cache/rp-peers/venv}/bin/python
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
peers_env_build() { cargo build --release --quiet "$@"; }
