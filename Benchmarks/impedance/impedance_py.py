"""impedance.py side of the side-by-side benchmark; prints the same key=value lines as
`cellbench-bench impedance run`. Inputs come from `cellbench-bench impedance generate`."""
import contextlib
import io
import sys
import time

import numpy as np
from impedance import preprocessing
from impedance.models.circuits import CustomCircuit
from impedance.validation import linKK

data, example, tolerance = sys.argv[1], sys.argv[2], float(sys.argv[3])
CIRCUIT = 'R0-p(R1,CPE1)-p(R2,CPE2)-W1'
FIXED_GUESS = [0.017, 0.01, 0.62, 0.875, 0.02, 50, 0.8, 0.004]

spectra = np.loadtxt(f'{data}/spectra.csv', delimiter=',', skiprows=1)
truth = np.loadtxt(f'{data}/truth.csv', delimiter=',', skiprows=1, ndmin=2)
groups = []
for row in truth:
    rows = spectra[spectra[:, 0] == row[0]]
    groups.append((rows[:, 1], rows[:, 2] + 1j * rows[:, 3], row[1:]))

successes, failures, rmses = 0, 0, []
start, cpu_start = time.perf_counter(), time.process_time()
for f, z, true in groups:
    try:
        circuit = CustomCircuit(CIRCUIT, initial_guess=FIXED_GUESS)
        circuit.fit(f, z)
        fitted = circuit.predict(f)
        rmses.append(np.sqrt(np.sum(np.abs(fitted - z) ** 2) / (2 * len(f))))
        if np.all(np.abs(circuit.parameters_ - true) <= tolerance * np.abs(true)):
            successes += 1
    except Exception:  # a failed fit counts as a failure, whatever scipy raised
        failures += 1
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
print(f'fixed_guess_fits={len(groups)}')
print(f'fixed_guess_fits_per_second={len(groups) / seconds}')
print(f'fixed_guess_fits_per_cpu_second={len(groups) / cpu}')
print(f'fixed_guess_success_rate={successes / len(groups)}')
print(f'fixed_guess_failed_fits={failures}')
print(f'fixed_guess_median_rmse_ohm={np.median(rmses) if rmses else float("nan")}')

large = np.loadtxt(f'{data}/large.csv', delimiter=',', skiprows=1)
f, z = large[:, 0], large[:, 1] + 1j * large[:, 2]
repeats = 2
start = time.perf_counter()
for _ in range(repeats):
    circuit = CustomCircuit('p(R1,C1)-p(R2,C2)', initial_guess=[0.01, 0.01, 0.01, 10])
    circuit.fit(f, z)
print(f'large_fit_seconds={(time.perf_counter() - start) / repeats}')
print('large_fit_parameters=' + ' '.join(str(p) for p in circuit.parameters_))

f, z = preprocessing.readCSV(example)
repeats = 20
start = time.perf_counter()
for _ in range(repeats):
    with contextlib.redirect_stdout(io.StringIO()):  # linKK prints progress every 10 elements
        M, mu, _, _, _ = linKK(f, z, c=0.85, max_M=50)
print(f'linkk_seconds={(time.perf_counter() - start) / repeats}')
print(f'linkk_M={M}')
print(f'linkk_mu={mu}')
