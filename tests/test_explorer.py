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


@pytest.mark.parametrize("axes", [("sigma_w", "kappa"), ("width", "rho")])  # log × log; integer-rounded log × linear
def test_phase_raster_pixels_take_the_label_of_the_cell_under_them(axes):
    from featmech.analysis.phase import LABELS
    from featmech.report.explorer_model import phase_view

    cfg = SMALL_BALANCED.replace(x_axis=axes[0], y_axis=axes[1])
    ph = phase_view(cfg, points=12)
    r = ph.raster(max_pixels=48)
    img = r["image"]
    cells = ph.cells()  # one rectangle per cell, in data units
    logx, logy = ph.diagram.x.scale == "log", ph.diagram.y.scale == "log"
    fx = np.log10 if logx else (lambda v: np.asarray(v, float))
    fy = np.log10 if logy else (lambda v: np.asarray(v, float))
    ny, nx = img.shape
    # pixel centres, uniform in each axis' scale between the outer edges
    cx = fx(r["x0"]) + (np.arange(nx) + 0.5) * (fx(r["x1"]) - fx(r["x0"])) / nx
    cy = fy(r["y0"]) + (np.arange(ny) + 0.5) * (fy(r["y1"]) - fy(r["y0"])) / ny
    left, right = fx(cells["left"]), fx(cells["right"])
    bottom, top = fy(cells["bottom"]), fy(cells["top"])
    for j in range(ny):
        for i in range(nx):
            inside = np.flatnonzero((left <= cx[i]) & (cx[i] < right) & (bottom <= cy[j]) & (cy[j] < top))
            assert inside.size == 1
            assert LABELS[img[j, i]] == cells["category"][inside[0]]
    assert (nx == 12) == (axes[0] != "width")  # uniform cells: one pixel each


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
                       (["--host", "no such host.invalid"], "--host"), (["--host", "256.1.1.1"], "--host"),
                       (["--host", ""], "--host")):
        rc, out, err = _cli("featmech explore --no-browser " + " ".join(shlex.quote(a) for a in args))
        assert rc == 2 and len(err.strip().splitlines()) == 1 and what in err, (args, err)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        rc, out, err = _cli(f"featmech explore --no-browser --port {port}")
        assert rc == 2 and f"127.0.0.1:{port}" in err and len(err.strip().splitlines()) == 1


def test_explore_without_panel_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_panel(name, *args, **kwargs):
        if name.split(".")[0] in ("panel", "bokeh"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_panel)
    rc, out, err = _cli("featmech explore --no-browser")
    assert rc == 1 and "pip install 'featmech[explore]'" in err and len(err.strip().splitlines()) == 1, err


def test_explore_warns_when_other_machines_can_connect(monkeypatch):
    pytest.importorskip("panel")
    import featmech.report.explorer as explorer

    served = []
    monkeypatch.setattr(explorer, "serve", lambda host, port, **kw: served.append((host, port)))
    rc, out, err = _cli("featmech explore --no-browser --host 0.0.0.0 --port 0")
    assert rc == 0 and served and served[0][0] == "0.0.0.0"
    assert len(err.strip().splitlines()) == 1 and "warning" in err and "other machines" in err
    rc, out, err = _cli("featmech explore --no-browser --host localhost --port 0")
    assert rc == 0 and err == "" and served[-1][0] == "localhost"


def test_websocket_origins():
    pytest.importorskip("panel")
    from featmech.report.explorer import allowed_origins

    assert allowed_origins("127.0.0.1", 5006) == {"127.0.0.1:5006", "localhost:5006"}
    assert allowed_origins("192.0.2.7", 80) == {"192.0.2.7:80"}
    wild = allowed_origins("0.0.0.0", 8080)
    assert {"127.0.0.1:8080", "localhost:8080", f"{socket.gethostname()}:8080"} <= wild
    assert all(o.endswith(":8080") and o.count(":") == 1 for o in wild)


# ------------------------------------------------------------------------------------ the browser
# One server and one browser page for all the checks below (they run in file order, each setting
# what it needs); every wait is on a condition of the page (the redraw counter, a label), never a sleep.
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
def server(tmp_path_factory):
    """``featmech explore --no-browser`` in a subprocess on a free port; at the end SIGTERM must
    stop it cleanly (exit 143, one line on stderr) with the browser's session still open."""
    try:
        import panel  # noqa: F401
        import playwright  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must install the explore and test extras (panel, playwright)")
        pytest.skip("panel or playwright missing")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    err_path = tmp_path_factory.mktemp("explore") / "stderr.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-u", "-m", "featmech", "explore", "--no-browser", "--port", str(port)],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env, start_new_session=True)
    state = {"closed": False}
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.strip() == f"featmech explore: serving on http://127.0.0.1:{port}/ (Ctrl-C to stop)", \
            (line, err_path.read_text())
        yield {"url": f"http://127.0.0.1:{port}/", "proc": proc, "stderr": err_path, "state": state}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
                pytest.fail("featmech explore did not stop within 30 s of SIGTERM")


@pytest.fixture(scope="module")
def page(server):
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium is not installed (CI installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1100}, accept_downloads=True,
                                          permissions=["clipboard-read", "clipboard-write"])
            pg = context.new_page()
            pg.set_default_timeout(60000)
            errors: list[str] = []
            pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.goto(server["url"])
            pg.locator("#fm-label").wait_for()
            pg.fm_errors = errors
            yield pg
        finally:
            browser.close()


def _expect():
    from playwright.sync_api import expect

    return expect


def _redraw(page, action) -> None:
    """Do ``action`` and wait until the page shows the redraw it causes."""
    seq = page.locator("#fm-seq")
    before = seq.get_attribute("data-seq")
    action()
    _expect()(seq).not_to_have_attribute("data-seq", before, timeout=60000)


def _type(page, name: str, value: str) -> None:
    box = page.locator(f".fm-input-{name} input")
    box.fill(value)
    _redraw(page, lambda: box.press("Enter"))


def _category(page) -> str:
    return page.locator("#fm-label").get_attribute("data-category")


def _wait_category(page, category: str) -> None:
    _expect()(page.locator("#fm-label")).to_have_attribute("data-category", category, timeout=60000)


def _shown_config(page) -> ExplorerConfig:
    """The configuration the controls show (6 significant digits)."""
    from featmech.report.explorer import CONTROLS

    vals = {n: float(page.locator(f".fm-input-{n} input").input_value()) for n in CONTROLS}
    vals["width"] = int(vals["width"])
    return ExplorerConfig(**vals, seed=int(page.locator(".fm-input-seed input").input_value()))


def _no_errors(page) -> None:
    assert page.fm_errors == [], page.fm_errors


def test_browser_page_loads_and_typing_sigma_w_moves_the_label(page):
    assert _category(page) == "feature/alignment"  # the default: the small balanced init
    _type(page, "sigma_w", "3e-05")
    _wait_category(page, "feature/rescaling")
    assert "--sigma-w 3e-05" in page.locator(".fm-cli textarea").input_value()
    _no_errors(page)


def test_browser_dragging_the_sigma_w_slider_moves_the_label(page):
    _type(page, "sigma_w", "0.03")
    _wait_category(page, "feature/alignment")
    handle = page.locator(".fm-slider-sigma_w .noUi-handle")
    track = page.locator(".fm-slider-sigma_w .noUi-base").bounding_box()
    h = handle.bounding_box()
    page.mouse.move(h["x"] + h["width"] / 2, h["y"] + h["height"] / 2)
    page.mouse.down()
    page.mouse.move(track["x"] - 20, h["y"] + h["height"] / 2, steps=8)  # to the left end: σ_w = 1e-6
    page.mouse.up()
    _expect()(page.locator(".fm-input-sigma_w input")).to_have_value("1e-06", timeout=60000)
    _wait_category(page, compute(SMALL_BALANCED.replace(sigma_w=1e-6)).category)
    assert _category(page) == "feature/rescaling"
    _no_errors(page)


@pytest.mark.parametrize("name", ["correlated", "SP", "NTK", "mean-field (scaling)", "μP", "Chizat"])
def test_browser_presets_set_the_controls(page, name):
    before = _shown_config(page)
    _redraw(page, lambda: page.locator(".fm-preset select").select_option(name))
    expected = apply_preset(before, name)
    shown = _shown_config(page)
    for key in PRESETS[name].values(before):
        assert getattr(shown, key) == pytest.approx(getattr(expected, key), rel=1e-5), key
    view = compute(expected)
    assert _category(page) == view.category
    label = page.locator("#fm-summary").inner_text()
    assert f"{view.gd_category}" in label
    if name == "correlated":
        assert view.category == CANONICAL_CASES[name].category  # the outcome docs/theory.md §5 states
    if name == "SP":  # lr = O(1): GD diverges, the label says where
        assert view.gd.diverged and f"diverged at step {view.gd.diverged_at}" in label
    _no_errors(page)


def test_browser_clicking_the_phase_diagram_moves_the_point(page):
    _redraw(page, lambda: page.locator(".fm-preset select").select_option("correlated"))
    before = _shown_config(page)
    canvases = page.locator("canvas")
    boxes = [canvases.nth(i).bounding_box() for i in range(canvases.count())]
    phase = max((b for b in boxes if b), key=lambda b: b["width"] * b["height"])
    _redraw(page, lambda: page.mouse.click(phase["x"] + 0.55 * phase["width"], phase["y"] + 0.3 * phase["height"]))
    after = _shown_config(page)
    assert after.sigma_w != before.sigma_w and after.kappa != before.kappa
    assert after.replace(sigma_w=before.sigma_w, kappa=before.kappa) == before  # nothing else moved
    assert _category(page) == compute(after).category
    assert "moved to" in page.locator("#fm-note").inner_text()
    _no_errors(page)


@pytest.mark.parametrize("lr_k0,expect", [(1.0, "stable"), (3.0, "catapult"), (6.0, "diverges")])
def test_browser_gd_points_show_catapult_and_divergence(page, lr_k0, expect):
    cfg = ExplorerConfig(width=1000, sigma_u=1.0, sigma_w=1.0, kappa=float(f"{1 / math.sqrt(1000):.6g}"), rho=0.0,
                         target=1.0, lr_k0=lr_k0)
    shown = _shown_config(page)
    for name in ("width", "sigma_u", "sigma_w", "rho", "eta_u", "eta_w", "kappa", "target", "data_var", "lr_k0"):
        if getattr(shown, name) != getattr(cfg, name):
            _type(page, name, f"{getattr(cfg, name):g}")
    assert _shown_config(page) == cfg
    loss = np.asarray(page.evaluate("() => Array.from(Bokeh.documents[0].get_model_by_name('fm-gd').data.loss)"),
                      dtype=float)
    ref = _plain_gd_loss(cfg, 60)  # plain full-width GD on explicit vectors
    label = page.locator("#fm-summary").inner_text()
    if expect == "diverges":
        assert "diverged at step" in label and "unstable" in label
        assert not np.isfinite(ref[-1]) or ref[-1] > 1e10 * ref[0]
    else:
        assert "diverged" not in label
        assert loss[-1] < 1e-2 * loss[0] and ref[-1] < 1e-2 * ref[0]
        rises = loss.max() > 1.5 * loss[0]
        assert rises == (expect == "catapult") == (ref.max() > 1.5 * ref[0])
    _no_errors(page)


def test_browser_copy_buttons_and_json_download_give_working_commands(page):
    _redraw(page, lambda: page.locator(".fm-preset select").select_option("correlated"))
    _type(page, "lr_k0", "3")
    cfg = _shown_config(page)
    view = compute(cfg)
    page.locator(".fm-copy-cli button").click()
    _expect()(page.locator(".fm-cli textarea")).not_to_have_value("")
    cli = page.evaluate("() => navigator.clipboard.readText()")
    assert cli == page.locator(".fm-cli textarea").input_value()
    lines = cli.splitlines()
    assert [ln.split()[1] for ln in lines] == ["trajectory", "simulate"]
    for line in lines:  # the copied lines, run as they are (through the console script's entry point)
        rc, out, err = _cli(line)
        assert rc == 0, (line, err)
        if line.split()[1] == "trajectory":
            assert f"regime: {view.run.classification.regime}" in out
            assert f"mechanism: {view.run.classification.mechanism}" in out
    page.locator(".fm-copy-py button").click()
    py = page.evaluate("() => navigator.clipboard.readText()")
    assert py == page.locator(".fm-python textarea").input_value()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(py, "<copied from the explorer>", "exec"), {})
    printed = out.getvalue().splitlines()
    assert printed[0] == _category(page) == view.category
    assert printed[-1].split()[0] == view.gd_category
    with page.expect_download() as dl:
        page.locator(".fm-json button").click()
    data = Path(dl.value.path()).read_text()
    got = ExplorerConfig.from_json(data)  # the page's exact values; the boxes show 6 digits
    assert (got.x_axis, got.y_axis) == ("sigma_w", "kappa")
    for n in ExplorerConfig.__dataclass_fields__:
        if n not in ("x_axis", "y_axis"):
            assert getattr(got, n) == pytest.approx(getattr(cfg, n), rel=1e-5), n
    assert compute(got).category == view.category
    _no_errors(page)


def test_browser_sigterm_stops_the_server_cleanly(server, page):
    proc = server["proc"]
    os.killpg(proc.pid, signal.SIGTERM)  # the browser's session is still open
    assert proc.wait(30) == 143
    assert server["stderr"].read_text().strip().splitlines()[-1] == "featmech: terminated (SIGTERM)"
