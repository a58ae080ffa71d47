#!/usr/bin/env bash
# End to end: cellbenchd on a simulated bench of CHANNELS channels at RATE Hz
# (default 64 × 100 Hz); a subscriber measures sample-to-subscriber latency,
# the daemon's CPU share and resident memory. Release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
channels=${CHANNELS:-64}
rate=${RATE:-100}
seconds=${SECONDS_TO_MEASURE:-30}
swift build -c release --product cellbenchd >/dev/null
swift build -c release --product cellbench-bench >/dev/null
bin=$(swift build -c release --show-bin-path)
dir=$(mktemp -d)
trap 'kill -TERM $daemon 2>/dev/null || true; wait $daemon 2>/dev/null || true; rm -rf "$dir"' EXIT
{
  printf '[store]\npath = "bench.db"\n[status]\nsocket = "bench.sock"\n'
  printf '[[instruments]]\nname = "sim"\nkind = "simulator"\nsample_rate_hz = %s\ntime_scale = 10\n' "$rate"
  for i in $(seq 0 $((channels - 1))); do
    printf '[[channels]]\nname = "C%03d"\ninstrument = "sim"\nindex = %d\ncapacity_ah = 3.0\n' "$i" "$i"
  done
} > "$dir/bench.toml"
"$bin/cellbenchd" --config "$dir/bench.toml" 2>"$dir/daemon.log" &
daemon=$!
for _ in $(seq 1 100); do [ -S "$dir/bench.sock" ] && break; sleep 0.1; done
echo "e2e: $channels channels x $rate Hz, $(nproc) cores, $(swift --version 2>&1 | head -1)"
"$bin/cellbench-bench" e2e --socket "$dir/bench.sock" --pid "$daemon" --seconds "$seconds"
kill -TERM $daemon; wait $daemon || true
tail -1 "$dir/daemon.log"
