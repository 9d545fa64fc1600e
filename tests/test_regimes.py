"""docs/theory.md §5: the five canonical cases, limits, the trajectory-array interface, typed results."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from reference import ode_reference

import featmech
from featmech.analysis import canonical, regimes
from featmech.analysis.canonical import CANONICAL_CASES, CanonicalCase, run_canonical
from featmech.analysis.labels import (
    ALL_CATEGORIES,
    CATEGORIES,
    Mechanism,
    Regime,
    Status,
    category,
)
from featmech.analysis.regimes import (
    LABEL_FIELDS,
    METRICS,
    Thresholds,
    classify,
    classify_solution,
    classify_trajectory,
    explain,
)
from featmech.errors import InputError
from featmech.tables import jsonable
from featmech.theory.inits import aligned, iid_gaussian, sample_gram
from featmech.theory.simulate import simulate


def gram_solution(d, su, sw, eu, ew, kap, k, rho=0.0, seed=0):
    g = sample_gram(d, su, sw, rho=rho, seed=seed)
    return featmech.solve(g, featmech.Hyper(eta_u=eu, eta_w=ew, kappa=kap, target=k))


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


def test_thresholds_come_from_the_parameter_table():
    from featmech.params import PARAMETERS

    th = Thresholds()
    assert th.as_dict() == {n: PARAMETERS[n].default for n in ("eps", "delta", "factor")}
    with pytest.raises(InputError, match=r"factor must be in \[1, inf\), got 0.5"):
        Thresholds(factor=0.5)
    with pytest.raises(InputError, match=r"eps must be in \(0, inf\)"):
        Thresholds(eps=0.0)
    with pytest.raises(InputError, match="delta"):
        Thresholds(delta=True)


def test_one_configuration_gets_enums_and_floats():
    c = classify_solution(CANONICAL["(v) correlated init"][0]())
    assert c.regime is Regime.FEATURE and c.mechanism is Mechanism.DISALIGNMENT
    assert c.regime == "feature" and c.mechanism == "disalignment"  # the enums equal the old strings
    assert c.category == "feature/disalignment" and c.shape == ()
    for name in METRICS:
        assert type(getattr(c, name)) is float, name
    d = c.as_dict()
    assert type(d["regime"]) is str and type(d["mechanism"]) is str and d["regime"] == "feature"
    assert d["thresholds"] == {"eps": 0.1, "delta": 0.1, "factor": 10.0}
    assert set(d) == {"thresholds", *LABEL_FIELDS, *METRICS}
    assert d["converged"] is True and d["status"] == "converged" and type(d["status"]) is str
    assert type(d["borderline"]) is bool and type(d["borderline_threshold"]) is str
    assert c.status is Status.CONVERGED and c.converged is True
    assert json.loads(json.dumps(jsonable(d)))["mechanism"] == "disalignment"


def test_a_batch_gets_read_only_arrays_equal_to_one_at_a_time():
    widths = np.array([1e2, 1e5])
    g = sample_gram(widths, 1.0, 1.0, rho=0.3, seed=4, size=3)
    kap = np.array([1e-2, 1e-5])
    batch = classify_solution(featmech.solve(g, featmech.Hyper(kappa=kap, target=0.5)))
    assert batch.shape == (3, 2)
    for name in ("regime", "mechanism", *METRICS):
        arr = getattr(batch, name)
        assert isinstance(arr, np.ndarray) and arr.shape == (3, 2) and not arr.flags.writeable, name
        with pytest.raises(ValueError):
            arr[0, 0] = arr[0, 1]
    cats = batch.category
    for s in range(3):
        for j in range(2):
            one = classify_solution(featmech.solve(g.index((s, j)), featmech.Hyper(kappa=kap[j], target=0.5)))
            assert one.regime == batch.regime[s, j] and one.mechanism == batch.mechanism[s, j]
            assert cats[s, j] == one.category
            for name in METRICS:
                assert np.isclose(getattr(one, name), getattr(batch, name)[s, j], rtol=1e-13, equal_nan=True)
    assert isinstance(batch.as_dict()["regime"], list)


def test_classify_neither_freezes_nor_aliases_the_callers_arrays():
    dev = np.array([0.01, 0.5])
    z1 = np.array([0.0, 0.8])
    c = classify(ntk_max_deviation=dev, ntk_ratio=1.0, alignment_start=0.0, alignment_end=z1, balance_start=1.0,
                 balance_end=1.0)
    assert c.regime.tolist() == ["kernel", "feature"] and c.mechanism.tolist() == ["none", "alignment"]
    assert dev.flags.writeable and z1.flags.writeable
    dev[:] = 0.0
    assert c.ntk_max_deviation.tolist() == [0.01, 0.5]
    with pytest.raises(InputError, match="broadcast"):
        classify(ntk_max_deviation=[1.0, 2.0], ntk_ratio=[1.0, 2.0, 3.0], alignment_start=0, alignment_end=0,
                 balance_start=1, balance_end=1)
    with pytest.raises(InputError, match="alignment_end"):
        classify(ntk_max_deviation=1.0, ntk_ratio=1.0, alignment_start=0, alignment_end="x", balance_start=1,
                 balance_end=1)


def test_explain_writes_the_labels_of_the_enums():
    for name, (make, regime, mech) in CANONICAL.items():
        c = classify_solution(make())
        text = explain(c, rate=1.0)
        assert text.splitlines()[0].startswith(f"Regime: {Regime(regime).label}")
        if regime == "feature":
            assert f"mechanism: {Mechanism(mech).label}" in text.splitlines()[0]
    div = classify(ntk_max_deviation=0.0, ntk_ratio=1.0, alignment_start=0, alignment_end=0, balance_start=1,
                   balance_end=1, diverged=True)
    assert div.regime is Regime.UNSTABLE and Regime.UNSTABLE.label in explain(div)
    with pytest.raises(InputError, match="single configuration"):
        explain(classify_solution(gram_solution(np.array([10.0, 100.0]), 1, 1, 1, 1, 1, 1)))


def test_run_canonical_agrees_with_the_cases_built_by_hand():
    report = run_canonical(seed=0)
    assert report.all_agree and [r.name for r in report.rows] == list(CANONICAL_CASES)
    by_hand = dict(zip(CANONICAL_CASES, CANONICAL.values()))
    for row in report.rows:
        make, regime, mech = by_hand[row.name]
        ref = classify_solution(make())
        assert (row.classification.regime, row.classification.mechanism) == (regime, mech)
        assert row.case.category == category(regime, mech) == row.category and row.agrees
        for name in METRICS:
            assert np.isclose(getattr(row.classification, name), getattr(ref, name), rtol=1e-12, equal_nan=True)
        assert row.rate == pytest.approx(float(make().rate), rel=1e-12)
    t = report.table()
    assert list(t.columns) == ["case", "expected", "regime", "mechanism", "status", "borderline", "ntk_max_deviation",
                               "ntk_ratio", "alignment_start", "alignment_end", "balance_change", "rate"]
    # every canonical case converges, clear of every threshold
    assert set(t.columns["status"]) == {"converged"} and set(t.columns["borderline"]) == {""}
    obj = json.loads(t.to_json())
    assert obj["all_agree"] is True and obj["thresholds"] == {"eps": 0.1, "delta": 0.1, "factor": 10.0}
    assert obj["expected"] == [c.category for c in CANONICAL_CASES.values()]
    assert set(obj["expected"]) <= set(CATEGORIES)
    # stricter thresholds change the outcome, and the report says so
    strict = run_canonical(thresholds=Thresholds(eps=1e9))
    assert not strict.all_agree and all(r.classification.regime == "kernel" for r in strict.rows)


def test_canonical_cases_are_written_in_the_parameter_vocabulary():
    case = CANONICAL_CASES["unbalanced"]
    assert case.init == "iid" and case.value("sigma_w") == 1e-3 and case.value("rho") == 0.0
    assert float(case.hyper.kappa) == 2e-5 and case.regime is Regime.FEATURE
    with pytest.raises(TypeError):
        case.values["kappa"] = 1.0  # read-only
    with pytest.raises(InputError, match="kappa"):
        CanonicalCase("x", "iid", {"kappa": -1.0}, Regime.KERNEL, Mechanism.NONE)
    with pytest.raises(InputError, match="unknown parameter 'rho'"):
        CanonicalCase("x", "aligned", {"rho": 0.5}, Regime.KERNEL, Mechanism.NONE)
    with pytest.raises(InputError, match="width"):
        CanonicalCase("x", "iid", {"width": 10.5}, Regime.KERNEL, Mechanism.NONE)
    with pytest.raises(InputError, match="init"):
        CanonicalCase("x", "gaussian", {}, Regime.KERNEL, Mechanism.NONE)
    with pytest.raises(InputError, match="unknown canonical case"):
        canonical.canonical_solution("nope")
    # one home: the canonical cases are not re-exported by regimes, and a case is not a tuple
    assert not hasattr(regimes, "CANONICAL_CASES") and not hasattr(regimes, "canonical_solution")
    case = CANONICAL_CASES["aligned"]
    assert case.init == "aligned" and case.values["scale"] == 0.3
    assert (case.regime, case.mechanism) == ("feature", "rescaling")
    with pytest.raises(TypeError):
        iter(case)
    sol = canonical.canonical_solution("aligned", seed=2)
    ref = featmech.solve(*aligned(1, 0.3, seed=2))
    assert float(sol.ntk_ratio) == pytest.approx(float(ref.ntk_ratio), rel=1e-14)


# ---------------------------------------------------------------- labels only where earned (issue 9)
def test_an_unconverged_simulation_is_undetermined():
    """GD stopped long before convergence earns no label; run to convergence it earns the exact one."""
    from featmech.analysis.runs import simulated_run
    from featmech.theory.config import Hyper, Init
    from featmech.theory.simulate import simulate_full

    u0, w0 = iid_gaussian(200, 0.03, 0.03, seed=0)  # small balanced init: a long plateau, then alignment
    short = simulated_run(Init(u0, w0), Hyper(), 300, lr=0.005, every=10)
    ref = simulate_full(u0, w0, lr=0.005, steps=300, every=300)  # the plain full-width loop
    assert ref.loss[-1] > 1e-2 * ref.loss[0]  # by the documented rule it has not converged
    c = short.classification
    assert (c.regime, c.mechanism, c.status, c.converged) == (Regime.UNDETERMINED, Mechanism.NONE,
                                                              Status.NOT_CONVERGED, False)
    assert c.category == "undetermined" and not c.borderline and c.borderline_threshold == ""
    t = short.table()
    assert t.scalars["regime"] == "undetermined" and t.scalars["status"] == "not converged"
    assert json.loads(t.to_json())["classification"]["converged"] is False
    text = explain(c)
    assert text.splitlines()[0] == f"Regime: {Regime.UNDETERMINED.label} — {Status.NOT_CONVERGED.label}."
    assert "train longer" in text
    long = simulated_run(Init(u0, w0), Hyper(), 40000, lr=0.005, every=200)
    assert long.result.loss[-1] <= 1e-2 * long.result.loss[0]
    assert long.classification.converged and long.classification.category == "feature/alignment"
    assert classify_solution(featmech.solve(u0, w0)).category == "feature/alignment"
    # a diverged run stays unstable, and is not converged
    div = simulated_run(Init(u0, w0), Hyper(), 100, lr=100.0).classification
    assert (div.regime, div.status, div.converged) == (Regime.UNSTABLE, Status.DIVERGED, False)
    # the trajectory interface: the loss decides, or the caller's status
    res = simulate(u0, w0, lr=0.005, steps=300, every=10)
    args = (res.ntk, res.alignment, res.norm_u, res.norm_w)
    assert classify_trajectory(*args, loss=res.loss).regime == "undetermined"
    assert classify_trajectory(*args, status="did not train").status is Status.DID_NOT_TRAIN
    assert classify_trajectory(*args).converged  # no evidence given: the caller vouches
    with pytest.raises(InputError, match="either loss or status"):
        classify_trajectory(*args, loss=res.loss, status="converged")
    with pytest.raises(InputError, match="status must be one of"):
        classify_trajectory(*args, status="fine")


@pytest.mark.parametrize("u0, w0, target", [
    ([1.0, 0.0], [1.0, 0.0], -1.0),      # aligned balanced init, target of the wrong sign: u, w → 0
    ([3.0, 0.0], [3.0, 0.0], -0.04),     # the same with |f0| > 99|k|: the residual does fall to 1 %
    ([0.5, 0.2], [-0.5, -0.2], 1.0),     # anti-aligned, positive target: the mirrored saddle
])
def test_an_exact_flow_that_ends_at_a_saddle_is_undetermined(u0, w0, target):
    sol = featmech.solve(u0, w0, target=target)
    c = classify_solution(sol)
    assert (c.regime, c.mechanism, c.status, c.converged) == (Regime.UNDETERMINED, Mechanism.NONE,
                                                              Status.NOT_CONVERGED, False)
    # the independent reference: the ODE's loss does not go to zero, the weights do
    ts = np.array([0.0, 2000.0])
    ref = ode_reference(u0, w0, eta_u=1.0, eta_w=1.0, kappa=1.0, target=target, data_var=1.0, times=ts)
    assert abs(ref["residual"][-1]) == pytest.approx(abs(target), rel=1e-6) and ref["norm_u"][-1] < 1e-6
    assert "saddle" in explain(c)


def test_no_dynamics_is_undetermined_and_an_init_at_the_target_is_kernel():
    from featmech.theory.config import Gram, Hyper

    still = classify_solution(featmech.solve(Gram(0.0, 0.0, 0.0), Hyper()))  # u0 = w0 = 0: nothing moves
    assert still.regime == "undetermined" and still.status == "not converged" and math.isinf(still.convergence_time)
    done = classify_solution(featmech.solve([1.0, 0.0], [0.5, 1.0], target=0.5))  # output = target at t = 0
    assert done.converged and done.convergence_time == 0.0 and done.category == "kernel"
    # a batch mixes them, elementwise
    batch = classify_solution(featmech.solve(Gram([0.0, 1e4], [0.0, 1e4], [0.0, 0.0]),
                                             Hyper(eta_u=[1.0, 1e4], eta_w=[1.0, 1e4], kappa=[1.0, 1e-4])))
    assert batch.status.tolist() == ["not converged", "converged"] and batch.converged.tolist() == [False, True]
    assert batch.category.tolist() == ["undetermined", "feature/alignment"]
    for name in LABEL_FIELDS:
        assert not getattr(batch, name).flags.writeable


def _near_reference(dev, dz, bc, regime, th):
    """The borderline rule written out per element: which thresholds a label lies within 20 % of."""
    names = []
    if regime in ("kernel", "feature") and 0.8 * th.eps <= dev <= 1.2 * th.eps:
        names.append("eps")
    if regime == "feature" and 0.8 * th.delta <= abs(dz) <= 1.2 * th.delta:
        names.append("delta")
    if regime == "feature" and dz > th.delta and 0.8 * th.factor <= max(bc, 1 / bc) <= 1.2 * th.factor:
        names.append("factor")
    return ",".join(names)


def test_borderline_labels_name_their_threshold():
    th = Thresholds(eps=0.1, delta=0.2, factor=5.0)
    one = dict(ntk_ratio=1.0, alignment_start=0.0, balance_start=1.0, thresholds=th)
    c = classify(ntk_max_deviation=0.085, alignment_end=0.0, balance_end=1.0, **one)
    assert (c.category, c.borderline, c.borderline_threshold) == ("kernel", True, "eps")
    c = classify(ntk_max_deviation=0.079, alignment_end=0.2, balance_end=1.0, **one)
    assert (c.category, c.borderline) == ("kernel", False)  # δ does not decide a kernel label
    c = classify(ntk_max_deviation=0.5, alignment_end=0.23, balance_end=5.5, **one)
    assert (c.category, c.borderline_threshold) == ("feature/rescaling", "delta,factor")
    c = classify(ntk_max_deviation=0.5, alignment_end=0.9, balance_end=1 / 4.5, **one)
    assert (c.category, c.borderline_threshold) == ("feature/alignment", "factor")
    c = classify(ntk_max_deviation=0.5, alignment_end=0.9, balance_end=1.0, **one)
    assert (c.borderline, c.borderline_threshold) == (False, "")
    c = classify(ntk_max_deviation=0.115, alignment_end=0.9, balance_end=1.0, status="not converged", **one)
    assert c.regime == "undetermined" and not c.borderline  # no label, nothing borderline
    text = explain(classify(ntk_max_deviation=0.11, alignment_end=0.0, balance_end=1.0, **one))
    assert "Borderline" in text and "ε = 0.1" in text
    # a random batch against the rule written out per element
    rng = np.random.default_rng(5)
    n = 4000
    dev = rng.uniform(0.0, 0.3, n)
    z0 = rng.uniform(0.0, 0.5, n)
    z1 = np.clip(z0 + rng.uniform(-0.4, 0.4, n), 0.0, 1.0)
    b1 = np.exp(rng.uniform(-2.5, 2.5, n))
    st = rng.choice(["converged", "converged", "not converged", "diverged"], n)
    batch = classify(ntk_max_deviation=dev, ntk_ratio=1.0, alignment_start=z0, alignment_end=z1, balance_start=1.0,
                     balance_end=b1, thresholds=th, status=st)
    ref = [_near_reference(dev[i], abs(z1[i]) - abs(z0[i]), b1[i], batch.regime[i], th) for i in range(n)]
    assert batch.borderline_threshold.tolist() == ref
    assert batch.borderline.tolist() == [bool(r) for r in ref]
    assert {"eps", "delta", "factor"} <= set(",".join(ref).split(","))
    assert batch.regime[st == "diverged"].tolist() == ["unstable"] * int(np.sum(st == "diverged"))
    assert set(batch.regime[st == "not converged"]) == {"undetermined"}
    assert set(batch.mechanism[batch.regime != "feature"]) == {"none"}


def test_undetermined_is_a_category_of_its_own():
    from featmech.analysis.labels import categories
    from featmech.analysis.phase import label_of

    assert category(Regime.UNDETERMINED, Mechanism.NONE) == "undetermined" == ALL_CATEGORIES[-1]
    assert ALL_CATEGORIES[:-1] == CATEGORIES and "undetermined" not in CATEGORIES
    assert categories(["undetermined", "feature", "kernel"], ["none", "alignment", "none"]).tolist() == [
        "undetermined", "feature/alignment", "kernel"]
    assert label_of(["undetermined"], ["none"]).tolist() == [-1]  # outside the earned categories
    assert len(set(ALL_CATEGORIES)) == len(ALL_CATEGORIES)
    assert [s.value for s in Status] == ["converged", "not converged", "did not train", "diverged"]


def test_run_status_rules():
    from featmech.analysis.regimes import (
        CHANCE_MARGIN,
        LOSS_FRACTION,
        chance_accuracy,
        chance_loss,
        run_status,
    )

    assert LOSS_FRACTION == 1e-2 and CHANCE_MARGIN == 0.05
    assert run_status([2.0, 0.02]) is Status.CONVERGED and run_status([2.0, 0.0201]) is Status.NOT_CONVERGED
    assert run_status([np.nan, 2.0, 0.01, np.nan]) is Status.CONVERGED  # first and last finite entries
    assert run_status([2.0, np.nan], diverged=True) is Status.DIVERGED
    assert chance_loss(10) == pytest.approx(math.log(10), rel=1e-15)
    assert chance_loss(4, "mse") == 0.5 * (1 - 0.25)  # predicting 1/C: ½[(1 − 1/C)² + (C − 1)/C²]
    ln10 = math.log(10)
    assert run_status([ln10, ln10], n_classes=10) is Status.DID_NOT_TRAIN
    assert run_status([ln10, 0.96 * ln10], n_classes=10) is Status.DID_NOT_TRAIN
    assert run_status([ln10, 0.9 * ln10], n_classes=10) is Status.CONVERGED
    assert run_status([ln10, 0.5], n_classes=10, accuracy=0.12, n_eval=360) is Status.DID_NOT_TRAIN
    assert run_status([ln10, 0.5], n_classes=10, accuracy=0.5, n_eval=360) is Status.CONVERGED
    assert chance_accuracy(10, 360) == pytest.approx(0.1 + 3 * math.sqrt(0.09 / 360), rel=1e-15)
    for call, match in [(lambda: run_status([[1.0]]), "1-D"), (lambda: run_status([1.0], fraction=0), "fraction"),
                        (lambda: run_status([1.0], n_classes=1), "n_classes"),
                        (lambda: run_status([1.0], n_classes=3, loss="hinge"), "loss"),
                        (lambda: run_status([1.0], accuracy=0.5), "n_classes"),
                        (lambda: run_status([1.0, 0.5], n_classes=3, accuracy=0.5), "n_eval"),
                        (lambda: classify(ntk_max_deviation=1, ntk_ratio=1, alignment_start=0, alignment_end=0,
                                          balance_start=1, balance_end=1, status=1), "status")]:
        with pytest.raises(InputError, match=match):
            call()
