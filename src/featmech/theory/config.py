r"""Domain objects: what a computation of the theory layer takes.

- :class:`Hyper` — the hyperparameters of the flow: learning-rate multipliers :math:`\eta_u, \eta_w`,
  output scale :math:`\kappa`, target slope :math:`k`, data variance :math:`V = E[x^2]`;
- :class:`Gram` — an initialization through its second moments (all the exact solution needs);
- :class:`Init` — an initialization as weight vectors ``u0`` (output layer) and ``w0`` (hidden layer);

(discrete-time training takes :class:`~featmech.theory.optim.Optimizer` and
:class:`~featmech.theory.optim.Record` as well).

All are frozen dataclasses that validate on construction and hold read-only float64 arrays
(numbers broadcast together into a batch of configurations), so a value once checked cannot
change under a solution that was built from it. Values from outside enter through
:func:`readonly` (the caller's writable arrays are copied, never frozen in place); the
library's own fresh results through :func:`freeze` (frozen in place) and the ``trusted``
constructors, which skip validation.

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
from typing import Any, Mapping, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech._validation import check_array, type_slip
from featmech.errors import InputError

__all__ = ["Hyper", "Gram", "Init", "readonly", "freeze", "frozen_scalars", "check_vectors", "object_or_keywords",
           "plain", "F"]

F = NDArray[np.float64]
T = TypeVar("T")


def readonly(x: ArrayLike, dtype: Any = np.float64) -> NDArray[Any]:
    """``x`` as an array that nobody can write to: the way a value enters a domain object.

    An array that is already frozen (read-only, and so is every array it is a view of) is
    returned as it is, shared; a writable array is copied, so the caller's arrays are never
    frozen under them and a later write to them cannot change an object built from them; a
    fresh conversion (from a number, a list, another dtype) is frozen in place.

    Arguments:
        x: anything :func:`numpy.asarray` takes.
        dtype: the dtype of the result (float64 unless told).

    Returns:
        A read-only array.

    >>> a = np.ones(2)
    >>> r = readonly(a)
    >>> a.flags.writeable, r.flags.writeable, r is readonly(r)
    (True, False, True)
    """
    if type(x) is np.ndarray and x.base is None and not x.flags.writeable and x.dtype == dtype:
        return x  # the common case inside the library: already frozen
    a = np.asarray(x, dtype=dtype)
    if _frozen(a):
        return a
    if a is x or not a.flags.owndata:
        a = a.copy()
    a.flags.writeable = False
    return a


def freeze(a: ArrayLike) -> NDArray[Any]:
    """Make an array the caller has just computed (and shares with nobody) read-only, in place.

    The library's own computations end with it: no copy unless ``a`` is a writable view (then
    the view is copied so that no writable base stays behind). Use :func:`readonly` for values
    that come from outside.

    Arguments:
        a: a fresh array (or a number).

    Returns:
        ``a`` itself, read-only (a copy only for writable views).
    """
    arr = np.asarray(a)
    if arr.flags.writeable:
        if not arr.flags.owndata:
            arr = arr.copy()
        arr.flags.writeable = False
    return arr


def frozen_scalars(values: Any, dtype: Any = np.float64) -> list[NDArray[Any]]:
    """Read-only 0-d arrays holding ``values``: views of one frozen array (one allocation for all).

    Arguments:
        values: numbers.
        dtype: their dtype.

    Returns:
        One read-only 0-d array per value.

    >>> a, b = frozen_scalars([1.5, 2.0])
    >>> a.shape, float(b), a.flags.writeable
    ((), 2.0, False)
    """
    packed = np.array(values, dtype=dtype)
    packed.flags.writeable = False
    return [packed[i, ...] for i in range(packed.shape[0])]


def _frozen(a: NDArray[Any]) -> bool:
    """True when ``a`` and every array it views are read-only (so its values cannot change)."""
    x: Any = a
    while x is not None:
        if not isinstance(x, np.ndarray) or x.flags.writeable:
            return False
        x = x.base
    return True


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _trusted(cls: type, **values: Any) -> Any:
    """Build a frozen object from already-validated read-only arrays, skipping validation."""
    obj: Any = object.__new__(cls)
    obj.__dict__.update(values)  # (a frozen dataclass: its __setattr__ refuses, its __dict__ does not)
    return obj


def _plain_ok(value: Any, low: float) -> bool:
    """A Python float (or int, never a bool) that is finite and ``>= low``: valid as it is."""
    t = type(value)
    return (t is float or (t is int and abs(value) < 2**53)) and value >= low and math.isfinite(value)


def _number(value: Any, low: float) -> NDArray[np.float64] | None:
    """A plain finite Python number ``>= low`` as a frozen 0-d array; ``None`` when the full
    check (and its error message) must decide. The fast path of validation."""
    if isinstance(value, float) or type(value) is int:
        try:
            x = float(value)
        except OverflowError:
            return None
        if math.isfinite(x) and x >= low:
            a = np.array(x)
            a.flags.writeable = False
            return a
    return None


# ---------------------------------------------------------------------- hyperparameters
_HYPER_LOW = {"eta_u": 0.0, "eta_w": 0.0, "kappa": 0.0, "target": -math.inf, "data_var": 0.0}


@dataclass(frozen=True)
class Hyper:
    r"""Hyperparameters of the network and its training (arrays broadcast to a batch shape).

    The flow they define (docs/theory.md §1), for :math:`f(x) = \kappa\, u\cdot w\, x` and the target
    :math:`y = kx` with :math:`E[x^2] = V`:

    .. math::
        L = \tfrac12 V(\kappa\, u\cdot w - k)^2,\qquad
        \dot u = -\eta_u \partial_u L,\qquad \dot w = -\eta_w \partial_w L.

    Arguments:
        eta_u: learning-rate multiplier η_u of the output layer, ``>= 0`` (0 freezes it). Default 1.
        eta_w: learning-rate multiplier η_w of the hidden layer, ``>= 0``. Default 1.
        kappa: output scale κ ``>= 0``. Default 1.
        target: the slope k of the target (any finite real). Default 1.
        data_var: V = E[x²] ``>= 0``. Default 1.

    Each is a number or an array; the fields are stored as read-only float64 arrays (copies of
    the caller's arrays), which broadcast together to :attr:`shape`.

    Raises:
        InputError: a value is not a finite real number in its range.

    >>> Hyper(eta_u=[1.0, 2.0]).shape
    (2,)
    """

    eta_u: F = 1.0  # type: ignore[assignment]
    eta_w: F = 1.0  # type: ignore[assignment]
    kappa: F = 1.0  # type: ignore[assignment]
    target: F = 1.0  # type: ignore[assignment]
    data_var: F = 1.0  # type: ignore[assignment]

    def __post_init__(self) -> None:
        values = [getattr(self, name) for name in _HYPER_LOW]
        if all(_plain_ok(v, low) for v, low in zip(values, _HYPER_LOW.values())):  # the common case: numbers
            self.__dict__.update(zip(_HYPER_LOW, frozen_scalars(values)))
            return
        for name, low in _HYPER_LOW.items():
            value = getattr(self, name)
            arr = _number(value, low)
            _set(self, name, arr if arr is not None else readonly(check_array(name, value, low=low)))

    @classmethod
    def trusted(cls, eta_u: ArrayLike, eta_w: ArrayLike, kappa: ArrayLike, target: ArrayLike, data_var: ArrayLike,
                *, dtype: Any = np.float64) -> "Hyper":
        """Build from values known to be valid (the library's own computations): no checks.

        Arguments:
            eta_u, eta_w, kappa, target, data_var: as for :class:`Hyper`.
            dtype: the dtype of the fields (the extended precision of the exact solver uses ``longdouble``).

        Returns:
            A :class:`Hyper` of read-only arrays (converted copies where the dtype changes).
        """
        values = (eta_u, eta_w, kappa, target, data_var)
        return _trusted(cls, **{n: readonly(np.asarray(v, dtype=dtype), dtype=dtype) for n, v in zip(_HYPER_LOW, values)})

    @property
    def shape(self) -> tuple[int, ...]:
        """The batch shape all fields broadcast to."""
        shapes = (self.eta_u.shape, self.eta_w.shape, self.kappa.shape, self.target.shape, self.data_var.shape)
        return shapes[0] if shapes.count(shapes[0]) == 5 else np.broadcast_shapes(*shapes)

    def broadcast(self, shape: tuple[int, ...]) -> "Hyper":
        """The same hyperparameters as read-only arrays of ``shape`` (no validation: they are valid).

        Arguments:
            shape: a shape every field broadcasts to.

        Returns:
            ``self`` when every field already has that shape, else a new :class:`Hyper` of views.
        """
        if all(getattr(self, n).shape == shape for n in _HYPER_LOW):
            return self
        return _trusted(Hyper, **{n: readonly(np.broadcast_to(getattr(self, n), shape)) for n in _HYPER_LOW})

    def index(self, idx: Any) -> "Hyper":
        """One configuration (or a sub-batch) of a batch: ``idx`` indexes arrays of :attr:`shape`."""
        shape = self.shape
        return _trusted(Hyper, **{n: readonly(np.broadcast_to(getattr(self, n), shape)[idx]) for n in _HYPER_LOW})

    def replace(self, **changes: Any) -> "Hyper":
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers (0-d) or arrays, by field name."""
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}


def plain(a: Any) -> Any:
    """A 0-d array as its Python number; anything else as it is (what ``as_dict()`` of a domain object gives)."""
    return a.item() if isinstance(a, np.ndarray) and a.ndim == 0 else a


# ---------------------------------------------------------------------- initializations
_GRAM_FIELDS = ("uu", "ww", "uw", "area")


@dataclass(frozen=True)
class Gram:
    r"""Second moments of an initialization: all the exact solution needs.

    .. math::
        uu = |u_0|^2,\quad ww = |w_0|^2,\quad uw = u_0\cdot w_0,\quad
        \mathrm{area} = |u_0\wedge w_0| = \sqrt{uu\cdot ww - uw^2}.

    Arguments:
        uu: ``|u0|² >= 0``.
        ww: ``|w0|² >= 0``.
        uw: ``u0·w0``, clipped into the Cauchy–Schwarz range ``[-sqrt(uu·ww), sqrt(uu·ww)]``.
        area: ``|u0 ∧ w0|``, the area of the parallelogram spanned by u0 and w0 (conserved by
            gradient flow). Computed as above when not given; give it for full accuracy with
            nearly collinear inits (the exact sampler does).

    All fields are stored as read-only float64 arrays of one common (batch) shape.

    Raises:
        InputError: negative squared norms, ``uw² > uu·ww`` or ``area² > uu·ww`` (Cauchy–Schwarz,
            1e-12 relative slack).

    >>> Gram(1.0, 1.0, 0.0).area.item()
    1.0
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
        arrays = (uu, ww, np.clip(uw, -geo, geo), area)
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        for name, a in zip(_GRAM_FIELDS, arrays):
            _set(self, name, readonly(a if a.shape == shape else np.broadcast_to(a, shape)))

    @classmethod
    def trusted(cls, uu: ArrayLike, ww: ArrayLike, uw: ArrayLike, area: ArrayLike, *,
                dtype: Any = np.float64) -> "Gram":
        """Build from values known to be valid (the library's own computations): no checks.

        Arguments:
            uu, ww, uw, area: as for :class:`Gram` (area required), broadcasting together.
            dtype: the dtype of the fields (the extended precision of the exact solver uses ``longdouble``).

        Returns:
            A :class:`Gram`. It takes ownership of the arrays it is given: fresh arrays are
            frozen in place (no copy), writable views are copied.
        """
        if dtype is np.float64 and all(type(x) is float for x in (uu, ww, uw, area)):
            return _trusted(cls, **dict(zip(_GRAM_FIELDS, frozen_scalars([uu, ww, uw, area]))))
        arrays = [np.asarray(x, dtype=dtype) for x in (uu, ww, uw, area)]
        shape = arrays[0].shape
        if any(a.shape != shape for a in arrays):
            shape = np.broadcast_shapes(*(a.shape for a in arrays))
            arrays = [a if a.shape == shape else np.broadcast_to(a, shape) for a in arrays]
        return _trusted(cls, **{n: freeze(a) for n, a in zip(_GRAM_FIELDS, arrays)})

    @property
    def shape(self) -> tuple[int, ...]:
        """The batch shape."""
        return self.uu.shape

    def broadcast(self, shape: tuple[int, ...]) -> "Gram":
        """The same statistics as read-only arrays of ``shape`` (``self`` when already that shape)."""
        if self.uu.shape == shape:
            return self
        return _trusted(Gram, **{n: readonly(np.broadcast_to(getattr(self, n), shape)) for n in _GRAM_FIELDS})

    def index(self, idx: Any) -> "Gram":
        """One configuration (or a sub-batch) of a batch."""
        return Gram.trusted(self.uu[idx], self.ww[idx], self.uw[idx], self.area[idx])  # type: ignore[index]

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers (0-d) or arrays, by field name."""
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class Init:
    """An initialization as weight vectors: ``u0`` the output layer, ``w0`` the hidden layer.

    Arguments:
        u0: the output layer's weights, a 1-D real vector of length d ``>= 1`` (the width).
        w0: the hidden layer's weights, a vector of the same length.

    Both are stored as read-only float64 vectors (copies of the caller's arrays). An ``Init``
    unpacks into its two vectors: ``u0, w0 = init``.

    Raises:
        InputError: not 1-D real arrays of one length, or not finite.

    >>> Init([3.0, 0.0], [1.0, 1.0]).gram.uw.item()
    3.0
    """

    u0: F
    w0: F
    _gram: Gram | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        u, w = check_vectors(self.u0, self.w0)
        _set(self, "u0", readonly(u))
        _set(self, "w0", readonly(w))

    @classmethod
    def borrow(cls, u0: ArrayLike, w0: ArrayLike) -> "Init":
        """Validate the caller's vectors and wrap them without a copy (for speed at large widths).

        The fields are read-only *views* of ``u0`` and ``w0`` (a fresh conversion, e.g. from a
        list, is simply frozen): nothing can be written through them, but an in-place change the
        caller makes to their own arrays afterwards shows through. Use ``Init(u0, w0)`` for a
        private copy.

        Arguments:
            u0, w0: as for :class:`Init`.

        The Gram statistics are computed at once (:attr:`gram`): their dot products are the one
        pass over the vectors that finiteness is checked in.

        Returns:
            The :class:`Init`.

        Raises:
            InputError: as for :class:`Init`.
        """
        from featmech.theory.exact.gram import vector_stats

        u, w = check_vectors(u0, w0, finite=False)
        stats, exact = vector_stats(u, w)  # (raises for entries that are not finite)
        return _trusted(cls, u0=_view(u, u0), w0=_view(w, w0), _gram=Gram.trusted(*stats) if exact else None,
                        _exact=exact)

    def __iter__(self):  # type: ignore[no-untyped-def]
        """``u0, w0 = init``: an Init unpacks into its two vectors."""
        return iter((self.u0, self.w0))

    @property
    def width(self) -> int:
        """The width d."""
        return int(self.u0.size)

    @property
    def gram(self) -> Gram:
        """The Gram statistics, computed once without overflow or cancellation (see
        :func:`featmech.theory.exact.gram_of`; statistics below float64's smallest numbers are rounded).

        Raises:
            InputError: the squared norms overflow float64."""
        if self._gram is None:
            from featmech.theory.exact.gram import vector_gram, vector_stats

            stats, exact = vector_stats(self.u0, self.w0)
            _set(self, "_exact", exact)
            _set(self, "_gram", Gram.trusted(*stats) if exact else vector_gram(self.u0, self.w0))
        return self._gram  # type: ignore[return-value]

    @property
    def gram_is_exact(self) -> bool:
        """Whether float64 holds the Gram statistics without rounding them away (no over- or
        underflow); the exact solver otherwise computes from the vectors in extended precision."""
        self.gram
        return bool(self.__dict__.get("_exact", True))


def _view(a: NDArray[Any], given: Any) -> NDArray[Any]:
    """``a`` read-only without a copy: a view when it is (or views) the caller's array, else frozen."""
    if a is given or not a.flags.owndata:
        if _frozen(a):
            return a
        a = a.view()
    a.flags.writeable = False
    return a


def object_or_keywords(cls: type[T], given: Any, keywords: Mapping[str, Any], *, name: str, where: str = "") -> T:
    """One domain object from an instance or from its keywords, never both: the rule of the keyword conveniences.

    Arguments:
        cls: the class (:class:`Hyper`, :class:`~featmech.theory.optim.Optimizer`, ...).
        given: the instance the caller passed, or ``None``.
        keywords: the field values the caller passed as keywords (only those given).
        name: the argument's name, for messages (``"hyper"``).
        where: a prefix for messages (``"simulate: "``).

    Returns:
        ``given``, or ``cls(**keywords)`` when it is ``None``.

    Raises:
        InputError: ``given`` is not a ``cls``, or both ``given`` and keywords; or (from ``cls``)
            a keyword value out of range.

    >>> object_or_keywords(Hyper, None, {"kappa": 2.0}, name="hyper").kappa.item()
    2.0
    >>> object_or_keywords(Hyper, Hyper(), {"kappa": 2.0}, name="hyper")
    Traceback (most recent call last):
    ...
    featmech.errors.InputError: give either hyper=Hyper(...) or the keywords kappa, not both
    """
    if given is None:
        return cls(**keywords)
    if not isinstance(given, cls):
        raise InputError(f"{where}{name} must be a {cls.__name__}, got {type(given).__name__}")
    if keywords:
        raise InputError(f"{where}give either {name}={cls.__name__}(...) or the keywords {', '.join(keywords)}, "
                         "not both")
    return given


def check_vectors(u0: ArrayLike, w0: ArrayLike, *, finite: bool = True) -> tuple[F, F]:
    """Validate two weight vectors (1-D, real, finite, one length >= 1).

    Arguments:
        u0: the output layer's weights.
        w0: the hidden layer's weights.
        finite: check that every entry is finite (one pass over each vector); ``False`` leaves
            it to the caller (the Gram statistics' dot products check it in their own pass).

    Returns:
        ``(u0, w0)`` as float64 arrays (the inputs themselves where they already are).

    Raises:
        InputError: naming ``u0``/``w0`` and what is wrong.
    """
    u = _real_vector("u0", u0)
    w = _real_vector("w0", w0)
    if u.ndim != 1:
        raise InputError(f"u0 must be a 1-D array, got shape {u.shape}")
    if w.ndim != 1:
        raise InputError(f"w0 must be a 1-D array, got shape {w.shape}")
    if u.shape != w.shape:
        raise InputError(f"u0 and w0 must have the same length (the width), got {u.size} and {w.size}")
    if u.size < 1:
        raise InputError("u0, w0 must have width >= 1")
    if finite and not (np.isfinite(u).all() and np.isfinite(w).all()):
        raise InputError("u0 and w0 must be finite")
    return u, w


def _real_vector(name: str, v: Any) -> F:
    """One weight vector as float64, refusing type slips (booleans, complex numbers, strings, objects)."""
    if type(v) is np.ndarray and v.dtype == np.float64:
        return v
    slip = type_slip(v)
    if slip is not None:
        dtype = f"dtype {v.dtype}" if isinstance(v, np.ndarray) else slip
        raise InputError(f"{name} must be a 1-D array of real numbers, got {dtype}")
    try:
        return np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputError(f"{name} must be a 1-D array of real numbers") from exc
