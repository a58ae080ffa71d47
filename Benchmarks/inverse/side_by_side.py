"""Table of the side-by-side part of Benchmarks/inverse/run.sh: for each set, cellbench's inverse+lm
and lm (the slower of its runs before and after impedance.py) and impedance.py, with success
share, median rho, time per spectrum and the time ratio to inverse+lm. Usage: side_by_side.py DIR"""
import re
import sys

directory = sys.argv[1]
# "  inverse+lm   properly fitted 100.0 % (9/9)   median ρ 0.0099   28.500 ms/spectrum"
CELLBENCH_LINE = re.compile(r'^  (\S.*?)\s+properly fitted\s+\S+ % \((\d+)/(\d+)\)\s+median ρ (\S+)\s+(\S+) ms/spectrum$')
METHODS = {'inverse+lm': 'inverse+lm (cellbench)', 'lm (automatic guess)': 'lm, automatic guess (cellbench)'}


def cellbench_results(path):
    results = {}
    for line in open(path, encoding='utf-8'):
        match = CELLBENCH_LINE.match(line.rstrip('\n'))
        if match and match.group(1) in METHODS:
            label, fitted, cases, median, ms = match.groups()
            results[METHODS[label]] = (int(fitted), int(cases), float(median), float(ms))
    if len(results) != len(METHODS):
        sys.exit(f'{path}: expected lines for {", ".join(METHODS)} in the eval-inverse output')
    return results


def impedance_py_result(path):
    values = dict(line.strip().split('=', 1) for line in open(path, encoding='utf-8') if '=' in line)
    return int(values['properly_fitted']), int(values['cases']), float(values['median_rho']), float(values['ms_per_spectrum'])


print('| set | method | properly fitted | median ρ | ms/spectrum | time ÷ inverse+lm |')
print('|---|---|---|---|---|---|')
for name, title in (('generated', 'generated'), ('real', 'held-out real')):
    before = cellbench_results(f'{directory}/{name}-cellbench-before.txt')
    after = cellbench_results(f'{directory}/{name}-cellbench-after.txt')
    rows = {}
    for method in METHODS.values():
        # Fits are deterministic: a difference between the two runs would mean the inputs differed.
        if before[method][:3] != after[method][:3]:
            print(f'warning: {name}, {method}: results differ between the runs before and after impedance.py', file=sys.stderr)
        rows[method] = before[method][:3] + (max(before[method][3], after[method][3]),)
    rows['impedance.py, generic guess'] = impedance_py_result(f'{directory}/{name}-impedance-py.txt')
    if len({row[1] for row in rows.values()}) != 1:
        sys.exit(f'{name}: the tools saw different numbers of spectra')
    reference = rows['inverse+lm (cellbench)'][3]
    for k, (method, (fitted, cases, median, ms)) in enumerate(rows.items()):
        label = f'{cases} {title} spectra' if k == 0 else ''
        print(f'| {label} | {method} | {fitted}/{cases} ({100 * fitted / cases:.0f} %) | {median:.4g} | {ms:,.1f} | {ms / reference:,.1f} |')
