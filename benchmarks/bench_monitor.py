"""Benchmark: MechanismMonitor overhead on the digits MLP (issue: networks and monitor).

Run:  python benchmarks/bench_monitor.py      (writes the "monitor" section of BENCHMARKS.md)

Minibatch SGD (batch 128) of the 64→256→256→10 MLP on digits. Compared in one run, interleaved:
plain training, the monitor recording norms and ζ every step, and the monitor adding the
empirical NTK on 64 probe examples every 50 steps. Targets: ≤ 5 % and ≤ 15 % overhead.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from featmech.data import load_digits  # noqa: E402
from featmech.nets.monitor import MechanismMonitor  # noqa: E402
from featmech.nets.networks import MLP, train  # noqa: E402

from _report import write_section  # noqa: E402


def run(kind: str, ds, steps: int, batch_size: int | None = 128) -> float:
    net = MLP(64, (256, 256), 10, seed=0)
    mon = None
    if kind == "norms":
        mon = MechanismMonitor(net, ds.x_train[:64], every=1, ntk_every=0)
    elif kind == "ntk":
        mon = MechanismMonitor(net, ds.x_train[:64], ds.y_train[:64], every=1, ntk_every=50)
    t0 = time.perf_counter()
    train(net, ds.x_train, ds.y_train, lr=0.05, steps=steps, loss="ce", batch_size=batch_size, seed=0, monitor=mon)
    return time.perf_counter() - t0


def main() -> None:
    torch.set_num_threads(2)
    ds = load_digits()
    steps = 1000
    run("plain", ds, 50)  # warm-up
    rows = ["| benchmark | measured | target | |", "|---|---|---|---|"]
    for bs, label, steps in ((128, "batch 128", 1000), (None, "full batch (1347)", 300)):
        times: dict[str, list[float]] = {"plain": [], "norms": [], "ntk": []}
        for _ in range(5):
            for k in times:
                times[k].append(run(k, ds, steps, bs))
        best = {k: min(v) for k, v in times.items()}
        o1 = best["norms"] / best["plain"] - 1
        o2 = best["ntk"] / best["plain"] - 1
        rows += [
            f"| SGD step, digits MLP 64→256→256→10, {label} | {best['plain'] / steps * 1e3:.3f} ms | | |",
            f"| {label}: + norms and ζ every step | {o1 * 100:+.1f} % | ≤ 5 % | {'met' if o1 <= 0.05 else 'NOT met'} |",
            f"| {label}: + norms, ζ every step and NTK on 64 probes every 50 steps | {o2 * 100:+.1f} % | ≤ 15 % | "
            f"{'met' if o2 <= 0.15 else 'NOT met'} |",
        ]
    body = "\n".join(rows) + (
        "\n\nBest of 5 interleaved runs (1000 steps at batch 128, 300 at full batch), torch "
        f"{torch.__version__}, 2 threads. ζ needs ‖W₂W₁‖_F, a 256×256 by 256×64 product (4.9 M multiply-adds, "
        "plus 0.65 M for the last pair) against ~32 M for a forward+backward pass at batch 128: about 15 % of the "
        "step's arithmetic, so the 5 % target is out of reach of an exact ζ at that batch size; at full batch it is ~1.5 %. "
        "The NTK uses the Linear-layer structure (featmech.nets.monitor.fast_ntk): 10 backward passes over the probe "
        "instead of 64 per-example Jacobians, ~130× faster than the generic torch.func path.")
    print(body)
    write_section("monitor", "python benchmarks/bench_monitor.py", body)


if __name__ == "__main__":
    main()
