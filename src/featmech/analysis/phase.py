r"""Finite-width phase diagrams: kernel vs feature learning over two hyperparameters.

A grid over two parameters of :data:`AXIS_NAMES` (the others fixed) with several seeds per point
is evaluated at once: the Gram statistics of every (point, seed) are sampled exactly
(:func:`featmech.theory.inits.sample_gram`), the closed form is evaluated in one vectorized batch
and :func:`featmech.analysis.regimes.classify_solution` labels every configuration — no Python
loop over grid points.

The axes, their defaults and their ranges are those of the parameter table
(:data:`featmech.params.PARAMETERS`). ``eta_ratio`` = η_u/η_w (η_w taken from ``eta_w``); it
cannot be combined with ``eta_u``. The known boundary is λ = Θ(1) with λ = k/g (docs/theory.md §4:
4k/(κ s N) at infinite width).

>>> pd = phase_diagram("width=10,1000", "kappa=1e-4,1", seeds=2)
>>> pd.shape, pd.majority_label().tolist()
((2, 2, 2), [[1, 1], [0, 0]])
>>> [LABELS[i] for i in (0, 1)]
['kernel', 'feature/alignment']
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech._validation import check_int
from featmech.analysis.labels import ALL_CATEGORIES, Mechanism, Regime
from featmech.analysis.regimes import (
    METRICS,
    Classification,
    Thresholds,
    classify_solution,
)
from featmech.errors import InputError
from featmech.params import PARAMETERS, Param
from featmech.tables import Table
from featmech.theory.config import Gram, Hyper, readonly
from featmech.theory.exact import solve
from featmech.theory.inits import sample_gram

__all__ = ["AXIS_NAMES", "GRID_PARAMETERS", "DEFAULTS", "Axis", "parse_axis", "PhaseDiagram", "phase_diagram",
           "MAX_POINTS", "LABELS", "METRICS", "label_of", "check_axis_values"]

#: the parameters every grid point has (init and flow), in table order; names, defaults and
#: ranges are the parameter table's
GRID_PARAMETERS: tuple[str, ...] = ("width", "sigma_u", "sigma_w", "eta_u", "eta_w", "kappa", "rho", "target",
                                    "data_var")
#: the parameters an axis (or ``fixed``) may set: the grid parameters and ``eta_ratio`` = η_u/η_w
AXIS_NAMES: tuple[str, ...] = GRID_PARAMETERS[:5] + ("eta_ratio",) + GRID_PARAMETERS[5:]
#: the value of every grid parameter an axis or ``fixed`` does not set (the table's defaults)
DEFAULTS: Mapping[str, float] = MappingProxyType({n: float(PARAMETERS[n].default) for n in GRID_PARAMETERS})
MAX_POINTS = 10**8
#: categories of the combined label, in plotting order (:data:`featmech.analysis.labels.ALL_CATEGORIES`:
#: ``"undetermined"``, a run that earned no label, last)
LABELS: tuple[str, ...] = ALL_CATEGORIES


def check_axis_values(name: str, values: ArrayLike) -> NDArray[np.float64]:
    """Validate values of a phase-diagram parameter against the parameter table, vectorized.

    Arguments:
        name: one of :data:`AXIS_NAMES`.
        values: numbers (any shape).

    Returns:
        The values as a float64 array.

    Raises:
        InputError: an unknown name, or a value that is not finite, outside the parameter's range or
            (for an integer parameter such as ``width``) not an integer; the message is the
            parameter table's.

    >>> check_axis_values("width", [10, 1e6]).tolist()
    [10.0, 1000000.0]
    >>> check_axis_values("width", [10.5])
    Traceback (most recent call last):
    ...
    featmech.errors.InputError: width must be an integer in [1, 1e+15], got 10.5
    """
    if name not in AXIS_NAMES:
        raise InputError(f"unknown parameter {name!r}; choose from {', '.join(AXIS_NAMES)}")
    p: Param = PARAMETERS[name]
    try:
        vals = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be real numbers, got {values!r}") from exc
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(vals) | (vals <= p.low if p.low_open else vals < p.low) | (
            vals >= p.high if p.high_open else vals > p.high)
        if p.kind == "int":
            bad |= vals != np.floor(vals)
    if np.any(bad):
        p.check(float(vals[bad].ravel()[0]))  # raises with the table's message
        raise InputError(f"{name} must be in {p.range_text}")  # pragma: no cover - check() raised
    return vals


@dataclass(frozen=True)
class Axis:
    """One axis of a phase diagram: a parameter, its values and how to draw it.

    Attributes:
        name: one of :data:`AXIS_NAMES`.
        values: the values, a read-only 1-D float64 array, validated against the parameter
            table (a fractional width is refused, not rounded).
        scale: ``"log"`` or ``"linear"`` (a log axis needs values > 0).

    Raises:
        InputError: an unknown name or scale, no values, or a value outside the parameter's range.
    """

    name: str
    values: NDArray[np.float64]
    scale: str = "log"

    def __post_init__(self) -> None:
        if self.name not in AXIS_NAMES:
            raise InputError(f"unknown axis {self.name!r}; choose from {', '.join(AXIS_NAMES)}")
        if self.scale not in ("log", "linear"):
            raise InputError(f"axis scale must be 'log' or 'linear', got {self.scale!r}")
        vals = np.asarray(self.values, dtype=np.float64)
        if vals.ndim != 1 or vals.size == 0:
            raise InputError(f"axis {self.name} needs at least one value")
        vals = check_axis_values(self.name, vals)
        if self.scale == "log" and np.any(vals <= 0):
            raise InputError(f"axis {self.name}: a log axis needs values > 0")
        object.__setattr__(self, "values", readonly(vals))

    @property
    def param(self) -> Param:
        """The parameter's entry in :data:`featmech.params.PARAMETERS` (symbol, help, range)."""
        return PARAMETERS[self.name]


_RANGE_RE = re.compile(r"^\s*([A-Za-z_]+)\s*=\s*(.+)$")


def parse_axis(spec: str) -> Axis:
    """Parse ``name=start:stop:log|linear:num`` (an inclusive range) or ``name=v1,v2,...``.

    A range of an integer parameter (``width``) is rounded to integers, its ends must be
    integers; a list is taken as given (a fractional width is refused). A list is drawn on a log
    scale when its values are positive and span more than a factor 50.

    Arguments:
        spec: the axis, e.g. ``"kappa=1e-3:1:log:4"`` or ``"width=10,100,1000"``.

    Returns:
        The :class:`Axis`.

    Raises:
        InputError: a malformed spec, an unknown name, an empty or inverted range, or values outside
            the parameter's range.

    >>> parse_axis("kappa=1e-3:1:log:4").values
    array([0.001, 0.01 , 0.1  , 1.   ])
    >>> parse_axis("width=10:1000:log:3").values
    array([  10.,  100., 1000.])
    """
    m = _RANGE_RE.match(spec)
    if not m:
        raise InputError(f"axis must look like name=start:stop:log:num or name=v1,v2,…; got {spec!r}")
    name, rest = m.group(1), m.group(2)
    if name not in AXIS_NAMES:
        raise InputError(f"unknown axis {name!r}; choose from {', '.join(AXIS_NAMES)}")
    if ":" in rest:
        parts = rest.split(":")
        if len(parts) != 4:
            raise InputError(f"axis {name}: a range is start:stop:log|linear:num, got {rest!r}")
        try:
            start, stop = float(parts[0]), float(parts[1])
            num = int(parts[3])
        except ValueError as exc:
            raise InputError(f"axis {name}: start, stop must be numbers and num an integer, got {rest!r}") from exc
        scale = parts[2].strip()
        if scale not in ("log", "linear", "lin"):
            raise InputError(f"axis {name}: scale must be log or linear, got {scale!r}")
        scale = "linear" if scale == "lin" else scale
        if num < 1:
            raise InputError(f"axis {name}: num must be >= 1, got {num}")
        if not (math.isfinite(start) and math.isfinite(stop)):
            raise InputError(f"axis {name}: start and stop must be finite")
        if stop < start or (stop == start and num > 1):
            raise InputError(f"axis {name}: empty or inverted range {start:g}:{stop:g} (need start < stop)")
        check_axis_values(name, [start, stop])
        if scale == "log":
            if start <= 0:
                raise InputError(f"axis {name}: a log range needs start > 0, got {start:g}")
            vals = np.logspace(math.log10(start), math.log10(stop), num)
        else:
            vals = np.linspace(start, stop, num)
        if PARAMETERS[name].kind == "int":  # the grid of an integer parameter: its nearest integers
            vals = np.unique(np.clip(np.round(vals), start, stop))  # rounding may repeat values: keep each once
        return Axis(name, vals, scale)
    try:
        vals = np.array([float(v) for v in rest.split(",") if v.strip()])
    except ValueError as exc:
        raise InputError(f"axis {name}: values must be numbers, got {rest!r}") from exc
    if vals.size == 0:
        raise InputError(f"axis {name} has no values")
    scale = "log" if np.all(vals > 0) and vals.size > 1 and vals.max() / vals.min() > 50 else "linear"
    return Axis(name, vals, scale)


def label_of(regime: ArrayLike, mechanism: ArrayLike) -> NDArray[np.int64]:
    """Category index into :data:`LABELS` (regime, and the mechanism for feature learning).

    Arguments:
        regime, mechanism: arrays of labels (strings or enums), broadcast together.

    Returns:
        An integer array: the index of each category in :data:`LABELS` (``"undetermined"`` last),
        −1 for a label outside it.

    >>> label_of(["kernel", "feature", "unstable", "undetermined"], ["none", "rescaling", "none", "none"]).tolist()
    [0, 3, 4, 5]
    """
    reg = np.asarray(regime)
    mech = np.asarray(mechanism)
    feature = reg == Regime.FEATURE
    conds = [reg == Regime.KERNEL]
    conds += [feature & (mech == m) for m in Mechanism if m is not Mechanism.NONE]
    conds += [reg == Regime.UNSTABLE, reg == Regime.UNDETERMINED]
    return np.select(conds, list(range(len(LABELS))), -1)


@dataclass(frozen=True)
class PhaseDiagram:
    """Result of :func:`phase_diagram`.

    Grids have shape ``(seeds, len(y.values), len(x.values))``.

    Attributes:
        x, y: the axes.
        fixed: the parameters set by the caller besides the axes (read-only mapping).
        seeds: inits per grid point;  seed: the base random seed.
        params: every grid parameter (:data:`GRID_PARAMETERS`) on the ``(y, x)`` grid, read-only.
        classification: labels and metrics on the full grid (a batch
            :class:`~featmech.analysis.regimes.Classification`).
        thresholds: the thresholds used.
        gram: the sampled Gram statistics (full grid).
    """

    x: Axis
    y: Axis
    fixed: Mapping[str, float]
    seeds: int
    seed: int
    params: Mapping[str, NDArray[np.float64]]
    classification: Classification
    thresholds: Thresholds
    gram: Gram | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(seeds, len(y.values), len(x.values))``."""
        return (self.seeds, self.y.values.size, self.x.values.size)

    @property
    def label(self) -> NDArray[np.int64]:
        """Category index (into :data:`LABELS`) per (seed, y, x)."""
        return label_of(self.classification.regime, self.classification.mechanism)

    def majority_label(self) -> NDArray[np.int64]:
        """Most frequent category over seeds per (y, x) (ties: the lowest index)."""
        lab = self.label
        counts = np.stack([(lab == i).sum(axis=0) for i in range(len(LABELS))])
        return np.argmax(counts, axis=0)

    def metric(self, name: str) -> NDArray[np.float64]:
        """One number of the classification (:data:`METRICS`) on the full grid.

        Raises:
            InputError: an unknown metric.
        """
        if name not in METRICS:
            raise InputError(f"unknown metric {name!r}; choose from {', '.join(METRICS)}")
        return np.asarray(getattr(self.classification, name), dtype=np.float64)

    def table(self) -> Table:
        """The diagram as a tidy :class:`~featmech.tables.Table`, one row per (point, seed).

        Returns:
            A :class:`~featmech.tables.Table`: columns ``seed`` (the seed index), every grid parameter, ``regime``, ``mechanism``,
            then every metric of :data:`METRICS`; the JSON form also holds the :meth:`summary`.
        """
        S, Y, X = self.shape
        seed_idx = np.broadcast_to(np.arange(S)[:, None, None], self.shape)
        cols: dict[str, NDArray[Any]] = {"seed": seed_idx.ravel()}
        for name in GRID_PARAMETERS:
            cols[name] = np.broadcast_to(self.params[name], self.shape).ravel()
        cols["regime"] = np.asarray(self.classification.regime).ravel()
        cols["mechanism"] = np.asarray(self.classification.mechanism).ravel()
        for m in METRICS:
            cols[m] = self.metric(m).ravel()
        # Table reads numpy columns as they are (no per-value conversion); its annotation says Sequence
        return Table(cast("Mapping[str, Sequence[Any]]", cols), extra={"summary": self.summary()})

    def to_csv(self, path: str | Path) -> Path:
        """Write :meth:`table` as CSV (floats with full precision) through :class:`~featmech.tables.Table`.

        Raises:
            OSError: the file cannot be written.
        """
        return self.table().write(path, "csv")

    def to_pandas(self) -> Any:
        """The tidy table as a pandas DataFrame (needs pandas)."""
        return self.table().to_pandas()

    def summary(self) -> dict[str, Any]:
        """Axes, number of points and seeds, the fixed parameters, the count of each category of
        :data:`LABELS` and the thresholds (plain values)."""
        lab = self.label
        counts = {name: int((lab == i).sum()) for i, name in enumerate(LABELS)}
        return {"x": self.x.name, "y": self.y.name, "points": int(self.x.values.size * self.y.values.size),
                "seeds": self.seeds, "fixed": dict(self.fixed), "counts": counts,
                "thresholds": self.thresholds.as_dict()}



def check_fixed(fixed: Mapping[str, Any] | None, allowed: Sequence[str], axes: Sequence[str]) -> dict[str, float]:
    """The fixed (non-axis) parameters of a phase diagram, validated with :data:`featmech.params.PARAMETERS`.

    Raises:
        InputError: a name not in ``allowed``, a name that is also an axis, a value out of its range,
            or both ``eta_ratio`` and ``eta_u`` among the axes and fixed parameters.
    """
    fx: dict[str, float] = {}
    for k, v in (fixed or {}).items():
        if k not in allowed:
            raise InputError(f"unknown parameter {k!r}; choose from {', '.join(allowed)}")
        if k in axes:
            raise InputError(f"{k} is an axis; it cannot also be fixed")
        fx[k] = float(PARAMETERS[k].check(v))
    if "eta_ratio" in set(axes) | set(fx) and "eta_u" in set(axes) | set(fx):
        raise InputError("give eta_ratio (η_u/η_w) or eta_u, not both")
    return fx

def phase_diagram(x: Axis | str, y: Axis | str, fixed: Mapping[str, float] | None = None, *, seeds: int = 3,
                  seed: int = 0, thresholds: Thresholds | None = None, force: bool = False) -> PhaseDiagram:
    """Classify every point of an x × y grid (several seeds each), vectorized.

    Arguments:
        x, y: the axes (:class:`Axis` or specs for :func:`parse_axis`); they must differ.
        fixed: values of other parameters of :data:`AXIS_NAMES` (the rest take :data:`DEFAULTS`,
            the parameter table's defaults).
        seeds: inits per grid point.
        seed: the base random seed.
        thresholds: ε, δ, F (default :class:`~featmech.analysis.regimes.Thresholds`).
        force: allow grids over :data:`MAX_POINTS` points × seeds.

    Returns:
        A :class:`PhaseDiagram`.

    Raises:
        InputError: bad axes, a fixed parameter that is unknown, an axis, or out of range,
            ``eta_ratio`` with ``eta_u``, or a grid that is too large without ``force``.
    """
    xa = parse_axis(x) if isinstance(x, str) else x
    ya = parse_axis(y) if isinstance(y, str) else y
    if xa.name == ya.name:
        raise InputError(f"x and y must be different parameters, both are {xa.name!r}")
    nseeds = check_int("seeds", seeds, low=1)
    base_seed = PARAMETERS["seed"].check(seed)
    th = thresholds or Thresholds()
    fx = check_fixed(fixed, AXIS_NAMES, (xa.name, ya.name))
    total = xa.values.size * ya.values.size * nseeds
    if total > MAX_POINTS and not force:
        raise InputError(f"the grid has {total:,} points × seeds, over {MAX_POINTS:,}; pass force=True (--force)")

    grid: dict[str, NDArray[np.float64]] = {k: np.asarray(v, dtype=np.float64) for k, v in DEFAULTS.items()}
    grid.update({k: np.asarray(v, dtype=np.float64) for k, v in fx.items()})
    grid[xa.name] = xa.values[None, :]
    grid[ya.name] = ya.values[:, None]
    ratio = grid.pop("eta_ratio", None)
    if ratio is not None:
        grid["eta_u"] = ratio * grid["eta_w"]
    shape2 = (ya.values.size, xa.values.size)
    g = sample_gram(grid["width"], grid["sigma_u"], grid["sigma_w"], rho=grid["rho"], seed=base_seed, size=nseeds)
    if len(g.shape) == 1:  # neither axis is an init parameter: keep the seed axis in front of the grid
        g = Gram.trusted(*(getattr(g, f).reshape(nseeds, 1, 1) for f in ("uu", "ww", "uw", "area")))
    hyper = Hyper(eta_u=grid["eta_u"], eta_w=grid["eta_w"], kappa=grid["kappa"], target=grid["target"],
                  data_var=grid["data_var"])
    cl = classify_solution(solve(g, hyper), th)
    params = MappingProxyType({k: readonly(np.broadcast_to(grid[k], shape2)) for k in GRID_PARAMETERS})
    full = (nseeds,) + shape2
    g = Gram.trusted(*(np.broadcast_to(getattr(g, f), full) for f in ("uu", "ww", "uw", "area")))
    return PhaseDiagram(x=xa, y=ya, fixed=MappingProxyType(fx), seeds=nseeds, seed=base_seed, params=params,
                        classification=cl, thresholds=th, gram=g)
