"""The results store: SQLite in WAL mode, one row per (point, seed), keyed by a content hash.

Why SQLite: it ships with Python, is an embedded ACID database whose WAL mode lets one writer and
many readers work at once across processes, survives ``kill -9`` (a committed transaction is
durable, an interrupted one is rolled back), and needs no server. Each result is committed in
its own small transaction with ``INSERT OR IGNORE`` on the content key, so a resumed sweep never
repeats a finished point and two sweeps writing one store at once lose and duplicate nothing.

Schema (``featmech-store`` format 1):

- ``meta(key, value)``: ``format = featmech-store``, ``schema = 1``;
- ``points(key PRIMARY KEY, computation, config JSON, status 'done'|'failed', result JSON,
  error, version, seconds, created)``: ``config`` holds every parameter and the seed, ``result``
  the scalar results;
- ``arrays(key, name, data)``: trajectories as ``.npy`` bytes (read back with
  ``allow_pickle=False``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from featmech import __version__
from featmech.errors import InputError

__all__ = ["Store", "point_key", "FORMAT", "SCHEMA"]

FORMAT = "featmech-store"
SCHEMA = "1"


def _np_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"cannot store a value of type {type(x).__name__}")


def _canonical(obj: Any) -> str:
    """Canonical JSON (sorted keys; numpy scalars as Python numbers; NaN/inf kept as JSON extensions)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True, default=_np_default)


_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=True, default=_np_default).encode  # storage, not keys


def point_key(computation: str, config: Mapping[str, Any], version: str = __version__) -> str:
    """Content hash of a point's full configuration (seed included) and the package version."""
    return hashlib.sha256(_canonical({"computation": computation, "config": dict(config),
                                      "version": version}).encode()).hexdigest()


class Store:
    """Open (or create) a results store at ``path``; a directory, a foreign SQLite database or a
    non-database file gives a clear ``ValueError``."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True, timeout: float = 60.0) -> None:
        p = Path(path)
        if p.is_dir():
            raise InputError(f"store path {str(p)!r} is a directory; give a file name such as results.db")
        exists = p.exists() and p.stat().st_size > 0
        if not exists and not create:
            raise InputError(f"store {str(p)!r} does not exist")
        if not exists and not p.parent.exists():
            raise InputError(f"the directory of store {str(p)!r} does not exist")
        self.path = p
        try:
            self.db = sqlite3.connect(str(p), timeout=timeout, isolation_level=None)
            self.db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if exists:
                self._check()
            else:
                self._create()
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA cache_size = -65536")
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{str(p)!r} is not a featmech store (not an SQLite database or corrupted: {exc})") from exc

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

        def __exit__(self, et: Any, *_: Any) -> None:
            self.db.execute("COMMIT" if et is None else "ROLLBACK")

    def _tx(self) -> "Store._Tx":
        return Store._Tx(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def put(self, key: str, computation: str, config: Mapping[str, Any], *, result: Mapping[str, Any] | None = None,
            error: str | None = None, arrays: Mapping[str, np.ndarray] | None = None, seconds: float = 0.0) -> bool:
        """Store one point (done if ``error`` is None, else failed). A failed row is replaced by a
        later success; a done row is never overwritten. Returns whether the row was written."""
        return self.put_chunk([(key, computation, config, result, error, arrays, seconds)]) == 1

    def put_chunk(self, items: Iterable[tuple[str, str, Mapping[str, Any], Mapping[str, Any] | None, str | None,
                                              Mapping[str, np.ndarray] | None, float]]) -> int:
        """Store several points (key, computation, config, result, error, arrays, seconds) in one
        transaction, with :meth:`put`'s rules; returns how many rows were written."""
        written = 0
        with self._tx() as db:
            for key, computation, config, result, error, arrays, seconds in items:
                status = "done" if error is None else "failed"
                cur = db.execute("SELECT status FROM points WHERE key = ?", (key,)).fetchone()
                if cur is not None and (cur[0] == "done" or status == "failed"):
                    continue
                db.execute("INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (key, computation, _encode(dict(config)), status,
                            None if result is None else _encode(dict(result)), error, __version__,
                            float(seconds), time.time()))
                for name, arr in (arrays or {}).items():
                    buf = io.BytesIO()
                    np.save(buf, np.asarray(arr), allow_pickle=False)
                    db.execute("INSERT OR REPLACE INTO arrays VALUES (?, ?, ?)", (key, name, buf.getvalue()))
                written += 1
        return written

    def put_many(self, rows: Iterable[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]]) -> int:
        """Bulk insert of finished scalar results in one transaction (existing keys are kept)."""
        now = time.time()
        # sorted by key: B-tree inserts in order are the fastest SQLite can do
        data = sorted((k, c, _encode(cfg), "done", _encode(res), None, __version__, 0.0, now) for k, c, cfg, res in rows)
        with self._tx() as db:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", data)
            return db.total_changes - before

    # ------------------------------------------------------------------ reading
    def status(self, keys: Iterable[str] | None = None) -> dict[str, str]:
        """key -> 'done' | 'failed' for all stored points (or those among ``keys``)."""
        rows = self.db.execute("SELECT key, status FROM points").fetchall()
        d = dict(rows)
        if keys is not None:
            ks = set(keys)
            d = {k: v for k, v in d.items() if k in ks}
        return d

    def counts(self) -> dict[str, int]:
        out = {"done": 0, "failed": 0}
        for st, n in self.db.execute("SELECT status, count(*) FROM points GROUP BY status"):
            out[st] = n
        return out

    def rows(self, status: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT key, computation, config, status, result, error, version, seconds FROM points"
        args: tuple[Any, ...] = ()
        if status is not None:
            q += " WHERE status = ?"
            args = (status,)
        out = []
        for key, comp, cfg, st, res, err, ver, sec in self.db.execute(q + " ORDER BY created, key", args):
            out.append({"key": key, "computation": comp, "config": json.loads(cfg), "status": st,
                        "result": json.loads(res) if res else {}, "error": err, "version": ver, "seconds": sec})
        return out

    def array(self, key: str, name: str) -> np.ndarray:
        row = self.db.execute("SELECT data FROM arrays WHERE key = ? AND name = ?", (key, name)).fetchone()
        if row is None:
            raise KeyError(f"no array {name!r} for point {key[:12]}…")
        return np.load(io.BytesIO(row[0]), allow_pickle=False)

    def table(self, status: str = "done") -> dict[str, list[Any]]:
        """One row per point and seed: its parameters, then its scalar results (column-oriented)."""
        rows = self.rows(status)
        pcols: list[str] = []
        rcols: list[str] = []
        for r in rows:
            pcols += [k for k in r["config"] if k not in pcols]
            rcols += [k for k in r["result"] if k not in rcols and k not in pcols]
        cols: dict[str, list[Any]] = {"key": [r["key"] for r in rows], "computation": [r["computation"] for r in rows]}
        for k in pcols:
            cols[k] = [r["config"].get(k) for r in rows]
        for k in rcols:
            cols[k] = [r["result"].get(k) for r in rows]
        if status == "failed":
            cols["error"] = [r["error"] for r in rows]
        return cols

    def to_pandas(self, status: str = "done") -> Any:
        import pandas as pd

        return pd.DataFrame(self.table(status))

    def to_xarray(self, dims: Iterable[str] | None = None) -> Any:
        """The done points as an xarray Dataset indexed by the swept parameters (those that vary, seed included)."""
        rows = self.rows("done")
        if not rows:
            raise InputError("the store has no finished points")
        df = self.to_pandas()
        pkeys = list(dict.fromkeys(k for r in rows for k in r["config"]))
        rkeys = [c for c in df.columns if c not in pkeys and c not in ("key", "computation")]
        dims = [k for k in pkeys if df[k].nunique() > 1] if dims is None else list(dims)
        return df.set_index(dims)[rkeys].to_xarray()

    def export(self, path: str | os.PathLike[str], fmt: str = "csv") -> Path:
        """Write the done points as CSV or Parquet (needs pyarrow)."""
        p = Path(path)
        if fmt not in ("csv", "parquet"):
            raise InputError(f"export format must be csv or parquet, got {fmt!r}")
        cols = self.table()
        if fmt == "csv":
            import csv

            with p.open("w", newline="") as fh:
                wr = csv.writer(fh)
                names = list(cols)
                wr.writerow(names)
                for row in zip(*(cols[n] for n in names)):
                    wr.writerow(["" if v is None else (repr(v) if isinstance(v, float) else v) for v in row])
        else:
            try:
                import pyarrow as pa
                import pyarrow.parquet as pq
            except ImportError as exc:  # pragma: no cover - optional
                raise ImportError("Parquet export needs pyarrow: pip install 'featmech[sweep]'") from exc
            pq.write_table(pa.table(cols), p)
        return p
