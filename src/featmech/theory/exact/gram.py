r"""Gram statistics of an initialization and the two modes of the flow.

The exact solution depends on the initialization only through
:math:`(|u_0|^2, |w_0|^2, u_0\cdot w_0)` and the conserved area :math:`|u_0\wedge w_0|`
(:class:`~featmech.theory.config.Gram`), and on those through the modes

.. math::
    A = |\tilde u_0 + \tilde w_0|^2,\quad B = |\tilde u_0 - \tilde w_0|^2,\quad
    c = |\tilde u_0|^2 - |\tilde w_0|^2,\qquad \tilde u = u/\sqrt{\eta_u},\ \tilde w = w/\sqrt{\eta_w}.

Everything here is computed without overflow or cancellation.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from featmech.errors import InputError
from featmech.theory.config import F, Gram, Hyper, check_vectors
from featmech.theory.exact.pick import where

__all__ = ["gram_of", "check_gram", "vector_gram", "Modes", "modes", "vector_modes"]


class Modes(NamedTuple):
    r"""The modes of the flow: :math:`A = |a|^2`, :math:`B = |b|^2`, :math:`c = a\cdot b`
    (:math:`a = \tilde u_0 + \tilde w_0`, :math:`b = \tilde u_0 - \tilde w_0`), arrays of the batch shape."""

    A: F
    B: F
    c: F


def gram_of(u0: ArrayLike, w0: ArrayLike) -> Gram:
    """Gram statistics of two weight vectors, computed without overflow or cancellation.

    The area |u0 ∧ w0| is taken as |u0| · |w0 − proj_{u0} w0| rather than from
    ``uu*ww - uw**2`` so that nearly collinear vectors keep their relative accuracy.

    Arguments:
        u0: the output layer's weights (1-D, real, finite).
        w0: the hidden layer's weights (same length).

    Returns:
        The :class:`~featmech.theory.config.Gram` (0-d fields).

    Raises:
        InputError: the vectors are not valid (see :func:`~featmech.theory.config.check_vectors`),
            or their squared norms overflow float64.

    >>> g = gram_of([1.0, 1.0], [1.0, 1.0 + 2.0**-30])
    >>> round(g.area.item() * 2.0**30, 12)  # sqrt(uu·ww − uw²) would lose it to cancellation
    1.0
    """
    u, w = check_vectors(u0, w0)
    return vector_gram(u, w)


def vector_gram(u: F, w: F) -> Gram:
    """:func:`gram_of` for vectors already validated: no checks.

    Arguments:
        u, w: float64 vectors of one length, finite (e.g. the fields of an
            :class:`~featmech.theory.config.Init`).

    Returns:
        The :class:`~featmech.theory.config.Gram`.

    Raises:
        InputError: the squared norms overflow float64.
    """
    with np.errstate(all="ignore"):
        uu, ww, uw = float(u @ u), float(w @ w), float(u @ w)
    tiny = 1e-250  # below this the plain dot products may have lost digits to underflow
    if not (math.isfinite(uu) and math.isfinite(ww) and (uu > tiny or not u.any())
            and (ww > tiny or not w.any())):
        return _gram_scaled(u, w)
    geo = math.sqrt(uu) * math.sqrt(ww)
    gap = geo - abs(uw)
    if geo > 0 and gap < 1e-3 * geo:
        # nearly collinear: uu·ww − uw² cancels; use |u|·|w − proj_u w| instead
        perp = w - (uw / uu) * u
        area = min(math.sqrt(uu) * math.sqrt(float(perp @ perp)), geo)
    else:
        area = math.sqrt(max(gap, 0.0)) * math.sqrt(geo + abs(uw))
    return Gram.trusted(uu, ww, uw, area)


def _norm_scaled(x: F) -> tuple[float, F]:
    m = float(np.max(np.abs(x))) if x.size else 0.0
    if m == 0.0:
        return 0.0, x
    return m, x / m


def _gram_scaled(u: F, w: F) -> Gram:
    """gram_of for vectors whose squares over- or underflow: scale by the largest entry first."""
    mu, uh = _norm_scaled(u)
    mw, wh = _norm_scaled(w)
    uu_h, ww_h, uw_h = float(uh @ uh), float(wh @ wh), float(uh @ wh)
    if uu_h > 0 and ww_h > 0:
        perp = wh - (uw_h / uu_h) * uh
        area_h = min(math.sqrt(uu_h) * math.sqrt(float(perp @ perp)), math.sqrt(uu_h) * math.sqrt(ww_h))
    else:
        area_h = 0.0
    with np.errstate(over="ignore", under="ignore"):
        vals = (mu * mu * uu_h, mw * mw * ww_h, mu * mw * uw_h, mu * mw * area_h)
    if not all(math.isfinite(v) for v in vals):
        raise InputError("u0, w0: squared norms overflow float64 (entries must be below ~1e154)")
    return Gram.trusted(*vals)


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
    r"""A, B, c from Gram statistics (any batch shape; g and h of one shape).

    .. math::
        c = \frac{uu}{\eta_u} - \frac{ww}{\eta_w},\quad
        \max(A, B) = \frac{uu}{\eta_u} + \frac{ww}{\eta_w} + \frac{2|uw|}{s},\quad
        AB = c^2 + 4\,\mathrm{area}^2/s^2.

    The mode that is a sum of like-signed terms is computed directly; the other from the
    product, which has no cancellation (scaled by the larger one against overflow).

    Arguments:
        g: Gram statistics.
        h: hyperparameters (only η_u, η_w are used).

    Returns:
        The :class:`Modes`.
    """
    with np.errstate(all="ignore"):
        su, sw = np.sqrt(h.eta_u), np.sqrt(h.eta_w)
        ut = g.uu / h.eta_u
        wt = g.ww / h.eta_w
        cross = g.uw / (su * sw)
        c = ut - wt
        big = ut + wt + 2.0 * np.abs(cross)
        safe = where(big > 0, big, 1.0)
        # small = (c² + 4 area²/s²) / big, scaled by big to avoid overflow of the squares
        small = where(big > 0, safe * ((c / safe) ** 2 + 4.0 * (g.area / (su * sw) / safe) ** 2), 0.0)
        A = where(cross >= 0, big, small)
        B = where(cross >= 0, small, big)
    return Modes(A, B, c)


def vector_modes(u: F, w: F, h: Hyper, gram_modes: Modes) -> Modes:
    r"""The modes of a vector init: ``gram_modes`` unless one of them nearly vanishes.

    When :math:`\min(A, B) < 10^{-6}\max(A, B)` (a nearly aligned, balanced init) the small mode
    has lost digits in the Gram route; then A, B and the conserved :math:`c = a\cdot b` are
    taken straight from :math:`a = u_0/\sqrt{\eta_u} + w_0/\sqrt{\eta_w}`,
    :math:`b = u_0/\sqrt{\eta_u} - w_0/\sqrt{\eta_w}` (scaled by the largest entry against overflow).

    Arguments:
        u, w: validated weight vectors.
        h: hyperparameters of a single configuration.
        gram_modes: :func:`modes` of their Gram statistics.

    Returns:
        The :class:`Modes` (0-d).

    Raises:
        InputError: the mode norms overflow float64.
    """
    eu, ew = float(h.eta_u), float(h.eta_w)
    if not (eu > 0 and ew > 0):
        return gram_modes
    A, B = float(gram_modes.A), float(gram_modes.B)
    if not min(A, B) < 1e-6 * max(A, B):
        return gram_modes
    mu, mw = max(float(np.max(np.abs(u))), 1e-300), max(float(np.max(np.abs(w))), 1e-300)
    sc = max(mu / math.sqrt(eu), mw / math.sqrt(ew))
    a = (u / math.sqrt(eu) + w / math.sqrt(ew)) / sc
    bb = (u / math.sqrt(eu) - w / math.sqrt(ew)) / sc
    with np.errstate(over="ignore"):
        out = Modes(np.asarray(sc * sc * float(a @ a)), np.asarray(sc * sc * float(bb @ bb)),
                    np.asarray(sc * sc * float(a @ bb)))
    if not all(np.isfinite(x) for x in out):
        raise InputError("parameters out of float64 range: the mode norms |u0/√η_u ± w0/√η_w|²")
    return out
