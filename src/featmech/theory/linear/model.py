r"""The data moments and hyperparameters of the two-layer linear network, and its observables (docs/theory.md §8).

Model: f(x) = κ U W x, U ∈ ℝ^{c×d}, W ∈ ℝ^{d×m}, V = UW; data moments Σ = E[xxᵀ] (m×m),
B = E[xyᵀ] (m×c), E|y|² (optional). Loss and its gradient in V:

.. math::
    L = \tfrac12\kappa^2\operatorname{tr}(V\Sigma V^\top) - \kappa\operatorname{tr}(VB) + \tfrac12 E|y|^2,\qquad
    G = \partial L/\partial V = \kappa(\kappa V\Sigma - B^\top).

Observables of weights (U, W) — identical for the full weights and the reduced ones (Ũ, W̃), since
they are invariant under rotations of the hidden space:

- ``product`` κUW (c×m); ``loss`` L (without ½E|y|² when it is not given);
- ``ntk_trace`` κ²[η_u c tr(WΣWᵀ) + η_w ‖U‖²_F tr Σ]: the trace over outputs of the NTK
  K_ab(x, x') = κ²[η_u δ_ab (Wx)·(Wx') + η_w (UUᵀ)_ab x·x'], averaged over the data (E_x Σ_a K_aa(x, x));
- ``alignment`` ζ = ‖UW‖_F/(‖U‖_F‖W‖_F) ∈ [0, 1] (0 where a layer is zero);
- ``norm_u`` ‖U‖_F, ``norm_w`` ‖W‖_F;
- ``conserved``: the eigenvalues (ascending) of η_w ŨᵀŨ − η_u W̃W̃ᵀ (r×r), the conserved matrix
  η_w UᵀU − η_u WWᵀ restricted to the span S (its other d − r eigenvalues are 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech._validation import check_real
from featmech.errors import InputError
from featmech.params import PARAMETERS
from featmech.theory.config import readonly

__all__ = ["Problem", "LinearState", "observables", "check_moments", "check_hyper"]

F = NDArray[np.float64]


def _matrix(name: str, value: Any, shape: tuple[int, int]) -> F:
    a = check_real(name, value)
    if a.shape != shape:
        raise InputError(f"{name} must have shape {shape}, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name} must be finite")
    return np.array(a, dtype=np.float64)


def check_moments(sigma_xx: Any, sigma_xy: Any, sigma_yy: Any, c: int, m: int) -> tuple[F, F, float | None]:
    """Validate the data moments: Σ (m×m, symmetric PSD), B (m×c), E|y|² (a number, or a c×c PSD matrix
    E[yyᵀ] whose trace is used) with ½E|y|² ≥ the least loss ½tr(BᵀΣ⁺B) (1e-9 relative slack).

    Returns:
        ``(Σ, B, E|y|² or None)`` (Σ symmetrized).

    Raises:
        InputError: naming the moment that is wrong.
    """
    S = _matrix("sigma_xx", sigma_xx, (m, m))
    scale = float(np.max(np.abs(S)))
    if np.max(np.abs(S - S.T)) > 1e-12 * scale:
        raise InputError("sigma_xx must be symmetric (E[x xᵀ]; to 1e-12 relative)")
    S = 0.5 * (S + S.T)
    if scale > 0 and float(np.linalg.eigvalsh(S / scale)[0]) < -1e-10:
        raise InputError("sigma_xx must be positive semi-definite (E[x xᵀ])")
    B = _matrix("sigma_xy", sigma_xy, (m, c))
    if sigma_yy is None:
        return S, B, None
    yy_raw = check_real("sigma_yy", sigma_yy)
    if yy_raw.ndim == 2:
        yy_m = _matrix("sigma_yy", yy_raw, (c, c))
        if float(np.linalg.eigvalsh(0.5 * (yy_m + yy_m.T))[0]) < -1e-10 * max(float(np.max(np.abs(yy_m))), 1e-300):
            raise InputError("sigma_yy must be positive semi-definite (E[y yᵀ])")
        yy = float(np.trace(yy_m))
    elif yy_raw.ndim == 0:
        yy = float(yy_raw)
        if not math.isfinite(yy) or yy < 0:
            raise InputError(f"sigma_yy must be a finite number >= 0 (E|y|²), got {yy!r}")
    else:
        raise InputError(f"sigma_yy must be a number E|y|² or a ({c}, {c}) matrix E[y yᵀ], got shape {yy_raw.shape}")
    least = float(np.sum(B * (np.linalg.pinv(S, hermitian=True) @ B))) if scale > 0 else 0.0
    if yy < least * (1 - 1e-9) - 1e-300:
        raise InputError(f"sigma_yy = {yy:g} is below tr(BᵀΣ⁺B) = {least:g}: the moments are not those of any data")
    return S, B, yy


def check_hyper(eta_u: Any, eta_w: Any, kappa: Any) -> tuple[float, float, float]:
    """η_u, η_w ≥ 0 (0 freezes that layer, as in the one-dimensional engine) and κ ≥ 0, finite real numbers
    (InputError naming the parameter and its range ``[0, inf)`` otherwise)."""
    return (float(PARAMETERS["eta_u"].check(eta_u)), float(PARAMETERS["eta_w"].check(eta_w)),
            float(PARAMETERS["kappa"].check(kappa)))


@dataclass(frozen=True)
class Problem:
    """Validated moments and hyperparameters (Σ, B, E|y|² or None, η_u, η_w, κ) of one problem."""

    sigma_xx: F
    sigma_xy: F
    sigma_yy: float | None
    eta_u: float
    eta_w: float
    kappa: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma_xx", readonly(self.sigma_xx))
        object.__setattr__(self, "sigma_xy", readonly(self.sigma_xy))

    @property
    def c(self) -> int:
        return int(self.sigma_xy.shape[1])

    @property
    def m(self) -> int:
        return int(self.sigma_xy.shape[0])


@dataclass(frozen=True)
class LinearState:
    r"""Observables of the network at times (or steps) ``t``; every array has leading shape ``t.shape``.

    Attributes:
        t: the times.
        product: κUW, shape ``t.shape + (c, m)``.
        loss: ½κ²tr(VΣVᵀ) − κtr(VB) + ½E|y|² (the last term only when ``sigma_yy`` was given).
        ntk_trace: κ²[η_u c tr(WΣWᵀ) + η_w ‖U‖²_F tr Σ].
        alignment: ζ = ‖UW‖_F/(‖U‖_F‖W‖_F) (0 where a layer is zero).
        norm_u, norm_w: ‖U‖_F, ‖W‖_F.
        conserved: eigenvalues (ascending) of η_w ŨᵀŨ − η_u W̃W̃ᵀ, shape ``t.shape + (r,)``.
    """

    t: F
    product: F
    loss: F
    ntk_trace: F
    alignment: F
    norm_u: F
    norm_w: F
    conserved: F

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, readonly(getattr(self, f.name)))

    def as_dict(self) -> dict[str, F]:
        """The fields by name (read-only arrays)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def observables(t: ArrayLike, U: F, W: F, prob: Problem, *, conserved: bool = True) -> LinearState:
    """The :class:`LinearState` of weights ``U`` (..., c, r) and ``W`` (..., r, m) at times ``t`` (shape ...)."""
    k, S, B = prob.kappa, prob.sigma_xx, prob.sigma_xy
    c = U.shape[-2]
    V = U @ W
    VS = V @ S
    with np.errstate(over="ignore", invalid="ignore"):
        quad = np.sum(VS * V, axis=(-2, -1))
        lin = np.sum(V * B.T, axis=(-2, -1))
        loss = 0.5 * k * k * quad - k * lin + (0.5 * prob.sigma_yy if prob.sigma_yy is not None else 0.0)
        if prob.sigma_yy is not None:  # L ≥ 0 with E|y|² (validated ≥ the least loss): no rounding below 0
            loss = np.maximum(loss, 0.0)
        nu = np.sqrt(np.sum(U * U, axis=(-2, -1)))
        nw = np.sqrt(np.sum(W * W, axis=(-2, -1)))
        nv = np.sqrt(np.sum(V * V, axis=(-2, -1)))
        wsw = np.sum((W @ S) * W, axis=(-2, -1))
        ntk = k * k * (prob.eta_u * c * wsw + prob.eta_w * nu * nu * float(np.trace(S)))
        den = nu * nw
        zeta = np.where(den > 0, nv / np.where(den > 0, den, 1.0), 0.0)
    if conserved:
        Cm = prob.eta_w * np.swapaxes(U, -1, -2) @ U - prob.eta_u * W @ np.swapaxes(W, -1, -2)
        ev = np.linalg.eigvalsh(Cm) if np.all(np.isfinite(Cm)) else np.full(Cm.shape[:-1], np.nan)
    else:
        ev = np.full(U.shape[:-2] + (U.shape[-1],), np.nan)
    return LinearState(np.asarray(t, dtype=np.float64), k * V, loss, ntk, np.minimum(zeta, 1.0), nu, nw, ev)
