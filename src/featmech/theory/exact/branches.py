r"""The four exact forms of the flow: the :class:`Branch` enum and one evaluator per branch.

Every configuration falls in exactly one branch (decided once, in
:meth:`~featmech.theory.exact.constants.Constants.of`):

- ``GENERIC`` — both layers move and both modes :math:`A=|a|^2`, :math:`B=|b|^2` are non-zero:
  the Riccati solution :math:`y(t)` written as a ratio of sums of non-negative terms;
- ``LOGISTIC`` — one mode vanishes (aligned or anti-aligned balanced init): Saxe's logistic curve;
- ``LINEAR`` — one layer frozen (:math:`\eta=0`): linear regression on fixed features,
  :math:`r(t) = r_0 e^{-K_0 t}`, constant NTK;
- ``STATIC`` — no dynamics (:math:`\kappa=0`, :math:`V=0`, both :math:`\eta=0`, or nothing to move).

An evaluator takes the per-configuration :class:`~featmech.theory.exact.constants.Constants`
(which hold the Gram statistics and hyperparameters they were built from, in the working
precision) and a :class:`Clock` (the times, :math:`E=e^{-Dt}` and :math:`1-E`), and returns the
:class:`Flow` — output, residual, NTK and :math:`\eta_w|u|^2+\eta_u|w|^2` — in the mirrored frame
(:math:`k \ge 0`; see ``Constants.mirror``). :func:`~featmech.theory.exact.evaluate.evaluate`
assembles the observables from it.

>>> Branch.LOGISTIC.label, Branch(3).label, Branch.LOGISTIC == "logistic"
('logistic', 'generic', True)
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from featmech.theory.config import F

if TYPE_CHECKING:  # pragma: no cover - typing only
    from featmech.theory.exact.constants import Constants

__all__ = ["Branch", "BRANCH_LABELS", "Clock", "Flow", "Evaluator", "EVALUATORS", "generic_flow", "FLOAT_MUL",
           "generic", "logistic", "linear", "static"]


class Branch(enum.IntEnum):
    """Which exact form of the flow applies to a configuration.

    An :class:`enum.IntEnum` (the codes of ``Constants.branch``); ``label`` is its name for
    people. A member also compares equal to its label and prints as it, so one configuration's
    branch compares with the label array of a batch: ``Branch.GENERIC == "generic"``,
    ``str(Branch.LINEAR) == "one frozen layer"``. Output for people and files uses ``label``
    (the JSON of an IntEnum would otherwise be its code).
    """

    STATIC = 0  #: no dynamics: nothing moves
    LINEAR = 1  #: one frozen layer: linear regression on fixed features
    LOGISTIC = 2  #: a vanished mode (aligned or anti-aligned balanced init): Saxe's logistic curve
    GENERIC = 3  #: both modes non-zero: the Riccati solution

    @property
    def label(self) -> str:
        """``"static"``, ``"one frozen layer"``, ``"logistic"`` or ``"generic"``."""
        return _LABELS[self.value]

    def __str__(self) -> str:
        return self.label

    def __format__(self, spec: str) -> str:
        return format(self.label, spec)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other == self.label
        return int.__eq__(self, other)  # type: ignore[operator]

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = int.__hash__


_LABELS = ("static", "one frozen layer", "logistic", "generic")

#: the label of each branch code: ``BRANCH_LABELS[codes]`` turns an array of codes into labels
BRANCH_LABELS: NDArray[np.str_] = np.array(_LABELS)
BRANCH_LABELS.flags.writeable = False


class Clock(NamedTuple):
    """What every branch needs of the times, for one evaluation.

    Attributes:
        t: the times broadcast to ``shape``.
        E: :math:`e^{-Dt}` (1 where there are no dynamics).
        Ec: :math:`1-e^{-Dt}`, through ``expm1`` where :math:`Dt < 0.7` (no cancellation).
        scratch: a writable array of ``shape`` that an evaluator may overwrite, or ``None``.
        shape: the output shape, ``batch_shape + t.shape``.
        column: turns a per-configuration array into one that broadcasts against ``t``.
    """

    t: F
    E: F
    Ec: F
    scratch: F | None
    shape: tuple[int, ...]
    column: Callable[[Any], Any]


class Flow(NamedTuple):
    """A branch's observables in the mirrored frame (:math:`k \\ge 0`), broadcastable to the output.

    Attributes:
        output: κ p.
        residual: κ p − k.
        ntk: K.
        sum_sq: :math:`\\eta_w|u|^2+\\eta_u|w|^2` where both layers move (NaN otherwise: the
            norms then follow from the frozen layer).
    """

    output: Any
    residual: Any
    ntk: Any
    sum_sq: Any


#: the common signature of the evaluators
Evaluator = Callable[["Constants", Clock], Flow]

#: element-wise products with an optional output buffer, on arrays and on Python floats
ARRAY_MUL = np.multiply


def FLOAT_MUL(a: Any, b: Any, out: Any = None) -> Any:
    """``a * b`` for Python floats (the signature of :func:`numpy.multiply`)."""
    return a * b


def generic_flow(n0: Any, d0: Any, yp: Any, gg: Any, one_m_yp: Any, d0_m_n0: Any, r0m: Any, R: Any, sQ: Any,
                 E: Any, Ec: Any, scratch: Any = None, mul: Any = ARRAY_MUL) -> Flow:
    r"""The generic branch's observables from its constants, on arrays or on Python floats.

    .. math::
        y(t) = \frac{y_+ P_1 (1-E) + n_0 P_2 E}{P_1(1-E) + d_0 P_2 E} = \frac{num}{den},\quad
        P_1 = n_0 y_+ + d_0,\ P_2 = y_+^2 + 1;

        f = g(1/y - y) = g\,\Delta\,(1/num + 1/den),\quad
        \Delta = P_1(1-y_+)(1-E) + P_2(d_0 - n_0)E;

        r = r_0 E\,\Phi,\quad \Phi = \frac{P_2 n_0 d_0}{P_1}\Big(\frac{y_+}{den} + \frac{1}{num}\Big) > 0;
        \qquad K = R(y + 1/y),\quad \eta_w|u|^2+\eta_u|w|^2 = \tfrac{s^2 Q}{2}(y + 1/y).

    Arguments:
        n0, d0, yp, gg, one_m_yp, d0_m_n0, r0m: the constants (mirrored frame), numbers or columns.
        R: :math:`2V\kappa s g`.
        sQ: :math:`s\cdot(sQ)/2`.
        E, Ec: :math:`e^{-Dt}` and :math:`1 - e^{-Dt}`.
        scratch: a writable array of the output shape the evaluation may overwrite (arrays only).
        mul: :func:`numpy.multiply` for arrays, :func:`FLOAT_MUL` for Python floats.

    Returns:
        The :class:`Flow` in the mirrored frame.
    """
    # (in-place arithmetic keeps the number of fresh temporaries, hence page faults, low; on floats
    # the augmented assignments simply rebind, and the numbers are the same)
    P1 = n0 * yp + d0
    P2 = yp * yp + 1.0
    tmp = mul(n0 * P2, E, out=scratch)
    num = mul(yp * P1, Ec)
    num += tmp
    tmp = mul(d0 * P2, E, out=tmp)
    den = mul(P1, Ec)
    den += tmp
    inv_num = 1.0 / num
    inv_den = 1.0 / den
    y_inv = mul(num, inv_den, out=num)  # y + 1/y (num is not needed any more)
    y_inv += mul(den, inv_num, out=den)
    # r = r0·E·Φ,  Φ = P2 n0 d0 (y y+ + 1)/(P1 num) = (P2 n0 d0/P1)(y+/den + 1/num)
    r_g = mul(inv_den, yp)
    r_g += inv_num
    r_g *= E
    r_g *= r0m * (P2 * n0 * d0 / P1)
    # f = g(1/y − y) = g·Δ·(1/num + 1/den), Δ = den − num written without cancellation
    f_g = mul(P1 * one_m_yp, Ec)
    f_g += mul(P2 * d0_m_n0, E, out=tmp)
    inv_num += inv_den
    f_g *= inv_num
    f_g *= gg
    K_g = mul(y_inv, R)
    sS_g = mul(y_inv, sQ, out=y_inv)
    return Flow(f_g, r_g, K_g, sS_g)


def generic(c: Constants, clk: Clock) -> Flow:
    r"""Both modes non-zero: the Riccati solution, with no cancellation for any t (:func:`generic_flow`).

    Arguments:
        c, clk: as for every evaluator (module docstring).

    Returns:
        The :class:`Flow` in the mirrored frame.
    """
    col = clk.column
    V, kap, s, gg, Q = col(c.data_var), col(c.kappa), col(c.s), col(c.g), col(c.Q)
    return generic_flow(col(c.n0), col(c.d0), col(c.yplus), gg, col(c.one_m_yp), col(c.d0_m_n0), col(c.r0m),
                        2.0 * V * kap * s * gg, s * (s * Q) / 2.0, clk.E, clk.Ec, clk.scratch)


def logistic(c: Constants, clk: Clock) -> Flow:
    r"""A vanished mode: :math:`v = 1/z` obeys :math:`\dot v = -\alpha v^2 + \beta v` (Saxe's curve).

    With :math:`\rho = |f_0/k|` (mirrored frame) and :math:`v(0) = 1`:
    :math:`k>0`: :math:`v = 1/(E + \rho(1-E))`; :math:`k<0`: :math:`Ev = 1/(1 + \rho(1-E))`,
    :math:`v = E\cdot Ev`; :math:`k=0`: :math:`v = 1/(1+\alpha t)`, :math:`\alpha = 2Vs\kappa f_0`.
    Then :math:`f = f_0 v`, :math:`r = r_0 Ev`, :math:`K = K_0 v`,
    :math:`\eta_w|u|^2+\eta_u|w|^2 = s^2 A v/2`.

    Arguments:
        c, clk: as for every evaluator (module docstring).

    Returns:
        The :class:`Flow` in the mirrored frame.
    """
    col, E, Ec, T = clk.column, clk.E, clk.Ec, clk.t
    V, kap = col(c.data_var), col(c.kappa)
    km, f0m, r0m, s, Am = col(c.km), col(c.f0m), col(c.r0m), col(c.s), col(c.Am)
    K0 = col(c.K0)
    ratio = np.abs(f0m / km)
    alpha = 2.0 * V * s * kap * f0m
    # k' > 0: v = 1/(E + ρ(1−E));  k' < 0: Ev = 1/(1 + |ρ|(1−E)), v = E·Ev;  k' = 0: v = 1/(1+αt)
    Ev_pos = E / (E + ratio * Ec)
    v_pos = 1.0 / (E + ratio * Ec)
    Ev_neg = 1.0 / (1.0 + ratio * Ec)
    v_neg = E * Ev_neg
    v_zero = 1.0 / (1.0 + alpha * T)
    v = np.where(km > 0, v_pos, np.where(km < 0, v_neg, v_zero))
    Ev = np.where(km > 0, Ev_pos, np.where(km < 0, Ev_neg, v_zero))
    return Flow(f0m * v, r0m * Ev, K0 * v, s * s * Am * v / 2.0)


def linear(c: Constants, clk: Clock) -> Flow:
    r"""One frozen layer: linear regression on fixed features, :math:`r = r_0 e^{-K_0 t}`, K constant.

    (:math:`D = K_0`; never mirrored.)

    Arguments:
        c, clk: as for every evaluator (module docstring).

    Returns:
        The :class:`Flow` (``sum_sq`` is NaN: the norms follow from the frozen layer).
    """
    col = clk.column
    r_l = col(c.r0) * clk.E
    return Flow(col(c.target) + r_l, r_l, col(c.K0), np.nan)


def static(c: Constants, clk: Clock) -> Flow:
    """No dynamics: everything keeps its initial value (output κ u0·w0, residual r0, NTK K0).

    Arguments:
        c, clk: as for every evaluator (module docstring).

    Returns:
        The :class:`Flow` (``sum_sq`` is NaN).
    """
    col = clk.column
    return Flow(col(c.kappa) * col(c.uw), col(c.r0), col(c.K0), np.nan)


#: the evaluator of each branch, in the order they are evaluated
EVALUATORS: dict[Branch, Evaluator] = {
    Branch.GENERIC: generic,
    Branch.LOGISTIC: logistic,
    Branch.LINEAR: linear,
    Branch.STATIC: static,
}
