r"""Domain objects: what a computation of the theory layer takes.

- :class:`Hyper` — the hyperparameters of the flow: learning-rate multipliers :math:`\eta_u, \eta_w`,
  output scale :math:`\kappa`, target slope :math:`k`, data variance :math:`V = E[x^2]`;
- :class:`Gram` — an initialization through its second moments (all the exact solution needs);
- :class:`Init` — an initialization as weight vectors ``u0`` (output layer) and ``w0`` (hidden layer);

(discrete-time training takes :class:`~featmech.theory.optim.Optimizer` and
:class:`~featmech.theory.optim.Record` as well).

All are frozen dataclasses that validate on construction and hold read-only float64 arrays
(numbers broadcast together into a batch of configurations), so a value once checked cannot
change under a solution that was built from it.

>>> h = Hyper(eta_u=1e3, eta_w=1e3, kappa=1e-3)
>>> float(h.kappa), h.shape
(0.001, ())
>>> Hyper(kappa=-1)
Traceback (most recent call last):
...
featmech.errors.InputError: kappa must be in [0, inf], got -1
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech._validation import check_array
from featmech.errors import InputError

__all__ = ["Hyper", "Gram", "Init", "readonly", "check_vectors", "F"]

F = NDArray[np.float64]


def readonly(x: ArrayLike, dtype: Any = np.float64) -> NDArray[Any]:
    """``x`` as an array that cannot be written to (a copy only where needed)."""
    a = np.asarray(x, dtype=dtype)
    if a.flags.writeable:
        if a.base is not None or not a.flags.owndata:
            a = a.copy()
        a.flags.writeable = False
    return a


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _trusted(cls: type, **values: Any) -> Any:
    """Build a frozen object from already-validated read-only arrays, skipping validation."""
    obj = object.__new__(cls)
    for k, v in values.items():
        _set(obj, k, v)
    return obj


# ---------------------------------------------------------------------- hyperparameters
_HYPER_LOW = {"eta_u": 0.0, "eta_w": 0.0, "kappa": 0.0, "target": -math.inf, "data_var": 0.0}


@dataclass(frozen=True)
class Hyper:
    """Hyperparameters of the network and its training (arrays broadcast to a batch shape).

    Attributes:
        eta_u, eta_w: layer-wise learning-rate multipliers, ``>= 0`` (0 freezes a layer).
        kappa: output scale κ ``>= 0``; the network is f(x) = κ u·w x.
        target: the slope k of the target y = k x (any real).
        data_var: V = E[x²] ``>= 0``.

    Raises:
        InputError: a value is not a finite real number in its range.
    """

    eta_u: F = 1.0  # type: ignore[assignment]
    eta_w: F = 1.0  # type: ignore[assignment]
    kappa: F = 1.0  # type: ignore[assignment]
    target: F = 1.0  # type: ignore[assignment]
    data_var: F = 1.0  # type: ignore[assignment]

    def __post_init__(self) -> None:
        for name, low in _HYPER_LOW.items():
            _set(self, name, readonly(check_array(name, getattr(self, name), low=low)))

    @property
    def shape(self) -> tuple[int, ...]:
        """The batch shape all fields broadcast to."""
        return np.broadcast_shapes(*(getattr(self, f.name).shape for f in fields(self)))

    def broadcast(self, shape: tuple[int, ...]) -> "Hyper":
        """The same hyperparameters as read-only arrays of ``shape``."""
        return _trusted(Hyper, **{f.name: readonly(np.broadcast_to(getattr(self, f.name), shape))
                                  for f in fields(self)})

    def index(self, idx: Any) -> "Hyper":
        """One configuration (or a sub-batch) of a batch."""
        return _trusted(Hyper, **{f.name: readonly(np.broadcast_to(getattr(self, f.name), self.shape)[idx])
                                  for f in fields(self)})

    def replace(self, **changes: Any) -> "Hyper":
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers (0-d) or arrays, by field name."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def _plain(a: NDArray[Any]) -> Any:
    return a.item() if a.ndim == 0 else a


# ---------------------------------------------------------------------- initializations
@dataclass(frozen=True)
class Gram:
    """Second moments of an initialization: all the exact solution needs.

    Attributes:
        uu: ``|u0|²``;  ww: ``|w0|²``;  uw: ``u0·w0``.
        area: ``|u0 ∧ w0|``, the area of the parallelogram spanned by u0 and w0,
            ``sqrt(uu·ww − uw²)`` (conserved by gradient flow). Computed when not given; give it
            for full accuracy with nearly collinear inits (the exact sampler does).

    All fields are read-only float64 arrays of one common (batch) shape.

    Raises:
        InputError: negative squared norms, ``uw² > uu·ww`` or ``area² > uu·ww`` (Cauchy–Schwarz,
            1e-12 relative slack; ``uw`` is clipped into the range).
    """

    uu: F
    ww: F
    uw: F
    area: F | None = None

    def __post_init__(self) -> None:
        uu = check_array("uu", self.uu, low=0.0)
        ww = check_array("ww", self.ww, low=0.0)
        uw = check_array("uw", self.uw)
        with np.errstate(over="ignore", invalid="ignore"):
            geo = np.sqrt(uu) * np.sqrt(ww)
            if np.any(np.abs(uw) > geo * (1 + 1e-12)):
                raise InputError("uw must satisfy uw² <= uu·ww (Cauchy–Schwarz); got an impossible Gram matrix")
            if self.area is None:
                au = np.abs(uw)
                area = np.sqrt(np.maximum(geo - au, 0.0)) * np.sqrt(geo + au)
            else:
                area = check_array("area", self.area, low=0.0)
                if np.any(area > geo * (1 + 1e-12)):
                    raise InputError("area must satisfy area <= sqrt(uu·ww)")
        arrays = np.broadcast_arrays(uu, ww, np.clip(uw, -geo, geo), area)
        for name, a in zip(("uu", "ww", "uw", "area"), arrays):
            _set(self, name, readonly(a))

    @classmethod
    def trusted(cls, uu: ArrayLike, ww: ArrayLike, uw: ArrayLike, area: ArrayLike) -> "Gram":
        """Build from values known to be valid (the library's own computations): no checks."""
        arrays = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (uu, ww, uw, area)))
        return _trusted(cls, **{n: readonly(a) for n, a in zip(("uu", "ww", "uw", "area"), arrays)})

    @property
    def shape(self) -> tuple[int, ...]:
        """The batch shape."""
        return self.uu.shape

    def index(self, idx: Any) -> "Gram":
        """One configuration (or a sub-batch) of a batch."""
        return Gram.trusted(self.uu[idx], self.ww[idx], self.uw[idx], self.area[idx])  # type: ignore[index]

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers (0-d) or arrays, by field name."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class Init:
    """An initialization as weight vectors: ``u0`` the output layer, ``w0`` the hidden layer.

    Attributes:
        u0, w0: read-only float64 vectors of the same length, the width d ``>= 1``.

    Raises:
        InputError: not 1-D real arrays of one length, or not finite.
    """

    u0: F
    w0: F
    _gram: Gram | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        u, w = check_vectors(self.u0, self.w0)
        _set(self, "u0", readonly(u))
        _set(self, "w0", readonly(w))

    def __iter__(self):  # type: ignore[no-untyped-def]
        """``u0, w0 = init``: an Init unpacks into its two vectors."""
        return iter((self.u0, self.w0))

    @property
    def width(self) -> int:
        """The width d."""
        return int(self.u0.size)

    @property
    def gram(self) -> Gram:
        """The Gram statistics, computed once without overflow or cancellation."""
        if self._gram is None:
            from featmech.theory.exact import gram_of

            _set(self, "_gram", gram_of(self.u0, self.w0))
        return self._gram  # type: ignore[return-value]


def check_vectors(u0: ArrayLike, w0: ArrayLike) -> tuple[F, F]:
    """Validate two weight vectors (1-D, real, finite, one length >= 1); return them as float64.

    Raises:
        InputError: naming ``u0``/``w0`` and what is wrong.
    """
    for name, v in (("u0", u0), ("w0", w0)):
        kind = np.asarray(v).dtype.kind if not isinstance(v, (str, bytes)) else "U"
        if kind not in "iuf" and not (kind == "O" and _all_real(v)):
            raise InputError(f"{name} must be a 1-D array of real numbers, got dtype {np.asarray(v).dtype}")
    try:
        u = np.asarray(u0, dtype=np.float64)
        w = np.asarray(w0, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError("u0 and w0 must be 1-D arrays of real numbers") from exc
    if u.ndim != 1:
        raise InputError(f"u0 must be a 1-D array, got shape {u.shape}")
    if w.ndim != 1:
        raise InputError(f"w0 must be a 1-D array, got shape {w.shape}")
    if u.shape != w.shape:
        raise InputError(f"u0 and w0 must have the same length (the width), got {u.size} and {w.size}")
    if u.size < 1:
        raise InputError("u0, w0 must have width >= 1")
    if not (np.all(np.isfinite(u)) and np.all(np.isfinite(w))):
        raise InputError("u0 and w0 must be finite")
    return u, w


def _all_real(v: Any) -> bool:
    try:
        return all(isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)
                   for x in np.asarray(v, dtype=object).ravel())
    except Exception:  # pragma: no cover - defensive
        return False
