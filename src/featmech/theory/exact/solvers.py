r"""The front doors of the exact solution: :func:`solve` and :func:`solve_gram`."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from numpy.typing import ArrayLike

from featmech.errors import InputError
from featmech.theory.config import Gram, Hyper, Init, object_or_keywords
from featmech.theory.exact.constants import FLOAT_OPS, mode_formulas
from featmech.theory.exact.gram import check_gram, vector_modes
from featmech.theory.exact.gram import modes as gram_modes
from featmech.theory.exact.solution import Solution

__all__ = ["solve", "solve_gram"]

_HYPER_NAMES = tuple(f.name for f in fields(Hyper))


def _hyper(hyper: Any, keywords: dict[str, Any]) -> Hyper:
    """The one Hyper from ``hyper=`` or the keyword form (never both; ``None`` keywords are not given)."""
    return object_or_keywords(Hyper, hyper, {k: v for k, v in keywords.items() if v is not None}, name="hyper")


def solve(init: Init | Gram | ArrayLike, w0: ArrayLike | Hyper | None = None, hyper: Hyper | None = None, *,
          eta_u: ArrayLike | None = None, eta_w: ArrayLike | None = None, kappa: ArrayLike | None = None,
          target: ArrayLike | None = None, data_var: ArrayLike | None = None) -> Solution:
    r"""Exact gradient-flow solution of :math:`f(x) = \kappa\, u\cdot w\, x` from an initialization.

    .. math::
        \dot u = -\eta_u V\kappa r\, w,\quad \dot w = -\eta_w V\kappa r\, u,\quad r = \kappa\, u\cdot w - k

    (docs/theory.md §1; the closed form is described in :mod:`featmech.theory.exact`). The width d
    enters only through the Gram statistics: every later call costs O(1) per time point.

    Call it as

    - ``solve(init, hyper)``: ``init`` an :class:`~featmech.theory.config.Init` (vectors, single
      configuration) or a :class:`~featmech.theory.config.Gram` (any batch shape), ``hyper`` a
      :class:`~featmech.theory.config.Hyper` (``None``: the defaults);
    - ``solve(u0, w0, eta_u=…, eta_w=…, kappa=…, target=…, data_var=…)``: the keyword convenience;
      each hyperparameter defaults to 1.

    Arguments:
        init: an ``Init``, a ``Gram``, or the output layer's weights ``u0`` (1-D).
        w0: the hidden layer's weights (with a vector ``u0`` only), or the ``Hyper`` (positional
            ``solve(init, hyper)``).
        hyper: the hyperparameters as a ``Hyper``.
        eta_u, eta_w: layer-wise learning rates ``>= 0`` (0 freezes a layer).
        kappa: output scale ``>= 0``.
        target: the slope k of the target y = kx.
        data_var: V = E[x²] ``>= 0``.

    Returns:
        The :class:`~featmech.theory.exact.solution.Solution`; built from vectors it also gives
        :meth:`~featmech.theory.exact.solution.Solution.weights`.

    Raises:
        InputError: bad vectors or hyperparameters; a ``Hyper`` together with hyperparameter
            keywords; ``w0`` together with an ``Init`` or a ``Gram``; a batch of hyperparameters
            with vectors (use a ``Gram`` or :func:`solve_gram`); parameters out of float64 range.

    >>> import numpy as np, featmech
    >>> sol = featmech.solve(np.full(4, 0.1), np.full(4, 0.1))
    >>> round(float(sol(np.inf).output), 12)
    1.0
    >>> from featmech.theory.config import Gram, Hyper
    >>> featmech.solve(Gram(0.25, 0.25, 0.25), Hyper(target=-1.0)).branch.label
    'logistic'
    """
    if isinstance(w0, Hyper):
        if hyper is not None:
            raise InputError("the Hyper was given twice (positionally and as hyper=)")
        w0, hyper = None, w0
    if isinstance(init, (Gram, Init)):
        if w0 is not None:
            kind = type(init).__name__
            raise InputError(f"solve({kind.lower()}, …) takes no w0: the {kind} is the whole initialization")
        vec = init if isinstance(init, Init) else None
    elif w0 is None:
        raise InputError("w0 is missing: call solve(u0, w0, …), solve(Init(u0, w0), hyper) or solve(gram, hyper)")
    else:
        vec = Init.borrow(init, w0)
    h = _hyper(hyper, dict(eta_u=eta_u, eta_w=eta_w, kappa=kappa, target=target, data_var=data_var))
    if vec is None:
        return Solution.of(init, h)  # type: ignore[arg-type]
    for name in _HYPER_NAMES:
        if getattr(h, name).ndim != 0:
            raise InputError(f"{name} must be a single number with vectors u0, w0 (use a Gram or solve_gram "
                             f"for batches)")
    gram = vec.gram
    if not vec.gram_is_exact:  # float64 rounded the statistics: extended precision from the vectors
        return Solution.of(gram, h, init=vec, exact=False)
    eu, ew = float(h.eta_u), float(h.eta_w)
    if eu > 0 and ew > 0 and (float(gram.uu) > 0 or float(gram.ww) > 0):
        g_modes = mode_formulas(FLOAT_OPS, float(gram.uu), float(gram.ww), float(gram.uw),
                                float(gram.area), eu, ew)  # type: ignore[arg-type]
        if min(g_modes.A, g_modes.B) < 1e-6 * max(g_modes.A, g_modes.B):  # nearly aligned: from the vectors
            return Solution.of(gram, h, modes=vector_modes(vec.u0, vec.w0, h, gram_modes(gram, h)), init=vec)
        return Solution.of(gram, h, modes=g_modes, init=vec)
    return Solution.of(gram, h, init=vec)


def solve_gram(uu: ArrayLike, ww: ArrayLike, uw: ArrayLike, *, area: ArrayLike | None = None,
               eta_u: ArrayLike | None = None, eta_w: ArrayLike | None = None, kappa: ArrayLike | None = None,
               target: ArrayLike | None = None, data_var: ArrayLike | None = None,
               hyper: Hyper | None = None) -> Solution:
    """Exact solution from Gram statistics ``uu=|u0|², ww=|w0|², uw=u0·w0`` (any width).

    The same as ``solve(Gram(uu, ww, uw, area), hyper)``. All arguments broadcast together,
    giving a batch of configurations evaluated at once.

    Arguments:
        uu, ww: squared norms ``>= 0``.
        uw: the inner product, ``uw² <= uu·ww`` (Cauchy–Schwarz, 1e-12 relative slack).
        area: ``|u0 ∧ w0|``, for full accuracy with nearly collinear inits (the exact Gram
            sampler provides it); ``None``: computed as ``sqrt(uu·ww − uw²)``.
        eta_u, eta_w, kappa, target, data_var: as for :func:`solve` (default 1 each).
        hyper: the hyperparameters as a :class:`~featmech.theory.config.Hyper` instead of keywords.

    Returns:
        The :class:`~featmech.theory.exact.solution.Solution` of batch shape the broadcast shape.

    Raises:
        InputError: an impossible Gram matrix, bad hyperparameters, a ``Hyper`` together with
            keywords, or parameters out of float64 range.

    >>> float(solve_gram([1.0, 2.0], 1.0, 0.0, kappa=0.5).rate[1]) > 0
    True
    """
    gram = check_gram(uu, ww, uw, area)
    return Solution.of(gram, _hyper(hyper, dict(eta_u=eta_u, eta_w=eta_w, kappa=kappa, target=target,
                                                data_var=data_var)))
