"""Infinite-width exponent analysis: presets against the published classifications, numeric slopes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from featmech.analysis.labels import LimitRegime, Mechanism, Regime, category
from featmech.analysis.scaling import (
    PRESETS,
    QUANTITIES,
    Exponents,
    analyze,
    exponent_diagram,
    exponent_grid,
    exponents,
    parse_exponent_axis,
    preset,
    scaling_report,
    verify,
    verify_presets,
)
from featmech.errors import InputError

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

    from featmech.analysis.canonical import canonical_solution
    from featmech.report.plots import plot_exponent_diagram, plot_trajectory
    from featmech.theory.optim import Optimizer, Record
    from featmech.theory.simulate import simulate

    xs, ys = np.linspace(-1.5, 0.5, 9), np.linspace(-1, 2, 7)
    files = plot_exponent_diagram("kappa", xs, "eta", ys, exponent_grid("kappa", xs, "eta", ys), tmp_path / "e")
    sol = canonical_solution("correlated")
    res = simulate(sol.gram, sol.hyper, Optimizer(lr=25.0), 200, Record(every=10))
    files += plot_trajectory(sol(np.linspace(0, 5000, 100)), tmp_path / "t", sim=res, lr=25.0, title="x")
    for f in files:
        assert f.exists() and f.stat().st_size > 2000
        if f.suffix == ".png":
            img = mpimg.imread(f)
            assert img.shape[0] > 300 and img[..., :3].std() > 0.05


def test_limit_labels_are_their_own_type():
    a = analyze(PRESETS["mean-field"].exponents)
    assert isinstance(a.regime, LimitRegime) and not isinstance(a.regime, Regime)
    assert a.mechanism is Mechanism.ALIGNMENT and a.category == "feature/alignment"
    rich = analyze(Exponents(sigma_u2=-2.0, sigma_w2=-2.0, eta_u=1.0, eta_w=1.0, kappa=-1.0))
    assert rich.regime is LimitRegime.RICH and rich.category == "rich"
    d = a.as_dict()
    assert d["regime"] == "feature" and type(d["regime"]) is str and d["exponents"]["eta_u"] == 1.0
    assert json.loads(json.dumps(d))["mechanism"] == "alignment"


def test_verification_is_typed_and_read_only():
    v = verify(PRESETS["ntk"].exponents, seeds=4)
    assert isinstance(v.regime, LimitRegime) and isinstance(v.finite_width_regime, Regime)
    assert [c.quantity for c in v.checks] == list(QUANTITIES)
    assert v.predicted == {q: getattr(v.analysis, q) for q in QUANTITIES}
    assert not v.widths.flags.writeable and all(not a.flags.writeable for a in v.data.values())
    assert v.finite_width_label == "kernel" and v.category == "kernel"
    t = v.table()
    assert list(t.columns) == ["quantity", "predicted", "measured", "agree"]
    assert t.scalars["predicted"] == "kernel" and t.scalars["all_agree"] is True
    with pytest.raises(InputError, match="widths"):
        verify(PRESETS["ntk"].exponents, widths=[100.5, 1e4])


def test_verify_presets_reports_what_the_presets_command_prints():
    report = verify_presets()
    assert [r.name for r in report.rows] == list(PRESETS)
    assert report.all_agree == all(r.predicted == r.measured and r.verification.all_agree for r in report.rows)
    t = report.table()
    assert list(t.columns)[:7] == ["preset", "description", "published", "predicted", "measured",
                                   "finite_width_label", "slopes_agree"]
    cols = t.columns
    for i, name in enumerate(PRESETS):
        assert cols["predicted"][i] == cols["measured"][i] == category(*PUBLISHED[name])
        ref = verify(PRESETS[name].exponents)  # the same computation, one at a time
        for q in QUANTITIES:
            assert cols[f"measured_{q}"][i] == ref.measured[q] and cols[f"predicted_{q}"][i] == ref.predicted[q]
        assert cols["slopes_agree"][i] == ref.all_agree and cols["finite_width_label"][i] == ref.finite_width_label
        assert cols["published"][i] == PRESETS[name].published
    obj = json.loads(t.to_json())
    assert obj["predicted"] == obj["measured"]
    with pytest.raises(InputError, match="unknown preset"):
        verify_presets(names=("nope",))


def test_exponents_from_presets_and_changes():
    e = exponents("mean-field", kappa=-0.5, eta_w=None)
    assert (e.kappa, e.eta_w, e.eta_u) == (-0.5, 1.0, 1.0)
    assert exponents() == Exponents() and preset("ntk") == PRESETS["ntk"][0]
    exps, desc, pub = PRESETS["ntk"]  # a preset still unpacks
    assert exps.kappa == -0.5 and "Jacot" in pub
    with pytest.raises(InputError, match="unknown preset"):
        exponents("nope")
    with pytest.raises(InputError, match="unknown exponent"):
        exponents(kapa=1.0)
    with pytest.raises(InputError, match="kappa"):
        exponents(kappa=20.0)


def test_exponent_diagram_and_scaling_report():
    diag = exponent_diagram("kappa=-1.5:0.5:5", "eta=-1:2:4", base=PRESETS["mean-field"].exponents)
    assert diag.labels.shape == (4, 5) and not diag.labels.flags.writeable
    ref = exponent_grid("kappa", np.linspace(-1.5, 0.5, 5), "eta", np.linspace(-1, 2, 4),
                        base=PRESETS["mean-field"].exponents)
    assert (diag.labels == ref).all()
    for i, yv in enumerate(diag.y.values):
        for j, xv in enumerate(diag.x.values):
            e = exponents("mean-field", kappa=xv, eta_u=yv, eta_w=yv)
            assert diag.labels[i, j] == analyze(e).category
    assert diag.table().n_rows == 20
    rep = scaling_report(PRESETS["mean-field"].exponents, seeds=4, diagram=("kappa=-1.5:0.5:5", "eta=-1:2:4"))
    d = rep.as_dict()
    assert d["all_agree"] and d["analysis"]["regime"] == "feature" and d["diagram"]["labels"] == ref.tolist()
    assert json.loads(rep.table().to_json())["diagram"]["x"] == "kappa"
    for spec, match in (("kappa=1:0:3", "LO < HI"), ("nope=0:1:3", "unknown exponent axis"), ("kappa", "NAME=LO"),
                        ("kappa=0:1:1", "NUM >= 2"), ("kappa=0:20:3", "kappa exponents")):
        with pytest.raises(InputError, match=match):
            parse_exponent_axis(spec)
    with pytest.raises(InputError, match="differ"):
        exponent_diagram("kappa=0:1:3", "kappa=0:1:3")
