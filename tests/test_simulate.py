"""Width-free discrete-time simulators against the plain full-width loop (and the flow)."""

from __future__ import annotations

import numpy as np
import pytest

import featmech
from featmech.errors import InputError
from featmech.theory.config import Gram, Hyper, Init
from featmech.theory.inits import iid_gaussian
from featmech.theory.optim import Optimizer, Record
from featmech.theory.simulate import (
    RunDefaults,
    SimResult,
    batch_moments,
    run_defaults,
    simulate,
    simulate_full,
    simulate_gram,
)

FIELDS = ("output", "loss", "ntk", "alignment", "norm_u", "norm_w")


def max_rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


CASES = {
    "gd": dict(lr=0.05),
    "momentum": dict(lr=0.02, momentum=0.9),
    "weight decay": dict(lr=0.05, weight_decay=1e-2),
    "momentum + weight decay, layer-wise rates": dict(lr=0.03, momentum=0.5, weight_decay=3e-3, eta_u=1.7,
                                                      eta_w=0.4, kappa=0.6, target=-0.8, data_var=1.3),
}


@pytest.mark.parametrize("name", list(CASES))
def test_width_free_equals_full_width_loop_over_1e4_steps(name):
    u0, w0 = iid_gaussian(64, 0.2, 0.3, rho=0.2, seed=7)
    kw = dict(steps=10_000, every=50)
    kw.update(CASES[name])
    a = simulate(u0, w0, **kw)
    b = simulate_full(u0, w0, **kw)
    assert not a.diverged and not b.diverged
    for f in FIELDS:
        if f == "loss":
            # the loss goes to ~1e-30: compare the residual on the scale of the target
            assert np.max(np.abs(np.sqrt(a.loss) - np.sqrt(b.loss))) <= 1e-10
        else:
            assert max_rel(getattr(a, f), getattr(b, f)) <= 1e-10, f


def test_sgd_moments_equal_an_explicit_minibatch_loop():
    """The width-free SGD with (V_t, k_t) equals SGD on actual samples (x_b, y_b)."""
    rng = np.random.default_rng(0)
    u0, w0 = iid_gaussian(16, 0.3, 0.3, seed=2)
    steps, n, lr, k, noise, kap = 2000, 8, 0.05, 1.2, 0.3, 0.9
    xs = rng.standard_normal((steps, n))
    ys = k * xs + noise * rng.standard_normal((steps, n))
    u, w = u0.copy(), w0.copy()
    for t in range(steps):  # plain minibatch SGD on samples, no moments
        resid = kap * (u @ w) * xs[t] - ys[t]
        gu = np.mean(resid * kap * xs[t]) * w
        gw = np.mean(resid * kap * xs[t]) * u
        u, w = u - lr * gu, w - lr * gw
    Vt = np.mean(xs**2, axis=1)
    kt = np.mean(xs * ys, axis=1) / Vt
    res = simulate(u0, w0, lr=lr, steps=steps, kappa=kap, target=k, moments=(Vt, kt), every=steps)
    assert res.output[-1] == pytest.approx(kap * (u @ w), rel=1e-10)
    assert res.norm_u[-1] == pytest.approx(np.linalg.norm(u), rel=1e-10)
    ref = simulate_full(u0, w0, lr=lr, steps=steps, kappa=kap, target=k, moments=(Vt, kt), every=steps)
    assert max_rel(res.ntk, ref.ntk) < 1e-10


def test_batch_moments_distribution():
    Vt, kt = batch_moments(200_000, 4, data_var=2.0, target=0.5, noise=0.2, seed=1)
    assert np.mean(Vt) == pytest.approx(2.0, rel=0.01)
    assert np.var(Vt) == pytest.approx(2 * 2.0**2 / 4, rel=0.03)  # Var(V χ²_n / n) = 2V²/n
    assert np.mean(kt) == pytest.approx(0.5, abs=0.005)


def test_sgd_with_seed_is_reproducible_and_matches_full_loop():
    u0, w0 = iid_gaussian(32, 0.3, 0.3, seed=1)
    a = simulate(u0, w0, lr=0.05, steps=3000, batch_size=4, noise=0.1, seed=9, every=100)
    b = simulate(u0, w0, lr=0.05, steps=3000, batch_size=4, noise=0.1, seed=9, every=100)
    assert np.array_equal(a.ntk, b.ntk)
    m = batch_moments(3000, 4, noise=0.1, seed=9)
    c = simulate_full(u0, w0, lr=0.05, steps=3000, moments=m, every=100)
    assert max_rel(a.norm_u, c.norm_u) < 1e-10


def test_small_lr_gd_tracks_the_exact_flow():
    u0, w0 = iid_gaussian(20, 0.4, 0.4, seed=5)
    sol = featmech.solve(u0, w0, eta_u=1.3, eta_w=0.6)
    errs = []
    for lr in (1e-2, 1e-3):
        steps = int(round(5.0 / lr))
        res = simulate(u0, w0, lr=lr, steps=steps, eta_u=1.3, eta_w=0.6, every=steps // 10)
        st = sol(res.step * lr)
        errs.append(np.max(np.abs(res.alignment - st.alignment)))
    assert errs[1] < errs[0] / 5  # first-order convergence to the flow
    assert errs[1] < 1e-3


def test_catapult_between_edge_of_stability_and_divergence():
    """lr·K0 in (2, 4) with K0 well above the minimal NTK: loss spikes, NTK falls, converges."""
    d = 1000
    u0, w0 = iid_gaussian(d, np.sqrt(5 / d), np.sqrt(5 / d), seed=1)
    K0 = u0 @ u0 + w0 @ w0
    for lrk in (2.5, 3.5):
        res = simulate(u0, w0, lr=lrk / K0, steps=3000)
        full = simulate_full(u0, w0, lr=lrk / K0, steps=3000)
        assert not res.diverged
        assert np.max(res.loss) > 3 * res.loss[0]  # the spike
        assert res.ntk[-1] < 0.7 * K0  # the NTK falls ...
        assert (lrk / K0) * res.ntk[-1] < 2.0  # ... below the edge of stability
        assert res.loss[-1] < 1e-20  # and training converges
        assert max_rel(res.ntk, full.ntk) < 1e-8
    # above the threshold it diverges, at the same step as the full loop
    res = simulate(u0, w0, lr=4.5 / K0, steps=3000)
    full = simulate_full(u0, w0, lr=4.5 / K0, steps=3000)
    assert res.diverged and full.diverged and res.diverged_at == full.diverged_at
    k = int(res.diverged_at)
    assert np.all(np.isnan(res.loss[k:])) and np.all(np.isfinite(res.loss[:k]))
    out = res.truncated()
    assert len(out["loss"]) == k and out["diverged_at"] == k


def test_batched_gram_simulation_equals_one_at_a_time():
    rng = np.random.default_rng(0)
    n = 12
    uu, ww = rng.uniform(0.1, 2, n), rng.uniform(0.1, 2, n)
    uw = rng.uniform(-0.9, 0.9, n) * np.sqrt(uu * ww)
    lr = rng.uniform(0.01, 0.5, n)
    lr[3] = 50.0  # one divergent configuration must not disturb the others
    batch = simulate_gram(uu, ww, uw, lr=lr, steps=500, momentum=0.3, every=25)
    assert batch.diverged[3] and batch.diverged.sum() >= 1
    for i in range(n):
        one = simulate_gram(uu[i], ww[i], uw[i], lr=lr[i], steps=500, momentum=0.3, every=25)
        assert np.array_equal(one.ntk, batch.ntk[i], equal_nan=True)
        assert one.diverged_at == batch.diverged_at[i]


@pytest.mark.parametrize("kwargs, match", [(dict(lr=0.0), "lr"), (dict(lr=-1.0), "lr"), (dict(steps=0), "steps"),
                                           (dict(momentum=1.0), "momentum"), (dict(every=0), "every"),
                                           (dict(weight_decay=-1.0), "weight_decay"),
                                           (dict(batch_size=0), "batch_size")])
def test_bad_simulation_parameters(kwargs, match):
    kw = dict(lr=0.1, steps=10)
    kw.update(kwargs)
    with pytest.raises(ValueError, match=match):
        simulate(np.ones(3), np.ones(3), **kw)


# ------------------------------------------------------------------ the domain-object API

HYPER_KW = dict(eta_u=1.7, eta_w=0.4, kappa=0.6, target=-0.8, data_var=1.3)


def test_object_form_equals_keyword_forms():
    init = iid_gaussian(40, 0.3, 0.2, rho=0.1, seed=3)
    hyper = Hyper(**HYPER_KW)
    for opt_kw in (dict(lr=0.03), dict(lr=0.03, momentum=0.5, weight_decay=3e-3),
                   dict(lr=0.03, batch_size=4, noise=0.2, seed=5)):
        ref = simulate(*init, steps=700, every=70, **HYPER_KW, **opt_kw)
        g = init.gram
        others = [
            simulate(init, hyper, Optimizer(**opt_kw), 700, Record(every=70)),
            simulate(g, hyper, Optimizer(**opt_kw), 700, Record(70)),
            simulate(init=g, hyper=hyper, optimizer=Optimizer(**opt_kw), steps=700, record=Record(70)),
            simulate(init, hyper, steps=700, every=70, **opt_kw),  # objects for some groups, keywords for others
            simulate_gram(g.uu, g.ww, g.uw, area=g.area, steps=700, every=70, **HYPER_KW, **opt_kw),
            simulate_gram(g, hyper, Optimizer(**opt_kw), 700, Record(70)),
        ]
        for res in others:
            for f in ("step",) + FIELDS + ("diverged", "diverged_at"):
                assert np.array_equal(getattr(res, f), getattr(ref, f)), (opt_kw, f)


@pytest.mark.parametrize("call", [
    lambda i, h, o: simulate(i, h, o, 10, lr=0.1),                  # optimizer and lr
    lambda i, h, o: simulate(i, h, o, 10, kappa=2.0),               # hyper and kappa
    lambda i, h, o: simulate(i, h, o, 10, Record(2), every=3),      # record and every
    lambda i, h, o: simulate(i, hyper=h, eta_u=2.0, lr=0.1, steps=10),
    lambda i, h, o: simulate(i, h, o),                              # no steps
    lambda i, h, o: simulate(i, h, steps=10),                       # no optimizer, no lr
    lambda i, h, o: simulate(i, o, h, 10),                          # objects in the wrong order
    lambda i, h, o: simulate(i.u0, h, o, 10),                       # one vector
    lambda i, h, o: simulate(i, h, o, 10, u0=i.u0),                 # the init twice
    lambda i, h, o: simulate_gram(i.gram, h, o, 10, area=1.0),
    lambda i, h, o: simulate_full(i.gram, h, o, 10),                # the reference loop needs vectors
    lambda i, h, o: simulate_full(i, Hyper(kappa=[1.0, 2.0]), o, 10),  # and one configuration
    lambda i, h, o: simulate(Gram([1.0, 2.0], 1.0, 0.0), h, Optimizer(lr=[0.1, 0.2, 0.3]), 10),  # shapes
    lambda i, h, o: simulate(i, h, Optimizer(lr=0.1, moments=(np.ones(5), np.ones(5))), 10),  # moments length
])
def test_ambiguous_or_incomplete_calls_are_refused(call):
    init = iid_gaussian(5, seed=0)
    with pytest.raises(InputError):
        call(init, Hyper(), Optimizer(lr=0.1))


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="colour"):
        simulate(np.ones(3), np.ones(3), lr=0.1, steps=3, colour="red")


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=True), "lr"), (dict(lr=1j), "lr"), (dict(lr="0.1"), "lr"), (dict(lr=None), "lr"),
    (dict(lr=0.1, batch_size=True), "batch_size"), (dict(lr=0.1, batch_size=2.5), "batch_size"),
    (dict(lr=0.1, seed=-1), "seed"), (dict(lr=0.1, noise=0.1), "noise needs batch_size"),
    (dict(lr=0.1, batch_size=2, moments=(np.ones(3), np.ones(3))), "not both"),
    (dict(lr=0.1, moments=(np.ones(3), np.full(3, np.nan))), "finite"),
    (dict(lr=0.1, moments=(-np.ones(3), np.ones(3))), ">= 0"),
    (dict(lr=0.1, moments=np.ones(3)), "pair"),
    (dict(lr=0.1, divergence_factor=1.0), "divergence_factor"),
])
def test_optimizer_validates_on_construction(kwargs, match):
    with pytest.raises(InputError, match=match):
        Optimizer(**kwargs)


def test_record_schedule():
    assert Record(4).steps(10).tolist() == [0, 4, 8, 10]
    assert Record(None).interval(1000) == 10 and Record(None).interval(50) == 1
    for bad in (0, True, 1.5, "3"):
        with pytest.raises(InputError, match="every"):
            Record(bad)


def test_result_arrays_are_read_only():
    res = simulate(Gram(1.0, 0.5, 0.2), Hyper(), Optimizer(lr=0.1), 20, Record(5))
    assert isinstance(res, SimResult)
    for name, value in res.as_dict().items():
        assert isinstance(value, np.ndarray) and not value.flags.writeable, name
    with pytest.raises(ValueError):
        res.loss[0] = 100.0
    with pytest.raises(ValueError):
        res.step[0] = 3
    with pytest.raises(AttributeError):
        res.loss = np.zeros(5)  # type: ignore[misc]
    full = simulate_full(iid_gaussian(4, seed=0), Hyper(), Optimizer(lr=0.1), 20, Record(5))
    with pytest.raises(ValueError):
        full.ntk[0] = 1.0
    assert res.truncated()["step"] == [0, 5, 10, 15, 20]


def test_callers_arrays_stay_writable():
    uu, ww, uw = np.array([1.0, 2.0]), np.array([1.0, 0.5]), np.array([0.1, 0.2])
    lr, kappa = np.array([0.1, 0.05]), np.array([1.0, 0.5])
    simulate_gram(uu, ww, uw, lr=lr, kappa=kappa, steps=5)
    u0, w0 = np.ones(3), np.arange(3.0)
    simulate(u0, w0, lr=0.1, steps=5)
    simulate_full(u0, w0, lr=0.1, steps=5)
    for a in (uu, ww, uw, lr, kappa, u0, w0):
        assert a.flags.writeable
        a[0] = a[0]


def test_simulate_full_with_batch_size_equals_its_moments():
    init = iid_gaussian(16, 0.3, 0.3, seed=4)
    opt = Optimizer(lr=0.05, batch_size=4, noise=0.1, seed=2)
    a = simulate_full(init, Hyper(), opt, 500, Record(50))
    b = simulate_full(*init, lr=0.05, steps=500, every=50, moments=batch_moments(500, 4, noise=0.1, seed=2))
    c = simulate(init, Hyper(), opt, 500, Record(50))
    assert np.array_equal(a.ntk, b.ntk)
    assert max_rel(a.ntk, c.ntk) < 1e-10


def test_run_defaults_typed_and_keyword_forms():
    g = Gram(2.0, 3.0, 0.5)
    d = run_defaults(g, Hyper(eta_u=2.0, eta_w=0.5, kappa=0.7, data_var=1.5), 500)
    K0 = 1.5 * 0.7**2 * (0.5 * 2.0 + 2.0 * 3.0)
    assert isinstance(d, RunDefaults)
    assert d.ntk0 == pytest.approx(K0, rel=1e-15) and d.lr == pytest.approx(0.5 / K0) and d.every == 5
    assert d.lr_times_ntk0 == pytest.approx(0.5) and d.record == Record(5)
    old = run_defaults(g, steps=500, eta_u=2.0, eta_w=0.5, kappa=0.7, data_var=1.5)
    K, lr, every = old
    assert (K, lr, every) == (d.ntk0, d.lr, d.every)
    assert tuple(run_defaults(g, Hyper(), 500, lr=0.3, every=7)) == (5.0, 0.3, 7)
    assert run_defaults(Init(np.ones(2), np.ones(2)), Hyper(), 10).every == 1
    with pytest.raises(InputError, match="not both"):
        run_defaults(g, Hyper(), 500, kappa=2.0)
    with pytest.raises(InputError, match="initial NTK is 0"):
        run_defaults(Gram(0.0, 0.0, 0.0), Hyper(), 100)
    with pytest.raises(InputError, match="one configuration"):
        run_defaults(Gram([1.0, 2.0], 1.0, 0.0), Hyper(), 100)
    for bad in (dict(steps=0), dict(steps=100, lr=0.0), dict(steps=100, every=0), dict(steps=True)):
        with pytest.raises(InputError):
            run_defaults(g, **bad)
