r"""One configuration of the linear network, run and classified.

The computations behind the ``trajectory``, ``simulate`` and ``explain`` commands and the
``trajectory`` and ``simulate`` sweep points: an init (weight vectors or their Gram statistics)
and the hyperparameters go in; the exact gradient flow (:func:`exact_run`) or width-free
discrete-time training (:func:`simulated_run`) is computed, classified with docs/theory.md §5's
rule, and returned as a typed result whose :meth:`~ExactRun.table` is what the command line
prints. A simulated run earns a label only when its loss fell to
:data:`~featmech.analysis.regimes.LOSS_FRACTION` of its start (otherwise the regime is
``undetermined``, status ``not converged``); an exact run only when the flow reaches zero loss.

- :func:`iid_init` — the Gram statistics of the iid Gaussian init named by the ``init``
  parameters of :data:`featmech.params.GROUPS` (sampled exactly, any width at O(1));
- :func:`flow_times` — the default evaluation times of the exact flow, ten convergence times;
- :func:`exact_run` → :class:`ExactRun`; :func:`simulated_run` → :class:`SimulatedRun`.

>>> from featmech.theory.config import Hyper
>>> run = exact_run(iid_init({"width": 1000, "rho": 0.9}), Hyper(kappa=1e-3, target=0.05), points=5)
>>> run.classification.category, run.state.t.shape
('feature/disalignment', (5,))
>>> sim = simulated_run(iid_init({"width": 1000}), Hyper(kappa=1e-3), steps=200)
>>> round(sim.lr_times_ntk0, 12), sim.diverged
(0.5, False)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
from numpy.typing import ArrayLike

from featmech.analysis.regimes import (
    Classification,
    Thresholds,
    classify_solution,
    classify_trajectory,
    explain,
)
from featmech.errors import InputError
from featmech.params import GROUPS, PARAMETERS, defaults
from featmech.tables import Table
from featmech.theory.config import Gram, Hyper, Init
from featmech.theory.exact import Branch, Solution, State, solve
from featmech.theory.inits import sample_gram
from featmech.theory.optim import Optimizer
from featmech.theory.simulate import (
    OBSERVABLES,
    RunDefaults,
    SimResult,
    run_defaults,
    simulate,
)

__all__ = ["OBSERVABLES", "iid_init", "flow_times", "ExactRun", "exact_run", "SimulatedRun", "simulated_run"]


def iid_init(values: Mapping[str, Any]) -> Gram:
    """The Gram statistics of an iid Gaussian init, sampled exactly (:func:`~featmech.theory.inits.sample_gram`).

    Arguments:
        values: the parameters of the ``init`` group — ``width``, ``sigma_u``, ``sigma_w``,
            ``rho``, ``seed``; a missing one, or ``None``, takes its default from
            :data:`~featmech.params.PARAMETERS` (other keys are ignored).

    Returns:
        The :class:`~featmech.theory.config.Gram` of one configuration.

    Raises:
        InputError: a value out of range.

    >>> iid_init({"width": 10**12, "seed": 3}).shape
    ()
    """
    v = {**defaults(GROUPS["init"]), **{n: values[n] for n in GROUPS["init"] if values.get(n) is not None}}
    return sample_gram(v["width"], v["sigma_u"], v["sigma_w"], rho=v["rho"], seed=v["seed"])


def flow_times(rate: float, t_max: float | None = None, points: int = PARAMETERS["points"].default) -> np.ndarray:
    """Evenly spaced evaluation times of the exact flow, from 0 to ``t_max``.

    Arguments:
        rate: D, the solution's asymptotic convergence rate.
        t_max: the last time ``>= 0``; ``None``: ten convergence times 10/D (10 when D = 0 or
            10/D overflows).
        points: the number of times ``>= 1`` (one point: ``t_max`` alone).

    Returns:
        The times, a float64 array of ``points`` entries.

    Raises:
        InputError: ``t_max`` or ``points`` out of range.

    >>> flow_times(2.0, points=3).tolist(), flow_times(0.0, points=1).tolist()
    ([0.0, 2.5, 5.0], [10.0])
    """
    t_max = PARAMETERS["t_max"].check(t_max)
    points = PARAMETERS["points"].check(points)
    if t_max is None:
        t_max = 10.0 / rate if rate > 0 and math.isfinite(10.0 / rate) else 10.0
    return np.linspace(0.0, t_max, points) if points > 1 else np.array([t_max])


def _flags(cl: Classification) -> dict[str, Any]:
    """The scalars a printed run carries besides its labels: ``status``, ``borderline`` and
    ``borderline_threshold`` (as in :class:`~featmech.analysis.regimes.Classification`)."""
    return {"status": cl.status, "borderline": cl.borderline, "borderline_threshold": cl.borderline_threshold}


@dataclass(frozen=True)
class ExactRun:
    """The exact gradient flow of one configuration at some times, and its classification.

    Attributes:
        solution: the :class:`~featmech.theory.exact.Solution`.
        state: its observables at the evaluation times (``state.t``).
        classification: the §5 label over t ∈ [0, ∞] and the numbers behind it.
    """

    solution: Solution
    state: State
    classification: Classification

    @property
    def rate(self) -> float:
        """D, the asymptotic convergence rate."""
        return float(self.solution.rate)

    @property
    def branch(self) -> Branch:
        """Which exact form applies (its ``label`` is the word for people)."""
        return self.solution.branch  # type: ignore[return-value]

    @property
    def explanation(self) -> str:
        """Why the configuration got its label, in a few lines (:func:`~featmech.analysis.regimes.explain`)."""
        return explain(self.classification, rate=self.rate)

    def table(self, config: Mapping[str, Any] | None = None) -> Table:
        """The trajectory as a :class:`~featmech.tables.Table` (what ``featmech trajectory`` prints).

        Arguments:
            config: the configuration to record in the JSON (``config``), if any.

        Returns:
            Columns ``t`` and :data:`OBSERVABLES`; scalars ``regime, mechanism, status, borderline,
            borderline_threshold, ntk_ratio, rate`` (``status``: converged, or not converged for a
            flow that ends at a saddle; ``borderline``: whether the label lies within 20 % of a
            threshold, ``borderline_threshold`` which, ``""`` if none);
            extra entries ``classification``, ``config`` (when given), ``conserved`` (the conserved
            η_w|u|² − η_u|w|²) and ``branch`` (its label, e.g. ``"generic"``).
        """
        st, cl = self.state, self.classification
        extra: dict[str, Any] = {"classification": cl.as_dict()}
        if config is not None:
            extra["config"] = dict(config)
        extra.update(conserved=float(st.conserved.ravel()[0]), branch=self.branch.label)
        return Table({"t": st.t, **{n: getattr(st, n) for n in OBSERVABLES}},
                     scalars={"regime": cl.regime, "mechanism": cl.mechanism, **_flags(cl),
                              "ntk_ratio": float(self.solution.ntk_ratio), "rate": self.rate},
                     extra=extra)

    def as_dict(self) -> dict[str, Any]:
        """The content of :meth:`table` as one mapping (columns as lists)."""
        return self.table().as_dict()


def exact_run(init: Gram | Init, hyper: Hyper, times: ArrayLike | None = None, *, t_max: float | None = None,
              points: int = PARAMETERS["points"].default, thresholds: Thresholds | None = None) -> ExactRun:
    """Solve the exact gradient flow of one configuration, evaluate it and classify it.

    Arguments:
        init: one configuration's init: an :class:`~featmech.theory.config.Init` or a
            :class:`~featmech.theory.config.Gram`.
        hyper: its hyperparameters (single numbers).
        times: the evaluation times (``>= 0``, ``inf`` allowed); ``None``: :func:`flow_times`
            of ``t_max`` and ``points``.
        t_max, points: the default times (see :func:`flow_times`); not with ``times``.
        thresholds: ε, δ, F (default :class:`~featmech.analysis.regimes.Thresholds`).

    Returns:
        An :class:`ExactRun`.

    Raises:
        InputError: a batch instead of one configuration, ``times`` together with ``t_max``,
            negative times, or values out of range.
    """
    sol = solve(init, hyper)
    if sol.batch_shape != ():
        raise InputError("exact_run is for one configuration (a single init and scalar hyperparameters)")
    if times is None:
        times = flow_times(float(sol.rate), t_max, points)
    elif t_max is not None:
        raise InputError("give either times or t_max, not both")
    return ExactRun(solution=sol, state=sol(times), classification=classify_solution(sol, thresholds))


@dataclass(frozen=True)
class SimulatedRun:
    """Width-free discrete-time training of one configuration, and the classification of its record.

    Attributes:
        result: the recorded trajectory (:class:`~featmech.theory.simulate.SimResult`).
        classification: the §5 label of the record (``unstable`` when the run diverged,
            ``undetermined`` when its last loss is above
            :data:`~featmech.analysis.regimes.LOSS_FRACTION` × its first).
        defaults: the initial NTK K0 and the step size and recording interval used
            (:class:`~featmech.theory.simulate.RunDefaults`).
        settings: the values of the ``optimizer`` parameters used, ``lr`` and ``every`` resolved
            (read-only mapping in the order of :data:`featmech.params.GROUPS`).
    """

    result: SimResult
    classification: Classification
    defaults: RunDefaults
    settings: Mapping[str, Any]

    @property
    def lr(self) -> float:
        """The step size used (the default 0.5/K0 unless one was given)."""
        return self.defaults.lr

    @property
    def lr_times_ntk0(self) -> float:
        """lr·K0: GD is stable at the start below 2."""
        return self.defaults.lr_times_ntk0

    @property
    def diverged(self) -> bool:
        """Whether the run diverged."""
        return bool(self.result.diverged)

    @property
    def diverged_at(self) -> int | None:
        """The step at which it diverged (``None`` when it did not)."""
        return int(self.result.diverged_at) if self.diverged else None

    @property
    def final_loss(self) -> float | None:
        """The last finite recorded loss (``None`` if there is none)."""
        ok = np.isfinite(self.result.loss)
        return float(self.result.loss[ok][-1]) if ok.any() else None

    def table(self, config: Mapping[str, Any] | None = None) -> Table:
        """The record before divergence as a :class:`~featmech.tables.Table` (what ``featmech simulate`` prints).

        Arguments:
            config: the configuration to record in the JSON (``config``), if any.

        Returns:
            Columns ``step`` and :data:`OBSERVABLES` (the records before a divergence); scalars
            ``diverged, diverged_at, regime, mechanism, status, borderline, borderline_threshold, lr,
            lr_times_ntk0``
            (``status``: converged, not converged or diverged; ``borderline`` as for
            :meth:`ExactRun.table`); extra entries
            ``classification`` and ``config`` (when given).
        """
        data = self.result.truncated()
        cl = self.classification
        extra: dict[str, Any] = {"classification": cl.as_dict()}
        if config is not None:
            extra["config"] = dict(config)
        return Table({"step": data["step"], **{n: data[n] for n in OBSERVABLES}},
                     scalars={"diverged": data["diverged"], "diverged_at": data["diverged_at"], "regime": cl.regime,
                              "mechanism": cl.mechanism, **_flags(cl), "lr": self.lr,
                              "lr_times_ntk0": self.lr_times_ntk0},
                     extra=extra)

    def as_dict(self) -> dict[str, Any]:
        """The content of :meth:`table` as one mapping (columns as lists)."""
        return self.table().as_dict()


def simulated_run(init: Gram | Init, hyper: Hyper, steps: int = PARAMETERS["steps"].default, *,
                  lr: float | None = None, every: int | None = None, momentum: float = 0.0,
                  weight_decay: float = 0.0, batch_size: int | None = None, noise: float = 0.0, seed: int = 0,
                  thresholds: Thresholds | None = None) -> SimulatedRun:
    r"""Train one configuration width-free (GD, minibatch SGD, momentum, weight decay) and classify the record.

    The keywords are the ``optimizer`` parameters of :data:`featmech.params.PARAMETERS`
    (``simulated_run(init, hyper, **values)`` takes that group's values); the step size defaults to
    0.5/K0 and the recording interval to steps/100 (:func:`~featmech.theory.simulate.run_defaults`).

    Arguments:
        init: one configuration's init (:class:`~featmech.theory.config.Init` or
            :class:`~featmech.theory.config.Gram`).
        hyper: its hyperparameters (single numbers).
        steps: the number of steps.
        lr, every: the step size and recording interval (``None``: the defaults above).
        momentum, weight_decay, batch_size, noise, seed: as for
            :class:`~featmech.theory.optim.Optimizer`.
        thresholds: ε, δ, F (default :class:`~featmech.analysis.regimes.Thresholds`).

    Returns:
        A :class:`SimulatedRun`; its classification is ``undetermined`` (status ``not converged``)
        when the last recorded loss is above :data:`~featmech.analysis.regimes.LOSS_FRACTION` ×
        the first (:func:`~featmech.analysis.regimes.run_status`).

    Raises:
        InputError: a value out of range, a batch instead of one configuration, or ``lr=None``
            with K0 = 0.
    """
    d = run_defaults(init, hyper, steps, lr, every)
    opt = Optimizer(lr=d.lr, momentum=momentum, weight_decay=weight_decay, batch_size=batch_size, noise=noise,
                    seed=seed)
    res = simulate(init, hyper, opt, steps, d.record)
    cl = classify_trajectory(res.ntk, res.alignment, res.norm_u, res.norm_w, eta_u=float(hyper.eta_u),
                             eta_w=float(hyper.eta_w), diverged=bool(res.diverged), output=res.output,
                             thresholds=thresholds, loss=res.loss)
    settings = dict(lr=d.lr, steps=steps, momentum=momentum, weight_decay=weight_decay, batch_size=batch_size,
                    noise=noise, every=d.every)
    return SimulatedRun(result=res, classification=cl, defaults=d,
                        settings=MappingProxyType({n: settings[n] for n in GROUPS["optimizer"]}))

