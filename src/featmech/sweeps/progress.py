"""Progress of a sweep: a redrawn bar with rate and ETA on a terminal, plain lines in a log.

>>> import io
>>> buf = io.StringIO()
>>> p = Progress(2, buf)
>>> p.update(); p.update(failed=1)
>>> buf.getvalue().splitlines()[-1].startswith("sweep: 2/2 (100%)")
True
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Progress with rate and ETA: a redrawn line on a terminal, plain lines otherwise.

    A terminal is redrawn at most every 0.2 s, a log gets a line at most every 5 s; the final
    update always writes.

    Arguments:
        total: the number of points to compute.
        stream: where to write (default ``sys.stderr``).
        enabled: write nothing when false.
        label: the line's prefix.
    """

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True, label: str = "sweep") -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.label = label

    def update(self, n: int = 1, failed: int = 0) -> None:
        """Count ``n`` more points, ``failed`` of them failed, and redraw if it is time.

        Arguments:
            n: points finished since the last update (successes and failures).
            failed: how many of them failed.
        """
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
