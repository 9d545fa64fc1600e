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
    assert obj["branch"] == "generic"  # the label, not the enum's code
    # the numbers are the API's
    g = sample_gram(100000, 1.0, 1.0, seed=0)
    sol = featmech.solve(g, featmech.Hyper(eta_u=1e5, eta_w=1e5, kappa=1e-5))
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
    code, out, err = run(["trajectory", "--init", str(f), "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["branch"] == "generic"


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


# ---------------------------------------------------------------------- the error contract (issue 8, item 6)
def test_npy_init_is_refused_cleanly(capsys, tmp_path):
    f = tmp_path / "x.npy"
    np.save(f, np.arange(3.0))
    code, out, err = run(["trajectory", "--init", str(f)], capsys)
    assert code == 2 and err.count("\n") == 1 and ".npy" in err and "Traceback" not in err


def test_integer_valued_float_is_an_integer(capsys):
    code, out, err = run(["trajectory", "--width", "1e12", "--points", "2", "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["config"]["width"] == 10**12
    code, out, err = run(["simulate", "--width", "10", "--steps", "1e2", "--every", "5e1", "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["step"] == [0, 50, 100]
    code, out, err = run(["trajectory", "--width", "1.5"], capsys)
    assert code == 2 and "--width" in err and "integer" in err


def test_explain_refuses_csv_cleanly(capsys):
    code, out, err = run(["explain", "--format", "csv"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--format" in err and out == ""


@pytest.mark.parametrize("cmd", [["canonical"], ["phase", "--x", "width=1e1:1e3:log:2", "--y", "kappa=1e-3:1:log:2"]])
def test_output_directory_errors_name_the_path(cmd, capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for target in (blocker, blocker / "sub"):
        code, out, err = run(cmd + ["--out", str(target)], capsys)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert str(target) in err


def test_unwritable_output_names_the_path(capsys, tmp_path):
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        code, out, err = run(["canonical", "--out", str(d)], capsys)
    finally:
        d.chmod(0o700)
    assert code == 2 and "permission denied" in err and str(d) in err


def test_a_bug_is_not_a_user_error(monkeypatch):
    import featmech.cli.exact as exact_cli

    def broken(*a, **k):
        raise ValueError("an internal inconsistency")

    monkeypatch.setattr(exact_cli, "exact_run", broken)
    with pytest.raises(ValueError, match="internal inconsistency"):
        main(["trajectory", "--points", "2"])


def test_a_missing_extra_is_one_line_exit_1():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from featmech.cli.main import main\n"
            "sys.exit(main(['experiment', 'activations', '--quick']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "pip install" in r.stderr, r.stderr


# ---------------------------------------------------------------------- options from the parameter table
def test_options_come_from_the_parameter_table(capsys):
    from featmech.params import PARAMETERS

    code, out, err = run(["trajectory", "--help"], capsys)
    assert code == 0
    text = " ".join(out.split())
    for name in ("width", "sigma_u", "rho", "eta_u", "kappa", "data_var", "points", "eps", "factor"):
        p = PARAMETERS[name]
        assert p.flag in text and f"Range {p.range_text}" in text
    code, out, err = run(["simulate", "--help"], capsys)
    text = " ".join(out.split())
    for name in ("lr", "steps", "momentum", "weight_decay", "batch_size", "noise", "every"):
        assert PARAMETERS[name].flag in text


def test_canonical_json_csv_and_files(capsys, tmp_path):
    code, out, err = run(["canonical", "--format", "json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["all_agree"] is True and len(obj["case"]) == 5
    assert obj["regime"] == ["feature", "kernel", "feature", "feature", "feature"]
    assert obj["mechanism"] == ["alignment", "none", "rescaling", "rescaling", "disalignment"]
    code, out, err = run(["canonical", "--format", "csv"], capsys)
    assert out.splitlines()[0] == ("case,expected,regime,mechanism,status,borderline,ntk_max_deviation,ntk_ratio,"
                                   "alignment_start,alignment_end,balance_change,rate")
    code, out, err = run(["canonical"], capsys)
    assert "all cases as the theory (§5) states: True" in out


def test_explained_io_errors():
    import errno

    from featmech.cli.main import explain_os_error

    assert explain_os_error(PermissionError(errno.EACCES, "Permission denied", "/x/y")) == "'/x/y': permission denied"
    assert explain_os_error(OSError(errno.ENOSPC, "No space left on device")) == "no space left on device"
    assert explain_os_error(IsADirectoryError(errno.EISDIR, "Is a directory", "/d")) == "'/d': is a directory"
    assert explain_os_error(OSError(errno.EIO, "Input/output error", "/x")) is None


def test_disk_full_names_the_file(monkeypatch, capsys, tmp_path):
    import errno

    from featmech.tables import Table

    def full(self, path, fmt=None):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Table, "write", full)
    code, out, err = run(["canonical", "--out", str(tmp_path / "c")], capsys)
    assert code == 2 and err.count("\n") == 1
    assert str(tmp_path / "c" / "canonical.json") in err and "no space left on device" in err


def test_writing_to_a_device_never_replaces_it(tmp_path) -> None:
    """As root a rename could replace /dev/full by a regular file; a device is written into (and the
    'no space left' error names it), never replaced."""
    import os
    import stat

    from featmech.tables import Table

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with pytest.raises(OSError) as info:
        Table({"a": [1.0]}).write("/dev/full", "csv")
    assert "/dev/full" in str(info.value)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
