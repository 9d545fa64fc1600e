"""The linear network on data moments (featmech.analysis.linear, `featmech linear`): classification
against independent references (the 1-D closed-form rule, scipy's solve_ivp on the full-width ODE),
moments against direct numpy sums, phase tables, the CLI, and hostile CLI input."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import featmech
from featmech.analysis.linear import classify, gap, modes, moments, phase
from featmech.analysis.regimes import classify_solution
from featmech.cli.main import main
from featmech.errors import InputError
from featmech.theory.linear import sample_gram, solve, solve_gram


class OdeSolution:
    """The full-width flow dU = −η_u G Wᵀ, dW = −η_w Uᵀ G, G = κ(κUWΣ − Bᵀ) by scipy (independent reference)."""

    def __init__(self, U0, W0, sxx, sxy, eta_u=1.0, eta_w=1.0, kappa=1.0, t_max=1e4):
        c, d = U0.shape
        m = W0.shape[1]
        self.shape = (c, d, m)
        self.eta_u, self.eta_w, self.kappa = eta_u, eta_w, kappa

        def f(t, y):
            U, W = y[:c * d].reshape(c, d), y[c * d:].reshape(d, m)
            G = kappa * (kappa * U @ W @ sxx - sxy.T)
            return np.concatenate([(-eta_u * G @ W.T).ravel(), (-eta_w * U.T @ G).ravel()])

        self.ode = solve_ivp(f, (0, t_max), np.concatenate([U0.ravel(), W0.ravel()]), method="DOP853", rtol=1e-11,
                             atol=1e-13, dense_output=True)

    def __call__(self, t):
        c, d, m = self.shape
        t = np.atleast_1d(np.asarray(t, float))
        y = self.ode.sol(np.minimum(t, self.ode.t[-1])).T
        U, W = y[:, :c * d].reshape(-1, c, d), y[:, c * d:].reshape(-1, d, m)
        return SimpleNamespace(product=self.kappa * U @ W, U=U, W=W, norm_u=np.linalg.norm(U, axis=(1, 2)),
                               norm_w=np.linalg.norm(W, axis=(1, 2)))


def _data(seed=0, n=300, m=3, c=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m)) * np.array([1.0, 0.7, 0.4])[:m]
    Y = X @ rng.standard_normal((m, c)) + 0.1 * rng.standard_normal((n, c))
    return X, Y


def test_moments_against_numpy():
    X, Y = _data()
    mo = moments(X, Y)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    assert np.allclose(mo.sigma_xx, Xc.T @ Xc / len(X)) and np.allclose(mo.sigma_xy, Xc.T @ Yc / len(X))
    # the optimum is least squares, and L* is its loss
    Mls = np.linalg.lstsq(Xc, Yc, rcond=None)[0].T
    assert np.allclose(mo.optimum, Mls, atol=1e-10)
    assert mo.min_loss == pytest.approx(0.5 * np.mean(np.sum((Xc @ Mls.T - Yc) ** 2, axis=1)), rel=1e-10)
    M = np.random.default_rng(1).standard_normal((2, 3))
    direct = 0.5 * np.mean(np.sum((Xc @ M.T - Yc) ** 2, axis=1))
    assert mo.loss(M) == pytest.approx(direct, rel=1e-12)
    assert gap(mo, M) == pytest.approx(direct - mo.min_loss, rel=1e-10)


def test_digits_moments_one_hot_and_whitening():
    mo = moments("digits", components=6, scale="whiten")
    assert (mo.m, mo.c) == (6, 10) and np.allclose(mo.sigma_xx, np.eye(6), atol=1e-10)
    assert modes(mo).decoupled  # Σ = I commutes with BBᵀ
    raw = moments("digits", center=False)
    ds = featmech.data.load_dataset("digits")
    onehot = np.eye(10)[ds.y_train]
    assert np.allclose(raw.sigma_xy, ds.x_train.T @ onehot / len(ds.x_train))
    assert raw.yy == pytest.approx(1.0)


@pytest.mark.parametrize("sig, rho_like, kappa, target", [(0.03, 0.0, 1.0, 1.0), (1.0, 0.0, 0.03, 1.0),
                                                           (1.0, 0.9, 1e-3, 0.05)])
def test_one_dimensional_case_agrees_with_the_closed_form_rule(sig, rho_like, kappa, target):
    rng = np.random.default_rng(3)
    d, V = 200, 1.5
    u0 = rng.standard_normal(d) * sig
    w0 = (rho_like * u0 + np.sqrt(1 - rho_like**2) * rng.standard_normal(d) * sig)
    ref = classify_solution(featmech.solve(u0, w0, kappa=kappa, target=target, data_var=V))
    mo = moments(np.array([[np.sqrt(V)], [-np.sqrt(V)]]), np.array([[target * np.sqrt(V)], [-target * np.sqrt(V)]]),
                 center=False)
    sol = solve(u0[None, :], w0[:, None], sigma_xx=mo.sigma_xx, sigma_xy=mo.sigma_xy, kappa=kappa)
    cl = classify(sol, mo)
    assert cl.category == ref.category
    assert cl.classification.ntk_max_deviation == pytest.approx(ref.ntk_max_deviation, rel=0.02, abs=1e-6)
    assert cl.classification.alignment_end == pytest.approx(abs(ref.alignment_end), abs=1e-3)
    assert cl.modes[0].classification.category == ref.category  # the one mode is the network


def test_against_the_full_width_ode():
    X, Y = _data()
    mo = moments(X, Y)
    rng = np.random.default_rng(0)
    d = 30
    for s, kappa, want in [(0.02, 1.0, "feature/alignment"), (1.0, 1.0, None)]:
        U0, W0 = rng.standard_normal((2, d)) * s, rng.standard_normal((d, 3)) * s
        ref = classify(OdeSolution(U0, W0, mo.sigma_xx, mo.sigma_xy, kappa=kappa, t_max=1e3), mo, eta_u=1.0,
                       eta_w=1.0, kappa=kappa)
        eng = classify(solve(U0, W0, sigma_xx=mo.sigma_xx, sigma_xy=mo.sigma_xy, kappa=kappa), mo)
        assert ref.category == eng.category and (want is None or ref.category == want)
        assert eng.classification.ntk_max_deviation == pytest.approx(ref.classification.ntk_max_deviation,
                                                                     rel=0.05)


def test_huge_width_ntk_scaling_is_kernel_and_small_init_aligns():
    mo = moments("digits", components=4, scale="whiten")
    d = 10**12
    g = sample_gram(d, c=mo.c, m=mo.m, sigma_u=1.0, sigma_w=1.0, seed=0)
    cl = classify(solve_gram(g, sigma_xx=mo.sigma_xx, sigma_xy=mo.sigma_xy, kappa=d**-0.5), mo)
    assert cl.category == "kernel" and cl.classification.ntk_max_deviation < 1e-6
    g = sample_gram(1000, c=mo.c, m=mo.m, sigma_u=1e-3, sigma_w=1e-3, seed=0)
    cl = classify(solve_gram(g, sigma_xx=mo.sigma_xx, sigma_xy=mo.sigma_xy), mo)
    assert cl.category == "feature/alignment"
    assert all(m.classification.category == "feature/alignment" for m in cl.modes)
    assert cl.exact_modes


def test_unbalanced_init_rescales_the_small_layer_without_moving_the_trace():
    """σ_w ≪ σ_u: W grows by a large factor, U stays; the trace K is carried by η_w tr Σ ‖U‖², so it
    hardly moves (the rule calls it kernel) — measured against the norms, not the labels alone."""
    mo = moments("digits", components=2, scale="whiten")
    g = sample_gram(100, c=mo.c, m=mo.m, sigma_u=1.0, sigma_w=1e-4, seed=0)
    cl = classify(solve_gram(g, sigma_xx=mo.sigma_xx, sigma_xy=mo.sigma_xy, kappa=0.1), mo)
    c = cl.classification
    assert c.norm_w_change > 100 and abs(c.norm_u_change - 1) < 1e-2 and c.balance_change < 1e-2
    tr = cl.trajectory
    K_w = 0.1**2 * mo.c * tr.norm_w**2  # whitened Σ = I: tr(WΣWᵀ) = ‖W‖²
    assert np.allclose(tr.ntk, K_w + 0.1**2 * mo.m * tr.norm_u**2, rtol=1e-8)
    assert cl.category == "kernel"


def test_phase_table_shape():
    mo = moments("digits", components=2, scale="whiten")
    ph = phase(mo, "width=10,1000", "kappa=1e-4,1", {"sigma_u": 0.1, "sigma_w": 0.1}, points=30)
    t = ph.table()
    assert ph.shape == (1, 2, 2) and t.n_rows == 4
    assert set(t.columns["category"]) <= {"kernel", "feature/alignment", "feature/disalignment",
                                           "feature/rescaling", "undetermined", "unstable"}
    with pytest.raises(InputError):
        phase(mo, "rho=0,0.5", "kappa=1,2")


def test_cli_json_equals_the_api(capsys):
    args = ["linear", "--dataset", "digits", "--components", "3", "--width", "1000", "--sigma-u", "0.01",
            "--sigma-w", "0.01", "--points", "60", "--format", "json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    mo = moments("digits", components=3, scale="whiten")
    g = sample_gram(1000, c=10, m=3, sigma_u=0.01, sigma_w=0.01, seed=0)
    cl = classify(solve_gram(g, sigma_xx=mo.sigma_xx, sigma_xy=mo.sigma_xy, sigma_yy=mo.sigma_yy), mo, points=60)
    assert out["summary"]["category"] == cl.category
    assert out["summary"]["ntk_max_deviation"] == pytest.approx(cl.classification.ntk_max_deviation, rel=1e-9)
    assert [m["classification"]["regime"] for m in out["modes"]] == [str(m.classification.regime) for m in cl.modes]


def test_cli_csv_and_gd(capsys):
    assert main(["linear", "--dataset", "digits", "--components", "2", "--width", "100", "--sigma-u", "0.1",
                 "--sigma-w", "0.1", "--lr", "0.2", "--steps", "300", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("mode,target") and len(lines) == 3


HOSTILE = [
    (["linear", "--dataset", "imagenet"], "dataset"),
    (["linear", "--width", "-3"], "width"),
    (["linear", "--kappa", "nan"], "kappa"),
    (["linear", "--components", "0"], "components"),
    (["linear", "--components", "65"], "components"),
    (["linear", "--scale", "whiten", "--center", "--eta-u", "-1"], "eta_u"),
    (["linear", "--times", "1,0"], "times"),
    (["linear", "--times", "0,inf"], "finite"),  # the parser used to say "inf allowed", then the engine refused it
    (["linear", "--lr", "-1"], "lr"),
    (["linear", "--lr", "0.1", "--times", "0,1"], "--times"),
    (["linear-phase", "--x", "rho=0,1", "--y", "kappa=1,2"], "rho"),
    (["linear-phase", "--x", "kappa=1,2", "--y", "kappa=1,3"], "kappa"),
    (["linear-phase", "--x", "width=10,100", "--y", "kappa=1,2", "--set", "width=5"], "width"),
    (["linear-phase", "--x", "width=10,100"], "--y"),
    (["linear", "--points", "1"], "--points"),
    (["linear-phase", "--x", "width=10,100", "--y", "kappa=1,2", "--points", "20000"], "--points"),
]


def test_points_help_states_the_linear_range(capsys):
    """--points of linear and linear-phase show the range the analysis accepts ([2, MAX_POINTS])."""
    from featmech.analysis.linear import MAX_POINTS

    for cmd in ("linear", "linear-phase"):
        assert main([cmd, "--help"]) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert f"2<=x<={MAX_POINTS}" in out and "1e+07" not in out


@pytest.mark.parametrize("args, word", HOSTILE, ids=[" ".join(a[1:3]) for a, _ in HOSTILE])
def test_hostile_linear_invocations_exit_2_with_one_line(args, word, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("featmech: error:") and word in err[0]


def test_discrete_run_has_per_mode_labels_from_its_recorded_grams():
    """A GD record carries UUᵀ and WᵀW: its per-mode ζ_α equal u_α·w_α/(|u_α||w_α|) of the full-width loop
    (u_α = Uᵀa_α, w_α = W b_α), and every mode gets a label (not "undetermined")."""
    from featmech.theory.linear import simulate

    rng = np.random.default_rng(0)
    n, m, c, d = 80, 3, 2, 60
    X = rng.standard_normal((n, m))
    Y = X @ np.array([[2.0, 0.0], [0.0, 1.0], [0.5, 0.3]]) + 0.05 * rng.standard_normal((n, c))
    mo = moments(X, Y, center=False)
    U, W = 1e-3 * rng.standard_normal((c, d)), 1e-3 * rng.standard_normal((d, m))
    lr, steps, every = 0.1, 1500, 50
    res = simulate(U, W, X, Y, lr=lr, steps=steps, every=every)
    cl = classify(res, mo, lr=lr)
    md = modes(mo)
    want = []
    for s in range(steps + 1):  # the plain full-width GD loop
        if s % every == 0:
            ua, wa = U.T @ md.left, W @ md.right
            want.append(np.sum(ua * wa, axis=0) / (np.linalg.norm(ua, axis=0) * np.linalg.norm(wa, axis=0)))
        G = (X @ W.T @ U.T - Y).T @ X / n
        U, W = U - lr * G @ W.T, W - lr * U.T @ G
    assert np.max(np.abs(cl.trajectory.mode_alignment - np.array(want))) <= 1e-9
    assert all(mdl.classification.category == "feature/alignment" for mdl in cl.modes), cl.explain()
    alone = classify(res)  # the record carries its moments, η, κ and lr
    assert alone.category == cl.category and np.allclose(alone.trajectory.t, res.steps * lr)


def test_linear_trajectory_caption_states_the_order_the_data_show():
    """Captions from hand-made records: learned in order, out of order, at the same time, never."""
    from featmech.analysis.regimes import Thresholds
    from featmech.report.captions import learning_order, linear_trajectory_caption

    t = np.array([0.0, 1.0, 2.0, 3.0])
    label = SimpleNamespace(category="feature/alignment", regime="feature", mechanism="alignment",
                            status="converged", converged=True, borderline=False, ntk_max_deviation=5.0,
                            alignment_start=0.1, alignment_end=0.9, norm_u_change=2.0, norm_w_change=3.0,
                            thresholds=Thresholds())

    def cl(strength):
        modes_ = tuple(SimpleNamespace(target=s, classification=label) for s in (0.3, 0.2))
        return SimpleNamespace(classification=label, modes=modes_, exact_modes=True, gap_start=1.0, gap_end=1e-6,
                               trajectory=SimpleNamespace(t=t, mode_strength=np.array(strength)))

    ordered = cl([[0, 0], [0.2, 0], [0.3, 0.15], [0.3, 0.2]])  # strong mode half-way at t = 1, weak at t = 2
    assert learning_order(ordered)[0].tolist() == [1.0, 2.0]
    assert "in order of strength, from t = 1 (s = 0.3) to t = 2 (s = 0.2)" in linear_trajectory_caption(ordered, "x")
    reverse = cl([[0, 0], [0, 0.15], [0.3, 0.2], [0.3, 0.2]])
    assert "not in order of strength (1 inversion(s)" in linear_trajectory_caption(reverse, "x")
    same = cl([[0, 0], [0.2, 0.15], [0.3, 0.2], [0.3, 0.2]])
    assert "at the same recorded time, t = 1" in linear_trajectory_caption(same, "x")
    never = cl([[0, 0], [0.2, 0.0], [0.3, 0.05], [0.3, 0.05]])
    assert "1 mode(s) never reach half" in linear_trajectory_caption(never, "x")


@pytest.mark.parametrize("kind", ["flow", "discrete"])
def test_a_start_astronomically_far_from_the_optimum_is_not_converged(kind):
    """A trajectory whose gap falls by 1e-14 of its start (relative progress enough for the 1-D rule) yet
    ends far above the zero map's gap L(0) − L* (computed here with numpy from the moments): no label."""
    from featmech.analysis.linear import classify_arrays

    mo = moments("digits", components=4, scale="whiten")
    opt = (np.linalg.pinv(mo.sigma_xx) @ mo.sigma_xy).T               # M* = BᵀΣ⁺ (c×m)
    zero_gap = 0.5 * np.trace(opt @ mo.sigma_xx @ opt.T)               # L(0) − L*
    t = np.linspace(0.0, 10.0, 50)
    dist = 1e100 * np.exp(-t * np.log(1e14) / 10.0)                     # |M − M*| from 1e100 to 1e86
    direction = np.ones((mo.c, mo.m)) / np.sqrt(mo.c * mo.m)
    M = opt + dist[:, None, None] * direction
    n = np.linalg.norm(M, axis=(1, 2))
    cl = classify_arrays(mo, t, M, ntk=np.ones_like(t), norm_u=np.sqrt(n), norm_w=np.sqrt(n), kind=kind)
    assert cl.gap_end < 1e-12 * cl.gap_start and cl.gap_end > 1e100 * zero_gap
    assert cl.classification.status == "not converged" and cl.category == "undetermined"
    # the same path ending within 1e-2 of the zero map's gap converges
    M2 = opt + (dist * 1e-100 * np.sqrt(zero_gap))[:, None, None] * direction
    n2 = np.linalg.norm(M2, axis=(1, 2))
    cl2 = classify_arrays(mo, t, M2, ntk=np.ones_like(t), norm_u=np.sqrt(n2), norm_w=np.sqrt(n2), kind=kind)
    assert cl2.classification.status == "converged"


@pytest.mark.slow
def test_the_flow_from_sigma_1e100_ends_unconverged_within_bounded_work():
    """σ_u = 1e100 at width 10: the search for convergence stops at the solver's evaluation budget."""
    from featmech.theory.linear.flow import MAX_SEGMENT_NFEV

    mo = moments("digits", components=4, scale="whiten")
    g = sample_gram(10, c=mo.c, m=mo.m, sigma_u=1e100, sigma_w=1.0, seed=0)
    sol = solve_gram(g, sigma_xx=mo.sigma_xx, sigma_xy=mo.sigma_xy)
    cl = classify(sol, mo)
    assert cl.classification.status == "not converged" and sol.nfev <= 2 * MAX_SEGMENT_NFEV + 10**5


def test_hostile_api_inputs_raise_input_error_naming_the_parameter():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    mo = moments(X, X @ rng.standard_normal((3, 2)))
    with pytest.raises(InputError, match="x must be an axis"):  # was AttributeError: 'tuple' has no 'name'
        phase(mo, ("width", [10, 20]), "kappa=1,2")
    with pytest.raises(InputError, match="got labels from -2 to 0"):  # was "integers in [0, 0]"
        moments(X, -(np.arange(30) % 3))
    with pytest.raises(InputError, match="class labels"):  # was a 10⁹-column one-hot array (MemoryError)
        moments(X, np.array([0] * 29 + [10**9]))
    sol = solve(0.1 * np.ones((2, 4)), 0.1 * np.ones((4, 3)), sigma_xx=mo.sigma_xx, sigma_xy=mo.sigma_xy)
    with pytest.raises(InputError, match=r"times must be finite.*inf"):
        classify(sol, mo, times=[0.0, np.inf])
    with pytest.raises(InputError, match=r"points must be an integer in \[2, 10000\]"):  # was a 14.6 GiB array
        classify(sol, mo, points=10**7)
    with pytest.raises(InputError, match="at most 10001 times"):
        classify(sol, mo, times=np.arange(20_000.0))
