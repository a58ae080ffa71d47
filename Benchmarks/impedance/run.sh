#!/usr/bin/env bash
# Side-by-side impedance analysis benchmark: cellbench (Swift, release build) against
# impedance.py on identical inputs, in the same run. Usage: Benchmarks/impedance/run.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-1000}"
venv=.venv-impedance
work=.build/impedance-bench
mkdir -p "$work"
Benchmarks/impedance/venv.sh > /dev/null

swift build -c release --product cellbench-bench 2>&1 | grep -E "error|warning:" || true
bench=".build/release/cellbench-bench"
"$bench" impedance generate --out "$work" --count "$count"

example="$work/exampleData.csv"
cp Tests/ElectrochemTests/Fixtures/instrument-files/exampleData.csv "$example"

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
# cellbench runs before and after impedance.py, so that a change of machine load during the
# (long) impedance.py run shows; ratios use the slower of the two cellbench runs.
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== cellbench (before)"
"$bench" impedance run --data "$work" --example "$example" --tolerance 0.25 | tee "$work/swift-before.txt"
echo "== impedance.py $("$venv/bin/python" -c 'import impedance; print(impedance.__version__)')"
"$venv/bin/python" -W ignore Benchmarks/impedance/impedance_py.py "$work" "$example" 0.25 | tee "$work/python.txt"
echo "== cellbench (after)"
"$bench" impedance run --data "$work" --example "$example" --tolerance 0.25 | tee "$work/swift-after.txt"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

value() { grep "^$2=" "$1" | cut -d= -f2; }
slowest_rate() { python3 -c "print(min(float('$(value "$work/swift-before.txt" "$1")'), float('$(value "$work/swift-after.txt" "$1")')))"; }
slowest_time() { python3 -c "print(max(float('$(value "$work/swift-before.txt" "$1")'), float('$(value "$work/swift-after.txt" "$1")')))"; }
ratio() { python3 -c "print(f'{float(\"$1\") / float(\"$2\"):.1f}')"; }
echo "== ratios (slower cellbench run)"
echo "fits/s, automatic guess vs impedance.py: $(ratio "$(slowest_rate auto_fits_per_second)" "$(value "$work/python.txt" fixed_guess_fits_per_second)")x"
echo "fits/s, same fixed guess:                $(ratio "$(slowest_rate fixed_guess_fits_per_second)" "$(value "$work/python.txt" fixed_guess_fits_per_second)")x"
# CPU time counts only the time each process ran, so these ratios depend far less on the load.
echo "fits per CPU second, automatic guess vs impedance.py: $(ratio "$(slowest_rate auto_fits_per_cpu_second)" "$(value "$work/python.txt" fixed_guess_fits_per_cpu_second)")x"
echo "fits per CPU second, same fixed guess:                $(ratio "$(slowest_rate fixed_guess_fits_per_cpu_second)" "$(value "$work/python.txt" fixed_guess_fits_per_cpu_second)")x"
echo "10,000-point fit time, impedance.py/cellbench: $(ratio "$(value "$work/python.txt" large_fit_seconds)" "$(slowest_time large_fit_seconds)")x"
echo "Lin-KK time, impedance.py/cellbench:           $(ratio "$(value "$work/python.txt" linkk_seconds)" "$(slowest_time linkk_seconds)")x"
