"""The closed form against independent references (solve_ivp, mpmath, Saxe's curve)."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import mpmath as mp
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from reference import mp_closed_form, mp_exact, mp_gram, ode_reference, saxe_logistic

import featmech
from featmech import _validation
from featmech.analysis.regimes import classify, classify_solution
from featmech.errors import InputError
from featmech.theory.config import Gram, Hyper, Init
from featmech.theory.exact.constants import EXTENDED
from featmech.theory.inits import aligned, iid_gaussian, sample_gram

FIELDS = ("output", "ntk", "norm_u", "norm_w")


def rel_err(a, b, floor=0.0):
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


def compare_to_ode(u0, w0, tol=1e-8, horizon=6.0, **hp):
    sol = featmech.solve(u0, w0, **hp)
    rate = float(sol.rate)
    tmax = horizon / rate if rate > 0 else horizon
    ts = np.linspace(0.0, tmax, 25)
    st_ = sol(ts)
    ref = ode_reference(u0, w0, times=ts, **hp)
    for f in FIELDS:
        # the output κ u·w is conditioned on the scale κ|u||w| (it may cross or approach zero); the
        # ODE reference is only accurate on that scale. Full relative accuracy is tested against mpmath.
        floor = 1e-2 * hp["kappa"] * np.max(ref["norm_u"] * ref["norm_w"]) if f == "output" else 1e-300
        assert rel_err(getattr(st_, f), ref[f], floor=floor) <= tol, f
    assert np.max(np.abs(st_.alignment - ref["alignment"])) <= tol
    scale = abs(hp["target"]) + np.max(np.abs(ref["output"]))
    assert np.max(np.abs(st_.residual - ref["residual"])) <= tol * scale
    U, W = sol.weights(ts)
    assert np.max(np.abs(U - ref["u"])) <= tol * max(1.0, np.max(np.abs(ref["u"])))
    assert np.max(np.abs(W - ref["w"])) <= tol * max(1.0, np.max(np.abs(ref["w"])))
    return sol


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.integers(1, 12),
    seed=st.integers(0, 2**31 - 1),
    su=st.floats(0.05, 2.0),
    sw=st.floats(0.05, 2.0),
    eta_u=st.floats(0.1, 5.0),
    eta_w=st.floats(0.1, 5.0),
    kappa=st.floats(0.1, 3.0),
    target=st.floats(-3.0, 3.0),
    data_var=st.floats(0.2, 3.0),
)
def test_closed_form_matches_solve_ivp(width, seed, su, sw, eta_u, eta_w, kappa, target, data_var):
    rng = np.random.default_rng(seed)
    u0 = su * rng.standard_normal(width)
    w0 = sw * rng.standard_normal(width)
    compare_to_ode(u0, w0, eta_u=eta_u, eta_w=eta_w, kappa=kappa, target=target, data_var=data_var)


DEGENERATE = {
    "aligned": (np.array([0.3, 0.1]), np.array([0.3, 0.1]), dict(target=1.0)),
    "aligned, wrong-sign target (saddle)": (np.array([0.3, 0.1]), np.array([0.3, 0.1]), dict(target=-1.0)),
    "aligned, zero target": (np.array([0.3, 0.1]), np.array([0.3, 0.1]), dict(target=0.0)),
    "anti-aligned": (np.array([0.3, 0.1]), -np.array([0.3, 0.1]), dict(target=1.0)),
    "anti-aligned, negative target": (np.array([0.3, 0.1]), -np.array([0.3, 0.1]), dict(target=-1.0)),
    "w0 = 0": (np.array([0.3, 0.1]), np.zeros(2), dict(target=1.0)),
    "u0 = 0, negative target": (np.zeros(2), np.array([0.3, 0.1]), dict(target=-1.0)),
    "frozen w (eta_w = 0)": (np.array([0.3, 0.1]), np.array([0.5, -0.2]), dict(eta_w=0.0, kappa=1.5)),
    "frozen u (eta_u = 0)": (np.array([0.3, 0.1]), np.array([0.5, -0.2]), dict(eta_u=0.0, eta_w=2.0)),
    "nearly aligned": (np.array([0.3, 0.1]), np.array([0.3, 0.1 + 1e-7]), dict(target=1.0)),
    "nearly aligned, wrong sign (escape from saddle)": (np.array([0.3, 0.1]), np.array([0.3, 0.1 + 1e-3]),
                                                        dict(target=-1.0)),
    "start at the fixed point": (np.array([1.0, 0.0]), np.array([1.0, 0.0]), dict(target=1.0)),
    "zero target": (np.array([0.3, 0.1]), np.array([0.5, -0.2]), dict(target=0.0)),
    "width 1, opposite signs": (np.array([0.3]), np.array([-0.5]), dict(target=1.0)),
}


@pytest.mark.parametrize("name", list(DEGENERATE))
def test_degenerate_cases_match_solve_ivp(name):
    u0, w0, over = DEGENERATE[name]
    hp = dict(eta_u=1.0, eta_w=1.0, kappa=1.0, target=1.0, data_var=1.0)
    hp.update(over)
    horizon = 40.0 if "escape" in name else 6.0
    compare_to_ode(u0, w0, horizon=horizon, **hp)


@pytest.mark.parametrize("over", [dict(kappa=0.0), dict(data_var=0.0), dict(eta_u=0.0, eta_w=0.0)])
def test_no_dynamics_cases_are_static(over):
    hp = dict(eta_u=1.0, eta_w=1.0, kappa=1.0, target=1.0, data_var=1.0)
    hp.update(over)
    u0, w0 = np.array([0.3, 0.1]), np.array([0.5, -0.2])
    st_ = featmech.solve(u0, w0, **hp)([0.0, 1.0, 1e6, np.inf])
    ref = ode_reference(u0, w0, times=[0.0, 1.0], **hp)
    assert np.allclose(st_.norm_u, ref["norm_u"][0], rtol=1e-15)
    assert np.allclose(st_.output, ref["output"][0], rtol=1e-15)
    assert np.all(np.isfinite(st_.loss))


def test_zero_init_never_moves():
    sol = featmech.solve(np.zeros(3), np.zeros(3))
    st_ = sol([0.0, 5.0, np.inf])
    assert np.all(st_.output == 0) and np.all(st_.norm_u == 0) and np.all(st_.alignment == 0)
    assert np.all(st_.loss == 0.5)


def test_saxe_logistic_curve():
    for eta, kappa, k, V in [(1.0, 1.0, 1.0, 1.0), (0.5, 2.0, 0.7, 1.5), (3.0, 0.3, 2.0, 0.5)]:
        u0, w0 = aligned(7, 0.05, eta_u=eta, eta_w=eta, seed=1)
        ts = np.linspace(0, 30.0 / (eta * V * kappa * k), 200)
        sol = featmech.solve(u0, w0, eta_u=eta, eta_w=eta, kappa=kappa, target=k, data_var=V)
        p = sol(ts).output / kappa
        ref = saxe_logistic(float(u0 @ w0), eta=eta, kappa=kappa, target=k, data_var=V, times=ts)
        assert rel_err(p, ref) < 1e-12
        assert sol.branch == "logistic"
        assert sol.rate == pytest.approx(2 * eta * V * kappa * k, rel=1e-14)


def test_conservation_law_from_norms():
    rng = np.random.default_rng(3)
    for _ in range(20):
        u0, w0 = rng.normal(size=5), 0.3 * rng.normal(size=5)
        eu, ew = rng.uniform(0.1, 3, 2)
        sol = featmech.solve(u0, w0, eta_u=eu, eta_w=ew, kappa=rng.uniform(0.2, 2), target=rng.uniform(-2, 2))
        st_ = sol(np.linspace(0, 20 / sol.rate, 50))
        cons = ew * st_.norm_u**2 - eu * st_.norm_w**2
        c0 = ew * (u0 @ u0) - eu * (w0 @ w0)
        assert np.max(np.abs(cons - c0)) <= 1e-12 * (ew * (u0 @ u0) + eu * (w0 @ w0))


MP_CASES = [
    # (name, uu, ww, uw, hyper, times)
    ("moderate", 2.0, 0.5, 0.3, dict(eta_u=1.0, eta_w=1.0, kappa=1.0, target=1.0, data_var=1.0), [0, 0.3, 2, 10]),
    ("huge scales", 4e100, 1e100, -3e99, dict(eta_u=1e-100, eta_w=1e-100, kappa=1e-100, target=1e-50,
                                            data_var=1e50), [0, 1e-30, 1e-10, 1]),
    ("tiny output scale, huge rates", 1.0, 2.0, 0.5, dict(eta_u=1e140, eta_w=1e140, kappa=1e-150, target=3.0,
                                                         data_var=1.0), [0, 1e-3, 1.0, 1e6]),
    ("long times", 1.0, 1.0, 0.2, dict(eta_u=1.0, eta_w=1.0, kappa=1e-6, target=1.0, data_var=1.0),
     [0, 1e3, 1e6, 1e9, 1e12]),
    ("small init, rich", 1e-20, 1e-20, 0.0, dict(eta_u=1.0, eta_w=1.0, kappa=1.0, target=1.0, data_var=1.0),
     [0, 1, 10, 25, 50]),
    ("nearly aligned, wrong sign", 1.0, 1.0, 1.0 - 1e-12, dict(eta_u=1.0, eta_w=1.0, kappa=1.0, target=-1.0,
                                                             data_var=1.0), [0, 1, 5, 15, 40]),
    ("very unbalanced", 1.0, 1e-200, 1e-101, dict(eta_u=1.0, eta_w=1.0, kappa=1.0, target=1.0, data_var=1.0),
     [0, 1, 100, 300]),
    ("unequal rates 1e±150", 1e-140, 1e140, 0.1, dict(eta_u=1e-150, eta_w=1e150, kappa=1.0, target=2.0,
                                                      data_var=1.0), [0, 0.1, 1, 10]),
    ("huge width", 1.0e12, 1.0e12, 3.0e5, dict(eta_u=1e-12, eta_w=1e-12, kappa=1e-12, target=1.0,
                                              data_var=1.0), [0, 1e10, 1e11, 1e12]),
]


@pytest.mark.parametrize("case", MP_CASES, ids=[c[0] for c in MP_CASES])
def test_extreme_cases_against_mpmath(case):
    name, uu, ww, uw, hp, times = case
    # the area from the same Gram matrix, at high precision (so both sides see one init)
    with mp.workdps(60):
        area = float(mp.sqrt(mp.mpf(uu) * mp.mpf(ww) - mp.mpf(uw) ** 2))
    try:
        sol = featmech.solve_gram(uu, ww, uw, area=area, **hp)
    except InputError:
        if EXTENDED is None:  # outside BAND: refused where longdouble is float64 (Windows, Apple silicon)
            pytest.skip("needs extended precision, which NumPy's longdouble does not give on this platform")
        raise
    got = sol(np.array(times, float))
    ref = mp_closed_form(uu, ww, uw, times=times, **hp)
    for f in ("output", "ntk", "norm_u", "norm_w", "alignment"):
        r = np.array([float(x) for x in ref[f]])
        g = getattr(got, f)
        assert np.all(np.isfinite(g)), f
        assert rel_err(g, r, floor=max(1e-300, 1e-40 * np.max(np.abs(r)))) <= 1e-9, (f, g, r)
    rl = np.array([float(x) for x in ref["loss"]])
    # below ~1e-40·L0 the 250-digit reference itself is cancellation noise: require only "tiny"
    ok = rl > 1e-40 * rl[0]
    assert rel_err(got.loss[ok], rl[ok], floor=1e-300) <= 1e-8
    assert np.all(got.loss[~ok] <= 1e-30 * rl[0])


def test_width_1e12_from_exact_gram_sampler_is_finite_and_converges():
    d = 10**12
    g = sample_gram(d, 1.0, 1.0, seed=5)
    sol = featmech.solve(g, featmech.Hyper(eta_u=d, eta_w=d, kappa=1.0 / d))
    st_ = sol(np.array([0.0, 1.0, 10.0, 1e12, np.inf]))
    for f in ("output", "loss", "ntk", "alignment", "norm_u", "norm_w"):
        assert np.all(np.isfinite(getattr(st_, f))), f
    assert st_.output[-1] == pytest.approx(1.0, rel=1e-12)
    # mean-field: K(∞)/K(0) = sqrt(1 + λ²/4) with λ = 4k/(κ s N), N = U + W = 2 d σ²/η
    lam = 4.0 / ((1.0 / d) * d * (2.0 * d * 1.0 / d))
    assert sol.ntk_ratio == pytest.approx(math.sqrt(1 + lam**2 / 4), rel=1e-5)


@settings(max_examples=150, deadline=None)
@given(
    logs=st.lists(st.floats(-150, 150), min_size=7, max_size=7),
    sgn=st.sampled_from([-1.0, 1.0]),
    t=st.floats(0, 1e12),
)
def test_any_scales_give_finite_values_or_clear_error(logs, sgn, t):
    uu, ww, eu, ew, kap, k, V = (10.0**x for x in logs)
    uw = 0.3 * math.sqrt(uu) * math.sqrt(ww)
    try:
        sol = featmech.solve_gram(uu, ww, uw, eta_u=eu, eta_w=ew, kappa=kap, target=sgn * k, data_var=V)
    except ValueError as exc:
        assert "float64 range" in str(exc)
        return
    st_ = sol(np.array([0.0, t, np.inf]))
    for f in ("output", "loss", "ntk", "alignment", "norm_u", "norm_w", "residual"):
        assert np.all(np.isfinite(getattr(st_, f))), f
    assert np.all(np.abs(st_.alignment) <= 1.0)
    assert st_.loss[1] <= st_.loss[0] * (1 + 1e-9)  # gradient flow never increases the loss


def test_rate_is_the_asymptotic_decay_of_the_residual():
    rng = np.random.default_rng(11)
    u0, w0 = rng.normal(size=4), rng.normal(size=4)
    hp = dict(eta_u=0.7, eta_w=1.9, kappa=0.8, target=1.3, data_var=1.1)
    sol = featmech.solve(u0, w0, **hp)
    D = float(sol.rate)
    t1, t2 = 8.0 / D, 10.0 / D
    ref = ode_reference(u0, w0, times=[0.0, t1, t2], rtol=1e-13, **hp)
    slope = -math.log(abs(ref["residual"][2]) / abs(ref["residual"][1])) / (t2 - t1)
    assert slope == pytest.approx(D, rel=1e-4)


def test_time_to_loss_against_ode():
    rng = np.random.default_rng(2)
    u0, w0 = 0.3 * rng.normal(size=6), 0.3 * rng.normal(size=6)
    hp = dict(eta_u=1.0, eta_w=2.0, kappa=1.0, target=1.0, data_var=1.0)
    sol = featmech.solve(u0, w0, **hp)
    for L in (0.3, 1e-3, 1e-8):
        t = float(sol.time_to_loss(L))
        ref = ode_reference(u0, w0, times=[0.0, t], **hp)
        assert 0.5 * ref["residual"][1] ** 2 == pytest.approx(L, rel=1e-7)
    assert sol.time_to_loss(10.0) == 0.0
    saddle = featmech.solve(np.array([0.3]), np.array([0.3]), target=-1.0)
    assert saddle.time_to_loss(0.1) == math.inf  # converges to p = 0, loss ½k²


def test_fixed_point_and_ntk_ratio():
    rng = np.random.default_rng(4)
    u0, w0 = rng.normal(size=3), rng.normal(size=3)
    sol = featmech.solve(u0, w0, kappa=0.5, target=2.0)
    fp = sol.fixed_point
    assert float(fp.output) == pytest.approx(2.0, rel=1e-14)
    late = ode_reference(u0, w0, eta_u=1.0, eta_w=1.0, kappa=0.5, target=2.0, data_var=1.0,
                         times=[0.0, 60.0 / sol.rate])
    assert float(fp.ntk) == pytest.approx(late["ntk"][-1], rel=1e-9)
    assert sol.ntk_ratio == pytest.approx(late["ntk"][-1] / late["ntk"][0], rel=1e-9)


def test_batched_gram_form_equals_one_at_a_time():
    rng = np.random.default_rng(9)
    n = 30
    uu, ww = rng.uniform(0.1, 3, n), rng.uniform(0.1, 3, n)
    uw = rng.uniform(-1, 1, n) * np.sqrt(uu * ww)
    kap, k = rng.uniform(0.1, 2, n), rng.uniform(-2, 2, n)
    ts = np.linspace(0, 5, 11)
    batch = featmech.solve_gram(uu, ww, uw, kappa=kap, target=k)(ts)
    assert batch.output.shape == (n, 11)
    for i in range(n):
        one = featmech.solve_gram(uu[i], ww[i], uw[i], kappa=kap[i], target=k[i])(ts)
        assert np.array_equal(one.output, batch.output[i])
        assert np.array_equal(one.ntk, batch.ntk[i])


def test_vector_and_gram_forms_agree():
    u0, w0 = iid_gaussian(50, 0.5, 0.7, rho=0.3, seed=1)
    a = featmech.solve(u0, w0, kappa=0.4)(np.linspace(0, 10, 7))
    b = featmech.solve_gram(u0 @ u0, w0 @ w0, u0 @ w0, kappa=0.4)(np.linspace(0, 10, 7))
    for f in FIELDS + ("alignment",):
        assert rel_err(getattr(a, f), getattr(b, f), floor=1e-12) < 1e-12


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(eta_u=-1.0), "eta_u"),
        (dict(eta_w=float("nan")), "eta_w"),
        (dict(kappa=-0.1), "kappa"),
        (dict(data_var=float("inf")), "data_var"),
        (dict(target=float("nan")), "target"),
    ],
)
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        featmech.solve(np.ones(3), np.ones(3), **kwargs)


def test_bad_vectors_and_times():
    with pytest.raises(ValueError, match="u0 and w0 must have the same length"):
        featmech.solve(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="u0 must be a 1-D"):
        featmech.solve(np.ones((2, 2)), np.ones(4))
    with pytest.raises(ValueError, match="width >= 1"):
        featmech.solve(np.ones(0), np.ones(0))
    with pytest.raises(ValueError, match="finite"):
        featmech.solve(np.array([np.nan]), np.ones(1))
    sol = featmech.solve(np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match=">= 0"):
        sol([-1.0])
    with pytest.raises(ValueError, match="NaN"):
        sol([np.nan])
    with pytest.raises(ValueError, match="Cauchy"):
        featmech.solve_gram(1.0, 1.0, 2.0)
    with pytest.raises(ValueError, match="uu"):
        featmech.solve_gram(-1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="weights"):
        featmech.solve_gram(1.0, 1.0, 0.0).weights([0.0])


# ---------------------------------------------------------------------- the API of issue 8
def _arrays(obj, seen=None):
    """Every numpy array reachable from ``obj`` through dataclass fields, tuples, lists and dicts."""
    import dataclasses

    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return [obj]
    if isinstance(obj, dict):
        return [a for v in obj.values() for a in _arrays(v, seen)]
    if isinstance(obj, (tuple, list)):
        return [a for v in obj for a in _arrays(v, seen)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [a for f in dataclasses.fields(obj) for a in _arrays(getattr(obj, f.name), seen)]
    return []


def _solutions():
    rng = np.random.default_rng(0)
    u0, w0 = rng.normal(size=5), rng.normal(size=5)
    one = featmech.solve(u0, w0, kappa=0.5, target=-1.0)
    n = 6
    uu, ww = rng.uniform(0.1, 2, n), rng.uniform(0.1, 2, n)
    uw = rng.uniform(-1, 1, n) * np.sqrt(uu * ww)
    eta_w = np.array([1.0, 0.0, 1.0, 1.0, 1.0, 2.0])  # a frozen layer among them
    kappa = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 0.3])  # and a static configuration
    batch = featmech.solve_gram(uu, ww, uw, eta_w=eta_w, kappa=kappa, target=rng.uniform(-2, 2, n))
    return {"single": one, "batch": batch}


@pytest.mark.parametrize("kind", ["single", "batch"])
def test_everything_reachable_from_a_solution_is_read_only(kind):
    sol = _solutions()[kind]
    results = [sol, sol(0.5), sol([0.0, 1.0, np.inf]), sol(np.inf), sol.initial, sol.fixed_point, sol.y_range,
               sol.rate, sol.ntk_change, sol.ntk_ratio, sol.ntk_max_deviation, sol.lam, sol.branch,
               sol.convergence_time(0.1), sol.index(0 if kind == "batch" else ())]
    if kind == "single":
        results += [sol.weights([0.0, 1.0]), sol.init, sol.time_to_loss(1e-3)]
    arrays = [a for r in results for a in _arrays(r)]
    assert len(arrays) > 60
    for a in arrays:
        assert not a.flags.writeable
    # the defects of issue 8, literally
    with pytest.raises(ValueError, match="read-only"):
        sol.gram.uu[...] = 100
    with pytest.raises(ValueError, match="read-only"):
        sol(1).output[...] = 0
    with pytest.raises(ValueError, match="read-only"):
        sol.constants.D[...] = 0


def test_callers_arrays_are_neither_frozen_nor_aliased():
    uu, ww, uw, kap = np.array([1.0, 2.0]), np.array([1.0, 0.5]), np.array([0.2, -0.1]), np.array([1.0, 0.5])
    sol = featmech.solve_gram(uu, ww, uw, kappa=kap)
    before = sol(1.0).conserved.copy()
    for a in (uu, ww, uw, kap):
        assert a.flags.writeable
        a[...] = 7.0  # the caller may go on using their arrays
    assert np.array_equal(sol(1.0).conserved, before)
    assert np.array_equal(sol.gram.uu, [1.0, 2.0]) and np.array_equal(sol.hyper.kappa, [1.0, 0.5])
    u0, w0 = np.array([0.3, 0.1]), np.array([0.5, -0.2])
    featmech.solve(u0, w0)
    assert u0.flags.writeable and w0.flags.writeable
    init = Init(u0, w0)
    u0[0] = 9.0
    assert init.u0[0] == 0.3  # Init keeps a private copy


def test_branch_enum_and_labels():
    from featmech.theory.exact import Branch

    assert [b.label for b in Branch] == ["static", "one frozen layer", "logistic", "generic"]
    one = featmech.solve(np.array([0.3, 0.1]), np.array([0.3, 0.1]))
    assert one.branch is Branch.LOGISTIC and one.branch == "logistic" and one.branch != "generic"
    assert str(one.branch) == "logistic" and f"{one.branch:>9}" == " logistic"
    assert hash(Branch.GENERIC) == hash(3) and Branch.GENERIC == 3
    batch = _solutions()["batch"]
    assert batch.branch.tolist() == ["generic", "one frozen layer", "static", "generic", "generic", "generic"]
    assert np.array_equal(batch.constants.branch, [3, 1, 0, 3, 3, 3])
    assert batch.constants.branches == {Branch.GENERIC, Branch.LINEAR, Branch.STATIC}


def test_domain_objects_are_the_api_currency():
    from featmech.theory.config import Gram, Hyper, Init

    u0, w0 = np.array([0.3, 0.1, -0.4]), np.array([0.5, -0.2, 0.1])
    hp = dict(eta_u=0.7, eta_w=1.3, kappa=0.8, target=-0.6, data_var=1.4)
    ref = featmech.solve(u0, w0, **hp)
    h = Hyper(**hp)
    ts = np.array([0.0, 0.5, 3.0, np.inf])
    for sol in (featmech.solve(Init(u0, w0), h), featmech.solve(Init(u0, w0), hyper=h),
                featmech.solve(u0, w0, h), featmech.solve(u0, w0, hyper=h)):
        for f in FIELDS + ("alignment", "residual", "loss"):
            assert np.array_equal(getattr(sol(ts), f), getattr(ref(ts), f)), f
        assert sol.init is not None
    g = featmech.gram_of(u0, w0)
    by_gram = featmech.solve(g, h)
    kw = featmech.solve_gram(g.uu, g.ww, g.uw, area=g.area, **hp)
    hy = featmech.solve_gram(g.uu, g.ww, g.uw, area=g.area, hyper=h)
    for f in FIELDS:
        assert np.array_equal(getattr(by_gram(ts), f), getattr(kw(ts), f))
        assert np.array_equal(getattr(hy(ts), f), getattr(kw(ts), f))
    assert by_gram.init is None and featmech.solve(g).hyper == Hyper()
    assert isinstance(ref.gram, Gram) and isinstance(ref.hyper, Hyper)
    # a batch of Gram statistics with one Hyper, or one Gram with a batch of Hyper
    assert featmech.solve(Gram([1.0, 2.0], 1.0, 0.0), h).batch_shape == (2,)
    assert featmech.solve(g, Hyper(kappa=[0.5, 1.0, 2.0])).batch_shape == (3,)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda h, i, g: featmech.solve(i, h, kappa=2.0), "not both"),
        (lambda h, i, g: featmech.solve(i, hyper=h, eta_u=2.0), "not both"),
        (lambda h, i, g: featmech.solve(i, np.ones(3)), "takes no w0"),
        (lambda h, i, g: featmech.solve(g, np.ones(3)), "takes no w0"),
        (lambda h, i, g: featmech.solve(np.ones(3)), "w0 is missing"),
        (lambda h, i, g: featmech.solve(i, h, hyper=h), "twice"),
        (lambda h, i, g: featmech.solve(i, hyper={"kappa": 1.0}), "Hyper"),
        (lambda h, i, g: featmech.solve_gram(1.0, 1.0, 0.0, hyper=h, target=2.0), "not both"),
        (lambda h, i, g: featmech.solve(np.ones(3), np.ones(3), kappa=[1.0, 2.0]), "single number"),
        (lambda h, i, g: featmech.solve(i, featmech.Hyper(kappa=[1.0, 2.0])), "single number"),
    ],
)
def test_ambiguous_or_incomplete_calls_are_refused(call, match):
    from featmech.errors import InputError
    from featmech.theory.config import Gram, Hyper, Init

    with pytest.raises(InputError, match=match):
        call(Hyper(), Init(np.ones(3), np.ones(3)), Gram(1.0, 1.0, 0.0))


def test_fixed_point_is_computed_once_and_returned_for_t_inf():
    sol = _solutions()["single"]
    assert sol(np.inf) is sol.fixed_point and sol(math.inf) is sol.fixed_point
    again = sol(np.array([np.inf]))
    for f in FIELDS + ("alignment", "loss", "residual"):
        assert np.array_equal(getattr(again, f)[..., 0], getattr(sol.fixed_point, f))


def test_index_gives_the_solution_of_one_configuration():
    batch = _solutions()["batch"]
    ts = np.array([0.0, 0.7, 4.0])
    for i in range(batch.batch_shape[0]):
        one = batch.index(i)
        assert one.batch_shape == ()
        assert one.branch == batch.branch[i]
        for f in FIELDS + ("alignment",):
            assert np.array_equal(getattr(one(ts), f), getattr(batch(ts), f)[i])
        assert one.constants.branches == {one.branch}


def test_constants_are_typed_and_public():
    from featmech.theory.exact import Constants

    sol = _solutions()["single"]
    c = sol.constants
    assert isinstance(c, Constants)
    assert float(c.D) == sol.rate and c.y0 is sol.y_range[0]
    with pytest.raises(Exception):
        c.D = np.array(1.0)  # frozen dataclass


# ---------------------------------------------------------------------- any scale (issue 9)


ANY_FIELDS = ("output", "residual", "loss", "ntk", "alignment", "norm_u", "norm_w")
needs_extended = pytest.mark.skipif(EXTENDED is None, reason="numpy's longdouble is float64 on this platform")


def _mismatches(st_, r, hp, times, slack):
    """The observables of ``st_`` that are not finite or differ from the reference values ``r``
    (floats) by more than 1e-8 relative (the alignment 1e-9 absolute; the output on the scale
    κ|u||w| of its zero crossing; the residual and loss at t = ∞ on the scale of their start), plus
    ``slack`` (per field) and the resolution of subnormal numbers."""
    tiny = 1e-300
    bad = []
    for f in ANY_FIELDS:
        got = np.asarray(getattr(st_, f), float)
        if not np.all(np.isfinite(got)):
            bad.append((f, got, r[f]))
            continue
        err = np.abs(got - r[f])
        if f == "alignment":
            allowed = 1e-9 + 0 * err
        elif f == "output":
            allowed = 1e-9 * np.maximum(np.abs(r[f]), hp["kappa"] * r["norm_u"] * r["norm_w"])
        else:
            allowed = 1e-8 * np.abs(r[f])
            if f in ("residual", "loss"):  # the fixed point: 0 exactly
                allowed = np.where(np.isinf(np.asarray(times, float)), 1e-9 * abs(r[f][0]), allowed)
        if not np.all(err <= allowed + slack[f] + tiny):
            bad.append((f, got, r[f]))
    return bad


def _floats(ref):
    return {f: np.array([float(x) for x in ref[f]]) for f in ANY_FIELDS}


def _ulp(x, rng):
    """``x`` (an array or a number) moved by one unit in the last place, up or down at random."""
    x = np.asarray(x, float)
    return np.nextafter(x, np.where(rng.random(x.shape) < 0.5, -np.inf, np.inf))


def assert_matches_mpmath(st_, u0, w0, hp, times):
    """Every observable finite and equal to the exact closed form in mpmath, to 1e-8 — or, where the
    answer is ill-conditioned, within what the float64 rounding of the inputs implies: the spread of
    the exact answers over inputs moved by one ulp (nearly aligned or collinear inits, whose modes and
    area float64 knows only to ~1e-16 of the vectors' scale; an escape from the saddle whose time
    depends on log B)."""
    r = _floats(mp_exact(*mp_gram(u0, w0), times=times, **hp))
    bad = _mismatches(st_, r, hp, times, {f: 0.0 for f in ANY_FIELDS})
    if not bad:
        return
    rng = np.random.default_rng(0)
    spread = {f: np.zeros(len(times)) for f in ANY_FIELDS}
    for _ in range(3):
        hq = {k: float(_ulp(v, rng)) for k, v in hp.items()}
        tq = [float(_ulp(t, rng)) if np.isfinite(t) else t for t in times]
        rq = _floats(mp_exact(*mp_gram(_ulp(u0, rng), _ulp(w0, rng)), times=tq, **hq))
        for f in ANY_FIELDS:
            with np.errstate(invalid="ignore"):
                d = np.abs(rq[f] - r[f])
            spread[f] = np.maximum(spread[f], np.where(np.isfinite(d), d, 0.0))
    slack = {f: 10 * spread[f] for f in ANY_FIELDS}
    # the area |u0∧w0| of nearly collinear float vectors is known only to ~1e-16·|u0||w0| (cancellation
    # in |u0|²|w0|² − (u0·w0)²): where |u(t)||w(t)| = √(p² + area²) falls to that size, ζ and the smaller
    # norm are conditioned on it
    uw0 = r["norm_u"][0] * r["norm_w"][0]
    with np.errstate(divide="ignore", invalid="ignore"):
        slack["alignment"] += np.nan_to_num(8e-16 * uw0 / (r["norm_u"] * r["norm_w"]), posinf=2.0)
        slack["norm_u"] += np.nan_to_num(8e-16 * uw0 / r["norm_w"], posinf=0.0)
        slack["norm_w"] += np.nan_to_num(8e-16 * uw0 / r["norm_u"], posinf=0.0)
    bad = _mismatches(st_, r, hp, times, slack)
    assert not bad, bad


def _vector(mantissas, exponent, width):
    return np.array([m * 10.0**exponent for m in mantissas[:width]])


_EXP = st.one_of(st.floats(-300, 300), st.floats(-4, 4))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(width=st.integers(1, 4), mu=st.lists(st.floats(-3, 3), min_size=4, max_size=4),
       mw=st.lists(st.floats(-3, 3), min_size=4, max_size=4), eu_=_EXP, ew_=_EXP, balanced=st.booleans(),
       logs=st.lists(_EXP, min_size=5, max_size=5), sign=st.sampled_from([-1.0, 0.0, 1.0]), t_exp=_EXP)
def test_any_scale_vectors_agree_with_mpmath_or_are_refused(width, mu, mw, eu_, ew_, balanced, logs, sign, t_exp):
    """Init vectors, η, κ, V, target and t anywhere in [1e-300, 1e300]: the values are finite and
    right, or the call is refused with the float64-range error; never NaN, inf or underflow garbage."""
    u0 = _vector(mu, eu_, width)
    w0 = _vector(mw, eu_ if balanced else ew_, width)
    hp = dict(eta_u=10.0**logs[0], eta_w=10.0**logs[1], kappa=10.0**logs[2], data_var=10.0**logs[3],
              target=sign * 10.0**logs[4])
    times = [0.0, 10.0**t_exp, math.inf]
    try:
        sol = featmech.solve(u0, w0, **hp)
        st_ = sol(np.array(times))
    except InputError as exc:
        assert "parameters out of float64 range" in str(exc)
        event("refused: out of float64 range")
        return
    event("solved in " + ("float64" if sol.constants.dtype == np.float64 else "extended precision"))
    assert_matches_mpmath(st_, u0, w0, hp, times)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs=st.lists(st.floats(-300, 300), min_size=7, max_size=7), corr=st.floats(-1, 1),
       sgn=st.sampled_from([-1.0, 1.0]), t_exp=st.floats(-300, 300))
def test_any_scale_gram_agrees_with_mpmath_or_is_refused(logs, corr, sgn, t_exp):
    uu, ww, eu, ew, kap, k, V = (10.0**x for x in logs)
    uw = corr * math.sqrt(uu) * math.sqrt(ww)
    area = math.sqrt(max(1.0 - corr * corr, 0.0)) * math.sqrt(uu) * math.sqrt(ww)
    hp = dict(eta_u=eu, eta_w=ew, kappa=kap, target=sgn * k, data_var=V)
    times = [0.0, 10.0**t_exp, math.inf]
    try:
        st_ = featmech.solve_gram(uu, ww, uw, area=area, **hp)(np.array(times))
    except InputError as exc:
        assert "parameters out of float64 range" in str(exc)
        return
    with mp.workdps(60):
        area2 = mp.mpf(area) ** 2
    r = _floats(mp_exact(uu, ww, uw, area2, times=times, **hp))
    assert not _mismatches(st_, r, hp, times, {f: 0.0 for f in ANY_FIELDS})


@needs_extended
@pytest.mark.parametrize("sigma", [1e-30, 1e-120, 1e-160, 1e-200, 1e-300, 1e-320])
def test_tiny_balanced_iid_inits_learn_by_alignment_like_the_mpmath_reference(sigma):
    """Issue 9: at σ = 1e-120 the norms underflowed (alignment ±inf, "disalignment"), at 1e-200 the
    init froze (output 0 at t = ∞, "kernel"). The values follow the reference, and so does the label."""
    init = iid_gaussian(4, sigma, sigma, seed=0)
    u0, w0 = init
    hp = dict(eta_u=1.0, eta_w=1.0, kappa=1.0, target=1.0, data_var=1.0)
    sol = featmech.solve(init, featmech.Hyper(**hp))
    times = [0.0, 100.0, 400.0, math.inf]
    ref = mp_exact(*mp_gram(u0, w0), times=times, **hp)
    assert_matches_mpmath(sol(np.array(times)), u0, w0, hp, times)
    assert float(sol.fixed_point.output) == pytest.approx(1.0, rel=1e-15)

    def bal(i):
        return float(ref["norm_u"][i] / ref["norm_w"][i])

    with mp.workdps(50):
        expected = classify(ntk_max_deviation=float(ref["ntk"][-1] / ref["ntk"][0] - 1),
                            ntk_ratio=float(ref["ntk"][-1] / ref["ntk"][0]),
                            alignment_start=float(ref["alignment"][0]), alignment_end=float(ref["alignment"][-1]),
                            balance_start=bal(0), balance_end=bal(-1))
    got = classify_solution(sol)
    assert (got.regime, got.mechanism) == (expected.regime, expected.mechanism) == ("feature", "alignment")


@needs_extended
def test_extended_precision_covers_every_query():
    """A solution computed in extended precision answers every query in float64: properties,
    single times, batches of times, sub-batches, weights."""
    u0, w0 = iid_gaussian(3, 1e-200, 1e-200, seed=2)
    sol = featmech.solve(u0, w0)
    assert sol.constants.dtype != np.float64
    assert math.isinf(sol.lam) and sol.rate == pytest.approx(2.0, rel=1e-15)
    assert sol.ntk_change == math.inf and sol.ntk_max_deviation == math.inf  # K(∞)/K(0) ≈ 1e400
    one, many = sol(450.0), sol(np.array([0.0, 450.0]))
    for f in ANY_FIELDS:
        assert getattr(one, f) == getattr(many, f)[1] and getattr(one, f).dtype == np.float64
    ref = mp_exact(*mp_gram(u0, w0), times=[450.0], eta_u=1, eta_w=1, kappa=1, target=1, data_var=1)
    assert float(one.output) == pytest.approx(float(ref["output"][0]), rel=1e-12)
    tc = sol.convergence_time(1e-2)
    assert float(sol(tc).residual) == pytest.approx(-1e-2, rel=1e-9)
    U, W = sol.weights([0.0, 450.0, 1e4])
    assert U.dtype == np.float64 and np.allclose(U[0], u0, rtol=1e-15, atol=0)
    assert np.linalg.norm(U[1]) == pytest.approx(float(one.norm_u), rel=1e-12)
    assert float(U[2] @ W[2]) == pytest.approx(1.0, rel=1e-12)
    y0, yp = sol.y_range
    assert y0.dtype == np.float64 and yp == 0.0  # y+ ≈ 1e-400: below float64
    batch = featmech.solve_gram([1.0, 1e-250], [1.0, 1e-250], [0.3, 0.0])
    assert batch.constants.dtype != np.float64 and batch.index(1)(np.inf).output == pytest.approx(1.0)
    assert float(batch.index(0)(2.0).output) == float(featmech.solve_gram(1.0, 1.0, 0.3)(2.0).output)


def test_extended_and_float64_agree_where_both_apply():
    """The same formulas in two precisions: widening a float64 solution changes nothing beyond rounding."""
    from featmech.theory.exact.evaluate import evaluate

    rng = np.random.default_rng(7)
    for _ in range(20):
        u0, w0 = rng.normal(size=3), rng.normal(size=3)
        sol = featmech.solve(u0, w0, kappa=rng.uniform(0.2, 2), target=rng.uniform(-2, 2))
        if EXTENDED is None:
            break
        ts = np.linspace(0, 10 / sol.rate, 7)
        a, b = sol(ts), evaluate(sol.constants.widen(), ts)
        for f in ANY_FIELDS:
            assert rel_err(getattr(a, f), getattr(b, f), floor=1e-12) < 1e-14, f


def test_float64_keeps_the_residual_where_exp_is_subnormal():
    """e^{−Dt} below 2.2e-308 while r0·E·Φ is a normal number: those entries are taken in extended
    precision (they were 0 or had lost digits)."""
    hp = dict(eta_u=1.0, eta_w=1.0, kappa=1.0, target=1e100, data_var=1.0)
    u0, w0 = np.array([1e49, 0.0]), np.array([0.0, 1e49])
    sol = featmech.solve(u0, w0, **hp)
    D = sol.rate
    times = [0.0, 720.0 / D, 800.0 / D, math.inf]
    ref = mp_exact(*mp_gram(u0, w0), times=times, **hp)
    st_ = sol(np.array(times))
    r = np.array([float(x) for x in ref["residual"]])
    assert r[2] != 0 and abs(r[2]) > 1e-300
    assert rel_err(st_.residual[:3], r[:3]) < 1e-12
    assert float(sol(times[2]).residual) == st_.residual[2]


def test_squared_norm_overflow_is_refused_with_the_range_error():
    with pytest.raises(InputError, match="float64 range"):
        featmech.solve(np.array([1e200, 0.0]), np.array([1.0, 1.0]))
    with pytest.raises(InputError, match="float64 range"):
        featmech.gram_of(np.array([1e200]), np.array([1.0]))
    with pytest.raises(InputError, match="float64 range"):  # a Gram is float64: σ = 1e-200 cannot be sampled
        sample_gram(4, 1e-200, 1e-200)
    with pytest.raises(InputError, match="must be finite"):
        featmech.solve(np.array([np.inf, 0.0]), np.ones(2))
    with pytest.raises(InputError, match="must be finite"):
        featmech.solve(np.array([np.nan, 0.0]), np.ones(2))


def test_cli_example_of_issue_9():
    """``featmech trajectory --width 4 --sigma-u 1e-200 …`` sampled a Gram that underflowed to 0 and
    reported output 0 and "kernel". The Gram of such an init is beyond float64, so the init is drawn
    as vectors and solved in extended precision: checked against the 250-digit closed form, the output
    reaches the target and the label is feature learning by alignment (a small balanced init)."""
    from featmech.analysis.runs import exact_run, iid_init

    init = iid_init({"width": 4, "sigma_u": 1e-200, "sigma_w": 1e-200})
    run = exact_run(init, featmech.Hyper(), [0.0, 100.0, math.inf])
    assert run.classification.regime == "feature" and run.classification.mechanism == "alignment"
    assert run.state.output[-1] == pytest.approx(1.0, rel=1e-12)
    ref = mp_exact(*mp_gram(init.u0, init.w0), eta_u=1.0, eta_w=1.0, kappa=1.0, target=1.0, data_var=1.0,
                   times=[100.0])
    assert float(run.state.output[1]) == pytest.approx(float(ref["output"][0]), rel=1e-9, abs=0.0)


# ---------------------------------------------------------------------- type slips (issue 9)


#: values that are not real numbers, by class: each must be refused, never coerced
TYPE_SLIPS = {
    "complex": [1 + 0j, np.complex128(2.0), np.array([1 + 1j, 2.0]), [1.0, 2j]],
    "bool": [True, np.bool_(True), np.array([True, False]), [1.0, True]],
    "string": ["1", b"1", ["1.0", 2.0], np.array(["1.0"])],
    "object array": [np.array([1.0, 2.0], dtype=object), np.array(1.0, dtype=object)],
    "other object": [Decimal("1.5"), Fraction(1, 2), {"a": 1}, object()],
}

_V = np.array([0.3, 0.1])
_SOL = featmech.solve(_V, -_V / 2)
#: every entry point that takes numbers, and the parameter name its message must name
NUMERIC_ENTRIES = {
    "solve u0": (lambda v: featmech.solve(v, _V), "u0"),
    "solve w0": (lambda v: featmech.solve(_V, v), "w0"),
    **{f"solve {n}": ((lambda n: lambda v: featmech.solve(_V, _V, **{n: v}))(n), n)
       for n in ("eta_u", "eta_w", "kappa", "target", "data_var")},
    **{f"solve_gram {n}": ((lambda n: lambda v: featmech.solve_gram(**{**dict(uu=1.0, ww=1.0, uw=0.5), n: v}))(n), n)
       for n in ("uu", "ww", "uw", "area")},
    **{f"Gram {n}": ((lambda n: lambda v: Gram(**{**dict(uu=1.0, ww=1.0, uw=0.5), n: v}))(n), n)
       for n in ("uu", "ww", "uw", "area")},
    **{f"Hyper {n}": ((lambda n: lambda v: Hyper(**{n: v}))(n), n)
       for n in ("eta_u", "eta_w", "kappa", "target", "data_var")},
    "Init u0": (lambda v: Init(v, _V), "u0"),
    "Init w0": (lambda v: featmech.theory.config.Init(_V, v), "w0"),
    "Solution times": (lambda v: _SOL(v), "t"),
    "convergence_time": (lambda v: _SOL.convergence_time(v), "fraction"),
    "time_to_loss": (lambda v: _SOL.time_to_loss(v), "loss"),
    "check_scalar": (lambda v: _validation.check_scalar("x", v), "x"),
    "check_array": (lambda v: _validation.check_array("x", v), "x"),
    "check_times": (lambda v: _validation.check_times(v, "x"), "x"),
    "check_int": (lambda v: _validation.check_int("x", v), "x"),
}


@pytest.mark.parametrize("entry", list(NUMERIC_ENTRIES))
@pytest.mark.parametrize("kind", list(TYPE_SLIPS))
def test_type_slips_are_refused_naming_the_parameter(kind, entry):
    """Complex numbers (even with a zero imaginary part), booleans, strings, object arrays and other
    objects are InputErrors naming the parameter, wherever numbers enter — never coerced."""
    call, name = NUMERIC_ENTRIES[entry]
    for value in TYPE_SLIPS[kind]:
        with pytest.raises(InputError, match=name):
            call(value)


_NONE_IS_DEFAULT = {f"solve {n}" for n in ("eta_u", "eta_w", "kappa", "target", "data_var")} | {
    "solve_gram area", "Gram area"}


@pytest.mark.parametrize("entry", [e for e in NUMERIC_ENTRIES if e not in _NONE_IS_DEFAULT])
def test_none_is_refused_where_it_is_not_the_documented_default(entry):
    call, name = NUMERIC_ENTRIES[entry]
    with pytest.raises(InputError, match=name):
        call(None)


def test_real_numbers_of_every_kind_are_accepted():
    """The other side of the rule: NumPy scalars, integer arrays, lists, 0-d arrays, a pandas Series."""
    import pandas as pd

    ref = featmech.solve(_V, -_V / 2, kappa=0.5)(1.0)
    for u0, kappa in ((list(_V), np.float32(0.5)), (pd.Series(_V), np.array(0.5)), (tuple(_V), 0.5)):
        got = featmech.solve(u0, -_V / 2, kappa=kappa)(np.float64(1.0))
        assert float(got.output) == pytest.approx(float(ref.output), rel=1e-7)
    assert featmech.solve_gram(np.int64(2), 1, [0, 1]).batch_shape == (2,)
    assert _validation.check_int("width", np.int32(7)) == 7 and _validation.check_int("width", 1e12) == 10**12


def test_without_extended_precision_out_of_band_configurations_are_refused(monkeypatch):
    """Where NumPy's longdouble is plain float64 (Windows, Apple silicon) featmech cannot widen the
    computation: configurations outside BAND are refused, never computed on in float64 and wrong."""
    from featmech.theory.exact import constants, evaluate, gram, solution

    for module in (constants, evaluate, gram, solution):
        monkeypatch.setattr(module, "EXTENDED", None)
    for call in (lambda: featmech.solve(*iid_gaussian(4, 1e-120, 1e-120, seed=0)),
                 lambda: featmech.solve(*iid_gaussian(4, 1e-200, 1e-200, seed=0)),
                 lambda: featmech.solve_gram(1.0, 2.0, 0.5, eta_u=1e140, eta_w=1e140, kappa=1e-150, target=3.0)):
        with pytest.raises(InputError, match="float64 range.*longdouble"):
            call()
    ok = featmech.solve(np.array([0.3, 0.1]), np.array([0.5, -0.2]))  # inside BAND: float64, as everywhere
    assert ok.constants.dtype == np.float64 and float(ok.fixed_point.output) == pytest.approx(1.0)
