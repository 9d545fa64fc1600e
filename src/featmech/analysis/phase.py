r"""Finite-width phase diagrams: kernel vs feature learning over two hyperparameters.

A grid over two of {width, sigma_u, sigma_w, eta_u, eta_w, eta_ratio, kappa, rho, target, data_var}
(the others fixed) with several seeds per point is evaluated at once: the Gram statistics of
every (point, seed) are sampled exactly (:func:`featmech.inits.sample_gram`), the closed form is
evaluated in one vectorized batch and :func:`featmech.regimes.classify_solution` labels every
configuration — no Python loop over grid points.

``eta_ratio`` = η_u/η_w (η_w taken from ``eta_w``); it cannot be combined with ``eta_u``.
The known boundary is λ = Θ(1) with λ = k/g (THEORY.md §4: 4k/(κ s N) at infinite width).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from featmech._validation import check_array, check_int
from featmech.analysis.regimes import Classification, Thresholds, classify_solution
from featmech.errors import InputError
from featmech.theory.exact import Gram, solve_gram
from featmech.theory.inits import sample_gram

__all__ = ["AXIS_NAMES", "DEFAULTS", "Axis", "parse_axis", "PhaseDiagram", "phase_diagram", "MAX_POINTS",
           "LABELS", "label_of"]

DEFAULTS: dict[str, float] = dict(width=1000.0, sigma_u=1.0, sigma_w=1.0, eta_u=1.0, eta_w=1.0, kappa=1.0, rho=0.0,
                                  target=1.0, data_var=1.0)
AXIS_NAMES = ("width", "sigma_u", "sigma_w", "eta_u", "eta_w", "eta_ratio", "kappa", "rho", "target", "data_var")
MAX_POINTS = 10**8
#: categories of the combined label, in plotting order
LABELS = ("kernel", "feature/alignment", "feature/disalignment", "feature/rescaling", "unstable")

_RANGES: dict[str, tuple[float, float, bool]] = {  # low, high, low exclusive?
    "width": (1.0, 1e15, False), "sigma_u": (0.0, math.inf, False), "sigma_w": (0.0, math.inf, False),
    "eta_u": (0.0, math.inf, False), "eta_w": (0.0, math.inf, False), "eta_ratio": (0.0, math.inf, True),
    "kappa": (0.0, math.inf, False), "rho": (-1.0, 1.0, False), "target": (-math.inf, math.inf, False),
    "data_var": (0.0, math.inf, False),
}


@dataclass(frozen=True)
class Axis:
    """One axis of a phase diagram: a parameter name, its values and how to draw it."""

    name: str
    values: np.ndarray
    scale: str = "log"

    def __post_init__(self) -> None:
        if self.name not in AXIS_NAMES:
            raise InputError(f"unknown axis {self.name!r}; choose from {', '.join(AXIS_NAMES)}")
        if self.scale not in ("log", "linear"):
            raise InputError(f"axis scale must be 'log' or 'linear', got {self.scale!r}")
        vals = np.asarray(self.values, dtype=np.float64)
        if vals.ndim != 1 or vals.size == 0:
            raise InputError(f"axis {self.name} needs at least one value")
        lo, hi, excl = _RANGES[self.name]
        check_array(self.name, vals, low=lo, high=hi, low_inclusive=not excl)
        if self.scale == "log" and np.any(vals <= 0):
            raise InputError(f"axis {self.name}: a log axis needs values > 0")
        if self.name == "width":
            vals = np.round(vals)
        object.__setattr__(self, "values", vals)


_RANGE_RE = re.compile(r"^\s*([A-Za-z_]+)\s*=\s*(.+)$")


def parse_axis(spec: str) -> Axis:
    """Parse ``name=start:stop:log|linear:num`` (inclusive range) or ``name=v1,v2,...``.

    >>> parse_axis("kappa=1e-3:1:log:4").values
    array([0.001, 0.01 , 0.1  , 1.   ])
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
        if scale == "log":
            if start <= 0:
                raise InputError(f"axis {name}: a log range needs start > 0, got {start:g}")
            vals = np.logspace(math.log10(start), math.log10(stop), num)
        else:
            vals = np.linspace(start, stop, num)
        return Axis(name, vals, scale)
    try:
        vals = np.array([float(v) for v in rest.split(",") if v.strip()])
    except ValueError as exc:
        raise InputError(f"axis {name}: values must be numbers, got {rest!r}") from exc
    if vals.size == 0:
        raise InputError(f"axis {name} has no values")
    scale = "log" if np.all(vals > 0) and vals.size > 1 and vals.max() / vals.min() > 50 else "linear"
    return Axis(name, vals, scale)


def label_of(regime: np.ndarray, mechanism: np.ndarray) -> np.ndarray:
    """Combined category index into :data:`LABELS` (regime, and the mechanism for feature learning)."""
    reg = np.asarray(regime)
    mech = np.asarray(mechanism)
    return np.select([reg == "kernel", (reg == "feature") & (mech == "alignment"),
                      (reg == "feature") & (mech == "disalignment"), (reg == "feature") & (mech == "rescaling"),
                      reg == "unstable"], [0, 1, 2, 3, 4], -1)


METRICS = ("ntk_max_deviation", "ntk_ratio", "alignment_start", "alignment_end", "alignment_change",
           "balance_start", "balance_end", "balance_change", "norm_u_change", "norm_w_change", "output_start",
           "output_end", "convergence_time", "lam")


@dataclass(frozen=True)
class PhaseDiagram:
    """Result of :func:`phase_diagram`.

    Grids have shape ``(seeds, len(y.values), len(x.values))``; ``params`` holds every parameter
    on that grid; ``classification`` the labels and metrics. :meth:`table` flattens it into a tidy
    table, one row per point and seed.
    """

    x: Axis
    y: Axis
    fixed: dict[str, float]
    seeds: int
    seed: int
    params: dict[str, np.ndarray]
    classification: Classification
    thresholds: Thresholds
    gram: Gram | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.seeds, self.y.values.size, self.x.values.size)

    @property
    def label(self) -> np.ndarray:
        """Category index (into :data:`LABELS`) per (seed, y, x)."""
        return label_of(self.classification.regime, self.classification.mechanism)

    def majority_label(self) -> np.ndarray:
        """Most frequent category over seeds per (y, x) (ties: the lowest index)."""
        lab = self.label
        counts = np.stack([(lab == i).sum(axis=0) for i in range(len(LABELS))])
        return np.argmax(counts, axis=0)

    def metric(self, name: str) -> np.ndarray:
        return np.asarray(getattr(self.classification, name), dtype=np.float64)

    def table(self) -> dict[str, np.ndarray]:
        """Tidy columns: x, y, seed, every parameter, regime, mechanism, then every metric."""
        S, Y, X = self.shape
        seed_idx = np.broadcast_to(np.arange(S)[:, None, None], self.shape)
        cols: dict[str, np.ndarray] = {"seed": seed_idx.ravel()}
        for name in ("width", "sigma_u", "sigma_w", "eta_u", "eta_w", "kappa", "rho", "target", "data_var"):
            cols[name] = np.broadcast_to(self.params[name], self.shape).ravel()
        cols["regime"] = np.asarray(self.classification.regime).ravel()
        cols["mechanism"] = np.asarray(self.classification.mechanism).ravel()
        for m in METRICS:
            cols[m] = self.metric(m).ravel()
        return cols

    def to_csv(self, path: str | Path) -> Path:
        """Write :meth:`table` as CSV (floats with full precision)."""
        path = Path(path)
        cols = self.table()
        names = list(cols)
        with path.open("w", newline="") as fh:
            wr = csv.writer(fh)
            wr.writerow(names)
            for row in zip(*(cols[n].tolist() for n in names)):
                wr.writerow(row)
        return path

    def to_pandas(self) -> Any:
        """The tidy table as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - optional
            raise ImportError("to_pandas() needs pandas: pip install pandas") from exc
        return pd.DataFrame(self.table())

    def summary(self) -> dict[str, Any]:
        lab = self.label
        counts = {name: int((lab == i).sum()) for i, name in enumerate(LABELS)}
        return {"x": self.x.name, "y": self.y.name, "points": int(self.x.values.size * self.y.values.size),
                "seeds": self.seeds, "fixed": self.fixed, "counts": counts,
                "thresholds": {"eps": self.thresholds.eps, "delta": self.thresholds.delta,
                               "factor": self.thresholds.factor}}


def phase_diagram(x: Axis | str, y: Axis | str, fixed: Mapping[str, float] | None = None, *, seeds: int = 3,
                  seed: int = 0, thresholds: Thresholds | None = None, force: bool = False) -> PhaseDiagram:
    """Classify every point of an x × y grid (several seeds each), vectorized.

    ``fixed`` sets the other parameters (defaults: :data:`DEFAULTS`). Grids over
    :data:`MAX_POINTS` (points × seeds) need ``force=True``.
    """
    xa = parse_axis(x) if isinstance(x, str) else x
    ya = parse_axis(y) if isinstance(y, str) else y
    if xa.name == ya.name:
        raise InputError(f"x and y must be different parameters, both are {xa.name!r}")
    nseeds = check_int("seeds", seeds, low=1)
    base_seed = check_int("seed", seed, low=0)
    th = thresholds or Thresholds()
    fx = dict(fixed or {})
    for k in fx:
        if k not in AXIS_NAMES:
            raise InputError(f"unknown parameter {k!r}; choose from {', '.join(AXIS_NAMES)}")
        if k in (xa.name, ya.name):
            raise InputError(f"{k} is an axis; it cannot also be fixed")
        lo, hi, excl = _RANGES[k]
        fx[k] = float(check_array(k, fx[k], low=lo, high=hi, low_inclusive=not excl))
    names = {xa.name, ya.name} | set(fx)
    if "eta_ratio" in names and "eta_u" in names:
        raise InputError("give eta_ratio (η_u/η_w) or eta_u, not both")
    total = xa.values.size * ya.values.size * nseeds
    if total > MAX_POINTS and not force:
        raise InputError(f"the grid has {total:,} points × seeds, over {MAX_POINTS:,}; pass force=True (--force)")

    grid: dict[str, np.ndarray] = {k: np.asarray(v, dtype=np.float64) for k, v in DEFAULTS.items()}
    grid.update({k: np.asarray(v) for k, v in fx.items() if k != "eta_ratio"})
    grid[xa.name] = xa.values[None, :]
    grid[ya.name] = ya.values[:, None]
    if "eta_ratio" in names:
        ratio = grid.pop("eta_ratio") if "eta_ratio" in grid else np.asarray(fx["eta_ratio"])
        grid["eta_u"] = ratio * grid["eta_w"]
    grid.pop("eta_ratio", None)
    shape2 = (ya.values.size, xa.values.size)
    g = sample_gram(grid["width"], grid["sigma_u"], grid["sigma_w"], rho=grid["rho"], seed=base_seed,
                    size=nseeds)
    sol = solve_gram(g.uu, g.ww, g.uw, area=g.area, eta_u=grid["eta_u"], eta_w=grid["eta_w"], kappa=grid["kappa"],
                     target=grid["target"], data_var=grid["data_var"])
    cl = classify_solution(sol, th)
    params = {k: np.broadcast_to(v, shape2) for k, v in grid.items()}
    full = (nseeds,) + shape2
    g = Gram(*(np.broadcast_to(getattr(g, f), full) for f in ("uu", "ww", "uw", "area")))
    return PhaseDiagram(x=xa, y=ya, fixed=fx, seeds=nseeds, seed=base_seed, params=params, classification=cl,
                        thresholds=th, gram=g)
