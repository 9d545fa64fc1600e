r"""The exact boundaries of an exponent diagram, and where the named presets sit on it.

An exponent diagram (:func:`featmech.analysis.scaling.exponent_diagram`) labels a grid of two
width exponents. Its boundaries are not where the grid cells change colour but the zero sets of
the analytic exponents of :func:`featmech.analysis.scaling.analyze`:

- φ = 0, the exponent of the initial output: to one side the output diverges with the width;
- δ = 0, the exponent of the rate D: finite-time learning is this line (above it GD at a fixed
  learning rate is unstable, below it training is frozen), and the line itself is kernel where
  ℓ < 0, rich where ℓ > 0 and feature learning where ℓ = 0;
- ℓ = 0, the exponent of λ.

The exponents are piecewise linear in the axes, so their zero sets are polylines: they are traced
on a fine grid of :func:`~featmech.analysis.scaling.analyze` evaluations (linear interpolation is
exact on every linear piece, and the grid holds every multiple of 1/8, where the pieces of the
presets' planes meet). The δ = 0 line is split where its label changes, and the points where
ℓ changes sign on it (the feature-learning points) are returned on their own, so a figure shows
them whether or not a grid point happens to fall on them.

Every parametrization whose initial output does not diverge is labelled by two invariants only:
m, the exponent of sκ = κ√(η_uη_w), and n, the exponent of N = max(dσ_u²/η_u, dσ_w²/η_w) (and, at a
feature-learning point, whether the layers are balanced). :func:`invariant_point` places any
parametrization — every preset — in that plane.

>>> b = exponent_boundaries("kappa", (-1.5, 0.5), "eta", (-1.0, 2.0), resolution=81)
>>> [(p.category, round(p.x, 3), round(p.y, 3)) for p in b.feature_points]
[('feature/alignment', -1.0, 1.0)]
>>> sorted(p.name for p in b.presets if p.on_plane)
['mean-field', 'ntk']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from featmech.analysis.labels import LimitRegime
from featmech.analysis.scaling import (
    EXPONENT_AXES,
    PRESETS,
    TOL,
    Analysis,
    ExponentAxis,
    Exponents,
    analyze,
)
from featmech.errors import InputError

__all__ = ["PresetPoint", "Segment", "FeaturePoint", "Boundaries", "exponent_boundaries", "invariant_point",
           "INVARIANT_BASE", "INVARIANT_AXES"]

#: the plane of the invariants: κ exponent = m and σ² exponent = n − 1 with η = 1 and a centered
#: init (so the output never diverges and the layers are balanced)
INVARIANT_BASE = Exponents(orthogonal=True)
#: the axes of that plane, as :func:`featmech.analysis.scaling.exponent_diagram` axes
INVARIANT_AXES = ("kappa", "sigma2")

_FIELDS = {"sigma2": ("sigma_u2", "sigma_w2"), "eta": ("eta_u", "eta_w")}


@dataclass(frozen=True)
class PresetPoint:
    """A named parametrization placed on a diagram.

    Attributes:
        name: the preset's name (a key of :data:`featmech.analysis.scaling.PRESETS`).
        x, y: its coordinates on the diagram's axes (NaN when it is not on the plane).
        category: its own analytic label (``"kernel"``, ``"feature/alignment"``, …).
        on_plane: whether the diagram's plane contains it (every exponent the axes do not set
            equals the diagram's base).
    """

    name: str
    x: float
    y: float
    category: str
    on_plane: bool


@dataclass(frozen=True)
class Segment:
    """A piece of the δ = 0 line with one label.

    Attributes:
        category: the label along it (``"kernel"`` or ``"rich"``).
        xy: its vertices, shape ``(n, 2)``.
    """

    category: str
    xy: NDArray[np.float64]


@dataclass(frozen=True)
class FeaturePoint:
    """A point of the δ = 0 line where ℓ = 0: feature learning with an O(1) NTK change.

    Attributes:
        x, y: its coordinates.
        category: ``"feature/alignment"`` (balanced layers) or ``"feature/rescaling"``.
    """

    x: float
    y: float
    category: str


@dataclass(frozen=True)
class Boundaries:
    """The exact boundaries of one exponent plane (:func:`exponent_boundaries`).

    Attributes:
        xname, yname: the axes (:data:`featmech.analysis.scaling.EXPONENT_AXES`).
        base: the exponents the axes do not set.
        output0: polylines of φ = 0 (each ``(n, 2)``); the output diverges where φ > 0.
        lam: polylines of ℓ = 0.
        learning: the δ = 0 line where φ ≤ 0, split into labelled :class:`Segment` pieces.
        feature_points: where ℓ = 0 on the δ = 0 line.
        presets: every preset of :data:`featmech.analysis.scaling.PRESETS`, placed if on the plane.
    """

    xname: str
    yname: str
    base: Exponents
    output0: tuple[NDArray[np.float64], ...]
    lam: tuple[NDArray[np.float64], ...]
    learning: tuple[Segment, ...]
    feature_points: tuple[FeaturePoint, ...]
    presets: tuple[PresetPoint, ...]

    def learning_ranges(self) -> dict[str, tuple[float, float]]:
        """The x range of the δ = 0 line per label, ``{"kernel": (lo, hi), …}``."""
        out: dict[str, tuple[float, float]] = {}
        for s in self.learning:
            lo, hi = float(np.min(s.xy[:, 0])), float(np.max(s.xy[:, 0]))
            if s.category in out:
                lo, hi = min(lo, out[s.category][0]), max(hi, out[s.category][1])
            out[s.category] = (lo, hi)
        return out


def _point(base: Exponents, xname: str, x: float, yname: str, y: float) -> Exponents:
    e = base.as_dict()
    ExponentAxis(xname, np.array([x])).apply(e, float(x))
    ExponentAxis(yname, np.array([y])).apply(e, float(y))
    return Exponents(**e)


def _coordinate(e: Mapping[str, float], name: str) -> float | None:
    vals = [float(e[f]) for f in _FIELDS.get(name, (name,))]
    return vals[0] if all(abs(v - vals[0]) <= TOL for v in vals) else None


def _on_plane(p: Exponents, xname: str, yname: str, base: Exponents) -> tuple[float, float] | None:
    e, b = p.as_dict(), base.as_dict()
    if e["orthogonal"] != b["orthogonal"]:
        return None
    x, y = _coordinate(e, xname), _coordinate(e, yname)
    if x is None or y is None:
        return None
    moved = set(_FIELDS.get(xname, (xname,))) | set(_FIELDS.get(yname, (yname,)))
    if any(abs(float(e[k]) - float(b[k])) > TOL for k in e if k != "orthogonal" and k not in moved):
        return None
    return x, y


def invariant_point(exps: Exponents) -> tuple[float, float]:
    """The invariants (m, n) of a parametrization: the exponents of sκ = κ√(η_uη_w) and of N.

    Its label is the label of that point of the invariant plane whenever its initial output does
    not diverge (and, at a feature-learning point, its mechanism follows its balance).

    >>> invariant_point(PRESETS["ntk"].exponents)
    (-0.5, 1.0)
    """
    a = analyze(exps)
    return float(a.s_kappa), float(a.N)


def _lines(xf: NDArray[np.float64], yf: NDArray[np.float64], z: NDArray[np.float64]) -> list[NDArray[np.float64]]:
    import contourpy

    zz = np.ma.masked_invalid(z)
    if not (zz.count() and np.ma.min(zz) < 0 < np.ma.max(zz)):
        return []  # no sign change: no zero line (a region where the exponent is 0 shows as cells)
    gen = contourpy.contour_generator(xf, yf, zz, line_type="Separate")
    return [np.asarray(line, dtype=np.float64) for line in gen.lines(0.0) if len(line) >= 2]


def _feature_category(base: Exponents, xname: str, x: float, yname: str, y: float, a: Analysis) -> str:
    """The label of a feature point: the analysis at the point rounded to 1e-6 (exact exponents are
    round numbers), else the balance of the layers there."""
    try:
        b = analyze(_point(base, xname, round(x, 6), yname, round(y, 6)))
    except InputError:  # pragma: no cover - rounding stays within the axes' range
        b = a
    if b.regime is LimitRegime.FEATURE:
        return b.category
    return "feature/alignment" if abs(a.U - a.W) <= 1e-6 else "feature/rescaling"


def exponent_boundaries(xname: str, xrange: Sequence[float], yname: str, yrange: Sequence[float],
                        base: Exponents | None = None, *, resolution: int = 121,
                        presets: Mapping[str, Exponents] | None = None) -> Boundaries:
    """Trace φ = 0, δ = 0 (labelled) and ℓ = 0 over an exponent plane; place the presets on it.

    Arguments:
        xname, yname: the axes (:data:`featmech.analysis.scaling.EXPONENT_AXES`), different.
        xrange, yrange: ``(lo, hi)`` of each axis (the extent of the diagram).
        base: the exponents the axes do not set (default all 0).
        resolution: points per axis of the tracing grid (at least 11).
        presets: the parametrizations to place (default every preset's exponents).

    Returns:
        The :class:`Boundaries`.

    Raises:
        InputError: unknown or equal axes, an empty range, or a resolution below 11.
    """
    for n in (xname, yname):
        if n not in EXPONENT_AXES:
            raise InputError(f"unknown exponent axis {n!r}; choose from {', '.join(EXPONENT_AXES)}")
    if xname == yname:
        raise InputError("the two exponent axes must differ")
    (x0, x1), (y0, y1) = (float(v) for v in xrange), (float(v) for v in yrange)
    if not (x1 > x0 and y1 > y0) or resolution < 11:
        raise InputError("exponent boundaries need lo < hi on both axes and a resolution of at least 11")
    base = base or Exponents()
    xf, yf = _grid(x0, x1, resolution), _grid(y0, y1, resolution)
    phi = np.empty((yf.size, xf.size))
    rate = np.empty_like(phi)
    lam = np.empty_like(phi)
    for i, yv in enumerate(yf):
        for j, xv in enumerate(xf):
            a = analyze(_point(base, xname, float(xv), yname, float(yv)))
            phi[i, j], rate[i, j], lam[i, j] = a.output0, a.rate, a.lam
    finite_phi = np.where(np.isfinite(phi), phi, np.nan)
    output0 = _lines(xf, yf, finite_phi)
    lam_lines = _lines(xf, yf, lam)
    learning_z = np.where(phi > TOL, np.nan, rate)
    segments: list[Segment] = []
    features: list[FeaturePoint] = []
    for line in _lines(xf, yf, learning_z):
        an = [analyze(_point(base, xname, float(px), yname, float(py))) for px, py in line]
        ell = np.array([a.lam for a in an])
        cats = [LimitRegime.KERNEL.value if v < 0 else LimitRegime.RICH.value for v in ell]
        piece = [line[0]]
        for k in range(1, len(line)):
            if cats[k] != cats[k - 1]:  # ℓ crosses 0 between vertices k-1 and k: a feature point
                w = ell[k - 1] / (ell[k - 1] - ell[k])
                px, py = line[k - 1] + w * (line[k] - line[k - 1])
                features.append(FeaturePoint(float(px), float(py),
                                             _feature_category(base, xname, float(px), yname, float(py), an[k - 1])))
                piece.append(np.array([px, py]))
                segments.append(Segment(cats[k - 1], np.array(piece)))
                piece = [np.array([px, py])]
            piece.append(line[k])
        segments.append(Segment(cats[-1], np.array(piece)))
    pts = []
    for name, exps in (presets if presets is not None else {n: p.exponents for n, p in PRESETS.items()}).items():
        where = _on_plane(exps, xname, yname, base)
        cat = analyze(exps).category
        if where is None:
            pts.append(PresetPoint(name, math.nan, math.nan, cat, False))
        else:
            pts.append(PresetPoint(name, where[0], where[1], cat, True))
    return Boundaries(xname=xname, yname=yname, base=base, output0=tuple(output0), lam=tuple(lam_lines),
                      learning=tuple(segments), feature_points=tuple(_dedupe(features)), presets=tuple(pts))


def _grid(lo: float, hi: float, n: int) -> NDArray[np.float64]:
    """``n`` even points from lo to hi, with every multiple of 1/8 between them: the exponents of
    named parametrizations and the corners of the boundaries (where two of them meet) are such
    multiples, so the traced lines pass through the corners exactly."""
    pts = np.concatenate([np.linspace(lo, hi, n), np.arange(math.ceil(lo * 8), math.floor(hi * 8) + 1) / 8.0])
    pts = np.sort(pts)
    keep = np.concatenate([[True], np.diff(pts) > 1e-9 * max(1.0, hi - lo)])
    return pts[keep]


def _dedupe(points: list[FeaturePoint]) -> list[FeaturePoint]:
    out: list[FeaturePoint] = []
    for p in points:
        if not any(abs(p.x - q.x) < 1e-6 and abs(p.y - q.y) < 1e-6 for q in out):
            out.append(p)
    return out
