r"""Initializations of the two layers, as vectors or as exact Gram statistics.

Conventions: ``u`` is the output layer, ``w`` the hidden layer, both of length ``width``.
iid Gaussian init draws :math:`(u_i, w_i)` jointly Gaussian with standard deviations
:math:`(\sigma_u, \sigma_w)` and correlation :math:`\rho`.
"""

from __future__ import annotations

import math
import os
import zipfile
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech._validation import check_array, check_int, check_scalar
from featmech.errors import InputError
from featmech.theory.config import Gram, check_vectors

__all__ = ["iid_gaussian", "aligned", "load_npz", "save_npz", "sample_gram"]

F = NDArray[np.float64]
MAX_VECTOR_WIDTH = 50_000_000


def _check_common(width: Any, sigma_u: Any, sigma_w: Any, rho: Any, seed: Any,
                  max_width: int | None = None) -> tuple[int, float, float, float, int]:
    d = check_int("width", width, low=1, high=max_width)
    su = check_scalar("sigma_u", sigma_u, low=0.0)
    sw = check_scalar("sigma_w", sigma_w, low=0.0)
    r = check_scalar("rho", rho, low=-1.0, high=1.0)
    sd = check_int("seed", seed, low=0)
    return d, su, sw, r, sd


def iid_gaussian(width: int, sigma_u: float = 1.0, sigma_w: float = 1.0, *, rho: float = 0.0,
                 seed: int = 0) -> tuple[F, F]:
    """Vectors with u_i ~ N(0, σ_u²), w_i ~ N(0, σ_w²) iid over i, corr(u_i, w_i) = ρ.

    Built as u = σ_u z₁, w = σ_w (ρ z₁ + √(1−ρ²) z₂) with z₁, z₂ standard normal vectors.
    """
    d, su, sw, r, sd = _check_common(width, sigma_u, sigma_w, rho, seed, MAX_VECTOR_WIDTH)
    rng = np.random.default_rng(sd)
    z1 = rng.standard_normal(d)
    z2 = rng.standard_normal(d)
    return su * z1, sw * (r * z1 + math.sqrt(max(1.0 - r * r, 0.0)) * z2)


def aligned(width: int, scale: float = 1.0, *, eta_u: float = 1.0, eta_w: float = 1.0,
            seed: int = 0) -> tuple[F, F]:
    """Aligned, balanced init: u0/√η_u = w0/√η_w = scale · v̂ for a random unit vector v̂.

    The anti-aligned mode b = u0/√η_u − w0/√η_w is exactly zero, so gradient flow follows
    Saxe's logistic curve p(t) = (k/κ) / (1 + (k/(κ p0) − 1) e^{−2 s V κ k t}), s = √(η_u η_w).
    """
    d = check_int("width", width, low=1, high=MAX_VECTOR_WIDTH)
    sc = check_scalar("scale", scale, low=0.0)
    eu = check_scalar("eta_u", eta_u, low=0.0, low_inclusive=False)
    ew = check_scalar("eta_w", eta_w, low=0.0, low_inclusive=False)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    v = rng.standard_normal(d)
    v /= np.linalg.norm(v)
    return math.sqrt(eu) * sc * v, math.sqrt(ew) * sc * v


def sample_gram(width: ArrayLike, sigma_u: ArrayLike = 1.0, sigma_w: ArrayLike = 1.0, *,
                rho: ArrayLike = 0.0, seed: int = 0, size: int | tuple[int, ...] | None = None,
                orthogonal: bool = False) -> Gram:
    r"""Exact sample of the Gram statistics of :func:`iid_gaussian` without building vectors.

    (u, w) spans a 2×2 Wishart matrix; by the Bartlett decomposition, in a basis whose first
    axis is z₁, z₁ = (t₁₁, 0) and z₂ = (t₂₁, t₂₂) with t₁₁² ~ χ²_d, t₂₂² ~ χ²_{d−1},
    t₂₁ ~ N(0, 1) independent. Hence |u|² = σ_u² t₁₁², u·w = σ_u t₁₁ (ρσ_w t₁₁ + σ_w√(1−ρ²) t₂₁),
    |w|² = (ρσ_w t₁₁ + σ_w√(1−ρ²) t₂₁)² + σ_w²(1−ρ²) t₂₂², and the area |u∧w| = σ_uσ_w√(1−ρ²) t₁₁t₂₂,
    all exact in distribution at O(1) cost for any width (up to 1e15).

    ``width``, ``sigma_u``, ``sigma_w`` and ``rho`` broadcast together (with ``size`` in front
    when given), so a whole grid of configurations is sampled at once. ``orthogonal=True``
    samples an init with u0 ⊥ w0 (|u0|² = σ_u²χ²_d, |w0|² = σ_w²χ²_d independent, u0·w0 = 0):
    the network output starts at exactly zero (a centered model).
    """
    d = check_array("width", width, low=1.0, high=1e15)
    if np.any(d != np.floor(d)):
        raise InputError("width must be an integer in [1, 1e15]")
    su = check_array("sigma_u", sigma_u, low=0.0)
    sw = check_array("sigma_w", sigma_w, low=0.0)
    r = check_array("rho", rho, low=-1.0, high=1.0)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    lead: tuple[int, ...] = () if size is None else ((size,) if isinstance(size, int) else tuple(size))
    shape = lead + np.broadcast_shapes(d.shape, su.shape, sw.shape, r.shape)
    d, su, sw, r = (np.broadcast_to(x, shape) for x in (d, su, sw, r))
    t11 = np.sqrt(rng.chisquare(d, size=shape))
    if orthogonal:
        uu = (su * t11) ** 2
        ww = sw * sw * rng.chisquare(d, size=shape)
        return Gram.trusted(uu, ww, np.zeros(shape), np.sqrt(uu) * np.sqrt(ww))
    t22 = np.where(d > 1, np.sqrt(rng.chisquare(np.maximum(d - 1, 1), size=shape)), 0.0)
    t21 = rng.standard_normal(size=shape)
    q = np.sqrt(np.maximum(1.0 - r * r, 0.0))
    w1 = sw * (r * t11 + q * t21)
    w2 = sw * q * t22
    return Gram.trusted((su * t11) ** 2, w1 * w1 + w2 * w2, su * t11 * w1, su * t11 * np.abs(w2))


def load_npz(path: str | os.PathLike[str]) -> tuple[F, F]:
    """Read ``u0`` and ``w0`` from an ``.npz`` file (``allow_pickle=False``: never unpickles)."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise InputError(f"init file {p!r} does not exist (expected an .npz with arrays u0 and w0)")
    try:
        with np.load(p, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise InputError(f"init file {p!r} is a single .npy array, expected an .npz with u0 and w0")
            missing = [k for k in ("u0", "w0") if k not in data.files]
            if missing:
                raise InputError(f"init file {p!r} lacks array(s) {', '.join(missing)} "
                                 f"(has: {', '.join(data.files) or 'none'})")
            u0 = np.array(data["u0"])
            w0 = np.array(data["w0"])
    except ValueError as exc:
        if str(exc).startswith("init file"):
            raise
        raise InputError(f"init file {p!r} is not a valid .npz file: {exc}") from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"init file {p!r} is not a valid .npz file: {exc}") from exc
    if u0.dtype.kind not in "iuf" or w0.dtype.kind not in "iuf":
        raise InputError(f"init file {p!r}: u0 and w0 must be real numeric arrays")
    try:
        return check_vectors(u0, w0)
    except ValueError as exc:
        raise InputError(f"init file {p!r}: {exc}") from exc


def save_npz(path: str | os.PathLike[str], u0: Any, w0: Any) -> None:
    """Write an init file readable by :func:`load_npz`."""
    u, w = check_vectors(u0, w0)
    np.savez(path, u0=u, w0=w)
