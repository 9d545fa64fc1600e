"""The width-free engine of the multi-output linear network (featmech.linear), against independent references:
a plain full-width numpy training loop, scipy's solve_ivp on the full-width ODE, the one-dimensional
closed form and simulator, and Monte Carlo moments of the Wishart distribution."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import featmech
from featmech import linear
from featmech.errors import InputError


def _problem(c=3, m=5, d=500, n=40, seed=0, scale=0.3):
    rng = np.random.default_rng(seed)
    U0 = scale * rng.standard_normal((c, d)) / np.sqrt(d) ** 0.5
    W0 = scale * rng.standard_normal((d, m)) / np.sqrt(d) ** 0.5
    X = rng.standard_normal((n, m))
    Y = X @ rng.standard_normal((m, c)) + 0.1 * rng.standard_normal((n, c))
    return U0, W0, X, Y


def _full_loop(U, W, X, Y, *, lr, steps, eta_u, eta_w, kappa, idx, mu, wd):
    """The plain width-d loop: batch loss mean ½|κUWx − y|², PyTorch SGD conventions."""
    bu, bw = np.zeros_like(U), np.zeros_like(W)
    out = [(U, W)]
    for s in range(steps):
        xb, yb = (X, Y) if idx is None else (X[idx[s]], Y[idx[s]])
        R = kappa * xb @ W.T @ U.T - yb  # (b, c)
        G = kappa * R.T @ xb / len(xb)  # ∂L_b/∂(UW)
        gu, gw = G @ W.T + wd * U, U.T @ G + wd * W
        bu, bw = mu * bu + gu, mu * bw + gw
        U, W = U - lr * eta_u * bu, W - lr * eta_w * bw
        out.append((U, W))
    return out


@pytest.mark.parametrize("mu,wd,batch", [(0.0, 0.0, None), (0.0, 0.0, 8), (0.9, 0.0, 8), (0.5, 0.01, 8),
                                         (0.9, 0.05, None)])
def test_reduced_training_equals_full_width_loop(mu, wd, batch):
    U0, W0, X, Y = _problem()
    steps, kappa, eu, ew, lr = 300, 1.2, 1.5, 0.7, 0.02
    idx = None if batch is None else np.random.default_rng(5).integers(0, len(X), size=(steps, batch))
    res = linear.simulate(U0, W0, X, Y, lr=lr, steps=steps, eta_u=eu, eta_w=ew, kappa=kappa, batch_indices=idx,
                          momentum=mu, weight_decay=wd, every=30)
    traj = _full_loop(U0, W0, X, Y, lr=lr, steps=steps, eta_u=eu, eta_w=ew, kappa=kappa, idx=idx, mu=mu, wd=wd)
    n = len(X)
    for j, s in enumerate(res.steps):
        U, W = traj[s]
        P = kappa * U @ W
        loss = 0.5 * np.sum((X @ P.T - Y) ** 2) / n
        S = X.T @ X / n
        ntk = kappa**2 * (eu * 3 * np.trace(W @ S @ W.T) + ew * np.sum(U * U) * np.trace(S))
        nu, nw = np.linalg.norm(U), np.linalg.norm(W)
        assert np.max(np.abs(res.product[j] - P)) <= 1e-10 * max(1.0, np.abs(P).max())
        assert abs(res.loss[j] - loss) <= 1e-10 * max(1.0, loss)
        assert abs(res.ntk_trace[j] - ntk) <= 1e-10 * ntk
        assert abs(res.norm_u[j] - nu) <= 1e-10 * nu and abs(res.norm_w[j] - nw) <= 1e-10 * nw
        assert abs(res.alignment[j] - np.linalg.norm(U @ W) / (nu * nw)) <= 1e-10
    C = ew * U.T @ U - eu * W @ W.T  # the last record's d×d matrix: its nonzero spectrum is the reduced one
    ev = np.linalg.eigvalsh(C)
    big = ev[np.argsort(np.abs(ev))[-8:]]  # r = c + m = 8 nonzero eigenvalues
    assert np.allclose(np.sort(big), np.sort(res.conserved[-1]), atol=1e-10 * np.abs(ev).max())
    assert not res.diverged and res.diverged_at == -1


def test_sampler_batches_are_exposed_and_replay():
    U0, W0, X, Y = _problem(d=30)
    a = linear.simulate(U0, W0, X, Y, lr=0.05, steps=50, batch_size=7, seed=3, every=10)
    assert a.batch_indices.shape == (50, 7)
    assert all(len(set(row)) == 7 for row in a.batch_indices[:5])  # an epoch's batches are disjoint
    b = linear.simulate(U0, W0, X, Y, lr=0.05, steps=50, batch_indices=np.array(a.batch_indices), every=10)
    assert np.array_equal(a.product, b.product)


def test_divergence_marks_records():
    U0, W0, X, Y = _problem(d=30)
    res = linear.simulate(U0, W0, X, Y, lr=50.0, steps=200, every=1)
    assert res.diverged and res.diverged_at > 0 and not res.converged
    assert np.all(np.isnan(res.loss[res.diverged_at:])) and np.all(np.isfinite(res.loss[: res.diverged_at]))


def test_flow_equals_full_width_solve_ivp():
    c, m, d = 3, 5, 50
    rng = np.random.default_rng(1)
    U0, W0 = 0.3 * rng.standard_normal((c, d)), 0.3 * rng.standard_normal((d, m))
    A = rng.standard_normal((m, m))
    S, B = A @ A.T / m, rng.standard_normal((m, c))
    eu, ew, k = 2.0, 0.5, 1.3

    def rhs(_t, x):
        U, W = x[: c * d].reshape(c, d), x[c * d:].reshape(d, m)
        G = k * (k * U @ W @ S - B.T)
        return np.concatenate([(-eu * G @ W.T).ravel(), (-ew * U.T @ G).ravel()])

    ts = np.array([3.0, 0.0, 0.5, 7.0, 2.0])
    ref = solve_ivp(rhs, (0, 7), np.concatenate([U0.ravel(), W0.ravel()]), method="DOP853", rtol=1e-13,
                    atol=1e-15, t_eval=np.sort(ts))
    P = np.array([k * ref.y[: c * d, i].reshape(c, d) @ ref.y[c * d:, i].reshape(d, m) for i in range(ts.size)])
    sol = linear.solve(U0, W0, sigma_xx=S, sigma_xy=B, eta_u=eu, eta_w=ew, kappa=k)
    st = sol(ts)
    assert st.product.shape == (5, c, m)
    assert np.max(np.abs(st.product[np.argsort(ts)] - P)) <= 1e-7
    assert np.allclose(st.conserved, st.conserved[0], rtol=0, atol=1e-7)  # conserved along the flow
    g = linear.solve_gram(linear.gram_of(U0, W0), sigma_xx=S, sigma_xy=B, eta_u=eu, eta_w=ew, kappa=k)
    assert np.max(np.abs(g(ts).product - st.product)) <= 1e-7


def test_one_dimensional_case_is_the_closed_form():
    rng = np.random.default_rng(2)
    u, w = 0.2 * rng.standard_normal(20), 0.2 * rng.standard_normal(20)
    V, k = 1.7, -0.8
    ts = np.linspace(0, 5, 6)
    sol = linear.solve(u[None, :], w[:, None], sigma_xx=[[V]], sigma_xy=[[V * k]], sigma_yy=V * k * k, eta_u=2.0)
    assert sol.closed_form
    ref = featmech.solve(u, w, eta_u=2.0, target=k, data_var=V)(ts)
    st = sol(ts)
    assert np.allclose(st.product[:, 0, 0], ref.output, rtol=1e-12, atol=1e-14)
    assert np.allclose(st.loss, ref.loss, rtol=1e-10, atol=1e-14)
    assert np.allclose(st.ntk_trace, ref.ntk, rtol=1e-12)
    # and the reduced ODE agrees with it (independent code paths)
    U, W = sol.reduced(ts)
    assert np.allclose((U @ W)[:, 0, 0], ref.output, rtol=0, atol=1e-8)
    # discrete time: the 1-D width-free simulator
    x = rng.standard_normal(64)
    y = 0.5 * x
    res = linear.simulate(u[None, :], w[:, None], x[:, None], y, lr=0.05, steps=200, every=50)
    V1 = float(np.mean(x * x))
    one = featmech.simulate(u, w, lr=0.05, steps=200, every=50, target=float(np.mean(x * y)) / V1, data_var=V1)
    assert np.allclose(res.product[:, 0, 0], one.output, rtol=1e-10, atol=1e-13)


def test_wishart_sampler_moments():
    c, m, d, su, sw = 2, 2, 7, 0.5, 2.0
    sig2 = np.array([su**2] * c + [sw**2] * m)
    for width in (d, 3):  # Bartlett (d ≥ c+m) and the direct draw (d < c+m)
        H = np.array([linear.sample_gram(width, c=c, m=m, sigma_u=su, sigma_w=sw, seed=s).H for s in range(4000)])
        mean = H.mean(0)
        assert np.allclose(mean, width * np.diag(sig2), atol=0.1 * width * sig2.max() / np.sqrt(width))
        var = H.var(0)  # Wishart: Var H_ij = d (Σ_ij² + Σ_ii Σ_jj)
        expect = width * (np.diag(sig2**2) + np.outer(sig2, sig2))
        assert np.allclose(var, expect, rtol=0.15)
    g = linear.sample_gram(3, c=c, m=m, seed=0)
    assert np.linalg.matrix_rank(g.H) == 3 and np.allclose(g.factor.T @ g.factor, g.H)


def test_wishart_sampler_at_huge_width():
    d, su, sw = 10**12, 0.3, 1.5
    zs = []
    for s in range(20):
        g = linear.sample_gram(d, c=2, m=3, sigma_u=su, sigma_w=sw, seed=s)
        sig = np.array([su] * 2 + [sw] * 3)
        Hn = g.H / np.outer(sig, sig)
        zs.append(np.concatenate([(np.diag(Hn) - d) / np.sqrt(2 * d), Hn[np.triu_indices(5, 1)] / np.sqrt(d)]))
    z = np.array(zs)
    assert np.all(np.abs(z) < 6) and abs(z.mean()) < 0.5 and 0.6 < z.std() < 1.4
    assert np.all(np.isfinite(linear.sample_gram(10**15, c=3, m=4, sigma_w=10.0).H))


def test_wide_mean_field_training_is_finite():
    g = linear.sample_gram(10**15, c=2, m=3, seed=0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    Y = X @ np.ones((3, 2))
    d = g.width
    res = linear.simulate_gram(g, X, Y, lr=0.1, steps=400, eta_u=d, eta_w=d, kappa=1.0 / d, every=100)
    assert res.converged and res.loss[-1] < 1e-12


@pytest.mark.parametrize("call,match", [
    (lambda: linear.solve(np.ones((2, 3)), np.ones((4, 2)), sigma_xx=np.eye(2), sigma_xy=np.ones((2, 2))), "width"),
    (lambda: linear.solve(np.ones((2, 3)), np.ones((3, 2)), sigma_xx=[[1, 2], [0, 1]], sigma_xy=np.ones((2, 2))),
     "sigma_xx"),
    (lambda: linear.solve(np.ones((2, 3)), np.ones((3, 2)), sigma_xx=-np.eye(2), sigma_xy=np.ones((2, 2))),
     "sigma_xx"),
    (lambda: linear.solve(np.ones((2, 3)), np.ones((3, 2)), sigma_xx=np.eye(2), sigma_xy=np.ones((2, 3))),
     "sigma_xy"),
    (lambda: linear.solve(np.ones((2, 3)), np.ones((3, 2)), sigma_xx=np.eye(2), sigma_xy=np.ones((2, 2)),
                          eta_u=-1.0), r"eta_u must be in \[0, inf\)"),
    (lambda: linear.solve(np.ones((2, 3)), np.ones((3, 2)), sigma_xx=np.eye(2), sigma_xy=np.ones((2, 2)),
                          kappa=-1.0), "kappa"),
    (lambda: linear.solve(np.full((2, 3), np.nan), np.ones((3, 2)), sigma_xx=np.eye(2), sigma_xy=np.ones((2, 2))),
     "U0"),
    (lambda: linear.solve(np.ones((2, 3)), np.ones((3, 2)), sigma_xx=np.eye(2), sigma_xy=np.ones((2, 2)))(-1.0),
     "t must"),
    (lambda: linear.solve(np.ones((2, 3)), np.ones((3, 2)), sigma_xx=np.eye(2), sigma_xy=np.ones((2, 2)))(np.nan),
     "t must"),
    (lambda: linear.simulate(np.ones((2, 3)), np.ones((3, 2)), np.ones((5, 2)), np.ones((5, 2)), lr=0.1, steps=3,
                             momentum=1.0), r"momentum must be in \[0, 1\)"),
    (lambda: linear.simulate(np.ones((2, 3)), np.ones((3, 2)), np.ones((5, 2)), np.ones((5, 2)), lr=0.1, steps=3,
                             grams="yes"), "grams"),
    (lambda: linear.sample_gram(0, c=1, m=1), "width"),
    (lambda: linear.sample_gram(10, c=0, m=1), "c must"),
    (lambda: linear.simulate(np.ones((2, 3)), np.ones((3, 2)), np.ones((5, 2)), np.ones((5, 3)), lr=0.1, steps=3),
     "Y must"),
    (lambda: linear.simulate(np.ones((2, 3)), np.ones((3, 2)), np.ones((5, 2)), np.ones((5, 2)), lr=0.1, steps=3,
                             batch_size=9), "batch_size"),
    (lambda: linear.simulate(np.ones((2, 3)), np.ones((3, 2)), np.ones((5, 2)), np.ones((5, 2)), lr=0.1, steps=3,
                             batch_indices=np.zeros((2, 2), dtype=int)), "batch_indices"),
    (lambda: linear.simulate(np.ones((2, 3)), np.ones((3, 2)), np.ones((5, 2)), np.ones((5, 2)), lr=0.0, steps=3),
     "lr"),
    (lambda: linear.solve_gram("H", sigma_xx=np.eye(2), sigma_xy=np.ones((2, 2))), "gram"),
])
def test_input_errors(call, match):
    with pytest.raises(InputError, match=match):
        call()


# ------------------------------------------------------------------ gaps closed after the first release
def _moments(X, Y):
    n = len(X)
    return X.T @ X / n, X.T @ Y / n, float(np.sum(Y * Y) / n)


def test_call_at_zero_before_any_integration_is_the_init():
    """sol(0.0) as the very first call (no segment integrated yet) is the state of the given weights."""
    U0, W0, X, Y = _problem(d=40)
    S, B, yy = _moments(X, Y)
    k = 1.3
    st = linear.solve(U0, W0, sigma_xx=S, sigma_xy=B, sigma_yy=yy, kappa=k)(0.0)
    P = k * U0 @ W0
    assert np.allclose(st.product, P, rtol=0, atol=1e-13)
    assert np.isclose(st.loss, 0.5 * np.mean(np.sum((X @ P.T - Y) ** 2, axis=1)), rtol=1e-12)
    assert np.isclose(st.norm_u, np.linalg.norm(U0), rtol=1e-12)
    sol = linear.solve(U0, W0, sigma_xx=S, sigma_xy=B)
    assert sol(np.zeros((2, 3))).loss.shape == (2, 3) and sol.t_max == 0.0
    U, W = sol.reduced(0.0)
    assert np.allclose(U @ W, U0 @ W0, atol=1e-13)


@pytest.mark.parametrize("frozen", ["eta_u", "eta_w"])
def test_zero_learning_rate_multiplier_freezes_the_layer(frozen):
    """η = 0 freezes a layer (as in the 1-D engine): flow vs solve_ivp on the full ODE, GD vs the full loop."""
    c, m, d = 2, 3, 30
    rng = np.random.default_rng(4)
    U0, W0 = 0.4 * rng.standard_normal((c, d)), 0.4 * rng.standard_normal((d, m))
    A = rng.standard_normal((m, m))
    S, B = A @ A.T / m + np.eye(m), rng.standard_normal((m, c))
    eu, ew = (0.0, 1.3) if frozen == "eta_u" else (1.3, 0.0)

    def rhs(_t, x):
        U, W = x[: c * d].reshape(c, d), x[c * d:].reshape(d, m)
        G = U @ W @ S - B.T
        return np.concatenate([(-eu * G @ W.T).ravel(), (-ew * U.T @ G).ravel()])

    ref = solve_ivp(rhs, (0, 3), np.concatenate([U0.ravel(), W0.ravel()]), method="DOP853", rtol=1e-13,
                    atol=1e-15, t_eval=[3.0])
    Uf, Wf = ref.y[: c * d, -1].reshape(c, d), ref.y[c * d:, -1].reshape(d, m)
    st = linear.solve(U0, W0, sigma_xx=S, sigma_xy=B, eta_u=eu, eta_w=ew)(3.0)
    assert np.max(np.abs(st.product - Uf @ Wf)) <= 1e-8
    frozen_norm = np.linalg.norm(U0) if frozen == "eta_u" else np.linalg.norm(W0)
    assert np.isclose(st.norm_u if frozen == "eta_u" else st.norm_w, frozen_norm, rtol=1e-9)
    X = rng.standard_normal((20, m))
    Y = X @ rng.standard_normal((m, c))
    res = linear.simulate(U0, W0, X, Y, lr=0.05, steps=40, eta_u=eu, eta_w=ew, every=40)
    U, W = _full_loop(U0, W0, X, Y, lr=0.05, steps=40, eta_u=eu, eta_w=ew, kappa=1.0, idx=None, mu=0.0,
                      wd=0.0)[-1]
    assert np.max(np.abs(res.product[-1] - U @ W)) <= 1e-12


def test_flow_at_infinity_is_the_least_squares_fit():
    """sol(inf) from a small random init is the global minimum: κUW = the least-squares map of (X, Y)."""
    U0, W0, X, Y = _problem(c=3, m=4, d=60, n=50, scale=0.05)
    S, B, yy = _moments(X, Y)
    k = 0.7
    sol = linear.solve(U0, W0, sigma_xx=S, sigma_xy=B, sigma_yy=yy, kappa=k)
    st = sol(np.array([np.inf, 1.0]))
    Mls = np.linalg.lstsq(X, Y, rcond=None)[0].T  # c×m
    assert np.max(np.abs(st.product[0] - Mls)) <= 1e-7 * np.abs(Mls).max()
    resid = 0.5 * np.mean(np.sum((X @ Mls.T - Y) ** 2, axis=1))
    assert np.isclose(st.loss[0], resid, rtol=1e-8)
    assert sol.t_converged is not None and np.isfinite(sol.t_converged)
    assert np.allclose(st.conserved[0], sol.conserved, atol=1e-7)  # the limit keeps the invariant
    later = sol(sol.t_converged * 4).product
    assert np.max(np.abs(later - st.product[0])) <= 1e-8


def test_flow_at_infinity_one_dimensional_and_at_a_critical_point():
    rng = np.random.default_rng(3)
    u, w = 0.1 * rng.standard_normal(20), 0.1 * rng.standard_normal(20)
    sol = linear.solve(u[None, :], w[:, None], sigma_xx=[[2.0]], sigma_xy=[[1.0]], eta_u=1.5)
    ref = featmech.solve(u, w, eta_u=1.5, target=0.5, data_var=2.0)(np.inf)
    assert sol.closed_form and np.isclose(float(sol(np.inf).product[0, 0]), float(ref.output), rtol=1e-12)
    zero = linear.solve(np.zeros((2, 5)), np.zeros((5, 3)), sigma_xx=np.eye(3), sigma_xy=np.ones((3, 2)))
    assert np.all(zero(np.inf).product == 0.0)  # the origin is a critical point: the flow stays there


def test_gram_route_of_tall_weights_is_the_gram_matrix():
    """gram_of at d ≫ c+m (Gram/Cholesky route) and for very unequal columns (QR): RᵀR = M₀ᵀM₀."""
    rng = np.random.default_rng(6)
    for su, sw in ((1.0, 1.0), (1.0, 1e-9)):
        U0, W0 = su * rng.standard_normal((4, 3000)), sw * rng.standard_normal((3000, 6))
        M = np.concatenate([U0.T, W0], axis=1)
        H = M.T @ M
        g = linear.gram_of(U0, W0)
        D = np.sqrt(np.diag(H))
        assert np.max(np.abs(g.H - H) / np.outer(D, D)) <= 1e-13
        Ur, Wr = g.reduced()
        assert np.max(np.abs(Ur @ Wr - U0 @ W0)) <= 1e-12 * np.abs(U0).max() * np.abs(W0).max() * 60


def test_simulation_records_layer_grams():
    """gram_u, gram_w of the reduced run are UUᵀ, WᵀW of the full-width loop."""
    U0, W0, X, Y = _problem(d=200)
    idx = np.random.default_rng(2).integers(0, len(X), size=(60, 8))
    res = linear.simulate(U0, W0, X, Y, lr=0.03, steps=60, batch_indices=idx, momentum=0.5, every=20)
    traj = _full_loop(U0, W0, X, Y, lr=0.03, steps=60, eta_u=1.0, eta_w=1.0, kappa=1.0, idx=idx, mu=0.5, wd=0.0)
    for j, s in enumerate(res.steps):
        U, W = traj[s]
        assert np.allclose(res.gram_u[j], U @ U.T, rtol=0, atol=1e-12 * np.abs(U @ U.T).max())
        assert np.allclose(res.gram_w[j], W.T @ W, rtol=0, atol=1e-12 * np.abs(W.T @ W).max())
    assert linear.simulate(U0, W0, X, Y, lr=0.03, steps=5, grams=False).gram_u is None


def test_sgd_divergence_step_is_that_of_the_full_data_loss_rule():
    """SGD bounds the full-data loss before computing it; the step it diverges at is the first step at which the
    full-width loop's full-data loss exceeds F²·max(L₀, ½mean|y|²) (the rule, evaluated at every step)."""
    U0, W0, X, Y = _problem(d=30)
    idx = np.random.default_rng(1).integers(0, len(X), size=(300, 8))
    F = 1e3
    res = linear.simulate(U0, W0, X, Y, lr=0.9, steps=300, batch_indices=idx, every=1, divergence_factor=F)
    with np.errstate(all="ignore"):  # the reference loop runs on past the blow-up
        traj = _full_loop(U0, W0, X, Y, lr=0.9, steps=300, eta_u=1.0, eta_w=1.0, kappa=1.0, idx=idx, mu=0.0,
                          wd=0.0)
        loss = np.array([0.5 * np.mean(np.sum((X @ (U @ W).T - Y) ** 2, axis=1)) for U, W in traj])
    limit = F * F * max(loss[0], 0.5 * np.mean(np.sum(Y * Y, axis=1)))
    first = int(np.flatnonzero(~(loss <= limit))[0])
    assert res.diverged and res.diverged_at == first
    assert np.allclose(res.loss[:first], loss[:first], rtol=1e-9)


def test_draw_batches_refuses_a_batch_larger_than_the_data():
    with pytest.raises(InputError, match="batch_size"):  # was ZeroDivisionError
        linear.draw_batches(10, 20, 5, 0)
    with pytest.raises(InputError, match="steps"):
        linear.draw_batches(10, 2, -1, 0)


@pytest.mark.parametrize("c, m", [(2, 4), (1, 1)])
def test_loss_with_targets_is_never_below_zero(c, m):
    """Realizable targets Y = XA: the least loss is 0, and the loss (with E|y|²) is ≥ 0 at every time and at
    the limit (it used to round to −8e−16); the limit against a plain least-squares residual."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, m))
    Y = X @ rng.standard_normal((m, c))
    n = len(X)
    S, B, yy = X.T @ X / n, X.T @ Y / n, float(np.sum(Y * Y) / n)
    for kappa, eta in ((1.0, 1.0), (1e-12, 1e12)):
        g = linear.sample_gram(10**12 if kappa < 1 else 300, c=c, m=m, sigma_u=1.0 if kappa < 1 else 0.1,
                               sigma_w=1.0 if kappa < 1 else 0.1, seed=0)
        sol = linear.solve_gram(g, sigma_xx=S, sigma_xy=B, sigma_yy=yy, eta_u=eta, eta_w=eta, kappa=kappa)
        loss = sol(np.array([0.0, 1.0, 10.0, 100.0, np.inf])).loss
        assert np.all(loss >= 0.0)
        P = sol(np.inf).product
        ref = 0.5 * np.mean(np.sum((X @ P.T - Y) ** 2, axis=1))  # the plain data loss at the limit
        assert abs(loss[-1] - ref) < 1e-9


def test_runs_that_would_keep_more_than_1e8_numbers_are_refused_up_front():
    """A billion records or drawn batch indices used to fill the memory (a MemoryError traceback)."""
    U0, W0, X, Y = _problem(c=2, m=3, d=20)
    with pytest.raises(InputError, match="every >= "):
        linear.simulate(U0, W0, X, Y, lr=1e-3, steps=10**9, every=1)
    with pytest.raises(InputError, match="steps × batch_size"):
        linear.simulate(U0, W0, X, Y, lr=1e-3, steps=10**9, every=10**8, batch_size=10)
    res = linear.simulate(U0, W0, X, Y, lr=1e-3, steps=20, every=1)  # an ordinary run keeps every step
    assert res.steps.tolist() == list(range(21))
