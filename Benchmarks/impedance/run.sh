#!/usr/bin/env bash
# Side-by-side impedance analysis benchmark: cellbench (Swift, release build) against
# impedance.py on identical inputs, in the same run. Usage: Benchmarks/impedance/run.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-1000}"
venv=.venv-impedance
work=.build/impedance-bench
mkdir -p "$work"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# impedance 1.7.1's linKK and fitting need numpy < 2 (it formats numpy scalars into code).
"$venv/bin/pip" install --quiet "impedance==1.7.1" "numpy<2" "scipy<1.14" "pandas<2.3"

swift build -c release --product cellbench-bench 2>&1 | grep -E "error|warning:" || true
bench=".build/release/cellbench-bench"
"$bench" impedance generate --out "$work" --count "$count"

example="$work/exampleData.csv"
cp Tests/ElectrochemTests/Fixtures/instrument-files/exampleData.csv "$example"

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
echo "== cellbench"
"$bench" impedance run --data "$work" --example "$example" --tolerance 0.25 | tee "$work/swift.txt"
echo "== impedance.py $("$venv/bin/python" -c 'import impedance; print(impedance.__version__)')"
"$venv/bin/python" -W ignore Benchmarks/impedance/impedance_py.py "$work" "$example" 0.25 | tee "$work/python.txt"

value() { grep "^$2=" "$1" | cut -d= -f2; }
ratio() { python3 -c "print(f'{float(\"$1\") / float(\"$2\"):.1f}')"; }
echo "== ratios"
echo "fits/s, automatic guess vs impedance.py: $(ratio "$(value "$work/swift.txt" auto_fits_per_second)" "$(value "$work/python.txt" fixed_guess_fits_per_second)")x"
echo "fits/s, same fixed guess:                $(ratio "$(value "$work/swift.txt" fixed_guess_fits_per_second)" "$(value "$work/python.txt" fixed_guess_fits_per_second)")x"
echo "10,000-point fit time, impedance.py/cellbench: $(ratio "$(value "$work/python.txt" large_fit_seconds)" "$(value "$work/swift.txt" large_fit_seconds)")x"
echo "Lin-KK time, impedance.py/cellbench:           $(ratio "$(value "$work/python.txt" linkk_seconds)" "$(value "$work/swift.txt" linkk_seconds)")x"
