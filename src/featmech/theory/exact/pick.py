"""``numpy.where`` and ``numpy.select`` that skip the array machinery for a single configuration.

The per-configuration arithmetic of the exact solution runs on numpy scalars when the batch
is one configuration (ufuncs on scalars are fast); a selection between two of them then needs
no array at all. On arrays these are exactly ``np.where`` and ``np.select``; on a scalar
condition they return the chosen value as a numpy scalar (the same number; the values should
share a dtype, as they do here).

>>> float(where(np.float64(1.0) > 0, 2.0, 3.0)), float(select([False, True], [1.0, 2.0], 0.0)), where(np.array([True, False]), 2.0, 3.0)
(2.0, 2.0, array([2., 3.]))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["where", "select"]


def where(cond: Any, a: Any, b: Any) -> Any:
    """``np.where(cond, a, b)``; for a scalar condition simply ``a if cond else b``."""
    if isinstance(cond, np.ndarray):
        return np.where(cond, a, b)
    return _scalar(a if cond else b)


def select(conds: Sequence[Any], values: Sequence[Any], default: Any) -> Any:
    """``np.select(conds, values, default)``: the value of the first true condition, else ``default``."""
    if isinstance(conds[0], np.ndarray):
        return np.select(conds, values, default)
    for c, v in zip(conds, values):
        if c:
            return _scalar(v)
    return _scalar(default)


def _scalar(v: Any) -> Any:
    """``v`` as a numpy scalar (so that arithmetic on it follows numpy's rules, e.g. 0/0 = nan)."""
    return v if isinstance(v, np.generic) else np.asarray(v)[()]
