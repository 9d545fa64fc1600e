r"""Gram statistics of an initialization and the two modes of the flow.

The exact solution depends on the initialization only through
:math:`(|u_0|^2, |w_0|^2, u_0\cdot w_0)` and the conserved area :math:`|u_0\wedge w_0|`
(:class:`~featmech.theory.config.Gram`), and on those through the modes

.. math::
    A = |\tilde u_0 + \tilde w_0|^2,\quad B = |\tilde u_0 - \tilde w_0|^2,\quad
    c = |\tilde u_0|^2 - |\tilde w_0|^2,\qquad \tilde u = u/\sqrt{\eta_u},\ \tilde w = w/\sqrt{\eta_w}.

Everything here is computed without overflow or cancellation; vectors whose statistics leave
float64 range get them in extended precision (:func:`vector_stats`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from featmech.errors import InputError
from featmech.theory.config import F, Gram, Hyper, check_vectors
from featmech.theory.exact.constants import ARRAY_OPS, EXTENDED, Modes, mode_formulas
from featmech.theory.exact.pick import where

__all__ = ["gram_of", "check_gram", "vector_gram", "vector_stats", "Modes", "modes", "vector_modes"]

#: below this a float64 sum of squares may have lost digits to underflow
_TINY_SQ = 1e-250


def gram_of(u0: ArrayLike, w0: ArrayLike) -> Gram:
    """Gram statistics of two weight vectors, computed without overflow or cancellation.

    The area |u0 ∧ w0| is taken as |u0| · |w0 − proj_{u0} w0| rather than from
    ``uu*ww - uw**2`` so that nearly collinear vectors keep their relative accuracy.

    Arguments:
        u0: the output layer's weights (1-D, real, finite).
        w0: the hidden layer's weights (same length).

    Returns:
        The :class:`~featmech.theory.config.Gram` (0-d fields; statistics below float64's smallest
        numbers are rounded to them, as any float64 result is).

    Raises:
        InputError: the vectors are not valid (see :func:`~featmech.theory.config.check_vectors`),
            or their squared norms overflow float64 (``"parameters out of float64 range"``).

    >>> g = gram_of([1.0, 1.0], [1.0, 1.0 + 2.0**-30])
    >>> round(g.area.item() * 2.0**30, 12)  # sqrt(uu·ww − uw²) would lose it to cancellation
    1.0
    """
    u, w = check_vectors(u0, w0)
    return vector_gram(u, w)


def vector_gram(u: F, w: F) -> Gram:
    """:func:`gram_of` for vectors already validated as real 1-D arrays of one length.

    Arguments:
        u, w: float64 vectors of one length (e.g. the fields of an :class:`~featmech.theory.config.Init`).

    Returns:
        The :class:`~featmech.theory.config.Gram`.

    Raises:
        InputError: an entry is not finite, or the squared norms overflow float64.
    """
    stats, exact = vector_stats(u, w)
    if not exact:
        with np.errstate(over="ignore", under="ignore"):
            stats = tuple(float(x) for x in vector_stats(u, w, extended=True)[0])  # type: ignore[assignment]
        if not all(math.isfinite(x) for x in stats):
            raise InputError("parameters out of float64 range: the squared norms |u0|², |w0|² overflow float64 "
                             "(entries beyond ~1e154)")
    return Gram.trusted(*stats)


def vector_stats(u: F, w: F, *, extended: bool = False) -> tuple[tuple[Any, Any, Any, Any], bool]:
    """``(uu, ww, uw, area)`` of two vectors, in one pass per dot product (no other pass unless needed).

    Finiteness is read off the dot products (a NaN or an infinite entry makes them non-finite);
    only then are the entries looked at. The area is taken from a projection when the vectors are
    nearly collinear (one more pass), else from ``uu·ww − uw²`` factored without cancellation.

    Arguments:
        u, w: real 1-D vectors of one length.
        extended: compute in :data:`~featmech.theory.exact.constants.EXTENDED` precision (copies the vectors).

    Returns:
        ``((uu, ww, uw, area), exact)``: ``exact`` is false when float64 could not hold the statistics
        (an overflow, or a loss of digits to underflow): then ask again with ``extended=True``.

    Raises:
        InputError: an entry is not finite.
    """
    if extended:  # (where the platform has no extended precision: float64, scaled)
        x = EXTENDED if EXTENDED is not None else np.dtype(np.float64)
        return _stats_scaled(u.astype(x), w.astype(x)), True
    with np.errstate(all="ignore"):
        uu, ww, uw = _dot(u, u), _dot(w, w), _dot(u, w)
    if not (math.isfinite(uu) and math.isfinite(ww) and math.isfinite(uw)):
        if not (np.isfinite(u).all() and np.isfinite(w).all()):
            raise InputError("u0 and w0 must be finite")
        return (uu, ww, uw, math.nan), False
    if (0.0 < uu < _TINY_SQ) or (0.0 < ww < _TINY_SQ) or (uu == 0.0 and u.any()) or (ww == 0.0 and w.any()):
        return (uu, ww, uw, math.nan), False
    geo = math.sqrt(uu) * math.sqrt(ww)
    gap = geo - abs(uw)
    if u.size == 1:  # one dimension: collinear, exactly
        area = 0.0
    elif geo > 0 and gap < 1e-3 * geo:
        # nearly collinear: uu·ww − uw² cancels; use |u|·|w − proj_u w| instead
        perp = w - (uw / uu) * u
        area = min(math.sqrt(uu) * math.sqrt(float(perp @ perp)), geo)
    else:
        area = math.sqrt(max(gap, 0.0)) * math.sqrt(geo + abs(uw))
    if 0.0 < area < _TINY_SQ:
        return (uu, ww, uw, area), False
    return (uu, ww, uw, area), True


#: between these widths dot products use NumPy's own single-threaded loop: on vectors that fit in the
#: caches a multithreaded BLAS ddot costs several times more on a busy machine (its threads wait on each
#: other); below, BLAS is the cheapest call, above, the product is bound by memory and BLAS's threads help
_EINSUM = (1 << 16, 1 << 21)


def _dot(a: F, b: F) -> float:
    """a·b in float64 (BLAS, or NumPy's einsum loop for mid-sized vectors: see ``_EINSUM``)."""
    if _EINSUM[0] <= a.size < _EINSUM[1]:
        return float(np.einsum("i,i->", a, b))
    return float(a @ b)


def _stats_scaled(u: Any, w: Any) -> tuple[Any, Any, Any, Any]:
    """The statistics of vectors scaled by their largest entries first (no over- or underflow of
    the squares), in the vectors' dtype."""
    mu, uh = _norm_scaled(u)
    mw, wh = _norm_scaled(w)
    uu_h, ww_h, uw_h = uh @ uh, wh @ wh, uh @ wh
    if uu_h > 0 and ww_h > 0 and u.size > 1:
        geo = np.sqrt(uu_h) * np.sqrt(ww_h)
        if geo - abs(uw_h) < 1e-3 * geo:
            perp = wh - (uw_h / uu_h) * uh
            area_h = min(np.sqrt(uu_h) * np.sqrt(perp @ perp), geo)
        else:
            area_h = np.sqrt(geo - abs(uw_h)) * np.sqrt(geo + abs(uw_h))
    else:
        area_h = uu_h * 0
    return mu * mu * uu_h, mw * mw * ww_h, mu * mw * uw_h, mu * mw * area_h


def _norm_scaled(x: Any) -> tuple[Any, Any]:
    m = np.max(np.abs(x)) if x.size else x.dtype.type(0)
    if m == 0:
        return m, x
    return m, x / m


def check_gram(uu: ArrayLike, ww: ArrayLike, uw: ArrayLike, area: ArrayLike | None = None) -> Gram:
    """Validate Gram statistics (broadcast together) and complete the area |u0∧w0| if not given.

    Same as ``Gram(uu, ww, uw, area)``.

    Arguments:
        uu, ww: squared norms ``>= 0``.
        uw: the inner product; ``uw² <= uu·ww`` (1e-12 relative slack; clipped into the range).
        area: ``|u0 ∧ w0| <= sqrt(uu·ww)``, or ``None`` for ``sqrt(uu·ww − uw²)``.

    Returns:
        The :class:`~featmech.theory.config.Gram`.

    Raises:
        InputError: a value out of range, or an impossible Gram matrix.
    """
    return Gram(uu, ww, uw, area)  # type: ignore[arg-type]


def modes(g: Gram, h: Hyper) -> Modes:
    r"""A, B, c from Gram statistics (any batch shape and dtype; g and h of one shape).

    See :func:`~featmech.theory.exact.constants.mode_formulas`.

    Arguments:
        g: Gram statistics.
        h: hyperparameters (only η_u, η_w are used).

    Returns:
        The :class:`Modes`.
    """
    with np.errstate(all="ignore"):
        return mode_formulas(ARRAY_OPS, g.uu, g.ww, g.uw, g.area, h.eta_u, h.eta_w, guard=where)


def vector_modes(u: F, w: F, h: Hyper, gram_modes: Modes | None = None) -> Modes | None:
    r"""The modes of a vector init where the Gram route has lost digits, else ``None``.

    When :math:`\min(A, B) < 10^{-6}\max(A, B)` (a nearly aligned, balanced init) the small mode
    has lost digits in the Gram route; then A, B and the conserved :math:`c = a\cdot b` are
    taken straight from :math:`a = u_0/\sqrt{\eta_u} + w_0/\sqrt{\eta_w}`,
    :math:`b = u_0/\sqrt{\eta_u} - w_0/\sqrt{\eta_w}` (scaled by the largest entry against
    over- and underflow), in the dtype of ``h`` (float64 or extended precision).

    Arguments:
        u, w: validated weight vectors.
        h: hyperparameters of a single configuration.
        gram_modes: the modes of their Gram statistics (:func:`modes`), or ``None`` to compute them.

    Returns:
        The :class:`Modes` (0-d), or ``None`` when the Gram route is accurate.

    Raises:
        InputError: the mode norms overflow the working precision.
    """
    eu: Any = h.eta_u[()]
    ew: Any = h.eta_w[()]
    if not (eu > 0 and ew > 0):
        return None
    x = h.eta_u.dtype
    if gram_modes is None:
        return None
    A, B = gram_modes.A[()], gram_modes.B[()]
    if not min(A, B) < 1e-6 * max(A, B):
        return None
    out: Modes
    if x == np.float64:
        eu, ew = float(eu), float(ew)
        mu, mw = max(float(np.max(np.abs(u))), 1e-300), max(float(np.max(np.abs(w))), 1e-300)
        sc = max(mu / math.sqrt(eu), mw / math.sqrt(ew))
        a = (u / math.sqrt(eu) + w / math.sqrt(ew)) / sc
        bb = (u / math.sqrt(eu) - w / math.sqrt(ew)) / sc
        with np.errstate(over="ignore"):
            out = Modes(np.asarray(sc * sc * float(a @ a)), np.asarray(sc * sc * float(bb @ bb)),
                        np.asarray(sc * sc * float(a @ bb)))
    else:
        u, w = u.astype(x), w.astype(x)
        mu, mw = np.max(np.abs(u)), np.max(np.abs(w))
        rs_u, rs_w = 1 / np.sqrt(eu), 1 / np.sqrt(ew)
        sc = max(mu * rs_u, mw * rs_w)
        a = u * (rs_u / sc) + w * (rs_w / sc)
        bb = u * (rs_u / sc) - w * (rs_w / sc)
        out = Modes(np.asarray(sc * sc * (a @ a), x), np.asarray(sc * sc * (bb @ bb), x),
                    np.asarray(sc * sc * (a @ bb), x))
    if not all(np.isfinite(v) for v in out):
        raise InputError("parameters out of float64 range: the mode norms |u0/√η_u ± w0/√η_w|²")
    return out
