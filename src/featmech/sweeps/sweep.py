"""Sweeps: a TOML spec → points × seeds → computed in-process, in a process pool or on Dask → a store.

This module is the front door of the sweeps layer; the parts live beside it:

- :mod:`featmech.sweeps.registry`: the computations a spec may name (:data:`COMPUTATIONS`,
  :func:`register`, :func:`get`);
- :mod:`featmech.sweeps.spec`: the spec format and its validation (:func:`load_spec`,
  :func:`parse_spec`, :func:`points`);
- :mod:`featmech.sweeps.executors`: serial, pool and Dask executors;
- :mod:`featmech.sweeps.store`: the SQLite results store;
- :mod:`featmech.sweeps.progress`: the progress line.

A sweep checks everything it is given before it touches the store or starts a worker (the
executor and its options, the scheduler address, the timeout, the size of the grid: more than
:data:`MAX_POINTS` points need ``force``), and creates a new store only when the first results
arrive: a run that fails to start leaves no empty store behind.

Every point gets a content key (:func:`~featmech.sweeps.store.point_key`: computation, full config
with the seed, package version). Finished keys are skipped, so an interrupted sweep resumes where it
stopped, whatever killed it; failed points are stored with their error and rerun only with
``retry_failed``. Cheap points are batched into chunks so that per-task overhead stays small;
results are written by the coordinating process, one transaction per chunk.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TextIO

from featmech.errors import InputError
from featmech.records import PointResult
from featmech.sweeps.executors import (
    EXECUTORS,
    SweepAborted,
    check_scheduler,
    check_timeout,
)
from featmech.sweeps.progress import Progress
from featmech.sweeps.registry import COMPUTATIONS, MAX_CHUNK, Computation, get, register
from featmech.sweeps.spec import (
    MAX_POINTS,
    Point,
    Spec,
    check_size,
    load_spec,
    parse_spec,
    points,
)
from featmech.sweeps.store import Store
from featmech.tables import Table

__all__ = ["Spec", "Point", "load_spec", "parse_spec", "points", "run_point", "run_sweep", "SweepReport",
           "Progress", "Computation", "COMPUTATIONS", "register", "get", "EXECUTORS", "MAX_CHUNK", "MAX_POINTS",
           "MAX_WORKERS", "SweepAborted"]


@dataclass(frozen=True)
class SweepReport:
    """What a run of a sweep did.

    Attributes:
        total: points in the spec (grid points × seeds).
        skipped: points already in the store (finished, or failed without ``retry_failed``).
        computed: points finished by this run.
        failed: points that failed in this run (stored with their error).
        seconds: wall time of the run.
        executor: ``"serial"``, ``"pool"`` or ``"dask"``.
        computation: the computation's name.
        spec: the spec file (empty if the spec was given as a mapping).
        store: the store file.
        keys: the key of every point of the spec, in spec order.
    """

    total: int
    skipped: int
    computed: int
    failed: int
    seconds: float
    executor: str
    computation: str = ""
    spec: str = ""
    store: str = ""
    keys: tuple[str, ...] = field(default=(), repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The report as a flat dict (what ``sweep run --format json`` prints); without the keys."""
        return {"spec": self.spec, "store": self.store, "computation": self.computation, "total": self.total,
                "skipped": self.skipped, "computed": self.computed, "failed": self.failed,
                "seconds": self.seconds, "executor": self.executor}

    def table(self) -> Table:
        """The report as a :class:`~featmech.tables.Table` of scalars (no columns)."""
        return Table({}, scalars=self.as_dict())

    def summary(self) -> str:
        """One line for people.

        >>> print(SweepReport(12, 2, 9, 1, 3.04, "pool").summary(), end="")
        12 points: 9 computed, 1 failed, 2 already in the store (pool, 3.0 s)
        """
        return (f"{self.total} points: {self.computed} computed, {self.failed} failed, {self.skipped} already in "
                f"the store ({self.executor}, {self.seconds:.1f} s)\n")


def run_point(computation: str | Computation, config: Mapping[str, Any]) -> PointResult:
    """Compute one point directly (no store): validate, fill the defaults, run.

    Arguments:
        computation: a registered name or a :class:`Computation`.
        config: parameter values (a subset; defaults fill the rest; ``seed`` defaults to 0).

    Returns:
        The point's scalars and arrays.

    Raises:
        InputError: an unknown computation or parameter, or a bad value.
    """
    comp = get(computation) if isinstance(computation, str) else computation
    return comp.run(comp.config(config))


#: the most processes a pool or a local Dask cluster may have
MAX_WORKERS = 1024


def _check_count(name: str, value: Any, high: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (high is not None and value > high):
        raise InputError(f"{name} must be an integer in [1, {high}], got {value!r}" if high is not None
                         else f"{name} must be an integer >= 1, got {value!r}")
    return value


def run_sweep(spec: Spec, store_path: str | os.PathLike[str], *, executor: str = "pool", workers: int | None = None,
              scheduler: str | None = None, retry_failed: bool = False, chunk_size: int | None = None,
              progress: bool = True, stream: TextIO | None = None, connect_timeout: float = 10.0,
              on_result: Callable[[int], None] | None = None, force: bool = False) -> SweepReport:
    """Run every missing point of ``spec`` into the store at ``store_path``.

    Arguments:
        spec: the validated spec (:func:`load_spec`, :func:`parse_spec`).
        store_path: the store file (created if missing).
        executor: ``"serial"`` (in-process), ``"pool"`` (local processes, default: all cores) or
            ``"dask"`` (``workers`` > 0 starts a LocalCluster bound to 127.0.0.1; ``scheduler``
            joins an existing cluster, failing after ``connect_timeout`` seconds).
        workers: the pool or local-cluster size (not with ``"serial"``, nor with ``scheduler``).
        scheduler: a Dask scheduler address ``tcp://HOST:PORT`` (:func:`~featmech.sweeps.executors.check_scheduler`).
        retry_failed: recompute points that failed before.
        chunk_size: points per task (default: :meth:`Computation.chunk_size
            <featmech.sweeps.registry.Computation.chunk_size>`: one for expensive computations;
            large chunks for batched ones).
        progress: draw progress on ``stream`` (default stderr).
        stream: where progress goes.
        connect_timeout: seconds (finite, > 0) to reach the Dask scheduler, and the longest a Dask
            cluster may be without any worker before the run is aborted.
        on_result: called with the number of points of each finished chunk.
        force: allow a spec of more than :data:`MAX_POINTS` points.

    Returns:
        A :class:`SweepReport`.

    Raises:
        InputError: an unknown executor, a bad count, timeout or scheduler address, ``workers``
            with the serial executor or with ``scheduler``, ``scheduler`` without Dask, a spec over
            :data:`MAX_POINTS` points without ``force``, a bad store path (a read-only or locked
            store, a full disk), an unreachable scheduler.
        SweepAborted: a fault ended the run (a lost Dask scheduler, no worker left, a pool worker
            killed); the points finished before are in the store.
    """
    if executor not in EXECUTORS:
        raise InputError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    workers = _check_count("workers", workers, MAX_WORKERS)
    chunk_size = _check_count("chunk_size", chunk_size)
    connect_timeout = check_timeout("connect_timeout", connect_timeout)
    if scheduler is not None:
        if executor != "dask":
            raise InputError(f"a Dask scheduler needs the dask executor, not {executor}")
        scheduler = check_scheduler(scheduler)
        if workers is not None:
            raise InputError("give either a local cluster size (workers) or a scheduler address, not both")
    if executor == "serial" and workers is not None:
        raise InputError("workers sets the size of a pool or a local Dask cluster; the serial executor has none")
    check_size(spec.n_points, force)
    comp = get(spec.computation)
    t0 = time.perf_counter()
    # an existing store is opened (and checked writable) now; a new one is created when the first
    # results arrive, so that a run failing to start leaves no empty store behind
    path = Store.check_path(store_path)
    store = Store(path) if path.exists() and path.stat().st_size > 0 else None
    try:
        todo_all = points(spec)
        status = store.status(k for k, _ in todo_all) if store is not None else {}
        todo = [p for p in todo_all if status.get(p.key) != "done" and (retry_failed or status.get(p.key) != "failed")]
        skipped = len(todo_all) - len(todo)
        nw = 1 if executor == "serial" else workers or os.cpu_count() or 1
        if chunk_size is None:
            chunk_size = comp.chunk_size(len(todo), nw)
        chunks = [todo[i:i + chunk_size] for i in range(0, len(todo), chunk_size)]
        prog = Progress(len(todo), stream, progress)
        computed = failed = 0
        run = EXECUTORS[executor](comp, chunks, workers=workers, scheduler=scheduler, connect_timeout=connect_timeout)
        try:
            with contextlib.closing(run):
                for outcomes in run:
                    if store is None:
                        store = Store(path)
                    store.write(outcomes, computation=comp.name)
                    bad = sum(1 for o in outcomes if not o.ok)
                    computed += len(outcomes) - bad
                    failed += bad
                    prog.update(len(outcomes), bad)
                    if on_result is not None:
                        on_result(len(outcomes))
        except SweepAborted as exc:
            raise SweepAborted(f"{exc} ({computed + failed} of the {len(todo)} points to compute were "
                               "stored)") from exc
        if store is None:  # nothing to compute: the store exists all the same
            store = Store(path)
        return SweepReport(total=len(todo_all), skipped=skipped, computed=computed, failed=failed,
                           seconds=time.perf_counter() - t0, executor=executor, computation=comp.name,
                           spec=spec.source, store=str(store_path), keys=tuple(p.key for p in todo_all))
    finally:
        if store is not None:
            store.close()
