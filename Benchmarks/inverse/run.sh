#!/usr/bin/env bash
# Inverse model benchmarks (release build, one thread).
# Part 1, cellbench only: inverse+lm and lm from the automatic guess on SYNTHETIC_COUNT generated
# spectra and on the held-out real spectra.
# Part 2, side by side in this one invocation on identical inputs (the first SIDE_BY_SIDE_COUNT
# generated spectra and the held-out real spectra, exported by cellbench and read by impedance.py):
# cellbench, then impedance.py from a generic guess, then cellbench again, each fit judged by the
# same proper-fit limit; the slower of the two cellbench runs is the one counted. impedance.py takes
# about 14 s per spectrum on this circuit, hence the small default.
# Usage: Benchmarks/inverse/run.sh [SYNTHETIC_COUNT (2000, 0 skips part 1)] [SIDE_BY_SIDE_COUNT (20)]
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-2000}"
side_count="${2:-20}"
heldout=Tests/ElectrochemTests/Fixtures/inverse/heldout
cellbench=.build-release/release/cellbench
work=.build-release/inverse-bench
mkdir -p "$work"
python=$(Benchmarks/impedance/venv.sh)

nice -n 5 swift build -c release --product cellbench --scratch-path .build-release 2>&1 | grep -E "error|warning:" || true
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
load() { echo "== load average $(cut -d' ' -f1-3 /proc/loadavg) ($1)"; }

if [ "$count" -gt 0 ]; then
    load "before part 1"
    echo "== cellbench, $count generated spectra"
    "$cellbench" eval-inverse --synthetic "$count" --compare-lm
    echo "== cellbench, held-out real spectra"
    "$cellbench" eval-inverse --data "$heldout" --compare-lm
fi

echo "== side by side: impedance.py $("$python" -c 'import impedance; print(impedance.__version__)'), $side_count generated + held-out real spectra"
for set in generated real; do
    # The full circuit for every spectrum, the same 17 parameters impedance.py fits.
    if [ "$set" = generated ]; then input=(--synthetic "$side_count"); else input=(--data "$heldout"); fi
    input+=(--variant cpe-inductance,loop,arcs=3,cpe-diffusion)
    load "$set, before cellbench"
    "$cellbench" eval-inverse "${input[@]}" --compare-lm --export "$work/$set" > "$work/$set-cellbench-before.txt"
    load "$set, before impedance.py"
    "$python" Benchmarks/inverse/impedance_py_liion.py "$work/$set" > "$work/$set-impedance-py.txt"
    load "$set, before cellbench again"
    "$cellbench" eval-inverse "${input[@]}" --compare-lm > "$work/$set-cellbench-after.txt"
done
load "after"
"$python" Benchmarks/inverse/side_by_side.py "$work"
