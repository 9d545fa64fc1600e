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

**Labels only where earned.** The rule describes a trajectory from its start to convergence, so
a run that did not get there earns no label: its regime is :attr:`Regime.UNDETERMINED`, its
mechanism :attr:`Mechanism.NONE`, ``converged`` is False and ``status`` (a
:class:`~featmech.analysis.labels.Status`) says why:

- *exact gradient flow*: converged when the residual reaches :data:`LOSS_FRACTION` of its start in
  finite time (:meth:`~featmech.theory.exact.Solution.convergence_time` finite). It does
  except where the flow ends at a saddle or has no dynamics (a wrong-sign aligned init, u0 = w0 = 0):
  ``not converged``;
- *discrete-time regression* (GD/SGD simulation, networks trained with MSE): converged when the
  last recorded loss is at most :data:`LOSS_FRACTION` × the first (:func:`run_status`);
- *classifiers* (``n_classes`` given): ``did not train`` when the final loss is within
  :data:`CHANCE_MARGIN` of the chance loss (ln C for cross-entropy) or the accuracy is within
  :data:`CHANCE_SE` standard errors of chance (:func:`chance_loss`, :func:`chance_accuracy`);
- a diverged run stays :attr:`Regime.UNSTABLE` (status ``diverged``, ``converged`` False).

**Borderline labels.** A label is ``borderline`` when a number it was decided on lies within
:data:`BORDERLINE_MARGIN` (20 %) of its threshold — max|K/K0 − 1| in [0.8ε, 1.2ε], |Δζ| in
[0.8δ, 1.2δ] (feature learning), the balance change max(b, 1/b) in [0.8F, 1.2F] (when Δζ > δ)
— and ``borderline_threshold`` names those thresholds (``"eps"``, ``"eps,delta"``, …).

Every label comes with the numbers it was decided on (:class:`Classification`). The labels are
the enums of :mod:`featmech.analysis.labels` (equal to their strings: ``c.regime == "kernel"``).

>>> c = classify(ntk_max_deviation=0.4, ntk_ratio=1.4, alignment_start=0.0, alignment_end=0.7,
...              balance_start=1.0, balance_end=1.0)
>>> c.regime, c.mechanism, c.category
(<Regime.FEATURE: 'feature'>, <Mechanism.ALIGNMENT: 'alignment'>, 'feature/alignment')
>>> c = classify(ntk_max_deviation=0.11, ntk_ratio=1.1, alignment_start=0.0, alignment_end=0.09,
...              balance_start=1.0, balance_end=1.0)
>>> c.category, c.borderline, c.borderline_threshold
('feature/rescaling', True, 'eps,delta')
>>> c = classify(ntk_max_deviation=0.4, ntk_ratio=1.4, alignment_start=0.0, alignment_end=0.7,
...              balance_start=1.0, balance_end=1.0, status="not converged")
>>> c.regime, c.mechanism, c.converged, c.status.label
(<Regime.UNDETERMINED: 'undetermined'>, <Mechanism.NONE: 'none'>, False, 'not converged')
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, fields
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech._validation import check_int, check_scalar
from featmech.analysis.labels import Mechanism, Regime, Status, categories, category
from featmech.errors import InputError
from featmech.params import GROUPS, PARAMETERS
from featmech.theory.exact import Branch, Solution

__all__ = ["Thresholds", "Classification", "classify", "classify_solution", "classify_trajectory", "explain",
           "METRICS", "LABEL_FIELDS", "LOSS_FRACTION", "CHANCE_MARGIN", "CHANCE_SE", "BORDERLINE_MARGIN",
           "chance_loss", "chance_accuracy", "run_status"]

F = NDArray[np.float64]
#: a number of one configuration, or a read-only float64 array over a batch
Number = Union[float, F]
#: a regime of one configuration, or a read-only string array over a batch
RegimeLabel = Union[Regime, NDArray[np.str_]]
#: a mechanism of one configuration, or a read-only string array over a batch
MechanismLabel = Union[Mechanism, NDArray[np.str_]]
#: a status of one configuration, or a read-only string array over a batch
StatusLabel = Union[Status, NDArray[np.str_]]
#: a flag of one configuration, or a read-only bool array over a batch
Flag = Union[bool, NDArray[np.bool_]]
#: a threshold name (or names) of one configuration, or a read-only string array over a batch
Names = Union[str, NDArray[np.str_]]

#: a discrete-time regression run has converged when its last loss is at most this fraction of its
#: first; the exact flow when its residual reaches this fraction of its start (its loss 1e-4)
LOSS_FRACTION = 1e-2
#: a classifier did not train when its final loss is at least (1 − CHANCE_MARGIN) × the chance loss
CHANCE_MARGIN = 0.05
#: … or its accuracy at most chance + CHANCE_SE binomial standard errors (:func:`chance_accuracy`)
CHANCE_SE = 3.0
#: a label is borderline when a number it was decided on is within this relative margin of its threshold
BORDERLINE_MARGIN = 0.2


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
        regime: kernel, feature, unstable, or undetermined (the run did not converge or never
            trained: no label is earned).
        mechanism: none (outside feature learning), alignment, disalignment or rescaling.
        converged: whether the run got to convergence (``status == "converged"``); False for an
            undetermined or unstable label.
        status: the :class:`~featmech.analysis.labels.Status`: converged, not converged, did not
            train, or diverged.
        borderline: whether a number the label was decided on lies within
            :data:`BORDERLINE_MARGIN` of its threshold (False for undetermined and unstable).
        borderline_threshold: the thresholds it lies near, comma-separated field names of
            :class:`Thresholds` (``"eps"``, ``"delta,factor"``); ``""`` when not borderline.
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
    converged: Flag
    status: StatusLabel
    borderline: Flag
    borderline_threshold: Names
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
        """The fields as plain Python values: labels as ``str``, flags as ``bool``, numbers as
        ``float`` (nested lists for a batch; NaN and inf stay floats, :func:`featmech.tables.jsonable`
        writes them as null), and ``thresholds`` as a dict."""
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


#: the labels and flags a :class:`Classification` carries, in field order
LABEL_FIELDS: tuple[str, ...] = ("regime", "mechanism", "converged", "status", "borderline", "borderline_threshold")
#: the numbers a :class:`Classification` carries, in field order (after the labels and flags)
METRICS: tuple[str, ...] = tuple(f.name for f in fields(Classification)
                                 if f.name not in (*LABEL_FIELDS, "thresholds"))

_INPUTS = ("ntk_max_deviation", "ntk_ratio", "alignment_start", "alignment_end", "balance_start", "balance_end",
           "norm_u_change", "norm_w_change", "output_start", "output_end", "convergence_time", "lam")


def classify(*, ntk_max_deviation: ArrayLike, ntk_ratio: ArrayLike, alignment_start: ArrayLike,
             alignment_end: ArrayLike, balance_start: ArrayLike, balance_end: ArrayLike,
             norm_u_change: ArrayLike = np.nan, norm_w_change: ArrayLike = np.nan,
             output_start: ArrayLike = np.nan, output_end: ArrayLike = np.nan,
             convergence_time: ArrayLike = np.nan, lam: ArrayLike = np.nan,
             thresholds: Thresholds | None = None, diverged: ArrayLike = False,
             status: ArrayLike | None = None) -> Classification:
    r"""Apply the §5 rule to already-computed summary numbers (scalars or arrays, broadcast together).

    ``regime`` is unstable where ``diverged``, undetermined where the run did not converge or did
    not train (``status``), feature where ``ntk_max_deviation`` > ε (NaN counts as no change),
    kernel otherwise; in the feature regime the mechanism is disalignment for
    Δζ = |ζ_end| − |ζ_0| < −δ, alignment for Δζ > δ with the balance change b_end/b_0 in
    [1/F, F], and rescaling otherwise. Labels within :data:`BORDERLINE_MARGIN` of a threshold are
    marked ``borderline``.

    Arguments:
        ntk_max_deviation, ntk_ratio, alignment_start, alignment_end, balance_start, balance_end:
            the numbers the rule reads (see :class:`Classification`).
        norm_u_change, norm_w_change, output_start, output_end, convergence_time, lam: carried
            along into the result (NaN when not known).
        thresholds: ε, δ, F (default :class:`Thresholds`).
        diverged: whether a discrete-time run diverged (status ``diverged`` whatever ``status`` says).
        status: whether the run converged: :class:`~featmech.analysis.labels.Status` values
            (``"converged"``, ``"not converged"``, ``"did not train"``, ``"diverged"``), one or an
            array; ``None``: converged (the caller vouches for it, e.g. with :func:`run_status`).

    Returns:
        A :class:`Classification`: enums, bools and floats when every input is a single number,
        read-only arrays of the broadcast shape otherwise.

    Raises:
        InputError: inputs that are not real numbers, a status that is not a
            :class:`~featmech.analysis.labels.Status`, or inputs that do not broadcast together.

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
    if isinstance(diverged, str):
        raise InputError(f"diverged must be booleans, got {diverged!r}")
    try:
        div = np.array(diverged, dtype=bool)
    except (TypeError, ValueError) as exc:
        raise InputError(f"diverged must be booleans, got {diverged!r}") from exc
    code = np.array(_CONVERGED) if status is None else _status_codes(status)
    return _decide(arrays, _with_divergence(code, div), thresholds or Thresholds())


#: the labels _decide picks from, indexed by small integer codes
_REGIME_VALUES = np.array([Regime.KERNEL.value, Regime.FEATURE.value, Regime.UNSTABLE.value,
                           Regime.UNDETERMINED.value])
_KERNEL, _FEATURE, _UNSTABLE, _UNDETERMINED = 0, 1, 2, 3
_MECHANISM_VALUES = np.array([Mechanism.NONE.value, Mechanism.ALIGNMENT.value, Mechanism.DISALIGNMENT.value,
                              Mechanism.RESCALING.value])
_NONE, _ALIGNMENT, _DISALIGNMENT, _RESCALING = 0, 1, 2, 3
_STATUS_VALUES = np.array([Status.CONVERGED.value, Status.NOT_CONVERGED.value, Status.DID_NOT_TRAIN.value,
                           Status.DIVERGED.value])
_CONVERGED, _NOT_CONVERGED, _DID_NOT_TRAIN, _DIVERGED = 0, 1, 2, 3
#: borderline_threshold by bit mask (1: ε, 2: δ, 4: F)
_NEAR_NAMES = np.array([",".join(n for bit, n in ((1, "eps"), (2, "delta"), (4, "factor")) if mask & bit)
                        for mask in range(8)])


def _status_codes(status: ArrayLike) -> NDArray[np.int64]:
    """Status values (enums or strings, one or an array) as the codes of _STATUS_VALUES."""
    arr = np.asarray(status)
    if arr.dtype.kind not in "UO":
        raise InputError(f"status must be one of {', '.join(_STATUS_VALUES)}, got {status!r}")
    arr = arr.astype(str)
    codes = np.full(arr.shape, -1, dtype=np.int64)
    for i, v in enumerate(_STATUS_VALUES):
        codes[arr == v] = i
    if np.any(codes < 0):
        bad = arr[codes < 0].ravel()[0]
        raise InputError(f"status must be one of {', '.join(_STATUS_VALUES)}, got {bad!r}")
    return codes


def _with_divergence(code: NDArray[np.int64], diverged: NDArray[np.bool_]) -> NDArray[np.int64]:
    return np.where(diverged, _DIVERGED, code) if diverged.any() else code


def _decide(values: dict[str, F], status: NDArray[np.int64], th: Thresholds) -> Classification:
    """The rule on arrays this module owns (they are frozen in place, not copied); ``status`` in codes."""
    try:
        arrs = np.broadcast_arrays(*(values[n] for n in _INPUTS), status)
    except ValueError as exc:
        shapes = {n: np.shape(values[n]) for n in _INPUTS}
        raise InputError(f"the summary numbers must broadcast together, got shapes {shapes}") from exc
    dev, ratio, z0, z1, b0, b1, nuc, nwc, f0, f1, tc, lam, st = arrs
    dz = np.abs(z1) - np.abs(z0)
    bc = _balance_change(b0, b1)
    earned = st == _CONVERGED
    feature = dev > th.eps  # NaN counts as no change
    learns = earned & feature
    aligned = (dz > th.delta) & (bc >= 1.0 / th.factor) & (bc <= th.factor)
    # decide on small integer codes, then look the strings up once (cheaper than selecting strings)
    reg_code = np.where(earned, np.where(feature, _FEATURE, _KERNEL),
                        np.where(st == _DIVERGED, _UNSTABLE, _UNDETERMINED))
    mech_code = np.where(learns, np.where(dz < -th.delta, _DISALIGNMENT, np.where(aligned, _ALIGNMENT, _RESCALING)),
                         _NONE)
    near = _near_thresholds(dev, dz, bc, earned, learns, th)
    regime = _REGIME_VALUES[reg_code]
    mech = _MECHANISM_VALUES[mech_code]
    numbers = dict(ntk_max_deviation=dev, ntk_ratio=ratio, alignment_start=z0, alignment_end=z1,
                   alignment_change=dz, balance_start=b0, balance_end=b1, balance_change=bc, norm_u_change=nuc,
                   norm_w_change=nwc, output_start=f0, output_end=f1, convergence_time=tc, lam=lam)
    if regime.ndim == 0:
        return Classification(regime=Regime(str(regime)), mechanism=Mechanism(str(mech)),
                              converged=bool(earned), status=Status(str(_STATUS_VALUES[st])),
                              borderline=bool(near), borderline_threshold=str(_NEAR_NAMES[near]), thresholds=th,
                              **{k: float(v) for k, v in numbers.items()})
    return Classification(regime=_frozen(regime), mechanism=_frozen(mech), converged=_frozen(np.array(earned)),
                          status=_lookup(_STATUS_VALUES, st), borderline=_frozen(near > 0),
                          borderline_threshold=_lookup(_NEAR_NAMES, near), thresholds=th,
                          **{k: _frozen(v) for k, v in numbers.items()})


def _near_thresholds(dev: F, dz: F, bc: F, earned: NDArray[np.bool_], learns: NDArray[np.bool_],
                     th: Thresholds) -> NDArray[np.int8]:
    """Bit mask of the thresholds a label lies within BORDERLINE_MARGIN of (1: ε, 2: δ, 4: F).

    ε counts for every earned label, δ in the feature regime, F where Δζ > δ (where the balance
    decided alignment against rescaling); comparisons only, the balance on the few candidates.
    """
    lo, hi = 1.0 - BORDERLINE_MARGIN, 1.0 + BORDERLINE_MARGIN
    near = np.asarray((dev >= lo * th.eps) & (dev <= hi * th.eps) & earned).astype(np.int8)  # fresh, even 0-d
    adz = np.abs(dz)
    near |= ((adz >= lo * th.delta) & (adz <= hi * th.delta) & learns).astype(np.int8) << 1
    idx = np.flatnonzero(learns & (dz > th.delta))  # flat indices
    if idx.size:
        b = np.take(bc, idx)
        with np.errstate(divide="ignore"):
            bal = np.maximum(b, 1.0 / b)
        flat = near.reshape(-1)  # a view: near is a fresh array
        flat[idx[(bal >= lo * th.factor) & (bal <= hi * th.factor)]] |= 4
    return near


def _lookup(values: NDArray[np.str_], codes: NDArray[Any]) -> NDArray[np.str_]:
    """values[codes], read-only; a broadcast view (no memory) when every code is the same."""
    flat = codes.ravel()
    if flat.size and not np.any(flat != flat[0]):
        return np.broadcast_to(values[flat[0]], codes.shape)  # a read-only view
    return _frozen(values[codes])


def _frozen(a: NDArray[Any]) -> NDArray[Any]:
    """Mark an array this module computed (or broadcast from such) read-only, without a copy."""
    a.flags.writeable = False
    return a


def _exact_status(sol: Solution, tc: F) -> NDArray[np.int64]:
    """Converged where the flow reaches zero loss: a finite convergence time ``tc``, and not the saddle
    of a wrong-sign aligned init (output → 0 ≠ k; its time can be finite when |f0| > 99|k|)."""
    c = sol.constants
    saddle = (np.asarray(c.branch) == int(Branch.LOGISTIC)) & (np.asarray(c.km) < 0) & (np.asarray(c.r0) != 0)
    return np.where(np.isfinite(tc) & ~saddle, _CONVERGED, _NOT_CONVERGED)


def classify_solution(sol: Solution, thresholds: Thresholds | None = None) -> Classification:
    """Classify exact gradient-flow solutions over t ∈ [0, ∞] (any batch shape, vectorized).

    The maximum NTK deviation is exact (:attr:`~featmech.theory.exact.Solution.ntk_max_deviation`):
    K = R(y + 1/y) along the generic branch, so besides the endpoints only y = 1 (the output
    crossing zero) can be an extremum; elsewhere K is monotone.

    The exact flow converges by construction (status ``converged``) except where it never reaches
    zero loss: a flow that ends at the saddle u = w = 0 (a balanced aligned init whose output has
    the wrong sign), or one with no dynamics (nothing moves while the residual is not zero). Those
    are ``not converged``, regime undetermined.

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
    >>> saddle = featmech.solve([1.0, 0.0], [1.0, 0.0], target=-1.0)   # aligned, wrong sign: u, w → 0
    >>> c = classify_solution(saddle)
    >>> c.category, c.status, c.convergence_time
    ('undetermined', <Status.NOT_CONVERGED: 'not converged'>, inf)
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
                  convergence_time=np.asarray(sol.convergence_time(LOSS_FRACTION), dtype=np.float64),
                  lam=np.asarray(sol.lam, dtype=np.float64))
    return _decide(values, _exact_status(sol, values["convergence_time"]), thresholds or Thresholds())


def chance_loss(n_classes: int, loss: str = "ce") -> float:
    r"""The loss of a classifier that learned nothing: the best constant prediction on balanced classes.

    Cross-entropy: uniform probabilities, :math:`\ln C`. MSE on one-hot targets (½·Σ_c per
    example, :func:`featmech.nets.networks.train`'s convention): predicting 1/C for every class,
    :math:`\tfrac12(1 - 1/C)`.

    Arguments:
        n_classes: C ≥ 2.
        loss: ``"ce"`` or ``"mse"``.

    Returns:
        The chance loss.

    Raises:
        InputError: C < 2 or an unknown loss.

    >>> round(chance_loss(10), 6), chance_loss(10, "mse")
    (2.302585, 0.45)
    """
    c = check_int("n_classes", n_classes, low=2)
    if loss == "ce":
        return math.log(c)
    if loss == "mse":
        return 0.5 * (1.0 - 1.0 / c)
    raise InputError(f"loss must be one of ce, mse, got {loss!r}")


def chance_accuracy(n_classes: int, n_eval: int) -> float:
    r"""The largest accuracy still counted as chance: :math:`1/C + ` :data:`CHANCE_SE` binomial
    standard errors :math:`\sqrt{(1/C)(1 - 1/C)/n}` on ``n_eval`` examples.

    Arguments:
        n_classes: C ≥ 2.
        n_eval: the number of examples the accuracy was measured on (≥ 1).

    Returns:
        The bound, a float.

    Raises:
        InputError: C < 2 or n_eval < 1.

    >>> round(chance_accuracy(10, 360), 4)
    0.1474
    """
    c = check_int("n_classes", n_classes, low=2)
    n = check_int("n_eval", n_eval, low=1)
    p = 1.0 / c
    return p + CHANCE_SE * math.sqrt(p * (1.0 - p) / n)


def run_status(losses: ArrayLike, *, diverged: bool = False, n_classes: int | None = None, loss: str = "ce",
               accuracy: float | None = None, n_eval: int | None = None,
               fraction: float = LOSS_FRACTION) -> Status:
    r"""Whether a discrete-time run earned a label, from its recorded losses.

    - ``diverged`` (or no finite loss after a divergence): :attr:`~Status.DIVERGED`;
    - a classifier (``n_classes`` given): :attr:`~Status.DID_NOT_TRAIN` when the last finite loss
      is at least (1 − :data:`CHANCE_MARGIN`) × :func:`chance_loss` or ``accuracy`` is at most
      :func:`chance_accuracy` (on ``n_eval`` examples), else :attr:`~Status.CONVERGED`;
    - otherwise (regression): :attr:`~Status.CONVERGED` when the last finite loss is at most
      ``fraction`` × the first, else :attr:`~Status.NOT_CONVERGED`.

    Arguments:
        losses: the recorded losses in order (NaN entries, e.g. after a divergence, are skipped).
        diverged: whether the run diverged.
        n_classes: the number of classes of a classifier (``None``: a regression run).
        loss: the classifier's loss, ``"ce"`` or ``"mse"`` (on one-hot targets).
        accuracy: the classifier's accuracy (test, or on the probe), if known.
        n_eval: the number of examples ``accuracy`` was measured on (required with it).
        fraction: the regression criterion, in (0, 1] (default :data:`LOSS_FRACTION`).

    Returns:
        A :class:`~featmech.analysis.labels.Status`.

    Raises:
        InputError: losses that are not a 1-D real array, or bad ``n_classes``, ``loss``,
            ``accuracy``, ``n_eval`` or ``fraction``.

    >>> run_status([1.0, 0.1, 0.005]), run_status([1.0, 0.5]), run_status([2.30, 2.29], n_classes=10)
    (<Status.CONVERGED: 'converged'>, <Status.NOT_CONVERGED: 'not converged'>, <Status.DID_NOT_TRAIN: 'did not train'>)
    """
    fr = check_scalar("fraction", fraction, low=0.0, low_inclusive=False, high=1.0)
    try:
        arr = np.asarray(losses, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"losses must be real numbers, got {losses!r}") from exc
    if arr.ndim != 1:
        raise InputError(f"losses must be a 1-D array, got shape {arr.shape}")
    if accuracy is not None and n_classes is None:
        raise InputError("accuracy is for a classifier: give n_classes too")
    ok = arr[np.isfinite(arr)]
    if diverged:
        return Status.DIVERGED
    if n_classes is not None:
        chance = chance_loss(n_classes, loss)
        if ok.size and ok[-1] >= (1.0 - CHANCE_MARGIN) * chance:
            return Status.DID_NOT_TRAIN
        if accuracy is not None:
            if n_eval is None:
                raise InputError("n_eval (the number of examples behind accuracy) must be given with accuracy")
            acc = check_scalar("accuracy", accuracy, low=0.0, high=1.0)
            if acc <= chance_accuracy(n_classes, n_eval):
                return Status.DID_NOT_TRAIN
        return Status.CONVERGED if ok.size else Status.NOT_CONVERGED
    if ok.size == 0:
        return Status.NOT_CONVERGED
    return Status.CONVERGED if ok[-1] <= fr * ok[0] else Status.NOT_CONVERGED


def classify_trajectory(ntk: ArrayLike, alignment: ArrayLike, norm_u: ArrayLike, norm_w: ArrayLike, *,
                        eta_u: float = 1.0, eta_w: float = 1.0, diverged: bool = False,
                        output: ArrayLike | None = None, thresholds: Thresholds | None = None,
                        loss: ArrayLike | None = None, status: Status | str | None = None) -> Classification:
    """Classify a recorded trajectory (simulated GD, or a real network's measurements).

    Arrays are over recorded times; the first entry is the start and the last finite entry the
    end (records after a divergence are NaN and ignored). The label means what §5 says only if
    the trajectory reached convergence: give the recorded ``loss`` (regression rule of
    :func:`run_status`: the last loss at most :data:`LOSS_FRACTION` × the first) or the
    ``status`` itself; without either the caller vouches that the run converged.

    Arguments:
        ntk, alignment, norm_u, norm_w: 1-D arrays of one length: the NTK K, ζ, |u| and |w| at the
            recorded times.
        eta_u, eta_w: the learning-rate multipliers (for the layer balance).
        diverged: whether the run diverged (regime unstable).
        output: the network output κ u·w at the recorded times, if known.
        thresholds: ε, δ, F (default :class:`Thresholds`).
        loss: the recorded loss (any length: its first and last finite entries are compared).
        status: the run's :class:`~featmech.analysis.labels.Status` (instead of ``loss``).

    Returns:
        A :class:`Classification` of one configuration (``convergence_time`` and ``lam`` NaN).

    Raises:
        InputError: arrays that are not 1-D of equal length, no finite record, both ``loss`` and
            ``status``, or a bad status.

    >>> c = classify_trajectory([1.0, 1.2, 1.4], [0.0, 0.4, 0.7], [1.0, 1.2, 1.3], [1.0, 1.2, 1.3])
    >>> c.category, round(c.ntk_ratio, 6)
    ('feature/alignment', 1.4)
    >>> classify_trajectory([1.0, 1.2, 1.4], [0.0, 0.4, 0.7], [1.0, 1.2, 1.3], [1.0, 1.2, 1.3],
    ...                     loss=[1.0, 0.5, 0.2]).category
    'undetermined'
    """
    K = np.asarray(ntk, dtype=np.float64)
    z = np.asarray(alignment, dtype=np.float64)
    nu = np.asarray(norm_u, dtype=np.float64)
    nw = np.asarray(norm_w, dtype=np.float64)
    if not (K.ndim == z.ndim == nu.ndim == nw.ndim == 1) or not (K.size == z.size == nu.size == nw.size):
        raise InputError("ntk, alignment, norm_u, norm_w must be 1-D arrays of equal length")
    if loss is not None and status is not None:
        raise InputError("give either loss or status, not both")
    ok = np.isfinite(K) & np.isfinite(z) & np.isfinite(nu) & np.isfinite(nw)
    if not ok.any():
        raise InputError("the trajectory has no finite record")
    if loss is not None:
        status = run_status(loss, diverged=bool(diverged))
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
    code = np.array(_CONVERGED) if status is None else _status_codes(status)
    if code.ndim != 0:
        raise InputError(f"status must be one value for a trajectory, got {status!r}")
    return _decide(values, _with_divergence(code, np.array(bool(diverged))), thresholds or Thresholds())


def explain(c: Classification, *, rate: float | None = None) -> str:
    """A short account, in words, of why one configuration got its label.

    Arguments:
        c: the classification of a single configuration.
        rate: the asymptotic convergence rate D, quoted when given.

    Returns:
        A few lines of text: the regime and mechanism (in the enums' words), the NTK change
        against ε, λ, the alignment and balance changes that decided the mechanism, the output
        and the convergence time; for a run without a label why it has none ("not converged",
        "did not train"), and for a borderline label which threshold it lies near.

    Raises:
        InputError: ``c`` is the classification of a batch.

    >>> c = classify(ntk_max_deviation=0.01, ntk_ratio=1.01, alignment_start=0.0, alignment_end=0.01,
    ...              balance_start=1.0, balance_end=1.0)
    >>> print(explain(c).splitlines()[0])
    Regime: kernel (lazy) regime.
    >>> c = classify(ntk_max_deviation=0.5, ntk_ratio=1.5, alignment_start=0.0, alignment_end=0.5,
    ...              balance_start=1.0, balance_end=1.0, status="did not train")
    >>> print(explain(c).splitlines()[0])
    Regime: undetermined (no label earned) — did not train (loss or accuracy at chance).
    """
    if not isinstance(c.regime, enum.Enum):
        raise InputError("explain() takes the classification of a single configuration")
    th = c.thresholds
    regime, mech = Regime(str(c.regime)), Mechanism(str(c.mechanism))
    status = Status(str(c.status))
    if regime is Regime.UNDETERMINED:
        lines = [f"Regime: {regime.label} — {status.label}."]
        if status is Status.DID_NOT_TRAIN:
            lines.append("The classifier's loss or accuracy stayed at chance: it learned nothing, so no regime or "
                         "mechanism is earned (train longer, or with another learning rate or init scale).")
        elif np.isnan(float(c.convergence_time)):
            lines.append(f"The last loss is above {LOSS_FRACTION:g} × the first: the run stopped before "
                         "convergence, so no regime or mechanism is earned (train longer).")
        else:
            lines.append("The exact flow never reaches zero loss: it ends at a saddle or has no dynamics, so no "
                         "regime or mechanism is earned.")
        lines.append(f"(Numbers so far: max_t |K(t)/K(0) − 1| = {float(c.ntk_max_deviation):.3g}, "
                     f"Δ|ζ| = {float(c.alignment_change):+.3f}.)")
        return "\n".join(lines)
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
    if c.borderline:
        names = {"eps": f"ε = {th.eps:g}", "delta": f"δ = {th.delta:g}", "factor": f"F = {th.factor:g}"}
        near = ", ".join(names[n] for n in str(c.borderline_threshold).split(","))
        lines.append(f"Borderline: a number this label was decided on lies within {BORDERLINE_MARGIN:.0%} of "
                     f"{near}; a slightly different threshold would change the label.")
    return "\n".join(lines)
