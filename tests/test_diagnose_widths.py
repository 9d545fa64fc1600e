"""diagnose_widths: width exponents and the infinite-width verdict of a parametrization.

References, all independent of the implementation:
- the analytic infinite-width exponents of the linear two-layer net (featmech.analysis.scaling.analyze,
  docs/theory.md §4) for the NTK, mean-field, μP and standard-at-lr-1/d parametrizations, and
  GD's divergence for the standard parametrization at a fixed lr (the "unstable" limit);
- numpy.polyfit for the log–log slope and its covariance (the OLS standard error);
- the published limits of MLPs: standard parametrization at lr ∝ 1/width → kernel (the NTK
  change falls), μP → feature learning (it does not);
- a call counter for resume (no finished point recomputed).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from featmech.analysis.scaling import analyze, preset  # noqa: E402
from featmech.data import regression_1d  # noqa: E402
from featmech.errors import InputError  # noqa: E402
from featmech.nets.networks import TwoLayerNet  # noqa: E402
from featmech.nets.parametrizations import parametrization  # noqa: E402
from featmech.sweeps.registry import get  # noqa: E402
from featmech.sweeps.store import Store  # noqa: E402
from featmech.sweeps.widths import (  # noqa: E402
    Exponent,
    WidthRule,
    WidthVerdict,
    decide,
    diagnose_widths,
    fit_exponent,
    model_name,
)


# ------------------------------------------------------------------------------------------ models
def linear_net(name: str):
    """The linear two-layer net f(x) = κ Σ u_i w_i x in the named parametrization of
    featmech.analysis.scaling: σ_u² = d^a_u, σ_w² = d^a_w, κ = d^c, per-layer lr multipliers
    (hidden w first, then output u, the order of weight_layers)."""
    e = preset(name)

    def build(width: int, seed: int = 0):
        hp = e.at(width)
        net = TwoLayerNet(width, "linear", sigma_u=float(hp["sigma_u"]), sigma_w=float(hp["sigma_w"]),
                          kappa=float(hp["kappa"]), seed=seed)
        return net, [float(hp["eta_w"]), float(hp["eta_u"])]

    return build


def mlp(name: str):
    """A one-hidden-layer tanh MLP 2 → width → 1 in a parametrization of featmech.nets.parametrizations
    (``standard``: PyTorch's init at rate ∝ 1/width; ``mup``: μP for SGD)."""
    p = parametrization(name)

    def build(width: int, seed: int = 0):
        return p.build(width, 2, 1, seed, depth=1)

    return build


def linear_ntk(width: int, seed: int = 0):
    """The linear net in the NTK parametrization, importable by workers as a path."""
    return linear_net("ntk")(width, seed)


def _mlp_data(n: int = 32):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    return X, np.tanh(X[:, :1] - 0.5 * X[:, 1:])


X1, Y1 = regression_1d(16, seed=1)


# ------------------------------------------------------------------------------------------ fitting and rule
def test_fit_exponent_matches_polyfit_and_its_standard_error():
    rng = np.random.default_rng(3)
    w = np.repeat([16, 64, 256, 1024], 3)
    v = 2.0 * w**-0.7 * np.exp(0.1 * rng.standard_normal(w.size))
    e = fit_exponent(w, v, np.tile([0, 1, 2], 4))
    coef, cov = np.polyfit(np.log(w), np.log(v), 1, cov="unscaled")
    resid = np.log(v) - np.polyval(coef, np.log(w))
    se = math.sqrt(cov[0, 0] * (resid @ resid) / (w.size - 2))
    assert e.slope == pytest.approx(coef[0], rel=1e-12) and e.intercept == pytest.approx(coef[1], rel=1e-12)
    assert e.stderr == pytest.approx(se, rel=1e-10)
    assert e.low < coef[0] < e.high and e.points == 12 and e.widths == 4 and len(e.per_seed) == 3
    # values that are not finite or not > 0 are left out; one width left: no slope
    assert fit_exponent([8, 8, 16], [1.0, 2.0, 0.0]).slope is None
    assert fit_exponent([8, 16], [1.0, 0.5]).stderr is None


def test_rule_order_and_reasons():
    k = {"ntk_change": Exponent("ntk_change", -0.8, 0.05, -0.9, -0.7, points=6)}
    kern = [{"width": w, "regime": "kernel", "diverged": False} for w in (10, 100)]
    assert decide(kern, k)[0] is WidthVerdict.KERNEL
    div = kern + [{"width": 100, "regime": "unstable", "diverged": True}]
    assert decide(div, k)[0] is WidthVerdict.UNSTABLE
    grows = {**k, "output_at_init": Exponent("output_at_init", 0.5)}
    assert decide(kern, grows)[0] is WidthVerdict.UNSTABLE
    gap_flat = {**k, "linearization_gap": Exponent("linearization_gap", 0.0)}
    verdict, reason = decide(kern, gap_flat)
    assert verdict is WidthVerdict.UNDETERMINED and "linearization gap" in reason
    feat = [{"width": w, "regime": "feature", "diverged": False} for w in (10, 100)]
    flat = {"ntk_change": Exponent("ntk_change", 0.05, 0.02, 0.0, 0.1, points=6)}
    assert decide(feat, flat)[0] is WidthVerdict.FEATURE
    assert decide(feat, flat, WidthRule(flat=0.01))[0] is WidthVerdict.UNDETERMINED
    assert decide(feat + kern, flat)[0] is WidthVerdict.UNDETERMINED
    assert WidthVerdict.FEATURE.label == "feature learning persists"


# ------------------------------------------------------------------------------------------ (b) linear net vs theory
@pytest.mark.parametrize("name", ["ntk", "sp-lr1/d", "mean-field"])
def test_linear_net_matches_the_infinite_width_exponents(name):
    """The fitted NTK-change and initial-output exponents of the network against the analytic ones."""
    r = diagnose_widths(linear_net(name), [16, 64, 256, 1024], X1, Y1, seeds=(0, 1, 2), lr=0.3, steps=30,
                        linearize=False)
    theory = analyze(preset(name))
    ntk, out0 = r.exponents["ntk_change"], r.exponents["output_at_init"]
    assert ntk.low <= theory.ntk_change <= ntk.high and abs(ntk.slope - theory.ntk_change) < 0.35, ntk
    assert out0.low <= theory.output0 <= out0.high and abs(out0.slope - theory.output0) < 0.35, out0
    expected = WidthVerdict.KERNEL if theory.regime == "kernel" else WidthVerdict.FEATURE
    assert r.verdict is expected, r.summary()
    assert r.exponents["linearization_gap"].slope is None  # not measured (linearize=False)


def test_standard_parametrization_at_fixed_lr_is_unstable():
    """SP at lr O(1): the rate grows with the width (analyze: 'unstable'), GD diverges at large width."""
    assert analyze(preset("sp")).regime == "unstable"
    r = diagnose_widths(linear_net("sp"), [4, 256], X1, Y1, lr=0.3, steps=30, linearize=False)
    assert r.verdict is WidthVerdict.UNSTABLE, r.summary()
    assert [run["diverged"] for run in r.runs] == [False, True]


# ------------------------------------------------------------------------------------------ (a) MLP parametrizations
def _mlp_check(make, widths, seeds, steps, lr):
    X, Y = _mlp_data()
    return diagnose_widths(make, widths, X, Y, seeds=seeds, lr=lr, steps=steps)


# the base lr is about 0.4 (SP, lr multipliers 1/width) and 0.35 (μP) of the GD edge 2n/λ_max(Θ0)
# measured by diagnose (lr_edge ≈ 10 and ≈ 3 at these widths); SP needs more steps to converge
def test_mlp_standard_at_lr_over_width_is_kernel_and_mup_is_feature():
    sp = _mlp_check(mlp("standard"), [16, 64, 256], (0,), 150, 4.0)
    assert sp.exponents["ntk_change"].slope < -0.5 and sp.verdict is WidthVerdict.KERNEL, sp.summary()
    mup = _mlp_check(mlp("mup"), [16, 64, 256], (0,), 40, 1.0)
    assert abs(mup.exponents["ntk_change"].slope) < 0.2 and mup.verdict is WidthVerdict.FEATURE, mup.summary()


@pytest.mark.slow
def test_mlp_parametrizations_bigger():
    sp = _mlp_check(mlp("standard"), [32, 64, 128, 256, 512], (0, 1, 2), 300, 4.0)
    assert sp.exponents["ntk_change"].slope < -0.5 and sp.verdict is WidthVerdict.KERNEL, sp.summary()
    mup = _mlp_check(mlp("mup"), [32, 64, 128, 256, 512], (0, 1, 2), 100, 1.0)
    assert abs(mup.exponents["ntk_change"].slope) < 0.2 and mup.verdict is WidthVerdict.FEATURE, mup.summary()


# ------------------------------------------------------------------------------------------ (c) resume
def test_resume_recomputes_nothing_finished(tmp_path):
    calls = []
    build = linear_net("ntk")

    def counted(width, seed=0):
        calls.append((width, seed))
        return build(width, seed)

    db = tmp_path / "w.db"
    kw = dict(seeds=(0, 1), lr=0.3, steps=10, linearize=False, store=db)
    first = diagnose_widths(counted, [8, 32], X1, Y1, **kw)
    assert sorted(calls) == [(8, 0), (8, 1), (32, 0), (32, 1)] and first.computed == 4
    calls.clear()
    second = diagnose_widths(counted, [8, 32, 128], X1, Y1, **kw)
    assert sorted(calls) == [(128, 0), (128, 1)] and (second.computed, second.skipped) == (2, 4)
    assert [r["ntk_change"] for r in second.runs[:4]] == [r["ntk_change"] for r in first.runs]
    calls.clear()
    third = diagnose_widths(counted, [8, 32, 128], X1, Y1, **kw)
    assert calls == [] and third.skipped == 6 and third.exponents["ntk_change"].slope == second.exponents[
        "ntk_change"].slope
    with Store(db) as s:
        assert len(s.points("done")) == 6
    # other data, or another keyword: new points, not the stored ones
    calls.clear()
    diagnose_widths(counted, [8, 32], X1, 2 * Y1, **kw)
    assert len(calls) == 4


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["process", "dask"])
def test_parallel_executors_give_the_serial_results(tmp_path, executor):
    """The data travel to the workers with the task: a pool or a local Dask cluster computes what
    this process computes (the same runs, bit for bit), keyed alike (a second run resumes all)."""
    path = f"{linear_ntk.__module__}:linear_ntk"
    kw = dict(seeds=(0, 1), lr=0.3, steps=10, linearize=False)
    serial = diagnose_widths(path, [8, 32], X1, Y1, **kw)
    par = diagnose_widths(path, [8, 32], X1, Y1, executor=executor, workers=2, store=tmp_path / "p.db", **kw)
    assert [r["ntk_change"] for r in par.runs] == [r["ntk_change"] for r in serial.runs]
    again = diagnose_widths(path, [8, 32], X1, Y1, store=tmp_path / "p.db", **kw)
    assert again.skipped == 4 and again.computed == 0


def test_result_frame_table_plot():
    r = diagnose_widths(linear_net("ntk"), [8, 32], X1, Y1, seeds=(0, 1), lr=0.3, steps=10, linearize=False)
    f = r.frame()
    assert list(f.columns) == ["width", "seed", "quantity", "value"]
    assert set(f.quantity) >= {"ntk_change", "output_at_init", "train_loss"}
    assert len(f[f.quantity == "ntk_change"]) == 4
    t = r.table().to_pandas()
    assert list(t["width"]) == [8, 32] and list(t["runs"]) == [2, 2]
    means = f[f.quantity == "ntk_change"].groupby("width")["value"].mean()
    assert np.allclose(t["ntk_change"], means.values)
    fig = r.plot()
    assert r.verdict.label in fig._suptitle.get_text() and len(fig.axes) == 3  # gap not measured: 3 panels
    assert r.as_dict()["verdict"] == r.verdict.value and r.verdict.label in r.summary()


# ------------------------------------------------------------------------------------------ (d) bad inputs
@pytest.mark.parametrize("widths", [[0, 8], [8], [8, 8], [8, 16, 8], [-4, 8], [2.5, 8], "8,16", [True, 8], []])
def test_bad_widths(widths):
    with pytest.raises(InputError, match="widths"):
        diagnose_widths(linear_net("ntk"), widths, X1, Y1, lr=0.3, steps=5)


def test_bad_inputs():
    make = linear_net("ntk")
    with pytest.raises(InputError, match="cannot import module"):
        diagnose_widths("featmech.nowhere:make", [8, 16], X1, Y1)
    with pytest.raises(InputError, match="no callable"):
        diagnose_widths("featmech.data:no_such_function", [8, 16], X1, Y1)
    with pytest.raises(InputError, match="dotted path"):
        diagnose_widths("featmech.data.regression_1d", [8, 16], X1, Y1)
    with pytest.raises(InputError, match="executor='serial'"):
        diagnose_widths(make, [8, 16], X1, Y1, executor="process")
    with pytest.raises(InputError, match="seeds"):
        diagnose_widths(make, [8, 16], X1, Y1, seeds=(0, 0))
    with pytest.raises(InputError, match="seeds="):
        diagnose_widths(make, [8, 16], X1, Y1, seed=1)
    with pytest.raises(InputError, match="JSON"):
        diagnose_widths(make, [8, 16], X1, Y1, thresholds=object())
    with pytest.raises(InputError, match="one row per sample"):
        diagnose_widths(make, [8, 16], X1, Y1[:3])
    with pytest.raises(InputError, match="finite"):
        diagnose_widths(make, [8, 16], np.full_like(X1, np.nan), Y1)
    with pytest.raises(InputError, match="executor"):
        diagnose_widths(make, [8, 16], X1, Y1, executor="gpu")


@pytest.mark.parametrize("kwargs,name", [({"steps": -1}, "steps"), ({"steps": 0}, "steps"), ({"lr": -1}, "lr"),
                                         ({"lr": "fast"}, "lr"), ({"optimizer": "rmsprop"}, "optimizer"),
                                         ({"loss": "hinge"}, "loss"), ({"stepz": 3}, "stepz"),
                                         ({"batch_size": 0}, "batch_size"), ({"linearize": "no"}, "linearize"),
                                         ({"multipliers": [1, -1]}, "multipliers"), ({"thresholds": {"eps": -1}}, "eps")])
def test_bad_diagnose_keyword_is_refused_before_any_run(kwargs, name):
    calls = []

    def make(width):
        calls.append(width)
        return linear_net("ntk")(width)

    with pytest.raises(InputError, match=name):
        diagnose_widths(make, [8, 16], X1, Y1, **{"lr": 0.3, "steps": 5, **kwargs})
    assert calls == []  # refused up front: no model built, no point run


def test_a_point_that_fails_inside_diagnose_is_a_failure_not_a_crash():
    # batch_size beyond the number of examples is only known once the data meet the model
    r = diagnose_widths(linear_net("ntk"), [8, 16], X1, Y1, lr=0.3, steps=5, batch_size=10_000)
    assert len(r.failures) == 2 and "batch_size" in r.failures[0][2] and r.verdict is WidthVerdict.UNDETERMINED


def test_widths_result_pickles():
    import pickle

    r = diagnose_widths(linear_net("ntk"), [8, 16], X1, Y1, lr=0.3, steps=5, linearize=False)
    back = pickle.loads(pickle.dumps(r))
    import json

    assert json.dumps(back.as_dict(), sort_keys=True, default=str) == json.dumps(r.as_dict(), sort_keys=True, default=str)
    assert back.summary() == r.summary() and back.verdict is r.verdict
    with pytest.raises(TypeError):  # still read-only after the round trip
        back.runs[0]["width"] = 3  # type: ignore[index]


def test_model_names():
    name, importable = model_name(linear_net)
    assert name.endswith("test_diagnose_widths:linear_net") and importable
    a, b = linear_net("ntk"), linear_net("mean-field")
    assert model_name(a)[0] != model_name(b)[0]  # closures over other values: other keys
    assert model_name(a)[0] == model_name(linear_net("ntk"))[0]
    assert get("diagnose").cheap is False


def test_presentation_is_short_and_names_caveats():
    r = diagnose_widths(linear_net("ntk"), [8, 16], X1, Y1, lr=0.3, steps=5, linearize=False)
    assert repr(r).startswith("<WidthsResult ") and len(repr(r)) < 200 and r.caveats == ()
    assert r.verdict.label in r._repr_html_() and "<table" in r._repr_html_()
    with pytest.warns(UserWarning, match="Adam"):
        a = diagnose_widths(linear_net("ntk"), [8, 16], X1, Y1, lr=0.01, steps=5, optimizer="adam", linearize=False)
    assert any("Adam" in c for c in a.caveats) and "Caveat: Adam" in a.summary()
    f = diagnose_widths(linear_net("ntk"), [8, 16], X1, Y1, lr=0.3, steps=5, batch_size=10_000)
    assert "failed: width 8" in f.summary() and "batch_size" in f.summary()


_CALLS: list[int] = []  # module state, not a closure cell: the model's key must not change between the two calls


def _interrupted_make(width, seed=0):
    _CALLS.append(width)
    if width == 16 and len(_CALLS) == 2:
        raise KeyboardInterrupt  # the user presses Ctrl-C during the second run
    return linear_net("ntk")(width, seed)


def test_ctrl_c_says_what_is_kept_and_the_rerun_resumes(tmp_path):
    _CALLS.clear()
    make, calls = _interrupted_make, _CALLS
    store = tmp_path / "w.db"
    with pytest.raises(KeyboardInterrupt, match="1 of 2 runs had finished; they are in the store"):
        diagnose_widths(make, [8, 16], X1, Y1, lr=0.3, steps=5, store=store, linearize=False)
    again = diagnose_widths(make, [8, 16], X1, Y1, lr=0.3, steps=5, store=store, linearize=False)
    assert again.skipped == 1 and again.computed == 1 and calls == [8, 16, 16]


def test_a_toml_spec_cannot_run_the_diagnose_computation():
    from featmech.sweeps.spec import parse_spec

    with pytest.raises(InputError, match="cannot run from a spec.*diagnose_widths"):
        parse_spec({"computation": "diagnose", "fixed": {"width": 8}})
    assert get("diagnose").spec is False and get("network").spec is True


def test_a_serial_study_leaves_the_thread_setting_alone():
    torch.set_num_threads(2)
    try:
        diagnose_widths(linear_net("ntk"), [8, 16], X1, Y1, lr=0.3, steps=3, linearize=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_unstable_reason_tells_divergence_from_oscillation():
    e = {"ntk_change": Exponent("ntk_change", -1.0)}
    osc = [{"width": 64, "regime": "unstable", "status": "not converged", "diverged": True}]
    div = [{"width": 64, "regime": "unstable", "status": "diverged", "diverged": True}]
    assert decide(osc, e) == (WidthVerdict.UNSTABLE, "1 of 1 runs at the largest width 64 oscillated at the edge of "
                                                     "stability")
    assert decide(div, e)[1].endswith("diverged")
