"""Where the points of a sweep run: in this process, in a local process pool, or on Dask.

Every executor takes the computation and a list of chunks (each a list of
:class:`~featmech.sweeps.spec.Point`) and yields, chunk by chunk as they finish, the list of
:class:`~featmech.records.PointOutcome` of that chunk; :func:`run_chunk` is what runs on a worker.
A failing point is an outcome with its error, not a crash of the sweep; so is a chunk whose task
failed on a worker (a Dask ``KilledWorker``, a result that cannot be sent back).

Faults end the run with :class:`SweepAborted` (one line, the store intact), never with an
endless wait or stray processes:

- pool workers ignore Ctrl-C (the coordinator ends them) and exit by themselves when the
  coordinating process is gone, even after ``kill -9``; when the run ends early (an error, Ctrl-C,
  SIGTERM turned into an exception) the pending tasks are cancelled and the workers terminated;
  a worker that dies (killed, out of memory) aborts the run;
- on Dask, a lost scheduler aborts the run, and so does a cluster without any worker for
  ``timeout`` seconds (all workers lost).

:data:`EXECUTORS` maps the names ``"serial"``, ``"pool"`` and ``"dask"`` to these functions.

>>> check_scheduler("tcp://10.0.0.5:8786")
'tcp://10.0.0.5:8786'
>>> check_scheduler("inproc://x")
Traceback (most recent call last):
...
featmech.errors.InputError: scheduler address 'inproc://x': an inproc:// address lives inside one Python process; give the tcp://HOST:PORT of a running scheduler
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Generator, Iterator, Sequence

from featmech.errors import InputError
from featmech.records import PointOutcome, PointResult
from featmech.sweeps.registry import Computation

__all__ = ["EXECUTORS", "Executor", "run_chunk", "run_serial", "run_pool", "run_dask", "Chunk", "SweepAborted",
           "check_scheduler", "check_timeout", "worker_init", "MAX_TIMEOUT", "SCHEDULER_PROTOCOLS"]

#: the largest timeout in seconds (a week): beyond it a timeout is a mistake, not a wish
MAX_TIMEOUT = 7 * 24 * 3600.0
#: the protocols of a Dask scheduler address a sweep can join (``inproc://`` is one process only)
SCHEDULER_PROTOCOLS = ("tcp", "tls", "ws", "wss", "ucx")


class SweepAborted(RuntimeError):
    """A sweep ended early by a fault that is not in its input: a lost Dask scheduler, no worker
    left, a pool worker that died. What was finished is in the store; the same command resumes.
    The command line prints its message as one line (exit status 1)."""


def check_timeout(name: str, value: Any) -> float:
    """A timeout in seconds: a real number in (0, :data:`MAX_TIMEOUT`] (not NaN, not inf).

    >>> check_timeout("timeout", 2)
    2.0

    Raises:
        InputError: anything else, naming ``name``.
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT:
        raise InputError(f"{name} must be a number of seconds in (0, {MAX_TIMEOUT:g}], got {value!r}")
    return float(value)


def check_scheduler(address: Any) -> str:
    """A Dask scheduler address a sweep can join: ``[PROTOCOL://]HOST:PORT``.

    Arguments:
        address: e.g. ``tcp://10.0.0.5:8786`` (without a protocol, ``tcp`` is meant).

    Returns:
        The address, stripped.

    Raises:
        InputError: empty, an ``inproc://`` address (it lives inside one process), an unknown
            protocol, or no ``HOST:PORT`` with a port in 1..65535.
    """
    if not isinstance(address, str) or not address.strip():
        raise InputError(f"scheduler address must be tcp://HOST:PORT, got {address!r}")
    a = address.strip()
    proto, sep, rest = a.partition("://")
    if not sep:
        proto, rest = "tcp", a
    if proto == "inproc":
        raise InputError(f"scheduler address {a!r}: an inproc:// address lives inside one Python process; "
                         "give the tcp://HOST:PORT of a running scheduler")
    if proto not in SCHEDULER_PROTOCOLS:
        raise InputError(f"scheduler address {a!r}: unknown protocol {proto!r}; "
                         f"use one of {', '.join(SCHEDULER_PROTOCOLS)} (tcp://HOST:PORT)")
    host, colon, port = rest.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"scheduler address {a!r} must look like tcp://HOST:PORT (a port in 1..65535)")
    return a

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


def worker_init(parent: int) -> None:
    """Set up a pool worker (the pool's initializer): Ctrl-C is left to the coordinating process,
    and the worker exits as soon as the coordinator ``parent`` is gone.

    On Linux the kernel kills the worker when its parent dies (``PR_SET_PDEATHSIG``); everywhere,
    a thread checks every half second that the parent is still the worker's parent. So a
    coordinator killed with ``kill -9`` leaves no worker behind.

    Arguments:
        parent: the process id of the coordinating process.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:  # pragma: no cover - no libc: the thread below does it
            pass
    if os.getppid() != parent:  # the parent died before the worker was set up
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="featmech-parent-watch", daemon=True).start()


def _failed(chunk: Chunk, exc: BaseException) -> list[PointOutcome]:
    """The points of a chunk whose task failed as a whole, each with that error."""
    return [PointOutcome(key, cfg, None, f"{type(exc).__name__}: {exc}", 0.0) for key, cfg in chunk]


def _end_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel what is pending and terminate the workers now (a run that ends early)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + 5.0
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():  # pragma: no cover - a worker that ignores SIGTERM
            p.kill()
            p.join(1.0)


def run_pool(computation: Computation, chunks: Sequence[Chunk], *, workers: int | None = None,
             scheduler: str | None = None, connect_timeout: float = 10.0) -> Generator[list[PointOutcome], None, None]:
    """Run the chunks in a pool of ``workers`` local processes (default: all cores; spawned, not forked).

    The workers are set up by :func:`worker_init` (they never outlive this process). If the run
    ends early — the caller stops iterating, an exception, Ctrl-C — pending chunks are cancelled
    and the workers terminated rather than waited for.

    Raises:
        InputError: a scheduler was given.
        SweepAborted: a worker process died (killed, out of memory); the finished chunks were
            yielded before.
    """
    import multiprocessing as mp

    if scheduler is not None:
        raise InputError("a Dask scheduler needs the dask executor, not pool")
    if not chunks:
        return
    pool = ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1, mp_context=mp.get_context("spawn"),
                               initializer=worker_init, initargs=(os.getpid(),))
    finished = False
    try:
        futs = {pool.submit(run_chunk, computation, ch): ch for ch in chunks}
        for f in as_completed(futs):
            try:
                out = f.result()
            except BrokenProcessPool as exc:
                raise SweepAborted("a worker process of the pool died (killed, or out of memory?); the points "
                                   "finished before are in the store: run the same command to resume") from exc
            except Exception as exc:  # the task itself failed (a result that cannot be sent back, …)
                out = _failed(futs[f], exc)
            yield out
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            _end_pool(pool)


def run_dask(computation: Computation, chunks: Sequence[Chunk], *, workers: int | None = None,
             scheduler: str | None = None, connect_timeout: float = 10.0) -> Generator[list[PointOutcome], None, None]:
    """Run the chunks on Dask: a LocalCluster of ``workers`` processes on 127.0.0.1, or the
    existing cluster at ``scheduler``.

    ``connect_timeout`` bounds every wait on the cluster: reaching the scheduler, and a cluster
    without any worker (none joined, or all lost) — then the run is aborted, not left waiting.

    Raises:
        InputError: both ``workers`` and ``scheduler`` given, a malformed address or timeout, or
            the scheduler cannot be reached within ``connect_timeout`` seconds.
        SweepAborted: the connection to the scheduler was lost, or no worker was connected for
            ``connect_timeout`` seconds; the finished chunks were yielded before.
        ImportError: ``dask[distributed]`` is not installed.
    """
    if scheduler is not None:
        scheduler = check_scheduler(scheduler)
    connect_timeout = check_timeout("connect_timeout", connect_timeout)
    if not chunks:
        return
    client, cluster = _dask_client(workers, scheduler, connect_timeout)
    where = scheduler or "of the local cluster"
    finished = False
    try:
        from distributed import CancelledError
        from distributed import as_completed as das_completed

        futs = {client.submit(run_chunk, computation, ch, pure=False): ch for ch in chunks}
        done = das_completed(list(futs))
        checked = time.monotonic()
        while not done.is_empty():
            batch = done.next_batch(block=False)
            for f in batch:
                try:
                    out = f.result()
                except CancelledError as exc:
                    raise SweepAborted(f"lost the connection to the Dask scheduler {where}; the points finished "
                                       "before are in the store: run the same command to resume") from exc
                except Exception as exc:  # the task failed as a whole (KilledWorker, …): its points failed
                    if client.status != "running":  # … unless the cluster is going away
                        raise SweepAborted(f"lost the connection to the Dask scheduler {where}; the points "
                                           "finished before are in the store: run the same command to resume") from exc
                    out = _failed(futs[f], exc)
                yield out
            if batch:
                checked = time.monotonic()
            elif time.monotonic() - checked >= 1.0:
                _check_cluster(client, where, connect_timeout)
                checked = time.monotonic()
            else:
                time.sleep(0.02)
        finished = True
    finally:
        # after a fault, Dask's own reports of it (a reconnect given up, …) would add tracebacks
        # to the one line of the error: they are silenced while the client closes
        with contextlib.nullcontext() if finished else _quiet("distributed"):
            client.close()
            if cluster is not None:
                cluster.close()


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence the logger ``name`` and its children for a while."""
    loggers = [logging.getLogger(name)] + [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)
                                            if n.startswith(name + ".")]
    before = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        yield
    finally:
        for lg, was in zip(loggers, before):
            lg.disabled = was


def _check_cluster(client: Any, where: str, timeout: float) -> None:
    """Raise :class:`SweepAborted` if the scheduler is gone or no worker joins within ``timeout`` s."""
    lost = SweepAborted(f"lost the connection to the Dask scheduler {where}; the points finished before are in "
                        "the store: run the same command to resume")
    if client.status in ("closing", "closed", "failed"):
        raise lost
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError as exc:
        raise SweepAborted(f"no Dask worker connected to the scheduler {where} for {timeout:g} s (all workers "
                           "lost?); the points finished before are in the store: start workers and run the "
                           "same command to resume") from exc
    except Exception as exc:  # a broken connection while asking
        raise lost from exc


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
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot reach the Dask scheduler {scheduler!r} within {timeout:g} s: {exc}") from exc
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    return Client(cluster), cluster


#: the signature every executor has
Executor = Callable[..., Generator[list[PointOutcome], None, None]]

#: name -> executor: how ``run_sweep(executor=...)`` runs the chunks
EXECUTORS: dict[str, Executor] = {"serial": run_serial, "pool": run_pool, "dask": run_dask}
