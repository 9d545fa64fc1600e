"""Benchmark: finite-width phase diagram throughput (issue: regimes and phase diagrams).

Run:  python benchmarks/bench_phase.py      (writes the "phase" section of BENCHMARKS.md)

10⁶ grid points (1000 × 1000, one seed) sampled, solved and classified in one vectorized call,
target ≤ 5 s; and the same per-point cost measured against a Python loop over 2000 points.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import featmech  # noqa: E402
from featmech.analysis.phase import phase_diagram  # noqa: E402
from featmech.analysis.regimes import classify_solution  # noqa: E402

from _report import write_section  # noqa: E402


def main() -> None:
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        pd = phase_diagram("width=1e3:1e6:log:1000", "kappa=1e-7:1:log:1000", seeds=1)
        times.append(time.perf_counter() - t0)
    t = min(times)
    counts = pd.summary()["counts"]
    # the one-at-a-time peer, on 2000 of the points
    g = pd.gram
    idx = np.random.default_rng(0).integers(0, 1000, size=(2000, 2))
    t0 = time.perf_counter()
    for i, j in idx:
        sol = featmech.solve(g.index((0, i, j)), featmech.Hyper(kappa=float(pd.params["kappa"][i, j])))
        classify_solution(sol)
    t_loop = (time.perf_counter() - t0) / 2000
    rows = [
        "| benchmark | measured | target | |",
        "|---|---|---|---|",
        f"| 10⁶ grid points (width × κ, 1 seed) sampled, solved, classified | **{t:.2f} s** "
        f"({1e6 / t:,.0f} points/s) | ≤ 5 s | {'met' if t <= 5 else 'NOT met'} |",
        f"| one-at-a-time loop (solve_gram + classify_solution per point) | {t_loop * 1e3:.2f} ms/point | | "
        f"vectorized is {t_loop * 1e6 / t:,.0f}× faster per point |",
        f"| labels on that grid | {', '.join(f'{k}: {v:,}' for k, v in counts.items())} | | |",
    ]
    body = "\n".join(rows)
    print(body)
    write_section("phase", "python benchmarks/bench_phase.py", body)


if __name__ == "__main__":
    main()
