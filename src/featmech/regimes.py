r"""Kernel vs feature learning and the three mechanisms (THEORY.md §5).

Over a trajectory from t = 0 to convergence:

- ``regime = "kernel"`` when :math:`\max_t |K(t)/K(0) - 1| \le \varepsilon`; mechanism ``"none"``;
- otherwise ``regime = "feature"`` and, with :math:`\Delta\zeta = |\zeta_{end}| - |\zeta_0|` and the
  layer balance :math:`b = (|u|/\sqrt{\eta_u}) / (|w|/\sqrt{\eta_w})`:

  - ``"disalignment"`` when :math:`\Delta\zeta < -\delta`;
  - ``"alignment"`` when :math:`\Delta\zeta > \delta` and :math:`b_{end}/b_0 \in [1/F, F]`;
  - ``"rescaling"`` otherwise.

- a diverged discrete-time run has ``regime = "unstable"``, mechanism ``"none"``.

Every label comes with the numbers it was decided on (:class:`Classification`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._validation import check_scalar
from .exact import GENERIC, Solution

__all__ = ["Thresholds", "Classification", "classify", "classify_solution", "classify_trajectory",
           "CANONICAL_CASES", "canonical_solution"]

#: THEORY.md §5's canonical cases: name -> (init and hyperparameters, expected regime, mechanism).
#: ``init`` is "iid" (exact Gram sample of width d, σ_u, σ_w, ρ) or "aligned" (u0 = w0, |u0| = scale).
CANONICAL_CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    "mean-field": (dict(init="iid", width=100_000, sigma_u=1.0, sigma_w=1.0, eta_u=1e5, eta_w=1e5, kappa=1e-5,
                        target=1.0), "feature", "alignment"),
    "ntk-param": (dict(init="iid", width=100_000, sigma_u=1.0, sigma_w=1.0, eta_u=1.0, eta_w=1.0,
                       kappa=100_000**-0.5, target=1.0), "kernel", "none"),
    "unbalanced": (dict(init="iid", width=100_000, sigma_u=1.0, sigma_w=1e-3, eta_u=1.0, eta_w=1.0, kappa=2e-5,
                        target=1.0), "feature", "rescaling"),
    "aligned": (dict(init="aligned", width=1, scale=0.3, eta_u=1.0, eta_w=1.0, kappa=1.0, target=1.0), "feature",
                "rescaling"),
    "correlated": (dict(init="iid", width=1000, sigma_u=1.0, sigma_w=1.0, rho=0.9, eta_u=1.0, eta_w=1.0,
                        kappa=1e-3, target=0.05), "feature", "disalignment"),
}


def canonical_solution(name: str, seed: int = 0) -> Solution:
    """The exact solution of one canonical case (see :data:`CANONICAL_CASES`)."""
    from .exact import solve, solve_gram
    from .inits import aligned, sample_gram

    if name not in CANONICAL_CASES:
        raise ValueError(f"unknown canonical case {name!r}; choose from {', '.join(CANONICAL_CASES)}")
    cfg = dict(CANONICAL_CASES[name][0])
    hyper = {k: cfg.pop(k) for k in ("eta_u", "eta_w", "kappa", "target")}
    if cfg.pop("init") == "aligned":
        u0, w0 = aligned(cfg["width"], cfg["scale"], eta_u=hyper["eta_u"], eta_w=hyper["eta_w"], seed=seed)
        return solve(u0, w0, **hyper)
    g = sample_gram(cfg["width"], cfg["sigma_u"], cfg["sigma_w"], rho=cfg.get("rho", 0.0), seed=seed)
    return solve_gram(g.uu, g.ww, g.uw, area=g.area, **hyper)


@dataclass(frozen=True)
class Thresholds:
    """ε (NTK change), δ (alignment change), F (balance change factor); all in (0, ∞)."""

    eps: float = 0.1
    delta: float = 0.1
    factor: float = 10.0

    def __post_init__(self) -> None:
        for name in ("eps", "delta", "factor"):
            check_scalar(name, getattr(self, name), low=0.0, low_inclusive=False)
        if self.factor < 1.0:
            raise ValueError(f"factor must be in [1, inf), got {self.factor:g}")


@dataclass(frozen=True)
class Classification:
    """A regime/mechanism label and the numbers it was decided on."""

    regime: str
    mechanism: str
    ntk_max_deviation: float
    ntk_ratio: float
    alignment_start: float
    alignment_end: float
    alignment_change: float
    balance_start: float
    balance_end: float
    balance_change: float
    thresholds: Thresholds

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["thresholds"] = asdict(self.thresholds)
        return d


def _balance(norm_u: float, norm_w: float, eta_u: float, eta_w: float) -> float:
    if eta_u <= 0 or eta_w <= 0:
        return math.nan
    num = norm_u / math.sqrt(eta_u)
    den = norm_w / math.sqrt(eta_w)
    if den == 0:
        return math.inf if num > 0 else math.nan
    return num / den


def _balance_change(b0: float, b1: float) -> float:
    """Factor b_end / b_0 (inf when a layer appears from or collapses to zero)."""
    if math.isnan(b0) or math.isnan(b1):
        return 1.0 if (math.isnan(b0) and math.isnan(b1)) else math.inf
    if b0 == b1:
        return 1.0
    if b0 == 0 or math.isinf(b0) or b1 == 0 or math.isinf(b1):
        return math.inf
    return b1 / b0


def classify(*, ntk_max_deviation: float, ntk_ratio: float, alignment_start: float, alignment_end: float,
             balance_start: float, balance_end: float, thresholds: Thresholds | None = None,
             diverged: bool = False) -> Classification:
    """Apply the §5 rule to already-computed summary numbers."""
    th = thresholds or Thresholds()
    dz = abs(alignment_end) - abs(alignment_start)
    bc = _balance_change(balance_start, balance_end)
    if diverged:
        regime, mech = "unstable", "none"
    elif not ntk_max_deviation > th.eps:
        regime, mech = "kernel", "none"
    else:
        regime = "feature"
        if dz < -th.delta:
            mech = "disalignment"
        elif dz > th.delta and (1.0 / th.factor) <= bc <= th.factor:
            mech = "alignment"
        else:
            mech = "rescaling"
    return Classification(regime=regime, mechanism=mech, ntk_max_deviation=float(ntk_max_deviation),
                          ntk_ratio=float(ntk_ratio), alignment_start=float(alignment_start),
                          alignment_end=float(alignment_end), alignment_change=float(dz),
                          balance_start=float(balance_start), balance_end=float(balance_end),
                          balance_change=float(bc), thresholds=th)


def classify_solution(sol: Solution, thresholds: Thresholds | None = None) -> Classification:
    """Classify one exact gradient-flow solution over t ∈ [0, ∞].

    The maximum NTK deviation is exact: K = R(y + 1/y) along the generic branch, so besides
    the endpoints only y = 1 (the output crossing zero) can be an extremum; elsewhere K is
    monotone.
    """
    if sol.batch_shape != ():
        raise ValueError("classify_solution takes a single configuration; index the batch first")
    s0 = sol(0.0)
    s1 = sol(math.inf)
    K0, K1 = float(s0.ntk), float(s1.ntk)
    devs = [abs(K1 / K0 - 1.0)] if K0 > 0 else [0.0]
    p = sol._p
    if int(p["branch"]) == GENERIC and K0 > 0:
        y0, yp = float(p["y0"]), float(p["yplus"])
        if (y0 - 1.0) * (yp - 1.0) < 0:
            kmin = 4.0 * float(sol.hyper.data_var) * float(sol.hyper.kappa) * float(p["s"]) * float(p["g"])
            devs.append(abs(kmin / K0 - 1.0))
    eu, ew = float(sol.hyper.eta_u), float(sol.hyper.eta_w)
    return classify(ntk_max_deviation=max(devs), ntk_ratio=K1 / K0 if K0 > 0 else 1.0,
                    alignment_start=float(s0.alignment), alignment_end=float(s1.alignment),
                    balance_start=_balance(float(s0.norm_u), float(s0.norm_w), eu, ew),
                    balance_end=_balance(float(s1.norm_u), float(s1.norm_w), eu, ew), thresholds=thresholds)


def classify_trajectory(ntk: ArrayLike, alignment: ArrayLike, norm_u: ArrayLike, norm_w: ArrayLike, *,
                        eta_u: float = 1.0, eta_w: float = 1.0, diverged: bool = False,
                        thresholds: Thresholds | None = None) -> Classification:
    """Classify a recorded trajectory (simulated GD, or a real network's measurements).

    Arrays are over recorded times; the first entry is the start and the last finite entry the
    end (records after a divergence are NaN and ignored). The trajectory should reach
    convergence for the label to mean what §5 says.
    """
    K = np.asarray(ntk, dtype=np.float64)
    z = np.asarray(alignment, dtype=np.float64)
    nu = np.asarray(norm_u, dtype=np.float64)
    nw = np.asarray(norm_w, dtype=np.float64)
    if not (K.ndim == z.ndim == nu.ndim == nw.ndim == 1) or not (K.size == z.size == nu.size == nw.size):
        raise ValueError("ntk, alignment, norm_u, norm_w must be 1-D arrays of equal length")
    ok = np.isfinite(K) & np.isfinite(z) & np.isfinite(nu) & np.isfinite(nw)
    if not ok.any():
        raise ValueError("the trajectory has no finite record")
    idx = np.flatnonzero(ok)
    i0, i1 = int(idx[0]), int(idx[-1])
    K0 = float(K[i0])
    dev = float(np.max(np.abs(K[ok] / K0 - 1.0))) if K0 > 0 else 0.0
    return classify(ntk_max_deviation=dev, ntk_ratio=float(K[i1]) / K0 if K0 > 0 else 1.0,
                    alignment_start=float(z[i0]), alignment_end=float(z[i1]),
                    balance_start=_balance(float(nu[i0]), float(nw[i0]), eta_u, eta_w),
                    balance_end=_balance(float(nu[i1]), float(nw[i1]), eta_u, eta_w),
                    thresholds=thresholds, diverged=diverged)
