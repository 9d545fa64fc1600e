"""The report: every figure loads in a real browser (Debian's chromium, headless), no script errors,
a screenshot that is not blank; every string escaped."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

from featmech.report.html import Section, render_html, reproduce
from featmech.tables import Table

CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str | None:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None and os.environ.get("CI"):
        pytest.fail("CI must install Debian's chromium for the browser test (see .ci/run)")
    return exe


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("report")
    return reproduce(out, quick=True, sections=["canonical", "scaling"])


def test_report_in_a_real_browser(report, tmp_path):
    exe = chromium()
    if exe is None:
        pytest.skip("chromium is not installed (CI installs it)")
    flags = CHROME_FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([exe, *flags, "--virtual-time-budget=10000", "--dump-dom", report.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    n_img = html.count("<img ")
    assert n_img >= 6
    assert 'id="status" data-ok="yes"' in html, html[html.find('id="status"') - 20: html.find('id="status"') + 120]
    assert f"figures loaded: {n_img}/{n_img}; script errors: 0" in html
    shot = tmp_path / "shot.png"
    r = subprocess.run([exe, *flags, "--window-size=1200,1800", f"--screenshot={shot}", report.as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[0] >= 1000 and img.shape[1] >= 1000
    assert img[..., :3].std() > 0.05  # not blank
    assert (img[..., :3] < 0.5).mean() > 0.005  # some dark pixels: text and plots were drawn


def test_report_is_self_contained_with_its_data(report):
    html = report.read_text()
    assert "src='data:image/png;base64," in html and "http://" not in html.replace("http://www.w3.org", "")
    out = report.parent
    assert (out / "run.json").exists() and (out / "canonical" / "canonical.json").exists()
    assert (out / "scaling" / "presets.csv").exists()
    assert "All five cases come out as docs/theory.md states." in html


def test_every_string_is_escaped(tmp_path):
    png = tmp_path / "x.png"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1))
    fig.savefig(png)
    plt.close(fig)
    evil = "<script>alert('x')</script>&"
    sec = Section(evil, intro=evil, note=evil, figures=[(png, evil)], tables=[(evil, Table({evil: [evil]}))])
    path = render_html([sec], {evil: evil}, tmp_path)
    text = path.read_text()
    assert "<script>alert" not in text
    assert text.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;") >= 6
    assert np.isfinite(len(text))
