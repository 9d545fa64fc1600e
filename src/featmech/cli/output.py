"""How the commands print and write: every table goes through :class:`featmech.tables.Table`."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import click

from featmech.tables import Table

__all__ = ["echo", "write", "write_json", "make_dir", "check_out_dir", "figures", "note"]


def echo(table: Table, fmt: str) -> None:
    """Print ``table`` in ``fmt`` (``"table"``, ``"json"`` or ``"csv"``) on stdout."""
    click.echo(table.render(fmt), nl=False)


def _named(exc: OSError, path: Path) -> OSError:
    """``exc`` naming ``path``: a failed write may carry no path, or its temporary file's."""
    tmp = exc.filename is not None and Path(exc.filename).name.startswith(f".{path.name}.tmp")
    if exc.filename is None or tmp:
        exc = type(exc)(exc.errno or errno.EIO, exc.strerror or str(exc), str(path))
    return exc


def write(table: Table, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write ``table`` to ``path`` (format from the suffix unless ``fmt``); returns the path.

    Raises:
        OSError: the file cannot be written; the error names the path.
    """
    p = Path(path)
    try:
        return table.write(p, fmt)
    except OSError as exc:
        raise _named(exc, p) from exc


def write_json(obj: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a JSON object (nested data that is not one tidy table) through :class:`Table`."""
    return write(Table({}, extra=obj), path, "json")


def make_dir(path: str | os.PathLike[str]) -> Path:
    """Create the output directory ``path`` (and its parents) if missing; returns it.

    Raises:
        OSError: it cannot be created (a file of that name, no permission, …); names the path.
    """
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a directory", str(p)) from exc
    except OSError as exc:
        raise _named(exc, p) from exc
    return p


def check_out_dir(path: str | os.PathLike[str] | None) -> Path | None:
    """Check, before any work, that the output directory ``path`` exists or can be made there
    (without making it: a run that fails later leaves nothing behind); ``None`` passes.

    Raises:
        OSError: it is a file, lies under a file, or its nearest existing directory is not
            writable; the error names ``path``.
    """
    if path is None:
        return None
    p = Path(path)
    where = p
    while not where.exists() and where != where.parent:
        where = where.parent
    if not where.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(p))
    if not os.access(where, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "permission denied", str(p))
    return p


def figures(make: Callable[[], list[Path]]) -> list[Path]:
    """Run a figure maker; without matplotlib, print a note on stderr and return no files."""
    try:
        return list(make())
    except ImportError as exc:
        if "matplotlib" not in str(exc):
            raise
        note(f"{exc}; figures skipped")
        return []


def note(message: str) -> None:
    """One ``featmech: note: …`` line on stderr."""
    click.echo(f"featmech: note: {message}", err=True)
