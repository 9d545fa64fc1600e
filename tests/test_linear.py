"""featmech.linear (the exact multi-output linear network at any width) against independent references
(tests/linear_reference.py, themselves validated in tests/test_linear_reference.py): scipy's solve_ivp
on the full ODE, a plain full-width numpy loop, torch autograd + torch.optim.SGD, Saxe's logistic
modes, Dominé et al.'s λ-balanced closed form, and the one-dimensional engine featmech.solve."""

from __future__ import annotations

import numpy as np
import pytest

import linear_reference as ref

linear = pytest.importorskip("featmech.linear")
if not hasattr(linear, "solve"):  # the facade exists before the engine does
    pytest.skip("featmech.linear.solve not implemented yet", allow_module_level=True)

OBS = ("product", "loss", "ntk_trace", "alignment", "norm_u", "norm_w")


# ------------------------------------------------------------------------------------ helpers
def _data(n, m, c, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m)) @ (np.eye(m) + 0.3 * rng.standard_normal((m, m)))
    Y = X @ rng.standard_normal((m, c)) / np.sqrt(m) + noise * rng.standard_normal((n, c))
    return X, Y


def _init(c, d, m, su, sw, seed):
    rng = np.random.default_rng(seed)
    return su * rng.standard_normal((c, d)), sw * rng.standard_normal((d, m))


def _err(got, want):
    """Max abs difference relative to the reference's largest magnitude."""
    got = np.asarray(got, float)
    want = np.asarray(want, float)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.all(np.isfinite(got))
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-300))


def _check(state, want, tol, keys=OBS):
    errs = {k: _err(getattr(state, k), want[k]) for k in keys}
    bad = {k: e for k, e in errs.items() if not e <= tol}
    print("max relative errors:", {k: f"{e:.1e}" for k, e in errs.items()})  # shown with pytest -s
    assert not bad, f"relative errors above {tol:g}: {bad} (all: {errs})"
    return errs


# ----------------------------------------------------------------------- discrete time: replay
WIDTH, M, C, STEPS = 500, 5, 3, 300

CASES = {
    "gd": dict(momentum=0.0, weight_decay=0.0, batched=False),
    "sgd": dict(momentum=0.0, weight_decay=0.0, batched=True),
    "momentum": dict(momentum=0.9, weight_decay=0.0, batched=True),
    "weight_decay": dict(momentum=0.0, weight_decay=0.02, batched=False),
    "all": dict(momentum=0.7, weight_decay=0.01, batched=True),
}


def _training_problem(case, seed=0):
    X, Y = _data(64, M, C, seed=seed)
    U0, W0 = _init(C, WIDTH, M, 1 / np.sqrt(WIDTH), 1 / np.sqrt(WIDTH), seed + 1)
    cfg = CASES[case]
    idx = np.random.default_rng(seed + 2).integers(0, 64, size=(STEPS, 10)) if cfg["batched"] else None
    kw = dict(lr=0.03, steps=STEPS, eta_u=0.8, eta_w=1.5, kappa=1.2, batch_indices=idx, momentum=cfg["momentum"],
              weight_decay=cfg["weight_decay"], every=3)
    return U0, W0, X, Y, kw


@pytest.mark.parametrize("case", list(CASES))
def test_training_replays_the_numpy_loop(case):
    U0, W0, X, Y, kw = _training_problem(case)
    want = ref.numpy_train(U0, W0, X, Y, **kw)
    got = linear.simulate(U0, W0, X, Y, **kw)
    _check(got, want, 1e-10)
    assert not got.diverged


@pytest.mark.parametrize("case", ["sgd", "all"])
def test_training_matches_torch_autograd(case):
    U0, W0, X, Y, kw = _training_problem(case, seed=5)
    want = ref.torch_train(U0, W0, X, Y, **kw)
    got = linear.simulate(U0, W0, X, Y, **kw)
    _check(got, want, 1e-10)


def test_simulate_records_every_step_and_the_last():
    U0, W0, X, Y, kw = _training_problem("gd")
    kw.update(steps=20, every=6)
    got = linear.simulate(U0, W0, X, Y, **kw)
    want = ref.numpy_train(U0, W0, X, Y, **kw)
    assert np.asarray(got.product).shape == (len(ref.record_steps(20, 6)), C, M)  # steps 0, 6, 12, 18, 20
    _check(got, want, 1e-10)


def test_full_batch_size_is_gradient_descent():
    U0, W0, X, Y, kw = _training_problem("gd")
    kw.update(steps=30, batch_indices=None)
    want = ref.numpy_train(U0, W0, X, Y, **kw)
    got = linear.simulate(U0, W0, X, Y, batch_size=len(X), **{k: v for k, v in kw.items() if k != "batch_indices"})
    # a batch of all n samples (in any order) has the full moments
    _check(got, want, 1e-10)


def test_sgd_by_seed_replays_its_recorded_batches():
    """batch_size + seed: the run equals the numpy loop on the batches it reports; the batches are shuffled
    epochs (each run of n // b batches a draw without replacement); another seed gives other batches."""
    U0, W0, X, Y, kw = _training_problem("all")
    kw.pop("batch_indices")
    kw.update(steps=40)
    got = linear.simulate(U0, W0, X, Y, batch_size=10, seed=3, **kw)
    idx = np.asarray(got.batch_indices)
    assert idx.shape == (40, 10)
    per = len(X) // 10
    for e in range(40 // per):
        ep = idx[e * per:(e + 1) * per].ravel()
        assert len(np.unique(ep)) == ep.size and ep.min() >= 0 and ep.max() < len(X)
    _check(got, ref.numpy_train(U0, W0, X, Y, batch_indices=idx, **kw), 1e-10)
    again = linear.simulate(U0, W0, X, Y, batch_size=10, seed=3, **kw)
    assert np.array_equal(np.asarray(again.product), np.asarray(got.product))
    other = linear.simulate(U0, W0, X, Y, batch_size=10, seed=4, **kw)
    assert not np.array_equal(np.asarray(other.batch_indices), idx)


def test_training_converges_and_large_steps_diverge():
    X, Y = _data(50, 3, 2, seed=9, noise=0.0)
    U0, W0 = _init(2, 40, 3, 0.1, 0.1, 3)
    ok = linear.simulate(U0, W0, X, Y, lr=0.05, steps=3000, every=100)
    assert ok.converged and not ok.diverged
    bad = linear.simulate(U0, W0, X, Y, lr=5.0, steps=200, every=10)
    assert bad.diverged and not bad.converged


# ------------------------------------------------------------------------------ gradient flow
TIMES = np.array([0.0, 0.05, 0.5, 2.0, 8.0, 30.0, 120.0])


@pytest.mark.parametrize("eta_u,eta_w,kappa,su,sw", [(1.0, 1.0, 1.0, 0.1, 0.1), (0.5, 2.0, 0.7, 0.3, 0.05),
                                                     (3.0, 0.2, 1.5, 0.02, 0.4)])
def test_flow_matches_the_full_ode(eta_u, eta_w, kappa, su, sw):
    X, Y = _data(100, 4, 3, seed=1)
    S, B, yy = ref.moments(X, Y)
    U0, W0 = _init(3, 60, 4, su, sw, 2)
    want = ref.ode_flow(U0, W0, sigma_xx=S, sigma_xy=B, times=TIMES, eta_u=eta_u, eta_w=eta_w, kappa=kappa,
                        sigma_yy=yy)
    sol = linear.solve(U0, W0, sigma_xx=S, sigma_xy=B, eta_u=eta_u, eta_w=eta_w, kappa=kappa, sigma_yy=yy)
    _check(sol(TIMES), want, 1e-7)
    # time by time as well
    for i in (1, 4, 6):
        st = sol(TIMES[i])
        assert _err(st.product, want["product"][i]) < 1e-7
        assert abs(float(st.loss) - want["loss"][i]) < 1e-7 * max(abs(want["loss"][0]), 1.0)


def test_flow_loss_without_sigma_yy_is_the_loss_up_to_a_constant():
    X, Y = _data(100, 4, 3, seed=1)
    S, B, yy = ref.moments(X, Y)
    U0, W0 = _init(3, 20, 4, 0.2, 0.2, 4)
    with_yy = np.asarray(linear.solve(U0, W0, sigma_xx=S, sigma_xy=B, sigma_yy=yy)(TIMES).loss)
    without = np.asarray(linear.solve(U0, W0, sigma_xx=S, sigma_xy=B)(TIMES).loss)
    diff = with_yy - without
    assert np.max(np.abs(diff - diff[0])) < 1e-10 * max(abs(yy), 1.0)
    assert abs(diff[0] - yy / 2) < 1e-10 * max(abs(yy), 1.0) or abs(diff[0]) < 1e-10  # ½E|y|² or nothing


def test_flow_invariants_are_conserved_and_match_the_full_width_ones():
    """η_w ŨᵀŨ − η_u W̃W̃ᵀ of the reduced weights is constant along the flow (to 1e-9), and its spectrum
    (``conserved``, ascending) is the nonzero spectrum of the full-width d×d matrix η_w U₀ᵀU₀ − η_u W₀W₀ᵀ."""
    X, Y = _data(100, 4, 3, seed=1)
    S, B, _ = ref.moments(X, Y)
    eu, ew = 0.6, 1.7
    U0, W0 = _init(3, 50, 4, 0.3, 0.2, 6)
    sol = linear.solve(U0, W0, sigma_xx=S, sigma_xy=B, eta_u=eu, eta_w=ew)
    Ut, Wt = sol.reduced(TIMES)
    cons = ew * np.swapaxes(Ut, -1, -2) @ Ut - eu * Wt @ np.swapaxes(Wt, -1, -2)
    assert np.max(np.abs(cons - cons[0])) < 1e-9 * np.max(np.abs(cons[0]))
    # the reduced weights reproduce the observables of the full-width ODE
    want = ref.ode_flow(U0, W0, sigma_xx=S, sigma_xy=B, times=TIMES, eta_u=eu, eta_w=ew)
    assert _err(Ut @ Wt, want["U"] @ want["W"]) < 1e-7
    assert _err(np.linalg.norm(Ut, axis=(1, 2)), want["norm_u"]) < 1e-7
    full = ew * U0.T @ U0 - eu * W0 @ W0.T
    ev_full = np.sort(np.linalg.eigvalsh(full))
    ev_full = ev_full[np.abs(ev_full) > 1e-10 * np.max(np.abs(ev_full))]
    ev = np.asarray(sol(TIMES).conserved)
    for row in ev:
        row = np.sort(row[np.abs(row) > 1e-10 * np.max(np.abs(row))])
        assert np.allclose(row, ev_full, rtol=1e-9, atol=0)


@pytest.mark.parametrize("kind", ["U0=0", "W0=0", "d<c+m", "both zero"])
def test_rank_deficient_inits(kind):
    X, Y = _data(80, 5, 3, seed=3)
    S, B, yy = ref.moments(X, Y)
    d = 2 if kind == "d<c+m" else 30
    U0, W0 = _init(3, d, 5, 0.3, 0.3, 7)
    if kind in ("U0=0", "both zero"):
        U0 = np.zeros_like(U0)
    if kind in ("W0=0", "both zero"):
        W0 = np.zeros_like(W0)
    times = np.array([0.0, 0.3, 2.0, 10.0, 50.0])
    want = ref.ode_flow(U0, W0, sigma_xx=S, sigma_xy=B, times=times, eta_u=1.3, eta_w=0.8, kappa=0.9,
                        sigma_yy=yy)
    sol = linear.solve(U0, W0, sigma_xx=S, sigma_xy=B, eta_u=1.3, eta_w=0.8, kappa=0.9, sigma_yy=yy)
    _check(sol(times), want, 1e-7)
    kw = dict(lr=0.01, steps=100, eta_u=1.3, eta_w=0.8, kappa=0.9, every=10)
    _check(linear.simulate(U0, W0, X, Y, **kw), ref.numpy_train(U0, W0, X, Y, **kw), 1e-10)


@pytest.mark.parametrize("whitened", [True, False])
def test_flow_follows_saxe_modes(whitened):
    c, m, d = 3, 4, 200
    rng = np.random.default_rng(17)
    B = rng.standard_normal((m, c))
    v0 = np.array([1e-3, 1e-2, 3e-4])
    eu, ew, kap = 1.2, 0.6, 0.8
    U0, W0, A, s, P = ref.saxe_init(B, v0, d, eta_u=eu, eta_w=ew, seed=2)
    lam = np.ones(c) if whitened else np.array([0.4, 1.7, 2.5])
    S = np.eye(m) if whitened else P @ np.diag(lam) @ P.T + 0.9 * (np.eye(m) - P @ P.T)
    times = np.array([0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 60.0])
    v = ref.saxe_modes(s, lam, v0, times=times, eta_u=eu, eta_w=ew, kappa=kap)
    got = np.asarray(linear.solve(U0, W0, sigma_xx=S, sigma_xy=B, eta_u=eu, eta_w=ew, kappa=kap)(times).product)
    want = kap * np.einsum("ai,ti,bi->tab", A, v, P)
    assert _err(got, want) < 1e-7
    # per mode: the singular values of the product are the κ v_i(t)
    sv = np.sort(np.linalg.svd(got, compute_uv=False), axis=1)
    assert np.max(np.abs(sv - np.sort(kap * v, axis=1)) / (kap * np.max(v, axis=1, keepdims=True))) < 1e-7


@pytest.mark.parametrize("lam", [-1.5, -0.4, 0.0, 0.3, 2.0])
def test_flow_matches_domine_lambda_balanced_closed_form(lam):
    c, m, h = 3, 4, 3
    U0, W0 = ref.lambda_balanced_init(c, m, h, lam, scale=0.3, seed=21)
    B = np.random.default_rng(22).standard_normal((m, c))
    kap, eta = 1.1, 0.9
    times = np.array([0.0, 0.1, 0.7, 2.0, 6.0, 15.0])
    want = ref.domine_flow(U0, W0, sigma_xy=B, times=times, lam=lam, kappa=kap, eta=eta)
    sol = linear.solve(U0, W0, sigma_xx=np.eye(m), sigma_xy=B, eta_u=eta, eta_w=eta, kappa=kap)
    _check(sol(times), want, 1e-7)


def test_one_dimensional_case_matches_the_ode():
    """c = m = 1 against the full ODE (the engine may route this case to the 1-D closed form)."""
    rng = np.random.default_rng(32)
    u0, w0 = 0.2 * rng.standard_normal(30), 0.2 * rng.standard_normal(30)
    V, k = 1.3, 0.8
    times = np.array([0.0, 0.1, 1.0, 4.0, 20.0, 100.0])
    kw = dict(sigma_xx=[[V]], sigma_xy=[[k * V]], eta_u=1.4, eta_w=0.6, kappa=0.9, sigma_yy=k * k * V)
    want = ref.ode_flow(u0[None, :], w0[:, None], times=times, **kw)
    _check(linear.solve(u0[None, :], w0[:, None], **kw)(times), want, 1e-7)


def test_one_dimensional_case_matches_featmech_solve():
    import featmech

    rng = np.random.default_rng(31)
    d = 50
    u0, w0 = 0.2 * rng.standard_normal(d), 0.2 * rng.standard_normal(d)
    eu, ew, kap, k, V = 0.7, 1.6, 1.3, -0.9, 0.8
    times = np.array([0.0, 0.1, 1.0, 4.0, 20.0, 200.0])
    one = featmech.solve(u0, w0, eta_u=eu, eta_w=ew, kappa=kap, target=k, data_var=V)(times)
    got = linear.solve(u0[None, :], w0[:, None], sigma_xx=[[V]], sigma_xy=[[k * V]], eta_u=eu, eta_w=ew,
                       kappa=kap, sigma_yy=[[k * k * V]])(times)
    assert _err(np.asarray(got.product)[:, 0, 0], one.output) < 1e-10
    assert _err(got.ntk_trace, one.ntk) < 1e-10
    assert _err(got.norm_u, one.norm_u) < 1e-10
    assert _err(got.norm_w, one.norm_w) < 1e-10
    assert np.max(np.abs(np.asarray(got.alignment) - np.abs(one.alignment))) < 1e-10
    assert np.max(np.abs(np.asarray(got.loss) - np.asarray(one.loss))) < 1e-10 * max(float(np.max(one.loss)), 1.0)


# ----------------------------------------------------------------------------- the Gram route
def _gram_matrix(g):
    """The (c+m)×(c+m) Gram matrix of [U0ᵀ, W0] from whatever the engine returns."""
    for name in ("H", "matrix", "gram"):
        if hasattr(g, name):
            return np.asarray(getattr(g, name), float)
    return np.asarray(g, float)


def test_gram_of_is_the_gram_matrix_of_the_init():
    U0, W0 = _init(3, 40, 4, 0.3, 0.2, 8)
    Z = np.hstack([U0.T, W0])
    assert _err(_gram_matrix(linear.gram_of(U0, W0)), Z.T @ Z) < 1e-13


def test_gram_route_matches_the_full_width_references():
    X, Y = _data(100, 4, 3, seed=1)
    S, B, yy = ref.moments(X, Y)
    U0, W0 = _init(3, 300, 4, 0.05, 0.1, 9)
    g = linear.gram_of(U0, W0)
    want = ref.ode_flow(U0, W0, sigma_xx=S, sigma_xy=B, times=TIMES, eta_u=0.9, eta_w=1.1, kappa=1.0, sigma_yy=yy)
    sol = linear.solve_gram(g, sigma_xx=S, sigma_xy=B, eta_u=0.9, eta_w=1.1, kappa=1.0, sigma_yy=yy)
    _check(sol(TIMES), want, 1e-7)
    kw = dict(lr=0.02, steps=150, eta_u=0.9, eta_w=1.1, momentum=0.5, every=5)
    _check(linear.simulate_gram(g, X, Y, **kw), ref.numpy_train(U0, W0, X, Y, **kw), 1e-10)


def test_reduce_is_an_exact_narrow_network():
    """reduce gives (Ũ, W̃) of width r ≤ c+m with ŨW̃ = U0W0 and the same Gram matrix."""
    U0, W0 = _init(3, 200, 4, 0.3, 0.2, 10)
    red = linear.reduce(U0, W0)
    Ut, Wt = np.asarray(red[0]), np.asarray(red[1])
    assert Ut.shape[1] <= 7 and Wt.shape[0] == Ut.shape[1]
    assert _err(Ut @ Wt, U0 @ W0) < 1e-12
    Z, Zt = np.hstack([U0.T, W0]), np.hstack([Ut.T, Wt])
    assert _err(Zt.T @ Zt, Z.T @ Z) < 1e-12


def test_sampled_gram_has_the_distribution_of_an_explicit_init():
    """KS two-sample tests (loose) on entries of the Gram of [U0ᵀ, W0]: engine sampler vs explicit init."""
    from scipy.stats import ks_2samp

    width, c, m, su, sw, n = 30, 2, 3, 0.7, 1.3, 400
    eng = np.array([_gram_matrix(linear.sample_gram(width, c=c, m=m, sigma_u=su, sigma_w=sw, seed=s))
                    for s in range(n)])
    rng = np.random.default_rng(12345)
    exp = []
    for _ in range(n):
        Z = np.hstack([su * rng.standard_normal((width, c)), sw * rng.standard_normal((width, m))])
        exp.append(Z.T @ Z)
    exp = np.array(exp)
    assert eng.shape == exp.shape
    for i, j in ((0, 0), (0, 1), (c, c), (0, c), (c, c + 1)):
        assert ks_2samp(eng[:, i, j], exp[:, i, j]).pvalue > 1e-3, (i, j)
    assert np.allclose(eng, np.swapaxes(eng, 1, 2))


def test_sampled_gram_at_huge_width_solves():
    X, Y = _data(100, 4, 3, seed=1)
    S, B, _ = ref.moments(X, Y)
    d = 10**12
    g = linear.sample_gram(d, c=3, m=4, sigma_u=1.0, sigma_w=1.0, seed=0)
    G = _gram_matrix(g)
    assert np.allclose(np.diag(G) / d, 1.0, atol=1e-4)
    st = linear.solve_gram(g, sigma_xx=S, sigma_xy=B, eta_u=d, eta_w=d, kappa=1 / d)(np.array([0.0, 1.0, 50.0]))
    assert np.all(np.isfinite(np.asarray(st.product)))


# ------------------------------------------------------------------------------ real data
@pytest.fixture(scope="module")
def digits():
    from featmech.data import load_dataset

    ds = load_dataset("digits")
    X = np.asarray(ds.x_train, float)[:400]
    Y = np.eye(ds.n_classes)[np.asarray(ds.y_train)[:400]]
    return X, Y


@pytest.mark.slow
def test_digits_flow_to_late_times(digits):
    """All the digits training moments (Σ singular: constant pixels), to t = 60, at width 20."""
    from featmech.data import load_dataset

    ds = load_dataset("digits")
    X, Y = np.asarray(ds.x_train, float), np.eye(ds.n_classes)[np.asarray(ds.y_train)]
    S, B, yy = ref.moments(X, Y)
    U0, W0 = _init(10, 20, 64, 0.2, 0.2, 5)
    times = np.array([0.0, 1.0, 5.0, 20.0, 60.0])
    want = ref.ode_flow(U0, W0, sigma_xx=S, sigma_xy=B, times=times, sigma_yy=yy)
    _check(linear.solve(U0, W0, sigma_xx=S, sigma_xy=B, sigma_yy=yy)(times), want, 1e-7)


def test_digits_flow_and_training(digits):
    X, Y = digits
    m, c, d = X.shape[1], Y.shape[1], 300
    S, B, yy = ref.moments(X, Y)
    U0, W0 = _init(c, d, m, 1 / np.sqrt(d), 1 / np.sqrt(d), 13)
    times = np.array([0.0, 0.2, 1.0])
    want = ref.ode_flow(U0, W0, sigma_xx=S, sigma_xy=B, times=times, sigma_yy=yy)
    _check(linear.solve(U0, W0, sigma_xx=S, sigma_xy=B, sigma_yy=yy)(times), want, 1e-7)
    idx = np.random.default_rng(0).integers(0, len(X), size=(60, 32))
    kw = dict(lr=0.02, steps=60, batch_indices=idx, momentum=0.9, every=6)
    _check(linear.simulate(U0, W0, X, Y, **kw), ref.numpy_train(U0, W0, X, Y, **kw), 1e-10)
