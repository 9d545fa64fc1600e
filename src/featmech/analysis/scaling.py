r"""The infinite-width phase diagram in exponent space (docs/theory.md §4), and its numeric check.

Hyperparameters are powers of the width d (constants 1): :math:`\sigma_u^2 = d^{a_u}`,
:math:`\sigma_w^2 = d^{a_w}`, :math:`\eta_u = d^{e_u}`, :math:`\eta_w = d^{e_w}`, :math:`\kappa = d^{c}`,
target k = 1. With :math:`U = d\sigma_u^2/\eta_u \propto d^{1+a_u-e_u}`, :math:`W \propto d^{1+a_w-e_w}`,
:math:`N = U + W \propto d^{n}`, :math:`n = \max(1+a_u-e_u, 1+a_w-e_w)`, :math:`s\kappa \propto d^{m}`,
:math:`m = (e_u+e_w)/2 + c`:

- λ = 4k/(κ s N) ∝ d^ℓ with ℓ = −(m + n);
- the rate D ≈ Vsκ√(4k² + s²κ²N²) ∝ d^δ with δ = m + max(0, −ℓ);
- the initial output f0 = O(κ√d σ_uσ_w) ∝ d^φ with φ = c + ½ + (a_u + a_w)/2 (−∞ for an
  orthogonal, centered init u0 ⊥ w0);
- the NTK change max|K/K0 − 1| ∝ d^{2ℓ} for ℓ < 0 (√(1+λ²/4) − 1 ≈ λ²/8), Θ(1) for ℓ = 0 and
  ∝ d^{ℓ} for ℓ > 0.

The labels are :class:`~featmech.analysis.labels.LimitRegime` members (a vocabulary of their own,
distinct from the finite-width :class:`~featmech.analysis.labels.Regime`), decided in this order:
divergent-output (φ > 0), unstable (δ > 0: training is instantaneous in gradient flow, so GD at a
fixed lr diverges), frozen (δ < 0), kernel (ℓ < 0), feature (ℓ = 0; mechanism alignment when U and
W have the same exponent, rescaling when one layer dominates), rich (ℓ > 0: the NTK grows without
bound).

>>> a = analyze(preset("mean-field"))
>>> a.regime, a.mechanism, a.category
(<LimitRegime.FEATURE: 'feature'>, <Mechanism.ALIGNMENT: 'alignment'>, 'feature/alignment')
>>> analyze(Exponents(kappa=-0.5)).regime.label
'kernel (lazy) limit'
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech._validation import check_array, check_int, check_scalar
from featmech.analysis.labels import LimitRegime, Mechanism, Regime, category
from featmech.analysis.regimes import classify_solution
from featmech.errors import InputError
from featmech.tables import Table
from featmech.theory.config import Hyper, readonly
from featmech.theory.exact import solve
from featmech.theory.inits import sample_gram

__all__ = ["Exponents", "Analysis", "analyze", "SlopeCheck", "Verification", "verify", "Preset", "PRESETS", "preset",
           "exponents", "PresetRow", "PresetReport", "verify_presets", "EXPONENT_AXES", "ExponentAxis",
           "parse_exponent_axis", "ExponentDiagram", "exponent_diagram", "exponent_grid", "ScalingReport",
           "scaling_report", "TOL", "QUANTITIES"]

#: tolerance of the analytic rule for "exponent = 0"
TOL = 1e-9
#: the quantities whose width exponents :func:`verify` fits, in table order
QUANTITIES = ("lam", "rate", "output0", "ntk_change")
_EXPONENT_RANGE = (-10.0, 10.0)


@dataclass(frozen=True)
class Exponents:
    """Exponents of the width d: σ_u² = d^sigma_u2, σ_w² = d^sigma_w2, η = d^eta, κ = d^kappa.

    Attributes:
        sigma_u2, sigma_w2: exponents of the init variances; in [-10, 10].
        eta_u, eta_w: exponents of the learning-rate multipliers; in [-10, 10].
        kappa: exponent of the output scale; in [-10, 10].
        orthogonal: u0 ⊥ w0, so the output starts at exactly zero (a centered model).

    Raises:
        InputError: an exponent that is not a finite number in [-10, 10].
    """

    sigma_u2: float = 0.0
    sigma_w2: float = 0.0
    eta_u: float = 0.0
    eta_w: float = 0.0
    kappa: float = 0.0
    orthogonal: bool = False

    def __post_init__(self) -> None:
        lo, hi = _EXPONENT_RANGE
        for name in ("sigma_u2", "sigma_w2", "eta_u", "eta_w", "kappa"):
            object.__setattr__(self, name, check_scalar(name, getattr(self, name), low=lo, high=hi))
        if not isinstance(self.orthogonal, (bool, np.bool_)):
            raise InputError(f"orthogonal must be true or false, got {self.orthogonal!r}")
        object.__setattr__(self, "orthogonal", bool(self.orthogonal))

    def replace(self, **changes: Any) -> "Exponents":
        """A copy with some exponents changed (``None`` values are ignored), validated.

        >>> Exponents().replace(kappa=-0.5, eta_u=None).kappa
        -0.5
        """
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def at(self, d: ArrayLike) -> dict[str, NDArray[np.float64]]:
        """Hyperparameters σ_u, σ_w, η_u, η_w, κ at width(s) d (arrays of d's shape)."""
        d = np.asarray(d, dtype=np.float64)
        return dict(sigma_u=d ** (self.sigma_u2 / 2), sigma_w=d ** (self.sigma_w2 / 2), eta_u=d**self.eta_u,
                    eta_w=d**self.eta_w, kappa=d**self.kappa)

    def hyper(self, d: ArrayLike, target: float = 1.0) -> Hyper:
        """The :class:`~featmech.theory.config.Hyper` at width(s) d (target k, data variance 1)."""
        hp = self.at(d)
        return Hyper(eta_u=hp["eta_u"], eta_w=hp["eta_w"], kappa=hp["kappa"], target=np.asarray(target, dtype=np.float64))

    def describe(self) -> str:
        """One line: ``σ_u² d^0, σ_w² d^0, η_u d^1, η_w d^1, κ d^-1``."""
        return (f"σ_u² d^{self.sigma_u2:g}, σ_w² d^{self.sigma_w2:g}, η_u d^{self.eta_u:g}, η_w d^{self.eta_w:g}, "
                f"κ d^{self.kappa:g}" + (", orthogonal init" if self.orthogonal else ""))

    def as_dict(self) -> dict[str, Any]:
        """The exponents by name (and ``orthogonal``)."""
        return asdict(self)


@dataclass(frozen=True)
class Analysis:
    """Analytic exponents (of d) and the infinite-width label, with the reason.

    Attributes:
        exponents: the parametrization analysed.
        U, W, N: exponents of dσ_u²/η_u, dσ_w²/η_w and their sum.
        s_kappa: m, the exponent of sκ = √(η_uη_w) κ.
        lam, rate, output0, ntk_change: ℓ, δ, φ and the exponent of the NTK change (module docstring).
        regime: the :class:`~featmech.analysis.labels.LimitRegime`.
        mechanism: the :class:`~featmech.analysis.labels.Mechanism` (NONE outside feature/rich).
        reason: why, in words.
    """

    exponents: Exponents
    U: float
    W: float
    N: float
    s_kappa: float
    lam: float
    rate: float
    output0: float
    ntk_change: float
    regime: LimitRegime
    mechanism: Mechanism
    reason: str

    @property
    def category(self) -> str:
        """The label as one string (``"feature/alignment"``, ``"kernel"``, ``"rich"``)."""
        return category(self.regime, self.mechanism)

    @property
    def predicted(self) -> dict[str, float]:
        """The predicted exponent of each quantity of :data:`QUANTITIES`."""
        return {q: getattr(self, q) for q in QUANTITIES}

    def as_dict(self) -> dict[str, Any]:
        """Plain values (labels as strings, exponents as a dict)."""
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        d["exponents"] = self.exponents.as_dict()
        d["regime"], d["mechanism"] = self.regime.value, self.mechanism.value
        return d


def _label(lam: float, rate: float, out0: float, U: float, W: float, tol: float) -> tuple[LimitRegime, Mechanism, str]:
    if out0 > tol:
        return LimitRegime.DIVERGENT_OUTPUT, Mechanism.NONE, f"the initial output grows as d^{out0:g}"
    if rate > tol:
        return (LimitRegime.UNSTABLE, Mechanism.NONE,
                f"the rate D grows as d^{rate:g}: GD at a fixed learning rate diverges")
    if rate < -tol:
        return (LimitRegime.FROZEN, Mechanism.NONE,
                f"the rate D vanishes as d^{rate:g}: nothing is learned in finite time")
    if lam < -tol:
        return LimitRegime.KERNEL, Mechanism.NONE, f"λ vanishes as d^{lam:g}: the NTK does not move"
    if lam > tol:
        return (LimitRegime.RICH, Mechanism.ALIGNMENT,
                f"λ grows as d^{lam:g}: the NTK grows without bound (small-init rich regime)")
    if abs(U - W) <= tol:
        return (LimitRegime.FEATURE, Mechanism.ALIGNMENT,
                "λ = Θ(1) with balanced layers (U ~ W): both layers turn and grow together")
    big = "u (output)" if U > W else "w (hidden)"
    return (LimitRegime.FEATURE, Mechanism.RESCALING,
            f"λ = Θ(1) with unbalanced layers ({big} dominates): one layer is rescaled")


def analyze(exps: Exponents, tol: float = TOL) -> Analysis:
    """Exponents of U, W, N, sκ, λ, D, f0 and the NTK change, and the infinite-width label.

    Arguments:
        exps: the parametrization.
        tol: how close to 0 an exponent counts as 0.

    Returns:
        The :class:`Analysis` (formulas in the module docstring).

    >>> a = analyze(Exponents(kappa=-0.5))   # the NTK parametrization
    >>> a.lam, a.rate, a.ntk_change, a.category
    (-0.5, 0.0, -1.0, 'kernel')
    """
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
class SlopeCheck:
    """One fitted width exponent against its prediction.

    Attributes:
        quantity: one of :data:`QUANTITIES`.
        predicted: the analytic exponent.
        measured: the least-squares slope of log10(metric) on log10(d) (−inf when the metric is 0
            at every width, NaN when it cannot be fitted).
        agree: ``|measured − predicted| <= slope_tol`` (for a predicted −inf: measured −inf or < −5).
    """

    quantity: str
    predicted: float
    measured: float
    agree: bool


@dataclass(frozen=True)
class Verification:
    """Slopes of log(metric) against log d fitted on exact finite-width solutions, vs the analysis.

    Attributes:
        analysis: the analytic :class:`Analysis`.
        widths: the widths d solved (read-only).
        checks: one :class:`SlopeCheck` per quantity of :data:`QUANTITIES`.
        data: per quantity, the metric at each width (median over seeds; RMS for the output);
            read-only arrays.
        regime, mechanism: the label the rule gives on the *measured* slopes.
        finite_width_regime, finite_width_mechanism: the exact classification at the largest width
            (first seed).
    """

    analysis: Analysis
    widths: NDArray[np.float64]
    checks: tuple[SlopeCheck, ...]
    data: Mapping[str, NDArray[np.float64]] = field(repr=False)
    regime: LimitRegime
    mechanism: Mechanism
    finite_width_regime: Regime
    finite_width_mechanism: Mechanism

    @property
    def measured(self) -> dict[str, float]:
        """The fitted exponent of each quantity."""
        return {c.quantity: c.measured for c in self.checks}

    @property
    def predicted(self) -> dict[str, float]:
        """The analytic exponent of each quantity."""
        return {c.quantity: c.predicted for c in self.checks}

    @property
    def agree(self) -> dict[str, bool]:
        """Whether each fitted exponent agrees with its prediction."""
        return {c.quantity: c.agree for c in self.checks}

    @property
    def all_agree(self) -> bool:
        """Whether every fitted exponent agrees with its prediction."""
        return all(c.agree for c in self.checks)

    @property
    def category(self) -> str:
        """The measured label as one string."""
        return category(self.regime, self.mechanism)

    @property
    def finite_width_label(self) -> str:
        """The exact classification at the largest width as one string (``"feature/rescaling"``)."""
        return category(self.finite_width_regime, self.finite_width_mechanism)

    def table(self) -> Table:
        """Columns ``quantity, predicted, measured, agree``; scalars: the analytic and measured
        labels, the reason, ``all_agree``, the finite-width label and the largest width."""
        return Table({"quantity": [c.quantity for c in self.checks], "predicted": [c.predicted for c in self.checks],
                      "measured": [c.measured for c in self.checks], "agree": [c.agree for c in self.checks]},
                     scalars={"exponents": self.analysis.exponents.describe(), "predicted": self.analysis.category,
                              "reason": self.analysis.reason, "measured": self.category,
                              "all_agree": self.all_agree, "largest_width": float(self.widths[-1]),
                              "finite_width_label": self.finite_width_label})

    def as_dict(self) -> dict[str, Any]:
        """Plain values: the analysis, widths, measured/predicted/agree per quantity, the labels and data."""
        return {"analysis": self.analysis.as_dict(), "widths": self.widths.tolist(), "measured": self.measured,
                "predicted": self.predicted, "agree": self.agree, "all_agree": self.all_agree,
                "measured_regime": self.regime.value, "measured_mechanism": self.mechanism.value,
                "finite_width_label": self.finite_width_label,
                "data": {k: v.tolist() for k, v in self.data.items()}}


def verify(exps: Exponents, widths: ArrayLike | None = None, *, seeds: int = 16, seed: int = 0,
           slope_tol: float = 0.05) -> Verification:
    """Fit the width exponents of λ, D, |f0| and the NTK change on exact solutions, d = 1e2…1e12.

    For every width, ``seeds`` inits are sampled exactly (Gram form), the closed form is solved
    and the median of each metric over seeds is taken (RMS for the output); slopes come from a
    least-squares fit of log10(metric) on log10(d). The measured label applies the same rule to the
    fitted slopes (with ``slope_tol`` as the tolerance for "= 0"; the balance U vs W is read off
    the exponents, not fitted); the finite-width label is the exact classification at the largest
    width.

    Arguments:
        exps: the parametrization.
        widths: the widths (integers in [1, 1e15]; default 11 log-spaced from 1e2 to 1e12).
        seeds: inits per width.
        seed: the random seed.
        slope_tol: tolerance of a fitted slope.

    Returns:
        A :class:`Verification`.

    Raises:
        InputError: bad widths (not integers, out of range), seeds or seed.
    """
    ana = analyze(exps)
    if widths is None:
        d = np.round(np.logspace(2, 12, 11))
    else:
        d = check_array("widths", widths, low=1.0, high=1e15)
        if d.ndim != 1 or d.size < 2 or np.any(d != np.floor(d)):
            raise InputError("widths must be at least two integers in [1, 1e15]")
    ns = check_int("seeds", seeds, low=1)
    tol = check_scalar("slope_tol", slope_tol, low=0.0, low_inclusive=False)
    hp = exps.at(d)
    g = sample_gram(d, hp["sigma_u"], hp["sigma_w"], seed=check_int("seed", seed, low=0), size=ns,
                    orthogonal=exps.orthogonal)
    sol = solve(g, exps.hyper(d))
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
    checks = []
    for q in QUANTITIES:
        p, m = getattr(ana, q), measured[q]
        agree = (math.isinf(m) or m < -5) if math.isinf(p) else abs(m - p) <= tol
        checks.append(SlopeCheck(q, p, m, bool(agree)))
    reg, mech, _ = _label(measured["lam"], measured["rate"], measured["output0"], 0.0,
                          0.0 if ana.U == ana.W else 1.0, tol)
    last = (0, -1)
    return Verification(analysis=ana, widths=readonly(d), checks=tuple(checks),
                        data=MappingProxyType({k: readonly(v) for k, v in data.items()}), regime=reg, mechanism=mech,
                        finite_width_regime=Regime(str(np.asarray(cl.regime)[last])),
                        finite_width_mechanism=Mechanism(str(np.asarray(cl.mechanism)[last])))


# ---------------------------------------------------------------------- named parametrizations
class Preset(NamedTuple):
    """A named parametrization (a tuple, so ``exps, description, published = preset`` unpacks).

    Attributes:
        exponents: its :class:`Exponents`.
        description: what it is.
        published: the classification the literature gives it.
    """

    exponents: Exponents
    description: str
    published: str


#: Named parametrizations.
PRESETS: Mapping[str, Preset] = MappingProxyType({
    "sp": Preset(Exponents(sigma_u2=-1.0, sigma_w2=0.0, eta_u=0.0, eta_w=0.0, kappa=0.0),
                 "standard parametrization (σ² = 1/fan-in) at learning rate O(1)",
                 "unstable (Yang & Hu 2021)"),
    "sp-lr1/d": Preset(Exponents(sigma_u2=-1.0, sigma_w2=0.0, eta_u=-1.0, eta_w=-1.0, kappa=0.0),
                       "standard parametrization at its stable learning rate 1/d",
                       "kernel (Yang & Hu 2021)"),
    "ntk": Preset(Exponents(sigma_u2=0.0, sigma_w2=0.0, eta_u=0.0, eta_w=0.0, kappa=-0.5),
                  "NTK parametrization: σ = 1, κ = d^−½, η = 1", "kernel (Jacot et al. 2018)"),
    "mean-field": Preset(Exponents(sigma_u2=0.0, sigma_w2=0.0, eta_u=1.0, eta_w=1.0, kappa=-1.0),
                         "mean-field: σ = 1, κ = 1/d, η = d",
                         "feature learning (Mei et al. 2018; Chizat & Bach 2018)"),
    "mup": Preset(Exponents(sigma_u2=-2.0, sigma_w2=0.0, eta_u=-1.0, eta_w=1.0, kappa=0.0),
                  "μP: σ_u² = 1/d², σ_w² = 1, η_u = 1/d, η_w = d", "feature learning (Yang & Hu 2021)"),
    "chizat-lazy": Preset(Exponents(sigma_u2=0.0, sigma_w2=0.0, eta_u=-1.0, eta_w=-1.0, kappa=0.0, orthogonal=True),
                          "Chizat's lazy scaling: NTK init with output scale α = √d (κ = α/√d = 1), lr ∝ 1/α², "
                          "centered model (u0 ⊥ w0)", "kernel / lazy (Chizat et al. 2019)"),
})


def preset(name: str) -> Exponents:
    """The exponents of a named parametrization.

    Raises:
        InputError: an unknown name (the message lists the known ones).

    >>> preset("ntk").kappa
    -0.5
    """
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name].exponents


def exponents(preset_name: str | None = None, **changes: Any) -> Exponents:
    """A parametrization: a preset (or all exponents 0) with some exponents changed.

    Arguments:
        preset_name: a key of :data:`PRESETS`, or ``None`` for :class:`Exponents` ().
        changes: exponents to set (``sigma_u2=…``, ``orthogonal=…``); ``None`` values are ignored,
            so unset command-line options can be passed through.

    Raises:
        InputError: an unknown preset or exponent name, or an exponent out of range.

    >>> exponents("mean-field", kappa=-0.5, eta_u=None).kappa
    -0.5
    """
    base = Exponents() if preset_name is None else preset(preset_name)
    unknown = sorted(set(changes) - {f.name for f in fields(Exponents)})
    if unknown:
        raise InputError(f"unknown exponent(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(f.name for f in fields(Exponents))}")
    return base.replace(**changes)


@dataclass(frozen=True)
class PresetRow:
    """One preset: published, predicted (analytic) and measured (fitted slopes) labels.

    Attributes:
        name: the preset's name.
        preset: the :class:`Preset`.
        verification: its :class:`Verification` (its ``analysis`` is the prediction).
    """

    name: str
    preset: Preset
    verification: Verification

    @property
    def predicted(self) -> str:
        """The analytic label (category)."""
        return self.verification.analysis.category

    @property
    def measured(self) -> str:
        """The label from the fitted slopes (category)."""
        return self.verification.category


@dataclass(frozen=True)
class PresetReport:
    """Every named parametrization verified (:func:`verify_presets`).

    Attributes:
        rows: one :class:`PresetRow` per preset, in the order of :data:`PRESETS`.
    """

    rows: tuple[PresetRow, ...]

    @property
    def all_agree(self) -> bool:
        """Whether every preset's measured label equals its predicted one and every slope agrees."""
        return all(r.predicted == r.measured and r.verification.all_agree for r in self.rows)

    def table(self) -> Table:
        """Columns ``preset, description, published, predicted, measured, finite_width_label,
        slopes_agree``, then the measured and predicted exponent of each quantity
        (``measured_lam``, ``predicted_lam``, …)."""
        cols: dict[str, list[Any]] = {
            "preset": [r.name for r in self.rows],
            "description": [r.preset.description for r in self.rows],
            "published": [r.preset.published for r in self.rows],
            "predicted": [r.predicted for r in self.rows],
            "measured": [r.measured for r in self.rows],
            "finite_width_label": [r.verification.finite_width_label for r in self.rows],
            "slopes_agree": [r.verification.all_agree for r in self.rows],
        }
        for q in QUANTITIES:
            cols[f"measured_{q}"] = [r.verification.measured[q] for r in self.rows]
            cols[f"predicted_{q}"] = [r.verification.predicted[q] for r in self.rows]
        return Table(cols)


def verify_presets(*, seeds: int = 16, seed: int = 0, names: tuple[str, ...] | None = None) -> PresetReport:
    """:func:`verify` every named parametrization.

    Arguments:
        seeds: inits per width.
        seed: the random seed.
        names: the presets to verify (default all of :data:`PRESETS`).

    Returns:
        A :class:`PresetReport`.

    Raises:
        InputError: an unknown preset name, bad seeds or seed.
    """
    chosen = tuple(PRESETS) if names is None else tuple(names)
    rows = []
    for name in chosen:
        preset(name)  # validates the name
        rows.append(PresetRow(name, PRESETS[name], verify(PRESETS[name].exponents, seeds=seeds, seed=seed)))
    return PresetReport(tuple(rows))


# ---------------------------------------------------------------------- exponent diagrams
#: the axes of an exponent diagram: one exponent, or ``sigma2`` (both init exponents) and
#: ``eta`` (both learning-rate exponents) moved together
EXPONENT_AXES = ("sigma_u2", "sigma_w2", "sigma2", "eta_u", "eta_w", "eta", "kappa")


@dataclass(frozen=True)
class ExponentAxis:
    """One axis of an exponent diagram.

    Attributes:
        name: one of :data:`EXPONENT_AXES`.
        values: the exponents, a read-only 1-D array in [-10, 10].

    Raises:
        InputError: an unknown name or bad values.
    """

    name: str
    values: NDArray[np.float64]

    def __post_init__(self) -> None:
        if self.name not in EXPONENT_AXES:
            raise InputError(f"unknown exponent axis {self.name!r}; choose from {', '.join(EXPONENT_AXES)}")
        vals = check_array(f"{self.name} exponents", self.values, low=_EXPONENT_RANGE[0], high=_EXPONENT_RANGE[1])
        if vals.ndim != 1 or vals.size == 0:
            raise InputError(f"exponent axis {self.name} needs a 1-D list of values")
        object.__setattr__(self, "values", readonly(vals))

    def apply(self, e: dict[str, Any], v: float) -> None:
        """Set this axis' exponent(s) to ``v`` in a dict of :class:`Exponents` fields."""
        if self.name == "sigma2":
            e["sigma_u2"] = e["sigma_w2"] = v
        elif self.name == "eta":
            e["eta_u"] = e["eta_w"] = v
        else:
            e[self.name] = v


_EXP_AXIS_RE = re.compile(r"^\s*([a-z_0-9]+)\s*=\s*([-+0-9.eE]+):([-+0-9.eE]+):(\d+)\s*$")


def parse_exponent_axis(spec: str) -> ExponentAxis:
    """Parse ``NAME=LO:HI:NUM``: NUM evenly spaced exponents from LO to HI (inclusive).

    Raises:
        InputError: a malformed spec, an unknown name, LO >= HI or NUM < 2.

    >>> parse_exponent_axis("kappa=-1:0:3").values
    array([-1. , -0.5,  0. ])
    """
    m = _EXP_AXIS_RE.match(spec)
    if not m:
        raise InputError(f"an exponent axis must look like NAME=LO:HI:NUM, got {spec!r}")
    name = m.group(1)
    try:
        lo, hi, num = float(m.group(2)), float(m.group(3)), int(m.group(4))
    except ValueError as exc:
        raise InputError(f"exponent axis {name}: LO, HI must be numbers, got {spec!r}") from exc
    if not hi > lo or num < 2:
        raise InputError(f"exponent axis {name}: need LO < HI and NUM >= 2, got {spec!r}")
    return ExponentAxis(name, np.linspace(lo, hi, num))


@dataclass(frozen=True)
class ExponentDiagram:
    """Analytic labels over a grid of two exponents (:func:`exponent_diagram`).

    Attributes:
        x, y: the axes.
        base: the exponents the others keep.
        labels: categories (``"kernel"``, ``"feature/alignment"``, ``"rich"``, …), a read-only
            string array of shape ``(len(y.values), len(x.values))``.
    """

    x: ExponentAxis
    y: ExponentAxis
    base: Exponents
    labels: NDArray[np.str_]

    def table(self) -> Table:
        """One row per grid point: ``<x name>, <y name>, label`` (x fastest)."""
        X, Y = np.meshgrid(self.x.values, self.y.values)
        return Table({self.x.name: X.ravel().tolist(), self.y.name: Y.ravel().tolist(),
                      "label": self.labels.ravel().tolist()})

    def as_dict(self) -> dict[str, Any]:
        """``{"x", "x_values", "y", "y_values", "labels"}`` as plain lists."""
        return {"x": self.x.name, "x_values": self.x.values.tolist(), "y": self.y.name,
                "y_values": self.y.values.tolist(), "labels": self.labels.tolist()}


def exponent_diagram(x: ExponentAxis | str, y: ExponentAxis | str, base: Exponents | None = None) -> ExponentDiagram:
    """The analytic label at every point of a grid of two exponents.

    Arguments:
        x, y: the axes (objects, or specs ``NAME=LO:HI:NUM``); they must differ.
        base: the other exponents (default all 0).

    Returns:
        An :class:`ExponentDiagram`.

    Raises:
        InputError: bad or equal axes.

    >>> exponent_diagram("kappa=-1:0:3", "sigma2=-1:0:2").labels[1].tolist()
    ['frozen', 'kernel', 'divergent-output']
    """
    xa = parse_exponent_axis(x) if isinstance(x, str) else x
    ya = parse_exponent_axis(y) if isinstance(y, str) else y
    if xa.name == ya.name:
        raise InputError("the two exponent axes must differ")
    base = base or Exponents()
    out = np.empty((ya.values.size, xa.values.size), dtype=object)
    for i, yv in enumerate(ya.values):
        for j, xv in enumerate(xa.values):
            e = base.as_dict()
            xa.apply(e, float(xv))
            ya.apply(e, float(yv))
            out[i, j] = analyze(Exponents(**e)).category
    return ExponentDiagram(x=xa, y=ya, base=base, labels=readonly(out.astype(str), dtype=None))


def exponent_grid(xname: str, xs: ArrayLike, yname: str, ys: ArrayLike, base: Exponents | None = None) -> NDArray[np.str_]:
    """Analytic labels (categories) over a grid of two exponents: :func:`exponent_diagram`'s labels.

    ``sigma2`` moves both init exponents and ``eta`` both learning-rate exponents together.

    Returns:
        A read-only string array of shape ``(len(ys), len(xs))``.

    Raises:
        InputError: unknown or equal axis names, or bad values.
    """
    for n in (xname, yname):
        if n not in EXPONENT_AXES:
            raise InputError(f"unknown exponent axis {n!r}; choose from {', '.join(EXPONENT_AXES)}")
    return exponent_diagram(ExponentAxis(xname, np.atleast_1d(np.asarray(xs, dtype=np.float64))),
                            ExponentAxis(yname, np.atleast_1d(np.asarray(ys, dtype=np.float64))), base).labels


# ---------------------------------------------------------------------- the scaling report
@dataclass(frozen=True)
class ScalingReport:
    """One parametrization analysed, verified and (optionally) mapped (:func:`scaling_report`).

    Attributes:
        verification: the :class:`Verification` (its ``analysis`` is the prediction).
        diagram: the :class:`ExponentDiagram` around it, if one was asked for.
    """

    verification: Verification
    diagram: ExponentDiagram | None = None

    @property
    def exponents(self) -> Exponents:
        """The parametrization."""
        return self.verification.analysis.exponents

    @property
    def analysis(self) -> Analysis:
        """The analytic prediction."""
        return self.verification.analysis

    def table(self) -> Table:
        """:meth:`Verification.table`, with the diagram (if any) as an extra JSON entry."""
        t = self.verification.table()
        return t if self.diagram is None else Table(t.columns, t.scalars, {"diagram": self.diagram.as_dict()})

    def as_dict(self) -> dict[str, Any]:
        """:meth:`Verification.as_dict`, plus ``diagram`` when there is one."""
        d = self.verification.as_dict()
        if self.diagram is not None:
            d["diagram"] = self.diagram.as_dict()
        return d


def scaling_report(exps: Exponents, *, seeds: int = 16, seed: int = 0,
                   diagram: tuple[ExponentAxis | str, ExponentAxis | str] | None = None) -> ScalingReport:
    """Analyse and verify one parametrization, and map the labels over two exponents around it.

    Arguments:
        exps: the parametrization (see :func:`exponents` to build it from a preset).
        seeds, seed: as in :func:`verify`.
        diagram: two exponent axes (objects or ``NAME=LO:HI:NUM`` specs), or ``None``.

    Returns:
        A :class:`ScalingReport`.

    Raises:
        InputError: bad seeds, seed or axes.
    """
    diag = None if diagram is None else exponent_diagram(diagram[0], diagram[1], base=exps)
    return ScalingReport(verification=verify(exps, seeds=seeds, seed=seed), diagram=diag)
