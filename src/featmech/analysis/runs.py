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
from featmech.theory.inits import MAX_VECTOR_WIDTH, iid_gaussian, sample_gram
from featmech.theory.optim import Optimizer
from featmech.theory.simulate import (
    OBSERVABLES,
    RunDefaults,
    SimResult,
    run_defaults,
    simulate,
)

__all__ = ["OBSERVABLES", "iid_init", "flow_times", "ExactRun", "exact_run", "SimulatedRun", "simulated_run"]


def iid_init(values: Mapping[str, Any]) -> Gram | Init:
    """The Gram statistics of an iid Gaussian init, sampled exactly (:func:`~featmech.theory.inits.sample_gram`).

    Where those statistics leave float64 (scales so extreme that |u0|² underflows, e.g. σ = 1e-200)
    but the width allows vectors (≤ :data:`~featmech.theory.inits.MAX_VECTOR_WIDTH`), the vectors
    themselves are drawn (:func:`~featmech.theory.inits.iid_gaussian`, same seed): the exact solution
    then works from them in extended precision instead of refusing.

    Arguments:
        values: the parameters of the ``init`` group — ``width``, ``sigma_u``, ``sigma_w``,
            ``rho``, ``seed``; a missing one, or ``None``, takes its default from
            :data:`~featmech.params.PARAMETERS` (other keys are ignored).

    Returns:
        The :class:`~featmech.theory.config.Gram` of one configuration (an
        :class:`~featmech.theory.config.Init` in the extreme-scale case above).

    Raises:
        InputError: a value out of range, or statistics beyond float64 at a width too large for vectors.

    >>> iid_init({"width": 10**12, "seed": 3}).shape
    ()
    >>> type(iid_init({"width": 4, "sigma_u": 1e-200, "sigma_w": 1e-200})).__name__
    'Init'
    """
    v = {**defaults(GROUPS["init"]), **{n: values[n] for n in GROUPS["init"] if values.get(n) is not None}}
    try:
        return sample_gram(v["width"], v["sigma_u"], v["sigma_w"], rho=v["rho"], seed=v["seed"])
    except InputError as exc:
        if "float64 range" not in str(exc) or v["width"] > MAX_VECTOR_WIDTH:
            raise
        return iid_gaussian(v["width"], v["sigma_u"], v["sigma_w"], rho=v["rho"], seed=v["seed"])


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
    given = dict(steps=steps, momentum=momentum, weight_decay=weight_decay, batch_size=batch_size, noise=noise)
    return _classified(res, hyper, d, given, thresholds)



# ---------------------------------------------------------------------------------------- batches
# Many configurations at once: the results of exact_run / simulated_run, bit for bit, from one
# vectorized call of the engine per group of configurations that share what must be shared.

#: how many float64 numbers one batched simulation may hold in its records and minibatch moments
#: (2**22 is 32 MiB); larger groups are split into sub-batches of that size
BATCH_ELEMENTS = 2**22


def exact_runs(inits: list[Gram | Init], hypers: list[Hyper], *, t_max: Any = None,
               points: Any = PARAMETERS["points"].default, thresholds: Thresholds | None = None,
               return_exceptions: bool = False) -> list[Any]:
    """:func:`exact_run` of many configurations, solved and classified as one batch.

    Entry ``i`` is what ``exact_run(inits[i], hypers[i], t_max=t_max[i], points=points[i],
    thresholds=thresholds)`` returns, bit for bit: the configurations given as (single) Gram
    statistics are solved by one vectorized :func:`~featmech.theory.exact.solve` and classified
    by one :func:`~featmech.analysis.regimes.classify_solution`; each is then evaluated at its own
    times (:func:`flow_times` of its own rate). An :class:`~featmech.theory.config.Init` (its
    vectors give more accurate modes), and every configuration when the batch as a whole fails
    (say one is out of float64 range), runs alone through :func:`exact_run`.

    Arguments:
        inits: one init per configuration (a :class:`Gram` of shape ``()`` or an :class:`Init`).
        hypers: one :class:`Hyper` per configuration (single numbers).
        t_max, points: one value for all, or a list with one per configuration (see :func:`flow_times`).
        thresholds: ε, δ, F (default :class:`~featmech.analysis.regimes.Thresholds`).
        return_exceptions: put a failing configuration's exception in its entry instead of
            raising it (the others are unaffected), like :func:`asyncio.gather`.

    Returns:
        A list of :class:`ExactRun` (or exceptions, with ``return_exceptions``), one per configuration.

    Raises:
        InputError: ``inits`` and ``hypers`` of different lengths, a list of ``t_max``/``points``
            of the wrong length, or (without ``return_exceptions``) the first failing
            configuration's error, as :func:`exact_run` raises it.

    >>> from featmech.theory.config import Hyper
    >>> grams = [iid_init({"width": 100, "seed": s}) for s in range(3)]
    >>> runs = exact_runs(grams, [Hyper(kappa=k) for k in (0.01, 0.1, 1.0)], points=5)
    >>> one = exact_run(grams[2], Hyper(kappa=1.0), points=5)
    >>> bool((runs[2].state.ntk == one.state.ntk).all()), runs[2].classification.lam == one.classification.lam
    (True, True)
    """
    n = _batch_count(inits, hypers)
    t_maxs, pts = _each("t_max", t_max, n), _each("points", points, n)
    grams = {i: g for i, g in enumerate(inits) if isinstance(g, Gram) and g.shape == ()}
    batch = [i for i in grams if isinstance(hypers[i], Hyper) and hypers[i].shape == ()]
    position = {i: j for j, i in enumerate(batch)}
    sol = classes = None
    if batch:
        try:
            sol = solve(_stack_grams([grams[i] for i in batch]), _stack_hypers([hypers[i] for i in batch]))
            cl = classify_solution(sol, thresholds)
            classes = [classification_at(cl, j) for j in range(len(batch))]
        except Exception:  # e.g. one configuration out of float64 range: each alone
            position = {}

    def one(i: int) -> ExactRun:
        if i not in position:
            return exact_run(inits[i], hypers[i], t_max=t_maxs[i], points=pts[i], thresholds=thresholds)
        j = position[i]
        sol_i = sol.index(j)  # type: ignore[union-attr]
        times = flow_times(float(sol_i.rate), t_maxs[i], pts[i])
        return ExactRun(solution=sol_i, state=sol_i(times), classification=classes[j])  # type: ignore[index]

    return [_attempt(one, i, return_exceptions) for i in range(n)]


def simulated_runs(inits: list[Gram | Init], hypers: list[Hyper], steps: Any = PARAMETERS["steps"].default, *,
                   lr: Any = None, every: Any = None, momentum: Any = 0.0, weight_decay: Any = 0.0,
                   batch_size: Any = None, noise: Any = 0.0, seed: Any = 0, thresholds: Thresholds | None = None,
                   return_exceptions: bool = False) -> list[Any]:
    """:func:`simulated_run` of many configurations, trained width-free as batches.

    Entry ``i`` is what ``simulated_run(inits[i], hypers[i], steps[i], lr=lr[i], ..., seed=seed[i])``
    returns, bit for bit. The configurations are grouped by what one call of the engine
    (:func:`~featmech.theory.simulate.simulate`) shares — the number of steps, the recording
    interval and the kind of update (GD or SGD, with or without momentum, with or without weight
    decay) — and each group runs as one batch (split into sub-batches of at most
    :data:`BATCH_ELEMENTS` recorded and drawn numbers); everything else (init, hyperparameters,
    step size, momentum, weight decay, minibatch size, label noise, seed) varies within a group.
    Minibatch moments are drawn per configuration from its own seed, exactly as alone. A group
    whose batched call fails runs configuration by configuration.

    Arguments:
        inits: one init per configuration (:class:`Gram` of shape ``()`` or :class:`Init`).
        hypers: one :class:`Hyper` per configuration (single numbers).
        steps, lr, every, momentum, weight_decay, batch_size, noise, seed: as for
            :func:`simulated_run`; each one value for all or a list with one per configuration.
        thresholds: ε, δ, F (default :class:`~featmech.analysis.regimes.Thresholds`).
        return_exceptions: put a failing configuration's exception in its entry instead of
            raising it (the others are unaffected).

    Returns:
        A list of :class:`SimulatedRun` (or exceptions, with ``return_exceptions``).

    Raises:
        InputError: ``inits`` and ``hypers`` of different lengths, a list of the wrong length, or
            (without ``return_exceptions``) the first failing configuration's error, as
            :func:`simulated_run` raises it (e.g. ``lr=None`` with K0 = 0).

    >>> from featmech.theory.config import Hyper
    >>> grams = [iid_init({"width": 1000, "seed": s}) for s in range(3)]
    >>> runs = simulated_runs(grams, [Hyper(kappa=k) for k in (0.01, 0.1, 1.0)], steps=200)
    >>> one = simulated_run(grams[1], Hyper(kappa=0.1), steps=200)
    >>> bool((runs[1].result.loss == one.result.loss).all()), runs[1].classification.ntk_ratio == one.classification.ntk_ratio
    (True, True)
    """
    n = _batch_count(inits, hypers)
    given = dict(steps=steps, lr=lr, every=every, momentum=momentum, weight_decay=weight_decay,
                 batch_size=batch_size, noise=noise, seed=seed)
    each = {name: _each(name, value, n) for name, value in given.items()}
    out: list[Any] = [None] * n
    kw = [{name: each[name][i] for name in given} for i in range(n)]
    groups: dict[tuple[Any, ...], list[tuple[int, RunDefaults, Optimizer]]] = {}
    for i in range(n):  # what simulated_run does before training: the same checks, in the same order
        try:
            c = kw[i]
            d = run_defaults(inits[i], hypers[i], c["steps"], c["lr"], c["every"])
            opt = Optimizer(lr=d.lr, momentum=c["momentum"], weight_decay=c["weight_decay"],
                            batch_size=c["batch_size"], noise=c["noise"], seed=c["seed"])
        except Exception as exc:
            if not return_exceptions:
                raise
            out[i] = exc
            continue
        s = PARAMETERS["steps"].check(c["steps"])
        key = (s, d.every, opt.stochastic, bool(opt.momentum > 0), bool(opt.weight_decay > 0))
        groups.setdefault(key, []).append((i, d, opt))
    for (s, every_, stochastic, _, _), members in groups.items():
        nrec = int(members[0][1].record.steps(s).size)
        per_config = len(OBSERVABLES) * nrec + (4 * s if stochastic else 0)
        size = max(1, BATCH_ELEMENTS // per_config)
        for lo in range(0, len(members), size):
            part = members[lo:lo + size]
            try:
                results = _simulate_batch(inits, hypers, part, s, every_, stochastic)
            except Exception:  # the batch failed as a whole: each configuration alone
                for i, _, _ in part:
                    out[i] = _attempt(lambda i: simulated_run(inits[i], hypers[i], thresholds=thresholds, **kw[i]),
                                      i, return_exceptions)
                continue
            for (i, d, opt), res in zip(part, results):
                out[i] = _attempt(lambda i: _classified(res, hypers[i], d, kw[i], thresholds), i, return_exceptions)
    return out


def classification_at(c: Classification, index: int) -> Classification:
    """One configuration of a batched :class:`~featmech.analysis.regimes.Classification`: labels as
    the enums, numbers as Python scalars — what classifying that configuration alone gives.

    Arguments:
        c: the classification of a 1-D batch.
        index: the configuration.

    Returns:
        The :class:`~featmech.analysis.regimes.Classification` of that configuration.

    >>> from featmech.analysis.regimes import classify
    >>> c = classify(ntk_max_deviation=[0.01, 0.5], ntk_ratio=[1.0, 0.6], alignment_start=[0.1, 0.9],
    ...              alignment_end=[0.1, 0.2], balance_start=1.0, balance_end=1.0)
    >>> one = classification_at(c, 1)
    >>> one.mechanism, one.ntk_ratio
    (<Mechanism.DISALIGNMENT: 'disalignment'>, 0.6)
    """
    from dataclasses import fields

    values: dict[str, Any] = {}
    enums = _label_enums()
    for f in fields(c):
        v = getattr(c, f.name)
        if isinstance(v, np.ndarray):
            x = v[index]
            v = enums[f.name](str(x)) if f.name in enums else x.item()
        values[f.name] = v
    return Classification(**values)


_LABEL_ENUMS: dict[str, Any] = {}


def _label_enums() -> dict[str, Any]:
    """Field -> enum class, for the fields of Classification whose single-configuration type is an
    enum (read once from the class's annotations)."""
    import enum
    import typing

    if not _LABEL_ENUMS:
        for name, hint in typing.get_type_hints(Classification).items():
            for arg in typing.get_args(hint) or (hint,):
                if isinstance(arg, type) and issubclass(arg, enum.Enum):
                    _LABEL_ENUMS[name] = arg
    return _LABEL_ENUMS


def _batch_count(inits: Any, hypers: Any) -> int:
    if len(inits) != len(hypers):
        raise InputError(f"inits and hypers must have one entry per configuration, got {len(inits)} and {len(hypers)}")
    return len(inits)


def _each(name: str, value: Any, n: int) -> list[Any]:
    """One value per configuration: a list/tuple/1-D array of ``n`` values, or one value repeated."""
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1):
        if len(value) != n:
            raise InputError(f"{name}: give one value or one per configuration ({n}), got {len(value)}")
        return [v.item() if isinstance(v, np.generic) else v for v in value]
    return [value] * n


def _attempt(fn: Any, i: int, return_exceptions: bool) -> Any:
    if not return_exceptions:
        return fn(i)
    try:
        return fn(i)
    except Exception as exc:
        return exc


def _stack_grams(grams: list[Gram]) -> Gram:
    return Gram.trusted(*(np.array([getattr(g, n) for g in grams], dtype=np.float64)
                          for n in ("uu", "ww", "uw", "area")))


def _stack_hypers(hypers: list[Hyper]) -> Hyper:
    from dataclasses import fields

    return Hyper(**{f.name: np.array([getattr(h, f.name) for h in hypers], dtype=np.float64) for f in fields(Hyper)})


def _simulate_batch(inits: list[Gram | Init], hypers: list[Hyper], part: list[tuple[int, RunDefaults, Optimizer]],
                    steps: int, every: int, stochastic: bool) -> list[SimResult]:
    """One call of the engine for configurations sharing steps, record and update kind; their results."""
    from featmech.theory.optim import Record
    from featmech.theory.simulate import batch_moments

    idx = [i for i, _, _ in part]
    grams = [g.gram if isinstance(g, Init) else g for g in (inits[i] for i in idx)]
    opts = [opt for _, _, opt in part]
    lr, momentum, weight_decay = (np.array([getattr(o, n) for o in opts], dtype=np.float64)
                                  for n in ("lr", "momentum", "weight_decay"))
    moments = None
    if stochastic:  # each configuration's own draw (the engine draws from one seed for a whole batch)
        vts, kts = [], []
        for i, o in zip(idx, opts):
            h = hypers[i]
            V = float(h.data_var)
            assert o.batch_size is not None  # stochastic: a minibatch size
            vt, kt = batch_moments(steps, o.batch_size, data_var=V if V > 0 else 1.0, target=float(h.target),
                                   noise=float(o.noise), seed=o.seed)
            vts.append(vt * (V > 0))
            kts.append(kt)
        moments = (np.array(vts), np.array(kts))
    opt = Optimizer(lr=lr, momentum=momentum, weight_decay=weight_decay, moments=moments,
                    divergence_factor=opts[0].divergence_factor)
    res = simulate(_stack_grams(grams), _stack_hypers([hypers[i] for i in idx]), opt, steps, Record(every))
    return [SimResult(step=res.step, **{name: getattr(res, name)[j] for name in OBSERVABLES},
                      diverged=res.diverged[j], diverged_at=res.diverged_at[j]) for j in range(len(idx))]


def _classified(res: SimResult, hyper: Hyper, d: RunDefaults, given: Mapping[str, Any],
                thresholds: Thresholds | None) -> SimulatedRun:
    """The classified SimulatedRun of one configuration's record (shared by :func:`simulated_run` and
    :func:`simulated_runs`; ``given``: its optimizer keywords as passed)."""
    cl = classify_trajectory(res.ntk, res.alignment, res.norm_u, res.norm_w, eta_u=float(hyper.eta_u),
                             eta_w=float(hyper.eta_w), diverged=bool(res.diverged), output=res.output,
                             thresholds=thresholds, loss=res.loss)
    settings = {**given, "lr": d.lr, "every": d.every}
    return SimulatedRun(result=res, classification=cl, defaults=d,
                        settings=MappingProxyType({n: settings[n] for n in GROUPS["optimizer"]}))
