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
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from featmech._validation import check_scalar
from featmech.errors import InputError
from featmech.theory.exact import Solution

__all__ = ["Thresholds", "Classification", "classify", "classify_solution", "classify_trajectory",
           "CANONICAL_CASES", "canonical_solution", "explain"]

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
    from featmech.theory.exact import solve, solve_gram
    from featmech.theory.inits import aligned, sample_gram

    if name not in CANONICAL_CASES:
        raise InputError(f"unknown canonical case {name!r}; choose from {', '.join(CANONICAL_CASES)}")
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
            raise InputError(f"factor must be in [1, inf), got {self.factor:g}")


@dataclass(frozen=True)
class Classification:
    """A regime/mechanism label and the numbers it was decided on.

    For a batch every field is an array of the batch shape (labels as ``str`` arrays); for a single
    configuration, plain ``str`` and ``float``.

    - ``ntk_max_deviation``: max_t |K(t)/K(0) − 1|;  ``ntk_ratio``: K(end)/K(0);
    - ``alignment_start/end``: ζ at the start and the end;  ``alignment_change``: |ζ_end| − |ζ_0|;
    - ``balance_start/end``: b = (|u|/√η_u)/(|w|/√η_w);  ``balance_change``: b_end/b_0;
    - ``norm_u_change``, ``norm_w_change``: |u_end|/|u_0|, |w_end|/|w_0|;
    - ``output_start/end``: κ u·w;  ``convergence_time``: time at which the residual has fallen to
      1e-2 of its initial value (inf if never; NaN for recorded trajectories);
    - ``lam``: λ = k/g, g = κ√(η_uη_w)|a||b|/4, the finite-width form of THEORY.md §4's
      λ = 4k/(κ s N) (NaN where it does not apply).
    """

    regime: Any
    mechanism: Any
    ntk_max_deviation: Any
    ntk_ratio: Any
    alignment_start: Any
    alignment_end: Any
    alignment_change: Any
    balance_start: Any
    balance_end: Any
    balance_change: Any
    norm_u_change: Any
    norm_w_change: Any
    output_start: Any
    output_end: Any
    convergence_time: Any
    lam: Any
    thresholds: Thresholds

    def as_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "thresholds"}
        d["thresholds"] = asdict(self.thresholds)
        return d


def _balance(norm_u: ArrayLike, norm_w: ArrayLike, eta_u: ArrayLike, eta_w: ArrayLike) -> np.ndarray:
    """b = (|u|/√η_u)/(|w|/√η_w); inf when only w vanishes, NaN when undefined (η = 0, both zero)."""
    nu, nw, eu, ew = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (norm_u, norm_w, eta_u, eta_w)))
    with np.errstate(all="ignore"):
        num = nu / np.sqrt(eu)
        den = nw / np.sqrt(ew)
        b = np.where(den > 0, num / den, np.where(num > 0, np.inf, np.nan))
    return np.where((eu > 0) & (ew > 0), b, np.nan)


def _balance_change(b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """Factor b_end / b_0 (inf when a layer appears from or collapses to zero)."""
    n0, n1 = np.isnan(b0), np.isnan(b1)
    degenerate = (b0 == 0) | np.isinf(b0) | (b1 == 0) | np.isinf(b1)
    with np.errstate(all="ignore"):
        ratio = b1 / b0
    return np.select([n0 & n1, n0 | n1, b0 == b1, degenerate], [1.0, np.inf, 1.0, np.inf], ratio)


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.where(a > 0, np.inf, 1.0))


def classify(*, ntk_max_deviation: ArrayLike, ntk_ratio: ArrayLike, alignment_start: ArrayLike,
             alignment_end: ArrayLike, balance_start: ArrayLike, balance_end: ArrayLike,
             norm_u_change: ArrayLike = np.nan, norm_w_change: ArrayLike = np.nan,
             output_start: ArrayLike = np.nan, output_end: ArrayLike = np.nan,
             convergence_time: ArrayLike = np.nan, lam: ArrayLike = np.nan,
             thresholds: Thresholds | None = None, diverged: ArrayLike = False) -> Classification:
    """Apply the §5 rule to already-computed summary numbers (scalars or arrays)."""
    th = thresholds or Thresholds()
    arrs = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (
        ntk_max_deviation, ntk_ratio, alignment_start, alignment_end, balance_start, balance_end, norm_u_change,
        norm_w_change, output_start, output_end, convergence_time, lam)), np.asarray(diverged, dtype=bool))
    dev, ratio, z0, z1, b0, b1, nuc, nwc, f0, f1, tc, lam_a, div = arrs
    dz = np.abs(z1) - np.abs(z0)
    bc = _balance_change(b0, b1)
    feature = dev > th.eps  # NaN counts as no change
    regime = np.select([div, feature], ["unstable", "feature"], "kernel")
    aligned = (dz > th.delta) & (bc >= 1.0 / th.factor) & (bc <= th.factor)
    mech = np.select([div | ~feature, dz < -th.delta, aligned], ["none", "disalignment", "alignment"], "rescaling")
    out = dict(regime=regime, mechanism=mech, ntk_max_deviation=dev, ntk_ratio=ratio, alignment_start=z0,
               alignment_end=z1, alignment_change=dz, balance_start=b0, balance_end=b1, balance_change=bc,
               norm_u_change=nuc, norm_w_change=nwc, output_start=f0, output_end=f1, convergence_time=tc, lam=lam_a)
    if regime.ndim == 0:
        out = {k: (str(v) if v.dtype.kind in "US" else float(v)) for k, v in out.items()}
    return Classification(thresholds=th, **out)


def classify_solution(sol: Solution, thresholds: Thresholds | None = None) -> Classification:
    """Classify exact gradient-flow solutions over t ∈ [0, ∞] (any batch shape, vectorized).

    The maximum NTK deviation is exact: K = R(y + 1/y) along the generic branch, so besides
    the endpoints only y = 1 (the output crossing zero) can be an extremum; elsewhere K is
    monotone.
    """
    s0 = sol(0.0)
    s1 = sol(math.inf)
    change = np.asarray(sol.ntk_change)
    dev = np.asarray(sol.ntk_max_deviation)
    lam = np.asarray(sol.lam)
    eu, ew = sol.hyper.eta_u, sol.hyper.eta_w
    return classify(ntk_max_deviation=dev, ntk_ratio=1.0 + change, alignment_start=s0.alignment,
                    alignment_end=s1.alignment, balance_start=_balance(s0.norm_u, s0.norm_w, eu, ew),
                    balance_end=_balance(s1.norm_u, s1.norm_w, eu, ew),
                    norm_u_change=_ratio(s1.norm_u, s0.norm_u), norm_w_change=_ratio(s1.norm_w, s0.norm_w),
                    output_start=s0.output, output_end=s1.output,
                    convergence_time=sol.convergence_time(1e-2), lam=lam, thresholds=thresholds)


def classify_trajectory(ntk: ArrayLike, alignment: ArrayLike, norm_u: ArrayLike, norm_w: ArrayLike, *,
                        eta_u: float = 1.0, eta_w: float = 1.0, diverged: bool = False,
                        output: ArrayLike | None = None, thresholds: Thresholds | None = None) -> Classification:
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
        raise InputError("ntk, alignment, norm_u, norm_w must be 1-D arrays of equal length")
    ok = np.isfinite(K) & np.isfinite(z) & np.isfinite(nu) & np.isfinite(nw)
    if not ok.any():
        raise InputError("the trajectory has no finite record")
    idx = np.flatnonzero(ok)
    i0, i1 = int(idx[0]), int(idx[-1])
    K0 = float(K[i0])
    dev = float(np.max(np.abs(K[ok] / K0 - 1.0))) if K0 > 0 else 0.0
    return classify(ntk_max_deviation=dev, ntk_ratio=float(K[i1]) / K0 if K0 > 0 else 1.0,
                    alignment_start=float(z[i0]), alignment_end=float(z[i1]),
                    balance_start=_balance(nu[i0], nw[i0], eta_u, eta_w),
                    balance_end=_balance(nu[i1], nw[i1], eta_u, eta_w),
                    norm_u_change=_ratio(nu[i1], nu[i0]), norm_w_change=_ratio(nw[i1], nw[i0]),
                    output_start=np.nan if output is None else float(np.asarray(output)[i0]),
                    output_end=np.nan if output is None else float(np.asarray(output)[i1]),
                    thresholds=thresholds, diverged=diverged)


def explain(c: Classification, *, rate: float | None = None) -> str:
    """A short human-readable account of why a single configuration got its label."""
    if np.ndim(c.regime) != 0:
        raise InputError("explain() takes the classification of a single configuration")
    th = c.thresholds
    lines = [f"Regime: {c.regime}" + (f", mechanism: {c.mechanism}" if c.regime == "feature" else "") + "."]
    if c.regime == "unstable":
        lines.append("The discrete-time run diverged (the residual blew up): the learning rate is above what the "
                     "NTK allows (lr·K beyond the edge of stability, with no catapult back).")
        return "\n".join(lines)
    dev = c.ntk_max_deviation
    cmp_ = ">" if dev > th.eps else "<="
    lines.append(f"The NTK moves by at most {dev:.3g} of its initial value (max_t |K(t)/K(0) − 1| {cmp_} ε = "
                 f"{th.eps:g}); it ends at K(∞)/K(0) = {c.ntk_ratio:.4g}.")
    if np.isfinite(c.lam):
        size = "small (kernel side)" if abs(c.lam) < 0.3 else ("large (rich side)" if abs(c.lam) > 3 else "Θ(1)")
        lines.append(f"λ = k/g = {c.lam:.3g} is {size}; for iid inits at large width K(∞)/K(0) ≈ sqrt(1 + λ²/4).")
    z = f"ζ goes from {c.alignment_start:.3f} to {c.alignment_end:.3f} (Δ|ζ| = {c.alignment_change:+.3f})"
    b = (f"the layer balance (|u|/√η_u)/(|w|/√η_w) changes by a factor {c.balance_change:.3g}"
         if np.isfinite(c.balance_change) else "one layer appears from or collapses to zero")
    if c.regime == "kernel":
        lines.append(f"In the kernel regime features stay put: {z}; {b}.")
    elif c.mechanism == "disalignment":
        lines.append(f"Disalignment: {z} < −δ = {-th.delta:g}: the layers turn apart and the NTK falls "
                     "(the output overshoots the target and learning undoes the initial correlation).")
    elif c.mechanism == "alignment":
        lines.append(f"Alignment: {z} > δ = {th.delta:g} while {b} (within F = {th.factor:g}): both layers "
                     "turn towards each other and grow together.")
    else:
        why = (f"|Δζ| <= δ = {th.delta:g}, so the angle barely changes" if abs(c.alignment_change) <= th.delta
               else f"{b}, beyond F = {th.factor:g}")
        lines.append(f"Rescaling: {z}; {why}. The NTK changes through the layer norms "
                     f"(|u| ×{c.norm_u_change:.3g}, |w| ×{c.norm_w_change:.3g}), not the angle.")
    if np.isfinite(c.output_start):
        lines.append(f"Output κ u·w goes from {c.output_start:.4g} to {c.output_end:.4g}.")
    if np.isfinite(c.convergence_time):
        tail = f" (asymptotic rate D = {rate:.4g})" if rate is not None else ""
        lines.append(f"The residual falls to 1% of its initial value at t = {c.convergence_time:.4g}{tail}.")
    elif not np.isnan(c.convergence_time):
        lines.append("The residual never falls to 1% of its initial value (a saddle or no dynamics).")
    return "\n".join(lines)
