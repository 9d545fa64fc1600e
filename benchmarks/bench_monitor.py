"""Benchmark: MechanismMonitor overhead on the digits MLP (issue 10: networks and monitor).

Run:  python benchmarks/bench_monitor.py [--reps N]   (writes the "monitor" section of BENCHMARKS.md)

SGD (``featmech.nets.networks.train``, lr 0.05, cross-entropy) of the 64→256→256→10 MLP on
``load_dataset("digits")``, at batch 128 and at full batch. Arms, interleaved within each
repetition (so that the machine's load hits them alike), one thread each:

- plain: no monitor;
- (a) the default recording: norms every step, exact ζ every ``DEFAULT_ALIGNMENT_EVERY`` = 10 steps;
- (b) exact ζ every step (``alignment_every=1``);
- (c) the default plus the NTK (``fast_ntk``) on 64 probe examples every 50 steps, with probe labels.

Times are the process's CPU time (``time.process_time``; one thread, so it is the work done,
much less sensitive than wall time to the other processes on a shared machine).
Overhead = time(arm) / time(plain) − 1 within a repetition; the table gives the median over the
repetitions and the range. Targets (issue 10): ≤ 5 % for (a), ≤ 15 % for (c).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from featmech.data import load_dataset  # noqa: E402
from featmech.nets.monitor import MechanismMonitor, fast_ntk  # noqa: E402
from featmech.nets.networks import MLP, Training, train  # noqa: E402

from _report import write_section  # noqa: E402

ARMS = {
    "plain": None,
    "(a) default: norms every step, exact ζ every 10": dict(ntk_every=0),
    "(b) exact ζ every step": dict(ntk_every=0, alignment_every=1),
    "(c) default + NTK on 64 probes every 50 steps": dict(ntk_every=50),
}
TARGETS = {"(a) default: norms every step, exact ζ every 10": 0.05, "(c) default + NTK on 64 probes every 50 steps": 0.15}


def run(options: dict | None, ds, training: Training) -> float:
    net = MLP(64, (256, 256), 10, seed=0)
    mon = None
    if options is not None:
        mon = MechanismMonitor(net, ds.x_train[:64], ds.y_train[:64], **options)
    t0 = time.process_time()
    train(net, ds.x_train, ds.y_train, training, monitor=mon)
    if mon is not None:
        mon.norms  # noqa: B018 - reading converts the queued records: part of the cost
    return time.process_time() - t0


def _best(fn, inner: int, blocks: int) -> float:
    """Fastest wall time per call of ``fn`` over ``blocks`` blocks of ``inner`` calls (seconds)."""
    best = float("inf")
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def components(ds) -> dict[str, float]:
    """The cost of one training step and of each recording operation, measured apart (seconds)."""
    net = MLP(64, (256, 256), 10, seed=0)
    X = torch.as_tensor(np.array(ds.x_train), dtype=torch.float32)
    Y = torch.as_tensor(np.array(ds.y_train), dtype=torch.int64)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(0)

    def sgd_step() -> None:
        idx = torch.randint(0, len(X), (128,), generator=gen)
        opt.zero_grad(set_to_none=True)
        val = torch.nn.functional.cross_entropy(net(X[idx]), Y[idx])
        val.backward()
        opt.step()
        float(val.detach())

    mon = MechanismMonitor(net, ds.x_train[:64], ds.y_train[:64])
    # MechanismMonitor.step as a training loop calls it: norms only, and norms with ζ (queued; converted
    # in chunks of 1024 records, as in a long run)
    only_norms = MechanismMonitor(net, ds.x_train[:64], ntk_every=0, alignment_every=10**9)
    with_zeta = MechanismMonitor(net, ds.x_train[:64], ntk_every=0, alignment_every=1)
    out = {}
    for _ in range(3):  # interleaved: take the best of each over the rounds
        for name, fn, inner, blocks in (("step", sgd_step, 10, 40),
                                         ("norms", only_norms.step, 50, 10), ("zeta", with_zeta.step, 20, 10),
                                         ("ntk", lambda: mon._record_ntk(0), 1, 5),
                                         ("ntk_only", lambda: fast_ntk(net, mon._on_device()[0], mon._eta_param), 1, 5)):
            out[name] = min(out.get(name, float("inf")), _best(fn, inner, blocks))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ds = load_dataset("digits")
    for options in ARMS.values():  # warm-up (first-use imports and allocations)
        run(options, ds, Training(lr=0.05, steps=60, loss="ce", batch_size=128))
    rows = ["| benchmark | measured (median, range over repetitions) | target | |", "|---|---|---|---|"]
    settings = ((128, "batch 128", 1000), (None, f"full batch ({len(ds.x_train)})", 200))
    for bs, label, steps in settings:
        training = Training(lr=0.05, steps=steps, loss="ce", batch_size=bs, seed=0)
        times: dict[str, list[float]] = {k: [] for k in ARMS}
        for rep in range(args.reps):
            order = list(ARMS) if rep % 2 == 0 else list(ARMS)[::-1]
            for k in order:
                times[k].append(run(ARMS[k], ds, training))
        plain = np.array(times["plain"])
        rows.append(f"| SGD step, digits MLP 64→256→256→10, {label}, plain | "
                    f"{np.median(plain) / steps * 1e3:.3f} ms ({plain.min() / steps * 1e3:.3f}–"
                    f"{plain.max() / steps * 1e3:.3f}) | | |")
        for k in list(ARMS)[1:]:
            o = np.array(times[k]) / plain - 1
            med = float(np.median(o))
            target = TARGETS.get(k)
            verdict = "" if target is None else ("met" if med <= target else "NOT met")
            rows.append(f"| {label}: {k} | {med * 100:+.1f} % ({o.min() * 100:+.1f} … {o.max() * 100:+.1f}) | "
                        f"{'' if target is None else f'≤ {target * 100:.0f} %'} | {verdict} |")
        print("\n".join(rows), flush=True)
    comp = components(ds)
    a = (comp["norms"] + comp["zeta"] / 10) / comp["step"]
    b = comp["zeta"] / comp["step"]
    c = a + (comp["ntk"] + comp["norms"] + comp["zeta"]) / 50 / comp["step"]
    rows += ["", "Component estimate at batch 128 (fastest of many short blocks, wall time, the least disturbed by "
             "other processes):", "", "| component | time | per step of training |", "|---|---|---|",
             f"| SGD step (train's loop body), batch 128 | {comp['step'] * 1e3:.3f} ms | |",
             f"| MechanismMonitor.step recording the 3 norms (queued on the device, converted in chunks) | {comp['norms'] * 1e6:.0f} µs | "
             f"{comp['norms'] / comp['step'] * 100:.1f} % |",
             f"| MechanismMonitor.step recording norms and the exact ζ of the 2 pairs | {comp['zeta'] * 1e6:.0f} µs | "
             f"{comp['zeta'] / comp['step'] * 100:.1f} % |",
             f"| NTK record: fast_ntk on 64 probes + probe loss + kernel statistics | {comp['ntk'] * 1e3:.2f} ms | "
             f"{comp['ntk'] / comp['step'] * 100:.0f} % |",
             f"| (a) default: norms every step + ζ every 10 | | {a * 100:.1f} % (target ≤ 5 %: "
             f"{'met' if a <= 0.05 else 'NOT met'}) |",
             f"| (b) ζ every step | | {b * 100:.1f} % |",
             f"| (c) (a) + NTK every 50 steps | | {c * 100:.1f} % (target ≤ 15 %: {'met' if c <= 0.15 else 'NOT met'}) |"]
    ntk_ms = [comp["ntk_only"] * 1e3]
    load = os.getloadavg()
    body = "\n".join(rows) + (
        f"\n\n{args.reps} repetitions, the arms interleaved (order alternating) within each; 1000 steps at batch 128, "
        f"200 at full batch; torch {torch.__version__}, 1 thread per run. One fast_ntk on the 64 probes: "
        f"{np.median(ntk_ms):.1f} ms (fastest of 15). Load average at the end: {load[0]:.1f} (1 min), {load[1]:.1f} "
        "(5 min) on 2 cores shared with other processes, hence the ranges: the end-to-end verdicts (first table) "
        "are those of the medians, but with spreads of tens of percent they can neither confirm nor refute a 5 % overhead; "
        "the component estimate (second table: the fastest of many short blocks of each operation, the same "
        "quantities as arms (a)–(c)) is the reliable measure on a loaded machine.\n\n"
        "Why the default is ζ every 10 steps: the exact ζ needs ‖W₂W₁‖_F, a 256×256 by 256×64 product (4.2 M "
        "multiply-adds, plus 0.65 M for the last pair) against ~32 M for a forward and backward pass at batch 128, "
        "so ζ at every step costs ~15 % at that batch size (arm (b)) and no exact method avoids the product. A "
        "randomized (Hutchinson) estimate ‖W₂W₁G‖²/k with k Gaussian probe columns G costs k(256·64 + 256·256) "
        "multiply-adds (6.5× less than exact at k = 8) but has relative standard deviation √(2/(k·r)) on ‖W₂W₁‖², "
        "r the product's effective rank: measured on this MLP (2000 draws, k = 8, at init and after 1000–3000 "
        "steps of this training), the error of ζ is 3.8–5.9 % for layers.0→layers.1 (r 42 → 17) and 8.5–10 % "
        "for layers.1→layers.2 (r 9 → 6), and it grows as the layers align, so it was not adopted. Norms are "
        "queued as device tensors (one torch._foreach_norm per step, converted when read), so recording never "
        "forces a device synchronization per step. fast_ntk takes the C = 10 backward passes as one batched "
        "backward (is_grads_batched) and works in the model's dtype: ~1.8× faster than the per-class loop of "
        "float64 products it replaces (A/B on this machine, 4.5–6.7 ms vs 8.0–11 ms).")
    print(body)
    if not args.no_write:
        write_section("monitor", "python benchmarks/bench_monitor.py", body)


if __name__ == "__main__":
    main()
