r"""Discrete-time training as domain objects: the optimizer and the recording schedule.

:class:`Optimizer` says how one step is taken (step size, momentum, weight decay, full batch or
minibatches), :class:`Record` which steps are kept. Together with a
:class:`~featmech.theory.config.Hyper` and an init they are all that
:func:`featmech.theory.simulate.simulate` needs.

>>> opt = Optimizer(lr=0.1, momentum=0.9)
>>> float(opt.lr), opt.stochastic, opt.shape
(0.1, False, ())
>>> Record(every=4).steps(10).tolist()
[0, 4, 8, 10]
>>> Optimizer(lr=0.1, momentum=1.0)
Traceback (most recent call last):
...
featmech.errors.InputError: momentum must be in [0, 1), got 1
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech._validation import all_real, check_array, check_scalar
from featmech.errors import InputError
from featmech.params import PARAMETERS
from featmech.theory.config import F, plain, readonly

__all__ = ["Optimizer", "Record"]

_ARRAY_FIELDS = ("lr", "momentum", "weight_decay", "noise")


@dataclass(frozen=True)
class Optimizer:
    r"""Discrete-time training with PyTorch's SGD conventions, one step of size ``lr``:

    .. math::
        g_\theta = \nabla_\theta L_t + \mathrm{wd}\,\theta,\quad
        m_\theta \leftarrow \mu\, m_\theta + g_\theta,\quad \theta \leftarrow \theta - \mathrm{lr}\,\eta_\theta\, m_\theta

    for θ = u and θ = w simultaneously, with :math:`L_t = \tfrac12 V_t(\kappa\,u\cdot w - k_t)^2` the
    batch loss (one GD step of size ``lr`` advances gradient-flow time by ``lr``). Full-batch GD has
    :math:`V_t = V`, :math:`k_t = k`; minibatch SGD draws the batch moments exactly
    (:func:`featmech.theory.simulate.batch_moments`).

    Attributes:
        lr: step size ``> 0``; an array gives a batch of configurations (as do ``momentum``,
            ``weight_decay`` and ``noise``: all broadcast with the init and the hyperparameters).
        momentum: heavy-ball μ in ``[0, 1)``.
        weight_decay: L2 coefficient ``>= 0`` added to the gradient.
        batch_size: ``None`` for full-batch GD; otherwise minibatch SGD with exact batch moments.
        noise: label-noise std of the SGD data model y = kx + ε, ε ~ N(0, noise²) (needs ``batch_size``).
        seed: the seed of the batch moments.
        moments: optional per-step ``(V_t, k_t)`` arrays replaying a given batch sequence, each of
            shape ``(steps,)`` or ``batch_shape + (steps,)``.
        divergence_factor: a run has diverged once its population residual κp − k exceeds this
            times ``max(|r0|, |k|)`` (or is not finite).

    Raises:
        InputError: a value outside its range or of the wrong type, ``noise`` without
            ``batch_size``, or both ``moments`` and ``batch_size``.
    """

    lr: F
    momentum: F = 0.0  # type: ignore[assignment]
    weight_decay: F = 0.0  # type: ignore[assignment]
    batch_size: int | None = None
    noise: F = 0.0  # type: ignore[assignment]
    seed: int = 0
    moments: tuple[F, F] | None = None
    divergence_factor: float = 1e8

    if TYPE_CHECKING:  # what the constructor takes (numbers or arrays); the fields hold arrays
        def __init__(self, lr: ArrayLike, momentum: ArrayLike = 0.0, weight_decay: ArrayLike = 0.0,
                     batch_size: int | None = None, noise: ArrayLike = 0.0, seed: int = 0,
                     moments: tuple[ArrayLike, ArrayLike] | None = None, divergence_factor: float = 1e8) -> None: ...

    def __post_init__(self) -> None:
        if self.lr is None:
            raise InputError(f"lr must be given (a step size in {PARAMETERS['lr'].range_text})")
        _set(self, "lr", readonly(_real_array("lr", self.lr, low=0.0, low_inclusive=False)))
        mom = _real_array("momentum", self.momentum, low=0.0, high=1.0)
        if np.any(mom >= 1.0):
            raise InputError(f"momentum must be in [0, 1), got {mom[mom >= 1.0].ravel()[0]:g}")
        _set(self, "momentum", readonly(mom))
        _set(self, "weight_decay", readonly(_real_array("weight_decay", self.weight_decay, low=0.0)))
        noise = _real_array("noise", self.noise, low=0.0)
        _set(self, "noise", readonly(noise))
        _set(self, "batch_size", PARAMETERS["batch_size"].check(self.batch_size))
        _set(self, "seed", PARAMETERS["seed"].check(self.seed))
        if isinstance(self.divergence_factor, (bool, np.bool_)):
            raise InputError(f"divergence_factor must be a real number, got {self.divergence_factor!r}")
        _set(self, "divergence_factor",
             check_scalar("divergence_factor", self.divergence_factor, low=1.0, low_inclusive=False))
        if self.moments is not None:
            if self.batch_size is not None:
                raise InputError("give either moments (a batch sequence to replay) or batch_size (draw one), "
                                 "not both")
            _set(self, "moments", _check_moments(self.moments))
        if self.batch_size is None and np.any(noise > 0):
            raise InputError("noise needs batch_size (label noise only enters through minibatches)")

    @property
    def stochastic(self) -> bool:
        """True for minibatch SGD (given moments or a batch size)."""
        return self.moments is not None or self.batch_size is not None

    @property
    def shape(self) -> tuple[int, ...]:
        """The batch shape of ``lr``, ``momentum``, ``weight_decay`` and ``noise``."""
        return np.broadcast_shapes(*(getattr(self, n).shape for n in _ARRAY_FIELDS))

    def replace(self, **changes: Any) -> "Optimizer":
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers (0-d) or arrays, by field name (``moments`` as the pair of arrays or ``None``)."""
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class Record:
    """Which steps a simulation records: 0, every ``every``-th step, and the last one.

    Attributes:
        every: the recording interval, an integer ``>= 1``; ``None`` picks ``max(1, steps // 100)``
            (about a hundred records, the command line's default).

    Raises:
        InputError: ``every`` is not an integer ``>= 1`` (nor ``None``).
    """

    every: int | None = 1

    def __post_init__(self) -> None:
        _set(self, "every", PARAMETERS["every"].check(self.every))

    def interval(self, steps: int) -> int:
        """The recording interval for a run of ``steps`` steps (resolving ``every=None``).

        >>> Record(None).interval(1000), Record(7).interval(1000)
        (10, 7)
        """
        return self.every if self.every is not None else max(1, int(steps) // 100)

    def steps(self, steps: int) -> NDArray[np.int64]:
        """The recorded step numbers (read-only) for a run of ``steps`` steps."""
        every = self.interval(steps)
        rec = np.arange(0, steps + 1, every, dtype=np.int64)
        if rec[-1] != steps:
            rec = np.append(rec, np.int64(steps))
        return readonly(rec, np.int64)


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _real_array(name: str, value: Any, **limits: Any) -> F:
    """check_array that also refuses booleans and complex numbers (type slips, not numbers)."""
    kind = np.asarray(value).dtype.kind if not isinstance(value, (str, bytes)) else "U"
    if kind in "bcUSO" and not (kind == "O" and all_real(value)):
        raise InputError(f"{name} must be a real number (or an array of them), got {value!r}")
    arr = check_array(name, value, **limits)
    return arr.copy() if arr is value else arr  # never freeze the caller's own array


def _check_moments(moments: Any) -> tuple[F, F]:
    try:
        vt_raw, kt_raw = moments
    except (TypeError, ValueError):
        raise InputError("moments must be a pair of arrays (V_t, k_t)") from None
    vt = _finite_array("moments V_t", vt_raw)
    kt = _finite_array("moments k_t", kt_raw)
    if vt.ndim == 0 or kt.ndim == 0:
        raise InputError("moments: V_t and k_t must be arrays with the steps on the last axis")
    if np.any(vt < 0):
        raise InputError("moments: the batch variances V_t must be >= 0")
    try:
        np.broadcast_shapes(vt.shape, kt.shape)
    except ValueError:
        raise InputError(f"moments: V_t and k_t shapes {vt.shape} and {kt.shape} do not broadcast") from None
    return readonly(vt), readonly(kt)


def _finite_array(name: str, value: Any) -> F:
    """A finite real array, with a short message (no array repr) when it is not."""
    raw = np.asarray(value)
    if raw.dtype.kind not in "iuf":
        raise InputError(f"{name} must be an array of real numbers, got dtype {raw.dtype}")
    arr = np.array(raw, dtype=np.float64)  # a copy: never freeze the caller's own array
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be finite")
    return arr
