"""Shared helpers for benchmarks: machine description and BENCHMARKS.md section updates."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BENCH_MD = ROOT / "BENCHMARKS.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}, "
            f"{platform.system()} {platform.release()}")


def best_time(fn: Callable[[], object], repeat: int = 5) -> float:
    """Best wall time of ``repeat`` runs (seconds): the least noisy estimate on a shared machine."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def write_section(name: str, command: str, body: str) -> None:
    """Replace (or append) the section ``name`` of BENCHMARKS.md."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = (f"{start}\n## {name}\n\nCommand: `{command}`  \nMachine: {machine()}  \nRun: {stamp}\n\n"
             f"{body.strip()}\n{end}")
    text = BENCH_MD.read_text() if BENCH_MD.exists() else (
        "# Benchmarks\n\nEach section is rewritten by the command it names. Ratios are measured against the "
        "peer in the same run; absolute times on a shared 2-core machine are noisy.\n")
    pat = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pat.sub(block, text) if pat.search(text) else text.rstrip() + "\n\n" + block + "\n"
    BENCH_MD.write_text(text)
