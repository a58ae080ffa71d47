#!/usr/bin/env bash
# Inverse model side by side, in one run on the same spectra: inverse+lm and lm from the automatic
# guess (cellbench, release build) against impedance.py from a generic guess, each judged by the
# same proper-fit limit. Usage: Benchmarks/inverse/run.sh [SYNTHETIC_COUNT] [IMPEDANCE_PY_COUNT]
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-2000}"
python_count="${2:-200}"
work=.build/inverse-bench
mkdir -p "$work"
python=$(Benchmarks/impedance/venv.sh)

swift build -c release --product cellbench 2>&1 | grep -E "error|warning:" || true
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== cellbench, $count generated spectra"
.build/release/cellbench eval-inverse --synthetic "$count" --compare-lm --export "$work/synthetic"
echo "== cellbench, held-out real spectra"
.build/release/cellbench eval-inverse --data Tests/ElectrochemTests/Fixtures/inverse/heldout --compare-lm --export "$work/real"
echo "== impedance.py $("$python" -c 'import impedance; print(impedance.__version__)'), first $python_count generated spectra"
"$python" Benchmarks/inverse/impedance_py_liion.py "$work/synthetic" "$python_count"
echo "== cellbench on the same first $python_count generated spectra"
.build/release/cellbench eval-inverse --synthetic "$python_count" --compare-lm
echo "== impedance.py, held-out real spectra"
"$python" Benchmarks/inverse/impedance_py_liion.py "$work/real"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
