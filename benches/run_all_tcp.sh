#!/usr/bin/env bash
# Benchmark: `patrol run --all` over N TCP checks against one local listener.
# Usage: benches/run_all_tcp.sh [N=2000] [CONCURRENCY=64]
# Prints the wall time of each of 3 runs (release build) and checks/second.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
CONC=${2:-64}
cargo build --release --quiet
BIN=$PWD/target/release/patrol
WORK=$(mktemp -d)
trap 'kill $LISTENER 2>/dev/null || true; rm -rf "$WORK"' EXIT

# A listener that accepts and closes every connection (backlog large enough for the burst).
python3 - "$WORK/port" <<'PY' &
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(4096)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept(); c.close()
PY
LISTENER=$!
for _ in $(seq 50); do [ -s "$WORK/port" ] && break; sleep 0.1; done
PORT=$(cat "$WORK/port")

mkdir -p "$WORK/checks"
printf 'store: { path: bench.db }\nconcurrency: %s\n' "$CONC" > "$WORK/patrol.yaml"
python3 - "$N" "$PORT" > "$WORK/checks/tcp.yaml" <<'PY'
import sys
n, port = int(sys.argv[1]), sys.argv[2]
print("\n---\n".join(
    f"id: tcp-{i}\nschedule: every 1m\nprobe:\n  tcp: {{ host: 127.0.0.1, port: {port} }}" for i in range(n)))
PY
"$BIN" --config "$WORK/patrol.yaml" validate
for i in 1 2 3; do
  start=$(date +%s.%N)
  "$BIN" --config "$WORK/patrol.yaml" run --all --json > "$WORK/out.json"
  end=$(date +%s.%N)
  python3 - "$start" "$end" "$N" "$WORK/out.json" <<'PY'
import json, sys
start, end, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
runs = json.load(open(sys.argv[4]))
ok = sum(1 for r in runs if r["status"] == "ok")
print(f"run --all: {n} tcp checks in {end-start:.2f}s ({n/(end-start):.0f} checks/s), {ok} ok")
PY
done
