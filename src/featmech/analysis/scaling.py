r"""The infinite-width phase diagram in exponent space (THEORY.md §4), and its numeric check.

Hyperparameters are powers of the width d (constants 1): :math:`\sigma_u^2 = d^{a_u}`,
:math:`\sigma_w^2 = d^{a_w}`, :math:`\eta_u = d^{e_u}`, :math:`\eta_w = d^{e_w}`, :math:`\kappa = d^{c}`,
target k = 1. With :math:`U = d\sigma_u^2/\eta_u \propto d^{1+a_u-e_u}`, :math:`W \propto d^{1+a_w-e_w}`,
:math:`N = U + W \propto d^{n}`, :math:`n = \max(1+a_u-e_u, 1+a_w-e_w)`, :math:`s\kappa \propto d^{m}`,
:math:`m = (e_u+e_w)/2 + c`:

- λ = 4k/(κ s N) ∝ d^ℓ with ℓ = −(m + n);
- the rate D ≈ Vsκ√(4k² + s²κ²N²) ∝ d^δ with δ = m + max(0, −ℓ);
- the initial output f0 = O(κ√d σ_uσ_w) ∝ d^φ with φ = c + ½ + (a_u + a_w)/2 (0 for an
  orthogonal, centered init u0 ⊥ w0);
- the NTK change max|K/K0 − 1| ∝ d^{2ℓ} for ℓ < 0 (√(1+λ²/4) − 1 ≈ λ²/8), Θ(1) for ℓ = 0 and
  ∝ d^{ℓ} for ℓ > 0.

Classification, in this order: ``divergent-output`` (φ > 0), ``unstable`` (δ > 0: training is
instantaneous in gradient flow, so GD at a fixed lr diverges), ``frozen`` (δ < 0), ``kernel``
(ℓ < 0), ``feature`` (ℓ = 0; mechanism ``alignment`` when U and W have the same exponent,
``rescaling`` when one layer dominates), ``rich`` (ℓ > 0: the NTK grows without bound).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from featmech._validation import check_array, check_int, check_scalar
from featmech.analysis.regimes import classify_solution
from featmech.errors import InputError
from featmech.theory.exact import solve_gram
from featmech.theory.inits import sample_gram

__all__ = ["Exponents", "Analysis", "analyze", "Verification", "verify", "PRESETS", "preset", "EXPONENT_AXES",
           "exponent_grid"]

TOL = 1e-9


@dataclass(frozen=True)
class Exponents:
    """Exponents of the width d: σ_u² = d^sigma_u2, σ_w² = d^sigma_w2, η = d^eta, κ = d^kappa."""

    sigma_u2: float = 0.0
    sigma_w2: float = 0.0
    eta_u: float = 0.0
    eta_w: float = 0.0
    kappa: float = 0.0
    orthogonal: bool = False  # u0 ⊥ w0: the output starts at exactly zero (a centered model)

    def __post_init__(self) -> None:
        for name in ("sigma_u2", "sigma_w2", "eta_u", "eta_w", "kappa"):
            check_scalar(name, getattr(self, name), low=-10.0, high=10.0)

    def at(self, d: Any) -> dict[str, np.ndarray]:
        """Hyperparameters at width(s) d."""
        d = np.asarray(d, dtype=np.float64)
        return dict(sigma_u=d ** (self.sigma_u2 / 2), sigma_w=d ** (self.sigma_w2 / 2), eta_u=d**self.eta_u,
                    eta_w=d**self.eta_w, kappa=d**self.kappa)


@dataclass(frozen=True)
class Analysis:
    """Analytic exponents (of d) and the infinite-width label, with the reasons."""

    exponents: Exponents
    U: float
    W: float
    N: float
    s_kappa: float
    lam: float
    rate: float
    output0: float
    ntk_change: float
    regime: str
    mechanism: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["exponents"] = asdict(self.exponents)
        return d


def _label(lam: float, rate: float, out0: float, U: float, W: float, tol: float) -> tuple[str, str, str]:
    if out0 > tol:
        return "divergent-output", "none", f"the initial output grows as d^{out0:g}"
    if rate > tol:
        return "unstable", "none", f"the rate D grows as d^{rate:g}: GD at a fixed learning rate diverges"
    if rate < -tol:
        return "frozen", "none", f"the rate D vanishes as d^{rate:g}: nothing is learned in finite time"
    if lam < -tol:
        return "kernel", "none", f"λ vanishes as d^{lam:g}: the NTK does not move"
    if lam > tol:
        return "rich", "alignment", f"λ grows as d^{lam:g}: the NTK grows without bound (small-init rich regime)"
    if abs(U - W) <= tol:
        return "feature", "alignment", "λ = Θ(1) with balanced layers (U ~ W): both layers turn and grow together"
    big = "u (output)" if U > W else "w (hidden)"
    return "feature", "rescaling", f"λ = Θ(1) with unbalanced layers ({big} dominates): one layer is rescaled"


def analyze(exps: Exponents, tol: float = TOL) -> Analysis:
    """Exponents of U, W, N, sκ, λ, D, f0 and the NTK change, and the label (module docstring)."""
    U = 1.0 + exps.sigma_u2 - exps.eta_u
    W = 1.0 + exps.sigma_w2 - exps.eta_w
    N = max(U, W)
    m = (exps.eta_u + exps.eta_w) / 2.0 + exps.kappa
    lam = -(m + N)
    rate = m + max(0.0, -lam)
    out0 = -math.inf if exps.orthogonal else exps.kappa + 0.5 + (exps.sigma_u2 + exps.sigma_w2) / 2.0
    ntk = 2.0 * lam if lam < -tol else (0.0 if lam <= tol else lam)
    regime, mech, reason = _label(lam, rate, out0, U, W, tol)
    return Analysis(exponents=exps, U=U, W=W, N=N, s_kappa=m, lam=lam, rate=rate, output0=out0, ntk_change=ntk,
                    regime=regime, mechanism=mech, reason=reason)


@dataclass(frozen=True)
class Verification:
    """Slopes of log(metric) against log d fitted on exact finite-width solutions, vs the analysis."""

    analysis: Analysis
    widths: np.ndarray
    measured: dict[str, float]
    predicted: dict[str, float]
    agree: dict[str, bool]
    data: dict[str, np.ndarray] = field(repr=False)
    regime: str = ""
    mechanism: str = ""
    finite_width_label: str = ""

    @property
    def all_agree(self) -> bool:
        return all(self.agree.values())

    def as_dict(self) -> dict[str, Any]:
        return {"analysis": self.analysis.as_dict(), "widths": self.widths.tolist(), "measured": self.measured,
                "predicted": self.predicted, "agree": self.agree, "all_agree": self.all_agree,
                "measured_regime": self.regime, "measured_mechanism": self.mechanism,
                "finite_width_label": self.finite_width_label,
                "data": {k: v.tolist() for k, v in self.data.items()}}


def verify(exps: Exponents, widths: Any = None, *, seeds: int = 16, seed: int = 0, slope_tol: float = 0.05) -> Verification:
    """Fit the width exponents of λ, D, |f0| and the NTK change on exact solutions, d = 1e2…1e12.

    For every width, ``seeds`` inits are sampled exactly (Gram form), the closed form is solved
    and the median of each metric over seeds is taken; slopes come from a least-squares fit of
    log10(metric) on log10(d). The measured label applies the same rule to the fitted slopes
    (with ``slope_tol`` as the tolerance for "= 0"); the finite-width label is the exact
    classification at the largest width.
    """
    ana = analyze(exps)
    d = np.logspace(2, 12, 11) if widths is None else check_array("widths", widths, low=1.0, high=1e15)
    d = np.round(d)
    ns = check_int("seeds", seeds, low=1)
    hp = exps.at(d)
    g = sample_gram(d, hp["sigma_u"], hp["sigma_w"], seed=check_int("seed", seed, low=0), size=ns,
                    orthogonal=exps.orthogonal)
    sol = solve_gram(g.uu, g.ww, g.uw, area=g.area, eta_u=hp["eta_u"], eta_w=hp["eta_w"], kappa=hp["kappa"],
                     target=1.0)
    cl = classify_solution(sol)
    with np.errstate(all="ignore"):
        data = {
            "lam": np.median(np.abs(np.asarray(cl.lam)), axis=0),
            "rate": np.median(np.asarray(sol.rate), axis=0),
            "output0": np.sqrt(np.mean(np.asarray(cl.output_start) ** 2, axis=0)),
            "ntk_change": np.median(np.asarray(cl.ntk_max_deviation), axis=0),
        }
    x = np.log10(d)
    measured: dict[str, float] = {}
    for k, v in data.items():
        ok = np.isfinite(v) & (v > 0)
        measured[k] = float(np.polyfit(x[ok], np.log10(v[ok]), 1)[0]) if ok.sum() >= 2 else (
            -math.inf if np.all(v[np.isfinite(v)] == 0) else math.nan)
    predicted = {"lam": ana.lam, "rate": ana.rate, "output0": ana.output0, "ntk_change": ana.ntk_change}
    agree = {}
    for k in predicted:
        p, m = predicted[k], measured[k]
        agree[k] = (math.isinf(p) and (math.isinf(m) or m < -5)) if math.isinf(p) else abs(m - p) <= slope_tol
    # the label from the measured slopes (rounded through the same rule)
    meas_U_W_equal = ana.U == ana.W  # balance is read off the init/lr exponents, not fitted
    reg, mech, _ = _label(measured["lam"], measured["rate"], measured["output0"], 0.0,
                          0.0 if meas_U_W_equal else 1.0, slope_tol)
    big = -1
    fw = f"{np.asarray(cl.regime)[0, big]}/{np.asarray(cl.mechanism)[0, big]}"
    return Verification(analysis=ana, widths=d, measured=measured, predicted=predicted, agree=agree, data=data,
                        regime=reg, mechanism=mech, finite_width_label=fw)


#: Named parametrizations: (exponents, description, published classification)
PRESETS: dict[str, tuple[Exponents, str, str]] = {
    "sp": (Exponents(sigma_u2=-1.0, sigma_w2=0.0, eta_u=0.0, eta_w=0.0, kappa=0.0),
           "standard parametrization (σ² = 1/fan-in) at learning rate O(1)",
           "unstable (Yang & Hu 2021)"),
    "sp-lr1/d": (Exponents(sigma_u2=-1.0, sigma_w2=0.0, eta_u=-1.0, eta_w=-1.0, kappa=0.0),
                 "standard parametrization at its stable learning rate 1/d",
                 "kernel (Yang & Hu 2021)"),
    "ntk": (Exponents(sigma_u2=0.0, sigma_w2=0.0, eta_u=0.0, eta_w=0.0, kappa=-0.5),
            "NTK parametrization: σ = 1, κ = d^−½, η = 1", "kernel (Jacot et al. 2018)"),
    "mean-field": (Exponents(sigma_u2=0.0, sigma_w2=0.0, eta_u=1.0, eta_w=1.0, kappa=-1.0),
                   "mean-field: σ = 1, κ = 1/d, η = d", "feature learning (Mei et al. 2018; Chizat & Bach 2018)"),
    "mup": (Exponents(sigma_u2=-2.0, sigma_w2=0.0, eta_u=-1.0, eta_w=1.0, kappa=0.0),
            "μP: σ_u² = 1/d², σ_w² = 1, η_u = 1/d, η_w = d", "feature learning (Yang & Hu 2021)"),
    "chizat-lazy": (Exponents(sigma_u2=0.0, sigma_w2=0.0, eta_u=-1.0, eta_w=-1.0, kappa=0.0, orthogonal=True),
                    "Chizat's lazy scaling: NTK init with output scale α = √d (κ = α/√d = 1), lr ∝ 1/α², "
                    "centered model (u0 ⊥ w0)", "kernel / lazy (Chizat et al. 2019)"),
}


def preset(name: str) -> Exponents:
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name][0]


EXPONENT_AXES = ("sigma_u2", "sigma_w2", "sigma2", "eta_u", "eta_w", "eta", "kappa")


def exponent_grid(xname: str, xs: Any, yname: str, ys: Any, base: Exponents | None = None) -> np.ndarray:
    """Analytic labels ("regime" or "feature/mechanism") over a grid of two exponents.

    ``sigma2`` moves both init exponents and ``eta`` both learning-rate exponents together.
    Returns a string array of shape (len(ys), len(xs)).
    """
    for n in (xname, yname):
        if n not in EXPONENT_AXES:
            raise InputError(f"unknown exponent axis {n!r}; choose from {', '.join(EXPONENT_AXES)}")
    if xname == yname:
        raise InputError("the two exponent axes must differ")
    base = base or Exponents()
    xs = check_array("x exponents", xs, low=-10, high=10)
    ys = check_array("y exponents", ys, low=-10, high=10)
    out = np.empty((ys.size, xs.size), dtype=object)

    def with_(e: dict[str, Any], name: str, v: float) -> None:
        if name == "sigma2":
            e["sigma_u2"] = e["sigma_w2"] = v
        elif name == "eta":
            e["eta_u"] = e["eta_w"] = v
        else:
            e[name] = v

    for i, yv in enumerate(ys):
        for j, xv in enumerate(xs):
            e = asdict(base)
            with_(e, xname, float(xv))
            with_(e, yname, float(yv))
            a = analyze(Exponents(**e))
            out[i, j] = a.regime if a.regime != "feature" else f"feature/{a.mechanism}"
    return out.astype(str)
