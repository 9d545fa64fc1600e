"""Sweeps and the results store: spec validation, resume after SIGKILL, concurrent writers,
failed points, Dask equals in-process, foreign and corrupted stores."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from featmech.sweeps.store import Store, point_key
from featmech.sweeps.sweep import Progress, load_spec, points, run_sweep

SPEC = """
computation = "simulate"
seeds = [0, 1]
[fixed]
width = 5000
steps = {steps}
lr = 0.01
[axes]
kappa = {{start = 1e-3, stop = 1.0, num = {n}, scale = "log"}}
sigma_u = [0.1, 1.0]
"""


def write_spec(tmp_path: Path, steps: int = 300, n: int = 3, text: str | None = None) -> Path:
    p = tmp_path / "spec.toml"
    p.write_text(text if text is not None else SPEC.format(steps=steps, n=n))
    return p


def test_serial_sweep_resume_and_export(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    assert spec.n_points == 3 * 2 * 2
    db = tmp_path / "r.db"
    rep = run_sweep(spec, db, executor="serial", progress=False)
    assert (rep.total, rep.computed, rep.skipped, rep.failed) == (12, 12, 0, 0)
    rep2 = run_sweep(spec, db, executor="serial", progress=False)
    assert (rep2.computed, rep2.skipped) == (0, 12)
    with Store(db) as st:
        t = st.table()
        assert len(t["key"]) == 12 and set(t["seed"]) == {0, 1}
        # results equal a direct computation of one point
        from featmech.sweeps.sweep import run_point

        i = 5
        cfg = {k: t[k][i] for k in points(spec)[0][1]}
        res, arrays = run_point("simulate", cfg)
        assert res["final_loss"] == pytest.approx(t["final_loss"][i], rel=0, abs=0)
        assert np.array_equal(st.array(t["key"][i], "ntk"), arrays["ntk"])
        csv_path = st.export(tmp_path / "r.csv", "csv")
        assert len(csv_path.read_text().strip().splitlines()) == 13
        pq = pytest.importorskip("pyarrow.parquet")
        st.export(tmp_path / "r.parquet", "parquet")
        assert pq.read_table(tmp_path / "r.parquet").num_rows == 12
        pytest.importorskip("xarray")
        ds = st.to_xarray()
        assert dict(ds.sizes) == {"kappa": 3, "seed": 2, "sigma_u": 2}


def _count(db: Path) -> int:
    try:
        con = sqlite3.connect(str(db), timeout=5)
        n = con.execute("SELECT count(*) FROM points").fetchone()[0]
        con.close()
        return n
    except sqlite3.Error:
        return 0


def test_resume_after_sigkill_loses_and_repeats_nothing(tmp_path):
    spec_path = write_spec(tmp_path, steps=40000, n=4)  # 16 points of ~0.1–0.3 s
    db = tmp_path / "k.db"
    cmd = [sys.executable, "-m", "featmech", "sweep", "run", str(spec_path), "--store", str(db), "--serial",
           "--chunk-size", "1", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while _count(db) < 4 and time.time() - t0 < 120:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _count(db)
    assert 4 <= before < 16
    with Store(db) as st:  # the killed store is intact
        keys_before = set(st.status())
    spec = load_spec(spec_path)
    rep = run_sweep(spec, db, executor="serial", progress=False)
    assert rep.skipped == before and rep.computed == 16 - before  # nothing finished is recomputed
    with Store(db) as st:
        status = st.status()
        assert len(status) == 16 and all(v == "done" for v in status.values())
        assert keys_before <= set(status)
        t = st.table()
    # identical to an uninterrupted run
    fresh = tmp_path / "fresh.db"
    run_sweep(spec, fresh, executor="serial", progress=False)
    with Store(fresh) as st:
        f = st.table()
    a = dict(zip(t["key"], t["final_loss"]))
    b = dict(zip(f["key"], f["final_loss"]))
    assert a == b


def test_two_concurrent_writers_lose_no_rows(tmp_path):
    spec_path = write_spec(tmp_path, steps=3000, n=5)
    db = tmp_path / "c.db"
    Store(db).close()
    cmd = [sys.executable, "-m", "featmech", "sweep", "run", str(spec_path), "--store", str(db), "--serial",
           "--chunk-size", "1", "--quiet", "--format", "json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    with Store(db) as st:
        assert st.counts() == {"done": 20, "failed": 0}
    # and direct concurrent puts of one key keep exactly one row
    with Store(db) as a, Store(db) as b:
        k = point_key("simulate", {"x": 1})
        assert a.put(k, "simulate", {"x": 1}, result={"v": 1.0}) is True
        assert b.put(k, "simulate", {"x": 1}, result={"v": 2.0}) is False
        assert a.rows()[-1]["result"] == {"v": 1.0}


def test_failed_points_are_stored_and_retried(tmp_path):
    text = """
computation = "simulate"
seeds = [0]
[fixed]
width = 100
steps = 50
[axes]
lr = [0.01, -1.0]
"""
    spec = load_spec(write_spec(tmp_path, text=text))
    db = tmp_path / "f.db"
    rep = run_sweep(spec, db, executor="serial", progress=False)
    assert (rep.computed, rep.failed) == (1, 1)
    with Store(db) as st:
        bad = st.rows("failed")
        assert len(bad) == 1 and "lr" in bad[0]["error"]
    rep = run_sweep(spec, db, executor="serial", progress=False)
    assert rep.skipped == 2 and rep.failed == 0
    rep = run_sweep(spec, db, executor="serial", progress=False, retry_failed=True)
    assert rep.failed == 1 and rep.skipped == 1


def test_dask_local_cluster_equals_in_process(tmp_path):
    pytest.importorskip("distributed")
    spec = load_spec(write_spec(tmp_path, steps=500, n=3))
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    run_sweep(spec, a, executor="serial", progress=False)
    rep = run_sweep(spec, b, executor="dask", workers=2, progress=False)
    assert rep.computed == 12
    with Store(a) as sa, Store(b) as sb:
        ra = {r["key"]: r["result"] for r in sa.rows()}
        rb = {r["key"]: r["result"] for r in sb.rows()}
        assert ra == rb
        for k in ra:
            assert np.array_equal(sa.array(k, "loss"), sb.array(k, "loss"), equal_nan=True)


def test_pool_equals_in_process(tmp_path):
    spec = load_spec(write_spec(tmp_path, steps=200, n=2))
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    run_sweep(spec, a, executor="serial", progress=False)
    run_sweep(spec, b, executor="pool", workers=2, progress=False)
    with Store(a) as sa, Store(b) as sb:
        assert {r["key"]: r["result"] for r in sa.rows()} == {r["key"]: r["result"] for r in sb.rows()}


@pytest.mark.parametrize("text, match", [
    ('computation = "simulate"\nbogus = 1\n', "unknown key"),
    ('computation = "nope"\n', "computation must be"),
    ('computation = "simulate"\n[fixed]\nwidth = "big"\n', "width must be an integer"),
    ('computation = "simulate"\n[fixed]\nkappa = "x"\n', "kappa must be a float"),
    ('computation = "simulate"\n[fixed]\ncolor = 1\n', "unknown key 'color'"),
    ('computation = "simulate"\n[axes]\nkappa = []\n', "no values"),
    ('computation = "simulate"\n[axes]\nkappa = {start = 1.0, stop = 0.1, num = 3}\n', "inverted"),
    ('computation = "simulate"\n[axes]\nkappa = {start = 0.0, stop = 1, num = 3, scale = "log"}\n', "log range"),
    ('computation = "simulate"\n[axes]\nkappa = {start = 0.1, stop = 1}\n', "needs start, stop, num"),
    ('computation = "simulate"\n[fixed]\nkappa = 1.0\n[axes]\nkappa = [1.0]\n', "both fixed and an axis"),
    ('computation = "simulate"\nseeds = []\n', "seeds"),
    ('computation = "simulate"\nseeds = [-1]\n', "seeds"),
    ('computation = = 3\n', "not valid TOML"),
])
def test_spec_validation(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        load_spec(write_spec(tmp_path, text=text))


def test_bad_store_paths(tmp_path):
    with pytest.raises(ValueError, match="directory"):
        Store(tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(ValueError, match="not a featmech store"):
        Store(junk)
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(str(foreign))
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(ValueError, match="not a featmech store"):
        Store(foreign)
    with pytest.raises(ValueError, match="does not exist"):
        load_spec(tmp_path / "nope.toml")


def test_unreachable_scheduler_fails_fast(tmp_path):
    pytest.importorskip("distributed")
    spec = load_spec(write_spec(tmp_path, steps=10, n=1))
    t0 = time.time()
    with pytest.raises(ValueError, match="cannot reach the Dask scheduler"):
        run_sweep(spec, tmp_path / "s.db", executor="dask", scheduler="tcp://127.0.0.1:9", connect_timeout=2,
                  progress=False)
    assert time.time() - t0 < 30


def test_progress_lines_when_not_a_tty(capsys):
    import io

    buf = io.StringIO()
    p = Progress(4, buf)
    for _ in range(4):
        p.update()
    out = buf.getvalue()
    assert "4/4 (100%)" in out and "\r" not in out


def test_sweep_cli_errors(tmp_path, capsys):
    from featmech.cli.main import main

    spec = write_spec(tmp_path, steps=10, n=1)
    for args in (["sweep", "run", str(spec), "--store", str(tmp_path)],
                 ["sweep", "run", str(tmp_path / "missing.toml"), "--store", str(tmp_path / "x.db")],
                 ["sweep", "run", str(spec), "--store", str(tmp_path / "x.db"), "--serial", "--dask-local", "2"],
                 ["sweep", "status", str(tmp_path / "nope.db")],
                 ["sweep", "export", str(tmp_path / "nope.db"), "--to", "csv", "--out", "x.csv"]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("featmech: error:"), err
    assert main(["sweep", "run", str(spec), "--store", str(tmp_path / "ok.db"), "--serial", "--quiet"]) == 0
    assert main(["sweep", "status", str(tmp_path / "ok.db"), "--format", "json"]) == 0
