"""Benchmark: featmech explore — from a control change to redrawn figures, at width 10¹².

Run:  python benchmarks/bench_explore.py [--screenshot docs/figures/explore.png]
(writes the "explore" section of BENCHMARKS.md; needs the explore extra, and Playwright with
Debian's chromium for the browser round trip and the screenshot)

Measured, each as the median over fresh values (no cache answers):
- compute: :func:`featmech.report.explorer_model.compute` (exact flow, GD, 40 × 40 phase diagram);
- server side: the app's whole update (compute + new data for every ColumnDataSource + widgets);
- in the browser: typing a value into a control and pressing Enter until the page shows the new
  redraw counter (websocket round trip, compute, Bokeh's redraw), driven by Playwright.
Target: ≤ 150 ms at width 10¹².
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from featmech.report.explorer_model import ExplorerConfig, compute  # noqa: E402

from _report import ROOT, write_section  # noqa: E402

#: the benchmark's point: width 10¹², a small balanced init in mean-field-like units
CONFIG = ExplorerConfig(width=10**12, sigma_u=1e-6, sigma_w=1e-6)
TARGET = 0.150


def _median(xs: list[float]) -> float:
    return float(np.median(xs))


def bench_compute(n: int = 30) -> tuple[float, float]:
    """(median seconds with the phase diagram recomputed (σ_u changes), with it cached (σ_w on an axis))."""
    compute(CONFIG)
    fresh = [compute(CONFIG.replace(sigma_u=1e-6 * (1 + 0.003 * (i + 1)))).seconds for i in range(n)]
    cached = [compute(CONFIG.replace(sigma_w=1e-6 * (1 + 0.003 * (i + 1)))).seconds for i in range(n)]
    return _median(fresh), _median(cached)


def bench_server(n: int = 30) -> float:
    """Median seconds of the app's update (compute + data of every source + widgets), outside a server."""
    from featmech.report.explorer import Explorer

    app = Explorer(CONFIG)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        app.set_config(CONFIG.replace(sigma_u=1e-6 * (1 + 0.002 * (i + 1))))
        times.append(time.perf_counter() - t0)
    return _median(times)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_browser(n: int = 15, screenshot: Path | None = None) -> float | None:
    """Median seconds from typing a value (Enter) to the page showing the redraw, in headless chromium."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if exe is None:
        return None
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-u", "-m", "featmech", "explore", "--no-browser", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        line = ""
        while "serving on" not in line and proc.poll() is None:
            line = proc.stdout.readline() if proc.stdout else ""
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1600, "height": 1150})
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("#fm-label").wait_for(timeout=60000)
            for name, value in (("width", "1e12"), ("sigma_u", "1e-06"), ("sigma_w", "1e-06")):
                box = page.locator(f".fm-input-{name} input")
                box.fill(value)
                box.press("Enter")
                time.sleep(1.0)
            times = []
            seq = page.locator("#fm-seq")
            for i in range(n):
                before = seq.get_attribute("data-seq")
                box = page.locator(".fm-input-sigma_u input")
                box.fill(f"{1e-6 * (1 + 0.01 * (i + 1)):.6g}")
                t0 = time.perf_counter()
                box.press("Enter")
                page.wait_for_function(
                    "s => { const find = r => { const e = r.querySelector('#fm-seq'); if (e) return e;"
                    " for (const x of r.querySelectorAll('*')) if (x.shadowRoot) { const f = find(x.shadowRoot);"
                    " if (f) return f; } return null; }; const e = find(document);"
                    " return e && e.dataset.seq !== s; }", arg=before, timeout=30000, polling="raf")
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                times.append(time.perf_counter() - t0)
            if screenshot is not None:
                page.locator(".fm-input-sigma_w input").fill("0.03")
                page.locator(".fm-input-sigma_w input").press("Enter")
                for name, value in (("width", "1000"), ("sigma_u", "0.03"), ("lr_k0", "3")):
                    page.locator(f".fm-input-{name} input").fill(value)
                    page.locator(f".fm-input-{name} input").press("Enter")
                    time.sleep(1.0)
                time.sleep(2.0)
                page.screenshot(path=str(screenshot), full_page=True)
            browser.close()
        return _median(times)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--screenshot", type=Path, default=None, help="also save a screenshot of the page here")
    args = ap.parse_args()
    fresh, cached = bench_compute()
    server = bench_server()
    browser = bench_browser(screenshot=args.screenshot)

    def ok(t: float | None) -> str:
        return "not measured" if t is None else ("met" if t <= TARGET else "NOT met")

    rows = [
        "| control change → redrawn figures, width 10¹² | measured (median) | target | |",
        "|---|---|---|---|",
        f"| compute: exact flow + GD + 40×40 phase diagram (σ_u changed: diagram recomputed) | {fresh * 1e3:.1f} ms"
        " | | |",
        f"| compute, phase diagram cached (σ_w changed: it is an axis) | {cached * 1e3:.1f} ms | | |",
        f"| server side: compute + new data for every figure and widget | **{server * 1e3:.1f} ms** | ≤ 150 ms | "
        f"{ok(server)} |",
        ("| in the browser (Playwright, headless chromium): Enter in a control → redraw shown | "
         + ("not measured (no chromium/Playwright)" if browser is None else f"**{browser * 1e3:.0f} ms**")
         + f" | ≤ 150 ms | {ok(browser)} |"),
    ]
    body = "\n".join(rows)
    print(body)
    write_section("explore", "python benchmarks/bench_explore.py", body)


if __name__ == "__main__":
    main()
