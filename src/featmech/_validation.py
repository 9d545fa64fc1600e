"""Input checks shared by the public API.

Every check raises :class:`ValueError` whose message names the parameter and the
allowed range, so that the CLI can turn it into one line on stderr.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech.errors import InputError

__all__ = ["check_scalar", "check_array", "check_times", "check_int", "all_real"]


def _as_float_array(name: str, value: ArrayLike) -> NDArray[np.float64]:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a real number, got {value!r}") from exc
    return arr


def check_array(
    name: str,
    value: ArrayLike,
    *,
    low: float = -math.inf,
    low_inclusive: bool = True,
    high: float = math.inf,
) -> NDArray[np.float64]:
    """Return ``value`` as a float64 array, checking it is finite and within range.

    ``low`` is inclusive unless ``low_inclusive`` is False; ``high`` is inclusive.
    """
    arr = _as_float_array(name, value)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be finite, got {value!r}")
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
    """Check an integer parameter (bools rejected) and return it as ``int``."""
    if isinstance(value, bool):
        raise InputError(f"{name} must be an integer, got {value!r}")
    try:
        as_float = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be an integer, got {value!r}") from exc
    if not math.isfinite(as_float) or as_float != int(as_float):
        raise InputError(f"{name} must be an integer, got {value!r}")
    iv = int(as_float)
    if iv < low or (high is not None and iv > high):
        hi = "inf" if high is None else str(high)
        raise InputError(f"{name} must be an integer in [{low}, {hi}], got {iv}")
    return iv


def check_times(t: ArrayLike, name: str = "t") -> NDArray[np.float64]:
    """Times must be non-negative, non-NaN (``inf`` allowed: the fixed point)."""
    arr = _as_float_array(name, t)
    if np.any(np.isnan(arr)):
        raise InputError(f"{name} must not contain NaN")
    if np.any(arr < 0):
        raise InputError(f"{name} must be >= 0, got {arr[arr < 0].ravel()[0]:g}")
    return arr


def all_real(value: Any) -> bool:
    """Whether every element of ``value`` (an object array or a sequence) is a real number, never a bool.

    For values NumPy reads as ``dtype=object``: a list mixing Python and NumPy numbers passes, one
    holding a bool, a complex number, a string or a nested object does not.

    >>> all_real([1, 2.5, np.float32(3)]), all_real([1, True]), all_real([1, 2j])
    (True, False, False)
    """
    try:
        return all(isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))
                   for x in np.asarray(value, dtype=object).ravel())
    except Exception:  # pragma: no cover - defensive
        return False
