"""Benchmark: featmech explore — from a control change to redrawn figures, at width 10¹².

Run:  python benchmarks/bench_explore.py [--screenshot docs/figures/explore.png]
(writes the "explore" section of BENCHMARKS.md; needs the explore extra, and Playwright with
Debian's chromium for the browser round trip and the screenshot)

Measured, each as the median over fresh values (no cache answers):
- compute: :func:`featmech.report.explorer_model.compute` (exact flow, GD, 40 × 40 phase diagram);
- server side: the app's whole update (compute + new data for every ColumnDataSource + widgets);
- in the browser (headless chromium driven by Playwright, timed inside the page): a key press in a
  control until the figures are painted, split into the message to the server, the server's work,
  the answer's transfer and BokehJS's render; median and 90th percentile over fresh values.
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
        app.set_config(CONFIG.replace(sigma_u=1e-6 * (1 + 0.00071 * (i + 1))))  # fresh: no cache answers
        times.append(time.perf_counter() - t0)
    return _median(times)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: injected before the page loads: times one change in the page's own clock (performance.now):
#: key  — the key press (Enter in a box, an arrow key on a slider handle);
#: send — the first websocket message to the server after it;
#: patch, patch_end — the first and last frame of the server's answer (a Bokeh PATCH-DOC);
#: painted — two animation frames after the answer was applied: BokehJS has drawn it.
PROBE = r"""
(() => {
  const fm = window.__fm = {armed: false, t: {}};
  fm.arm = () => { fm.armed = true; fm.t = {}; fm.left = null; fm.done = new Promise(r => { fm.resolve = r; }); };
  document.addEventListener('keydown', () => { if (fm.armed && fm.t.key === undefined) fm.t.key = performance.now(); }, true);
  const finish = () => requestAnimationFrame(() => requestAnimationFrame(() => {
    fm.t.painted = performance.now(); fm.armed = false; fm.resolve(fm.t); }));
  const Orig = window.WebSocket;
  function WS(...a) {
    const ws = new Orig(...a);
    ws.addEventListener('message', ev => {
      if (!fm.armed || fm.t.send === undefined) return;
      const d = ev.data;
      fm.t.bytes = (fm.t.bytes || 0) + (typeof d === 'string' ? d.length : (d.byteLength || d.size || 0));
      if (fm.left === null) {
        if (typeof d === 'string' && d.includes('"PATCH-DOC"')) {
          fm.t.patch = performance.now(); fm.t.bytes = d.length; fm.left = 2 + 2 * (JSON.parse(d).num_buffers || 0);
        }
        return;
      }
      if (fm.left > 0 && --fm.left === 0) { fm.t.patch_end = performance.now(); finish(); }
    });
    const send = ws.send.bind(ws);
    ws.send = d => { if (fm.armed && fm.t.send === undefined && fm.t.key !== undefined) fm.t.send = performance.now(); return send(d); };
    return ws;
  }
  WS.prototype = Orig.prototype;
  Object.assign(WS, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.WebSocket = WS;
})();
"""


def _stats(rows: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """(median, p90) of each stage in ms."""
    out = {}
    for k in rows[0]:
        v = np.array([r[k] for r in rows])
        out[k] = (float(np.median(v)), float(np.percentile(v, 90)))
    return out


def bench_browser(n: int = 25, screenshot: Path | None = None) -> dict[str, dict[str, tuple[float, float]]] | None:
    """Control change → redrawn figures in headless chromium, timed inside the page (see PROBE).

    Two kinds of change at width 10¹², each ``n`` times with fresh values: typing σ_u into its box
    and pressing Enter (the phase diagram changes too: σ_u is not one of its axes), and pressing
    an arrow key on the σ_w slider (σ_w is an axis: the diagram's cells stay, the point moves).

    Returns:
        ``{"box": stats, "slider": stats}`` with stats ``{stage: (median ms, p90 ms)}`` for
        ``total`` (key → painted), ``to_server`` (key → first message sent), ``server`` (sent →
        answer starts: the server's callbacks, compute, serialization), ``transfer`` (the answer's
        frames), ``render`` (answer complete → painted: BokehJS), ``kB`` (answer size); ``None``
        without Playwright or chromium.
    """
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
        line = proc.stdout.readline() if proc.stdout else ""
        if "serving on" not in line:
            raise RuntimeError(f"featmech explore did not start: {line}")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1600, "height": 1150})
            page.set_default_timeout(60000)
            page.add_init_script(PROBE)
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("#fm-label").wait_for()

            def timed(press) -> dict[str, float]:
                page.evaluate("() => window.__fm.arm()")
                press()
                t = page.evaluate("() => window.__fm.done")
                return {"total": t["painted"] - t["key"], "to_server": t["send"] - t["key"],
                        "server": t["patch"] - t["send"], "transfer": t["patch_end"] - t["patch"],
                        "render": t["painted"] - t["patch_end"], "kB": t["bytes"] / 1e3}

            def type_value(name: str, value: str) -> dict[str, float]:
                box = page.locator(f".fm-input-{name} input")
                box.fill(value)
                return timed(lambda: box.press("Enter"))

            for name, value in (("width", "1e12"), ("sigma_u", "1e-06"), ("sigma_w", "1e-06")):
                type_value(name, value)
            for _ in range(3):  # warm-up
                type_value("sigma_u", "1.5e-06")
                type_value("sigma_u", "1e-06")
            box = [type_value("sigma_u", f"{1e-6 * (1 + 0.01 * (i + 1)):.6g}") for i in range(n)]
            handle = page.locator(".fm-slider-sigma_w .noUi-handle")
            slider = [timed(lambda i=i: handle.press("ArrowLeft" if i % 2 else "ArrowRight")) for i in range(n)]
            if screenshot is not None:
                for name, value in (("width", "1000"), ("sigma_u", "0.03"), ("sigma_w", "0.03"), ("lr_k0", "3")):
                    type_value(name, value)
                page.screenshot(path=str(screenshot), full_page=True)
            browser.close()
        return {"box": _stats(box), "slider": _stats(slider)}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _load() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--screenshot", type=Path, default=None, help="also save a screenshot of the page here")
    ap.add_argument("-n", type=int, default=25, help="changes timed in the browser, per kind")
    args = ap.parse_args()
    load_before = _load()
    fresh, cached = bench_compute()
    server = bench_server()
    browser = bench_browser(n=args.n, screenshot=args.screenshot)

    def ok(t: float | None) -> str:
        return "not measured" if t is None else ("met" if t <= TARGET else "NOT met")

    rows = [
        "| control change → redrawn figures, width 10¹² | median | p90 | target | |",
        "|---|---|---|---|---|",
        f"| compute: exact flow + GD + 40×40 phase diagram (σ_u changed: diagram recomputed) | {fresh * 1e3:.1f} ms"
        " | | | |",
        f"| compute, σ_w changed (an axis of the diagram) | {cached * 1e3:.1f} ms | | | |",
        f"| server side, outside a server: compute + the new data of every figure and widget | {server * 1e3:.1f} ms"
        f" | | ≤ 150 ms | {ok(server)} |",
    ]
    if browser is None:
        rows.append("| in the browser | not measured (no chromium/Playwright) | | ≤ 150 ms | |")
    else:
        for kind, what in (("box", "Enter in the σ_u box"), ("slider", "arrow key on the σ_w slider")):
            st = browser[kind]
            med, p90 = st["total"]
            status = "met (median and p90)" if p90 <= TARGET * 1e3 else (
                "median met, p90 not" if med <= TARGET * 1e3 else "NOT met")
            rows.append(f"| **in the browser: {what} → figures painted** | **{med:.0f} ms** | {p90:.0f} ms | ≤ 150 ms"
                        f" | {status} |")
            rows.append(f"| … of which: key → message sent · server (callbacks, compute, serialization) · "
                        f"answer transfer · BokehJS render | {st['to_server'][0]:.0f} · {st['server'][0]:.0f} · "
                        f"{st['transfer'][0]:.0f} · {st['render'][0]:.0f} ms | {st['to_server'][1]:.0f} · "
                        f"{st['server'][1]:.0f} · {st['transfer'][1]:.0f} · {st['render'][1]:.0f} ms | | "
                        f"answer {st['kB'][0]:.0f} kB |")
    notes = (f"\n\nBrowser: headless Debian chromium (`--disable-gpu`, software rendering) driven by Playwright on the "
             f"same machine as the server, {args.n} changes per kind, timed inside the page with performance.now "
             f"(key press → two animation frames after the server's answer was applied). Load average "
             f"(1/5/15 min) before the run: {load_before}; after: {_load()} — the machine is shared, so "
             "times vary with the other jobs on it.")
    body = "\n".join(rows) + notes
    print(body)
    write_section("explore", "python benchmarks/bench_explore.py --screenshot docs/figures/explore.png", body)


if __name__ == "__main__":
    main()
