"""Infinite-width exponent analysis: presets against the published classifications, numeric slopes."""

from __future__ import annotations

import math

import pytest

from featmech.analysis.scaling import PRESETS, Exponents, analyze, exponent_grid, verify

PUBLISHED = {  # (regime, mechanism) from the literature
    "sp": ("unstable", "none"),  # Yang & Hu 2021: SP at lr O(1) blows up
    "sp-lr1/d": ("kernel", "none"),  # Yang & Hu 2021: SP at its stable lr is in the kernel regime
    "ntk": ("kernel", "none"),  # Jacot et al. 2018
    "mean-field": ("feature", "alignment"),  # Mei et al. 2018, Chizat & Bach 2018
    "mup": ("feature", "alignment"),  # Yang & Hu 2021
    "chizat-lazy": ("kernel", "none"),  # Chizat et al. 2019
}


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_match_published_classification_analytically_and_numerically(name):
    exps = PRESETS[name][0]
    a = analyze(exps)
    assert (a.regime, a.mechanism) == PUBLISHED[name]
    v = verify(exps, seeds=12)
    assert v.all_agree, (v.measured, v.predicted)
    assert (v.regime, v.mechanism) == PUBLISHED[name]


def test_exponent_formulas_on_a_hand_computed_case():
    # σ² = d^-1 both, η = d^0.5 both, κ = d^-0.25: U = W = d^(1-1-0.5) = d^-0.5, sκ = d^0.25,
    # ℓ = -(0.25 - 0.5) = 0.25 (rich), δ = 0.25 (unstable)
    a = analyze(Exponents(sigma_u2=-1, sigma_w2=-1, eta_u=0.5, eta_w=0.5, kappa=-0.25))
    assert a.U == pytest.approx(-0.5) and a.lam == pytest.approx(0.25) and a.rate == pytest.approx(0.25)
    assert a.output0 == pytest.approx(-0.25 + 0.5 - 1.0)
    assert a.regime == "unstable"
    # unbalanced mean-field-like scaling: rescaling
    b = analyze(Exponents(sigma_u2=0.0, sigma_w2=-1.0, eta_u=1.0, eta_w=1.0, kappa=-1.0))
    assert (b.regime, b.mechanism) == ("feature", "rescaling")
    c = analyze(Exponents(kappa=-1.0))
    assert c.regime == "frozen"
    d = analyze(Exponents(kappa=1.0))
    assert d.regime == "divergent-output" and math.isfinite(d.output0)


def test_numeric_slopes_for_rich_and_rescaling_cases():
    v = verify(Exponents(sigma_u2=0.0, sigma_w2=-1.0, eta_u=1.0, eta_w=1.0, kappa=-1.0))
    assert v.all_agree and v.finite_width_label == "feature/rescaling"


def test_exponent_grid_and_errors():
    lab = exponent_grid("kappa", [-1.0, -0.5, 0.0], "sigma2", [-1.0, 0.0])
    assert lab.shape == (2, 3)
    assert lab[1, 1] == "kernel"  # NTK parametrization point
    with pytest.raises(ValueError, match="unknown exponent axis"):
        exponent_grid("nope", [0.0], "kappa", [0.0])
    with pytest.raises(ValueError):
        Exponents(kappa=float("nan"))


def test_exponent_and_trajectory_figures_render(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image as mpimg
    import numpy as np

    from featmech.analysis.regimes import canonical_solution
    from featmech.report.plots import plot_exponent_diagram, plot_trajectory
    from featmech.theory.simulate import simulate_gram

    xs, ys = np.linspace(-1.5, 0.5, 9), np.linspace(-1, 2, 7)
    files = plot_exponent_diagram("kappa", xs, "eta", ys, exponent_grid("kappa", xs, "eta", ys), tmp_path / "e")
    sol = canonical_solution("correlated")
    g = sol.gram
    res = simulate_gram(g.uu, g.ww, g.uw, area=g.area, lr=25.0, steps=200, kappa=1e-3, target=0.05, every=10)
    files += plot_trajectory(sol(np.linspace(0, 5000, 100)), tmp_path / "t", sim=res, lr=25.0, title="x")
    for f in files:
        assert f.exists() and f.stat().st_size > 2000
        if f.suffix == ".png":
            img = mpimg.imread(f)
            assert img.shape[0] > 300 and img[..., :3].std() > 0.05
