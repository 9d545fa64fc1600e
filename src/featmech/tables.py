"""One writer for every table the project emits: text for people, CSV and JSON for programs.

A :class:`Table` is tidy data: named columns of equal length, plus named scalars (metadata such
as the regime of a run or the configuration). The command line, the report, phase diagrams and the
results store all write through it, so a number is formatted the same way everywhere:

- **text**: scalars as ``name: value`` lines, then the columns aligned, numbers with 6 significant
  digits;
- **CSV**: a header row, then the rows; floats written with ``repr`` (full precision, round-trip),
  NaN as ``nan``, ±inf as ``inf``/``-inf``;
- **JSON**: one object with the columns (lists), the scalars and any extra entries; NaN and ±inf
  become ``null`` (JSON has neither).

>>> t = Table({"t": [0.0, 1.0], "loss": [0.5, 0.125]}, scalars={"regime": "kernel"})
>>> print(t.to_csv(), end="")
t,loss
0.0,0.5
1.0,0.125
>>> t.to_json()
'{"t": [0.0, 1.0], "loss": [0.5, 0.125], "regime": "kernel"}'
"""

from __future__ import annotations

import csv
import enum
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from featmech.errors import InputError

__all__ = ["Table", "jsonable", "FORMATS", "format_number"]

#: the output formats of :meth:`Table.render`
FORMATS = ("table", "json", "csv")


def jsonable(x: Any) -> Any:
    """Convert numpy values, enums and dataclass-like objects (recursively) to JSON types.

    NaN and ±inf become ``None``; an object with ``as_dict()`` is converted through it.
    """
    if isinstance(x, enum.Enum):
        return jsonable(x.value)
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, (Path,)):
        return str(x)
    if hasattr(x, "as_dict") and callable(x.as_dict):
        return jsonable(x.as_dict())
    return x


def format_number(v: Any) -> str:
    """A value for people: numbers with 6 significant digits, enums by their value, the rest as str."""
    if isinstance(v, enum.Enum):
        return str(v.value)
    if isinstance(v, (bool, np.bool_)) or v is None or isinstance(v, str):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    try:
        return f"{float(v):.6g}"
    except (TypeError, ValueError):
        return str(v)


def _csv_cell(v: Any) -> Any:
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


@dataclass(frozen=True)
class Table:
    """Named columns of equal length and named scalars.

    Attributes:
        columns: column name -> sequence (list or 1-D array); all of one length.
        scalars: name -> one value (shown above the columns in text; in the JSON object).
        extra: name -> any JSON-able value, only in the JSON object (e.g. the configuration).

    Raises:
        InputError: columns of different lengths.
    """

    columns: Mapping[str, Sequence[Any] | np.ndarray]
    scalars: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cols = {k: (v.ravel().tolist() if isinstance(v, np.ndarray) else list(v)) for k, v in self.columns.items()}
        lengths = {k: len(v) for k, v in cols.items()}
        if len(set(lengths.values())) > 1:
            raise InputError(f"table columns must have one length, got {lengths}")
        object.__setattr__(self, "columns", cols)

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def rows(self) -> list[tuple[Any, ...]]:
        """The rows as tuples, in column order."""
        return list(zip(*self.columns.values()))

    # ------------------------------------------------------------------ formats
    def to_text(self) -> str:
        """Scalars as ``name: value`` lines, then an aligned table of the columns."""
        lines = [f"{k:>12}: {format_number(v)}" for k, v in self.scalars.items()]
        if self.columns:
            names = list(self.columns)
            cells = [[format_number(v) for v in row] for row in self.rows()]
            widths = [max([len(n), 12] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
            lines.append("  ".join(f"{n:>{w}}" for n, w in zip(names, widths)))
            lines += ["  ".join(f"{c:>{w}}" for c, w in zip(r, widths)) for r in cells]
        return "\n".join(lines) + ("\n" if lines else "")

    def to_csv(self) -> str:
        """Header and rows; floats at full precision."""
        buf = io.StringIO()
        wr = csv.writer(buf, lineterminator="\n")
        wr.writerow(list(self.columns))
        for row in self.rows():
            wr.writerow([_csv_cell(v) for v in row])
        return buf.getvalue()

    def as_dict(self) -> dict[str, Any]:
        """Columns, scalars and extra entries in one mapping (later keys win)."""
        return {**self.columns, **self.scalars, **self.extra}

    def to_json(self, indent: int | None = None) -> str:
        """One JSON object: columns as lists, scalars, extra entries; NaN/inf as null."""
        return json.dumps(jsonable(self.as_dict()), indent=indent, allow_nan=False)

    def render(self, fmt: str) -> str:
        """``"table"`` (text), ``"csv"`` or ``"json"``."""
        if fmt == "json":
            return self.to_json() + "\n"
        if fmt == "csv":
            return self.to_csv()
        if fmt == "table":
            return self.to_text()
        raise InputError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")

    def write(self, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
        """Write to ``path`` in ``fmt`` (default: from the suffix, ``.csv``, ``.json``, else text).

        The file is written to a temporary name beside it and renamed into place, so a failed
        write never leaves a truncated file.

        Raises:
            OSError: the file cannot be written (the caller explains it).
        """
        p = Path(path)
        if fmt is None:
            fmt = {".csv": "csv", ".json": "json"}.get(p.suffix.lower(), "table")
        write_text_atomic(p, self.render(fmt))
        return p

    def to_pandas(self) -> Any:
        """The columns as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - optional
            raise ImportError("to_pandas() needs pandas: pip install 'featmech[sweep]'") from exc
        return pd.DataFrame(dict(self.columns))

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, Any]], scalars: Mapping[str, Any] | None = None,
                     extra: Mapping[str, Any] | None = None) -> "Table":
        """A table from a list of row mappings (the union of their keys, in first-seen order)."""
        names: list[str] = []
        for r in records:
            names += [k for k in r if k not in names]
        cols = {n: [r.get(n) for r in records] for n in names}
        return cls(cols, dict(scalars or {}), dict(extra or {}))


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and an atomic rename (a device or
    FIFO is written into directly, never replaced).

    Raises:
        OSError: the file cannot be written; its ``filename`` is ``path`` (not the temporary).
    """
    if path.exists() and not path.is_file():  # a device or FIFO (e.g. /dev/stdout): write into it, never replace it
        try:
            with path.open("w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise type(exc)(exc.errno, exc.strerror, str(path)) from exc
        return
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, str(path)) from exc
    finally:
        if tmp.exists():
            tmp.unlink()
