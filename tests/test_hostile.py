"""Hostile input and faults (issue 9): a bad invocation is exit status 2 and exactly one line
``featmech: error: …`` naming what is wrong, never a traceback, and it creates nothing; a fault
(kill -9, SIGTERM, Ctrl-C, a read-only, locked or full store, a full disk) loses nothing and
leaves no process behind.

The table below runs every invocation in-process through ``featmech.cli.main.main`` (fast); the
fault tests run real ``featmech sweep run`` processes and look for left-over processes in /proc.
"""

from __future__ import annotations

import math
import os
import shlex
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from featmech.cli.main import main
from featmech.params import GROUPS, PARAMETERS
from featmech.sweeps.store import Store

SPEC = 'computation = "trajectory"\nseeds = [0]\n[fixed]\npoints = 3\nwidth = 10\n[axes]\nkappa = [0.5, 1.0]\n'

#: spec files that must be refused (name -> text, the key the error names)
BAD_SPECS = {
    "neg_width": ('computation = "simulate"\n[fixed]\nwidth = -5\n', "width"),
    "lr_zero": ('computation = "simulate"\n[fixed]\nlr = 0\n', "lr"),
    "frac_width": ('computation = "simulate"\n[fixed]\nwidth = 2.5\n', "width"),
    "dataset": ('computation = "network"\n[fixed]\ndataset = "imagenet"\n', "dataset"),
    "dup_seeds": ('computation = "simulate"\nseeds = [0, 0, 0]\n', "seeds"),
    "neg_seed": ('computation = "simulate"\nseeds = [-1]\n', "seed"),
    "unknown_key": ('computation = "simulate"\n[fixed]\ncolour = 1\n', "colour"),
    "unknown_top": ('computation = "simulate"\nbogus = 1\n', "bogus"),
    "unknown_comp": ('computation = "nope"\n', "computation"),
    "toml": ('computation = = 3\n', "TOML"),
    "inverted": ('computation = "simulate"\n[axes]\nkappa = {start = 1.0, stop = 0.1, num = 3}\n', "kappa"),
    "nan_axis": ('computation = "simulate"\n[axes]\nkappa = [nan]\n', "kappa"),
    "inf_fixed": ('computation = "simulate"\n[fixed]\nsigma_u = inf\n', "sigma_u"),
    "bool_width": ('computation = "simulate"\n[fixed]\nwidth = true\n', "width"),
    "str_kappa": ('computation = "simulate"\n[fixed]\nkappa = "1"\n', "kappa"),
    "noise": ('computation = "simulate"\n[fixed]\nnoise = -1.0\n', "noise"),
    "noise_alone": ('computation = "simulate"\n[fixed]\nnoise = 0.1\n', "batch_size"),
    "noise_axis": ('computation = "simulate"\n[axes]\nnoise = [0.0, 0.1]\n', "batch_size"),
    "huge": ('computation = "trajectory"\n[axes]\nkappa = {start = 0.1, stop = 1.0, num = 1000000}\n'
             'width = {start = 1, stop = 1e12, num = 1000000, scale = "log"}\n', "points"),
    "huge_num": ('computation = "trajectory"\n[axes]\nkappa = {start = 0.1, stop = 1.0, num = 1000000000000}\n',
                 "points"),
    "not_utf8": (None, "TOML"),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The files the hostile invocations point at, as ``str.format`` placeholders."""
    d = tmp_path_factory.mktemp("hostile")
    (d / "spec.toml").write_text(SPEC)
    (d / "text.txt").write_text("hello\n")
    (d / "pickled.pkl").write_text("this is not pickled data\n")
    (d / "empty").write_bytes(b"")
    (d / "sub").mkdir()
    np.save(d / "x.npy", np.arange(3.0))
    np.savez(d / "keys.npz", a=np.ones(3))
    np.savez(d / "object.npz", u0=np.array([{"a": 1}], dtype=object), w0=np.ones(1))
    np.savez(d / "complex.npz", u0=np.ones(2) + 1j, w0=np.ones(2))
    con = sqlite3.connect(str(d / "foreign.db"))
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    for name, (text, _) in BAD_SPECS.items():
        path = d / f"bad_{name}.toml"
        if text is None:
            path.write_bytes(b"\xff\xfe computation")
        else:
            path.write_text(text)
    assert main(["sweep", "run", str(d / "spec.toml"), "--store", str(d / "s.db"), "--serial", "--quiet"]) == 0
    (d / "link.db").symlink_to(d / "s.db")
    return {"d": str(d), "spec": str(d / "spec.toml"), "store": str(d / "s.db"), "text": str(d / "text.txt"),
            "pkl": str(d / "pickled.pkl"), "empty": str(d / "empty"), "sub": str(d / "sub"),
            "npy": str(d / "x.npy"), "keys": str(d / "keys.npz"), "obj": str(d / "object.npz"),
            "cplx": str(d / "complex.npz"), "foreign": str(d / "foreign.db"), "link": str(d / "link.db"),
            "missing": str(d / "missing" / "x")}


def bad_values(name: str) -> list[str]:
    """Values a parameter's option must refuse: not numbers, not finite, out of range, fractional."""
    p = PARAMETERS[name]
    if p.kind == "str":
        return ["bogus"] if p.choices else []
    if p.kind == "bool":
        return []
    vals = ["nan", "inf", "-inf", "1e400", "abc", "", "1+2j", "0x10"]
    if math.isfinite(p.low):
        vals.append(repr(float(p.low)) if p.low_open else str(int(p.low - 1) if p.kind == "int" else p.low - 1))
    if math.isfinite(p.high):
        vals.append(repr(float(p.high) * 10))
    if p.kind == "int":
        vals.append("1.5")
    return vals


PHASE = "phase --x width=1e1:1e3:log:2 --y kappa=1e-3:1:log:2"
#: command -> the parameters its options set from the table
COMMANDS = {
    "trajectory": GROUPS["init"] + GROUPS["hyper"] + GROUPS["times"] + GROUPS["thresholds"],
    "simulate": GROUPS["init"] + GROUPS["hyper"] + GROUPS["optimizer"] + GROUPS["thresholds"],
    "explain": GROUPS["init"] + GROUPS["hyper"] + GROUPS["thresholds"],
    "canonical": GROUPS["thresholds"],
    PHASE: GROUPS["thresholds"] + ("seed",),
    "experiment init-scale": ("dataset", "arch", "steps", "loss", "max_train", "lr") + GROUPS["thresholds"],
    "experiment lr-ratio": ("dataset", "arch", "steps", "loss", "max_train", "lr") + GROUPS["thresholds"],
    "experiment activations": ("seed",) + GROUPS["thresholds"],
}
GENERATED = [(f"{cmd} {PARAMETERS[n].flag} {shlex.quote(v)}", PARAMETERS[n].flag)
             for cmd, names in COMMANDS.items() for n in names for v in bad_values(n)]

#: (invocation, a word the error must contain: the option, the file or the key)
HANDWRITTEN = [
    # the store and its paths
    ("sweep export {store} --to csv --out {store}", "store itself"),
    ("sweep export {store} --to parquet --out {store}-wal", "store itself"),
    ("sweep export {store} --to csv --out {link}", "store itself"),
    ("sweep export {store} --to csv --out {d}/./s.db", "store itself"),
    ("sweep export {store} --to csv --out {d}", "directory"),
    ("sweep export {store} --to parquet --out {sub}", "directory"),
    ("sweep export {store} --to csv --out {missing}.csv", "does not exist"),
    ("sweep export {store} --to parquet --out {missing}.parquet", "does not exist"),
    ("sweep export {store} --to csv --out {text}/x.csv", "not a directory"),
    ("sweep export {store} --to csv --out ''", "--out"),
    ("sweep export {store} --to xlsx --out {d}/x.xlsx", "--to"),
    ("sweep export {store} --out {d}/x.csv", "--to"),
    ("sweep export {text} --to csv --out {d}/x.csv", "not a featmech store"),
    ("sweep export {foreign} --to csv --out {d}/x.csv", "not a featmech store"),
    ("sweep export {d} --to csv --out {d}/x.csv", "directory"),
    ("sweep export {missing}.db --to csv --out {d}/x.csv", "does not exist"),
    ("sweep export {empty} --to csv --out {d}/x.csv", "empty"),
    ("sweep status {text}", "not a featmech store"),
    ("sweep status {pkl}", "not a featmech store"),
    ("sweep status {foreign}", "not a featmech store"),
    ("sweep status {d}", "directory"),
    ("sweep status {sub}", "directory"),
    ("sweep status {missing}.db", "does not exist"),
    ("sweep status {empty}", "empty"),
    ("sweep status /dev/null", "not a regular file"),
    ("sweep status ''", "STORE"),
    ("sweep run {spec} --store {text} --serial", "not a featmech store"),
    ("sweep run {spec} --store {foreign} --serial", "not a featmech store"),
    ("sweep run {spec} --store {d} --serial", "directory"),
    ("sweep run {spec} --store {missing}/r.db --serial", "does not exist"),
    ("sweep run {spec} --store {text}/r.db --serial", "does not exist"),
    ("sweep run {spec} --store /dev/null --serial", "not a regular file"),
    ("sweep run {spec} --store '' --serial", "--store"),
    ("sweep run {spec} --serial", "--store"),
    # the spec
    ("sweep run {d}/nope.toml --store {d}/new.db --serial", "does not exist"),
    ("sweep run {d} --store {d}/new.db --serial", "not a file"),
    ("sweep run {store} --store {d}/new.db --serial", "TOML"),
    ("sweep run '' --store {d}/new.db --serial", "SPEC"),
    *[(f"sweep run {{d}}/bad_{name}.toml --store {{d}}/new.db --serial", word)
      for name, (_, word) in BAD_SPECS.items()],
    # executors, scheduler, timeout, workers
    ("sweep run {spec} --store {d}/new.db --scheduler tcp://127.0.0.1:9 --timeout nan", "--timeout"),
    ("sweep run {spec} --store {d}/new.db --scheduler tcp://127.0.0.1:9 --timeout inf", "--timeout"),
    ("sweep run {spec} --store {d}/new.db --scheduler tcp://127.0.0.1:9 --timeout -1", "--timeout"),
    ("sweep run {spec} --store {d}/new.db --scheduler tcp://127.0.0.1:9 --timeout 0", "--timeout"),
    ("sweep run {spec} --store {d}/new.db --scheduler tcp://127.0.0.1:9 --timeout abc", "--timeout"),
    ("sweep run {spec} --store {d}/new.db --scheduler tcp://127.0.0.1:9 --timeout 1e12", "--timeout"),
    ("sweep run {spec} --store {d}/new.db --scheduler ''", "--scheduler"),
    ("sweep run {spec} --store {d}/new.db --scheduler ' '", "--scheduler"),
    ("sweep run {spec} --store {d}/new.db --scheduler inproc://x", "--scheduler"),
    ("sweep run {spec} --store {d}/new.db --scheduler http://127.0.0.1:8786", "--scheduler"),
    ("sweep run {spec} --store {d}/new.db --scheduler tcp://127.0.0.1", "--scheduler"),
    ("sweep run {spec} --store {d}/new.db --scheduler tcp://127.0.0.1:0", "--scheduler"),
    ("sweep run {spec} --store {d}/new.db --scheduler tcp://127.0.0.1:99999", "--scheduler"),
    ("sweep run {spec} --store {d}/new.db --scheduler tcp://:8786", "--scheduler"),
    ("sweep run {spec} --store {d}/new.db --dask-local 2 --workers 3", "--workers"),
    ("sweep run {spec} --store {d}/new.db --scheduler tcp://127.0.0.1:9 --workers 3", "--workers"),
    ("sweep run {spec} --store {d}/new.db --serial --workers 3", "--workers"),
    ("sweep run {spec} --store {d}/new.db --serial --timeout 3", "--timeout"),
    ("sweep run {spec} --store {d}/new.db --timeout 3", "--timeout"),
    ("sweep run {spec} --store {d}/new.db --serial --dask-local 2", "--serial"),
    ("sweep run {spec} --store {d}/new.db --dask-local 2 --scheduler tcp://127.0.0.1:9", "--scheduler"),
    ("sweep run {spec} --store {d}/new.db --workers 0", "--workers"),
    ("sweep run {spec} --store {d}/new.db --workers 1.5", "--workers"),
    ("sweep run {spec} --store {d}/new.db --chunk-size 0", "--chunk-size"),
    ("sweep run {spec} --store {d}/new.db --workers 1000000000000000000000000000000", "--workers"),
    ("sweep run {spec} --store {d}/new.db --workers 1000", "--workers"),
    ("sweep run {spec} --store {d}/new.db --dask-local 1000", "--dask-local"),
    ("sweep run {spec} --store {d}/new.db --dask-local 0", "--dask-local"),
    ("sweep run {spec} --store {d}/new.db --format csv", "--format"),
    ("sweep nosuch", "nosuch"),
    # init files
    ("trajectory --init {npy}", ".npy"),
    ("trajectory --init {text}", "not a valid .npz"),
    ("trajectory --init {pkl}", "not a valid .npz"),
    ("trajectory --init {obj}", "pickle"),
    ("trajectory --init {keys}", "u0"),
    ("trajectory --init {cplx}", "real"),
    ("trajectory --init {d}", "directory"),
    ("trajectory --init {missing}.npz", "does not exist"),
    ("trajectory --init ''", "does not exist"),
    ("trajectory --init {keys} --width 4", "--width"),
    ("simulate --init {npy}", ".npy"),
    ("explain --init {text}", "not a valid .npz"),
    # output directories
    ("canonical --out {text}", "--out"),
    ("canonical --out {text}/sub", "not a directory"),
    ("canonical --out ''", "--out"),
    (PHASE + " --out {text}/sub", "not a directory"),
    (PHASE + " --out ''", "--out"),
    ("scaling --out {text}", "--out"),
    ("scaling --out {text}/sub", "not a directory"),
    ("experiment init-scale --out {text}/sub", "not a directory"),
    ("experiment lr-ratio --out {text}", "--out"),
    ("experiment activations --out {text}/sub", "not a directory"),
    ("reproduce --out {text}", "not a directory"),
    ("reproduce --out {text}/sub", "not a directory"),
    ("reproduce --out ''", "--out"),
    ("reproduce --section bogus", "--section"),
    # size guards
    ("trajectory --points 1e7", "--points"),
    ("simulate --steps 1e9", "--steps"),
    ("simulate --steps 1e8 --every 1", "--steps"),
    ("scaling --diagram kappa=-1:0:100000 sigma2=-1:0:100000", "--diagram"),
    ("scaling --seeds 100000000", "--seeds"),
    ("experiment init-scale --steps 1e6", "--steps"),
    ("experiment lr-ratio --seeds 1000", "--seeds"),
    ("phase --x width=1e1:1e6:log:20000 --y kappa=1e-6:1:log:10000", "force"),
    # options: steps 0, fractional widths, formats, times, axes
    ("experiment init-scale --steps 0", "--steps"),
    ("experiment lr-ratio --steps 0", "--steps"),
    ("experiment init-scale --seeds 0", "--seeds"),
    ("experiment init-scale --scales 0", "--scales"),
    ("experiment init-scale --scales ''", "--scales"),
    ("experiment init-scale --scales nan", "--scales"),
    ("experiment lr-ratio --ratios -1", "--ratios"),
    ("experiment lr-ratio --ratios a,b", "--ratios"),
    ("experiment activations --case bogus", "--case"),
    ("experiment activations --steps 0", "--steps"),
    ("phase --x width=1.5,2 --y kappa=1e-3:1:log:2", "width"),
    ("phase --x width=1e1:1e3:log:2 --y width=1e1:1e3:log:2", "width"),
    ("phase --x bogus=1:2:log:3 --y kappa=1e-3:1:log:3", "bogus"),
    ("phase --x width=abc --y kappa=1e-3:1:log:3", "width"),
    ("phase --x width= --y kappa=1e-3:1:log:3", "axis"),
    ("phase --x width=1e1:1e3:log:0 --y kappa=1e-3:1:log:3", "num"),
    ("phase --x width=1e1:1e3:log:3 --y kappa=-1:1:linear:3", "kappa"),
    ("phase --x eta_ratio=0.1:10:log:3 --y kappa=1e-3:1:log:3 --set eta_u=2", "eta_u"),
    ("phase --x width=1e1:1e3:log:3 --y kappa=1e-3:1:log:3 --set bogus=1", "bogus"),
    ("phase --x width=1e1:1e3:log:3 --y kappa=1e-3:1:log:3 --set width=10", "width"),
    ("phase --x width=1e1:1e3:log:3 --y kappa=1e-3:1:log:3 --set rho", "--set"),
    (PHASE + " --seeds 0", "--seeds"),
    (PHASE + " --seeds -1", "--seeds"),
    (PHASE + " --seeds 1.5", "--seeds"),
    ("phase --x width=1e1:1e3:log:3", "--y"),
    ("scaling --seeds 0", "--seeds"),
    ("scaling --seed -1", "--seed"),
    ("scaling --kappa nan", "kappa"),
    ("scaling --eta-u inf", "eta_u"),
    ("scaling --preset nope", "--preset"),
    ("scaling --diagram kappa=1:0:3 sigma2=0:1:3", "kappa"),
    ("scaling --diagram kappa=1:0 sigma2=0:1:3", "kappa"),
    ("scaling --diagram kappa=0:1:3 bogus=0:1:3", "bogus"),
    ("scaling --diagram kappa=0:1:3 kappa=0:1:3", "axes"),
    ("explain --format csv", "--format"),
    ("trajectory --format xml", "--format"),
    ("canonical --format xml", "--format"),
    ("presets --format xml", "--format"),
    ("canonical --seed -1", "--seed"),
    ("canonical --seed 1000000000000000000000000000000", "--seed"),
    ("experiment init-scale --seeds 1000000000000000000000000000000", "--seeds"),
    (PHASE + " --seeds 1000000000000000000000000000000", "force"),
    ("scaling --seeds 1000000000000000000000000000000", "--seeds"),
    ("trajectory --times 2,1", "--times"),
    ("trajectory --times 1,nan", "--times"),
    ("trajectory --times -1,2", "--times"),
    ("trajectory --times a,b", "--times"),
    ("trajectory --times ,", "--times"),
    ("trajectory --times '1;2'", "--times"),
    ("trajectory --times 1 --t-max 3", "--t-max"),
    ("trajectory --width 1.5", "--width"),
    ("trajectory --width 1e16", "--width"),
    ("trajectory --width True", "--width"),
    ("simulate --noise 0.5", "batch_size"),
    ("simulate --kappa 0", "lr"),
    ("trajectory --no-such-option", "--no-such-option"),
    ("nosuchcommand", "nosuchcommand"),
]

CASES = GENERATED + HANDWRITTEN


@pytest.mark.parametrize("line, word", CASES, ids=[c[0] for c in CASES])
def test_hostile_invocation_is_one_line_exit_2(line, word, files, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a refusal that regressed must not write into the repository
    args = shlex.split(line.format(**files))
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2, (line, out[-300:], err[-500:])
    assert err.count("\n") == 1 and err.startswith("featmech: error:"), err
    assert "Traceback" not in err
    assert word.lower() in err.lower(), (word, err)
    assert out == ""
    assert list(tmp_path.iterdir()) == []  # nothing written where the command ran
    assert not (Path(files["d"]) / "new.db").exists()  # a refused sweep creates no store


def test_there_are_many_hostile_cases():
    assert len(GENERATED) > 350 and len(HANDWRITTEN) > 150


def test_refusals_change_nothing(files):
    with Store(files["store"]) as st:
        assert st.counts() == {"done": 2, "failed": 0}
        assert st.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert Path(files["text"]).read_text() == "hello\n"


# ---------------------------------------------------------------------- stores: read-only, locked, full
def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("featmech: error:") and "Traceback" not in err, err
    return err


def _more_points(tmp_path: Path) -> Path:
    spec = tmp_path / "more.toml"
    spec.write_text('computation = "trajectory"\nseeds = [0, 1]\n[fixed]\npoints = 500\nwidth = 10\n'
                    '[axes]\nkappa = {start = 0.1, stop = 1.0, num = 40}\n')
    return spec


def _store(tmp_path: Path) -> Path:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    db = tmp_path / "r.db"
    assert main(["sweep", "run", str(spec), "--store", str(db), "--serial", "--quiet"]) == 0
    return db


def _intact(db: Path, done: int) -> None:
    con = sqlite3.connect(str(db))
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM points WHERE status = 'done'").fetchone()[0] == done
    finally:
        con.close()


def _make_read_only(path: Path) -> bool:
    if os.geteuid() != 0:
        path.chmod(0o444)
        return True
    r = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    return r.returncode == 0


def _undo_read_only(path: Path) -> None:
    if os.geteuid() != 0:
        path.chmod(0o644)
    else:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def test_read_only_store_is_one_line_and_still_readable(tmp_path, capsys):
    db = _store(tmp_path)
    capsys.readouterr()
    try:
        if not _make_read_only(db):
            pytest.skip("cannot make a file read-only here (root without chattr)")
        assert main(["sweep", "run", str(_more_points(tmp_path)), "--store", str(db), "--serial", "--quiet"]) == 2
        assert "read-only" in _one_line(capsys)
        assert main(["sweep", "status", str(db)]) == 0  # reading works
        assert capsys.readouterr().out == "done: 2, failed: 0\n"
        assert main(["sweep", "export", str(db), "--to", "csv", "--out", str(tmp_path / "r.csv")]) == 0
        assert len((tmp_path / "r.csv").read_text().splitlines()) == 3
    finally:
        _undo_read_only(db)
    _intact(db, 2)


def test_locked_store_gives_up_after_the_lock_timeout(tmp_path, capsys, monkeypatch):
    import featmech.sweeps.store as store_mod

    db = _store(tmp_path)
    capsys.readouterr()
    monkeypatch.setattr(store_mod, "LOCK_TIMEOUT", 0.3)
    holder = sqlite3.connect(str(db), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        t0 = time.monotonic()
        assert main(["sweep", "run", str(_more_points(tmp_path)), "--store", str(db), "--serial", "--quiet"]) == 2
        assert time.monotonic() - t0 < 20
        err = _one_line(capsys)
        assert "locked by another process" in err and "0.3 s" in err
        assert main(["sweep", "status", str(db)]) == 0  # readers are not blocked
        capsys.readouterr()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _intact(db, 2)


def test_full_store_keeps_what_was_stored(tmp_path, capsys, monkeypatch):
    db = _store(tmp_path)
    capsys.readouterr()
    real = sqlite3.connect

    def full_disk(*args, **kwargs):  # the disk is full: the database cannot grow by one page
        con = real(*args, **kwargs)
        con.execute(f"PRAGMA max_page_count = {con.execute('PRAGMA page_count').fetchone()[0]}")
        return con

    monkeypatch.setattr(sqlite3, "connect", full_disk)
    assert main(["sweep", "run", str(_more_points(tmp_path)), "--store", str(db), "--serial", "--quiet"]) == 2
    assert "no space left on device" in _one_line(capsys)
    monkeypatch.setattr(sqlite3, "connect", real)
    _intact(db, 2)
    assert main(["sweep", "run", str(_more_points(tmp_path)), "--store", str(db), "--serial", "--quiet"]) == 0
    _intact(db, 2 + 80)  # and the same command resumes once there is space


def _full_device(tmp_path: Path) -> Path:
    """A private /dev/full (a character device whose writes fail with ENOSPC)."""
    dev = tmp_path / "full"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except (PermissionError, OSError):
        pytest.skip("cannot create a device node here")
    return dev


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_to_a_full_disk(tmp_path, capsys, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    db = _store(tmp_path)
    dev = _full_device(tmp_path)
    capsys.readouterr()
    assert main(["sweep", "export", str(db), "--to", fmt, "--out", str(dev)]) == 2
    err = _one_line(capsys)
    assert "no space left on device" in err and str(dev) in err
    assert stat.S_ISCHR(os.stat(dev).st_mode)  # the device is written into, never replaced
    assert main(["sweep", "export", str(db), "--to", fmt, "--out", "/dev/null"]) == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    _intact(db, 2)


def test_a_failed_export_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    import errno

    db = _store(tmp_path)
    out = tmp_path / "r.csv"
    out.write_text("the previous export\n")

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    capsys.readouterr()
    assert main(["sweep", "export", str(db), "--to", "csv", "--out", str(out)]) == 2
    assert str(out) in _one_line(capsys)
    monkeypatch.undo()
    assert out.read_text() == "the previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_to_xarray_of_one_point(tmp_path):
    pytest.importorskip("xarray")
    from featmech.sweeps.sweep import parse_spec, run_sweep

    spec = parse_spec({"computation": "trajectory", "fixed": {"points": 3, "width": 10}})
    run_sweep(spec, tmp_path / "one.db", executor="serial", progress=False)
    with Store(tmp_path / "one.db") as st:
        ds = st.to_xarray()
        assert dict(ds.sizes) == {"seed": 1} and float(ds["t_max_result"][0]) > 0 and float(ds["rate"][0]) > 0
        assert st.to_xarray(dims=["kappa"]).sizes["kappa"] == 1


def test_a_huge_spec_is_refused_before_it_is_built():
    from featmech.errors import InputError
    from featmech.sweeps.sweep import parse_spec

    t0 = time.perf_counter()
    with pytest.raises(InputError, match="1,000,000,000,000 points"):
        parse_spec({"computation": "trajectory", "axes": {"kappa": {"start": 0.1, "stop": 1, "num": 10**6},
                                                          "width": {"start": 1, "stop": 1e12, "num": 10**6}}})
    assert time.perf_counter() - t0 < 1.0


# ---------------------------------------------------------------------- kill -9, SIGTERM, Ctrl-C of a pool sweep
SLOW = ('computation = "simulate"\nseeds = [0, 1]\n[fixed]\nwidth = 5000\nsteps = 40000\nlr = 0.01\n'
        '[axes]\nkappa = {start = 1e-3, stop = 1.0, num = 5, scale = "log"}\n')


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent, start time) of a process from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[19])


def _children(pid: int) -> dict[int, int]:
    """pid -> start time of every child of ``pid`` (a /proc scan, no psutil)."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None and st[1] == pid:
                out[int(entry)] = st[2]
    return out


def _alive(pid: int, start: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z" and st[2] == start


def _count(db: Path) -> int:
    try:
        con = sqlite3.connect(str(db), timeout=5)
        try:
            return con.execute("SELECT count(*) FROM points").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "Ctrl-C", "worker killed"])
def test_a_killed_pool_sweep_leaves_no_process_and_an_intact_store(how, tmp_path):
    spec = tmp_path / "slow.toml"
    spec.write_text(SLOW)
    db = tmp_path / "k.db"
    proc = subprocess.Popen([sys.executable, "-m", "featmech", "sweep", "run", str(spec), "--store", str(db),
                             "--workers", "2", "--chunk-size", "1", "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        t0 = time.time()
        while _count(db) < 2 and time.time() - t0 < 90 and proc.poll() is None:
            time.sleep(0.05)
        kids = _children(proc.pid)
        assert len(kids) >= 2 and proc.poll() is None, (kids, proc.poll())  # two workers (and a tracker)
        if how == "SIGKILL":
            proc.kill()
        elif how == "worker killed":  # the out-of-memory killer takes one worker
            worker = min(p for p in kids if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text())
            os.kill(worker, signal.SIGKILL)
        elif how == "SIGTERM":
            proc.terminate()
        else:  # a terminal's Ctrl-C reaches every process of the foreground group
            os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if how == "SIGTERM":
        assert proc.returncode == 143 and err == "featmech: terminated (SIGTERM)\n", err
    elif how == "Ctrl-C":
        assert proc.returncode == 130 and err == "featmech: interrupted (Ctrl-C)\n", err
    elif how == "worker killed":
        assert proc.returncode == 1 and err.count("\n") == 1 and "a worker process of the pool died" in err, err
    else:
        assert proc.returncode == -signal.SIGKILL
    deadline = time.time() + 15
    while any(_alive(p, s) for p, s in kids.items()) and time.time() < deadline:
        time.sleep(0.1)
    assert not [p for p, s in kids.items() if _alive(p, s)], "orphaned worker processes"
    before = _count(db)
    assert 2 <= before < 10
    _intact(db, before)
    if how == "SIGKILL":  # and the same command resumes, recomputing nothing finished
        from featmech.sweeps.sweep import load_spec, run_sweep

        rep = run_sweep(load_spec(spec), db, executor="serial", progress=False)
        assert (rep.skipped, rep.computed) == (before, 10 - before)
        _intact(db, 10)
