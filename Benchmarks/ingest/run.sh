#!/usr/bin/env bash
# Store ingest, side by side: cellbench's ring + batch writer against a minimal
# C program using the sqlite3 API with the same schema, pragmas and batch size.
# usage: Benchmarks/ingest/run.sh [SAMPLES] [CHANNELS] [BATCH_SIZE]
set -euo pipefail
cd "$(dirname "$0")/../.."
samples=${1:-1000000}
channels=${2:-64}
batch=${3:-4096}

swift build -c release --product cellbench-bench 2>&1 | grep -E "error|warning:" || true
bench=$(swift build -c release --show-bin-path)/cellbench-bench
reference=$(swift build -c release --show-bin-path)/ingest_c
cc -O2 -Wall -Wextra -o "$reference" Benchmarks/ingest/ingest_c.c $(pkg-config --cflags --libs sqlite3)

work=$(mktemp -d "${TMPDIR:-/tmp}/cellbench-ingest.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "sqlite $(pkg-config --modversion sqlite3), $(nproc) cores, store files in $work ($(df -T "$work" | awk 'NR==2 {print $2}'))"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# CPU time beside wall time: on a shared machine it shows the work done, whatever the neighbours do.
TIMEFORMAT="swift: cpu %U s user + %S s sys, %R s wall"
time "$bench" ingest --samples "$samples" --channels "$channels" --batch-size "$batch" --store "$work/swift.db" | tee "$work/swift.txt"
"$bench" ingest --schema-only --store "$work/c.db"
TIMEFORMAT="c: cpu %U s user + %S s sys, %R s wall"
time "$reference" "$work/c.db" "$samples" "$channels" "$batch" | tee "$work/c.txt"

rate() { sed -E 's/.*: ([0-9]+) samples\/s.*/\1/' "$1"; }
swift_rate=$(rate "$work/swift.txt")
c_rate=$(rate "$work/c.txt")
awk -v s="$swift_rate" -v c="$c_rate" 'BEGIN { printf "ratio swift/c: %.2f\n", s / c }'
