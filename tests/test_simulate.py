"""Width-free discrete-time simulators against the plain full-width loop (and the flow)."""

from __future__ import annotations

import numpy as np
import pytest

import featmech
from featmech.theory.inits import iid_gaussian
from featmech.theory.simulate import batch_moments, simulate, simulate_full, simulate_gram

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
