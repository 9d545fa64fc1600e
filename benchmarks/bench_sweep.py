"""Benchmarks of sweeps and the store (issue: sweeps, store, report).

Run:  python benchmarks/bench_sweep.py      (writes the "sweep" section of BENCHMARKS.md)
      python benchmarks/bench_sweep.py store    (prints (c) alone)

(a) Dask LocalCluster with 2 workers vs 1 on CPU-bound network points (digits MLP, 1 torch thread
    per worker), target ≥ 1.6× speed-up; (b) per-task overhead of the process pool and of Dask
    (tiny tasks, one point per task); (c) store write rate, target ≥ 10⁵ scalar rows/s; (d) a
    sweep killed with SIGKILL and resumed: lost and repeated points; (e) issue 13: a 400-point ×
    20 000-step ``simulate`` sweep, serial with the store, against one batched simulator call over
    the same configurations (target ≤ 5×), and against computing the points one by one; (f) the
    spec of docs/sweeps.md (and the same at 800 points), ``featmech sweep run`` defaults
    (process pool on all cores), target under a minute.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from featmech.analysis.runs import iid_init  # noqa: E402
from featmech.records import PointOutcome, PointResult  # noqa: E402
from featmech.sweeps.computations import simulate_point  # noqa: E402
from featmech.sweeps.store import Store, point_key  # noqa: E402
from featmech.sweeps.sweep import load_spec, parse_spec, points, run_sweep  # noqa: E402
from featmech.theory.config import Gram, Hyper  # noqa: E402
from featmech.theory.optim import Optimizer, Record  # noqa: E402
from featmech.theory.simulate import run_defaults, simulate  # noqa: E402

from _report import ROOT, best_time, write_section  # noqa: E402

NET = {"computation": "network", "seeds": [0, 1, 2, 3, 4, 5, 6, 7],
       "fixed": {"quick": True, "steps": 1500, "scale": 1.0}}
TINY = {"computation": "trajectory", "seeds": list(range(200)), "fixed": {"points": 2, "width": 10}}
S400 = {"computation": "simulate", "seeds": [0, 1, 2, 3], "fixed": {"width": 20000, "steps": 20000},
        "axes": {"kappa": {"start": 1e-4, "stop": 1.0, "num": 25, "scale": "log"}, "sigma_u": [0.01, 0.1, 1.0, 3.0]}}


def batched_call(spec) -> float:
    """Best time of one simulator call over the spec's configurations (inits and step sizes prepared)."""
    cfgs = [cfg for _, cfg in points(spec)]
    steps = cfgs[0]["steps"]
    grams = [iid_init(c) for c in cfgs]
    hypers = [Hyper(**{n: c[n] for n in ("eta_u", "eta_w", "kappa", "target", "data_var")}) for c in cfgs]
    lr = np.array([run_defaults(g, h, steps, c["lr"]).lr for g, h, c in zip(grams, hypers, cfgs)])
    gram = Gram.trusted(*(np.array([getattr(g, n) for g in grams]) for n in ("uu", "ww", "uw", "area")))
    hyper = Hyper(**{n: np.array([getattr(h, n) for h in hypers]) for n in ("eta_u", "eta_w", "kappa", "target",
                                                                             "data_var")})
    return best_time(lambda: simulate(gram, hyper, Optimizer(lr=lr), steps, Record(None)), repeat=3)


def sweep_time(spec, db: Path, repeat: int = 1, **kw) -> float:
    """Best wall time of the whole sweep into a fresh store (``repeat`` fresh stores)."""
    best = float("inf")
    for i in range(repeat):
        path = db.with_name(f"{db.stem}_{i}.db")
        t0 = time.perf_counter()
        rep = run_sweep(spec, path, progress=False, **kw)
        best = min(best, time.perf_counter() - t0)
        assert rep.computed + rep.failed == rep.total and rep.failed == 0, rep
    return best


def docs_spec() -> dict:
    """The first TOML spec of docs/sweeps.md, as a mapping."""
    import tomllib

    text = (ROOT / "docs" / "sweeps.md").read_text()
    return tomllib.loads(re.search(r"```toml\n(.*?)```", text, re.S).group(1))


def main() -> None:
    rows = ["| benchmark | measured | target | |", "|---|---|---|---|"]
    tmp = Path(tempfile.mkdtemp())
    from distributed import LocalCluster

    spec = parse_spec(NET)
    warm = parse_spec({**NET, "seeds": [100, 101], "fixed": {**NET["fixed"], "steps": 5}})
    t = {}
    for n in (1, 2):
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster:
            run_sweep(warm, tmp / f"warm{n}.db", executor="dask", scheduler=cluster.scheduler_address,
                      progress=False)  # workers import torch and load the data first
            t0 = time.perf_counter()
            rep = run_sweep(spec, tmp / f"net{n}.db", executor="dask", scheduler=cluster.scheduler_address,
                            progress=False)
            t[n] = time.perf_counter() - t0
        assert rep.computed == 8, rep
    sp = t[1] / t[2]
    rows.append(f"| (a) 8 digits-MLP points (1500 SGD steps each): Dask LocalCluster, 1 worker | {t[1]:.1f} s | | |")
    rows.append(f"| (a) same, 2 workers | {t[2]:.1f} s — **{sp:.2f}× speed-up** | ≥ 1.6× | "
                f"{'met' if sp >= 1.6 else 'NOT met'} |")
    tiny = parse_spec(TINY)
    t0 = time.perf_counter()
    run_sweep(tiny, tmp / "serial.db", executor="serial", progress=False)
    base = (time.perf_counter() - t0) / 200
    for ex in ("pool", "dask"):
        t0 = time.perf_counter()
        run_sweep(tiny, tmp / f"tiny_{ex}.db", executor=ex, workers=2, chunk_size=1, progress=False)
        per = (time.perf_counter() - t0) / 200
        rows.append(f"| (b) per-task overhead, {ex} (200 one-point tasks, 2 workers, incl. start-up) | "
                    f"{(per - base / 2) * 1e3:.1f} ms/task | | serial cost {base * 1e3:.2f} ms/point |")
    t0 = time.perf_counter()
    rep = run_sweep(tiny, tmp / "tiny_chunked.db", executor="pool", workers=2, progress=False)
    rows.append(f"| (b) same 200 points, pool with automatic chunks | {(time.perf_counter() - t0) * 1e3 / 200:.1f} ms/point"
                " | | |")
    rows.append(store_rate(tmp))
    spec_path = tmp / "kill.toml"
    spec_path.write_text('computation = "simulate"\nseeds = [0, 1]\n[fixed]\nwidth = 5000\nsteps = 40000\nlr = 0.01\n'
                         '[axes]\nkappa = {start = 1e-3, stop = 1.0, num = 10, scale = "log"}\n')
    db = tmp / "kill.db"
    proc = subprocess.Popen([sys.executable, "-m", "featmech", "sweep", "run", str(spec_path), "--store", str(db),
                             "--serial", "--chunk-size", "1", "--quiet"])
    while True:
        try:
            c = sqlite3.connect(str(db), timeout=5).execute("SELECT count(*) FROM points").fetchone()[0]
        except sqlite3.Error:
            c = 0
        if c >= 8:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Store(db) as st:
        before = st.counts()["done"]
    rep = run_sweep(load_spec(spec_path), db, executor="serial", progress=False)
    with Store(db) as st:
        after = st.counts()["done"]
    lost = rep.total - after
    repeated = rep.computed - (rep.total - before)
    rows.append(f"| (d) SIGKILL after {before} of {rep.total} points, then resume | lost {lost}, repeated {repeated}, "
                f"recomputed {rep.computed} | 0 lost, 0 repeated | {'met' if lost == 0 and repeated == 0 else 'NOT met'} |")
    # (e) issue 13: a chunk of exact points is one batched call
    s400 = parse_spec(S400)
    run_sweep(parse_spec({**S400, "seeds": [99]}), tmp / "warm.db", executor="serial", progress=False)  # imports
    t_sweep = sweep_time(s400, tmp / "s400.db", repeat=3, executor="serial")
    t_call = batched_call(s400)
    ratio = t_sweep / t_call
    cfgs = [cfg for _, cfg in points(s400)][::40]
    t0 = time.perf_counter()
    for cfg in cfgs:
        simulate_point(cfg)
    t_alone = (time.perf_counter() - t0) / len(cfgs) * len(points(s400))
    rows.append(f"| (e) 400 `simulate` points × 20 000 steps (width 20 000), serial sweep with the store | "
                f"{t_sweep:.2f} s | | |")
    rows.append(f"| (e) one batched simulator call over the same 400 configurations | {t_call:.2f} s — sweep/call "
                f"**{ratio:.1f}×** | ≤ 5× | {'met' if ratio <= 5 else 'NOT met'} |")
    rows.append(f"| (e) the same points one by one (before issue 13; 10 points timed, × 40) | {t_alone:.0f} s | | "
                f"batched sweep {t_alone / t_sweep:.0f}× faster |")
    # (f) the example of docs/sweeps.md, as `featmech sweep run spec.toml --store results.db` runs it
    doc = docs_spec()
    for i, (label, mapping) in enumerate((("docs/sweeps.md example", doc),
                           ("same at 800 points (8 seeds, 4 σ_u)", {**doc, "seeds": list(range(8)),
                                                                    "axes": {**doc["axes"],
                                                                             "sigma_u": [0.01, 0.1, 1.0, 3.0]}}))):
        spec = parse_spec(mapping)
        t = sweep_time(spec, tmp / f"doc{i}.db", executor="pool")
        rows.append(f"| (f) {label}: {spec.n_points} points × {mapping['fixed']['steps']:,} steps, process pool "
                    f"({os.cpu_count()} workers) | **{t:.1f} s** | < 60 s | {'met' if t < 60 else 'NOT met'} |")
    load = os.getloadavg()
    rows.append(f"\nLoad average at the end of the run: {load[0]:.1f} (1 min), {load[1]:.1f} (5 min) on "
                f"{os.cpu_count()} cores: other processes share the machine, so absolute times and the "
                "speed-up of (a) are noisy; the ratios (e) compare runs made back to back.")
    body = "\n".join(rows)
    print(body)
    write_section("sweep", "python benchmarks/bench_sweep.py", body)


def store_rate(tmp: Path, n: int = 100_000, repeat: int = 3) -> str:
    """(c) The store's bulk write rate, as the table row: ``n`` rows of 3 parameters + 3 results
    written in one :meth:`Store.write` into a fresh store, best of ``repeat``.

    The rate is rows per second of this process's CPU time (user + system: what the store costs,
    whatever else runs on the machine) — the target is judged on it — and of wall time, next to
    the load average while it ran (the wall rate falls when other processes share the cores).
    """
    data = [PointOutcome(point_key("bench", {"i": i}), {"i": i, "kappa": 0.1 * i, "seed": i % 7},
                         PointResult({"loss": 1.0 / (i + 1), "ntk_ratio": 1.5, "regime": "kernel"}))
            for i in range(n)]
    cpu = wall = float("inf")
    for k in range(repeat):
        with Store(tmp / f"w{k}.db") as st:
            t0, c0 = time.perf_counter(), time.process_time()
            st.write(data, computation="bench")
            wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
            assert st.counts()["done"] == n
    load = os.getloadavg()[0]
    rate = n / cpu
    return (f"| (c) store write rate (bulk, {n:,} rows of 3 parameters + 3 results, best of {repeat} fresh stores) | "
            f"**{rate:,.0f} rows/s of CPU time**; {n / wall:,.0f} rows/s of wall time at load average {load:.1f} on "
            f"{os.cpu_count()} cores | ≥ 10⁵ rows/s (CPU time) | {'met' if rate >= 1e5 else 'NOT met'} |")


if __name__ == "__main__":
    if sys.argv[1:] == ["store"]:  # (c) alone, printed, BENCHMARKS.md untouched
        print(store_rate(Path(tempfile.mkdtemp())))
    else:
        main()
