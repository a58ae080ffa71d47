#!/usr/bin/env bash
# Cycler over Modbus TCP (BENCHMARKS.md, "Instruments"): release build, real
# processes, real SQLite store.
#
# 1. Load search: for each "CHANNELS:INTERVAL" in LOADS, `cellbench simulate`
#    serves the channels (one simulated cycler per 32 channels, the map's
#    maximum, each its own process and port) and cellbenchd reads them into its
#    store for SECONDS. Reported: records stored, sequence numbers missing in
#    the store, gap events, and cellbenchd's CPU share (utime+stime from
#    /proc over the measured window, % of one core).
# 2. At LATENCY_LOAD: cellbench-bench cycler --store, the same driver and the
#    daemon's batch writer into a new SQLite file in one process, gives the
#    record-to-commit latency p50/p99 and the catch-up time after the link was
#    down OUTAGE seconds.
#
# Usage: Benchmarks/cycler/run.sh   (env: LOADS, SECONDS_TO_MEASURE, LATENCY_LOAD, OUTAGE, BASE_PORT)
set -euo pipefail
cd "$(dirname "$0")/../.."
loads=${LOADS:-"32:0.1 64:0.1 128:0.1 32:0.02 32:0.01"}
seconds=${SECONDS_TO_MEASURE:-30}
latency_load=${LATENCY_LOAD:-32:0.1}
outage=${OUTAGE:-60}
base_port=${BASE_PORT:-5400}
scratch=.build-release

nice -n 10 swift build -c release --scratch-path "$scratch" >/dev/null
bin=$(swift build -c release --scratch-path "$scratch" --show-bin-path)
dir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

# Starts ceil(channels/32) simulated cyclers on base_port, base_port+1, ...
start_simulators() {
  local channels=$1 k=0
  while [ $((k * 32)) -lt "$channels" ]; do
    local n=$(( channels - k * 32 < 32 ? channels - k * 32 : 32 ))
    printf 'time_scale = 1\n[cycler]\nchannels = %d\ntcp_port = %d\n' "$n" $((base_port + k)) > "$dir/sim$k.toml"
    "$bin/cellbench" simulate --config "$dir/sim$k.toml" > "$dir/sim$k.out" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do grep -q "modbus tcp" "$dir/sim$k.out" && break; sleep 0.1; done
    k=$((k + 1))
  done
}

stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  pids=()
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

echo "cycler: $(nproc) cores, $(uname -m), $(swift --version 2>&1 | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for load in $loads; do
  channels=${load%%:*}
  interval=${load##*:}
  rm -f "$dir/bench.db"*
  start_simulators "$channels"
  {
    printf '[store]\npath = "bench.db"\n[status]\nsocket = "bench.sock"\n[daemon]\nlog_level = "warning"\n'
    k=0
    while [ $((k * 32)) -lt "$channels" ]; do
      printf '[[instruments]]\nname = "cycler%d"\nkind = "cycler"\ndriver = "%s/drivers/reference-cycler.toml"\n' "$k" "$PWD"
      printf 'host = "127.0.0.1"\nport = %d\nrecord_interval_s = %s\npoll_interval_s = 0.05\nwatchdog_s = 0\n' $((base_port + k)) "$interval"
      printf '[instruments.protection]\nvoltage_high_v = 4.4\nvoltage_low_v = 2.0\ncurrent_a = 10\ntemperature_c = 80\n'
      printf '[instruments.start]\nmode = "rest"\n'
      k=$((k + 1))
    done
    for i in $(seq 0 $((channels - 1))); do
      printf '[[channels]]\nname = "C%03d"\ninstrument = "cycler%d"\nindex = %d\n' "$i" $((i / 32)) $((i % 32))
    done
  } > "$dir/bench.toml"
  "$bin/cellbenchd" --config "$dir/bench.toml" 2>"$dir/daemon.log" &
  daemon=$!
  pids+=("$daemon")
  sleep 5   # connect, settle
  t0=$(cpu_ticks "$daemon"); s0=$(date +%s.%N)
  sleep "$seconds"
  t1=$(cpu_ticks "$daemon"); s1=$(date +%s.%N)
  kill -TERM "$daemon"; wait "$daemon" || true
  stop_all
  cpu=$(echo "($t1 - $t0) / $(getconf CLK_TCK) / ($s1 - $s0) * 100" | bc -l)
  read -r records missing < <(sqlite3 -separator " " "$dir/bench.db" \
    "SELECT sum(n), sum(hi - lo + 1 - n) FROM (SELECT count(*) n, min(sequence) lo, max(sequence) hi FROM samples GROUP BY channel);")
  gaps=$(sqlite3 "$dir/bench.db" "SELECT count(*) FROM events WHERE kind = 'gap';")
  # Records the cycler took within the measured window that reached the store before cellbenchd stopped,
  # against what it took (channels x rate x window): below 100 % the daemon fell behind.
  in_window=$(sqlite3 "$dir/bench.db" "SELECT count(*) FROM samples WHERE wall_ns BETWEEN $(echo "$s0 * 1000000000 / 1" | bc) AND $(echo "$s1 * 1000000000 / 1" | bc);")
  kept=$(echo "$in_window * $interval / $channels / ($s1 - $s0) * 100" | bc -l)
  printf 'cycler: cellbenchd, %d channels x %s records/s for %.0f s: %d records stored, %d missing, %d gap events, %.1f %% of the window stored by the end, CPU %.1f %% of one core\n' \
    "$channels" "$(echo "1 / $interval" | bc -l | sed 's/\.*0*$//')" "$(echo "$s1 - $s0" | bc -l)" "$records" "$missing" "$gaps" "$kept" "$cpu"
done

channels=${latency_load%%:*}
interval=${latency_load##*:}
start_simulators "$channels"
"$bin/cellbench-bench" cycler --port "$base_port" --channels "$channels" --interval "$interval" --seconds "$seconds" \
  --outage "$outage" --store "$dir/latency.db"
stop_all
