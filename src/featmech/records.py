"""Typed records passed between computations, the sweep machinery and the results store.

A computation (an exact trajectory, a width-free simulation, a network run) turns one
configuration into a :class:`PointResult`: scalar results (numbers, labels, flags) and named
arrays (trajectories). The store keeps both; nothing is passed as positional tuples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from numpy.typing import NDArray

__all__ = ["PointResult", "PointOutcome"]


@dataclass(frozen=True)
class PointResult:
    """What one computation returns for one configuration.

    Attributes:
        scalars: name -> a number, string or bool (e.g. ``regime``, ``ntk_ratio``).
        arrays: name -> a NumPy array (e.g. the recorded ``loss`` trajectory).
    """

    scalars: Mapping[str, Any]
    arrays: Mapping[str, NDArray[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class PointOutcome:
    """One point of a sweep after it ran: its key and configuration, and its result or error.

    Attributes:
        key: the content hash of (computation, configuration, version).
        config: the full configuration (every parameter, defaults filled in, and the seed).
        result: the :class:`PointResult`, or ``None`` when the point failed.
        error: the one-line error of a failed point (``None`` when it succeeded).
        seconds: wall time of the computation.
    """

    key: str
    config: Mapping[str, Any]
    result: PointResult | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the point succeeded."""
        return self.error is None and self.result is not None


def as_arrays(arrays: Mapping[str, Any]) -> dict[str, NDArray[Any]]:
    """Arrays as NumPy arrays (helper for computations building a :class:`PointResult`)."""
    return {k: np.asarray(v) for k, v in arrays.items()}
