"""Progress of long work: a redrawn bar with rate and ETA on a terminal, plain lines in a log.

Sweeps count points; the ``experiment`` commands count runs and add what each run gave
(:meth:`Progress.update` with a ``note``, :meth:`Progress.start` for the run that begins).

>>> import io
>>> buf = io.StringIO()
>>> p = Progress(2, buf)
>>> p.update(); p.update(failed=1)
>>> buf.getvalue().splitlines()[-1].startswith("sweep: 2/2 (100%)")
True
>>> buf = io.StringIO()
>>> runs = Progress(3, buf, label="experiment", unit="runs", every=0)
>>> runs.start("scale=0.1 seed=0"); runs.update(note="scale=0.1 seed=0: kernel, 4.1 s")
>>> print(buf.getvalue().split(", ETA")[0])
experiment: 1/3 (33%) — scale=0.1 seed=0: kernel, 4.1 s
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Progress with rate and ETA: a redrawn line on a terminal, plain lines otherwise.

    A terminal is redrawn at most every 0.2 s, a log gets a line at most every 5 s (or every
    ``every`` seconds when given); the final update always writes.

    Arguments:
        total: the number of things to do.
        stream: where to write (default ``sys.stderr``).
        enabled: write nothing when false.
        label: the line's prefix.
        unit: what is counted (``"points"``, ``"runs"``), for the rate.
        every: the least seconds between two lines in a log (default 5; 0: a line per update).
    """

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True, label: str = "sweep",
                 unit: str = "points", every: float | None = None) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.label = label
        self.unit = unit
        self.every = (0.2 if self.tty else 5.0) if every is None else every

    def update(self, n: int = 1, failed: int = 0, note: str = "") -> None:
        """Count ``n`` more things done, ``failed`` of them failed, and redraw if it is time.

        Arguments:
            n: things finished since the last update (successes and failures).
            failed: how many of them failed.
            note: what was finished, shown after the counts (``"scale=1 seed=0: kernel, 3 s"``).
        """
        self.done += n
        self.failed += failed
        now = time.perf_counter()
        final = self.done >= self.total
        if not self.enabled or (not final and now - self.last < self.every):
            return
        self.last = now
        el = now - self.t0
        rate = self.done / el if el > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta_s = time.strftime("%H:%M:%S", time.gmtime(eta)) if math.isfinite(eta) else "?"
        counts = f"{self.label}: {self.done}/{self.total} ({100 * self.done / self.total:.0f}%)"
        if note:
            msg = f"{counts} — {note}, ETA {eta_s}"
        else:
            msg = f"{counts} {rate:.3g} {self.unit}/s, ETA {eta_s}"
        msg += f", {self.failed} failed" if self.failed else ""
        self._write(msg, final)

    def start(self, note: str) -> None:
        """Say what begins now (on a terminal only: a log gets the line when it is finished)."""
        if self.enabled and self.tty:
            self._write(f"{self.label}: {self.done}/{self.total} — running {note}", False)

    def _write(self, msg: str, final: bool) -> None:
        if self.tty:
            width = 24
            fill = int(width * self.done / self.total)
            self.stream.write("\r\033[K[" + "#" * fill + "." * (width - fill) + "] " + msg + ("\n" if final else ""))
        else:
            self.stream.write(msg + "\n")
        self.stream.flush()
