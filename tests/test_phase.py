"""Phase diagrams: the vectorized grid against one-at-a-time evaluation, limits, errors, figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from reference import mp_closed_form

import featmech
from featmech.analysis.phase import LABELS, Axis, parse_axis, phase_diagram
from featmech.analysis.regimes import Thresholds, classify_solution
from featmech.errors import InputError


def test_grid_equals_one_at_a_time_on_random_points():
    pd = phase_diagram("sigma_w=1e-3:1:log:12", "eta_ratio=1e-2:1e2:log:10", {"width": 3000, "kappa": 3e-4},
                       seeds=2, seed=5)
    cl = pd.classification
    rng = np.random.default_rng(0)
    for _ in range(25):
        s, i, j = rng.integers(2), rng.integers(10), rng.integers(12)
        g = pd.gram
        p = {k: float(v[i, j]) for k, v in pd.params.items()}
        sol = featmech.solve(g.index((s, i, j)), featmech.Hyper(eta_u=p["eta_u"], eta_w=p["eta_w"], kappa=p["kappa"],
                                                                target=p["target"], data_var=p["data_var"]))
        one = classify_solution(sol)
        assert one.regime == cl.regime[s, i, j] and one.mechanism == cl.mechanism[s, i, j]
        for m in ("ntk_max_deviation", "alignment_end", "balance_change", "convergence_time", "lam"):
            assert np.isclose(getattr(one, m), getattr(cl, m)[s, i, j], rtol=1e-12, equal_nan=True), m
        assert p["eta_u"] == pytest.approx(pd.x.values[j] * 0 + pd.y.values[i] * p["eta_w"])


def test_boundary_is_lambda_of_order_one():
    pd = phase_diagram("width=1e1:1e6:log:25", "kappa=1e-7:1:log:25", seeds=2)
    lam = np.abs(pd.metric("lam"))
    reg = pd.classification.regime
    assert np.all(reg[lam < 0.1] == "kernel")
    assert np.all(reg[(lam > 2.0) & (lam < 1e3)] == "feature")  # sqrt(1 + λ²/4) − 1 > 0.4
    # and the NTK change follows the infinite-width law sqrt(1 + λ²/4) − 1 for large widths
    big = (pd.params["width"] >= 1e5)[None].repeat(2, 0)
    law = np.sqrt(1 + lam**2 / 4) - 1
    sel = big & (lam < 10)
    assert np.allclose(pd.metric("ntk_max_deviation")[sel], law[sel], rtol=0.05, atol=1e-4)


def test_ntk_change_far_below_rounding_against_mpmath():
    """K(∞)/K(0) − 1 of order 1e-13 (NTK parametrization, d = 1e12): below what K∞/K0 − 1 can resolve."""
    d = 10**12
    from featmech.theory.inits import sample_gram

    g = sample_gram(d, 1.0, 1.0, seed=3)
    hp = dict(eta_u=1.0, eta_w=1.0, kappa=d**-0.5, target=1.0, data_var=1.0)
    sol = featmech.solve(g, featmech.Hyper(**hp))
    change = float(sol.ntk_change)
    assert 0 < abs(change) < 1e-10  # λ²/8 with λ ~ d^-½
    ref = mp_closed_form(float(g.uu), float(g.ww), float(g.uw), times=[0.0, 2000.0], dps=300, **hp)
    ref_change = float(ref["ntk"][1] / ref["ntk"][0] - 1)
    assert change == pytest.approx(ref_change, rel=1e-6)


def test_convergence_time_matches_root_search():
    pd = phase_diagram("width=1e1:1e4:log:4", "rho=-0.9:0.9:linear:5", {"kappa": 1e-2, "target": -0.5}, seeds=1)
    tc = pd.metric("convergence_time")
    g = pd.gram
    for i in range(5):
        for j in range(4):
            p = {k: float(v[i, j]) for k, v in pd.params.items()}
            sol = featmech.solve(g.index((0, i, j)), featmech.Hyper(kappa=p["kappa"], target=p["target"]))
            t_ref = sol.time_to_loss(float(sol(0.0).loss) * 1e-4)
            assert tc[0, i, j] == pytest.approx(t_ref, rel=1e-6)


@pytest.mark.parametrize("spec, match", [
    ("bogus=1:2:log:3", "unknown axis"),
    ("kappa=2:1:log:3", "inverted"),
    ("kappa=1:1:log:3", "inverted"),
    ("kappa=0:1:log:3", "start > 0"),
    ("kappa=1:2:cubic:3", "log or linear"),
    ("kappa=1:2:log:0", "num must be >= 1"),
    ("kappa=", "no values|must look like"),
    ("rho=-2:0:linear:3", "rho"),
    ("kappa", "must look like"),
])
def test_bad_axes(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_axis(spec)


def test_bad_grids_and_thresholds():
    with pytest.raises(ValueError, match="force"):
        phase_diagram("sigma_w=1e-3:1:log:10000", "kappa=1e-6:1:log:10001", seeds=1)
    with pytest.raises(ValueError, match="different"):
        phase_diagram("kappa=1e-3:1:log:3", "kappa=1e-3:1:log:3")
    with pytest.raises(ValueError, match="is an axis"):
        phase_diagram("kappa=1e-3:1:log:3", "width=10,100", {"kappa": 1.0})
    with pytest.raises(ValueError, match="not both"):
        phase_diagram("kappa=1e-3:1:log:3", "eta_ratio=0.1,1", {"eta_u": 1.0})
    with pytest.raises(ValueError, match="unknown parameter"):
        phase_diagram("kappa=1e-3:1:log:3", "width=10,100", {"sigma": 1.0})
    with pytest.raises(ValueError):
        Thresholds(eps=-1)
    with pytest.raises(ValueError, match="axis"):
        Axis("width", np.array([]))


def test_tidy_table(tmp_path):
    pd = phase_diagram("width=10,100,1000", "kappa=1e-3:1:log:4", seeds=2)
    t = pd.table()  # a featmech.tables.Table (the one CSV/JSON writer)
    cols = t.columns
    n = 3 * 4 * 2
    assert t.n_rows == n and all(len(v) == n for v in cols.values())
    assert set(cols["regime"]) <= {"kernel", "feature", "unstable"}
    path = pd.to_csv(tmp_path / "t.csv")
    lines = path.read_text().strip().splitlines()
    assert len(lines) == n + 1 and lines[0].startswith("seed,width")
    assert sum(pd.summary()["counts"].values()) == n
    # every row is one (seed, y, x) point of the grids, at full precision in the CSV
    header = lines[0].split(",")
    cl = pd.classification
    for r, line in enumerate(lines[1:]):
        s, i, j = np.unravel_index(r, pd.shape)
        row = dict(zip(header, line.split(",")))
        assert int(row["seed"]) == s and float(row["width"]) == pd.x.values[j]
        assert float(row["kappa"]) == pd.y.values[i] and row["regime"] == cl.regime[s, i, j]
        assert float(row["lam"]) == cl.lam[s, i, j] or (np.isnan(cl.lam[s, i, j]) and row["lam"] == "nan")
    df = pd.to_pandas()
    assert list(df.columns) == header and len(df) == n
    obj = json.loads(t.to_json())
    assert obj["summary"]["counts"] == pd.summary()["counts"] and len(obj["regime"]) == n


def test_figures_render(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image as mpimg

    from featmech.report.plots import plot_phase

    pd = phase_diagram("width=1e1:1e5:log:12", "kappa=1e-6:1:log:10", seeds=2)
    files = plot_phase(pd, tmp_path)
    assert len(files) == 8
    for f in files:
        assert f.exists() and f.stat().st_size > 2000
        if f.suffix == ".png":
            img = mpimg.imread(f)
            assert img.shape[0] > 300 and img.shape[1] > 400
            assert img[..., :3].std() > 0.05  # not blank
    assert LABELS[0] == "kernel"


def test_axes_take_names_defaults_and_ranges_from_the_parameter_table():
    from featmech.analysis.phase import AXIS_NAMES, DEFAULTS, GRID_PARAMETERS
    from featmech.params import PARAMETERS

    assert set(AXIS_NAMES) == set(GRID_PARAMETERS) | {"eta_ratio"} and set(AXIS_NAMES) <= set(PARAMETERS)
    assert DEFAULTS == {n: float(PARAMETERS[n].default) for n in GRID_PARAMETERS}
    pd = phase_diagram("kappa=1e-3,1", "rho=0,0.5", seeds=1)
    for n in GRID_PARAMETERS:
        if n not in ("kappa", "rho"):
            assert np.all(pd.params[n] == PARAMETERS[n].default), n
    # the table's messages and ranges
    with pytest.raises(InputError, match=r"rho must be in \[-1, 1\], got -2"):
        parse_axis("rho=-2,0")
    with pytest.raises(InputError, match="eta_ratio must be in"):
        parse_axis("eta_ratio=0,1")  # (0, inf): η_u/η_w = 0 is refused
    with pytest.raises(InputError, match="data_var"):
        phase_diagram("kappa=1e-3,1", "rho=0,0.5", {"data_var": -1.0})
    with pytest.raises(InputError, match="target must be finite"):
        Axis("target", np.array([1.0, np.inf]), "linear")


def test_fractional_widths_are_refused_not_rounded():
    for make in (lambda: Axis("width", np.array([10.0, 10.5])), lambda: parse_axis("width=10.5,100"),
                 lambda: parse_axis("width=10.5:100:log:3"),
                 lambda: phase_diagram("kappa=1e-3,1", "rho=0,0.5", {"width": 99.5})):
        with pytest.raises(InputError, match="width must be an integer"):
            make()
    # a range of widths is a grid of integers (the nearest ones), within its ends
    ax = parse_axis("width=10:1e6:log:17")
    assert np.all(ax.values == np.round(ax.values)) and ax.values[0] == 10 and ax.values[-1] == 1e6
    assert np.allclose(ax.values, np.logspace(1, 6, 17), rtol=0.05)
    assert parse_axis("width=1,2,3").values.tolist() == [1.0, 2.0, 3.0]


def test_labels_come_from_the_enums_and_results_are_read_only():
    from featmech.analysis.labels import (
        CATEGORIES,
        Mechanism,
        Regime,
        categories,
        category,
    )
    from featmech.analysis.phase import label_of

    assert LABELS[:-1] == CATEGORIES == (category(Regime.KERNEL, Mechanism.NONE),
                                         *(category(Regime.FEATURE, m) for m in
                                           (Mechanism.ALIGNMENT, Mechanism.DISALIGNMENT, Mechanism.RESCALING)),
                                         category(Regime.UNSTABLE, Mechanism.NONE))
    assert LABELS[-1] == category(Regime.UNDETERMINED, Mechanism.NONE) == "undetermined"
    pd = phase_diagram("sigma_w=1e-3:1:log:8", "eta_ratio=1e-2:1e2:log:6", {"width": 3000, "kappa": 3e-4}, seeds=2)
    cl = pd.classification
    cats = categories(cl.regime, cl.mechanism)
    lab = pd.label
    assert np.all(np.asarray(LABELS)[lab] == cats)
    assert label_of(cl.regime, cl.mechanism).tolist() == lab.tolist()
    assert len(set(cats.ravel())) >= 2
    for arr in (pd.x.values, pd.y.values, cl.regime, cl.lam, *pd.params.values()):
        assert not arr.flags.writeable
    with pytest.raises(TypeError):
        pd.fixed["width"] = 10  # read-only mapping
    with pytest.raises(InputError, match="unknown metric"):
        pd.metric("bogus")


def test_points_that_earn_no_label_are_undetermined_not_kernel() -> None:
    """rho = -1 with a positive target starts at the anti-aligned saddle: the flow never leaves it, so
    every seed is undetermined and the majority category must say so (it said "kernel" before)."""
    from featmech.analysis.phase import LABELS

    pd = phase_diagram("rho=-1,0.0", "kappa=1e-3,1", {"width": 100}, seeds=2)
    maj = pd.majority_label()
    assert [LABELS[i] for i in maj[:, 0]] == ["undetermined", "undetermined"]
    assert all(LABELS[i] != "undetermined" for i in maj[:, 1])


def test_hyperparameter_axes_keep_the_seed_axis_and_width_ranges_have_no_repeats() -> None:
    """target and data_var axes (no init parameter on either axis) crashed the CLI map: the seed axis
    was lost when the Gram sample had no grid shape; width ranges rounded into repeated values."""
    from featmech.analysis.phase import parse_axis

    for x in ("target=-1,1", "data_var=0,1", "target=0.5,2"):
        pd = phase_diagram(x, "kappa=1e-3,1", {"width": 100}, seeds=3)
        assert pd.label.shape == pd.shape == (3, 2, 2)
        assert pd.majority_label().shape == (2, 2)
        assert len(pd.table().columns["seed"]) == 12
    assert parse_axis("width=1:3:linear:5").values.tolist() == [1.0, 2.0, 3.0]
