"""The one place where the analysis layer turns domain objects into an exact solution.

Phase diagrams, the exponent analysis and the canonical cases describe a configuration by an
initialization (:class:`~featmech.theory.config.Gram` statistics or an
:class:`~featmech.theory.config.Init` of weight vectors) and the hyperparameters
(:class:`~featmech.theory.config.Hyper`); :func:`exact_solution` hands them to the theory layer.
When ``featmech.theory.exact.solve(init, hyper)`` takes the objects directly, this function
becomes a one-line call to it.

>>> from featmech.theory.config import Gram, Hyper
>>> sol = exact_solution(Gram(0.01, 0.01, 0.0), Hyper(kappa=1.0, target=1.0))
>>> round(float(sol(float("inf")).output), 12)
1.0
"""

from __future__ import annotations

from featmech.theory.config import Gram, Hyper, Init
from featmech.theory.exact import Solution, solve, solve_gram

__all__ = ["exact_solution"]


def exact_solution(init: Gram | Init, hyper: Hyper) -> Solution:
    """The exact gradient-flow solution of an initialization under hyperparameters.

    Arguments:
        init: Gram statistics (any batch shape; broadcast with ``hyper``) or weight vectors
            (one configuration: ``hyper`` must then hold single numbers).
        hyper: η_u, η_w, κ, k, V.

    Returns:
        The :class:`~featmech.theory.exact.Solution` (batch shape: the broadcast shape).

    Raises:
        InputError: inconsistent shapes or parameters out of range (from the theory layer).
    """
    if isinstance(init, Init):
        return solve(init.u0, init.w0, **hyper.as_dict())
    return solve_gram(init.uu, init.ww, init.uw, area=init.area, **hyper.as_dict())
