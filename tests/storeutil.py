"""Test helper: read a results store's row count with plain sqlite3 (independent of featmech.sweeps.store)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def count_points(db: Path) -> int:
    """Rows in the store's ``points`` table (0 when the file is not a store yet)."""
    try:
        con = sqlite3.connect(str(db), timeout=5)
        n = con.execute("SELECT count(*) FROM points").fetchone()[0]
        con.close()
        return n
    except sqlite3.Error:
        return 0
