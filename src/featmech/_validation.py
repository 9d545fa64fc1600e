"""Input checks shared by the public API.

Every check raises :class:`~featmech.errors.InputError` (a :class:`ValueError`) whose message
names the parameter and the allowed range, so that the CLI can turn it into one line on stderr.

**Type slips are refused, never coerced.** A real number is a Python ``int`` or ``float``, a NumPy
integer or floating scalar, an array of such a dtype, a (nested) list or tuple of them, or
anything NumPy reads as an integer or floating array (a pandas Series, say). Refused, naming the
parameter: booleans (``True`` is not 1), complex numbers (even with a zero imaginary part),
strings (``"1"``), ``None``, object arrays, and any other object (``Decimal``, ``Fraction``, ...).

>>> check_scalar("kappa", 0.5), check_int("width", 1e3)
(0.5, 1000)
>>> check_scalar("kappa", 1 + 0j)
Traceback (most recent call last):
...
featmech.errors.InputError: kappa must be a real number, got (1+0j)
>>> check_array("eta_u", [1.0, True])
Traceback (most recent call last):
...
featmech.errors.InputError: eta_u must be a real number, got True (in [1.0, True])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech.errors import InputError

__all__ = ["check_scalar", "check_array", "check_times", "check_int", "check_real", "type_slip", "all_real"]

_REAL_KINDS = "iuf"
_SCALARS = (int, float, np.integer, np.floating)


def _slip_scalar(x: Any) -> bool:
    """Whether one element is not a real number (bools are not)."""
    return isinstance(x, (bool, np.bool_)) or not isinstance(x, _SCALARS)


def type_slip(value: Any) -> str | None:
    """What in ``value`` is not a real number (for the message), or ``None`` when it is all real.

    Arguments:
        value: a number, an array, or a (nested) list or tuple.

    Returns:
        ``None``, or a short description of the offending value (its ``repr``, or the dtype of
        an array).

    >>> type_slip(1.5), type_slip(np.arange(3)), type_slip([[1, 2.0], (3,)])
    (None, None, None)
    >>> type_slip(np.array([1, 2], dtype=object)), type_slip("1"), type_slip([1, 2j])
    ('an array of dtype object', "'1'", '2j (in [1, 2j])')
    """
    t = type(value)
    if t is float or t is int:
        return None
    if isinstance(value, np.ndarray):
        return None if value.dtype.kind in _REAL_KINDS else f"an array of dtype {value.dtype}"
    if isinstance(value, (list, tuple)):
        for x in _flat(value):
            if isinstance(x, np.ndarray):
                if x.dtype.kind not in _REAL_KINDS:
                    return f"an array of dtype {x.dtype} (in {_short(value)})"
            elif _slip_scalar(x):
                return f"{x!r} (in {_short(value)})"
        return None
    if isinstance(value, (bool, np.bool_, str, bytes, complex, np.complexfloating)) or value is None:
        return repr(value)
    if isinstance(value, _SCALARS):
        return None
    try:  # array-likes (a pandas Series, a memoryview): what NumPy reads them as
        kind = np.asarray(value).dtype.kind
    except Exception:
        kind = "O"
    return None if kind in _REAL_KINDS else repr(value)


def _flat(seq: list[Any] | tuple[Any, ...]) -> Any:
    for x in seq:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_real(name: str, value: Any) -> NDArray[np.float64]:
    """``value`` as a float64 array, refusing type slips (see the module docstring); no range check.

    Arguments:
        name: the parameter's name, for the message.
        value: a real number or an array of them.

    Returns:
        A float64 array (``value`` itself when it already is one).

    Raises:
        InputError: ``"<name> must be a real number, got …"``.
    """
    slip = type_slip(value)
    if slip is not None:
        raise InputError(f"{name} must be a real number, got {slip}")
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:  # ragged lists, ints beyond float64
        raise InputError(f"{name} must be a real number (or a regular array of them), got {_short(value)}") from exc


def check_array(
    name: str,
    value: ArrayLike,
    *,
    low: float = -math.inf,
    low_inclusive: bool = True,
    high: float = math.inf,
) -> NDArray[np.float64]:
    """Return ``value`` as a float64 array, checking its type, that it is finite and within range.

    ``low`` is inclusive unless ``low_inclusive`` is False; ``high`` is inclusive.

    Raises:
        InputError: a type slip (see the module docstring), a non-finite value, or one out of range.
    """
    arr = check_real(name, value)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be finite, got {_short(value)}")
    if low_inclusive:
        bad = arr < low
        rng = f"[{low:g}, {high:g}]"
    else:
        bad = arr <= low
        rng = f"({low:g}, {high:g}]"
    bad |= arr > high
    if np.any(bad):
        shown = arr[bad].ravel()[0]
        raise InputError(f"{name} must be in {rng}, got {shown:g}")
    return arr


def check_scalar(name: str, value: Any, **kwargs: Any) -> float:
    """Like :func:`check_array` for one real number."""
    arr = check_array(name, value, **kwargs)
    if arr.ndim != 0:
        raise InputError(f"{name} must be a single number, got an array of shape {arr.shape}")
    return float(arr)


def check_int(name: str, value: Any, *, low: int = 0, high: int | None = None) -> int:
    """Check an integer parameter and return it as ``int``.

    Integers and integer-valued floats (``1e12``) are accepted; booleans, strings, complex numbers
    and fractional values are refused.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, _SCALARS):
        if not (isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in _REAL_KINDS):
            raise InputError(f"{name} must be an integer, got {value!r}")
        value = value.item()
    if isinstance(value, (int, np.integer)):
        iv = int(value)
    else:
        as_float = float(value)
        if not math.isfinite(as_float) or as_float != int(as_float):
            raise InputError(f"{name} must be an integer, got {value!r}")
        iv = int(as_float)
    if iv < low or (high is not None and iv > high):
        hi = "inf" if high is None else str(high)
        raise InputError(f"{name} must be an integer in [{low}, {hi}], got {iv}")
    return iv


def check_times(t: ArrayLike, name: str = "t") -> NDArray[np.float64]:
    """Times must be real, non-negative and not NaN (``inf`` allowed: the fixed point)."""
    if type(t) is float:
        if not t >= 0.0:  # NaN or negative
            _bad_times(name, np.asarray(t))
        return np.asarray(t)
    arr = check_real(name, t)
    if arr.size and not arr.min() >= 0.0:  # (NaN compares false)
        _bad_times(name, arr)
    return arr


def _bad_times(name: str, arr: NDArray[np.float64]) -> None:
    if np.any(np.isnan(arr)):
        raise InputError(f"{name} must not contain NaN")
    raise InputError(f"{name} must be >= 0, got {arr[arr < 0].ravel()[0]:g}")


def all_real(value: Any) -> bool:
    """Whether ``value`` is a real number or an array/sequence of them (:func:`type_slip` finds nothing).

    >>> all_real([1, 2.5, np.float32(3)]), all_real([1, True]), all_real([1, 2j])
    (True, False, False)
    """
    return type_slip(value) is None
