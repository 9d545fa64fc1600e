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

import numpy as np

from featmech.analysis.regimes import classify_solution, classify_trajectory
from featmech.records import PointResult
from featmech.theory.exact import solve_gram
from featmech.theory.inits import sample_gram
from featmech.theory.simulate import run_defaults, simulate_gram

__all__ = ["trajectory_point", "simulate_point"]


def _gram(cfg: Mapping[str, Any]) -> Any:
    return sample_gram(cfg["width"], cfg["sigma_u"], cfg["sigma_w"], rho=cfg["rho"], seed=cfg["seed"])


def _labels(classification: Any) -> dict[str, Any]:
    return {k: v for k, v in classification.as_dict().items() if k != "thresholds"}


def trajectory_point(cfg: Mapping[str, Any]) -> PointResult:
    """The exact gradient flow of one sampled init, on ``points`` times in [0, t_max].

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
    g = _gram(cfg)
    sol = solve_gram(g.uu, g.ww, g.uw, area=g.area, eta_u=cfg["eta_u"], eta_w=cfg["eta_w"], kappa=cfg["kappa"],
                     target=cfg["target"], data_var=cfg["data_var"])
    rate = float(sol.rate)
    tmax = cfg["t_max"] if cfg["t_max"] is not None else (10.0 / rate if rate > 0 else 10.0)
    st = sol(np.linspace(0.0, tmax, cfg["points"]))
    scalars = _labels(classify_solution(sol))
    scalars.update(rate=rate, final_loss=float(st.loss[-1]), t_max=float(tmax))
    return PointResult(scalars, {"t": st.t, "output": st.output, "loss": st.loss, "ntk": st.ntk,
                                 "alignment": st.alignment})


def simulate_point(cfg: Mapping[str, Any]) -> PointResult:
    """Width-free discrete-time training of one sampled init (GD, SGD, momentum, weight decay).

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
    g = _gram(cfg)
    K0, lr, every = run_defaults(g, steps=cfg["steps"], lr=cfg["lr"], every=cfg["every"], eta_u=cfg["eta_u"],
                                 eta_w=cfg["eta_w"], kappa=cfg["kappa"], data_var=cfg["data_var"])
    r = simulate_gram(g.uu, g.ww, g.uw, area=g.area, lr=lr, steps=cfg["steps"], eta_u=cfg["eta_u"],
                      eta_w=cfg["eta_w"], kappa=cfg["kappa"], target=cfg["target"], data_var=cfg["data_var"],
                      momentum=cfg["momentum"], weight_decay=cfg["weight_decay"], batch_size=cfg["batch_size"],
                      noise=cfg["noise"], seed=cfg["seed"], every=every)
    cl = classify_trajectory(r.ntk, r.alignment, r.norm_u, r.norm_w, eta_u=cfg["eta_u"], eta_w=cfg["eta_w"],
                             diverged=bool(r.diverged), output=r.output)
    ok = np.isfinite(r.loss)
    scalars = _labels(cl)
    scalars.update(lr_used=float(lr), lr_times_ntk0=float(lr * K0), diverged=bool(r.diverged),
                   diverged_at=int(r.diverged_at) if bool(r.diverged) else None,
                   final_loss=float(r.loss[ok][-1]) if ok.any() else None)
    return PointResult(scalars, {"step": r.step, "loss": r.loss, "ntk": r.ntk, "alignment": r.alignment})
