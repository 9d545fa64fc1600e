r"""Initializations of the two layers, as vectors (:class:`Init`) or as exact Gram statistics (:class:`Gram`).

Conventions: ``u`` is the output layer, ``w`` the hidden layer, both of length ``width``.
iid Gaussian init draws :math:`(u_i, w_i)` jointly Gaussian with standard deviations
:math:`(\sigma_u, \sigma_w)` and correlation :math:`\rho`; :func:`sample_gram` draws the Gram
statistics of that init exactly, at O(1) cost whatever the width.

>>> init = iid_gaussian(3, 0.5, 0.5, seed=0)
>>> init.width, init.u0.shape
(3, (3,))
>>> u0, w0 = init                      # an Init unpacks into its two vectors
>>> sample_gram(10**12, seed=0).shape
()
>>> iid_gaussian(True)
Traceback (most recent call last):
...
featmech.errors.InputError: width must be an integer, got True
"""

from __future__ import annotations

import math
import os
import zipfile
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech._validation import check_array, check_int, type_slip
from featmech.errors import InputError
from featmech.params import PARAMETERS, Param
from featmech.theory.config import Gram, Init, check_vectors

__all__ = ["iid_gaussian", "aligned", "load_npz", "save_npz", "sample_gram", "MAX_VECTOR_WIDTH"]

F = NDArray[np.float64]

#: the largest width for which weight vectors are materialized (use :func:`sample_gram` beyond)
MAX_VECTOR_WIDTH = 50_000_000

#: the first bytes of a single-array ``.npy`` file (an ``.npz`` is a zip archive)
_NPY_MAGIC = b"\x93NUMPY"

_SCALE = Param("scale", "float", 1.0, "The norm of u0/√η_u and w0/√η_w.", low=0.0)
_ETA_POSITIVE = {name: Param(name, "float", 1.0, "A layer's learning-rate multiplier.", low=0.0, low_open=True)
                 for name in ("eta_u", "eta_w")}


def _check(name: str, value: Any) -> Any:
    """One scalar checked against the parameter table (type slips included)."""
    return PARAMETERS[name].check(value)


def _check_array(name: str, value: Any) -> F:
    """An array checked against the parameter table's range for ``name`` (type slips refused: booleans,
    complex numbers, strings, object arrays; see :mod:`featmech._validation`)."""
    p = PARAMETERS[name]
    slip = type_slip(value)
    if slip is not None:
        what = "integers" if p.kind == "int" else "real numbers"
        raise InputError(f"{name} must be {what} in {p.range_text}, got {slip}")
    arr = check_array(name, value, low=p.low, low_inclusive=not p.low_open, high=p.high)
    if p.kind == "int" and np.any(arr != np.floor(arr)):
        raise InputError(f"{name} must be an integer in {p.range_text}, got {arr[arr != np.floor(arr)].ravel()[0]:g}")
    return arr


def iid_gaussian(width: int, sigma_u: float = 1.0, sigma_w: float = 1.0, *, rho: float = 0.0,
                 seed: int = 0) -> Init:
    r"""Vectors with :math:`u_i \sim N(0, \sigma_u^2)`, :math:`w_i \sim N(0, \sigma_w^2)` iid over i, corr(u_i, w_i) = ρ.

    Built as :math:`u = \sigma_u z_1`, :math:`w = \sigma_w(\rho z_1 + \sqrt{1-\rho^2}\, z_2)` with
    z₁, z₂ standard normal vectors drawn from ``seed``.

    Arguments:
        width: d, an integer in ``[1, MAX_VECTOR_WIDTH]`` (beyond, use :func:`sample_gram`).
        sigma_u, sigma_w: the standard deviations, ``>= 0``.
        rho: the correlation, in ``[-1, 1]``.
        seed: the random seed.

    Returns:
        An :class:`~featmech.theory.config.Init` (read-only vectors; ``u0, w0 = iid_gaussian(...)``
        unpacks it).

    Raises:
        InputError: a value out of range or of the wrong type (a bool width, a complex sigma).

    >>> u0, w0 = iid_gaussian(4, sigma_u=2.0, sigma_w=0.0, seed=1)
    >>> bool(np.all(w0 == 0)), u0.shape
    (True, (4,))
    """
    d = _check("width", width)
    if d > MAX_VECTOR_WIDTH:
        raise InputError(f"width must be an integer in [1, {MAX_VECTOR_WIDTH}] for weight vectors, got {d} "
                         "(sample_gram samples the Gram statistics at any width)")
    su, sw, r, sd = _check("sigma_u", sigma_u), _check("sigma_w", sigma_w), _check("rho", rho), _check("seed", seed)
    rng = np.random.default_rng(sd)
    z1 = rng.standard_normal(d)
    z2 = rng.standard_normal(d)
    return Init(su * z1, sw * (r * z1 + math.sqrt(max(1.0 - r * r, 0.0)) * z2))


def aligned(width: int, scale: float = 1.0, *, eta_u: float = 1.0, eta_w: float = 1.0, seed: int = 0) -> Init:
    r"""Aligned, balanced init: :math:`u_0/\sqrt{\eta_u} = w_0/\sqrt{\eta_w} = \mathrm{scale}\cdot\hat v` for a random unit vector v̂.

    The anti-aligned mode :math:`b = u_0/\sqrt{\eta_u} - w_0/\sqrt{\eta_w}` is exactly zero, so
    gradient flow follows Saxe's logistic curve
    :math:`p(t) = (k/\kappa) / (1 + (k/(\kappa p_0) - 1) e^{-2 s V \kappa k t})`, :math:`s = \sqrt{\eta_u\eta_w}`.

    Arguments:
        width: d, an integer in ``[1, MAX_VECTOR_WIDTH]``.
        scale: the common norm of u0/√η_u and w0/√η_w, ``>= 0``.
        eta_u, eta_w: the learning-rate multipliers the init is balanced for, ``> 0``.
        seed: the random seed of v̂.

    Returns:
        An :class:`~featmech.theory.config.Init`.

    Raises:
        InputError: a value out of range or of the wrong type.

    >>> u0, w0 = aligned(5, 0.3, eta_u=4.0, eta_w=1.0)
    >>> bool(np.allclose(u0, 2 * w0)), round(float(np.linalg.norm(w0)), 12)
    (True, 0.3)
    """
    d = _check("width", width)
    if d > MAX_VECTOR_WIDTH:
        raise InputError(f"width must be an integer in [1, {MAX_VECTOR_WIDTH}] for weight vectors, got {d}")
    sc = _SCALE.check(scale)
    eu, ew = _ETA_POSITIVE["eta_u"].check(eta_u), _ETA_POSITIVE["eta_w"].check(eta_w)
    rng = np.random.default_rng(_check("seed", seed))
    v = rng.standard_normal(d)
    v /= np.linalg.norm(v)
    return Init(math.sqrt(eu) * sc * v, math.sqrt(ew) * sc * v)


def sample_gram(width: ArrayLike, sigma_u: ArrayLike = 1.0, sigma_w: ArrayLike = 1.0, *,
                rho: ArrayLike = 0.0, seed: int = 0, size: int | tuple[int, ...] | None = None,
                orthogonal: bool = False) -> Gram:
    r"""Exact sample of the Gram statistics of :func:`iid_gaussian` without building vectors.

    (u, w) spans a 2×2 Wishart matrix; by the Bartlett decomposition, in a basis whose first
    axis is z₁, z₁ = (t₁₁, 0) and z₂ = (t₂₁, t₂₂) with t₁₁² ~ χ²_d, t₂₂² ~ χ²_{d−1},
    t₂₁ ~ N(0, 1) independent. Hence

    .. math::
        |u|^2 = \sigma_u^2 t_{11}^2,\quad u\cdot w = \sigma_u t_{11}\,(\rho\sigma_w t_{11} + \sigma_w\sqrt{1-\rho^2}\, t_{21}),\\
        |w|^2 = (\rho\sigma_w t_{11} + \sigma_w\sqrt{1-\rho^2}\, t_{21})^2 + \sigma_w^2(1-\rho^2)\, t_{22}^2,\quad
        |u\wedge w| = \sigma_u\sigma_w\sqrt{1-\rho^2}\; t_{11} t_{22},

    all exact in distribution at O(1) cost for any width (up to 1e15).

    Arguments:
        width: d, integers in ``[1, 1e15]``.
        sigma_u, sigma_w: standard deviations ``>= 0``.
        rho: correlations in ``[-1, 1]``. ``width``, ``sigma_u``, ``sigma_w`` and ``rho`` broadcast
            together, so a whole grid of configurations is sampled at once.
        seed: the random seed.
        size: extra leading batch dimensions (independent samples), e.g. seeds.
        orthogonal: sample an init with u0 ⊥ w0 instead (|u0|² = σ_u²χ²_d, |w0|² = σ_w²χ²_d
            independent, u0·w0 = 0): the network output starts at exactly zero (a centered model).

    Returns:
        A :class:`~featmech.theory.config.Gram` of shape ``size + broadcast shape``.

    Raises:
        InputError: a value out of range or of the wrong type.

    >>> g = sample_gram([10, 1000], 1.0, 1.0, seed=0, size=3)
    >>> g.shape, bool(np.all(g.area ** 2 <= g.uu * g.ww))
    ((3, 2), True)
    """
    d = _check_array("width", width)
    su = _check_array("sigma_u", sigma_u)
    sw = _check_array("sigma_w", sigma_w)
    r = _check_array("rho", rho)
    rng = np.random.default_rng(_check("seed", seed))
    lead = _size(size)
    if not isinstance(orthogonal, (bool, np.bool_)):
        raise InputError(f"orthogonal must be true or false, got {orthogonal!r}")
    try:
        shape = lead + np.broadcast_shapes(d.shape, su.shape, sw.shape, r.shape)
    except ValueError:
        raise InputError(f"width, sigma_u, sigma_w and rho do not broadcast together: shapes {d.shape}, "
                         f"{su.shape}, {sw.shape}, {r.shape}") from None
    d, su, sw, r = (np.broadcast_to(x, shape) for x in (d, su, sw, r))
    t11 = np.sqrt(rng.chisquare(d, size=shape))
    with np.errstate(over="ignore", under="ignore"):
        if orthogonal:
            uu = (su * t11) ** 2
            ww = sw * sw * rng.chisquare(d, size=shape)
            _check_sampled(uu, ww, su, sw)
            return Gram.trusted(uu, ww, np.zeros(shape), np.sqrt(uu) * np.sqrt(ww))
        t22 = np.where(d > 1, np.sqrt(rng.chisquare(np.maximum(d - 1, 1), size=shape)), 0.0)
        t21 = rng.standard_normal(size=shape)
        q = np.sqrt(np.maximum(1.0 - r * r, 0.0))
        w1 = sw * (r * t11 + q * t21)
        w2 = sw * q * t22
        uu, ww = (su * t11) ** 2, w1 * w1 + w2 * w2
        _check_sampled(uu, ww, su, sw)
        return Gram.trusted(uu, ww, su * t11 * w1, su * t11 * np.abs(w2))


#: sampled squared norms below this have lost digits to underflow (float64's normal range ends at 2.2e-308)
_MIN_SQ = 1e-290


def _check_sampled(uu: F, ww: F, su: F, sw: F) -> None:
    """Refuse statistics that float64 cannot hold: a Gram is float64, and rounding them away would
    give a different init (e.g. σ = 1e-200: |u|² ≈ 1e-400 would become 0, an init that never moves)."""
    bad = ~np.isfinite(uu) | ~np.isfinite(ww) | ((su > 0) & (uu < _MIN_SQ)) | ((sw > 0) & (ww < _MIN_SQ))
    if np.any(bad):
        raise InputError("parameters out of float64 range: the sampled Gram statistics σ²·χ²_width leave float64 "
                         f"(|u0|² or |w0|² outside [{_MIN_SQ:g}, 1.8e308]); sample weight vectors with iid_gaussian "
                         "instead (the exact solver takes vectors at any scale)")


def _size(size: Any) -> tuple[int, ...]:
    if size is None:
        return ()
    if isinstance(size, (tuple, list)):
        return tuple(check_int(f"size[{i}]", s, low=0) for i, s in enumerate(size))
    return (check_int("size", size, low=0),)


def load_npz(path: str | os.PathLike[str]) -> Init:
    """Read an init from an ``.npz`` file with arrays ``u0`` and ``w0`` (``allow_pickle=False``: never unpickles).

    Arguments:
        path: the file.

    Returns:
        An :class:`~featmech.theory.config.Init` (``u0, w0 = load_npz(path)`` unpacks it).

    Raises:
        InputError: the file is missing or a directory, is a single ``.npy`` array or otherwise
            not an ``.npz`` (zip) archive, lacks ``u0`` or ``w0``, or holds arrays that are not two
            real, finite 1-D vectors of one length (the message names the file).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"init file must be a path, got {path!r}")
    p = os.fspath(path)
    if os.path.isdir(p):
        raise InputError(f"init file {p!r} is a directory; expected an .npz with arrays u0 and w0")
    if not os.path.isfile(p):
        raise InputError(f"init file {p!r} does not exist (expected an .npz with arrays u0 and w0)")
    if not zipfile.is_zipfile(p):
        with open(p, "rb") as fh:
            npy = fh.read(len(_NPY_MAGIC)) == _NPY_MAGIC
        if npy:
            raise InputError(f"init file {p!r} is a single .npy array, expected an .npz with u0 and w0 "
                             "(numpy.savez(path, u0=..., w0=...))")
        raise InputError(f"init file {p!r} is not a valid .npz file (expected a zip archive with arrays u0 and w0)")
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = [k for k in ("u0", "w0") if k not in data.files]
            if missing:
                raise InputError(f"init file {p!r} lacks array(s) {', '.join(missing)} "
                                 f"(has: {', '.join(data.files) or 'none'})")
            u0 = np.array(data["u0"])
            w0 = np.array(data["w0"])
    except InputError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"init file {p!r} is not a valid .npz file: {exc}") from exc
    if u0.dtype.kind not in "iuf" or w0.dtype.kind not in "iuf":
        raise InputError(f"init file {p!r}: u0 and w0 must be real numeric arrays")
    try:
        return Init(u0, w0)
    except InputError as exc:
        raise InputError(f"init file {p!r}: {exc}") from exc


def save_npz(path: str | os.PathLike[str], init_or_u0: Init | ArrayLike, w0: ArrayLike | None = None) -> None:
    """Write an init file readable by :func:`load_npz` (arrays ``u0`` and ``w0``).

    Arguments:
        path: the file (numpy appends ``.npz`` to a name without it).
        init_or_u0: an :class:`~featmech.theory.config.Init`, or the vector ``u0``.
        w0: the vector ``w0`` (only with ``u0``).

    Raises:
        InputError: a :class:`Gram` (it has no vectors), an Init together with ``w0``, ``u0``
            without ``w0``, or invalid vectors.
        OSError: the file cannot be written.
    """
    if isinstance(init_or_u0, Gram):
        raise InputError("save_npz writes weight vectors; a Gram has none (give an Init or u0, w0)")
    if isinstance(init_or_u0, Init):
        if w0 is not None:
            raise InputError("save_npz: give an Init or the two vectors u0, w0, not both")
        u, w = init_or_u0.u0, init_or_u0.w0
    else:
        if w0 is None:
            raise InputError("save_npz: w0 is missing (give an Init or the two vectors u0, w0)")
        u, w = check_vectors(init_or_u0, w0)
    np.savez(path, u0=u, w0=w)
