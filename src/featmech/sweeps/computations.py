"""The built-in cheap computations of a sweep, on the theory and analysis APIs.

Each takes one full configuration (every parameter of its :class:`~featmech.sweeps.registry.Computation`
and the seed) and returns a :class:`~featmech.records.PointResult`: the classification's numbers
and labels plus a few summary scalars, and the recorded trajectories as arrays. The init is an
iid Gaussian of the configured width, sampled exactly as its Gram statistics
(:func:`featmech.theory.inits.sample_gram`), so any width costs the same.

The network computation lives with the PyTorch code (``featmech.nets.experiments.network_point``)
and is registered by its dotted path.
"""

from __future__ import annotations

from typing import Any, Mapping

from featmech.analysis.regimes import Classification
from featmech.analysis.runs import exact_run, iid_init, simulated_run
from featmech.params import GROUPS
from featmech.records import PointResult
from featmech.theory.config import Hyper

__all__ = ["trajectory_point", "simulate_point"]


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
    run = exact_run(iid_init(cfg), _hyper(cfg), t_max=cfg["t_max"], points=cfg["points"])
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
    run = simulated_run(iid_init(cfg), _hyper(cfg), **{n: cfg[n] for n in GROUPS["optimizer"]}, seed=cfg["seed"])
    r = run.result
    scalars = _labels(run.classification)
    scalars.update(lr_used=run.lr, lr_times_ntk0=run.lr_times_ntk0, diverged=run.diverged,
                   diverged_at=run.diverged_at, final_loss=run.final_loss)
    return PointResult(scalars, {"step": r.step, "loss": r.loss, "ntk": r.ntk, "alignment": r.alignment})
