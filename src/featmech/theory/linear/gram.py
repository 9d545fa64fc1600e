r"""The Gram matrix of a two-layer linear network's init, and the exact width reduction (docs/theory.md §8).

For U ∈ ℝ^{c×d}, W ∈ ℝ^{d×m} let M₀ = [U₀ᵀ, W₀] ∈ ℝ^{d×(c+m)} and H = M₀ᵀM₀ its (c+m)×(c+m)
Gram matrix. Any factor R ∈ ℝ^{r×(c+m)} with RᵀR = H gives the reduced init

.. math::
    \tilde U_0 = R_{:, :c}^\top \in \mathbb R^{c\times r},\qquad \tilde W_0 = R_{:, c:} \in \mathbb R^{r\times m},

a network of width r ≤ c+m whose training (gradient flow, GD, SGD, momentum, weight decay) is that
of the width-d network up to a rotation of ℝᵈ, which no observable sees.

For iid Gaussian weights (U entries N(0, σ_u²), W entries N(0, σ_w²)), H is Wishart with d degrees of
freedom and scale diag(σ_u² I_c, σ_w² I_m); :func:`sample_gram` draws it exactly (Bartlett) at any width
up to 10¹⁵ and keeps the triangular factor, so that nothing is lost by re-factoring.

>>> g = sample_gram(10**12, c=2, m=3, seed=0)
>>> g.H.shape, g.factor.shape, g.width
((5, 5), (5, 5), 1000000000000)
>>> u, w = reduce(np.ones((2, 7)), np.ones((7, 3)))
>>> u.shape, w.shape
((2, 5), (5, 3))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech._validation import check_int, check_real
from featmech.errors import InputError
from featmech.params import PARAMETERS
from featmech.theory.config import readonly

__all__ = ["LinearGram", "sample_gram", "gram_of", "reduce", "check_weights", "MAX_WIDTH"]

F = NDArray[np.float64]

#: the largest width the sampler takes (as for the one-dimensional sampler)
MAX_WIDTH = 10**15


@dataclass(frozen=True)
class LinearGram:
    r"""The Gram matrix of an init of the two-layer linear network: all the training sees of it.

    Attributes:
        H: the (c+m)×(c+m) Gram matrix of M₀ = [U₀ᵀ, W₀]: ``H[:c, :c] = U₀U₀ᵀ``,
            ``H[:c, c:] = U₀W₀``, ``H[c:, c:] = W₀ᵀW₀`` (read-only).
        width: d, the width it was made at (information: the dynamics never use it).
        c: the number of outputs; m: the number of inputs.
        factor: R, r×(c+m) with RᵀR = H (r ≤ c+m; read-only): the reduced init is
            ``Ũ₀ = factor[:, :c].T``, ``W̃₀ = factor[:, c:]`` (:meth:`reduced`).

    Build it with :func:`sample_gram` (iid Gaussian, any width), :func:`gram_of` (given weights) or
    :meth:`from_matrix` (a given H: factored by Cholesky, or by the eigen-decomposition when H is
    singular).
    """

    H: F
    width: int
    c: int
    m: int
    factor: F

    def __post_init__(self) -> None:
        object.__setattr__(self, "H", readonly(self.H))
        object.__setattr__(self, "factor", readonly(self.factor))

    @classmethod
    def from_matrix(cls, H: ArrayLike, *, c: int, m: int, width: int | None = None) -> "LinearGram":
        """A Gram matrix given as a symmetric positive semi-definite (c+m)×(c+m) array.

        Arguments:
            H: the matrix (symmetric to 1e-12 relative; eigenvalues ``>= -1e-12·max|H|``).
            c, m: outputs and inputs (``c + m`` = the size of H).
            width: the width it stands for (``None``: its rank, the smallest width that has it).

        Returns:
            The :class:`LinearGram` (its factor from Cholesky, or from ``eigh`` if H is singular).

        Raises:
            InputError: a shape, symmetry, definiteness or range violation.
        """
        c = check_int("c", c, low=1)
        m = check_int("m", m, low=1)
        h = _square("H", H, c + m)
        R = _factor(h)
        d = R.shape[0] if width is None else PARAMETERS["width"].check(width)
        return cls(h, d, c, m, R)

    @property
    def rank(self) -> int:
        """r, the number of rows of the factor (the reduced width)."""
        return int(self.factor.shape[0])

    def reduced(self) -> tuple[F, F]:
        """The reduced init ``(Ũ₀, W̃₀)``: shapes (c, r) and (r, m) (fresh writable arrays)."""
        R = np.array(self.factor)
        return np.ascontiguousarray(R[:, : self.c].T), np.ascontiguousarray(R[:, self.c:])


def check_weights(U0: ArrayLike, W0: ArrayLike) -> tuple[F, F]:
    """Validate the weights of the network: U0 (c×d) and W0 (d×m), real, finite, same d.

    Raises:
        InputError: a type slip, a non-finite entry, a wrong number of axes or mismatched widths.
    """
    U = check_real("U0", U0)
    W = check_real("W0", W0)
    for name, a in (("U0", U), ("W0", W)):
        if a.ndim != 2 or a.size == 0:
            raise InputError(f"{name} must be a non-empty 2-D array (U0: outputs × width, W0: width × inputs), "
                             f"got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise InputError(f"{name} must be finite")
    if U.shape[1] != W.shape[0]:
        raise InputError(f"U0 (c×d) and W0 (d×m) must share the width d: got U0 {U.shape} and W0 {W.shape}")
    return U, W


def reduce(U0: ArrayLike, W0: ArrayLike) -> tuple[F, F]:
    r"""The exact reduction of given weights to width r = min(d, c+m): ``(Ũ₀, W̃₀)``.

    M₀ = [U₀ᵀ, W₀] = QR: U₀ = Ũ₀Qᵀ and W₀ = QW̃₀ with Q's orthonormal columns spanning
    span{rows of U₀, columns of W₀} (when the rank is below r the extra rows of R are zero, which is
    exact too). Training of (Ũ, W̃) is that of (U, W) mapped by Q (docs/theory.md §8).

    Arguments:
        U0: c×d; W0: d×m.

    Returns:
        ``(Ũ₀, W̃₀)`` of shapes (c, r), (r, m).

    Raises:
        InputError: invalid weights (see :func:`check_weights`).
    """
    U, W = check_weights(U0, W0)
    R = _qr_factor(U, W)
    c = U.shape[0]
    return np.ascontiguousarray(R[:, :c].T), np.ascontiguousarray(R[:, c:])


#: the Gram route of :func:`_qr_factor` is taken when the columns' correlation matrix has a Cholesky
#: factor whose smallest pivot is at least this (its condition number is then below ~c+m / 0.01)
_CHOLESKY_MIN_PIVOT = 0.1


def _qr_factor(U: F, W: F) -> F:
    """R (r×(c+m), RᵀR = M₀ᵀM₀) of M₀ = [U₀ᵀ, W₀].

    A tall M₀ (d ≥ 4(c+m)) is factored through its Gram matrix: one matrix product M₀ᵀM₀ (about ten
    times faster than a Householder QR of a d×(c+m) matrix), scaled to the correlation matrix
    C = D⁻¹HD⁻¹ (D the column norms) and Cholesky-factored; the result is accurate to ~ε·cond(C) relative
    to the column norms, so it is used only when C's smallest Cholesky pivot is ≥ 0.1 (cond(C) ≲ 10⁴,
    the case of random inits at width d ≫ c+m). Otherwise — nearly dependent or very unequal columns,
    short M₀ — Householder QR (accurate to ε).
    """
    c, d = U.shape
    m = W.shape[1]
    p = c + m
    scale = max(float(np.max(np.abs(U))), float(np.max(np.abs(W))))
    if scale == 0.0:
        return np.zeros((min(d, p), p))
    if d >= 4 * p and 1e-100 < scale < 1e100:  # the squares neither overflow nor lose whole columns
        H = np.empty((p, p))
        H[:c, :c] = U @ U.T
        H[:c, c:] = U @ W
        H[c:, :c] = H[:c, c:].T
        H[c:, c:] = W.T @ W  # a symmetric rank-k update (syrk) in NumPy
        dg = np.sqrt(np.diag(H))
        if np.all(dg > 1e-150):
            try:
                L = np.linalg.cholesky(H / np.outer(dg, dg))
                if float(np.min(np.diag(L))) >= _CHOLESKY_MIN_PIVOT:
                    return np.asarray(L.T * dg, dtype=np.float64)
            except np.linalg.LinAlgError:
                pass
    Ms = np.concatenate([U.T, W], axis=1) / scale  # scaled: no overflow of the squares inside
    R = np.linalg.qr(Ms, mode="r") * scale
    return np.asarray(R, dtype=np.float64)


def gram_of(U0: ArrayLike, W0: ArrayLike) -> LinearGram:
    """The :class:`LinearGram` of given weights (factor R of [U₀ᵀ, W₀] = QR, by Householder QR or, for a
    tall well-conditioned one, through its Gram matrix; H = RᵀR).

    >>> g = gram_of(np.eye(2, 4), np.eye(4, 3))
    >>> g.c, g.m, g.width, float(g.H[0, 2])
    (2, 3, 4, 1.0)
    """
    U, W = check_weights(U0, W0)
    R = _qr_factor(U, W)
    with np.errstate(over="ignore"):
        H = R.T @ R
    if not np.all(np.isfinite(H)):
        raise InputError("U0, W0 out of float64 range: their Gram matrix overflows (entries beyond 1.8e308)")
    return LinearGram(H, U.shape[1], U.shape[0], W.shape[1], R)


def sample_gram(width: Any, *, c: int, m: int, sigma_u: float = 1.0, sigma_w: float = 1.0,
                seed: int = 0) -> LinearGram:
    r"""Exact sample of the Gram matrix of an iid Gaussian init, at any width up to 10¹⁵.

    U entries N(0, σ_u²), W entries N(0, σ_w²) (the conventions of
    :func:`featmech.theory.inits.iid_gaussian` with ρ = 0). H = M₀ᵀM₀ is Wishart W_p(d, LLᵀ) with
    p = c+m, L = diag(σ_u·1_c, σ_w·1_m). For d ≥ p, Bartlett: H = L A Aᵀ Lᵀ with A lower-triangular,
    A_ii = √χ²_{d−i+1} (i = 1..p), A_ij ~ N(0, 1) for i > j, all independent; the factor is
    R = AᵀL (upper-triangular, RᵀR = H), cost O(p²) whatever d. For d < p (H has rank d) the
    d×p matrix M₀ is drawn itself and factored by QR. Both are exact in distribution.

    Range: entries of H are about d·σ²; d·max(σ_u, σ_w)² must stay below ~1e300 (refused otherwise).

    Arguments:
        width: d, an integer in [1, 1e15].
        c, m: outputs and inputs, integers ``>= 1`` (c + m ≤ 10⁴).
        sigma_u, sigma_w: the standard deviations, ``>= 0``.
        seed: the random seed.

    Returns:
        A :class:`LinearGram` with its triangular factor.

    Raises:
        InputError: a value out of range or of the wrong type.
    """
    d = PARAMETERS["width"].check(width)
    c = check_int("c", c, low=1, high=10**4)
    m = check_int("m", m, low=1, high=10**4)
    if c + m > 10**4:
        raise InputError(f"c + m must be at most 10000, got {c + m}")
    su = PARAMETERS["sigma_u"].check(sigma_u)
    sw = PARAMETERS["sigma_w"].check(sigma_w)
    rng = np.random.default_rng(PARAMETERS["seed"].check(seed))
    p = c + m
    sig = np.concatenate([np.full(c, su), np.full(m, sw)])
    big = max(su, sw)
    if big > 0 and math.log10(d) + 2.0 * math.log10(big) > 300.0:  # in logs: d·σ² itself may overflow
        raise InputError(f"parameters out of float64 range: width·σ² = 1e{math.log10(d) + 2 * math.log10(big):.1f} "
                         "exceeds 1e300")
    if d < p:
        M = rng.standard_normal((d, p)) * sig
        R = np.linalg.qr(M, mode="r")
    else:
        A = np.zeros((p, p))
        dof = d - np.arange(p)  # d − i + 1 for i = 1..p
        A[np.diag_indices(p)] = np.sqrt(rng.chisquare(dof.astype(np.float64)))
        low = np.tril_indices(p, -1)
        A[low] = rng.standard_normal(len(low[0]))
        R = A.T * sig  # Aᵀ L
    H = R.T @ R
    return LinearGram(H, d, c, m, np.asarray(R, dtype=np.float64))


def _square(name: str, value: Any, n: int) -> F:
    a = check_real(name, value)
    if a.shape != (n, n):
        raise InputError(f"{name} must have shape ({n}, {n}), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name} must be finite")
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    if np.max(np.abs(a - a.T), initial=0.0) > 1e-12 * scale:
        raise InputError(f"{name} must be symmetric (to 1e-12 relative)")
    a = 0.5 * (a + a.T)
    if scale > 0 and float(np.linalg.eigvalsh(a / scale)[0]) < -1e-12 * math.sqrt(n):
        raise InputError(f"{name} must be positive semi-definite")
    return a


def _factor(h: F) -> F:
    """R with RᵀR = h: Cholesky when h is positive definite, else from the eigen-decomposition."""
    scale = float(np.max(np.abs(h)))
    if scale == 0.0:
        return np.zeros((0, h.shape[0]))
    try:
        Lc = np.linalg.cholesky(h / scale)
        if np.min(np.diag(Lc)) > 1e-7:
            return Lc.T * math.sqrt(scale)
    except np.linalg.LinAlgError:
        pass
    lam, vec = np.linalg.eigh(h / scale)
    keep = lam > 1e-14 * lam[-1]
    return (np.sqrt(lam[keep])[:, None] * vec[:, keep].T) * math.sqrt(scale)
