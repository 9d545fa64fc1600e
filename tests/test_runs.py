"""analysis.runs: one configuration run and classified, as the CLI and the sweep computations use it."""

from __future__ import annotations

import numpy as np
import pytest

import featmech
from featmech.analysis.regimes import Thresholds, classify_solution, classify_trajectory
from featmech.analysis.runs import exact_run, flow_times, iid_init, simulated_run
from featmech.errors import InputError
from featmech.params import GROUPS
from featmech.theory.config import Gram, Hyper, Init
from featmech.theory.inits import sample_gram
from featmech.theory.optim import Optimizer, Record


def test_iid_init_fills_the_parameter_table_defaults():
    g = iid_init({"width": 300, "rho": 0.5, "seed": 4, "sigma_u": None})
    ref = sample_gram(300, 1.0, 1.0, rho=0.5, seed=4)
    assert all(np.array_equal(getattr(g, f), getattr(ref, f)) for f in ("uu", "ww", "uw", "area"))


def test_flow_times():
    assert flow_times(0.5, points=5).tolist() == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert flow_times(0.0, points=3).tolist() == [0.0, 5.0, 10.0]  # no exponential rate: 10
    assert flow_times(1e-320, points=2).tolist() == [0.0, 10.0]  # 10/D overflows: 10
    assert flow_times(2.0, t_max=3.0, points=1).tolist() == [3.0]
    with pytest.raises(InputError, match="points"):
        flow_times(1.0, points=0)
    with pytest.raises(InputError, match="t_max"):
        flow_times(1.0, t_max=-1.0)


def test_exact_run_is_solve_evaluate_classify():
    g = sample_gram(1000, 1.0, 1.0, rho=0.9, seed=1)
    h = Hyper(kappa=1e-3, target=0.05)
    th = Thresholds(eps=0.05)
    run = exact_run(g, h, points=7, thresholds=th)
    sol = featmech.solve(g, h)
    ts = np.linspace(0.0, 10.0 / float(sol.rate), 7)
    assert np.array_equal(run.state.t, ts)
    assert np.array_equal(run.state.ntk, sol(ts).ntk) and run.rate == float(sol.rate)
    assert run.classification == classify_solution(sol, th)
    t = run.table({"width": 1000})
    assert list(t.columns) == ["t", "output", "loss", "ntk", "alignment", "norm_u", "norm_w"]
    assert t.scalars["regime"] == "feature" and t.scalars["mechanism"] == "disalignment"
    assert t.extra["branch"] == "generic" and t.extra["config"] == {"width": 1000}
    assert t.extra["conserved"] == float(sol(0.0).conserved)
    assert "config" not in run.as_dict() and run.as_dict()["branch"] == "generic"
    assert "disalignment" in run.explanation.lower()
    # explicit times, and vectors
    init = Init([0.3, 0.1], [0.2, -0.4])
    run = exact_run(init, Hyper(), [0.0, 1.0, np.inf])
    assert run.state.output[-1] == pytest.approx(1.0) and run.solution.init is init


@pytest.mark.parametrize("call, match", [
    (lambda: exact_run(Gram(1.0, 1.0, 0.0), Hyper(), [0.0, 1.0], t_max=2.0), "not both"),
    (lambda: exact_run(Gram([1.0, 2.0], 1.0, 0.0), Hyper()), "one configuration"),
    (lambda: exact_run(Gram(1.0, 1.0, 0.0), Hyper(), [-1.0]), ">= 0"),
    (lambda: simulated_run(Gram(0.0, 0.0, 0.0), Hyper(), 10), "lr"),
    (lambda: simulated_run(Gram(1.0, 1.0, 0.0), Hyper(kappa=[1.0, 2.0]), 10), "one configuration"),
    (lambda: simulated_run(Gram(1.0, 1.0, 0.0), Hyper(), 10, momentum=1.0), "momentum"),
])
def test_runs_refuse_bad_input(call, match):
    with pytest.raises(InputError, match=match):
        call()


def test_simulated_run_is_defaults_simulate_classify():
    g = sample_gram(500, 1.0, 1.0, seed=2)
    h = Hyper(eta_u=2.0, kappa=0.03)
    run = simulated_run(g, h, 400, momentum=0.5, batch_size=16, noise=0.1, seed=3)
    K0 = float(h.data_var * h.kappa**2 * (h.eta_w * g.uu + h.eta_u * g.ww))
    lr = 0.5 / K0
    ref = featmech.simulate(g, h, Optimizer(lr=lr, momentum=0.5, batch_size=16, noise=0.1, seed=3), 400, Record(4))
    assert run.lr == lr and run.lr_times_ntk0 == pytest.approx(0.5, rel=1e-15)
    assert np.array_equal(run.result.step, ref.step) and np.array_equal(run.result.loss, ref.loss)
    cl = classify_trajectory(ref.ntk, ref.alignment, ref.norm_u, ref.norm_w, eta_u=2.0, eta_w=1.0, output=ref.output,
                             loss=ref.loss)
    assert repr(run.classification) == repr(cl)  # NaN fields (convergence_time, lam) compare by their repr
    assert run.final_loss == float(ref.loss[-1]) and run.diverged is False and run.diverged_at is None
    assert list(run.settings) == list(GROUPS["optimizer"])
    assert dict(run.settings) == dict(lr=lr, steps=400, momentum=0.5, weight_decay=0.0, batch_size=16, noise=0.1,
                                      every=4)
    t = run.table()
    assert list(t.columns)[0] == "step" and t.scalars["lr"] == lr and t.scalars["diverged_at"] is None


def test_simulated_run_divergence():
    run = simulated_run(iid_init({"width": 500}), Hyper(), 200, lr=50.0, every=1)
    assert run.diverged and run.classification.regime == "unstable"
    at = run.diverged_at
    assert isinstance(at, int) and run.table().n_rows == at  # the records before the divergence
    ok = np.isfinite(run.result.loss)
    assert run.final_loss == float(run.result.loss[ok][-1])
