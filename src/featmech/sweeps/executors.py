"""Where the points of a sweep run: in this process, in a local process pool, or on Dask.

Every executor takes the computation and a list of chunks (each a list of
:class:`~featmech.sweeps.spec.Point`) and yields, chunk by chunk as they finish, the list of
:class:`~featmech.records.PointOutcome` of that chunk; :func:`run_chunk` is what runs on a worker.
A failing point is an outcome with its error, not a crash of the sweep.

:data:`EXECUTORS` maps the names ``"serial"``, ``"pool"`` and ``"dask"`` to these functions.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Generator, Sequence

from featmech.errors import InputError
from featmech.records import PointOutcome, PointResult
from featmech.sweeps.registry import Computation

__all__ = ["EXECUTORS", "Executor", "run_chunk", "run_serial", "run_pool", "run_dask", "Chunk"]

#: a chunk of points: (key, configuration) pairs (e.g. :class:`~featmech.sweeps.spec.Point`)
Chunk = Sequence[tuple[str, dict[str, Any]]]


def run_chunk(computation: Computation, chunk: Chunk) -> list[PointOutcome]:
    """Compute the points of a chunk, each failing alone (module level: picklable for workers).

    A computation with a batch function computes the chunk in one call
    (:meth:`~featmech.sweeps.registry.Computation.run_many`; each point's ``seconds`` is its share
    of the call); otherwise the points run one by one.

    Arguments:
        computation: what to compute.
        chunk: (key, full configuration) pairs.

    Returns:
        One outcome per point, in order: its result, or ``"ErrorType: message"`` and no result.
    """
    if computation.batch is not None and chunk:
        t0 = time.perf_counter()
        results = computation.run_many([cfg for _, cfg in chunk])
        each = (time.perf_counter() - t0) / len(chunk)
        return [PointOutcome(key, cfg, r, None, each) if isinstance(r, PointResult) else
                PointOutcome(key, cfg, None, f"{type(r).__name__}: {r}", each) for (key, cfg), r in zip(chunk, results)]
    out = []
    for key, cfg in chunk:
        t0 = time.perf_counter()
        try:
            res = computation.run(cfg)
            out.append(PointOutcome(key, cfg, res, None, time.perf_counter() - t0))
        except Exception as exc:  # a failed point is data, not a crash
            out.append(PointOutcome(key, cfg, None, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0))
    return out


def run_serial(computation: Computation, chunks: Sequence[Chunk], *, workers: int | None = None,
               scheduler: str | None = None, connect_timeout: float = 10.0) -> Generator[list[PointOutcome], None, None]:
    """Run the chunks one after the other in this process (``workers`` and ``scheduler`` unused).

    Raises:
        InputError: a scheduler was given.
    """
    if scheduler is not None:
        raise InputError("a Dask scheduler needs the dask executor, not serial")
    for ch in chunks:
        yield run_chunk(computation, ch)


def run_pool(computation: Computation, chunks: Sequence[Chunk], *, workers: int | None = None,
             scheduler: str | None = None, connect_timeout: float = 10.0) -> Generator[list[PointOutcome], None, None]:
    """Run the chunks in a pool of ``workers`` local processes (default: all cores; spawned, not forked).

    Raises:
        InputError: a scheduler was given.
    """
    import multiprocessing as mp

    if scheduler is not None:
        raise InputError("a Dask scheduler needs the dask executor, not pool")
    if not chunks:
        return
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1, mp_context=mp.get_context("spawn")) as pool:
        futs = [pool.submit(run_chunk, computation, ch) for ch in chunks]
        for f in as_completed(futs):
            yield f.result()


def run_dask(computation: Computation, chunks: Sequence[Chunk], *, workers: int | None = None,
             scheduler: str | None = None, connect_timeout: float = 10.0) -> Generator[list[PointOutcome], None, None]:
    """Run the chunks on Dask: a LocalCluster of ``workers`` processes on 127.0.0.1, or the
    existing cluster at ``scheduler``.

    Raises:
        InputError: both ``workers`` and ``scheduler`` given, or the scheduler cannot be reached
            within ``connect_timeout`` seconds.
        ImportError: ``dask[distributed]`` is not installed.
    """
    if not chunks:
        return
    client, cluster = _dask_client(workers, scheduler, connect_timeout)
    try:
        from distributed import as_completed as das_completed

        futs = [client.submit(run_chunk, computation, ch, pure=False) for ch in chunks]
        for f in das_completed(futs):
            yield f.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


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


#: the signature every executor has
Executor = Callable[..., Generator[list[PointOutcome], None, None]]

#: name -> executor: how ``run_sweep(executor=...)`` runs the chunks
EXECUTORS: dict[str, Executor] = {"serial": run_serial, "pool": run_pool, "dask": run_dask}
