"""Sweeps: a TOML spec → points × seeds → computed in-process, in a process pool or on Dask → a store.

Spec (keys are the CLI option names with ``_``)::

    computation = "simulate"            # "trajectory", "simulate" or "network"
    seeds = [0, 1, 2, 3]
    [fixed]
    width = 20000
    lr = 0.01
    [axes]
    kappa = {start = 1e-4, stop = 1.0, num = 25, scale = "log"}
    sigma_u = [0.01, 0.1, 1.0]

Every point gets a content key (:func:`featmech.store.point_key`: computation, full config with
the seed, package version). Finished keys are skipped, so an interrupted sweep resumes where it
stopped, whatever killed it; failed points are stored with their error and rerun only with
``retry_failed``. Cheap points are batched into chunks so that per-task overhead stays small;
results are written by the coordinating process, one transaction per chunk.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TextIO

import numpy as np

from featmech.errors import InputError
from featmech.sweeps.store import Store, point_key

__all__ = ["PARAMS", "Spec", "load_spec", "parse_spec", "points", "run_point", "run_sweep", "SweepReport",
           "Progress"]

# parameter name -> (type, default); type in {"float", "int", "str", "bool", "int?", "float?"}
PARAMS: dict[str, dict[str, tuple[str, Any]]] = {
    "trajectory": {
        "width": ("int", 1000), "sigma_u": ("float", 1.0), "sigma_w": ("float", 1.0), "rho": ("float", 0.0),
        "eta_u": ("float", 1.0), "eta_w": ("float", 1.0), "kappa": ("float", 1.0), "target": ("float", 1.0),
        "data_var": ("float", 1.0), "t_max": ("float?", None), "points": ("int", 101),
    },
    "simulate": {
        "width": ("int", 1000), "sigma_u": ("float", 1.0), "sigma_w": ("float", 1.0), "rho": ("float", 0.0),
        "eta_u": ("float", 1.0), "eta_w": ("float", 1.0), "kappa": ("float", 1.0), "target": ("float", 1.0),
        "data_var": ("float", 1.0), "lr": ("float?", None), "steps": ("int", 1000), "momentum": ("float", 0.0),
        "weight_decay": ("float", 0.0), "batch_size": ("int?", None), "noise": ("float", 0.0), "every": ("int?", None),
    },
    "network": {
        "dataset": ("str", "digits"), "data_dir": ("str?", None), "arch": ("str", "mlp"), "scale": ("float", 1.0),
        "lr_ratio": ("float", 1.0), "lr": ("float", 0.05), "steps": ("int", 300), "loss": ("str", "ce"),
        "max_train": ("int?", None), "quick": ("bool", True),
    },
}
CHEAP = {"trajectory", "simulate"}
TOP_KEYS = {"computation", "seeds", "fixed", "axes"}


@dataclass(frozen=True)
class Spec:
    """A validated sweep spec."""

    computation: str
    seeds: tuple[int, ...]
    fixed: dict[str, Any]
    axes: dict[str, list[Any]]
    source: str = ""

    @property
    def n_points(self) -> int:
        return math.prod(len(v) for v in self.axes.values()) * len(self.seeds)


def _typed(comp: str, name: str, value: Any, where: str) -> Any:
    params = PARAMS[comp]
    if name not in params:
        raise InputError(f"{where}: unknown key {name!r} for computation {comp!r}; allowed: {', '.join(params)}")
    kind = params[name][0]
    base = kind.rstrip("?")
    if value is None and kind.endswith("?"):
        return None
    ok = {"float": isinstance(value, (int, float)) and not isinstance(value, bool),
          "int": (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer()),
          "str": isinstance(value, str), "bool": isinstance(value, bool)}[base]
    if not ok:
        raise InputError(f"{where}: {name} must be {'an integer' if base == 'int' else 'a ' + base}, got {value!r}")
    if base == "float":
        v = float(value)
        if not math.isfinite(v):
            raise InputError(f"{where}: {name} must be finite, got {value!r}")
        return v
    return int(value) if base == "int" else value


def parse_spec(data: Mapping[str, Any], source: str = "") -> Spec:
    """Validate a spec given as a mapping (what ``tomllib`` returns); raises ValueError on any problem."""
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise InputError(f"spec: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(TOP_KEYS))}")
    comp = data.get("computation")
    if comp not in PARAMS:
        raise InputError(f"spec: computation must be one of {', '.join(PARAMS)}, got {comp!r}")
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                            for s in seeds):
        raise InputError(f"spec: seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    fixed_in = data.get("fixed", {})
    axes_in = data.get("axes", {})
    if not isinstance(fixed_in, dict) or not isinstance(axes_in, dict):
        raise InputError("spec: [fixed] and [axes] must be tables")
    fixed = {k: _typed(comp, k, v, "spec [fixed]") for k, v in fixed_in.items()}
    axes: dict[str, list[Any]] = {}
    for name, ax in axes_in.items():
        if name in fixed:
            raise InputError(f"spec: {name} is both fixed and an axis")
        if isinstance(ax, dict):
            extra = set(ax) - {"start", "stop", "num", "scale"}
            if extra or not {"start", "stop", "num"} <= set(ax):
                raise InputError(f"spec [axes] {name}: a range needs start, stop, num (and scale = 'log'|'linear')")
            start, stop, num, scale = ax["start"], ax["stop"], ax["num"], ax.get("scale", "linear")
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (start, stop)):
                raise InputError(f"spec [axes] {name}: start and stop must be numbers")
            if not isinstance(num, int) or isinstance(num, bool) or num < 1:
                raise InputError(f"spec [axes] {name}: num must be an integer >= 1, got {num!r}")
            if scale not in ("log", "linear"):
                raise InputError(f"spec [axes] {name}: scale must be 'log' or 'linear', got {scale!r}")
            if stop < start or (stop == start and num > 1):
                raise InputError(f"spec [axes] {name}: empty or inverted range {start}..{stop}")
            if scale == "log" and start <= 0:
                raise InputError(f"spec [axes] {name}: a log range needs start > 0")
            vals = (np.logspace(math.log10(start), math.log10(stop), num) if scale == "log"
                    else np.linspace(start, stop, num)).tolist()
            if PARAMS[comp].get(name, ("float",))[0].startswith("int"):
                vals = sorted({int(round(v)) for v in vals})
        elif isinstance(ax, list):
            vals = list(ax)
        else:
            raise InputError(f"spec [axes] {name}: give a list of values or a {{start, stop, num, scale}} table")
        if not vals:
            raise InputError(f"spec [axes] {name}: the axis has no values")
        axes[name] = [_typed(comp, name, v, f"spec [axes] {name}") for v in vals]
    return Spec(comp, tuple(seeds), fixed, axes, source)


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read and validate a TOML spec file (``tomllib``: no code execution, no unsafe loading)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    p = Path(path)
    if not p.is_file():
        raise InputError(f"spec file {str(p)!r} does not exist")
    try:
        data = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"spec file {str(p)!r} is not valid TOML: {exc}") from exc
    return parse_spec(data, str(p))


def points(spec: Spec) -> list[tuple[str, dict[str, Any]]]:
    """(key, full config) for every point and seed, in a deterministic order."""
    defaults = {k: v[1] for k, v in PARAMS[spec.computation].items()}
    names = list(spec.axes)
    out = []
    for combo in itertools.product(*(spec.axes[n] for n in names)):
        for seed in spec.seeds:
            cfg = {**defaults, **spec.fixed, **dict(zip(names, combo)), "seed": seed}
            out.append((point_key(spec.computation, cfg), cfg))
    return out


# ---------------------------------------------------------------------- computations
def run_point(computation: str, cfg: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Compute one point: (scalar results, arrays)."""
    if computation == "trajectory":
        return _trajectory(cfg)
    if computation == "simulate":
        return _simulate(cfg)
    if computation == "network":
        return _network(cfg)
    raise InputError(f"unknown computation {computation!r}")


def _gram(cfg: Mapping[str, Any]) -> Any:
    from featmech.theory.inits import sample_gram

    return sample_gram(cfg["width"], cfg["sigma_u"], cfg["sigma_w"], rho=cfg["rho"], seed=cfg["seed"])


def _trajectory(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from featmech.analysis.regimes import classify_solution
    from featmech.theory.exact import solve_gram

    g = _gram(cfg)
    sol = solve_gram(g.uu, g.ww, g.uw, area=g.area, eta_u=cfg["eta_u"], eta_w=cfg["eta_w"], kappa=cfg["kappa"],
                     target=cfg["target"], data_var=cfg["data_var"])
    rate = float(sol.rate)
    tmax = cfg["t_max"] if cfg["t_max"] is not None else (10.0 / rate if rate > 0 else 10.0)
    st = sol(np.linspace(0.0, tmax, cfg["points"]))
    cl = classify_solution(sol)
    res = {k: v for k, v in cl.as_dict().items() if k != "thresholds"}
    res.update(rate=rate, final_loss=float(st.loss[-1]), t_max=float(tmax))
    return res, {"t": st.t, "output": st.output, "loss": st.loss, "ntk": st.ntk, "alignment": st.alignment}


def _simulate(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from featmech.analysis.regimes import classify_trajectory
    from featmech.theory.simulate import run_defaults, simulate_gram

    g = _gram(cfg)
    K0, lr, every = run_defaults(g, steps=cfg["steps"], lr=cfg["lr"], every=cfg["every"], eta_u=cfg["eta_u"],
                                 eta_w=cfg["eta_w"], kappa=cfg["kappa"], data_var=cfg["data_var"])
    r = simulate_gram(g.uu, g.ww, g.uw, area=g.area, lr=lr, steps=cfg["steps"], eta_u=cfg["eta_u"],
                      eta_w=cfg["eta_w"], kappa=cfg["kappa"], target=cfg["target"], data_var=cfg["data_var"],
                      momentum=cfg["momentum"], weight_decay=cfg["weight_decay"], batch_size=cfg["batch_size"],
                      noise=cfg["noise"], seed=cfg["seed"], every=every)
    cl = classify_trajectory(r.ntk, r.alignment, r.norm_u, r.norm_w, eta_u=cfg["eta_u"], eta_w=cfg["eta_w"],
                             diverged=bool(r.diverged), output=r.output)
    ok = np.isfinite(r.loss)
    res = {k: v for k, v in cl.as_dict().items() if k != "thresholds"}
    res.update(lr_used=float(lr), lr_times_ntk0=float(lr * K0), diverged=bool(r.diverged),
               diverged_at=int(r.diverged_at) if bool(r.diverged) else None,
               final_loss=float(r.loss[ok][-1]) if ok.any() else None)
    return res, {"step": r.step, "loss": r.loss, "ntk": r.ntk, "alignment": r.alignment}


def _network(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    import torch

    from featmech.data import load_dataset
    from featmech.nets.experiments import _defaults, _network_run

    torch.set_num_threads(1)
    d = _defaults(bool(cfg["quick"]))
    ds = load_dataset(cfg["dataset"], data_dir=cfg["data_dir"], seed=0, max_train=cfg["max_train"])
    row = _network_run(ds, arch=cfg["arch"], scale=cfg["scale"], out_mult=cfg["lr_ratio"], seed=cfg["seed"],
                       steps=cfg["steps"], lr=cfg["lr"], batch_size=d["batch_size"], hidden=d["hidden"],
                       probe=d["probe"], ntk_every=d["ntk_every"], loss=cfg["loss"], th=None)
    hist = row.pop("history")
    pairs = row.pop("pairs")
    res = {k: v for k, v in row.items() if k not in ("scale", "lr_ratio", "seed")}
    res["pair_mechanisms"] = ",".join(p["mechanism"] for p in pairs)
    return res, {"ntk_step": np.asarray(hist["ntk_step"]), "ntk_trace": np.asarray(hist["ntk_trace"])}


def _run_chunk(computation: str, chunk: Sequence[tuple[str, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    """Worker entry point: compute each point, catching its error (module-level: picklable)."""
    out = []
    for key, cfg in chunk:
        t0 = time.perf_counter()
        try:
            res, arrays = run_point(computation, cfg)
            out.append((key, cfg, res, arrays, None, time.perf_counter() - t0))
        except Exception as exc:  # a failed point is data, not a crash
            msg = f"{type(exc).__name__}: {exc}"
            out.append((key, cfg, None, None, msg, time.perf_counter() - t0))
    return out


# ---------------------------------------------------------------------- progress
class Progress:
    """Progress with rate and ETA: a redrawn line on a terminal, plain lines otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True, label: str = "sweep") -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.label = label

    def update(self, n: int = 1, failed: int = 0) -> None:
        self.done += n
        self.failed += failed
        now = time.perf_counter()
        final = self.done >= self.total
        if not self.enabled or (not final and now - self.last < (0.2 if self.tty else 5.0)):
            return
        self.last = now
        el = now - self.t0
        rate = self.done / el if el > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta_s = time.strftime("%H:%M:%S", time.gmtime(eta)) if math.isfinite(eta) else "?"
        msg = (f"{self.label}: {self.done}/{self.total} ({100 * self.done / self.total:.0f}%) "
               f"{rate:.3g} points/s, ETA {eta_s}" + (f", {self.failed} failed" if self.failed else ""))
        if self.tty:
            width = 24
            fill = int(width * self.done / self.total)
            self.stream.write("\r[" + "#" * fill + "." * (width - fill) + "] " + msg + ("\n" if final else ""))
        else:
            self.stream.write(msg + "\n")
        self.stream.flush()


# ---------------------------------------------------------------------- running
@dataclass
class SweepReport:
    total: int
    skipped: int
    computed: int
    failed: int
    seconds: float
    executor: str
    keys: list[str] = field(default_factory=list, repr=False)


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _write(store: Store, computation: str, results: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
    """Write one chunk's results in one transaction; returns (finished, failed) counts."""
    store.put_chunk((key, computation, cfg, res, err, arrays, sec) for key, cfg, res, arrays, err, sec in results)
    bad = sum(1 for r in results if r[4] is not None)
    return len(results) - bad, bad


def run_sweep(spec: Spec, store_path: str | os.PathLike[str], *, executor: str = "pool", workers: int | None = None,
              scheduler: str | None = None, retry_failed: bool = False, chunk_size: int | None = None,
              progress: bool = True, stream: TextIO | None = None, connect_timeout: float = 10.0,
              on_result: Callable[[int], None] | None = None) -> SweepReport:
    """Run every missing point of ``spec`` into the store at ``store_path``.

    ``executor``: ``"serial"`` (in-process), ``"pool"`` (local processes, default: all cores) or
    ``"dask"`` (``workers`` > 0 starts a LocalCluster bound to 127.0.0.1; ``scheduler`` joins an
    existing cluster, failing after ``connect_timeout`` seconds).
    """
    if executor not in ("serial", "pool", "dask"):
        raise InputError(f"executor must be serial, pool or dask, got {executor!r}")
    t0 = time.perf_counter()
    store = Store(store_path)
    try:
        todo_all = points(spec)
        status = store.status(k for k, _ in todo_all)
        todo = [(k, c) for k, c in todo_all if status.get(k) != "done" and (retry_failed or status.get(k) != "failed")]
        skipped = len(todo_all) - len(todo)
        nw = workers or os.cpu_count() or 1
        if chunk_size is None:
            chunk_size = 1 if spec.computation not in CHEAP else max(1, min(256, math.ceil(len(todo) / (4 * nw))))
        chunks = _chunks(todo, chunk_size)
        prog = Progress(len(todo), stream, progress)
        computed = failed = 0

        def consume(results: list[tuple[Any, ...]]) -> None:
            nonlocal computed, failed
            ok, bad = _write(store, spec.computation, results)
            computed += ok
            failed += bad
            prog.update(ok + bad, bad)
            if on_result is not None:
                on_result(ok + bad)

        if not chunks:
            pass
        elif executor == "serial":
            for ch in chunks:
                consume(_run_chunk(spec.computation, ch))
        elif executor == "pool":
            import multiprocessing as mp

            with ProcessPoolExecutor(max_workers=nw, mp_context=mp.get_context("spawn")) as pool:
                futs = [pool.submit(_run_chunk, spec.computation, ch) for ch in chunks]
                for f in as_completed(futs):
                    consume(f.result())
        else:
            client, cluster = _dask_client(workers, scheduler, connect_timeout)
            try:
                from distributed import as_completed as das_completed

                futs = [client.submit(_run_chunk, spec.computation, ch, pure=False) for ch in chunks]
                for f in das_completed(futs):
                    consume(f.result())
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
        return SweepReport(total=len(todo_all), skipped=skipped, computed=computed, failed=failed,
                           seconds=time.perf_counter() - t0, executor=executor, keys=[k for k, _ in todo_all])
    finally:
        store.close()


def _dask_client(workers: int | None, scheduler: str | None, timeout: float) -> tuple[Any, Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - optional
        raise ImportError("Dask executors need dask[distributed]: pip install 'featmech[sweep]'") from exc
    if scheduler is not None:
        if workers:
            raise InputError("give either a local cluster size or a scheduler address, not both")
        try:
            return Client(scheduler, timeout=f"{timeout}s"), None
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler {scheduler!r} within {timeout:g} s: {exc}") from exc
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    return Client(cluster), cluster
