"""Benchmarks of the width-free multi-output linear engine (featmech.linear).

Run:  OPENBLAS_NUM_THREADS=1 python benchmarks/bench_linear.py   (writes the "linear" section of BENCHMARKS.md)

Data: the digits moments (featmech.data.load_dataset("digits"): m = 64 inputs, c = 10 one-hot outputs).
(a) mean-field (σ = 1, η = d, κ = 1/d; featmech.analysis.scaling's preset) gradient flow on t ∈ [0, 10],
    101 times, and 1000 GD steps: width 10¹² against width 10²;
(b) minibatch SGD (batch 32, 300 steps, replayed batches) at width 10⁴: width-free against the plain
    full-width NumPy loop, and their largest difference;
(c) gradient flow at width 10³ on t ∈ [0, 10]: featmech.linear.solve against scipy's solve_ivp (DOP853) on the
    full 74 000-dimensional ODE at rtol 1e-10, both measured against solve_ivp on the full ODE at rtol 1e-13.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from featmech import linear  # noqa: E402
from featmech.data import load_dataset  # noqa: E402

from _report import best_time, write_section  # noqa: E402


def digits() -> tuple[np.ndarray, np.ndarray]:
    ds = load_dataset("digits")
    return ds.x_train, np.eye(ds.n_classes)[ds.y_train]


def bench_a(X: np.ndarray, Y: np.ndarray) -> list[str]:
    n = len(X)
    S, B, yy = X.T @ X / n, X.T @ Y / n, float(np.sum(Y * Y) / n)
    ts = np.linspace(0, 10, 101)
    rows, times = [], {}
    for d in (10**2, 10**12):
        g = linear.sample_gram(d, c=10, m=64, seed=0)
        hp = dict(eta_u=float(d), eta_w=float(d), kappa=1.0 / d)
        tf = best_time(lambda: linear.solve_gram(g, sigma_xx=S, sigma_xy=B, sigma_yy=yy, **hp)(ts), repeat=2)
        tg = best_time(lambda: linear.simulate_gram(g, X, Y, lr=0.01, steps=1000, every=10, **hp), repeat=2)
        st = linear.solve_gram(g, sigma_xx=S, sigma_xy=B, sigma_yy=yy, **hp)(ts)
        times[d] = (tf, tg)
        rows.append(f"| (a) width 10^{int(np.log10(d))}: flow, 101 times on [0, 10] | {tf * 1e3:.0f} ms | | "
                    f"loss {st.loss[0]:.3f} → {st.loss[-1]:.3f}, ζ {st.alignment[0]:.2g} → {st.alignment[-1]:.2g} |")
        rows.append(f"| (a) width 10^{int(np.log10(d))}: 1000 GD steps (lr 0.01) | {tg * 1e3:.0f} ms | | |")
    rf, rg = times[10**12][0] / times[10**2][0], times[10**12][1] / times[10**2][1]
    ok = "met" if max(rf, rg) < 1.5 else "NOT met"
    rows.append(f"| (a) cost ratio width 10¹² / width 10² (flow, GD) | **{rf:.2f}×, {rg:.2f}×** | ≈ 1× | {ok} |")
    return rows


def full_sgd(U, W, X, Y, idx, lr):
    for s in range(idx.shape[0]):
        xb, yb = X[idx[s]], Y[idx[s]]
        G = (xb @ W.T @ U.T - yb).T @ xb / len(xb)
        U, W = U - lr * G @ W.T, W - lr * U.T @ G
    return U @ W


def bench_b(X: np.ndarray, Y: np.ndarray) -> list[str]:
    d, steps = 10**4, 300
    rng = np.random.default_rng(0)
    U0, W0 = rng.standard_normal((10, d)) / np.sqrt(d), rng.standard_normal((d, 64)) / np.sqrt(d)
    idx = linear.draw_batches(len(X), 32, steps, seed=0)
    tw = tf = tr = ts = float("inf")
    for _ in range(3):  # interleaved: both arms see the same load
        tw = min(tw, best_time(lambda: linear.simulate(U0, W0, X, Y, lr=0.05, steps=steps, batch_indices=idx,
                                                       every=steps, grams=False), repeat=3))
        tf = min(tf, best_time(lambda: full_sgd(U0, W0, X, Y, idx, 0.05), repeat=1))
        tr = min(tr, best_time(lambda: linear.gram_of(U0, W0), repeat=3))
        g = linear.gram_of(U0, W0)
        ts = min(ts, best_time(lambda: linear.simulate_gram(g, X, Y, lr=0.05, steps=steps, batch_indices=idx,
                                                            every=steps, grams=False), repeat=3))
    res = linear.simulate(U0, W0, X, Y, lr=0.05, steps=steps, batch_indices=idx, every=steps)
    err = float(np.max(np.abs(res.product[-1] - full_sgd(U0, W0, X, Y, idx, 0.05))))
    ratio = tf / tw
    return [f"| (b) SGD width 10⁴, 300 steps of 32: width-free (Gram reduction included) | {tw * 1e3:.0f} ms | | "
            f"reduction {tr * 1e3:.1f} ms + {ts / steps * 1e6:.0f} µs/step at r = c+m = 74 |",
            f"| (b) same, plain full-width NumPy loop | {tf * 1e3:.0f} ms | | {tf / steps * 1e3:.1f} ms/step; "
            f"max abs. difference of UW {err:.1e} |",
            f"| (b) speed-up (per step alone: {tf / ts:,.0f}×) | **{ratio:,.0f}×** | ≥ 100× | "
            f"{'met' if ratio >= 100 else 'NOT met'} |"]


def bench_c(X: np.ndarray, Y: np.ndarray) -> list[str]:
    n, d, c, m = len(X), 10**3, 10, 64
    S, B = X.T @ X / n, X.T @ Y / n
    rng = np.random.default_rng(1)
    U0, W0 = rng.standard_normal((c, d)) / np.sqrt(d), rng.standard_normal((d, m)) / np.sqrt(m)
    ts = np.linspace(0, 10, 21)

    def rhs(_t, x):
        U, W = x[: c * d].reshape(c, d), x[c * d:].reshape(d, m)
        G = U @ W @ S - B.T
        return np.concatenate([(-G @ W.T).ravel(), (-U.T @ G).ravel()])

    x0 = np.concatenate([U0.ravel(), W0.ravel()])

    def full(rtol):
        r = solve_ivp(rhs, (0, 10), x0, method="DOP853", rtol=rtol, atol=rtol * np.abs(x0).max(), t_eval=ts)
        return np.array([r.y[: c * d, i].reshape(c, d) @ r.y[c * d:, i].reshape(d, m) for i in range(ts.size)])

    t0 = time.perf_counter()
    ref = full(1e-13)
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    peer = full(1e-10)
    t_peer = time.perf_counter() - t0
    t_lin = best_time(lambda: linear.solve(U0, W0, sigma_xx=S, sigma_xy=B)(ts), repeat=3)
    mine = linear.solve(U0, W0, sigma_xx=S, sigma_xy=B)(ts).product
    e_lin, e_peer = float(np.abs(mine - ref).max()), float(np.abs(peer - ref).max())
    return [f"| (c) flow width 10³, 21 times on [0, 10]: featmech.linear.solve (rtol 1e-10) | {t_lin * 1e3:.0f} ms | | "
            f"max abs. error of UW {e_lin:.1e} |",
            f"| (c) same, solve_ivp DOP853 on the full ODE, rtol 1e-10 | {t_peer * 1e3:.0f} ms | | "
            f"max abs. error {e_peer:.1e} (reference: full ODE at rtol 1e-13, {t_ref:.1f} s) |",
            f"| (c) speed-up | **{t_peer / t_lin:,.0f}×** | | |"]


NOTE = """Run with `OPENBLAS_NUM_THREADS=1` (one BLAS thread per process); each ratio compares arms measured in the
same run, (b) interleaved three times (fastest of each). Why (b) is near, not clearly above, 100×: the width-free
step is ~15 small BLAS calls on r = c+m = 74 columns (about 0.2 M multiply-adds, where per-call overhead of a few
µs dominates), the full-width step at d = 10⁴ is ~36 M multiply-adds; so the per-step ratio is ~100–150×, and
the one-time reduction (the Gram matrix of the 10⁴ × 74 weights, one pass, ≈ 100 width-free steps' worth) lowers
the 300-step end-to-end ratio. It grows with the number of steps and with the width (the full loop is O(d) per
step, the reduced one O(1)). Why (c) is only a few ×: the reduced ODE has 5 476 unknowns against 74 000 and its
right-hand side costs ~10× less, but the solution is integrated on fixed doubling segments (to t = 16 for
t ≤ 10: ~1.5× more steps, the price of `sol(t)` not depending on the order of the calls) and DOP853 takes ~1.3×
more steps on the reduced coordinates. The mean-field flow at width 10¹² costs what width 10² does (a)."""


def main() -> None:
    X, Y = digits()
    rows = ["| benchmark | measured | target | |", "|---|---|---|---|"]
    for bench in (bench_a, bench_b, bench_c):
        rows += bench(X, Y)
        print("\n".join(rows[-3:]), flush=True)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    note = NOTE + f"\n\nLoad average at the end: {load[0]:.1f} (1 min), {load[1]:.1f} (5 min) on a machine shared with " \
                  "other processes: absolute times are noisy, ratios less so."
    write_section("linear", "OPENBLAS_NUM_THREADS=1 python benchmarks/bench_linear.py", "\n".join(rows) + "\n\n" + note)


if __name__ == "__main__":
    main()
