"""THEORY.md §5: the five canonical cases, limits, and the trajectory-array interface."""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference import ode_reference

import featmech
from featmech.analysis.regimes import Thresholds, classify_solution, classify_trajectory
from featmech.theory.inits import aligned, iid_gaussian, sample_gram
from featmech.theory.simulate import simulate


def gram_solution(d, su, sw, eu, ew, kap, k, rho=0.0, seed=0):
    g = sample_gram(d, su, sw, rho=rho, seed=seed)
    return featmech.solve_gram(g.uu, g.ww, g.uw, area=g.area, eta_u=eu, eta_w=ew, kappa=kap, target=k)


CANONICAL = {
    "(i) mean-field": (lambda: gram_solution(1e5, 1, 1, 1e5, 1e5, 1e-5, 1), "feature", "alignment"),
    "(ii) NTK parametrization": (lambda: gram_solution(1e5, 1, 1, 1, 1, 1e5**-0.5, 1), "kernel", "none"),
    "(iii) unbalanced": (lambda: gram_solution(1e5, 1, 1e-3, 1, 1, 2e-5, 1), "feature", "rescaling"),
    "(iv) aligned small init": (lambda: featmech.solve(*aligned(1, 0.3)), "feature", "rescaling"),
    "(v) correlated init": (lambda: gram_solution(1000, 1, 1, 1, 1, 1e-3, 0.05, rho=0.9), "feature",
                            "disalignment"),
}


@pytest.mark.parametrize("name", list(CANONICAL))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_canonical_cases(name, seed):
    make, regime, mech = CANONICAL[name]
    sol = make() if seed == 0 or "aligned" in name else None
    if sol is None:  # other seeds of the same random configuration
        args = {"(i) mean-field": (1e5, 1, 1, 1e5, 1e5, 1e-5, 1, 0.0),
                "(ii) NTK parametrization": (1e5, 1, 1, 1, 1, 1e5**-0.5, 1, 0.0),
                "(iii) unbalanced": (1e5, 1, 1e-3, 1, 1, 2e-5, 1, 0.0),
                "(v) correlated init": (1000, 1, 1, 1, 1, 1e-3, 0.05, 0.9)}[name]
        sol = gram_solution(*args[:7], rho=args[7], seed=seed)
    c = classify_solution(sol)
    assert (c.regime, c.mechanism) == (regime, mech), c


def test_classification_numbers_match_a_dense_ode_trajectory():
    """The exact max-deviation (endpoints + y = 1) equals the max over a dense solve_ivp run."""
    rng = np.random.default_rng(0)
    for _ in range(10):
        u0, w0 = rng.normal(size=3), rng.normal(size=3)
        hp = dict(eta_u=rng.uniform(0.3, 2), eta_w=rng.uniform(0.3, 2), kappa=rng.uniform(0.3, 2),
                  target=rng.uniform(-2, 2), data_var=1.0)
        sol = featmech.solve(u0, w0, **hp)
        c = classify_solution(sol)
        ts = np.linspace(0, 30 / sol.rate, 4000)
        ref = ode_reference(u0, w0, times=ts, **hp)
        dev = np.max(np.abs(ref["ntk"] / ref["ntk"][0] - 1))
        assert c.ntk_max_deviation == pytest.approx(dev, rel=1e-4, abs=1e-9)
        assert c.alignment_end == pytest.approx(ref["alignment"][-1], abs=1e-8)


def test_lambda_to_zero_is_kernel():
    """NTK parametrization: λ = 4k/(κ s N) → 0 as d grows, and the NTK change vanishes."""
    devs = []
    for d in (1e2, 1e4, 1e6, 1e8):
        c = classify_solution(gram_solution(d, 1, 1, 1, 1, d**-0.5, 1))
        devs.append(c.ntk_max_deviation)
    assert all(b < a for a, b in zip(devs, devs[1:]))
    assert devs[-1] < 1e-3
    # and the infinite-width formula K(∞)/K(0) = sqrt(1 + λ²/4)
    d = 1e8
    sol = gram_solution(d, 1, 1, 1, 1, d**-0.5, 1)
    lam = 4.0 / (d**-0.5 * 2 * d)
    assert sol.ntk_ratio == pytest.approx(math.sqrt(1 + lam**2 / 4), rel=1e-3)


def test_thresholds_change_labels_and_are_validated():
    sol = gram_solution(1e5, 1, 1, 1e5, 1e5, 1e-5, 1)
    assert classify_solution(sol, Thresholds(eps=10.0)).regime == "kernel"
    for bad in (dict(eps=0.0), dict(delta=-1.0), dict(factor=float("nan")), dict(factor=0.5)):
        with pytest.raises(ValueError):
            Thresholds(**bad)


def test_trajectory_interface_on_simulated_gd():
    u0, w0 = iid_gaussian(2000, 0.03, 0.03, seed=0)  # small balanced init: alignment
    res = simulate(u0, w0, lr=0.005, steps=40000, every=200)
    c = classify_trajectory(res.ntk, res.alignment, res.norm_u, res.norm_w)
    assert (c.regime, c.mechanism) == ("feature", "alignment")
    exact = classify_solution(featmech.solve(u0, w0))
    assert c.alignment_end == pytest.approx(exact.alignment_end, abs=1e-3)
    div = simulate(u0, w0, lr=100.0, steps=100)
    c = classify_trajectory(div.ntk, div.alignment, div.norm_u, div.norm_w, diverged=bool(div.diverged))
    assert c.regime == "unstable"
    with pytest.raises(ValueError, match="equal length"):
        classify_trajectory([1.0, 2.0], [0.1], [1.0], [1.0])
