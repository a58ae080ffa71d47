#!/usr/bin/env bash
# Fault detection through cellbenchd: a `simulated-cohort` instrument of CELLS cells
# (default 32), the last four faulty from hour ONSET (default 100), run for HOURS
# simulated hours (default 1000) at TIME_SCALE simulated seconds per second, with the
# rules of examples/cohort-alarms.toml. Prints every alarm with its delay after the
# onset (first raise per cell and rule), and the false alarms (on healthy cells). BUILD=debug|release (default release).
set -euo pipefail
cd "$(dirname "$0")/../.."
cells=${CELLS:-32}
hours=${HOURS:-1000}
onset=${ONSET:-100}
scale=${TIME_SCALE:-50000}
step=${STEP:-20}
build=${BUILD:-release}
swift build -c "$build" --product cellbenchd >/dev/null
bin=$(swift build -c "$build" --show-bin-path)
dir=$(mktemp -d)
trap 'kill -TERM $daemon 2>/dev/null || true; wait $daemon 2>/dev/null || true; rm -rf "$dir"' EXIT
faults=(internal-short resistance-growth capacity-fade thermal-event)
{
  printf '[store]\npath = "bench.db"\n[status]\nsocket = "bench.sock"\n'
  printf '[[instruments]]\nname = "cohort"\nkind = "simulated-cohort"\ntime_scale = %s\nsample_interval_s = %s\nfault_onset_h = %s\n' \
    "$scale" "$step" "$onset"
  printf '[instruments.faults]\n'
  for k in "${!faults[@]}"; do printf 'C%02d = "%s"\n' $((cells - k)) "${faults[$k]}"; done
  cat examples/cohort-alarms.toml
  for i in $(seq 1 "$cells"); do
    printf '\n[[channels]]\nname = "C%02d"\ninstrument = "cohort"\nindex = %d\ncapacity_ah = 3.0\n' "$i" $((i - 1))
  done
} > "$dir/bench.toml"
started=$(date +%s.%N)
"$bin/cellbenchd" --config "$dir/bench.toml" 2>"$dir/daemon.log" &
daemon=$!
for _ in $(seq 1 200); do [ -S "$dir/bench.sock" ] && break; sleep 0.1; done
# Simulated hours reached, from the stored samples of the first cell.
reached() {
  sqlite3 "$dir/bench.db" "SELECT coalesce((max(wall_ns) - min(wall_ns)) / 3.6e12, 0) FROM samples WHERE channel = (SELECT id FROM channels WHERE name = 'C01');" 2>/dev/null || echo 0
}
while awk -v r="$(reached)" -v h="$hours" 'BEGIN { exit !(r < h) }'; do sleep 2; done
kill -TERM $daemon; wait $daemon || true
finished=$(date +%s.%N)
echo "cohort through cellbenchd: $cells cells, faults ${faults[*]} from hour $onset, $(reached) simulated hours," \
  "$build build, $(awk -v a="$started" -v b="$finished" 'BEGIN { printf "%.0f", b - a }') s wall, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
sqlite3 -separator ' | ' "$dir/bench.db" "
  WITH t0 AS (SELECT min(wall_ns) - $step * 1000000000 AS ns FROM samples)
  SELECT c.name, a.rule, printf('first %.2f h after onset', min(a.raised_wall_ns - t0.ns) / 3.6e12 - $onset), count(*) || ' raised'
  FROM alarms a JOIN channels c ON c.id = a.channel, t0 GROUP BY c.name, a.rule ORDER BY c.name, min(a.raised_wall_ns);"
echo "alarms on healthy cells: $(sqlite3 "$dir/bench.db" "SELECT count(*) FROM alarms a JOIN channels c ON c.id = a.channel
  WHERE c.name NOT IN ($(for k in "${!faults[@]}"; do printf "'C%02d'," $((cells - k)); done)'');")"
echo "samples stored: $(sqlite3 "$dir/bench.db" 'SELECT count(*) FROM samples;')"
tail -1 "$dir/daemon.log"
