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

**Working precision.** The constants are computed in float64 when every magnitude the closed form
multiplies lies in :data:`BAND` (then no product of three of them leaves float64 range, see
:meth:`Constants.in_band`), and otherwise in :data:`EXTENDED` precision (NumPy's ``longdouble``,
whose exponent reaches 1e±4932 on x86-64 and aarch64 Linux): the formulas are the same, only
their dtype changes (``docs/exact.md``, "Any scale").

The formulas of the generic branch are written once (:func:`generic_formulas`, :func:`mode_formulas`)
and used on Python floats (one configuration, the fast path :meth:`Constants.single`) and on arrays
(a batch, or any configuration in extended precision, :meth:`Constants.of`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from featmech.errors import InputError
from featmech.theory.config import F, Gram, Hyper, freeze, frozen_scalars, readonly
from featmech.theory.exact.branches import Branch
from featmech.theory.exact.pick import select, where

__all__ = ["Constants", "Modes", "BAND", "EXTENDED", "generic_formulas", "mode_formulas", "inputs_in_band"]

_STATIC, _LINEAR, _LOGISTIC, _GENERIC = (int(b) for b in Branch)

#: magnitudes a float64 solution may involve (each nonzero one inside, so products of three stay in range)
BAND = (1e-100, 1e100)

#: the extended dtype (``longdouble`` where its exponent reaches 1e±4932), or ``None`` where the
#: platform's ``longdouble`` is plain float64 (then configurations outside :data:`BAND` are refused)
EXTENDED: np.dtype[Any] | None = np.dtype(np.longdouble) if np.finfo(np.longdouble).maxexp >= 16384 else None

_LO, _HI = BAND

#: the operations the shared formulas need, on Python floats and on arrays (np.hypot on floats too:
#: math.hypot rounds differently in the last bit, and both paths must give the same numbers)
FLOAT_OPS = SimpleNamespace(sqrt=math.sqrt, hypot=lambda a, b: float(np.hypot(a, b)), maximum=max)
ARRAY_OPS = SimpleNamespace(sqrt=np.sqrt, hypot=np.hypot, maximum=np.maximum)


class Modes(NamedTuple):
    r"""The modes of the flow: :math:`A = |a|^2`, :math:`B = |b|^2`, :math:`c = a\cdot b`
    (:math:`a = \tilde u_0 + \tilde w_0`, :math:`b = \tilde u_0 - \tilde w_0`), arrays of the batch shape."""

    A: Any
    B: Any
    c: Any


def mode_formulas(ops: Any, uu: Any, ww: Any, uw: Any, area: Any, eu: Any, ew: Any, guard: Any = None) -> Modes:
    r"""A, B, c from Gram statistics, on floats or arrays (``ops``: :data:`FLOAT_OPS` or :data:`ARRAY_OPS`).

    .. math::
        c = \frac{uu}{\eta_u} - \frac{ww}{\eta_w},\quad
        \max(A, B) = \frac{uu}{\eta_u} + \frac{ww}{\eta_w} + \frac{2|uw|}{s},\quad
        AB = c^2 + 4\,\mathrm{area}^2/s^2.

    The mode that is a sum of like-signed terms is computed directly; the other from the product,
    which has no cancellation (scaled by the larger one against overflow).

    Arguments:
        ops: the operations (square roots).
        uu, ww, uw, area, eu, ew: the Gram statistics and the learning rates (η > 0 where it matters).
        guard: ``where`` for arrays (entries with nothing to scale by), ``None`` for floats (the
            caller has checked that both modes are defined).

    Returns:
        The :class:`Modes`.
    """
    su, sw = ops.sqrt(eu), ops.sqrt(ew)
    ut = uu / eu
    wt = ww / ew
    cross = uw / (su * sw)
    c = ut - wt
    big = ut + wt + 2.0 * abs(cross)
    if guard is None and not big > 0:  # nothing to scale by (on floats: the caller falls back to arrays)
        return Modes(0.0, 0.0, c)
    safe = big if guard is None else guard(big > 0, big, 1.0)
    x = c / safe
    y = area / (su * sw) / safe
    small = safe * (x * x + 4.0 * (y * y))  # (c² + 4 area²/s²) / big, without overflow of the squares
    if guard is not None:
        small = guard(big > 0, small, 0.0)
        return Modes(guard(cross >= 0, big, small), guard(cross >= 0, small, big), c)
    return Modes(big, small, c) if cross >= 0 else Modes(small, big, c)


def generic_formulas(ops: Any, kap: Any, s: Any, V: Any, km: Any, uwm: Any, sqA: Any, sqB: Any) -> tuple[Any, ...]:
    r"""The constants of the generic branch in the mirrored frame, on floats or arrays.

    Arguments:
        ops: :data:`FLOAT_OPS` or :data:`ARRAY_OPS`.
        kap, s, V: κ, :math:`\sqrt{\eta_u\eta_w}`, V.
        km, uwm: the target and :math:`u_0\cdot w_0`, mirrored.
        sqA, sqB: :math:`\sqrt A`, :math:`\sqrt B`, mirrored.

    Returns:
        ``(n0, d0, g, H, y+, 1−y+, d0−n0, D)`` (entries with ``max(√A, √B) = 0`` give NaN in n0, d0;
        the caller replaces them).
    """
    m = ops.maximum(sqA, sqB)
    n0 = sqB / m
    d0 = sqA / m
    gg = (kap * s) * (sqA * sqB) / 4.0
    hyp = ops.hypot(km, 2.0 * gg)
    yplus = 2.0 * gg / (km + hyp)
    # 1 − y+ = (k + k²/(H + 2g)) / (k + H) >= 0 and d0 − n0 = 4 ũ0·w̃0 / (m(√A+√B)): both free of
    # cancellation, they give 1/y − y (the output) to full relative accuracy
    one_m_yp = (km + km * (km / (hyp + 2.0 * gg))) / (km + hyp)
    d0_m_n0 = 4.0 * (uwm / s) / m / (sqA + sqB)
    D = 2.0 * V * kap * s * hyp
    return n0, d0, gg, hyp, yplus, one_m_yp, d0_m_n0, D


class Scalars(NamedTuple):
    """The float fields of :class:`Constants` for one generic configuration, as Python floats
    (what the fast evaluation of one configuration reads)."""

    uu: float
    ww: float
    uw: float
    area: float
    eta_u: float
    eta_w: float
    kappa: float
    target: float
    data_var: float
    A: float
    B: float
    s: float
    r0: float
    r0m: float
    K0: float
    C: float
    km: float
    n0: float
    d0: float
    one_m_yp: float
    d0_m_n0: float
    g: float
    yplus: float
    D: float
    f0m: float
    y0: float
    Q: float
    Am: float
    mirror: bool


@dataclass(frozen=True, eq=False)
class Constants:
    r"""Per-configuration constants of the exact solution (read-only arrays of the batch shape).

    Everything an evaluation needs, in the working precision (:attr:`dtype`: float64, or
    :data:`EXTENDED` for configurations outside :data:`BAND`).

    Frame: where ``mirror`` is set the constants marked "mirrored" describe the flow of
    :math:`(u, -w)` (target :math:`-k`), whose output is :math:`-f`.

    Attributes:
        uu, ww, uw, area: the Gram statistics of the init.
        eta_u, eta_w, kappa, target, data_var: the hyperparameters.
        A, B: the modes :math:`|a|^2`, :math:`|b|^2` (unmirrored).
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

    Build it with :meth:`of` (any batch, any dtype) or :meth:`single` (one configuration from
    floats); index it with :meth:`index`; :meth:`widen` gives the same constants in extended precision.
    """

    uu: F
    ww: F
    uw: F
    area: F
    eta_u: F
    eta_w: F
    kappa: F
    target: F
    data_var: F
    A: F
    B: F
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

    @property
    def dtype(self) -> np.dtype[Any]:
        """The working precision: float64, or :data:`EXTENDED`."""
        return _FLOAT64 if self.__dict__.get("_scalars") is not None else self.D.dtype

    @property
    def scalars(self) -> Scalars | None:
        """The float fields as Python floats, for one generic float64 configuration (else ``None``)."""
        cached = self.__dict__.get("_scalars", False)
        if cached is False:
            cached = None
            if self.branch.ndim == 0 and int(self.branch) == _GENERIC and self.dtype == np.float64:
                cached = Scalars._make([*(float(getattr(self, f)) for f in Scalars._fields[:-1]), bool(self.mirror)])
            object.__setattr__(self, "_scalars", cached)
        return cached

    def index(self, idx: Any) -> "Constants":
        """One configuration (or a sub-batch) of a batch (the facts are derived anew)."""
        return Constants(**{f: getattr(self, f)[idx] for f in _ARRAY_FIELDS})

    # ------------------------------------------------------------------ construction
    @classmethod
    def of(cls, g: Gram, h: Hyper, modes: Modes) -> "Constants":
        """Classify each configuration and precompute the constants of its exact form (arrays).

        The working dtype is that of the inputs (float64, or :data:`EXTENDED` for arrays already
        converted by the caller).

        Arguments:
            g: Gram statistics, of the batch shape.
            h: hyperparameters, of the same shape.
            modes: A, B, c of the same shape (:func:`~featmech.theory.exact.gram.modes`).

        Returns:
            The :class:`Constants` (not yet range-checked: see :meth:`check_range`).
        """
        A, B, _ = modes
        eu, ew, kap, k, V = h.eta_u, h.eta_w, h.kappa, h.target, h.data_var
        uu, ww, uw, area = g.uu, g.ww, g.uw, g.area
        with np.errstate(all="ignore"):
            s = np.sqrt(eu) * np.sqrt(ew)
            r0 = kap * uw - k
            K0 = V * kap * kap * (ew * uu + eu * ww)
            C = ew * uu - eu * ww
            moving = (kap > 0) & (V > 0) & ((eu > 0) | (ew > 0)) & ((uu > 0) | (ww > 0))
            both = (eu > 0) & (ew > 0)
            linear = moving & ~both & (K0 > 0)
            two = moving & both & ((A > 0) | (B > 0))
            logistic = two & ((A == 0) | (B == 0))
            generic = two & (A > 0) & (B > 0)
            branch = np.full(np.shape(uu), _STATIC, dtype=np.int8)
            branch[linear] = _LINEAR
            branch[logistic] = _LOGISTIC
            branch[generic] = _GENERIC

            mirror = (generic & (k < 0)) | (logistic & (A == 0))
            Am = where(mirror, B, A)
            Bm = where(mirror, A, B)
            km = where(mirror, -k, k)
            r0m = where(mirror, -r0, r0)
            uwm = where(mirror, -uw, uw)
            sqA, sqB = np.sqrt(Am), np.sqrt(Bm)
            n0, d0, gg, hyp, yplus, one_m_yp, d0_m_n0, D_generic = generic_formulas(
                ARRAY_OPS, kap, s, V, km, uwm, sqA, sqB)
            m_pos = np.maximum(sqA, sqB) > 0
            n0 = where(m_pos, n0, 0.0)
            d0 = where(m_pos, d0, 0.0)
            yplus = where(generic, yplus, np.nan)
            f0m = where(mirror, -kap * uw, kap * uw)
            beta = 2.0 * V * s * kap * km
            D = select([generic, logistic, linear], [D_generic, np.abs(beta), K0], 0.0)
            y0 = where(generic, n0 / d0, np.nan)
            values = dict(uu=uu, ww=ww, uw=uw, area=area, eta_u=eu, eta_w=ew, kappa=kap, target=k, data_var=V,
                          A=A, B=B, branch=branch, mirror=mirror, kappa_pos=kap > 0, area_pos=area > 0,  # type: ignore[operator]
                          s=s, r0=r0, r0m=r0m, K0=K0, C=C, km=km, n0=n0, d0=d0, one_m_yp=one_m_yp,
                          d0_m_n0=d0_m_n0, g=gg, yplus=yplus, D=D, f0m=f0m, y0=y0, Q=sqA * sqB, Am=Am)
        obj = object.__new__(cls)  # fresh values (or the validated inputs): frozen in place, no copies
        for name, v in values.items():
            object.__setattr__(obj, name, freeze(v))
        obj._derive_facts()
        return obj

    @classmethod
    def single(cls, g: Gram, h: Hyper, modes: Modes | None = None) -> "Constants | None":
        """The constants of one generic configuration inside :data:`BAND`, computed on Python floats.

        The same formulas as :meth:`of` (:func:`mode_formulas`, :func:`generic_formulas`) and the
        same numbers, at a fraction of the cost of NumPy's machinery on 0-d arrays.

        Arguments:
            g, h: one configuration (0-d fields, float64).
            modes: A, B, c when known more accurately (vector inits), else ``None``.

        Returns:
            The :class:`Constants`, or ``None`` when the configuration is not generic or not inside
            :data:`BAND` (the caller then uses :meth:`of`).
        """
        uu, ww, uw, area = float(g.uu), float(g.ww), float(g.uw), float(g.area)  # type: ignore[arg-type]
        eu, ew, kap, k, V = float(h.eta_u), float(h.eta_w), float(h.kappa), float(h.target), float(h.data_var)
        if not (eu > 0 and ew > 0 and kap > 0 and V > 0 and (uu > 0 or ww > 0)):
            return None
        try:
            return cls._single(g, h, modes, uu, ww, uw, area, eu, ew, kap, k, V)
        except (ZeroDivisionError, OverflowError):  # something under- or overflowed: not inside BAND
            return None

    @classmethod
    def _single(cls, g: Gram, h: Hyper, modes: Modes | None, uu: float, ww: float, uw: float, area: float,
                eu: float, ew: float, kap: float, k: float, V: float) -> "Constants | None":
        if modes is None:
            A, B, _ = mode_formulas(FLOAT_OPS, uu, ww, uw, area, eu, ew)
        else:
            A, B = float(modes.A), float(modes.B)
        if not (A > 0 and B > 0):
            return None
        s = math.sqrt(eu) * math.sqrt(ew)
        r0 = kap * uw - k
        K0 = V * kap * kap * (ew * uu + eu * ww)
        C = ew * uu - eu * ww
        mirror = k < 0
        Am, Bm, km, r0m, uwm = (B, A, -k, -r0, -uw) if mirror else (A, B, k, r0, uw)
        sqA, sqB = math.sqrt(Am), math.sqrt(Bm)
        n0, d0, gg, hyp, yplus, one_m_yp, d0_m_n0, D = generic_formulas(FLOAT_OPS, kap, s, V, km, uwm, sqA, sqB)
        f0m = -kap * uw if mirror else kap * uw
        sc = Scalars(uu, ww, uw, area, eu, ew, kap, k, V, A, B, s, r0, r0m, K0, C, km, n0, d0, one_m_yp, d0_m_n0,
                     gg, yplus, D, f0m, n0 / d0, sqA * sqB, Am, mirror)
        if not _floats_in_band(sc):
            return None
        obj = object.__new__(cls)
        d = obj.__dict__  # (a frozen dataclass refuses __setattr__, not its __dict__)
        d.update(uu=g.uu, ww=g.ww, uw=g.uw, area=g.area, eta_u=h.eta_u, eta_w=h.eta_w, kappa=h.kappa, target=h.target,
                 data_var=h.data_var, branch=_GENERIC_CODE)
        # (the derived fields become 0-d arrays when first read, see __getattr__: the evaluation reads the floats)
        d.update(branches=_GENERIC_SET, any_rate_zero=False, any_mirror=mirror, all_kappa_pos=True,
                 all_area_pos=area > 0, C_all_nonneg=C >= 0, C_all_neg=C < 0, _scalars=sc)
        return obj

    def __getattr__(self, name: str) -> Any:
        """The derived fields of a configuration built by :meth:`single`, as read-only 0-d arrays,
        made on first use (from the Python floats the fast path computed)."""
        d = self.__dict__
        sc = d.get("_scalars")
        if sc is None or name not in _LAZY:
            raise AttributeError(name)
        d.update(zip(_DERIVED, frozen_scalars([getattr(sc, n) for n in _DERIVED])))
        d.update(zip(("mirror", "kappa_pos", "area_pos"), frozen_scalars([sc.mirror, True, sc.area > 0], np.bool_)))
        return d[name]

    def widen(self) -> "Constants":
        """The same configurations with every constant recomputed in :data:`EXTENDED` precision.

        Raises:
            InputError: the platform has no extended precision.
        """
        if self.dtype != np.float64:
            return self
        x = _extended()
        g = Gram.trusted(*(self.uu, self.ww, self.uw, self.area), dtype=x)
        h = Hyper.trusted(self.eta_u, self.eta_w, self.kappa, self.target, self.data_var, dtype=x)
        A, B = np.asarray(self.A, x), np.asarray(self.B, x)
        return Constants.of(g, h, Modes(A, B, A * 0))  # (c is not a constant of the solution)

    # ------------------------------------------------------------------ range
    def in_band(self, inputs: bool = True) -> bool:
        """Whether float64 is safe for every configuration: each nonzero magnitude the closed form
        multiplies lies in :data:`BAND` (checked on the constants; :class:`Solution` checks the
        fixed point as well). Products of up to three of them then stay within 1e±300.

        Arguments:
            inputs: check the Gram statistics and hyperparameters too (``False`` where the caller
                has checked them before broadcasting, at a fraction of the cost: :func:`inputs_in_band`).
        """
        if self.dtype != np.float64:
            return False
        sc = self.scalars
        if sc is not None:
            return _floats_in_band(sc)
        with np.errstate(all="ignore"):
            if inputs and not inputs_in_band(self.uu, self.ww, self.uw, self.area, self.eta_u, self.eta_w,
                                             self.kappa, self.target, self.data_var):
                return False
            gen = self.branch == _GENERIC
            log = self.branch == _LOGISTIC
            uniform = len(self.branches) == 1

            def on(mask: Any, x: Any) -> Any:  # x where its branch applies (NaN or garbage elsewhere)
                return x if uniform else where(mask, x, 0.0)
            mags = [self.K0, self.C, self.r0, self.D]
            if Branch.GENERIC in self.branches:
                P1 = self.n0 * self.yplus + self.d0
                P2 = self.yplus * self.yplus + 1.0
                mags += [on(gen, x) for x in (self.g, self.yplus, self.n0, self.d0, self.one_m_yp, self.d0_m_n0,
                                              2.0 * self.data_var * self.kappa * self.s * self.g,
                                              self.s * (self.s * self.Q) / 2.0, self.r0m * (P2 * self.n0 * self.d0 / P1))]
            if Branch.LOGISTIC in self.branches:
                mags += [where(log & (self.km != 0), self.f0m / self.km, 0.0),
                         on(log, 2.0 * self.data_var * self.s * self.kappa * self.f0m),
                         on(log, self.s * self.s * self.Am / 2.0)]
            return all(_within_band(x) for x in mags)

    def range_problems(self) -> list[str]:
        """What would leave the working precision's range (empty when nothing does).

        Returns:
            The quantities, in words: the initial NTK, the initial loss, the mode scale g, the rate D.
        """
        gen = self.branch == _GENERIC
        problems = []
        tiny = float(np.finfo(self.dtype).tiny)
        with np.errstate(all="ignore"):
            loss0 = 0.5 * self.data_var * self.r0 ** 2
        if not _finite(self.K0):
            problems.append("the initial NTK V·κ²·(η_w|u0|²+η_u|w0|²)")
        if not (_finite(self.r0) and _finite(loss0)):
            problems.append("the initial loss ½V(κ u0·w0 − k)²")
        if _any(gen & ~(np.isfinite(self.g) & np.isfinite(self.D) & np.isfinite(self.Q))):
            problems.append("the mode scale κ·√(η_uη_w)·|a||b|")
        if _any(gen & (self.g < tiny)):
            problems.append("the mode scale κ·√(η_uη_w)·|a||b| (underflows)")
        if not _finite(self.D):
            problems.append("the convergence rate D")
        return problems

    def check_range(self) -> None:
        """Raise where an initial quantity or a rate would leave the working precision's range.

        Raises:
            InputError: ``"parameters out of float64 range: …"``, naming each quantity (see
                :meth:`range_problems`).
        """
        problems = self.range_problems()
        if problems:
            raise InputError("parameters out of float64 range: " + "; ".join(problems))


_ARRAY_FIELDS = tuple(f.name for f in fields(Constants) if f.init)
_INPUTS = ("uu", "ww", "uw", "area", "eta_u", "eta_w", "kappa", "target", "data_var")
_DERIVED = tuple(n for n in Scalars._fields if n not in _INPUTS and n != "mirror")
_FLOAT64 = np.dtype(np.float64)
_LAZY = frozenset(_DERIVED) | {"mirror", "kappa_pos", "area_pos"}
_GENERIC_CODE = np.array(_GENERIC, dtype=np.int8)
_GENERIC_CODE.flags.writeable = False
_GENERIC_SET = frozenset({Branch.GENERIC})


def _floats_in_band(sc: Scalars) -> bool:
    """:meth:`Constants.in_band` for one generic configuration of Python floats (the same magnitudes)."""
    P1 = sc.n0 * sc.yplus + sc.d0
    P2 = sc.yplus * sc.yplus + 1.0
    mags = (sc.uu, sc.ww, sc.uw, sc.area, sc.eta_u, sc.eta_w, sc.kappa, sc.target, sc.data_var, sc.target / sc.kappa,
            sc.K0, sc.C, sc.r0, sc.D, sc.g, sc.yplus, sc.n0, sc.d0, sc.one_m_yp, sc.d0_m_n0,
            2.0 * sc.data_var * sc.kappa * sc.s * sc.g, sc.s * (sc.s * sc.Q) / 2.0, sc.r0m * (P2 * sc.n0 * sc.d0 / P1))
    nonzero = [abs(x) for x in mags if x != 0.0]
    return min(nonzero) >= _LO and max(nonzero) <= _HI and not math.isnan(sum(nonzero))


def _within_band(x: Any) -> bool:
    """Every nonzero entry of ``x`` lies in :data:`BAND` (a NaN or an infinity does not)."""
    a = np.abs(x)
    if not a.max() <= _HI:
        return False
    return bool(np.min(a, where=a > 0, initial=np.inf) >= _LO)


def inputs_in_band(*arrays: Any) -> bool:
    """Every nonzero Gram statistic and hyperparameter in :data:`BAND`, and k/κ too (before
    broadcasting: a scalar hyperparameter costs one comparison, not one per configuration).

    Arguments:
        arrays: uu, ww, uw, area, eta_u, eta_w, kappa, target, data_var.
    """
    kappa, target = arrays[6], arrays[7]
    with np.errstate(all="ignore"):
        k_over_kappa = np.where(kappa > 0, target / np.where(kappa > 0, kappa, 1.0), 0.0)
    return all(_within_band(x) for x in (*arrays, k_over_kappa))


def _extended() -> np.dtype[Any]:
    if EXTENDED is None:
        raise InputError("parameters out of float64 range: this configuration needs extended precision, and "
                         "NumPy's longdouble on this platform is plain float64")
    return EXTENDED


def _finite(x: Any) -> bool:
    """Every entry finite (``math.isfinite`` for one float64 number: cheaper than the ufunc)."""
    if np.ndim(x) == 0 and np.asarray(x).dtype == np.float64:
        return math.isfinite(x)
    return bool(np.isfinite(x).all())


def _any(x: NDArray[np.bool_]) -> bool:
    return bool(x) if np.ndim(x) == 0 else bool(x.any())


def _all(x: NDArray[np.bool_]) -> bool:
    return bool(x) if np.ndim(x) == 0 else bool(x.all())
