"""impedance.py side of the inverse-model benchmark: fits the li-ion circuit to every spectrum
exported by `cellbench eval-inverse --export DIR`, from a generic guess scaled to each spectrum,
and judges each fit by the same rule as cellbench (rescaled residual rho <= the case's limit).
Usage: impedance_py_liion.py DIR [COUNT]"""
import sys
import time
import warnings

import numpy as np
from impedance.models.circuits import CustomCircuit

# The li-ion family in impedance.py's elements: a ZARC is p(R,CPE); the inductive loop is a
# resistor in parallel with an inductive CPE (La), i.e. a ZARC with a negative exponent.
CIRCUIT = 'R0-CPE1-La1-p(R1,La2)-p(R2,CPE2)-p(R3,CPE3)-p(R4,CPE4)'

directory = sys.argv[1]
limit_count = int(sys.argv[2]) if len(sys.argv) > 2 else None
spectra = np.loadtxt(f'{directory}/spectra.csv', delimiter=',', skiprows=1, ndmin=2)
cases = [line.strip().split(',') for line in open(f'{directory}/cases.csv').readlines()[1:]]
if limit_count is not None:
    cases = cases[:limit_count]


def rescaled_residual(z, model):
    """rho = sqrt(sum((dRe/sRe)^2 + (dIm/sIm)^2) / 2N), sRe and sIm the population spreads."""
    s_re, s_im = np.std(z.real), np.std(z.imag)
    floor = 1e-3 * max(s_re, s_im, np.finfo(float).tiny)
    s_re, s_im = max(s_re, floor), max(s_im, floor)
    d = model - z
    return np.sqrt(np.sum((d.real / s_re) ** 2 + (d.imag / s_im) ** 2) / (2 * len(z)))


def generic_guess(f, z):
    """Starting values that know only the spectrum's extent: R0 at the smallest Re Z, the rest of
    the real span shared by three arcs at the band's quarter points, a Warburg-like tail, an
    inductance reaching R0 at the highest frequency and a small inductive loop there."""
    r0 = max(np.min(z.real), 1e-6)
    span = max(np.ptp(z.real), 1e-6)
    w = 2 * np.pi * f
    w_lo, w_hi = np.min(w), np.max(w)
    centres = np.exp(np.log(w_lo) + np.array([0.25, 0.5, 0.75]) * (np.log(w_hi) - np.log(w_lo)))
    guess = [r0, 1 / (span * np.sqrt(w_lo)), 0.5, r0 ** (1 / 0.9) / w_hi, 0.9, 0.01 * r0, (0.01 * r0) ** (1 / 0.8) / w_hi, 0.8]
    for wc in centres:
        r = span / 4
        guess += [r, 1 / (r * wc ** 0.8), 0.8]
    return guess


fitted, rhos, failures = 0, [], 0
start = time.perf_counter()
for case, name, limit in cases:
    rows = spectra[spectra[:, 0] == int(case)]
    f, z = rows[:, 1], rows[:, 2] + 1j * rows[:, 3]
    try:
        circuit = CustomCircuit(CIRCUIT, initial_guess=generic_guess(f, z))
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            circuit.fit(f, z)
        rho = rescaled_residual(z, circuit.predict(f))
    except Exception:  # a fit scipy gave up on counts as not properly fitted
        failures += 1
        rho = float('inf')
    rhos.append(rho)
    fitted += rho <= float(limit)
seconds = time.perf_counter() - start
print(f'cases={len(cases)}')
print(f'properly_fitted={fitted}')
print(f'properly_fitted_share={fitted / len(cases)}')
print(f'failed_fits={failures}')
print(f'median_rho={np.median(rhos)}')
print(f'ms_per_spectrum={1000 * seconds / len(cases)}')
