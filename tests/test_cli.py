"""The CLI contract: JSON fields, formats, and error paths (exit 2, one line on stderr)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import featmech
from featmech.cli.main import main
from featmech.theory.inits import sample_gram


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_trajectory_json_contract(capsys):
    code, out, err = run(["trajectory", "--width", "100000", "--eta-u", "1e5", "--eta-w", "1e5",
                          "--kappa", "1e-5", "--points", "7", "--format", "json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    for key in ("t", "output", "loss", "ntk", "alignment", "norm_u", "norm_w"):
        assert len(obj[key]) == 7
    assert obj["regime"] == "feature" and obj["mechanism"] == "alignment"
    assert isinstance(obj["ntk_ratio"], float) and obj["rate"] > 0
    # the numbers are the API's
    g = sample_gram(100000, 1.0, 1.0, seed=0)
    sol = featmech.solve_gram(g.uu, g.ww, g.uw, area=g.area, eta_u=1e5, eta_w=1e5, kappa=1e-5)
    assert np.allclose(obj["ntk"], sol(np.array(obj["t"])).ntk, rtol=1e-15)
    assert obj["ntk_ratio"] == pytest.approx(sol.ntk_ratio, rel=1e-15)


def test_trajectory_times_csv_and_table(capsys, tmp_path):
    u0, w0 = np.array([0.3, 0.1]), np.array([0.2, -0.4])
    f = tmp_path / "i.npz"
    np.savez(f, u0=u0, w0=w0)
    code, out, err = run(["trajectory", "--init", str(f), "--times", "0,0.5,2,inf", "--format", "csv"], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "t,output,loss,ntk,alignment,norm_u,norm_w"
    assert len(lines) == 5
    assert float(lines[-1].split(",")[1]) == pytest.approx(1.0)
    code, out, err = run(["trajectory", "--init", str(f), "--points", "3"], capsys)
    assert code == 0 and "regime" in out and "mechanism" in out


def test_simulate_json_contract_and_divergence(capsys):
    code, out, err = run(["simulate", "--width", "500", "--lr", "0.001", "--steps", "200", "--every", "10",
                          "--format", "json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    n = len(obj["step"])
    assert n == 21
    for key in ("output", "loss", "ntk", "alignment", "norm_u", "norm_w"):
        assert len(obj[key]) == n
    assert obj["diverged"] is False and obj["diverged_at"] is None
    code, out, err = run(["simulate", "--width", "500", "--lr", "50", "--steps", "200", "--every", "1",
                          "--format", "json"], capsys)
    obj = json.loads(out)
    assert obj["diverged"] is True and isinstance(obj["diverged_at"], int)
    assert len(obj["loss"]) == obj["diverged_at"] and all(v is not None for v in obj["loss"])
    assert obj["regime"] == "unstable"


def test_simulate_sgd_options(capsys):
    code, out, err = run(["simulate", "--batch-size", "8", "--noise", "0.1", "--momentum", "0.5",
                          "--weight-decay", "1e-4", "--lr", "0.001", "--steps", "300", "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["diverged"] is False


BAD = [
    ["trajectory", "--width", "0"],
    ["trajectory", "--sigma-u", "-1"],
    ["trajectory", "--sigma-w", "nan"],
    ["trajectory", "--rho", "2"],
    ["trajectory", "--eta-u", "-1"],
    ["trajectory", "--kappa", "-1"],
    ["trajectory", "--data-var", "inf"],
    ["trajectory", "--points", "0"],
    ["trajectory", "--times", "2,1"],
    ["trajectory", "--times", "-1,2"],
    ["trajectory", "--times", "a,b"],
    ["trajectory", "--times", "1", "--t-max", "3"],
    ["trajectory", "--init", "/nonexistent/file.npz"],
    ["trajectory", "--init", "x.npz", "--width", "4"],
    ["trajectory", "--format", "xml"],
    ["trajectory", "--eps", "0"],
    ["trajectory", "--no-such-option"],
    ["simulate", "--lr", "0"],
    ["simulate", "--lr", "-0.1"],
    ["simulate", "--steps", "0"],
    ["simulate", "--momentum", "1"],
    ["simulate", "--batch-size", "0"],
    ["simulate", "--every", "0"],
    ["nosuchcommand"],
]


@pytest.mark.parametrize("args", BAD, ids=[" ".join(a) for a in BAD])
def test_user_errors_exit_2_with_one_line(args, capsys):
    code, out, err = run(args, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("featmech: error:"), err
    assert "Traceback" not in err


def test_malformed_npz_via_cli(capsys, tmp_path):
    f = tmp_path / "bad.npz"
    f.write_text("garbage")
    code, out, err = run(["trajectory", "--init", str(f)], capsys)
    assert code == 2 and "not a valid .npz" in err


def test_installed_script_exit_codes():
    env = dict(os.environ)
    exe = [sys.executable, "-m", "featmech"]
    ok = subprocess.run(exe + ["trajectory", "--points", "2", "--format", "json"], capture_output=True, text=True,
                        env=env, timeout=120)
    assert ok.returncode == 0 and json.loads(ok.stdout)["regime"] in ("kernel", "feature")
    bad = subprocess.run(exe + ["trajectory", "--width", "-3"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "width" in bad.stderr
    hlp = subprocess.run(exe + ["trajectory", "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert hlp.returncode == 0 and "Examples" in hlp.stdout


def test_phase_json_and_out_dir(capsys, tmp_path):
    code, out, err = run(["phase", "--x", "width=1e1:1e4:log:4", "--y", "kappa=1e-4:1:log:3", "--seeds", "2",
                          "--format", "json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    assert len(obj["regime"]) == 4 * 3 * 2 and "summary" in obj
    code, out, err = run(["phase", "--x", "width=1e1:1e4:log:6", "--y", "kappa=1e-5:1:log:5", "--out",
                          str(tmp_path / "ph")], capsys)
    assert code == 0, err
    assert (tmp_path / "ph" / "table.csv").exists() and (tmp_path / "ph" / "summary.json").exists()
    assert "majority label" in out


def test_scaling_explain_presets(capsys):
    code, out, err = run(["scaling", "--preset", "mean-field", "--format", "json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["analysis"]["regime"] == "feature" and obj["all_agree"] is True
    code, out, err = run(["scaling", "--sigma-u2", "0", "--sigma-w2", "0", "--eta-u", "0", "--eta-w", "0",
                          "--kappa", "-0.5"], capsys)
    assert code == 0 and "infinite-width regime: kernel" in out
    code, out, err = run(["explain", "--width", "1000", "--rho", "0.9", "--kappa", "1e-3", "--target", "0.05"], capsys)
    assert code == 0 and "disalignment" in out.lower()
    code, out, err = run(["presets", "--format", "json"], capsys)
    obj = json.loads(out)
    assert obj["predicted"] == obj["measured"]


PHASE_BAD = [
    ["phase", "--x", "bogus=1:2:log:3", "--y", "kappa=1e-3:1:log:3"],
    ["phase", "--x", "width=1e3:1e1:log:3", "--y", "kappa=1e-3:1:log:3"],
    ["phase", "--x", "width=1e1:1e3:log:3", "--y", "kappa=1:1:log:3"],
    ["phase", "--x", "width=1e1:1e6:log:20000", "--y", "kappa=1e-6:1:log:10000"],
    ["phase", "--x", "width=1e1:1e3:log:3", "--y", "kappa=1e-3:1:log:3", "--eps", "0"],
    ["phase", "--x", "width=1e1:1e3:log:3", "--y", "kappa=1e-3:1:log:3", "--factor", "-2"],
    ["phase", "--x", "width=1e1:1e3:log:3", "--y", "kappa=1e-3:1:log:3", "--set", "rho"],
    ["phase", "--x", "width=1e1:1e3:log:3"],
    ["scaling", "--kappa", "nan"],
    ["scaling", "--preset", "nope"],
    ["scaling", "--diagram", "kappa=1:0:3", "sigma2=0:1:3"],
    ["explain", "--width", "-1"],
]


@pytest.mark.parametrize("args", PHASE_BAD, ids=[" ".join(a) for a in PHASE_BAD])
def test_phase_scaling_errors_exit_2(args, capsys):
    code, out, err = run(args, capsys)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("featmech: error:"), err
