"""Discrete-time training as domain objects: the optimizer and the recording schedule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from featmech._validation import check_array, check_int, check_scalar
from featmech.errors import InputError
from featmech.theory.config import F, readonly

__all__ = ["Optimizer", "Record"]


@dataclass(frozen=True)
class Optimizer:
    r"""Discrete-time training with PyTorch's SGD conventions, one step of size ``lr``:

    .. math::
        g_\theta = \nabla_\theta L_t + \mathrm{wd}\,\theta,\quad
        m_\theta \leftarrow \mu\, m_\theta + g_\theta,\quad \theta \leftarrow \theta - \mathrm{lr}\,\eta_\theta\, m_\theta

    (one GD step of size ``lr`` advances gradient-flow time by ``lr``).

    Attributes:
        lr: step size ``> 0`` (an array gives a batch of configurations).
        momentum: heavy-ball μ in ``[0, 1)``.
        weight_decay: L2 coefficient ``>= 0`` added to the gradient.
        batch_size: ``None`` for full-batch GD; otherwise minibatch SGD with exact batch moments.
        noise: label-noise std of the SGD data model (needs ``batch_size``).
        seed: the seed of the batch moments.
        moments: optional per-step ``(V_t, k_t)`` arrays replaying a given batch sequence.
        divergence_factor: a run has diverged once its residual exceeds this times
            ``max(|r0|, |k|)`` (or is not finite).

    Raises:
        InputError: a value outside its range, or ``noise`` without ``batch_size``.
    """

    lr: F
    momentum: F = 0.0  # type: ignore[assignment]
    weight_decay: F = 0.0  # type: ignore[assignment]
    batch_size: int | None = None
    noise: F = 0.0  # type: ignore[assignment]
    seed: int = 0
    moments: tuple[F, F] | None = None
    divergence_factor: float = 1e8

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", readonly(check_array("lr", self.lr, low=0.0, low_inclusive=False)))
        mom = check_array("momentum", self.momentum, low=0.0, high=1.0)
        if np.any(mom >= 1.0):
            raise InputError("momentum must be in [0, 1)")
        object.__setattr__(self, "momentum", readonly(mom))
        object.__setattr__(self, "weight_decay", readonly(check_array("weight_decay", self.weight_decay, low=0.0)))
        noise = check_array("noise", self.noise, low=0.0)
        if self.batch_size is not None:
            object.__setattr__(self, "batch_size", check_int("batch_size", self.batch_size, low=1))
        elif np.any(noise > 0) and self.moments is None:
            raise InputError("noise needs batch_size (label noise only enters through minibatches)")
        object.__setattr__(self, "noise", readonly(noise))
        object.__setattr__(self, "seed", check_int("seed", self.seed, low=0))
        object.__setattr__(self, "divergence_factor", check_scalar("divergence_factor", self.divergence_factor, low=1.0,
                                                     low_inclusive=False))
        if self.moments is not None:
            if len(self.moments) != 2:
                raise InputError("moments must be a pair of arrays (V_t, k_t)")
            vt = np.asarray(self.moments[0], dtype=np.float64)
            kt = np.asarray(self.moments[1], dtype=np.float64)
            if not (np.all(np.isfinite(vt)) and np.all(np.isfinite(kt))):
                raise InputError("moments must be finite")
            if np.any(vt < 0):
                raise InputError("moments: the batch variances V_t must be >= 0")
            object.__setattr__(self, "moments", (readonly(vt), readonly(kt)))

    @property
    def stochastic(self) -> bool:
        """True for minibatch SGD (given moments or a batch size)."""
        return self.moments is not None or self.batch_size is not None


@dataclass(frozen=True)
class Record:
    """Which steps a simulation records: 0, every ``every``-th step, and the last one.

    Raises:
        InputError: ``every`` is not an integer ``>= 1``.
    """

    every: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "every", check_int("every", self.every, low=1))

    def steps(self, steps: int) -> NDArray[np.int64]:
        """The recorded step numbers for a run of ``steps`` steps."""
        rec = np.arange(0, steps + 1, self.every, dtype=np.int64)
        if rec[-1] != steps:
            rec = np.append(rec, steps)
        return readonly(rec, np.int64)
