r"""Kernel vs feature learning and the three mechanisms (docs/theory.md §5).

Over a trajectory from t = 0 to convergence:

- :attr:`Regime.KERNEL` when :math:`\max_t |K(t)/K(0) - 1| \le \varepsilon`; mechanism
  :attr:`Mechanism.NONE`;
- otherwise :attr:`Regime.FEATURE` and, with :math:`\Delta\zeta = |\zeta_{end}| - |\zeta_0|` and the
  layer balance :math:`b = (|u|/\sqrt{\eta_u}) / (|w|/\sqrt{\eta_w})`:

  - :attr:`Mechanism.DISALIGNMENT` when :math:`\Delta\zeta < -\delta`;
  - :attr:`Mechanism.ALIGNMENT` when :math:`\Delta\zeta > \delta` and :math:`b_{end}/b_0 \in [1/F, F]`;
  - :attr:`Mechanism.RESCALING` otherwise;

- a diverged discrete-time run is :attr:`Regime.UNSTABLE`, mechanism :attr:`Mechanism.NONE`.

Every label comes with the numbers it was decided on (:class:`Classification`). The labels are
the enums of :mod:`featmech.analysis.labels` (equal to their strings: ``c.regime == "kernel"``).

>>> c = classify(ntk_max_deviation=0.4, ntk_ratio=1.4, alignment_start=0.0, alignment_end=0.7,
...              balance_start=1.0, balance_end=1.0)
>>> c.regime, c.mechanism, c.category
(<Regime.FEATURE: 'feature'>, <Mechanism.ALIGNMENT: 'alignment'>, 'feature/alignment')
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, fields
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech.analysis.labels import Mechanism, Regime, categories, category
from featmech.errors import InputError
from featmech.params import GROUPS, PARAMETERS
from featmech.theory.exact import Solution

__all__ = ["Thresholds", "Classification", "classify", "classify_solution", "classify_trajectory", "explain",
           "METRICS"]

F = NDArray[np.float64]
#: a number of one configuration, or a read-only float64 array over a batch
Number = Union[float, F]
#: a regime of one configuration, or a read-only string array over a batch
RegimeLabel = Union[Regime, NDArray[np.str_]]
#: a mechanism of one configuration, or a read-only string array over a batch
MechanismLabel = Union[Mechanism, NDArray[np.str_]]


@dataclass(frozen=True)
class Thresholds:
    """The thresholds of the §5 rule, validated against the parameter table.

    Attributes:
        eps: ε, the NTK change above which a trajectory learns features; in (0, ∞).
        delta: δ, the change of |ζ| that counts as alignment or disalignment; in (0, ∞).
        factor: F, the largest change of the layer balance still called alignment; in [1, ∞).

    Raises:
        InputError: a value outside its range (the message names it and the range).

    >>> Thresholds(eps=0.05)
    Thresholds(eps=0.05, delta=0.1, factor=10.0)
    >>> Thresholds(factor=0.5)
    Traceback (most recent call last):
    ...
    featmech.errors.InputError: factor must be in [1, inf), got 0.5
    """

    eps: float = PARAMETERS["eps"].default
    delta: float = PARAMETERS["delta"].default
    factor: float = PARAMETERS["factor"].default

    def __post_init__(self) -> None:
        for name in GROUPS["thresholds"]:
            object.__setattr__(self, name, PARAMETERS[name].check(getattr(self, name)))

    def as_dict(self) -> dict[str, float]:
        """``{"eps": ..., "delta": ..., "factor": ...}``."""
        return {name: getattr(self, name) for name in GROUPS["thresholds"]}


@dataclass(frozen=True)
class Classification:
    """A regime/mechanism label and the numbers it was decided on.

    For one configuration the labels are :class:`~featmech.analysis.labels.Regime` and
    :class:`~featmech.analysis.labels.Mechanism` members and the numbers ``float``; for a batch
    every field is a read-only array of the batch shape (labels as string arrays, which compare
    with ``==`` against the enums or plain strings).

    Attributes:
        regime: kernel, feature or unstable.
        mechanism: none (outside feature learning), alignment, disalignment or rescaling.
        ntk_max_deviation: max_t |K(t)/K(0) − 1|, compared with ε.
        ntk_ratio: K(end)/K(0).
        alignment_start, alignment_end: ζ at the start and the end.
        alignment_change: Δζ = |ζ_end| − |ζ_0|, compared with ±δ.
        balance_start, balance_end: b = (|u|/√η_u)/(|w|/√η_w).
        balance_change: b_end/b_0, compared with [1/F, F].
        norm_u_change, norm_w_change: |u_end|/|u_0|, |w_end|/|w_0|.
        output_start, output_end: κ u·w.
        convergence_time: the time at which the residual has fallen to 1e-2 of its initial value
            (inf if never; NaN for recorded trajectories).
        lam: λ = k/g, g = κ√(η_uη_w)|a||b|/4, the finite-width form of docs/theory.md §4's
            λ = 4k/(κ s N) (NaN where it does not apply).
        thresholds: the :class:`Thresholds` the labels were decided with.
    """

    regime: RegimeLabel
    mechanism: MechanismLabel
    ntk_max_deviation: Number
    ntk_ratio: Number
    alignment_start: Number
    alignment_end: Number
    alignment_change: Number
    balance_start: Number
    balance_end: Number
    balance_change: Number
    norm_u_change: Number
    norm_w_change: Number
    output_start: Number
    output_end: Number
    convergence_time: Number
    lam: Number
    thresholds: Thresholds

    @property
    def shape(self) -> tuple[int, ...]:
        """The batch shape (``()`` for one configuration)."""
        return np.shape(self.ntk_max_deviation)

    @property
    def category(self) -> Any:
        """The combined label (``"feature/alignment"``, ``"kernel"``; see
        :func:`~featmech.analysis.labels.category`): a ``str``, or a string array for a batch."""
        if isinstance(self.regime, Regime) and isinstance(self.mechanism, Mechanism):
            return category(self.regime, self.mechanism)
        return categories(self.regime, self.mechanism)

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain Python values: labels as ``str``, numbers as ``float`` (nested lists
        for a batch; NaN and inf stay floats, :func:`featmech.tables.jsonable` writes them as null),
        and ``thresholds`` as a dict."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Thresholds):
                v = v.as_dict()
            elif isinstance(v, np.ndarray):
                v = v.tolist()
            elif isinstance(v, enum.Enum):
                v = v.value
            out[f.name] = v
        return out


def _balance(norm_u: ArrayLike, norm_w: ArrayLike, eta_u: ArrayLike, eta_w: ArrayLike) -> F:
    """b = (|u|/√η_u)/(|w|/√η_w); inf when only w vanishes, NaN when undefined (η = 0, both zero)."""
    nu, nw, eu, ew = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (norm_u, norm_w, eta_u, eta_w)))
    with np.errstate(all="ignore"):
        num = nu / np.sqrt(eu)
        den = nw / np.sqrt(ew)
        b = np.where(den > 0, num / den, np.where(num > 0, np.inf, np.nan))
    return np.where((eu > 0) & (ew > 0), b, np.nan)


def _balance_change(b0: F, b1: F) -> F:
    """Factor b_end / b_0 (inf when a layer appears from or collapses to zero)."""
    n0, n1 = np.isnan(b0), np.isnan(b1)
    degenerate = (b0 == 0) | np.isinf(b0) | (b1 == 0) | np.isinf(b1)
    with np.errstate(all="ignore"):
        ratio = b1 / b0
    return np.select([n0 & n1, n0 | n1, b0 == b1, degenerate], [1.0, np.inf, 1.0, np.inf], ratio)


def _ratio(a: ArrayLike, b: ArrayLike) -> F:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    with np.errstate(all="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.where(a > 0, np.inf, 1.0))


#: the numbers a :class:`Classification` carries, in field order (after the two labels)
METRICS: tuple[str, ...] = tuple(f.name for f in fields(Classification)
                                 if f.name not in ("regime", "mechanism", "thresholds"))

_INPUTS = ("ntk_max_deviation", "ntk_ratio", "alignment_start", "alignment_end", "balance_start", "balance_end",
           "norm_u_change", "norm_w_change", "output_start", "output_end", "convergence_time", "lam")


def classify(*, ntk_max_deviation: ArrayLike, ntk_ratio: ArrayLike, alignment_start: ArrayLike,
             alignment_end: ArrayLike, balance_start: ArrayLike, balance_end: ArrayLike,
             norm_u_change: ArrayLike = np.nan, norm_w_change: ArrayLike = np.nan,
             output_start: ArrayLike = np.nan, output_end: ArrayLike = np.nan,
             convergence_time: ArrayLike = np.nan, lam: ArrayLike = np.nan,
             thresholds: Thresholds | None = None, diverged: ArrayLike = False) -> Classification:
    r"""Apply the §5 rule to already-computed summary numbers (scalars or arrays, broadcast together).

    ``regime`` is unstable where ``diverged``, feature where ``ntk_max_deviation`` > ε (NaN counts
    as no change), kernel otherwise; in the feature regime the mechanism is disalignment for
    Δζ = |ζ_end| − |ζ_0| < −δ, alignment for Δζ > δ with the balance change b_end/b_0 in
    [1/F, F], and rescaling otherwise.

    Arguments:
        ntk_max_deviation, ntk_ratio, alignment_start, alignment_end, balance_start, balance_end:
            the numbers the rule reads (see :class:`Classification`).
        norm_u_change, norm_w_change, output_start, output_end, convergence_time, lam: carried
            along into the result (NaN when not known).
        thresholds: ε, δ, F (default :class:`Thresholds`).
        diverged: whether a discrete-time run diverged.

    Returns:
        A :class:`Classification`: enums and floats when every input is a single number, read-only
        arrays of the broadcast shape otherwise.

    Raises:
        InputError: inputs that are not real numbers or do not broadcast together.

    >>> classify(ntk_max_deviation=[0.01, 0.5], ntk_ratio=[1.0, 0.6], alignment_start=[0.1, 0.9],
    ...          alignment_end=[0.1, 0.2], balance_start=1.0, balance_end=1.0).mechanism
    array(['none', 'disalignment'], dtype='<U12')
    """
    values = dict(ntk_max_deviation=ntk_max_deviation, ntk_ratio=ntk_ratio, alignment_start=alignment_start,
                  alignment_end=alignment_end, balance_start=balance_start, balance_end=balance_end,
                  norm_u_change=norm_u_change, norm_w_change=norm_w_change, output_start=output_start,
                  output_end=output_end, convergence_time=convergence_time, lam=lam)
    arrays = {}
    for name, v in values.items():
        try:  # a copy: the result must not share memory with the caller's arrays
            arrays[name] = np.array(v, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name} must be real numbers, got {v!r}") from exc
    try:
        div = np.array(diverged, dtype=bool)
    except (TypeError, ValueError) as exc:
        raise InputError(f"diverged must be booleans, got {diverged!r}") from exc
    return _decide(arrays, div, thresholds or Thresholds())


#: the labels _decide picks from, indexed by small integer codes
_REGIME_VALUES = np.array([Regime.KERNEL.value, Regime.FEATURE.value, Regime.UNSTABLE.value])
_KERNEL, _FEATURE, _UNSTABLE = 0, 1, 2
_MECHANISM_VALUES = np.array([Mechanism.NONE.value, Mechanism.ALIGNMENT.value, Mechanism.DISALIGNMENT.value,
                              Mechanism.RESCALING.value])
_NONE, _ALIGNMENT, _DISALIGNMENT, _RESCALING = 0, 1, 2, 3


def _decide(values: dict[str, F], diverged: NDArray[np.bool_], th: Thresholds) -> Classification:
    """The rule on arrays this module owns (they are frozen in place, not copied)."""
    try:
        arrs = np.broadcast_arrays(*(values[n] for n in _INPUTS), diverged)
    except ValueError as exc:
        shapes = {n: np.shape(values[n]) for n in _INPUTS}
        raise InputError(f"the summary numbers must broadcast together, got shapes {shapes}") from exc
    dev, ratio, z0, z1, b0, b1, nuc, nwc, f0, f1, tc, lam, div = arrs
    dz = np.abs(z1) - np.abs(z0)
    bc = _balance_change(b0, b1)
    feature = dev > th.eps  # NaN counts as no change
    aligned = (dz > th.delta) & (bc >= 1.0 / th.factor) & (bc <= th.factor)
    # decide on small integer codes, then look the strings up once (cheaper than selecting strings)
    reg_code = np.where(div, _UNSTABLE, np.where(feature, _FEATURE, _KERNEL))
    mech_code = np.where(div | ~feature, _NONE, np.where(dz < -th.delta, _DISALIGNMENT,
                                                         np.where(aligned, _ALIGNMENT, _RESCALING)))
    regime = _REGIME_VALUES[reg_code]
    mech = _MECHANISM_VALUES[mech_code]
    numbers = dict(ntk_max_deviation=dev, ntk_ratio=ratio, alignment_start=z0, alignment_end=z1,
                   alignment_change=dz, balance_start=b0, balance_end=b1, balance_change=bc, norm_u_change=nuc,
                   norm_w_change=nwc, output_start=f0, output_end=f1, convergence_time=tc, lam=lam)
    if regime.ndim == 0:
        return Classification(regime=Regime(str(regime)), mechanism=Mechanism(str(mech)), thresholds=th,
                              **{k: float(v) for k, v in numbers.items()})
    return Classification(regime=_frozen(regime), mechanism=_frozen(mech), thresholds=th,
                          **{k: _frozen(v) for k, v in numbers.items()})


def _frozen(a: NDArray[Any]) -> NDArray[Any]:
    """Mark an array this module computed (or broadcast from such) read-only, without a copy."""
    a.flags.writeable = False
    return a


def classify_solution(sol: Solution, thresholds: Thresholds | None = None) -> Classification:
    """Classify exact gradient-flow solutions over t ∈ [0, ∞] (any batch shape, vectorized).

    The maximum NTK deviation is exact (:attr:`~featmech.theory.exact.Solution.ntk_max_deviation`):
    K = R(y + 1/y) along the generic branch, so besides the endpoints only y = 1 (the output
    crossing zero) can be an extremum; elsewhere K is monotone.

    Arguments:
        sol: an exact solution (:func:`featmech.solve`, :func:`featmech.solve_gram`).
        thresholds: ε, δ, F (default :class:`Thresholds`).

    Returns:
        A :class:`Classification` of the solution's batch shape (enums and floats for one
        configuration).

    >>> import featmech
    >>> sol = featmech.solve_gram(1e5, 1e5, 0.0, eta_u=1e5, eta_w=1e5, kappa=1e-5)
    >>> classify_solution(sol).category
    'feature/alignment'
    """
    s0 = sol(0.0)
    s1 = sol(math.inf)
    eu, ew = sol.hyper.eta_u, sol.hyper.eta_w
    values = dict(ntk_max_deviation=np.asarray(sol.ntk_max_deviation, dtype=np.float64),
                  ntk_ratio=1.0 + np.asarray(sol.ntk_change, dtype=np.float64),
                  alignment_start=np.asarray(s0.alignment, dtype=np.float64),
                  alignment_end=np.asarray(s1.alignment, dtype=np.float64),
                  balance_start=_balance(s0.norm_u, s0.norm_w, eu, ew),
                  balance_end=_balance(s1.norm_u, s1.norm_w, eu, ew),
                  norm_u_change=_ratio(s1.norm_u, s0.norm_u), norm_w_change=_ratio(s1.norm_w, s0.norm_w),
                  output_start=np.asarray(s0.output, dtype=np.float64),
                  output_end=np.asarray(s1.output, dtype=np.float64),
                  convergence_time=np.asarray(sol.convergence_time(1e-2), dtype=np.float64),
                  lam=np.asarray(sol.lam, dtype=np.float64))
    return _decide(values, np.array(False), thresholds or Thresholds())


def classify_trajectory(ntk: ArrayLike, alignment: ArrayLike, norm_u: ArrayLike, norm_w: ArrayLike, *,
                        eta_u: float = 1.0, eta_w: float = 1.0, diverged: bool = False,
                        output: ArrayLike | None = None, thresholds: Thresholds | None = None) -> Classification:
    """Classify a recorded trajectory (simulated GD, or a real network's measurements).

    Arrays are over recorded times; the first entry is the start and the last finite entry the
    end (records after a divergence are NaN and ignored). The trajectory should reach
    convergence for the label to mean what §5 says.

    Arguments:
        ntk, alignment, norm_u, norm_w: 1-D arrays of one length: the NTK K, ζ, |u| and |w| at the
            recorded times.
        eta_u, eta_w: the learning-rate multipliers (for the layer balance).
        diverged: whether the run diverged (regime unstable).
        output: the network output κ u·w at the recorded times, if known.
        thresholds: ε, δ, F (default :class:`Thresholds`).

    Returns:
        A :class:`Classification` of one configuration (``convergence_time`` and ``lam`` NaN).

    Raises:
        InputError: arrays that are not 1-D of equal length, or no finite record.

    >>> c = classify_trajectory([1.0, 1.2, 1.4], [0.0, 0.4, 0.7], [1.0, 1.2, 1.3], [1.0, 1.2, 1.3])
    >>> c.category, round(c.ntk_ratio, 6)
    ('feature/alignment', 1.4)
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
    out = None if output is None else np.asarray(output, dtype=np.float64)
    values = dict(ntk_max_deviation=np.array(float(np.max(np.abs(K[ok] / K0 - 1.0))) if K0 > 0 else 0.0),
                  ntk_ratio=np.array(float(K[i1]) / K0 if K0 > 0 else 1.0),
                  alignment_start=np.array(z[i0]), alignment_end=np.array(z[i1]),
                  balance_start=_balance(nu[i0], nw[i0], eta_u, eta_w),
                  balance_end=_balance(nu[i1], nw[i1], eta_u, eta_w),
                  norm_u_change=_ratio(nu[i1], nu[i0]), norm_w_change=_ratio(nw[i1], nw[i0]),
                  output_start=np.array(np.nan if out is None else out[i0]),
                  output_end=np.array(np.nan if out is None else out[i1]),
                  convergence_time=np.array(np.nan), lam=np.array(np.nan))
    return _decide(values, np.array(bool(diverged)), thresholds or Thresholds())


def explain(c: Classification, *, rate: float | None = None) -> str:
    """A short account, in words, of why one configuration got its label.

    Arguments:
        c: the classification of a single configuration.
        rate: the asymptotic convergence rate D, quoted when given.

    Returns:
        A few lines of text: the regime and mechanism (in the enums' words), the NTK change
        against ε, λ, the alignment and balance changes that decided the mechanism, the output
        and the convergence time.

    Raises:
        InputError: ``c`` is the classification of a batch.

    >>> c = classify(ntk_max_deviation=0.01, ntk_ratio=1.01, alignment_start=0.0, alignment_end=0.01,
    ...              balance_start=1.0, balance_end=1.0)
    >>> print(explain(c).splitlines()[0])
    Regime: kernel (lazy) regime.
    """
    if not isinstance(c.regime, enum.Enum):
        raise InputError("explain() takes the classification of a single configuration")
    th = c.thresholds
    regime, mech = Regime(str(c.regime)), Mechanism(str(c.mechanism))
    lines = [f"Regime: {regime.label}" + (f"; mechanism: {mech.label}" if regime is Regime.FEATURE else "") + "."]
    if regime is Regime.UNSTABLE:
        lines.append("The discrete-time run diverged (the residual blew up): the learning rate is above what the "
                     "NTK allows (lr·K beyond the edge of stability, with no catapult back).")
        return "\n".join(lines)
    dev = float(c.ntk_max_deviation)
    cmp_ = ">" if dev > th.eps else "<="
    lines.append(f"The NTK moves by at most {dev:.3g} of its initial value (max_t |K(t)/K(0) − 1| {cmp_} ε = "
                 f"{th.eps:g}); it ends at K(∞)/K(0) = {float(c.ntk_ratio):.4g}.")
    lam = float(c.lam)
    if np.isfinite(lam):
        size = "small (kernel side)" if abs(lam) < 0.3 else ("large (rich side)" if abs(lam) > 3 else "Θ(1)")
        lines.append(f"λ = k/g = {lam:.3g} is {size}; for iid inits at large width K(∞)/K(0) ≈ sqrt(1 + λ²/4).")
    z = (f"ζ goes from {float(c.alignment_start):.3f} to {float(c.alignment_end):.3f} "
         f"(Δ|ζ| = {float(c.alignment_change):+.3f})")
    bc = float(c.balance_change)
    b = (f"the layer balance (|u|/√η_u)/(|w|/√η_w) changes by a factor {bc:.3g}"
         if np.isfinite(bc) else "one layer appears from or collapses to zero")
    words = mech.label[0].upper() + mech.label[1:]
    if regime is Regime.KERNEL:
        lines.append(f"In the kernel regime features stay put: {z}; {b}.")
    elif mech is Mechanism.DISALIGNMENT:
        lines.append(f"{words}: {z} < −δ = {-th.delta:g}: the layers turn apart and the NTK falls "
                     "(the output overshoots the target and learning undoes the initial correlation).")
    elif mech is Mechanism.ALIGNMENT:
        lines.append(f"{words}: {z} > δ = {th.delta:g} while {b} (within F = {th.factor:g}): both layers "
                     "turn towards each other and grow together.")
    elif mech is Mechanism.RESCALING:
        why = (f"|Δζ| <= δ = {th.delta:g}, so the angle barely changes" if abs(float(c.alignment_change)) <= th.delta
               else f"{b}, beyond F = {th.factor:g}")
        lines.append(f"{words}: {z}; {why}. The NTK changes through the layer norms "
                     f"(|u| ×{float(c.norm_u_change):.3g}, |w| ×{float(c.norm_w_change):.3g}), not the angle.")
    if np.isfinite(float(c.output_start)):
        lines.append(f"Output κ u·w goes from {float(c.output_start):.4g} to {float(c.output_end):.4g}.")
    tc = float(c.convergence_time)
    if np.isfinite(tc):
        tail = f" (asymptotic rate D = {rate:.4g})" if rate is not None else ""
        lines.append(f"The residual falls to 1% of its initial value at t = {tc:.4g}{tail}.")
    elif not np.isnan(tc):
        lines.append("The residual never falls to 1% of its initial value (a saddle or no dynamics).")
    return "\n".join(lines)
