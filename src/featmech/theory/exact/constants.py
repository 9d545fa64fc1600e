r"""The constants of the exact solution, computed once per configuration (:class:`Constants`).

With :math:`\tilde u = u/\sqrt{\eta_u}`, :math:`\tilde w = w/\sqrt{\eta_w}`,
:math:`s=\sqrt{\eta_u\eta_w}`, :math:`a=\tilde u_0+\tilde w_0`, :math:`b=\tilde u_0-\tilde w_0`,
:math:`A=|a|^2`, :math:`B=|b|^2` (see :mod:`featmech.theory.exact`): a configuration is
classified into a :class:`~featmech.theory.exact.branches.Branch` and, in the *mirrored frame*
(:math:`w \to -w` where that makes :math:`k \ge 0`, exchanging A and B), gets

.. math::
    g = \kappa s\sqrt{A B}/4,\quad H = \sqrt{k^2 + 4g^2},\quad y_+ = \frac{2g}{k + H},\quad
    y_0 = \frac{n_0}{d_0} = \sqrt{B/A},\quad D = 2V\kappa s H,

and the cancellation-free differences :math:`1-y_+ = (k + k^2/(H+2g))/(k+H)` and
:math:`d_0-n_0 = 4\,\tilde u_0\cdot\tilde w_0/(m(\sqrt A+\sqrt B))`, :math:`m=\max(\sqrt A,\sqrt B)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from featmech.errors import InputError
from featmech.theory.config import F, Gram, Hyper, freeze, readonly
from featmech.theory.exact.branches import Branch
from featmech.theory.exact.gram import Modes
from featmech.theory.exact.pick import select, where

__all__ = ["Constants"]

_STATIC, _LINEAR, _LOGISTIC, _GENERIC = (int(b) for b in Branch)


@dataclass(frozen=True, eq=False)
class Constants:
    r"""Per-configuration constants of the exact solution (read-only arrays of the batch shape).

    Frame: where ``mirror`` is set the constants marked "mirrored" describe the flow of
    :math:`(u, -w)` (target :math:`-k`), whose output is :math:`-f`.

    Attributes:
        branch: the :class:`~featmech.theory.exact.branches.Branch` code of each configuration (int8).
        mirror: evaluate in the mirrored frame (a generic branch with k < 0, or a logistic branch with A = 0).
        kappa_pos: κ > 0 (then the output determines p = u·w).
        area_pos: |u0 ∧ w0| > 0.
        s: :math:`\sqrt{\eta_u\eta_w}`.
        r0: the initial residual :math:`\kappa\, u_0\cdot w_0 - k`.
        r0m: r0, mirrored.
        K0: the initial NTK :math:`V\kappa^2(\eta_w|u_0|^2 + \eta_u|w_0|^2)`.
        C: the conserved :math:`\eta_w|u|^2 - \eta_u|w|^2`.
        km: the target k, mirrored (``>= 0`` on the generic branch).
        n0, d0: :math:`\sqrt B/m` and :math:`\sqrt A/m` (mirrored), so :math:`y_0 = n_0/d_0`.
        one_m_yp: :math:`1 - y_+` without cancellation.
        d0_m_n0: :math:`d_0 - n_0` without cancellation.
        g: the mode scale :math:`\kappa s\sqrt{AB}/4`.
        yplus: :math:`y_+` (NaN off the generic branch).
        D: the rate: :math:`2V\kappa sH` (generic), :math:`|2Vs\kappa k|` (logistic), :math:`K_0`
            (one frozen layer), 0 (static).
        f0m: the initial output :math:`\kappa\, u_0\cdot w_0`, mirrored.
        y0: :math:`y_0 = \sqrt{B/A}` (NaN off the generic branch).
        Q: :math:`\sqrt{AB}` (mirrored; the same number).
        Am: A, mirrored.

    Facts about the whole batch (derived on construction, so that evaluation stays cheap):
        branches: the set of branches present; any_rate_zero: some D = 0; any_mirror;
        all_kappa_pos; all_area_pos; C_all_nonneg: every C >= 0; C_all_neg: every C < 0.

    Build it with :meth:`of`; index it with :meth:`index`.
    """

    branch: NDArray[np.int8]
    mirror: NDArray[np.bool_]
    kappa_pos: NDArray[np.bool_]
    area_pos: NDArray[np.bool_]
    s: F
    r0: F
    r0m: F
    K0: F
    C: F
    km: F
    n0: F
    d0: F
    one_m_yp: F
    d0_m_n0: F
    g: F
    yplus: F
    D: F
    f0m: F
    y0: F
    Q: F
    Am: F
    branches: frozenset[Branch] = field(init=False)
    any_rate_zero: bool = field(init=False)
    any_mirror: bool = field(init=False)
    all_kappa_pos: bool = field(init=False)
    all_area_pos: bool = field(init=False)
    C_all_nonneg: bool = field(init=False)
    C_all_neg: bool = field(init=False)

    def __post_init__(self) -> None:
        for f in _ARRAY_FIELDS:
            a = getattr(self, f)
            object.__setattr__(self, f, readonly(a, dtype=a.dtype))
        self._derive_facts()

    def _derive_facts(self) -> None:
        br = self.branch
        present = (Branch(int(br)),) if br.ndim == 0 else (Branch(int(x)) for x in np.unique(br))
        facts = dict(
            branches=frozenset(present),
            any_rate_zero=_any(self.D == 0),
            any_mirror=_any(self.mirror),
            all_kappa_pos=_all(self.kappa_pos),
            all_area_pos=_all(self.area_pos),
            C_all_nonneg=_all(self.C >= 0),
            C_all_neg=_all(self.C < 0),
        )
        for k, v in facts.items():
            object.__setattr__(self, k, v)

    @property
    def shape(self) -> tuple[int, ...]:
        """The batch shape."""
        return self.branch.shape

    def index(self, idx: Any) -> "Constants":
        """One configuration (or a sub-batch) of a batch (the facts are derived anew)."""
        return Constants(**{f: getattr(self, f)[idx] for f in _ARRAY_FIELDS})

    @classmethod
    def of(cls, g: Gram, h: Hyper, modes: Modes) -> "Constants":
        """Classify each configuration and precompute the constants of its exact form.

        Arguments:
            g: Gram statistics, of the batch shape.
            h: hyperparameters, of the same shape.
            modes: A, B, c of the same shape (:func:`~featmech.theory.exact.gram.modes`).

        Returns:
            The :class:`Constants` (not yet range-checked: see :meth:`check_range`).
        """
        A, B, _ = modes
        eu, ew, kap, k, V = h.eta_u, h.eta_w, h.kappa, h.target, h.data_var
        with np.errstate(all="ignore"):
            s = np.sqrt(eu) * np.sqrt(ew)
            r0 = kap * g.uw - k
            K0 = V * kap * kap * (ew * g.uu + eu * g.ww)
            C = ew * g.uu - eu * g.ww
            moving = (kap > 0) & (V > 0) & ((eu > 0) | (ew > 0)) & ((g.uu > 0) | (g.ww > 0))
            both = (eu > 0) & (ew > 0)
            linear = moving & ~both & (K0 > 0)
            two = moving & both & ((A > 0) | (B > 0))
            logistic = two & ((A == 0) | (B == 0))
            generic = two & (A > 0) & (B > 0)
            branch = np.full(g.shape, _STATIC, dtype=np.int8)
            branch[linear] = _LINEAR
            branch[logistic] = _LOGISTIC
            branch[generic] = _GENERIC

            mirror = (generic & (k < 0)) | (logistic & (A == 0))
            Am = where(mirror, B, A)
            Bm = where(mirror, A, B)
            km = where(mirror, -k, k)
            r0m = where(mirror, -r0, r0)

            sqA, sqB = np.sqrt(Am), np.sqrt(Bm)
            m = np.maximum(sqA, sqB)
            n0 = where(m > 0, sqB / m, 0.0)
            d0 = where(m > 0, sqA / m, 0.0)
            gg = (kap * s) * (sqA * sqB) / 4.0
            hyp = np.hypot(km, 2.0 * gg)
            yplus = where(generic, 2.0 * gg / (km + hyp), np.nan)
            # 1 − y+ = (k + k²/(H + 2g)) / (k + H) >= 0 and d0 − n0 = 4 ũ0·w̃0 / (m(√A+√B)):
            # both free of cancellation, they give 1/y − y (the output) to full relative accuracy
            one_m_yp = (km + km * (km / (hyp + 2.0 * gg))) / (km + hyp)
            uwm = where(mirror, -g.uw, g.uw)
            d0_m_n0 = 4.0 * (uwm / s) / m / (sqA + sqB)
            D_generic = 2.0 * V * kap * s * hyp
            f0m = where(mirror, -kap * g.uw, kap * g.uw)
            beta = 2.0 * V * s * kap * km
            D = select([generic, logistic, linear], [D_generic, np.abs(beta), K0], 0.0)
            y0 = where(generic, n0 / d0, np.nan)
            values = dict(branch=branch, mirror=mirror, kappa_pos=kap > 0, area_pos=g.area > 0, s=s, r0=r0,  # type: ignore[operator]
                          r0m=r0m, K0=K0, C=C, km=km, n0=n0, d0=d0, one_m_yp=one_m_yp, d0_m_n0=d0_m_n0, g=gg,
                          yplus=yplus, D=D, f0m=f0m, y0=y0, Q=sqA * sqB, Am=Am)
        obj = object.__new__(cls)  # fresh values: freeze them in place, no copies, no checks
        for name, v in values.items():
            object.__setattr__(obj, name, freeze(v))
        obj._derive_facts()
        return obj

    def check_range(self, h: Hyper) -> None:
        """Raise where an initial quantity or a rate would leave float64 range (instead of inf/NaN).

        Arguments:
            h: the hyperparameters the constants were built with.

        Raises:
            InputError: ``"parameters out of float64 range: …"``, naming each quantity: the initial
                NTK, the initial loss, the mode scale g (overflow or underflow), the rate D.
        """
        gen = self.branch == _GENERIC
        problems = []
        with np.errstate(all="ignore"):
            loss0 = 0.5 * h.data_var * self.r0 ** 2
        if not _finite(self.K0):
            problems.append("the initial NTK V·κ²·(η_w|u0|²+η_u|w0|²)")
        if not (_finite(self.r0) and _finite(loss0)):
            problems.append("the initial loss ½V(κ u0·w0 − k)²")
        if _any(gen & ~(np.isfinite(self.g) & np.isfinite(self.D) & np.isfinite(self.Q))):
            problems.append("the mode scale κ·√(η_uη_w)·|a||b|")
        if _any(gen & (self.g < _TINY)):
            problems.append("the mode scale κ·√(η_uη_w)·|a||b| (underflows; rescale κ, η or the init)")
        if not _finite(self.D):
            problems.append("the convergence rate D")
        if problems:
            raise InputError("parameters out of float64 range: " + "; ".join(problems))


_ARRAY_FIELDS = tuple(f.name for f in fields(Constants) if f.init)


_TINY = float(np.finfo(float).tiny)


def _finite(x: Any) -> bool:
    """Every entry finite (``math.isfinite`` for one number: cheaper than the ufunc)."""
    return math.isfinite(x) if np.ndim(x) == 0 else bool(np.isfinite(x).all())


def _any(x: NDArray[np.bool_]) -> bool:
    return bool(x) if x.ndim == 0 else bool(x.any())


def _all(x: NDArray[np.bool_]) -> bool:
    return bool(x) if x.ndim == 0 else bool(x.all())
