"""The built-in cheap computations of a sweep, on the theory and analysis APIs.

Each takes one full configuration (every parameter of its :class:`~featmech.sweeps.registry.Computation`
and the seed) and returns a :class:`~featmech.records.PointResult`: the classification's numbers
and labels plus a few summary scalars, and the recorded trajectories as arrays. The init is an
iid Gaussian of the configured width, sampled exactly as its Gram statistics
(:func:`featmech.theory.inits.sample_gram`), so any width costs the same.

A chunk of a sweep runs as one batch (:func:`trajectory_points`, :func:`simulate_points`, the
registered ``batch`` functions): each configuration's init is sampled from its own seed, then the
chunk is solved or trained by the vectorized engine (:func:`featmech.analysis.runs.exact_runs`,
:func:`~featmech.analysis.runs.simulated_runs`), which gives every point exactly — bit for bit —
what the one-point function gives, and a point's error exactly the error it raises alone.

The network computation lives with the PyTorch code (``featmech.nets.experiments.network_point``)
and is registered by its dotted path.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from featmech.analysis.regimes import Classification
from featmech.analysis.runs import (
    ExactRun,
    SimulatedRun,
    exact_run,
    exact_runs,
    iid_init,
    simulated_run,
    simulated_runs,
)
from featmech.params import GROUPS
from featmech.records import PointResult
from featmech.theory.config import Gram, Hyper, Init

__all__ = ["trajectory_point", "simulate_point", "trajectory_points", "simulate_points"]


def _hyper(cfg: Mapping[str, Any]) -> Hyper:
    return Hyper(**{n: cfg[n] for n in GROUPS["hyper"]})


def _labels(classification: Classification) -> dict[str, Any]:
    return {k: v for k, v in classification.as_dict().items() if k != "thresholds"}


def trajectory_point(cfg: Mapping[str, Any]) -> PointResult:
    """The exact gradient flow of one sampled init, on ``points`` times in [0, t_max]
    (:func:`featmech.analysis.runs.exact_run`).

    ``t_max`` defaults to ten convergence times 10/D (D the exponential rate; 10 if D = 0).

    Arguments:
        cfg: width, sigma_u, sigma_w, rho, eta_u, eta_w, kappa, target, data_var, t_max, points, seed.

    Returns:
        Scalars: the classification of :func:`~featmech.analysis.regimes.classify_solution`
        (regime, mechanism and the numbers behind them), ``rate``, ``final_loss``, ``t_max``.
        Arrays: ``t``, ``output``, ``loss``, ``ntk``, ``alignment``.

    Raises:
        InputError: a parameter outside the range of the exact solution.
    """
    return _trajectory_result(exact_run(iid_init(cfg), _hyper(cfg), t_max=cfg["t_max"], points=cfg["points"]))


def _trajectory_result(run: ExactRun) -> PointResult:
    st = run.state
    scalars = _labels(run.classification)
    scalars.update(rate=run.rate, final_loss=float(st.loss[-1]), t_max=float(st.t[-1]))
    return PointResult(scalars, {"t": st.t, "output": st.output, "loss": st.loss, "ntk": st.ntk,
                                 "alignment": st.alignment})


def simulate_point(cfg: Mapping[str, Any]) -> PointResult:
    """Width-free discrete-time training of one sampled init, GD, SGD, momentum, weight decay
    (:func:`featmech.analysis.runs.simulated_run`).

    ``lr`` defaults to 0.5/K0 and the recording interval to steps/100
    (:func:`~featmech.theory.simulate.run_defaults`).

    Arguments:
        cfg: width, sigma_u, sigma_w, rho, eta_u, eta_w, kappa, target, data_var, lr, steps,
            momentum, weight_decay, batch_size, noise, every, seed.

    Returns:
        Scalars: the classification of :func:`~featmech.analysis.regimes.classify_trajectory`,
        ``lr_used``, ``lr_times_ntk0`` (lr·K0; GD is stable below 2), ``diverged``,
        ``diverged_at`` (``None`` when it did not diverge), ``final_loss`` (the last finite loss,
        ``None`` if none). Arrays: ``step``, ``loss``, ``ntk``, ``alignment``.

    Raises:
        InputError: no default learning rate exists (K0 = 0), or a parameter is out of range.
    """
    return _simulate_result(simulated_run(iid_init(cfg), _hyper(cfg), **{n: cfg[n] for n in GROUPS["optimizer"]},
                                          seed=cfg["seed"]))


def _simulate_result(run: SimulatedRun) -> PointResult:
    r = run.result
    scalars = _labels(run.classification)
    scalars.update(lr_used=run.lr, lr_times_ntk0=run.lr_times_ntk0, diverged=run.diverged,
                   diverged_at=run.diverged_at, final_loss=run.final_loss)
    return PointResult(scalars, {"step": r.step, "loss": r.loss, "ntk": r.ntk, "alignment": r.alignment})


def trajectory_points(cfgs: Sequence[Mapping[str, Any]]) -> list[PointResult | Exception]:
    """Many ``trajectory`` points as one batch: entry ``i`` is ``trajectory_point(cfgs[i])``, or
    the exception it raises.

    Each init is sampled from its own seed; the chunk is solved and classified by one vectorized
    call (:func:`featmech.analysis.runs.exact_runs`) and each point evaluated at its own times.

    Arguments:
        cfgs: full configurations (see :func:`trajectory_point`).

    Returns:
        One :class:`~featmech.records.PointResult` or exception per configuration, in order.

    >>> from featmech.sweeps.registry import get
    >>> cfgs = [get("trajectory").config({"kappa": k, "points": 3}) for k in (0.5, 0.0)]
    >>> [r.scalars["regime"] for r in trajectory_points(cfgs)] == [trajectory_point(c).scalars["regime"] for c in cfgs]
    True
    """
    return _batched(cfgs, lambda inits, hypers, cs: exact_runs(
        inits, hypers, t_max=[c["t_max"] for c in cs], points=[c["points"] for c in cs], return_exceptions=True),
        _trajectory_result)


def simulate_points(cfgs: Sequence[Mapping[str, Any]]) -> list[PointResult | Exception]:
    """Many ``simulate`` points as one batch: entry ``i`` is ``simulate_point(cfgs[i])``, or the
    exception it raises (e.g. no default learning rate when K0 = 0).

    Each init is sampled from its own seed; points sharing steps, the recording interval and the
    kind of update are trained by one call of the width-free engine
    (:func:`featmech.analysis.runs.simulated_runs`).

    Arguments:
        cfgs: full configurations (see :func:`simulate_point`).

    Returns:
        One :class:`~featmech.records.PointResult` or exception per configuration, in order.

    >>> from featmech.sweeps.registry import get
    >>> cfgs = [get("simulate").config({"kappa": k, "steps": 100}) for k in (0.5, 0.0)]
    >>> out = simulate_points(cfgs)
    >>> out[0].scalars["final_loss"] == simulate_point(cfgs[0]).scalars["final_loss"], type(out[1]).__name__
    (True, 'InputError')
    """
    def runs(inits: list[Gram | Init], hypers: list[Hyper], cs: list[Mapping[str, Any]]) -> list[Any]:
        each = {n: [c[n] for c in cs] for n in GROUPS["optimizer"] + ("seed",)}
        return simulated_runs(inits, hypers, each["steps"], lr=each["lr"], every=each["every"],
                              momentum=each["momentum"], weight_decay=each["weight_decay"],
                              batch_size=each["batch_size"], noise=each["noise"], seed=each["seed"],
                              return_exceptions=True)

    return _batched(cfgs, runs, _simulate_result)


def _batched(cfgs: Sequence[Mapping[str, Any]],
             runs: Callable[[list[Gram | Init], list[Hyper], list[Mapping[str, Any]]], list[Any]],
             result: Callable[[Any], PointResult]) -> list[PointResult | Exception]:
    """Sample each init and build each Hyper (a point failing there fails alone, with the error it
    raises alone), then run the rest as one batch and turn each run into its PointResult."""
    out: list[PointResult | Exception | None] = [None] * len(cfgs)
    inits: list[Gram | Init] = []
    hypers: list[Hyper] = []
    ok: list[int] = []
    for i, cfg in enumerate(cfgs):
        try:
            init = iid_init(cfg)
            hyper = _hyper(cfg)
        except Exception as exc:
            out[i] = exc
            continue
        inits.append(init)
        hypers.append(hyper)
        ok.append(i)
    for i, run in zip(ok, runs(inits, hypers, [cfgs[i] for i in ok])):
        if isinstance(run, Exception):
            out[i] = run
            continue
        try:
            out[i] = result(run)
        except Exception as exc:
            out[i] = exc
    return out  # type: ignore[return-value]
