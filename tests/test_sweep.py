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
from storeutil import count_points

from featmech.errors import InputError
from featmech.records import PointOutcome, PointResult
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
        r = run_point("simulate", cfg)
        assert isinstance(r, PointResult)
        assert r.scalars["final_loss"] == pytest.approx(t["final_loss"][i], rel=0, abs=0)
        assert np.array_equal(st.array(t["key"][i], "ntk"), r.arrays["ntk"])
        csv_path = st.export(tmp_path / "r.csv", "csv")
        assert len(csv_path.read_text().strip().splitlines()) == 13
        pq = pytest.importorskip("pyarrow.parquet")
        st.export(tmp_path / "r.parquet", "parquet")
        assert pq.read_table(tmp_path / "r.parquet").num_rows == 12
        pytest.importorskip("xarray")
        ds = st.to_xarray()
        assert dict(ds.sizes) == {"kappa": 3, "seed": 2, "sigma_u": 2}


def test_resume_after_sigkill_loses_and_repeats_nothing(tmp_path):
    spec_path = write_spec(tmp_path, steps=40000, n=4)  # 16 points of ~0.1–0.3 s
    db = tmp_path / "k.db"
    cmd = [sys.executable, "-m", "featmech", "sweep", "run", str(spec_path), "--store", str(db), "--serial",
           "--chunk-size", "1", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while count_points(db) < 4 and time.time() - t0 < 120:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = count_points(db)
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
kappa = [1.0, 0.0]
"""  # kappa = 0: the initial NTK is 0, so no default lr exists and the point fails when it runs
    spec = load_spec(write_spec(tmp_path, text=text))
    db = tmp_path / "f.db"
    rep = run_sweep(spec, db, executor="serial", progress=False)
    assert (rep.computed, rep.failed) == (1, 1)
    with Store(db) as st:
        bad = st.rows("failed")
        assert len(bad) == 1 and "lr" in bad[0]["error"] and bad[0]["config"]["kappa"] == 0.0
        typed = st.points("failed")
        assert [(p.key, p.error, p.status) for p in typed] == [(bad[0]["key"], bad[0]["error"], "failed")]
        report = st.status_report()
        assert (report.done, report.failed) == (1, 1) and report.errors[0].error == bad[0]["error"]
        assert report.as_dict() == {"done": 1, "failed": 1,
                                    "errors": [{"key": bad[0]["key"], "error": bad[0]["error"]}]}
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
    ('computation = "simulate"\n[fixed]\nkappa = "x"\n', "kappa must be a real number"),
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
    with pytest.raises(InputError, match=match):
        load_spec(write_spec(tmp_path, text=text))


def test_bad_store_paths(tmp_path):
    with pytest.raises(InputError, match="directory"):
        Store(tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(InputError, match="not a featmech store"):
        Store(junk)
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(str(foreign))
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(InputError, match="not a featmech store"):
        Store(foreign)
    with pytest.raises(InputError, match="does not exist"):
        load_spec(tmp_path / "nope.toml")
    with pytest.raises(InputError, match="does not exist"):
        Store(tmp_path / "missing.db", create=False)
    with pytest.raises(InputError, match="directory of store"):
        Store(tmp_path / "no" / "such" / "r.db")


def test_unreachable_scheduler_fails_fast(tmp_path):
    pytest.importorskip("distributed")
    spec = load_spec(write_spec(tmp_path, steps=10, n=1))
    t0 = time.time()
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        run_sweep(spec, tmp_path / "s.db", executor="dask", scheduler="tcp://127.0.0.1:9", connect_timeout=2,
                  progress=False)
    assert time.time() - t0 < 30
    assert not (tmp_path / "s.db").exists()  # a failed connection leaves no empty store behind


def _in_process_cluster(n_workers):
    from distributed import LocalCluster

    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=False, protocol="tcp",
                        host="127.0.0.1", dashboard_address=":0")


def test_a_cluster_without_workers_times_out(tmp_path):
    pytest.importorskip("distributed")
    from featmech.sweeps.sweep import SweepAborted

    spec = load_spec(write_spec(tmp_path, steps=10, n=1))
    with _in_process_cluster(0) as cluster:
        t0 = time.time()
        with pytest.raises(SweepAborted, match="no Dask worker connected .* for 1 s"):
            run_sweep(spec, tmp_path / "w.db", executor="dask", scheduler=cluster.scheduler_address,
                      connect_timeout=1, progress=False)
        assert time.time() - t0 < 30  # a timeout, not an endless wait
    assert not (tmp_path / "w.db").exists()


def test_a_lost_scheduler_ends_the_run_and_keeps_the_store(tmp_path, capsys):
    pytest.importorskip("distributed")
    from featmech.sweeps.sweep import SweepAborted

    spec = load_spec(write_spec(tmp_path, steps=3000, n=5))
    cluster = _in_process_cluster(1)
    stored = []

    def lose_the_scheduler(n):
        stored.append(n)
        if len(stored) == 2:
            cluster.close()

    db = tmp_path / "l.db"
    try:
        with pytest.raises(SweepAborted, match=r"lost the connection to the Dask scheduler .*of the 20 points") as exc:
            run_sweep(spec, db, executor="dask", scheduler=cluster.scheduler_address, chunk_size=1,
                      connect_timeout=5, progress=False, on_result=lose_the_scheduler)
    finally:
        cluster.close()
    n = int(str(exc.value).rsplit("(", 1)[1].split()[0])  # results already fetched may be stored too
    assert 2 <= n < 20
    with Store(db) as st:
        assert st.counts() == {"done": n, "failed": 0}  # nothing lost, no point marked failed by the fault
        assert st.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rep = run_sweep(spec, db, executor="serial", progress=False)  # and the same sweep resumes
    assert (rep.skipped, rep.computed) == (n, 20 - n)


def test_run_sweep_checks_its_options_before_the_store(tmp_path):
    spec = load_spec(write_spec(tmp_path, steps=10, n=1))
    db = tmp_path / "never.db"
    for kw, match in (({"executor": "dask", "scheduler": "inproc://x"}, "inproc"),
                      ({"executor": "dask", "scheduler": ""}, "tcp://HOST:PORT"),
                      ({"executor": "dask", "scheduler": "tcp://127.0.0.1:9", "workers": 2}, "not both"),
                      ({"executor": "pool", "scheduler": "tcp://127.0.0.1:9"}, "needs the dask executor"),
                      ({"executor": "serial", "workers": 2}, "serial executor"),
                      ({"connect_timeout": float("nan")}, "connect_timeout"),
                      ({"connect_timeout": float("inf")}, "connect_timeout"),
                      ({"connect_timeout": True}, "connect_timeout")):
        with pytest.raises(InputError, match=match):
            run_sweep(spec, db, progress=False, **kw)
    assert not db.exists()
    big = {"computation": "trajectory", "seeds": list(range(10)),
           "axes": {"kappa": {"start": 0.1, "stop": 1.0, "num": 1000}, "target": {"start": 0.1, "stop": 1, "num": 1000}}}
    from featmech.sweeps.sweep import MAX_POINTS, parse_spec

    with pytest.raises(InputError, match="10,000,000 points .* force"):
        parse_spec(big)
    small = parse_spec({**big, "seeds": [0]}, force=True)
    assert small.n_points == 10**6 == MAX_POINTS
    with pytest.raises(InputError, match="force"):
        run_sweep(parse_spec(big, force=True), db, executor="serial", progress=False)
    assert not db.exists()


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


# ---------------------------------------------------------------------- issue 8: one vocabulary, typed records
@pytest.mark.parametrize("text, match", [
    ('computation = "simulate"\n[fixed]\nwidth = -5\n', r"spec \[fixed\]: width must be an integer in \[1, "),
    ('computation = "simulate"\n[fixed]\nlr = 0\n', r"spec \[fixed\]: lr must be in \(0, inf\), got 0"),
    ('computation = "simulate"\n[fixed]\nwidth = 2.5\n', "width must be an integer"),
    ('computation = "simulate"\n[fixed]\nrho = 2\n', r"rho must be in \[-1, 1\]"),
    ('computation = "simulate"\n[fixed]\nmomentum = 1.0\n', "momentum must be in"),
    ('computation = "network"\n[fixed]\ndataset = "imagenet"\n', "dataset must be one of digits, mnist1d, mnist, cifar10"),
    ('computation = "network"\n[fixed]\nquick = 1\n', "quick must be true or false"),
    ('computation = "simulate"\n[axes]\nlr = [0.01, 0.0]\n', r"spec \[axes\] lr: lr must be in \(0, inf\)"),
    ('computation = "simulate"\n[axes]\nsigma_u = {start = -1.0, stop = 1.0, num = 3}\n', "sigma_u must be in"),
    ('computation = "simulate"\n[axes]\nsteps = [10, 10.5]\n', "steps must be an integer"),
    ('computation = "simulate"\n[axes]\nkappa = [0.5, 0.5]\n', "distinct"),
    ('computation = "simulate"\n[axes]\nwidth = [10, 10.0]\n', "distinct"),
    ('computation = "network"\n[axes]\narch = {start = 1, stop = 2, num = 2}\n', "not a range"),
    ('computation = "simulate"\n[axes]\ncolor = [1]\n', r"spec \[axes\]: unknown key 'color'"),
    ('computation = "trajectory"\n[fixed]\nlr = 0.1\n', "unknown key 'lr' for computation 'trajectory'"),
    ('computation = "simulate"\nseeds = [0, 0, 0]\n', "seeds must be distinct"),
    ('computation = "simulate"\nseeds = [1.5]\n', "seed must be an integer"),
    ('computation = "simulate"\nseeds = 3\n', "seeds must be a non-empty list"),
    ('computation = "simulate"\n[fixed]\nseed = 3\n', "seeds"),
    ('computation = "simulate"\nfixed = 3\n', r"\[fixed\] must be a table"),
])
def test_spec_values_are_checked_like_cli_options(tmp_path, text, match):
    with pytest.raises(InputError, match=match):
        load_spec(write_spec(tmp_path, text=text))


def test_spec_values_take_canonical_types():
    from featmech.sweeps.sweep import parse_spec

    spec = parse_spec({"computation": "simulate", "seeds": [2, 1.0], "fixed": {"width": 1e4, "kappa": 1},
                       "axes": {"steps": {"start": 10, "stop": 1000, "num": 5, "scale": "log"}}})
    assert spec.seeds == (2, 1) and all(type(s) is int for s in spec.seeds)
    assert spec.fixed == {"width": 10000, "kappa": 1.0} and type(spec.fixed["width"]) is int
    assert spec.axes["steps"] == (10, 32, 100, 316, 1000)  # an integer log range, rounded
    assert spec.n_points == 10 and len(points(spec)) == 10
    assert parse_spec(spec.as_dict()) == spec
    cfg = points(spec)[0].config
    assert list(cfg)[-1] == "seed" and cfg["lr"] is None and cfg["width"] == 10000


def test_point_keys_are_unchanged():
    # an independent reference: the key of this configuration computed by the store of format 1
    # before the redesign; a different key would make every existing store recompute everything
    assert point_key("simulate", {"width": 5000, "kappa": 0.001, "lr": None, "seed": 0}, version="0") == \
        "b81f5394b7e49dd6486c21233b36860d0aa07301f46373aee93f3a2e76af844d"


def test_registry_and_a_registered_computation(tmp_path):
    from featmech.sweeps.registry import COMPUTATIONS, Computation, get, register
    from featmech.sweeps.sweep import parse_spec, run_point

    assert {"trajectory", "simulate", "network"} <= set(COMPUTATIONS)
    net = get("network")
    assert not net.cheap and isinstance(net.function, str) and net.function.endswith(":network_point")
    assert net.default_config()["lr"] == 0.05 and net.default_config()["quick"] is True
    assert get("simulate").default_config()["lr"] is None  # the table's default where none differs
    with pytest.raises(InputError, match="computation must be one of"):
        get("nope")
    with pytest.raises(ValueError, match="unknown parameter"):
        Computation("bad", ("kappa", "colour"), _square)
    with pytest.raises(ValueError, match="bad default"):
        Computation("bad", ("width",), _square, defaults={"width": 0})
    comp = register(Computation("square_test", ("kappa", "width"), _square, defaults={"width": 7}), replace=True)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register(Computation("square_test", ("kappa",), _square))
        assert run_point("square_test", {"kappa": 2}).scalars == {"square": 4.0, "width": 7, "seed": 0}
        spec = parse_spec({"computation": "square_test", "seeds": [0, 1], "axes": {"kappa": [1.0, 2.0, 3.0]}})
        db = tmp_path / "sq.db"
        rep = run_sweep(spec, db, executor="serial", progress=False)
        assert (rep.total, rep.computed, rep.failed, rep.computation) == (6, 4, 2, "square_test")
        with Store(db) as st:
            t = st.table()
            assert sorted(t["square"]) == [1.0, 1.0, 4.0, 4.0]
            assert np.array_equal(st.array(t["key"][0], "x"), np.arange(3.0) * t["kappa"][0])
            assert all("ValueError: kappa too large" in p.error for p in st.points("failed"))
        assert comp is get("square_test")
    finally:
        COMPUTATIONS.pop("square_test", None)


def _square(cfg):
    if cfg["kappa"] > 2.5:
        raise ValueError("kappa too large")
    return PointResult({"square": cfg["kappa"] ** 2, "width": cfg["width"], "seed": cfg["seed"]},
                       {"x": np.arange(3.0) * cfg["kappa"]})


def test_sweeps_layer_does_not_import_torch():
    code = ("import sys; from featmech.sweeps.sweep import run_sweep, get; get('network').params; "
            "import featmech.sweeps.store, featmech.sweeps.executors; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_store_write_takes_typed_outcomes(tmp_path):
    res = PointResult({"v": 1.0, "label": "kernel"}, {"a": np.arange(4.0)})
    k1, k2 = point_key("c", {"x": 1}), point_key("c", {"x": 2})
    with Store(tmp_path / "t.db") as st:
        assert st.write([PointOutcome(k1, {"x": 1}, res, None, 0.5),
                         PointOutcome(k2, {"x": 2}, None, "InputError: bad x", 0.1)], computation="c") == 2
        assert st.counts() == {"done": 1, "failed": 1}
        # a failure never replaces anything; a success replaces a failure, never a success
        assert st.write([PointOutcome(k1, {"x": 1}, None, "boom")], computation="c") == 0
        assert st.write([PointOutcome(k1, {"x": 1}, PointResult({"v": 2.0}))], computation="c") == 0
        assert st.write([PointOutcome(k2, {"x": 2}, None, "again")], computation="c") == 0
        assert st.write([PointOutcome(k2, {"x": 2}, PointResult({"v": 3.0}, {"a": np.ones(2)}))], computation="c") == 1
        pts = {p.key: p for p in st.points()}
        assert pts[k1].result == {"v": 1.0, "label": "kernel"} and pts[k1].seconds == 0.5 and pts[k1].ok
        assert pts[k2].result == {"v": 3.0} and pts[k2].error is None and pts[k2].status == "done"
        assert np.array_equal(st.array(k1, "a"), np.arange(4.0)) and np.array_equal(st.array(k2, "a"), np.ones(2))
        assert st.rows()[0] == pts[k1].as_dict()
        with pytest.raises(InputError, match="status must be one of"):
            st.points("running")
        with pytest.raises(KeyError):
            st.array(k1, "nope")
        # one batch with the same key twice: the first success wins
        k3 = point_key("c", {"x": 3})
        assert st.write([PointOutcome(k3, {"x": 3}, None, "e"), PointOutcome(k3, {"x": 3}, PointResult({"v": 4.0})),
                         PointOutcome(k3, {"x": 3}, PointResult({"v": 5.0}))], computation="c") == 1
        assert {p.key: p.result for p in st.points()}[k3] == {"v": 4.0}


def test_status_export_and_reports(tmp_path):
    from featmech.sweeps.store import export_store, store_status
    from featmech.sweeps.sweep import parse_spec

    spec = parse_spec({"computation": "trajectory", "seeds": [0, 1], "fixed": {"points": 3, "width": 50},
                       "axes": {"kappa": [0.5, 1.0]}}, "inline")
    db = tmp_path / "r.db"
    rep = run_sweep(spec, db, executor="serial", progress=False)
    d = rep.as_dict()
    assert d == {"spec": "inline", "store": str(db), "computation": "trajectory", "total": 4, "skipped": 0,
                 "computed": 4, "failed": 0, "seconds": rep.seconds, "executor": "serial"}
    assert rep.table().scalars == d and rep.summary().startswith("4 points: 4 computed, 0 failed, 0 already")
    assert len(rep.keys) == 4 and rep.keys == tuple(p.key for p in points(spec))
    status = store_status(db)
    assert (status.done, status.failed, status.errors) == (4, 0, ())
    assert status.table().scalars == {"done": 4, "failed": 0} and status.summary() == "done: 4, failed: 0\n"
    out = export_store(db, tmp_path / "r.csv", "csv")
    lines = out.path.read_text().splitlines()
    assert out.rows == 4 and len(lines) == 5 and lines[0].startswith("key,computation,width,sigma_u")
    with Store(db) as st:
        t = st.table()
        assert lines[1].split(",")[0] == t["key"][0]
        assert st.to_table().columns["kappa"] == t["kappa"]
        for bad in (db, tmp_path / "r.db-wal", tmp_path / "." / "r.db"):
            with pytest.raises(InputError, match="is the store itself"):
                st.export(bad, "csv")
        with pytest.raises(InputError, match="export format"):
            st.export(tmp_path / "r.xlsx", "xlsx")
        with pytest.raises(InputError, match="is a directory"):
            st.export(tmp_path, "csv")
        assert st.counts()["done"] == 4  # the store is intact
    link = tmp_path / "link.db"
    link.symlink_to(db)
    with pytest.raises(InputError, match="is the store itself"):
        export_store(db, link, "parquet")
    with pytest.raises(InputError, match="does not exist"):
        store_status(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()


def test_run_sweep_argument_errors(tmp_path):
    spec = load_spec(write_spec(tmp_path, steps=10, n=1))
    for kw, match in (({"executor": "threads"}, "executor must be one of"), ({"workers": 0}, "workers"),
                      ({"chunk_size": -1}, "chunk_size"), ({"connect_timeout": 0}, "connect_timeout"),
                      ({"executor": "serial", "scheduler": "tcp://127.0.0.1:9"}, "needs the dask executor")):
        with pytest.raises(InputError, match=match):
            run_sweep(spec, tmp_path / "e.db", progress=False, **kw)


def test_network_points_run_through_the_registry(tmp_path):
    pytest.importorskip("torch")
    from featmech.sweeps.sweep import parse_spec

    spec = parse_spec({"computation": "network", "seeds": [0], "fixed": {"steps": 3, "max_train": 200},
                       "axes": {"scale": [0.5, 1.0]}})
    db = tmp_path / "n.db"
    rep = run_sweep(spec, db, executor="serial", progress=False)
    assert (rep.computed, rep.failed) == (2, 0)
    with Store(db) as st:
        pts = st.points("done")
        assert sorted(p.config["scale"] for p in pts) == [0.5, 1.0]
        for p in pts:
            assert p.config["lr"] == 0.05 and p.config["quick"] is True and "test_accuracy" in p.result
            assert st.array(p.key, "ntk_trace").ndim == 1
