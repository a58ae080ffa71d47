#!/usr/bin/env bash
# Creates .venv-impedance (git-ignored) with impedance.py for the side-by-side benchmarks and
# prints its python. Run from the repository root.
set -euo pipefail
venv=.venv-impedance
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# impedance 1.7.1's linKK and fitting need numpy < 2 (it formats numpy scalars into code).
"$venv/bin/pip" install --quiet "impedance==1.7.1" "numpy<2" "scipy<1.14" "pandas<2.3" >&2
echo "$venv/bin/python"
