"""The results store: SQLite in WAL mode, one row per (point, seed), keyed by a content hash.

Why SQLite: it ships with Python, is an embedded ACID database whose WAL mode lets one writer and
many readers work at once across processes, survives ``kill -9`` (a committed transaction is
durable, an interrupted one is rolled back), and needs no server. Results are written in
transactions keyed on the content hash, so a resumed sweep never repeats a finished point and two
sweeps writing one store at once lose and duplicate nothing.

Schema (``featmech-store`` format 1):

- ``meta(key, value)``: ``format = featmech-store``, ``schema = 1``;
- ``points(key PRIMARY KEY, computation, config JSON, status 'done'|'failed', result JSON,
  error, version, seconds, created)``: ``config`` holds every parameter and the seed, ``result``
  the scalar results;
- ``arrays(key, name, data)``: trajectories as ``.npy`` bytes (read back with
  ``allow_pickle=False``).

Faults a user can fix are :class:`~featmech.errors.InputError` naming the store: a directory, a
device or another non-regular file, a missing directory, a non-SQLite file, a read-only store, a
store locked by another process for longer than :data:`LOCK_TIMEOUT` seconds, a full disk (the
transaction being written is rolled back; what was committed before is kept).

Records in and out are typed: :meth:`Store.write` takes :class:`~featmech.records.PointOutcome`
objects, :meth:`Store.points` returns :class:`StoredPoint` objects and :meth:`Store.status_report`
a :class:`StoreStatus`; tables go out through :class:`featmech.tables.Table`.

>>> point_key("simulate", {"kappa": 1.0, "seed": 0}, version="0") == point_key("simulate", {"seed": 0, "kappa": 1.0}, version="0")
True
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NamedTuple

import numpy as np
from numpy.typing import NDArray

from featmech import __version__
from featmech.errors import InputError
from featmech.records import PointOutcome, PointResult
from featmech.tables import Table

__all__ = ["Store", "StoredPoint", "StoreStatus", "FailedPoint", "ExportReport", "point_key", "store_status",
           "export_store", "FORMAT", "SCHEMA", "EXPORT_FORMATS", "STATUSES", "LOCK_TIMEOUT"]

FORMAT = "featmech-store"
SCHEMA = "1"
#: the formats of :meth:`Store.export`
EXPORT_FORMATS = ("csv", "parquet")
#: the status of a stored point
STATUSES = ("done", "failed")
#: seconds a store waits for another process's write lock before giving up (an error naming the store)
LOCK_TIMEOUT = 60.0
# insert a point; on a key already stored, replace only a failed row by a finished one
_UPSERT = ("INSERT INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
           "computation = excluded.computation, config = excluded.config, status = excluded.status, "
           "result = excluded.result, error = excluded.error, version = excluded.version, "
           "seconds = excluded.seconds, created = excluded.created "
           "WHERE points.status = 'failed' AND excluded.status = 'done'")


def _np_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"cannot store a value of type {type(x).__name__}")


def _canonical(obj: Any) -> str:
    """Canonical JSON (sorted keys; numpy scalars as Python numbers; NaN/inf kept as JSON extensions)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True, default=_np_default)


def _storage_encoder() -> Callable[[Any], str]:
    """Compact JSON for storage (not keys): the C encoder built once rather than once per call.

    Configurations and results are flat, so there are no circular references to look for. Falls
    back to :class:`json.JSONEncoder` where the C encoder is missing or behaves differently.
    """
    slow = json.JSONEncoder(separators=(",", ":"), allow_nan=True, default=_np_default, check_circular=False).encode
    try:
        import json.encoder as je

        c = getattr(je, "c_make_encoder")(None, _np_default, je.encode_basestring_ascii, None, ":", ",", False, False,
                                          True)

        def fast(obj: Any) -> str:
            return "".join(c(obj, 0))

        probe = {"a": 1.5, "b": [None, True, float("nan"), -float("inf")], "é": np.float64(0.1), "n": np.int64(3)}
        if fast(probe) == slow(probe):
            return fast
    except Exception:  # pragma: no cover - another Python's json internals
        pass
    return slow  # pragma: no cover


_encode = _storage_encoder()


def point_key(computation: str, config: Mapping[str, Any], version: str = __version__) -> str:
    """Content hash of a point: SHA-256 of canonical JSON of its computation, configuration, version.

    Arguments:
        computation: the computation's name.
        config: the full configuration (every parameter and the seed); key order does not matter.
        version: the package version (a new version recomputes rather than mixes results).

    Returns:
        64 hex digits.
    """
    return hashlib.sha256(_canonical({"computation": computation, "config": dict(config),
                                      "version": version}).encode()).hexdigest()


@dataclass(frozen=True)
class StoredPoint:
    """One row of the store.

    Attributes:
        key: the content hash (:func:`point_key`).
        computation: the computation's name.
        config: every parameter and the seed.
        status: ``"done"`` or ``"failed"``.
        result: the scalar results (empty for a failed point).
        error: the one-line error of a failed point, else ``None``.
        version: the featmech version that computed it.
        seconds: wall time of the computation.
    """

    key: str
    computation: str
    config: Mapping[str, Any]
    status: str
    result: Mapping[str, Any]
    error: str | None
    version: str
    seconds: float

    @property
    def ok(self) -> bool:
        """True for a finished point."""
        return self.status == "done"

    def as_dict(self) -> dict[str, Any]:
        """The row as a dict with the field names as keys."""
        return {"key": self.key, "computation": self.computation, "config": dict(self.config),
                "status": self.status, "result": dict(self.result), "error": self.error,
                "version": self.version, "seconds": self.seconds}


class FailedPoint(NamedTuple):
    """The key and the error of a failed point."""

    key: str
    error: str


@dataclass(frozen=True)
class StoreStatus:
    """How many points of a store are finished and failed, and why the failed ones failed.

    Attributes:
        path: the store file.
        done: the number of finished points.
        failed: the number of failed points.
        errors: (key, error) of every failed point, oldest first.
    """

    path: str
    done: int
    failed: int
    errors: tuple[FailedPoint, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """``{"done", "failed", "errors": [{"key", "error"}, ...]}`` (what ``sweep status --format json`` prints)."""
        return {"done": self.done, "failed": self.failed,
                "errors": [{"key": e.key, "error": e.error} for e in self.errors]}

    def table(self) -> Table:
        """The counts as scalars and the failed points as columns ``key``, ``error``."""
        return Table({"key": [e.key for e in self.errors], "error": [e.error for e in self.errors]},
                     scalars={"done": self.done, "failed": self.failed})

    def summary(self, limit: int = 20) -> str:
        """Text for people: the counts, then up to ``limit`` failed points (short key and error).

        >>> print(StoreStatus("r.db", 3, 1, (FailedPoint("ab" * 32, "InputError: lr"),)).summary(), end="")
        done: 3, failed: 1
          failed abababababab: InputError: lr
        """
        lines = [f"done: {self.done}, failed: {self.failed}"]
        lines += [f"  failed {e.key[:12]}: {e.error}" for e in self.errors[:limit]]
        if len(self.errors) > limit:
            lines.append(f"  … and {len(self.errors) - limit} more")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote.

    Attributes:
        path: the file written.
        format: ``"csv"`` or ``"parquet"``.
        rows: the number of rows (finished points).
    """

    path: Path
    format: str
    rows: int

    def as_dict(self) -> dict[str, Any]:
        """``{"path", "format", "rows"}``."""
        return {"path": str(self.path), "format": self.format, "rows": self.rows}

    def summary(self) -> str:
        """One line for people, e.g. ``wrote 12 rows to r.csv``."""
        return f"wrote {self.rows} rows to {self.path}\n"


def _db_files(p: Path) -> set[Path]:
    base = p.resolve()
    return {base} | {base.with_name(base.name + s) for s in ("-wal", "-shm", "-journal")}


def _db_error(path: Path, exc: sqlite3.Error, timeout: float) -> InputError | None:
    """The user's side of an SQLite error (locked, read-only, full, unopenable, corrupted), or ``None``."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    msg = str(exc)
    where = f"store {str(path)!r}"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in msg:
        return InputError(f"{where} is locked by another process (waited {timeout:g} s for its write lock); "
                          "run again when that process is done")
    if name.startswith("SQLITE_READONLY") or "readonly database" in msg:
        return InputError(f"{where} is read-only ({msg}); give a store you can write, or copy it")
    if name == "SQLITE_FULL" or "database or disk is full" in msg:
        return InputError(f"{where}: no space left on device ({msg}); the points stored before are kept: "
                          "free space and run the same command to resume")
    if name.startswith("SQLITE_CANTOPEN") or "unable to open database" in msg:
        return InputError(f"cannot open {where} ({msg}); check the permissions of the file and its directory")
    if name.startswith("SQLITE_IOERR") or "disk I/O error" in msg:
        return InputError(f"{where}: disk I/O error ({msg})")
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or type(exc) is sqlite3.DatabaseError:
        return InputError(f"{str(path)!r} is not a featmech store (not an SQLite database or corrupted: {msg})")
    return None


def _write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``: through a temporary file and an atomic rename for a regular file,
    straight into anything else that exists (a device such as ``/dev/full``, a pipe), never replacing it.

    Raises:
        OSError: it cannot be written; the error names ``path``.
    """
    if path.exists() and not path.is_file():
        try:
            with open(path, "wb") as f:
                f.write(data)
        except OSError as exc:
            raise type(exc)(exc.errno or errno.EIO, exc.strerror or str(exc), str(path)) from exc
        return
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise type(exc)(exc.errno or errno.EIO, exc.strerror or str(exc), str(path)) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


class _Rollback(Exception):
    """Ends a transaction with a rollback and no error (:meth:`Store._probe_writable`)."""


class Store:
    """A results store at ``path``, opened (or created) and checked.

    A store opened for writing is checked to be writable when opened: a read-only store, or one
    whose write lock another process holds for more than ``timeout`` seconds, is an error before
    anything is computed.

    Arguments:
        path: the SQLite file (e.g. ``results.db``).
        create: create it if it does not exist (else a missing store is an error).
        timeout: seconds to wait for another writer's lock (default :data:`LOCK_TIMEOUT`).
        readonly: open it for reading only (``sweep status``, ``sweep export``): it must exist, is
            never changed, and may be read-only.

    Raises:
        InputError: ``path`` is empty, a directory or not a regular file, does not exist (with
            ``create=False`` or ``readonly``), lies in a missing directory, is not an SQLite file,
            is a foreign SQLite database or is corrupted; or (for writing) it is read-only or
            locked by another process for ``timeout`` seconds.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True, timeout: float | None = None,
                 readonly: bool = False) -> None:
        p = self.check_path(path, create=create and not readonly)
        exists = p.exists() and p.stat().st_size > 0
        self.path = p
        self.timeout = LOCK_TIMEOUT if timeout is None else float(timeout)
        self.readonly = readonly
        try:
            if readonly:
                self.db = sqlite3.connect(p.resolve().as_uri() + "?mode=ro", uri=True, timeout=self.timeout,
                                          isolation_level=None)
            else:
                self.db = sqlite3.connect(str(p), timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:  # e.g. a directory without write permission
            raise _db_error(p, exc, self.timeout) or InputError(f"cannot open store {str(p)!r}: {exc}") from exc
        try:
            with self._errors():
                self.db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
                if exists:
                    self._check()
                else:
                    self._create()
                if not readonly:
                    self.db.execute("PRAGMA journal_mode = WAL")
                    self._probe_writable()
                self.db.execute("PRAGMA synchronous = NORMAL")
                self.db.execute("PRAGMA cache_size = -65536")
        except BaseException:
            self.db.close()
            raise

    @staticmethod
    def check_path(path: str | os.PathLike[str], *, create: bool = True) -> Path:
        """Check a store path without opening it (what :class:`Store` checks first).

        Arguments:
            path: the store file.
            create: whether a missing store may be created.

        Returns:
            The path.

        Raises:
            InputError: empty, a directory, not a regular file (a device, a pipe), missing (with
                ``create=False``; an empty file counts as missing), or in a missing directory.
        """
        if str(path) == "":
            raise InputError("store path is empty; give a file name such as results.db")
        p = Path(path)
        if p.is_dir():
            raise InputError(f"store path {str(p)!r} is a directory; give a file name such as results.db")
        if p.exists() and not p.is_file():
            raise InputError(f"store path {str(p)!r} is not a regular file (a device, a pipe, …); "
                             "give a file name such as results.db")
        exists = p.exists() and p.stat().st_size > 0
        if not exists and not create:
            raise InputError(f"store {str(p)!r} does not exist" if not p.exists()
                             else f"store {str(p)!r} is an empty file, not a featmech store")
        if not exists and not p.parent.is_dir():
            raise InputError(f"the directory of store {str(p)!r} does not exist")
        return p

    @contextlib.contextmanager
    def _errors(self) -> Any:
        """Turn the SQLite errors a user can fix into :class:`InputError` naming the store."""
        try:
            yield
        except sqlite3.Error as exc:
            err = _db_error(self.path, exc, self.timeout)
            if err is None:
                raise
            raise err from exc

    def _probe_writable(self) -> None:
        """Take the write lock and write one unchanged value, then roll back: a read-only or locked
        store fails here, before a sweep computes anything."""
        with self._tx() as db:
            db.execute("UPDATE meta SET value = value WHERE key = 'format'")
            raise _Rollback

    def _create(self) -> None:
        with self._tx():
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?), ('schema', ?)", (FORMAT, SCHEMA))
            self.db.execute("""CREATE TABLE IF NOT EXISTS points (key TEXT PRIMARY KEY, computation TEXT NOT NULL,
                               config TEXT NOT NULL, status TEXT NOT NULL, result TEXT, error TEXT, version TEXT,
                               seconds REAL, created REAL) WITHOUT ROWID""")
            self.db.execute("CREATE TABLE IF NOT EXISTS arrays (key TEXT, name TEXT, data BLOB, PRIMARY KEY (key, name)) WITHOUT ROWID")
        self._check()

    def _check(self) -> None:
        try:
            rows = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError as exc:
            raise InputError(f"{str(self.path)!r} is an SQLite database but not a featmech store (no meta table)") from exc
        if rows.get("format") != FORMAT:
            raise InputError(f"{str(self.path)!r} is not a featmech store (format {rows.get('format')!r})")
        if rows.get("schema") != SCHEMA:
            raise InputError(f"store {str(self.path)!r} has schema {rows.get('schema')!r}; this featmech reads {SCHEMA}")
        self.db.execute("SELECT count(*) FROM points").fetchone()  # touches the pages: detects corruption early

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, et: Any, *_: Any) -> bool:
            if et is None:
                try:
                    self.db.execute("COMMIT")
                except sqlite3.Error:  # e.g. a full disk at the commit: nothing of it stays
                    self._rollback()
                    raise
                return False
            self._rollback()
            return et is _Rollback

        def _rollback(self) -> None:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already (full, I/O error)
                self.db.execute("ROLLBACK")

    def _tx(self) -> "Store._Tx":
        return Store._Tx(self.db)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def write(self, outcomes: Iterable[PointOutcome], *, computation: str) -> int:
        """Store the outcomes of points in one transaction.

        A finished outcome is stored as ``done`` with its scalars and arrays, a failed one as
        ``failed`` with its error. A failed row is replaced by a later success; a finished row is
        never overwritten (within one batch the first success wins), and a failure never replaces
        anything. The transaction holds the write lock to the commit, so concurrent writers
        cannot interleave.

        Arguments:
            outcomes: the points' outcomes (any number; one transaction for all).
            computation: the computation that produced them.

        Returns:
            How many rows were written.
        """
        now = time.time()
        version, encode = __version__, _encode
        batch: dict[str, tuple[tuple[Any, ...], Mapping[str, NDArray[Any]] | None]] = {}
        seen = batch.get
        for o in outcomes:  # the hot loop of a sweep's writes: plain locals, no copies of plain dicts
            res, key, cfg = o.result, o.key, o.config
            ok = res is not None and o.error is None
            prev = seen(key)
            if prev is not None and (prev[0][3] == "done" or not ok):
                continue  # the same key twice in one batch: the first success wins
            cfg_json = encode(cfg if type(cfg) is dict else dict(cfg))
            if ok:
                sc = res.scalars  # type: ignore[union-attr]
                batch[key] = ((key, computation, cfg_json, "done", encode(sc if type(sc) is dict else dict(sc)), None,
                               version, float(o.seconds), now), res.arrays or None)  # type: ignore[union-attr]
            else:
                batch[key] = ((key, computation, cfg_json, "failed", None, o.error or "no result", version,
                               float(o.seconds), now), None)
        if not batch:
            return 0
        plain = [row for row, arrays in batch.values() if arrays is None]
        with_arrays = [(row, arrays) for row, arrays in batch.values() if arrays is not None]
        with self._errors(), self._tx() as db:
            before = db.total_changes
            # sorted by key: B-tree inserts in order are the fastest SQLite can do
            db.executemany(_UPSERT, sorted(plain, key=itemgetter(0)))
            written = db.total_changes - before
            for row, named in with_arrays:
                if db.execute(_UPSERT, row).rowcount != 1:
                    continue  # kept the stored row: keep its arrays too
                written += 1
                blobs = []
                for name, arr in named.items():
                    buf = io.BytesIO()
                    np.save(buf, np.asarray(arr), allow_pickle=False)
                    blobs.append((row[0], name, buf.getvalue()))
                db.executemany("INSERT OR REPLACE INTO arrays VALUES (?, ?, ?)", blobs)
        return written

    def put(self, key: str, computation: str, config: Mapping[str, Any], *, result: Mapping[str, Any] | None = None,
            error: str | None = None, arrays: Mapping[str, NDArray[Any]] | None = None, seconds: float = 0.0) -> bool:
        """Store one point by its parts (a convenience over :meth:`write`, with its rules).

        Arguments:
            key: the point's key (:func:`point_key`).
            computation: the computation's name.
            config: the configuration.
            result: the scalar results of a finished point.
            error: the error of a failed point (``None``: finished).
            arrays: the arrays of a finished point.
            seconds: its wall time.

        Returns:
            Whether the row was written.
        """
        res = None if error is not None else PointResult(dict(result or {}), dict(arrays or {}))
        return self.write([PointOutcome(key, config, res, error, seconds)], computation=computation) == 1

    # ------------------------------------------------------------------ reading
    def status(self, keys: Iterable[str] | None = None) -> dict[str, str]:
        """The status of stored points.

        Arguments:
            keys: only these keys (default: all stored points).

        Returns:
            key -> ``"done"`` or ``"failed"``, for stored points only.
        """
        with self._errors():
            d = dict(self.db.execute("SELECT key, status FROM points").fetchall())
        if keys is not None:
            ks = set(keys)
            d = {k: v for k, v in d.items() if k in ks}
        return d

    def counts(self) -> dict[str, int]:
        """``{"done": n, "failed": m}``."""
        out = {"done": 0, "failed": 0}
        with self._errors():
            for st, n in self.db.execute("SELECT status, count(*) FROM points GROUP BY status").fetchall():
                out[st] = n
        return out

    def status_report(self) -> StoreStatus:
        """The counts and the errors of the failed points (what ``sweep status`` shows)."""
        c = self.counts()
        errors = tuple(FailedPoint(p.key, p.error or "") for p in self.points("failed"))
        return StoreStatus(str(self.path), c["done"], c["failed"], errors)

    def points(self, status: str | None = None) -> list[StoredPoint]:
        """The stored points, oldest first.

        Arguments:
            status: only ``"done"`` or only ``"failed"`` points (default: all).

        Returns:
            One :class:`StoredPoint` per row.

        Raises:
            InputError: an unknown status.
        """
        q = "SELECT key, computation, config, status, result, error, version, seconds FROM points"
        args: tuple[Any, ...] = ()
        if status is not None:
            if status not in STATUSES:
                raise InputError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
            q += " WHERE status = ?"
            args = (status,)
        with self._errors():
            rows = self.db.execute(q + " ORDER BY created, key", args).fetchall()
        return [StoredPoint(key, comp, json.loads(cfg), st, json.loads(res) if res else {}, err, ver, sec)
                for key, comp, cfg, st, res, err, ver, sec in rows]

    def rows(self, status: str | None = None) -> list[dict[str, Any]]:
        """:meth:`points` as dicts with named keys (``key``, ``config``, ``result``, ``error``, …)."""
        return [p.as_dict() for p in self.points(status)]

    def array(self, key: str, name: str) -> NDArray[Any]:
        """One stored array of a finished point.

        Raises:
            KeyError: no array of that name for that key.
        """
        row = self.db.execute("SELECT data FROM arrays WHERE key = ? AND name = ?", (key, name)).fetchone()
        if row is None:
            raise KeyError(f"no array {name!r} for point {key[:12]}…")
        return np.load(io.BytesIO(row[0]), allow_pickle=False)

    def table(self, status: str = "done") -> dict[str, list[Any]]:
        """One row per point and seed, column-oriented: key, computation, its parameters, its scalar results.

        Arguments:
            status: ``"done"`` (default) or ``"failed"`` (then an ``error`` column is added).

        Returns:
            column name -> list of values (``None`` where a point lacks a column). A result
            named like a parameter (the ``t_max`` a trajectory used when its parameter was
            ``None``) is the column ``NAME_result``: no result is hidden by a parameter.
        """
        pts = self.points(status)
        pcols: list[str] = []
        rcols: list[str] = []
        for r in pts:
            pcols += [k for k in r.config if k not in pcols]
            rcols += [k for k in r.result if k not in rcols]
        cols: dict[str, list[Any]] = {"key": [r.key for r in pts], "computation": [r.computation for r in pts]}
        for k in pcols:
            cols[k] = [r.config.get(k) for r in pts]
        for k in rcols:  # a result named like a parameter (t_max: the one used) is kept as NAME_result
            cols[k + "_result" if k in pcols or k in ("key", "computation") else k] = [r.result.get(k) for r in pts]
        if status == "failed":
            cols["error"] = [r.error for r in pts]
        return cols

    def to_table(self, status: str = "done") -> Table:
        """:meth:`table` as a :class:`featmech.tables.Table` (text, CSV, JSON through one writer)."""
        return Table(self.table(status))

    def to_pandas(self, status: str = "done") -> Any:
        """:meth:`table` as a pandas DataFrame (needs pandas)."""
        return self.to_table(status).to_pandas()

    def to_xarray(self, dims: Iterable[str] | None = None) -> Any:
        """The finished points as an xarray Dataset indexed by the parameters that vary (seed included).

        Arguments:
            dims: the index parameters (default: every parameter with more than one value; the
                seed for a store whose points share every parameter, a single point say).

        Raises:
            InputError: the store has no finished points, ``dims`` names no parameter, or two
                points share the index (several computations or featmech versions in one store:
                pass ``dims`` or use :meth:`to_pandas`).
        """
        pts = self.points("done")
        if not pts:
            raise InputError("the store has no finished points")
        df = self.to_pandas()
        pkeys = list(dict.fromkeys(k for r in pts for k in r.config))
        rkeys = [c for c in df.columns if c not in pkeys and c not in ("key", "computation")]
        if dims is None:
            dims = [k for k in pkeys if df[k].nunique(dropna=False) > 1] or (["seed"] if "seed" in pkeys else ["key"])
        else:
            dims = list(dims)
            unknown = [d for d in dims if d not in pkeys and d != "key"]
            if unknown or not dims:
                raise InputError(f"dims must name parameters of the store ({', '.join(pkeys)}), got {dims!r}")
        if df.duplicated(subset=dims).any():
            raise InputError(f"points of the store share the index {', '.join(dims)} (several computations or "
                             "featmech versions?); pass dims= or use to_pandas()")
        return df.set_index(dims)[[c for c in rkeys if c not in dims]].to_xarray()

    def export(self, path: str | os.PathLike[str], fmt: str = "csv") -> Path:
        """Write the finished points as CSV (through :class:`~featmech.tables.Table`) or Parquet
        (through pandas; needs pyarrow).

        The file is written whole or not at all: through a temporary file renamed into place, or
        straight into an existing device or pipe (``/dev/stdout``; ``/dev/full`` fails with "no
        space left on device"), which is never replaced.

        Arguments:
            path: the output file.
            fmt: ``"csv"`` or ``"parquet"``.

        Returns:
            ``path``.

        Raises:
            InputError: an unknown format, an empty path, a directory, a missing directory, or
                ``path`` is the store itself (or its WAL/SHM file, or a link to it).
            OSError: the file cannot be written (the error names ``path``).
        """
        if fmt not in EXPORT_FORMATS:
            raise InputError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
        if str(path) == "":
            raise InputError("export path is empty; give a file name")
        p = Path(path)
        if p.resolve() in _db_files(self.path) or (p.exists() and self.path.exists() and os.path.samefile(p, self.path)):
            raise InputError(f"export path {str(p)!r} is the store itself; give another file name")
        if p.is_dir():
            raise InputError(f"export path {str(p)!r} is a directory; give a file name")
        if not p.parent.is_dir():
            what = "is not a directory" if p.parent.exists() else "does not exist"
            raise InputError(f"the directory of export path {str(p)!r} {what}")
        table = self.to_table()
        if fmt == "csv":
            data = table.render("csv").encode("utf-8")
        else:
            try:
                import pyarrow  # type: ignore[import-untyped]  # noqa: F401
            except ImportError as exc:  # pragma: no cover - optional
                raise ImportError("Parquet export needs pyarrow: pip install 'featmech[sweep]'") from exc
            buf = io.BytesIO()
            table.to_pandas().to_parquet(buf, index=False)
            data = buf.getvalue()
        _write_file(p, data)
        return p


def store_status(path: str | os.PathLike[str]) -> StoreStatus:
    """Open an existing store and report its counts and errors (``featmech sweep status``).

    The store is opened read-only: a read-only store can be inspected, and nothing is changed.

    Raises:
        InputError: the store does not exist or is not a featmech store.
    """
    with Store(path, readonly=True) as st:
        return st.status_report()


def export_store(path: str | os.PathLike[str], out: str | os.PathLike[str], fmt: str = "csv") -> ExportReport:
    """Export the finished points of an existing store (``featmech sweep export``).

    Arguments:
        path: the store.
        out: the output file.
        fmt: ``"csv"`` or ``"parquet"``.

    Returns:
        What was written.

    Raises:
        InputError: the store does not exist or is not a store, ``out`` is the store, a bad format.
        OSError: the output cannot be written.
    """
    with Store(path, readonly=True) as st:
        p = st.export(out, fmt)
        return ExportReport(p, fmt, st.counts()["done"])
