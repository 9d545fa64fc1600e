r"""Exact gradient-flow solution of the one-hidden-layer linear network.

Model (docs/theory.md §1): :math:`f(x) = \kappa\, p\, x` with :math:`p = u\cdot w`, loss
:math:`L = \tfrac12 V(\kappa p - k)^2`, gradient flow with layer-wise learning rates

.. math::
    \dot u = -\eta_u V \kappa r\, w,\qquad \dot w = -\eta_w V \kappa r\, u,\qquad r = \kappa p - k.

Units: ``t`` is gradient-flow time (a GD step of size ``lr`` advances it by ``lr``).

Every scalar observable depends on the initialization only through the Gram statistics
:math:`(|u_0|^2, |w_0|^2, u_0\cdot w_0)` (plus the conserved area :math:`|u_0\wedge w_0|`,
which they determine). With :math:`\tilde u = u/\sqrt{\eta_u}`, :math:`\tilde w = w/\sqrt{\eta_w}`,
:math:`s=\sqrt{\eta_u\eta_w}`, :math:`a=\tilde u_0+\tilde w_0`, :math:`b=\tilde u_0-\tilde w_0`,
:math:`A=|a|^2`, :math:`B=|b|^2`, the state is :math:`\tilde u = (a e^{-\tau}+b e^{\tau})/2`,
:math:`\tilde w = (a e^{-\tau}-b e^{\tau})/2`. The solution is evaluated through the scaled variable
:math:`y = e^{2\tau}\sqrt{B/A}`, which obeys the Riccati equation
:math:`\dot y = R(1-\lambda y - y^2)` with :math:`g=\kappa s\sqrt{AB}/4`, :math:`\lambda = k/g`,
:math:`R = 2V\kappa s g`, whose solution is written as a ratio of sums of non-negative terms
(no cancellation anywhere, see ``docs/exact.md``):

.. math::
    y(t) = \frac{y_+ P_1 (1-E) + n_0 P_2 E}{P_1(1-E) + d_0 P_2 E},\quad E=e^{-Dt},\
    D = 2V\kappa s\,\sqrt{k^2+4g^2}.

Observables: output :math:`f=g(1/y-y)`, NTK :math:`K=R(y+1/y)`, residual
:math:`r = r_0 E\,\Phi(t)` with :math:`\Phi>0` (full relative accuracy down to underflow),
alignment :math:`\zeta = p/\sqrt{p^2+|u\wedge w|^2}` (:math:`u\wedge w` is conserved).

Any scale: configurations whose magnitudes all lie in
:data:`~featmech.theory.exact.constants.BAND` (1e±100) are computed in float64, the others with the
same formulas in extended precision (``longdouble``), every observable rounded to float64 once; what
float64 cannot represent at all is refused (``InputError("parameters out of float64 range: …")``).
The flow's scale covariance and why it cannot replace the wider exponent range (λ = k/g is
invariant) are in ``docs/exact.md``.

Degenerate cases get their own exact forms (:class:`Branch`): a zero aligned or anti-aligned
mode (Saxe's logistic curve), one frozen layer (:math:`\eta=0`: linear regression, NTK
constant), and no dynamics at all (:math:`\kappa=0`, :math:`V=0`, both :math:`\eta=0`, or
:math:`u_0=w_0=0`).

The modules, in the order of the computation:

- :mod:`~featmech.theory.exact.gram` — Gram statistics of vectors (:func:`gram_of`), the modes A, B, c;
- :mod:`~featmech.theory.exact.constants` — the per-configuration :class:`Constants` and the branch
  classification;
- :mod:`~featmech.theory.exact.branches` — :class:`Branch` and one evaluator per branch;
- :mod:`~featmech.theory.exact.evaluate` — the observables (and weight vectors) at times t;
- :mod:`~featmech.theory.exact.state`, :mod:`~featmech.theory.exact.solution` — :class:`State`,
  :class:`Solution`;
- :mod:`~featmech.theory.exact.solvers` — :func:`solve`, :func:`solve_gram`.

>>> import featmech
>>> sol = featmech.solve([0.1, 0.0], [0.1, 0.0], kappa=2.0)
>>> sol.branch, round(sol.fixed_point.output.item(), 12)
(<Branch.LOGISTIC: 2>, 1.0)
"""

from featmech.theory.config import Gram, Hyper, Init
from featmech.theory.exact.branches import Branch
from featmech.theory.exact.constants import Constants
from featmech.theory.exact.gram import check_gram, gram_of
from featmech.theory.exact.solution import Solution
from featmech.theory.exact.solvers import solve, solve_gram
from featmech.theory.exact.state import State

__all__ = [
    "Branch",
    "Constants",
    "Gram",
    "Hyper",
    "Init",
    "Solution",
    "State",
    "check_gram",
    "gram_of",
    "solve",
    "solve_gram",
]
