"""Self-tests of the multi-output references (tests/linear_reference.py): each is validated against
another independent one, so that the engine is compared with something known to be right."""

from __future__ import annotations

import numpy as np
import pytest

import linear_reference as lr
from reference import mp_closed_form


def _data(n, m, c, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m)) @ (np.eye(m) + 0.3 * rng.standard_normal((m, m)))
    T = rng.standard_normal((m, c))
    Y = X @ T + noise * rng.standard_normal((n, c))
    return X, Y


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def test_ode_matches_the_one_dimensional_closed_form():
    """c = m = 1: the full ODE against docs/theory.md §2 in 250-digit mpmath."""
    rng = np.random.default_rng(3)
    d = 20
    u0, w0 = 0.3 * rng.standard_normal(d), 0.3 * rng.standard_normal(d)
    eu, ew, kap, k, V = 0.7, 1.6, 1.3, 1.1, 0.8
    times = np.array([0.0, 0.3, 1.0, 3.0, 10.0, 30.0])
    ref = lr.ode_flow(u0[None, :], w0[:, None], sigma_xx=[[V]], sigma_xy=[[k * V]], times=times, eta_u=eu,
                      eta_w=ew, kappa=kap, sigma_yy=k**2 * V)
    mp_ = mp_closed_form(u0 @ u0, w0 @ w0, u0 @ w0, eta_u=eu, eta_w=ew, kappa=kap, target=k, data_var=V,
                         times=times)
    assert _rel(ref["product"][:, 0, 0], np.array(mp_["output"], float)) < 1e-10
    assert _rel(ref["ntk_trace"], np.array(mp_["ntk"], float)) < 1e-10
    assert _rel(ref["norm_u"], np.array(mp_["norm_u"], float)) < 1e-10
    assert _rel(ref["norm_w"], np.array(mp_["norm_w"], float)) < 1e-10
    # the multi-output ζ is a ratio of Frobenius norms: |ζ| of the one-dimensional signed one
    assert np.max(np.abs(ref["alignment"] - np.abs(np.array(mp_["alignment"], float)))) < 1e-10
    assert np.max(np.abs(ref["loss"] - np.array(mp_["loss"], float))) < 1e-10


def test_ode_conserves_the_gram_difference():
    X, Y = _data(200, 4, 3)
    S, B, yy = lr.moments(X, Y)
    rng = np.random.default_rng(1)
    U0, W0 = 0.2 * rng.standard_normal((3, 30)), 0.2 * rng.standard_normal((30, 4))
    ref = lr.ode_flow(U0, W0, sigma_xx=S, sigma_xy=B, times=[0, 1, 5, 20], eta_u=0.5, eta_w=2.0, kappa=0.9,
                      sigma_yy=yy)
    C = ref["conserved"]
    assert np.max(np.abs(C - C[0])) < 1e-10 * np.max(np.abs(C[0]))
    assert ref["loss"][-1] < 0.5 * ref["loss"][0]  # it trains


@pytest.mark.parametrize("momentum,weight_decay,batched", [(0.0, 0.0, False), (0.0, 0.0, True), (0.9, 0.0, True),
                                                           (0.5, 0.01, False), (0.8, 0.05, True)])
def test_numpy_loop_matches_torch_autograd(momentum, weight_decay, batched):
    X, Y = _data(64, 5, 3, seed=2)
    rng = np.random.default_rng(4)
    d = 40
    U0, W0 = rng.standard_normal((3, d)) / np.sqrt(d), rng.standard_normal((d, 5)) / np.sqrt(5)
    steps = 60
    idx = rng.integers(0, 64, size=(steps, 8)) if batched else None
    kw = dict(lr=0.02, steps=steps, eta_u=0.7, eta_w=1.3, kappa=1.1, batch_indices=idx, momentum=momentum,
              weight_decay=weight_decay, every=7)
    a = lr.numpy_train(U0, W0, X, Y, **kw)
    b = lr.torch_train(U0, W0, X, Y, **kw)
    assert a["U"].shape[0] == len(lr.record_steps(steps, 7)) == 10
    for key in ("U", "W", "product", "loss", "ntk_trace", "alignment"):
        assert _rel(a[key], b[key]) < 1e-12, key


def test_numpy_loop_tends_to_the_flow_as_lr_shrinks():
    X, Y = _data(100, 3, 2, seed=5)
    S, B, yy = lr.moments(X, Y)
    rng = np.random.default_rng(6)
    U0, W0 = 0.3 * rng.standard_normal((2, 10)), 0.3 * rng.standard_normal((10, 3))
    T = 2.0
    ode = lr.ode_flow(U0, W0, sigma_xx=S, sigma_xy=B, times=[T], sigma_yy=yy)
    errs = []
    for h in (1e-2, 5e-3):
        g = lr.numpy_train(U0, W0, X, Y, lr=h, steps=int(round(T / h)), every=10**6)
        errs.append(np.max(np.abs(g["product"][-1] - ode["product"][-1])))
    assert errs[1] < 0.6 * errs[0] and errs[0] < 0.05  # first-order convergence


@pytest.mark.parametrize("whitened", [True, False])
def test_saxe_modes_match_the_ode(whitened):
    c, m, d = 3, 4, 25
    rng = np.random.default_rng(7)
    B = rng.standard_normal((m, c))
    v0 = np.array([1e-2, 3e-3, 1e-3])
    eu, ew, kap = 0.8, 1.5, 1.2
    U0, W0, A, s, P = lr.saxe_init(B, v0, d, eta_u=eu, eta_w=ew, seed=1)
    if whitened:
        S, lam = np.eye(m), np.ones(c)
    else:  # Σ shares B's right singular vectors: Σ P = P diag(λ)
        lam = np.array([0.5, 2.0, 1.3])
        S = P @ np.diag(lam) @ P.T + 0.7 * (np.eye(m) - P @ P.T)
    times = np.array([0.0, 0.5, 2.0, 5.0, 10.0, 40.0])
    ode = lr.ode_flow(U0, W0, sigma_xx=S, sigma_xy=B, times=times, eta_u=eu, eta_w=ew, kappa=kap)
    v = lr.saxe_modes(s, lam, v0, times=times, eta_u=eu, eta_w=ew, kappa=kap)
    pred = kap * np.einsum("ai,ti,bi->tab", A, v, P)
    assert np.max(np.abs(pred - ode["product"])) < 1e-9 * np.max(np.abs(pred))
    # it went through the sigmoid: the late product is the regression solution on the span
    assert np.allclose(v[-1], s / (kap * lam), rtol=1e-6)


@pytest.mark.parametrize("lam", [-1.5, -0.4, 0.0, 0.3, 2.0])
def test_domine_closed_form_matches_the_ode(lam):
    c, m, h = 3, 4, 3
    U0, W0 = lr.lambda_balanced_init(c, m, h, lam, scale=0.3, seed=11)
    assert np.max(np.abs(U0.T @ U0 - W0 @ W0.T - lam * np.eye(h))) < 1e-12
    B = np.random.default_rng(12).standard_normal((m, c))
    kap, eta = 0.9, 1.4
    times = np.array([0.0, 0.2, 1.0, 3.0, 8.0, 20.0])
    ode = lr.ode_flow(U0, W0, sigma_xx=np.eye(m), sigma_xy=B, times=times, eta_u=eta, eta_w=eta, kappa=kap)
    dom = lr.domine_flow(U0, W0, sigma_xy=B, times=times, lam=lam, kappa=kap, eta=eta)
    assert _rel(dom["product"], ode["product"]) < 1e-9
    for key in ("norm_u", "norm_w", "alignment", "ntk_trace", "loss"):
        assert _rel(dom[key], ode[key]) < 1e-9, key
    assert _rel(dom["UUt"], ode["U"] @ np.swapaxes(ode["U"], 1, 2)) < 1e-9
