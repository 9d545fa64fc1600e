"""Batched sweep chunks (issue 13): a chunk of exact points is one vectorized call, and every point
comes out exactly as the one-point computation gives it (results, classification fields, errors);
failing configurations fail alone; chunk sizes; resume after SIGKILL with batched chunks."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from storeutil import count_points

import featmech.analysis.runs as runs_module
from featmech.analysis.runs import (
    exact_run,
    exact_runs,
    iid_init,
    simulated_run,
    simulated_runs,
)
from featmech.errors import InputError
from featmech.records import PointResult
from featmech.sweeps.computations import (
    simulate_point,
    simulate_points,
    trajectory_point,
    trajectory_points,
)
from featmech.sweeps.executors import run_chunk
from featmech.sweeps.registry import MAX_BATCH, MIN_BATCH, Computation, get
from featmech.sweeps.store import Store, point_key
from featmech.sweeps.sweep import load_spec, parse_spec, points, run_sweep
from featmech.theory.config import Hyper


# ------------------------------------------------------------------------------------ comparison
def same_value(a, b) -> bool:
    """Identical: same type, and equal (NaN equal to NaN); arrays of the same dtype, shape and bits."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return bool(a == b)


def assert_same_result(batched, alone, where=""):
    """A batched entry equals what the one-point computation returned (or raised)."""
    if isinstance(alone, Exception):
        assert isinstance(batched, Exception), f"{where}: batched {batched!r}, alone raised {alone!r}"
        assert (type(batched), str(batched)) == (type(alone), str(alone)), where
        return
    assert isinstance(batched, PointResult), f"{where}: batched {batched!r}"
    assert list(batched.scalars) == list(alone.scalars), where
    for k in alone.scalars:
        assert same_value(batched.scalars[k], alone.scalars[k]), (where, k, batched.scalars[k], alone.scalars[k])
    assert list(batched.arrays) == list(alone.arrays), where
    for k in alone.arrays:
        assert same_value(np.asarray(batched.arrays[k]), np.asarray(alone.arrays[k])), (where, k)


def assert_same_classification(a, b, where=""):
    """Every field of two Classifications, whatever fields the class has: same type and value."""
    from dataclasses import fields

    assert type(a) is type(b)
    for f in fields(a):
        assert same_value(getattr(a, f.name), getattr(b, f.name)), (where, f.name, getattr(a, f.name),
                                                                     getattr(b, f.name))


def alone(fn, cfg):
    try:
        return fn(cfg)
    except Exception as exc:
        return exc


# ------------------------------------------------------------------------------------ random chunks
def trajectory_configs(rng, n):
    comp = get("trajectory")
    out = []
    for i in range(n):
        v = dict(width=int(rng.choice([1, 2, 10, 1000, 10**6, 10**12])),
                 sigma_u=float(rng.choice([0.0, 0.01, 1.0, 3.0])), sigma_w=float(rng.choice([0.0, 0.1, 1.0])),
                 rho=float(rng.choice([-1.0, 0.0, 0.5, 1.0])), eta_u=float(rng.choice([0.0, 1.0, 2.0])),
                 eta_w=float(rng.choice([0.0, 1.0, 0.5])), kappa=float(rng.choice([0.0, 1e-3, 1.0, 10.0])),
                 target=float(rng.choice([-1.0, 0.0, 1.0, 2.0])), data_var=float(rng.choice([0.0, 1.0, 2.0])),
                 t_max=rng.choice([None, 0.0, 3.0, 50.0]), points=int(rng.choice([1, 2, 7, 101])))
        out.append(comp.config(v, seed=int(rng.integers(0, 2**31))))
    return out


def simulate_configs(rng, n):
    comp = get("simulate")
    out = []
    for i in range(n):
        sgd = rng.random() < 0.3
        v = dict(width=int(rng.choice([1, 10, 1000, 10**6])), sigma_u=float(rng.choice([0.0, 0.1, 1.0])),
                 sigma_w=float(rng.choice([0.1, 1.0])), rho=float(rng.choice([0.0, 0.5, -1.0])),
                 eta_u=float(rng.choice([1.0, 0.5, 0.0])), eta_w=float(rng.choice([1.0, 2.0])),
                 kappa=float(rng.choice([0.0, 1e-3, 0.1, 1.0])), target=float(rng.choice([0.0, 1.0, -2.0])),
                 data_var=float(rng.choice([0.0, 1.0, 0.5] if sgd else [1.0, 0.5])),
                 lr=rng.choice([None, None, 0.05, 3.0]), steps=int(rng.choice([40, 150])),
                 every=rng.choice([None, 7]), momentum=float(rng.choice([0.0, 0.0, 0.9])),
                 weight_decay=float(rng.choice([0.0, 0.0, 0.01])),
                 batch_size=int(rng.choice([1, 8])) if sgd else None,
                 noise=float(rng.choice([0.0, 0.3])) if sgd else 0.0)
        out.append(comp.config(v, seed=int(rng.integers(0, 2**31))))
    return out


def spy(monkeypatch, name):
    """Record the batch shape of every call of ``featmech.analysis.runs.<name>``."""
    real, shapes = getattr(runs_module, name), []

    def wrapper(init, *args, **kwargs):
        shapes.append(init.shape)
        return real(init, *args, **kwargs)

    monkeypatch.setattr(runs_module, name, wrapper)
    return shapes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trajectory_chunk_equals_points_alone(seed, monkeypatch):
    cfgs = trajectory_configs(np.random.default_rng(seed), 60)
    solves, alone_runs = spy(monkeypatch, "solve"), spy(monkeypatch, "exact_run")
    batched = trajectory_points(cfgs)
    assert len(batched) == len(cfgs)
    assert solves == [(60,)] and alone_runs == []  # one vectorized solve, no point alone
    monkeypatch.undo()
    for i, (b, cfg) in enumerate(zip(batched, cfgs)):
        assert_same_result(b, alone(trajectory_point, cfg), f"point {i}: {cfg}")
    assert sum(isinstance(b, PointResult) for b in batched) >= 30  # most points do run


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_simulate_chunk_equals_points_alone(seed, monkeypatch):
    cfgs = simulate_configs(np.random.default_rng(seed), 60)
    calls, alone_runs = spy(monkeypatch, "simulate"), spy(monkeypatch, "simulated_run")
    batched = simulate_points(cfgs)
    n_ok = sum(isinstance(b, PointResult) for b in batched)
    # one batched call per group (steps × record × GD/SGD × momentum × weight decay), no point alone
    assert alone_runs == [] and len(calls) <= 32 < n_ok and sum(math.prod(c) for c in calls) == n_ok
    monkeypatch.undo()
    for i, (b, cfg) in enumerate(zip(batched, cfgs)):
        assert_same_result(b, alone(simulate_point, cfg), f"point {i}: {cfg}")
    ok = [b for b in batched if isinstance(b, PointResult)]
    assert len(ok) >= 30
    assert any(b.scalars["diverged"] for b in ok) and not all(b.scalars["diverged"] for b in ok)


def test_library_batches_equal_runs_alone():
    """exact_runs / simulated_runs: every field of every Classification (whatever fields the class
    has), the arrays, the defaults and the settings are those of the run alone."""
    rng = np.random.default_rng(7)
    grams = [iid_init({"width": int(w), "sigma_u": s, "rho": r, "seed": i})
             for i, (w, s, r) in enumerate(zip(rng.choice([10, 10**4], 24), rng.choice([0.01, 1.0], 24),
                                               rng.choice([0.0, 0.9], 24)))]
    hypers = [Hyper(kappa=k, target=t) for k, t in zip(rng.choice([1e-3, 0.1, 1.0], 24), rng.choice([0.5, 2.0], 24))]
    t_max = [None if i % 3 else 4.0 for i in range(24)]
    ex = exact_runs(grams, hypers, t_max=t_max, points=11)
    for i, run in enumerate(ex):
        one = exact_run(grams[i], hypers[i], t_max=t_max[i], points=11)
        assert_same_classification(run.classification, one.classification, f"exact {i}")
        for name, a in one.state.as_dict().items():
            assert same_value(getattr(run.state, name), a), (i, name)
        assert run.rate == one.rate and run.branch == one.branch
    steps = [60 if i % 2 else 90 for i in range(24)]
    momentum = [0.5 if i % 5 == 0 else 0.0 for i in range(24)]
    batch_size = [4 if i % 4 == 0 else None for i in range(24)]
    sim = simulated_runs(grams, hypers, steps, momentum=momentum, batch_size=batch_size, seed=list(range(24)))
    for i, run in enumerate(sim):
        one = simulated_run(grams[i], hypers[i], steps[i], momentum=momentum[i], batch_size=batch_size[i], seed=i)
        assert_same_classification(run.classification, one.classification, f"simulated {i}")
        for name, a in one.result.as_dict().items():
            assert same_value(getattr(run.result, name), a), (i, name)
        assert run.defaults == one.defaults and dict(run.settings) == dict(one.settings)
        assert list(run.settings) == list(one.settings)


def test_library_batches_raise_or_return_the_error_of_the_configuration():
    grams = [iid_init({"width": 100, "seed": s}) for s in range(3)]
    hypers = [Hyper(kappa=1.0), Hyper(kappa=0.0), Hyper(kappa=0.5)]
    with pytest.raises(InputError, match="lr: cannot pick a default"):
        simulated_runs(grams, hypers, steps=20)
    out = simulated_runs(grams, hypers, steps=20, return_exceptions=True)
    assert isinstance(out[1], InputError) and "lr" in str(out[1])
    assert np.array_equal(out[2].result.loss, simulated_run(grams[2], hypers[2], 20).result.loss)
    out = exact_runs(grams, hypers, t_max=[1.0, -1.0, 2.0], points=3, return_exceptions=True)
    assert isinstance(out[1], InputError) and "t_max" in str(out[1])
    with pytest.raises(InputError, match="t_max"):
        exact_runs(grams, hypers, t_max=[1.0, -1.0, 2.0])
    with pytest.raises(InputError, match="one per configuration"):
        exact_runs(grams, hypers, points=[3, 4])
    with pytest.raises(InputError, match="one entry per configuration"):
        simulated_runs(grams, hypers[:2])
    assert exact_runs([], []) == [] and simulated_runs([], []) == []


# ------------------------------------------------------------------------------------ failure isolation
def test_a_failing_configuration_keeps_its_chunk_mates():
    comp = get("simulate")
    cfgs = [comp.config({"kappa": k, "steps": 200, "width": 500}, seed=s)
            for s, k in enumerate([0.5, 0.0, 1.0, 0.2, 0.0, 0.7])]  # kappa = 0: K0 = 0, no default lr
    chunk = [(point_key("simulate", c), c) for c in cfgs]
    outcomes = run_chunk(comp, chunk)
    assert [o.key for o in outcomes] == [k for k, _ in chunk]
    assert [o.ok for o in outcomes] == [True, False, True, True, False, True]
    assert outcomes[1].error == "InputError: lr: cannot pick a default learning rate when the initial NTK is 0; give lr"
    for o, cfg in zip(outcomes, cfgs):
        if o.ok:
            assert_same_result(o.result, simulate_point(cfg))
            assert o.seconds > 0


def test_a_failing_batch_falls_back_to_points_alone(monkeypatch):
    # exact: one configuration out of float64 range makes the vectorized solve raise
    comp = get("trajectory")
    cfgs = [comp.config({"kappa": k, "points": 5}, seed=s) for s, k in enumerate([0.5, 1e200, 2.0])]
    out = trajectory_points(cfgs)
    assert isinstance(out[1], InputError) and "out of float64 range" in str(out[1])
    for b, cfg in zip(out, cfgs):
        assert_same_result(b, alone(trajectory_point, cfg))
    # simulate: the batched engine call fails (any reason): every point alone, same results
    real = runs_module.simulate
    calls = []

    def flaky(gram, *args, **kwargs):
        calls.append(gram.shape)
        if gram.shape != ():
            raise MemoryError("no room for the batch")
        return real(gram, *args, **kwargs)

    monkeypatch.setattr(runs_module, "simulate", flaky)
    scfgs = [get("simulate").config({"kappa": k, "steps": 50}, seed=s) for s, k in enumerate([0.5, 0.0, 1.0])]
    out = simulate_points(scfgs)
    assert (4,) not in calls and (2,) in calls and calls.count(()) == 2
    monkeypatch.setattr(runs_module, "simulate", real)
    for b, cfg in zip(out, scfgs):
        assert_same_result(b, alone(simulate_point, cfg))


def test_run_many_falls_back_when_the_batch_function_fails():
    def point(cfg):
        if cfg["kappa"] == 0:
            raise InputError("kappa must not be 0 here")
        return PointResult({"k2": cfg["kappa"] ** 2})

    def broken(cfgs):
        raise RuntimeError("a bug in the batch function")

    def short(cfgs):
        return [point(cfgs[0])]

    def odd(cfgs):
        return ["not a result" for _ in cfgs]

    cfgs = [{"kappa": 2.0, "seed": 0}, {"kappa": 0.0, "seed": 0}]
    for batch in (broken, short):
        comp = Computation("toy", ("kappa",), point, batch=batch)
        out = comp.run_many(cfgs)
        assert out[0].scalars == {"k2": 4.0} and isinstance(out[1], InputError)
    out = Computation("toy", ("kappa",), point, batch=odd).run_many(cfgs)
    assert all(isinstance(o, TypeError) and "not a PointResult" in str(o) for o in out)
    plain = Computation("toy", ("kappa",), point)
    assert plain.batch is None and plain.run_many(cfgs)[0].scalars == {"k2": 4.0}
    with pytest.raises(ValueError, match="dotted path"):
        Computation("toy", ("kappa",), point, batch="no_colon")
    assert "batch=" in repr(get("simulate")) and "batch=" not in repr(plain)


# ------------------------------------------------------------------------------------ chunk sizes
def test_chunk_sizes():
    sim, net = get("simulate"), get("network")
    toy = Computation("toy", ("kappa",), lambda c: PointResult({}))
    assert net.chunk_size(1000, 2) == 1
    assert [toy.chunk_size(n, 2) for n in (1, 10, 400, 10**5)] == [1, 2, 50, 256]  # as before issue 13
    assert sim.chunk_size(1, 1) == 1 and sim.chunk_size(300, 2) == 150 and sim.chunk_size(400, 1) == 400
    assert sim.chunk_size(1200, 1) == 400 and sim.chunk_size(10**5, 2) == 1021  # 98 equal chunks of at most MAX_BATCH
    for n in (1, 7, 255, 256, 257, 999, 5000, 123457):
        for w in (1, 2, 16):
            size = sim.chunk_size(n, w)
            chunks = math.ceil(n / size)
            assert 1 <= size <= MAX_BATCH
            assert size >= min(MIN_BATCH, math.ceil(n / w)) or chunks * size - n < chunks  # equalized
            assert chunks >= min(w, math.ceil(n / MIN_BATCH)) or size >= MIN_BATCH


def test_sweep_uses_large_chunks_and_progress_advances_per_chunk(tmp_path):
    spec = parse_spec({"computation": "simulate", "seeds": list(range(40)), "fixed": {"steps": 30},
                       "axes": {"kappa": {"start": 1e-3, "stop": 1.0, "num": 30, "scale": "log"}}})
    seen = []
    rep = run_sweep(spec, tmp_path / "s.db", executor="serial", progress=False, on_result=seen.append)
    assert rep.computed == 1200 and seen == [400, 400, 400]
    with Store(tmp_path / "s.db") as st:
        rows = {r["key"]: r for r in st.rows()}
    for key, cfg in points(spec)[::97]:
        one = simulate_point(cfg)
        assert rows[key]["result"]["final_loss"] == one.scalars["final_loss"]
        with Store(tmp_path / "s.db") as st:
            assert np.array_equal(st.array(key, "ntk"), one.arrays["ntk"])


# ------------------------------------------------------------------------------------ resume
SPEC = """
computation = "simulate"
seeds = [0, 1, 2, 3]
[fixed]
width = 5000
steps = 60000
lr = 0.01
[axes]
kappa = {start = 1e-3, stop = 1.0, num = 6, scale = "log"}
"""


def test_resume_after_sigkill_with_batched_chunks_is_exact(tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC)  # 24 points, chunks of 4 (one batched call of ~0.7 s each)
    db = tmp_path / "k.db"
    cmd = [sys.executable, "-m", "featmech", "sweep", "run", str(spec_path), "--store", str(db), "--serial",
           "--chunk-size", "4", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while count_points(db) < 4 and time.time() - t0 < 120:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = count_points(db)
    assert 4 <= before < 24 and before % 4 == 0  # whole chunks only: one transaction per chunk
    spec = load_spec(spec_path)
    rep = run_sweep(spec, db, executor="serial", progress=False)
    assert rep.skipped == before and rep.computed == 24 - before
    fresh = tmp_path / "fresh.db"
    run_sweep(spec, fresh, executor="serial", progress=False)  # automatic chunks: one batch of 24
    with Store(db) as a, Store(fresh) as b:
        ra = {r["key"]: r["result"] for r in a.rows()}
        rb = {r["key"]: r["result"] for r in b.rows()}
        assert ra.keys() == rb.keys() and len(ra) == 24
        for k in ra:
            assert ra[k].keys() == rb[k].keys()
            for name in ra[k]:
                assert same_value(ra[k][name], rb[k][name]), (k, name)
            for name in ("step", "loss", "ntk", "alignment"):
                assert same_value(a.array(k, name), b.array(k, name))


# ------------------------------------------------------------------------------------ networks
def test_network_points_load_their_data_once_per_process(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import featmech.nets.experiments as ex

    real, calls = ex.load_dataset, []

    def counting(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(ex, "load_dataset", counting)
    monkeypatch.setattr(ex, "_SWEEP_DATASETS", {})
    spec = parse_spec({"computation": "network", "seeds": [0, 1], "fixed": {"steps": 2, "max_train": 200},
                       "axes": {"scale": [0.5, 1.0]}})
    rep = run_sweep(spec, tmp_path / "n.db", executor="serial", progress=False)
    assert (rep.computed, rep.failed) == (4, 0) and len(calls) == 1
    for max_train in (150, 160, 200):  # the two most recent data sets are kept
        ex.network_point(get("network").config({"steps": 1, "max_train": max_train}))
    assert len(calls) == 4 and len(ex._SWEEP_DATASETS) == 2
    ex.network_point(get("network").config({"steps": 1, "max_train": 160}))
    assert len(calls) == 4
