#!/usr/bin/env bash
# `rp serve` under a bounded load on loopback (issue 18): the shipped APE model, σ_raw = 2 (BMI), n = 1000,
# PREDICT; 16 concurrent clients, single-record and 64-record requests. Prints requests/s, records/s and
# p50/p99 latency (examples/serve_load). Nothing leaves the machine.
#   usage: bash benches/serve.sh [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${1:-4000}
cargo build --release --quiet --bin rp --example serve_load
T=${CARGO_TARGET_DIR:-target}/release
W=$(mktemp -d); trap 'kill $PID 2>/dev/null; rm -rf "$W"' EXIT
head -c 32 /dev/urandom > "$W/secret"; chmod 600 "$W/secret"
printf '[[key]]\nname = "bench"\ntoken = "tok-bench-0001"\nbudget = 100000000\n' > "$W/keys.toml"
PID=
for eval in f64 f32; do
  rm -f "$W"/b.sqlite* "$W/log"
  "$T/rp" serve --model models/ape-paper/model.onnx --card models/ape-paper/card.json --sigma-raw 2 --n 1000 \
      --mode predict --eval $eval --secret-file "$W/secret" --keys "$W/keys.toml" --db "$W/b.sqlite" --listen 127.0.0.1:0 2> "$W/log" &
  PID=$!
  for _ in $(seq 50); do grep -q listening "$W/log" && break; sleep 0.1; done
  URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$W/log")
  echo "rp serve --eval $eval at $URL ($(nproc) cores), APE model, n = 1000, PREDICT"
  "$T/examples/serve_load" "$URL" tok-bench-0001 16 "$REQUESTS" 1
  "$T/examples/serve_load" "$URL" tok-bench-0001 16 $((REQUESTS / 16)) 64
  kill $PID; wait $PID 2>/dev/null || true
done
