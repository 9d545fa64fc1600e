"""featmech explore: the model behind the page (presets, the CLI/Python/JSON forms of a
configuration, GD against the edge of stability) and the page itself in a real browser (Debian's
chromium driven by Playwright: it loads without console errors, a control changes the label, a
preset sets the controls, a click on the phase diagram moves the point)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from featmech.analysis.canonical import CANONICAL_CASES
from featmech.analysis.scaling import PRESETS as SCALING_PRESETS
from featmech.cli.main import main
from featmech.errors import InputError
from featmech.report.explorer_model import (
    PRESETS,
    ExplorerConfig,
    apply_preset,
    compute,
)

ROOT = Path(__file__).resolve().parents[1]
SMALL_BALANCED = ExplorerConfig(width=1000, sigma_u=0.03, sigma_w=0.03)


def _cli(line: str) -> tuple[int, str, str]:
    argv = shlex.split(line)
    assert argv[0] == "featmech"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv[1:])
    return rc, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------------------------ the model
@pytest.mark.parametrize("name", list(CANONICAL_CASES))
def test_canonical_presets_set_the_cases_values_and_get_the_stated_label(name):
    case = CANONICAL_CASES[name]
    cfg = apply_preset(ExplorerConfig(), name)
    for n in ("eta_u", "eta_w", "kappa", "target", "data_var"):
        assert getattr(cfg, n) == case.value(n)
    if case.init == "iid":
        for n in ("width", "sigma_u", "sigma_w", "rho"):
            assert getattr(cfg, n) == case.value(n)
    else:  # u0 = w0 with |u0| ≈ scale: rho = 1 and d σ² = scale²
        assert cfg.rho == 1.0 and math.isclose(cfg.width * cfg.sigma_u**2, case.value("scale") ** 2)
    assert compute(cfg).category == case.category  # the outcome docs/theory.md §5 states


@pytest.mark.parametrize("name,key", [("SP", "sp"), ("NTK", "ntk"), ("mean-field (scaling)", "mean-field"),
                                      ("μP", "mup"), ("Chizat", "chizat-lazy")])
def test_parametrization_presets_are_their_exponents_at_the_current_width(name, key):
    d = 10**6
    cfg = apply_preset(ExplorerConfig(width=d), name)
    exps = SCALING_PRESETS[key].exponents
    assert cfg.width == d
    assert math.isclose(cfg.sigma_u, d ** (exps.sigma_u2 / 2)) and math.isclose(cfg.sigma_w, d ** (exps.sigma_w2 / 2))
    assert math.isclose(cfg.eta_u, d**exps.eta_u) and math.isclose(cfg.eta_w, d**exps.eta_w)
    assert math.isclose(cfg.kappa, d**exps.kappa)
    view = compute(cfg)
    published = SCALING_PRESETS[key].published
    if published.startswith("kernel"):
        assert view.category == "kernel"
    elif published.startswith("feature"):
        assert view.category.startswith("feature")
    else:  # SP at lr = O(1): GD diverges
        assert view.gd_category == "unstable" and view.gd is not None and view.gd.diverged


def test_unknown_preset_and_bad_controls_are_input_errors():
    with pytest.raises(InputError, match="unknown preset"):
        apply_preset(ExplorerConfig(), "nope")
    with pytest.raises(InputError, match="rho"):
        ExplorerConfig(rho=2.0)
    with pytest.raises(InputError, match="width"):
        ExplorerConfig(width=10**16)
    with pytest.raises(InputError, match="lr_k0"):
        ExplorerConfig(lr_k0=0.0)
    with pytest.raises(InputError, match="differ"):
        ExplorerConfig(x_axis="kappa", y_axis="kappa")
    with pytest.raises(InputError, match="x_axis"):
        ExplorerConfig(x_axis="lr")
    assert ExplorerConfig().set_value("width", 1234.6).width == 1235


def test_json_round_trip_and_bad_json():
    cfg = apply_preset(ExplorerConfig(width=10**12), "μP").replace(seed=7, lr_k0=3.0, x_axis="width", y_axis="eta_u")
    text = cfg.to_json()
    assert json.loads(text)["config"]["width"] == 10**12
    assert ExplorerConfig.from_json(text) == cfg
    assert ExplorerConfig.from_json(json.dumps(cfg.as_dict())) == cfg
    with pytest.raises(InputError, match="JSON"):
        ExplorerConfig.from_json("{nope")
    with pytest.raises(InputError, match="unknown control"):
        ExplorerConfig.from_json('{"config": {"widht": 3}}')
    with pytest.raises(InputError, match="sigma_u"):
        ExplorerConfig.from_json('{"config": {"sigma_u": -1}}')


@pytest.mark.parametrize("cfg", [SMALL_BALANCED, SMALL_BALANCED.replace(sigma_w=3e-5, lr_k0=3.0),
                                 apply_preset(ExplorerConfig(), "correlated"),
                                 apply_preset(ExplorerConfig(width=10**12), "mean-field (scaling)")])
def test_cli_commands_run_and_give_the_pages_labels(cfg):
    view = compute(cfg)
    cmds = cfg.cli_commands()
    rc, out, err = _cli(cmds["trajectory"] + " --format json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["regime"] == view.run.classification.regime
    assert data["mechanism"] == view.run.classification.mechanism
    assert data["rate"] == pytest.approx(view.run.rate, rel=1e-12)
    rc, out, err = _cli(cmds["simulate"] + " --format json")
    assert rc == 0, err
    sim = json.loads(out)
    assert sim["lr_times_ntk0"] == pytest.approx(cfg.lr_k0, rel=1e-9)
    assert f"{sim['regime']}" == view.gd.classification.regime and sim["diverged"] == view.gd.diverged
    gd = view.gd_series()
    np.testing.assert_allclose(np.asarray(sim["output"], dtype=float), gd["output"], rtol=1e-12, atol=0)
    rc, out, err = _cli(cmds["explain"])
    assert rc == 0 and out.strip() == view.explanation.strip()
    assert cfg.cli_text().splitlines() == [cmds["trajectory"], cmds["simulate"]]


def test_python_snippet_runs_and_prints_the_label():
    cfg = SMALL_BALANCED.replace(sigma_w=3e-5)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(cfg.python(), "<explorer snippet>", "exec"), {})
    lines = out.getvalue().splitlines()
    view = compute(cfg)
    assert lines[0] == view.category == "feature/rescaling"
    assert view.explanation.splitlines()[0] in lines
    assert lines[-1].split()[0] == view.gd_category


def test_the_label_moves_from_alignment_to_rescaling_as_sigma_w_shrinks():
    cats = [compute(SMALL_BALANCED.replace(sigma_w=s)).category for s in (0.03, 3e-3, 3e-4, 3e-5)]
    assert cats[0] == "feature/alignment" and cats[-1] == "feature/rescaling"


def _plain_gd_loss(cfg: ExplorerConfig, steps: int) -> np.ndarray:
    """Reference: plain full-width GD on explicit vectors (width 1000), lr from the same K0."""
    rng = np.random.default_rng(1)
    d = cfg.width
    u = rng.normal(0, cfg.sigma_u, d)
    w = rng.normal(0, cfg.sigma_w, d)
    k, V = cfg.target, cfg.data_var
    K0 = V * cfg.kappa**2 * (cfg.eta_w * u @ u + cfg.eta_u * w @ w)
    lr = cfg.lr_k0 / K0
    losses = []
    for _ in range(steps):
        r = cfg.kappa * (u @ w) - k
        losses.append(0.5 * V * r**2)
        if not np.isfinite(r) or abs(r) > 1e50:
            break
        gu, gw = V * r * cfg.kappa * w, V * r * cfg.kappa * u
        u, w = u - lr * cfg.eta_u * gu, w - lr * cfg.eta_w * gw
    return np.array(losses)


@pytest.mark.parametrize("lr_k0,expect", [(1.0, "stable"), (3.0, "catapult"), (6.0, "diverges")])
def test_gd_points_show_the_catapult_between_2_and_4_over_k0(lr_k0, expect):
    cfg = ExplorerConfig(width=1000, sigma_u=1.0, sigma_w=1.0, kappa=1 / math.sqrt(1000), lr_k0=lr_k0)
    view = compute(cfg)
    loss = view.gd_series()["loss"]
    ref = _plain_gd_loss(cfg, 60)
    if expect == "diverges":
        assert view.gd.diverged
        assert not np.isfinite(ref[-1]) or ref[-1] > 1e10 * ref[0]
        return
    assert not view.gd.diverged
    assert loss[-1] < 1e-2 * loss[0] and ref[-1] < 1e-2 * ref[0]
    rises = loss.max() > loss[0] * 1.5
    assert rises == (expect == "catapult") == (ref.max() > ref[0] * 1.5)


def test_compute_is_fast_at_width_1e12():
    cfg = ExplorerConfig(width=10**12, sigma_u=1e-6, sigma_w=1e-6)
    compute(cfg)
    times = []
    for i in range(5):
        t0 = time.perf_counter()
        compute(cfg.replace(sigma_w=1e-6 * (1 + 0.01 * (i + 1))))  # new point: nothing cached
        times.append(time.perf_counter() - t0)
    assert np.median(times) < 0.15


# ------------------------------------------------------------------------------------ the command
def test_explore_refuses_bad_ports_and_hosts():
    pytest.importorskip("panel")
    for args, what in ((["--port", "70000"], "--port"), (["--port", "-1"], "--port"),
                       (["--host", "no such host.invalid"], "--host")):
        rc, out, err = _cli("featmech explore --no-browser " + " ".join(shlex.quote(a) for a in args))
        assert rc == 2 and len(err.strip().splitlines()) == 1 and what in err, (args, err)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        rc, out, err = _cli(f"featmech explore --no-browser --port {port}")
        assert rc == 2 and f"127.0.0.1:{port}" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------ the browser
def _chromium() -> str | None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None and os.environ.get("CI"):
        pytest.fail("CI must install Debian's chromium for the browser test (see .ci/run)")
    return exe


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server():
    """``featmech explore --no-browser`` in a subprocess on a free port; killed at the end."""
    try:
        import panel  # noqa: F401
        import playwright  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must install the explore and test extras (panel, playwright)")
        pytest.skip("panel or playwright missing")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-u", "-m", "featmech", "explore", "--no-browser", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        deadline = time.time() + 60
        while "serving on" not in line and time.time() < deadline and proc.poll() is None:
            line = proc.stdout.readline() if proc.stdout else ""
        assert "serving on" in line, line
        yield f"http://127.0.0.1:{port}/"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _category(page) -> str:
    return page.locator("#fm-label").get_attribute("data-category")


def _wait_category(page, category: str, timeout: float = 40000) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#fm-label")).to_have_attribute("data-category", category, timeout=timeout)


def test_the_page_in_a_real_browser(server, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium is not installed (CI installs it)")
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server)
            page.locator("#fm-label").wait_for(timeout=60000)
            # the default is the small balanced init: alignment; shrinking σ_w makes it rescaling
            assert _category(page) == "feature/alignment"
            box = page.locator(".fm-input-sigma_w input")
            box.fill("3e-05")
            box.press("Enter")
            _wait_category(page, "feature/rescaling")
            assert "--sigma-w 3e-05" in page.locator(".fm-cli textarea").input_value()
            # a preset sets the controls
            page.locator(".fm-preset select").select_option("correlated")
            _wait_category(page, "feature/disalignment")
            case = CANONICAL_CASES["correlated"]
            for n in ("rho", "kappa", "target", "width"):
                assert float(page.locator(f".fm-input-{n} input").input_value()) == pytest.approx(case.value(n))
            # a click on the phase diagram (σ_w × κ) moves the point: σ_w and κ change, the label follows
            before = {n: float(page.locator(f".fm-input-{n} input").input_value()) for n in ("sigma_w", "kappa")}
            time.sleep(0.5)  # let the layout settle before measuring where the diagram is
            canvases = page.locator("canvas")
            boxes = [canvases.nth(i).bounding_box() for i in range(canvases.count())]
            phase = max((b for b in boxes if b), key=lambda b: b["width"] * b["height"])
            page.mouse.click(phase["x"] + 0.55 * phase["width"], phase["y"] + 0.3 * phase["height"])
            deadline = time.time() + 40
            after = before
            while time.time() < deadline and after == before:
                time.sleep(0.2)
                after = {n: float(page.locator(f".fm-input-{n} input").input_value()) for n in ("sigma_w", "kappa")}
            assert after["sigma_w"] != before["sigma_w"] and after["kappa"] != before["kappa"]
            time.sleep(0.5)
            moved = apply_preset(ExplorerConfig(), "correlated").replace(sigma_w=after["sigma_w"], kappa=after["kappa"])
            assert _category(page) == compute(moved).category
            page.screenshot(path=str(tmp_path / "explore.png"))
        finally:
            browser.close()
    assert errors == [], errors
