r"""Exact gradient-flow solution of the one-hidden-layer linear network.

Model (THEORY.md §1): :math:`f(x) = \kappa\, p\, x` with :math:`p = u\cdot w`, loss
:math:`L = \tfrac12 V(\kappa p - k)^2`, gradient flow with layer-wise learning rates

.. math::
    \dot u = -\eta_u V \kappa r\, w,\qquad \dot w = -\eta_w V \kappa r\, u,\qquad r = \kappa p - k.

Units: ``t`` is gradient-flow time (a GD step of size ``lr`` advances it by ``lr``).

Every scalar observable depends on the initialization only through the Gram statistics
:math:`(|u_0|^2, |w_0|^2, u_0\cdot w_0)` (plus the conserved area :math:`|u_0\wedge w_0|`,
which they determine). With :math:`\tilde u = u/\sqrt{\eta_u}`, :math:`\tilde w = w/\sqrt{\eta_w}`,
:math:`s=\sqrt{\eta_u\eta_w}`, :math:`a=\tilde u_0+\tilde w_0`, :math:`b=\tilde u_0-\tilde w_0`,
:math:`A=|a|^2`, :math:`B=|b|^2`, the state is :math:`\tilde u = (a e^{-\tau}+b e^{\tau})/2`,
:math:`\tilde w = (a e^{-\tau}-b e^{\tau})/2`. This module evaluates it through the scaled variable
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

Degenerate cases get their own exact forms: a zero aligned or anti-aligned mode (Saxe's
logistic curve), one frozen layer (:math:`\eta=0`: linear regression, NTK constant), and no
dynamics at all (:math:`\kappa=0`, :math:`V=0`, both :math:`\eta=0`, or :math:`u_0=w_0=0`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from featmech._validation import check_array, check_times
from featmech.errors import InputError
from featmech.theory.config import Gram, Hyper, check_vectors

__all__ = [
    "Gram",
    "Hyper",
    "State",
    "Solution",
    "solve",
    "solve_gram",
    "gram_of",
    "check_gram",
]

F = NDArray[np.float64]

# branch codes
STATIC, LINEAR, LOGISTIC, GENERIC = 0, 1, 2, 3
BRANCH_NAMES = {STATIC: "static", LINEAR: "one frozen layer", LOGISTIC: "logistic", GENERIC: "generic"}


@dataclass(frozen=True)
class State:
    """Observables of the network at times ``t`` (arrays of shape ``batch_shape + t.shape``).

    - ``output``: κ p, the slope of the network function (f(x) = output · x);
    - ``residual``: r = κ p − k;  ``loss``: ½ V r²;
    - ``ntk``: K = V κ² (η_w |u|² + η_u |w|²), the (scalar) neural tangent kernel;
    - ``alignment``: ζ = u·w / (|u||w|) (0 where a vector is zero);
    - ``norm_u``, ``norm_w``: Euclidean norms; ``conserved``: η_w|u|² − η_u|w|².
    """

    t: F
    output: F
    residual: F
    loss: F
    ntk: F
    alignment: F
    norm_u: F
    norm_w: F
    conserved: F

    def as_dict(self) -> dict[str, F]:
        """The fields as a plain dict of arrays."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _norm_scaled(x: F) -> tuple[float, F]:
    m = float(np.max(np.abs(x))) if x.size else 0.0
    if m == 0.0:
        return 0.0, x
    return m, x / m


def gram_of(u0: ArrayLike, w0: ArrayLike) -> Gram:
    """Gram statistics of two weight vectors, computed without overflow or cancellation.

    The area |u0 ∧ w0| is taken as |u0| · |w0 − proj_{u0} w0| rather than from
    ``uu*ww - uw**2`` so that nearly collinear vectors keep their relative accuracy.
    """
    u, w = check_vectors(u0, w0)
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


def _check_hyper(eta_u: ArrayLike, eta_w: ArrayLike, kappa: ArrayLike, target: ArrayLike,
                 data_var: ArrayLike) -> Hyper:
    return Hyper(eta_u=eta_u, eta_w=eta_w, kappa=kappa, target=target, data_var=data_var)


def _modes_from_gram(g: Gram, h: Hyper) -> tuple[F, F, F]:
    """A = |ũ0+w̃0|², B = |ũ0−w̃0|², c = |ũ0|²−|w̃0|² from Gram statistics.

    The mode that is a sum of like-signed terms is computed directly; the other from
    AB = c² + 4|ũ0∧w̃0|², which has no cancellation.
    """
    with np.errstate(all="ignore"):
        su, sw = np.sqrt(h.eta_u), np.sqrt(h.eta_w)
        ut = g.uu / h.eta_u
        wt = g.ww / h.eta_w
        cross = g.uw / (su * sw)
        c = ut - wt
        big = ut + wt + 2.0 * np.abs(cross)
        safe = np.where(big > 0, big, 1.0)
        # small = (c² + 4 area²/s²) / big, scaled by big to avoid overflow of the squares
        small = np.where(big > 0, safe * ((c / safe) ** 2 + 4.0 * (g.area / (su * sw) / safe) ** 2), 0.0)
        A = np.where(cross >= 0, big, small)
        B = np.where(cross >= 0, small, big)
    return A, B, c


@dataclass(frozen=True, eq=False)
class Solution:
    """Exact gradient-flow trajectory; call it at times ``t`` like scipy's ``OdeSolution``.

    ``sol(t)`` returns a :class:`State` whose arrays have shape ``sol.batch_shape + t.shape``.
    Build it with :func:`solve` (weight vectors) or :func:`solve_gram` (Gram statistics, any
    batch shape). Attributes:

    - ``rate``: D, the asymptotic exponential convergence rate (1/time); 0 where convergence
      is algebraic or there is no dynamics;
    - ``fixed_point``: the :class:`State` at t = ∞;
    - ``ntk_ratio``: K(∞)/K(0);
    - ``branch``: which exact form applies ("generic", "logistic", "one frozen layer", "static").
    """

    gram: Gram
    hyper: Hyper
    _p: dict[str, F] = field(repr=False)
    _vectors: tuple[F, F] | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def _build(cls, gram: Gram, hyper: Hyper, modes: tuple[F, F, F] | None = None,
               vectors: tuple[F, F] | None = None) -> "Solution":
        arrays = np.broadcast_arrays(gram.uu, gram.ww, gram.uw, gram.area, hyper.eta_u, hyper.eta_w,
                                     hyper.kappa, hyper.target, hyper.data_var)
        gram = Gram.trusted(*arrays[:4])
        hyper = Hyper(*arrays[4:])
        A, B, c = _modes_from_gram(gram, hyper) if modes is None else modes
        A, B, c = (np.broadcast_to(np.asarray(x, dtype=np.float64), gram.shape).copy() for x in (A, B, c))
        p = _prepare(gram, hyper, A, B, c)
        return cls(gram=gram, hyper=hyper, _p=p, _vectors=vectors)

    # ------------------------------------------------------------------ basic info
    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.gram.shape

    @property
    def rate(self) -> F | float:
        return _scalarize(self._p["D"])

    @property
    def branch(self) -> Any:
        names = np.vectorize(BRANCH_NAMES.get, otypes=[object])(self._p["branch"])
        return names.item() if names.ndim == 0 else names

    @property
    def fixed_point(self) -> State:
        return self(np.inf)

    @property
    def initial(self) -> State:
        return self(0.0)

    @property
    def ntk_ratio(self) -> F | float:
        """K(∞)/K(0) (1 where K(0) = 0)."""
        return _scalarize(1.0 + np.asarray(self.ntk_change))

    @property
    def ntk_change(self) -> F | float:
        """K(∞)/K(0) − 1, to full relative accuracy even when it is far below 1e-16.

        Generic branch: with K ∝ y + 1/y, K∞/K0 − 1 = (y+ − y0)(y+y0 − 1)/(y+y0(y0 + 1/y0)), where
        y+ − y0 = y0 r0 / (g (y0 + 1/y+)) and y+y0 − 1 = −y+(d0 − n0)/d0 − (1 − y+) have no
        cancellation; logistic branch: v∞ − 1 = −r0/f0 (k > 0) or −1; otherwise 0.
        """
        p = self._p
        with np.errstate(all="ignore"):
            y0, yp, gg = p["y0"], p["yplus"], p["g"]
            d_y = y0 * p["r0m"] / (gg * (y0 + 1.0 / yp))
            prod_m1 = -yp * p["d0_m_n0"] / p["d0"] - p["one_m_yp"]
            gen = d_y * prod_m1 / (yp * y0 * (y0 + 1.0 / y0))
            logi = np.where(p["km"] > 0, -p["r0m"] / p["f0m"], -1.0)
            out = np.select([p["branch"] == GENERIC, p["branch"] == LOGISTIC], [gen, logi], 0.0)
            out = np.where(p["K0"] > 0, out, 0.0)
        return _scalarize(out)

    @property
    def ntk_max_deviation(self) -> F | float:
        """max over t in [0, ∞] of |K(t)/K(0) − 1|, exactly.

        K = R(y + 1/y) along the generic branch, so besides the endpoints only y = 1 (the output
        crossing zero) can be an extremum; elsewhere K is monotone.
        """
        p = self._p
        with np.errstate(all="ignore"):
            K0 = p["K0"]
            dev = np.abs(np.asarray(self.ntk_change))
            crosses = (p["branch"] == GENERIC) & ((p["y0"] - 1.0) * (p["yplus"] - 1.0) < 0) & (K0 > 0)
            kmin = 4.0 * self.hyper.data_var * self.hyper.kappa * p["s"] * p["g"]
            dev = np.where(crosses, np.maximum(dev, np.abs(kmin / np.where(K0 > 0, K0, 1.0) - 1.0)), dev)
        return _scalarize(dev)

    @property
    def lam(self) -> F | float:
        """λ = k/g with g = κ√(η_uη_w)|a||b|/4: the finite-width form of the infinite-width λ = 4k/(κ s N).

        ±inf on the logistic branch (a vanished mode), NaN where it does not apply.
        """
        p = self._p
        with np.errstate(all="ignore"):
            lam = np.where(p["branch"] == GENERIC, self.hyper.target / p["g"],
                           np.where(p["branch"] == LOGISTIC, np.sign(self.hyper.target) * np.inf, np.nan))
        return _scalarize(lam)

    @property
    def y_range(self) -> tuple[F, F]:
        """Scaled variable y at t=0 and t=∞ in the frame with k ≥ 0 (NaN outside the generic branch)."""
        return self._p["y0"], self._p["yplus"]

    # ------------------------------------------------------------------ evaluation
    def __call__(self, t: ArrayLike) -> State:
        tt = check_times(t)
        return _evaluate(self.gram, self.hyper, self._p, tt)

    def weights(self, t: ArrayLike) -> tuple[F, F]:
        """Weight vectors u(t), w(t), arrays of shape ``t.shape + (width,)``.

        Only for solutions built from vectors with :func:`solve`.
        """
        if self._vectors is None:
            raise InputError("weights() needs a solution built from vectors with featmech.solve(u0, w0)")
        tt = check_times(t)
        return _weights(self.hyper, self._p, self._vectors, tt)

    def time_to_loss(self, loss: float) -> F | float:
        """Earliest time t with L(t) <= ``loss`` (0 if already there, ``inf`` if never).

        Gradient flow never increases the loss, so the answer is unique; it is found by a
        bracketed root search on the exact loss (relative accuracy ~1e-12).
        """
        lt = check_array("loss", loss, low=0.0)
        out = np.empty(self.batch_shape)
        for idx in np.ndindex(*self.batch_shape):
            sub = self._index(idx)
            out[idx] = sub._time_to_loss_scalar(float(np.broadcast_to(lt, self.batch_shape)[idx]))
        return _scalarize(out)

    def convergence_time(self, fraction: float = 1e-2) -> F | float:
        """Time at which |r(t)| = ``fraction`` · |r(0)| (the loss falls by fraction²), vectorized.

        Closed form in every branch (no root search): the generic branch inverts y(t) — find
        y* with g(1/y* − y*) = k + fraction·r0, then E* = P1(y+ − y*)/(P1(y+ − y*) + P2(d0 y* − n0))
        and t = −ln(E*)/D; the logistic and linear branches invert their exponentials. ``inf``
        where the residual never gets that small (the saddle of a wrong-sign aligned init, or
        no dynamics); 0 where r0 = 0.
        """
        from featmech._validation import check_scalar

        fr = check_scalar("fraction", fraction, low=0.0, low_inclusive=False, high=1.0)
        p, h = self._p, self.hyper
        br = p["branch"]
        out = np.full(self.batch_shape, np.inf)
        with np.errstate(all="ignore"):
            D = p["D"]
            # generic, mirrored frame (k' >= 0)
            gg, km, yp, n0, d0 = p["g"], p["km"], p["yplus"], p["n0"], p["d0"]
            fstar = km + fr * p["r0m"]
            hyp = np.hypot(fstar, 2.0 * gg)
            ystar = np.where(fstar >= 0, 2.0 * gg / (fstar + hyp), (hyp - fstar) / (2.0 * gg))
            P1, P2 = n0 * yp + d0, yp * yp + 1.0
            Estar = P1 * (yp - ystar) / (P1 * (yp - ystar) + P2 * (d0 * ystar - n0))
            t_gen = -np.log(Estar) / D
            # logistic: Ev(t) = fraction
            rho = np.abs(p["f0m"] / km)
            alpha = 2.0 * h.data_var * p["s"] * h.kappa * p["f0m"]
            E_pos = fr * rho / (1.0 - fr + fr * rho)
            E_neg = 1.0 - (1.0 / fr - 1.0) / rho
            t_log = np.where(km > 0, -np.log(E_pos) / D,
                             np.where(km < 0, np.where(E_neg > 0, -np.log(E_neg) / D, np.inf),
                                      (1.0 / fr - 1.0) / alpha))
            t_lin = -math.log(fr) / D
        out = np.select([br == GENERIC, br == LOGISTIC, br == LINEAR], [t_gen, t_log, t_lin], np.inf)
        out = np.where(p["r0"] == 0, 0.0, out)
        out = np.where(np.isnan(out), np.inf, out)
        return _scalarize(out)

    def _index(self, idx: tuple[int, ...]) -> "Solution":
        g = self.gram.index(idx)
        h = self.hyper.index(idx)
        p = {k: (v[idx] if k != "flags" else v) for k, v in self._p.items()}
        return Solution(gram=g, hyper=h, _p=p)

    def _time_to_loss_scalar(self, target_loss: float) -> float:
        def lossf(t: float) -> float:
            return float(self(t).loss)

        l0 = lossf(0.0)
        if l0 <= target_loss:
            return 0.0
        if lossf(math.inf) > target_loss:
            return math.inf
        D = float(self._p["D"])
        hi = 1.0 / D if D > 0 else 1.0
        hi = hi if math.isfinite(hi) and hi > 0 else 1.0
        lo = 0.0
        while lossf(hi) > target_loss:
            lo = hi
            hi *= 4.0
            if hi > 1e300:
                return math.inf
        return float(optimize.brentq(lambda t: lossf(t) - target_loss, lo, hi, xtol=1e-300, rtol=1e-13,
                                     maxiter=500))


def _scalarize(a: Any) -> Any:
    arr = np.asarray(a)
    return float(arr) if arr.ndim == 0 else arr


# ---------------------------------------------------------------------- core math
def _prepare(g: Gram, h: Hyper, A: F, B: F, c: F) -> dict[str, F]:
    """Classify each configuration and precompute the constants of its exact form."""
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
        branch = np.full(g.shape, STATIC, dtype=np.int8)
        branch[linear] = LINEAR
        branch[logistic] = LOGISTIC
        branch[generic] = GENERIC

        mirror = (generic & (k < 0)) | (logistic & (A == 0))
        Am = np.where(mirror, B, A)
        Bm = np.where(mirror, A, B)
        km = np.where(mirror, -k, k)
        r0m = np.where(mirror, -r0, r0)

        sqA, sqB = np.sqrt(Am), np.sqrt(Bm)
        m = np.maximum(sqA, sqB)
        n0 = np.where(m > 0, sqB / m, 0.0)
        d0 = np.where(m > 0, sqA / m, 0.0)
        gg = (kap * s) * (sqA * sqB) / 4.0
        hyp = np.hypot(km, 2.0 * gg)
        yplus = np.where(generic, 2.0 * gg / (km + hyp), np.nan)
        # 1 − y+ = (k + k²/(H + 2g)) / (k + H) >= 0 and d0 − n0 = 4 ũ0·w̃0 / (m(√A+√B)):
        # both free of cancellation, they give 1/y − y (the output) to full relative accuracy
        one_m_yp = (km + km * (km / (hyp + 2.0 * gg))) / (km + hyp)
        uwm = np.where(mirror, -g.uw, g.uw)
        d0_m_n0 = 4.0 * (uwm / s) / m / (sqA + sqB)
        D_generic = 2.0 * V * kap * s * hyp
        f0m = np.where(mirror, -kap * g.uw, kap * g.uw)
        beta = 2.0 * V * s * kap * km
        D = np.select([generic, logistic, linear], [D_generic, np.abs(beta), K0], 0.0)
        y0 = np.where(generic, n0 / d0, np.nan)

    p = dict(branch=branch, mirror=mirror, s=s, r0=r0, r0m=r0m, K0=K0, C=C, km=km, n0=n0, d0=d0,
             one_m_yp=one_m_yp, d0_m_n0=d0_m_n0,
             g=gg, yplus=yplus, D=D, f0m=f0m, y0=y0, Q=sqA * sqB, Am=Am)
    # configuration-wide facts, computed once so that evaluation stays cheap per call
    p["flags"] = dict(
        present=frozenset(int(x) for x in np.unique(branch)),
        any_D0=bool(np.any(D == 0)),
        any_mirror=bool(np.any(mirror)),
        all_kap_pos=bool(np.all(kap > 0)),
        all_area_pos=bool(np.all(g.area > 0)),
        C_all_pos=bool(np.all(C >= 0)),
        C_all_neg=bool(np.all(C < 0)),
    )
    _check_range(g, h, p)
    return p


def _check_range(g: Gram, h: Hyper, p: dict[str, F]) -> None:
    """Raise ValueError where an observable would leave float64 range (instead of inf/NaN)."""
    br = p["branch"]
    problems = []
    with np.errstate(all="ignore"):
        loss0 = 0.5 * h.data_var * p["r0"] ** 2
    if not np.all(np.isfinite(p["K0"])):
        problems.append("the initial NTK V·κ²·(η_w|u0|²+η_u|w0|²)")
    if not np.all(np.isfinite(p["r0"])) or not np.all(np.isfinite(loss0)):
        problems.append("the initial loss ½V(κ u0·w0 − k)²")
    gen = br == GENERIC
    if np.any(gen & ~(np.isfinite(p["g"]) & np.isfinite(p["D"]) & np.isfinite(p["Q"]))):
        problems.append("the mode scale κ·√(η_uη_w)·|a||b|")
    if np.any(gen & (p["g"] < np.finfo(float).tiny)):
        problems.append("the mode scale κ·√(η_uη_w)·|a||b| (underflows; rescale κ, η or the init)")
    if not np.all(np.isfinite(p["D"])):
        problems.append("the convergence rate D")
    if problems:
        raise InputError("parameters out of float64 range: " + "; ".join(problems))
    with np.errstate(all="ignore"):
        fp = _evaluate(g, h, p, np.array(np.inf))
    for name in ("ntk", "output", "norm_u", "norm_w"):
        if not np.all(np.isfinite(getattr(fp, name))):
            raise InputError(f"parameters out of float64 range: the final {name} is not representable")


def _evaluate(g: Gram, h: Hyper, p: dict[str, F], t: F) -> State:
    if t.ndim == 0:  # work on a length-1 axis (in-place ufuncs need arrays), then drop it
        st = _evaluate(g, h, p, t.reshape(1))
        return State(**{f.name: getattr(st, f.name)[..., 0] for f in fields(State)})
    bshape = g.shape
    extra = (1,) * t.ndim

    def b(x: F) -> F:
        if not bshape:  # one configuration: a numpy scalar keeps ufuncs on their fast path
            return np.asarray(x)[()]
        return np.reshape(x, bshape + extra)

    out_shape = np.broadcast_shapes(bshape + extra, t.shape)
    br = b(p["branch"])
    eu, ew, kap, k, V = (b(x) for x in (h.eta_u, h.eta_w, h.kappa, h.target, h.data_var))
    uu, ww, uw, area = (b(x) for x in (g.uu, g.ww, g.uw, g.area))
    mirror = b(p["mirror"])
    D = b(p["D"])
    T = np.broadcast_to(t, out_shape)

    flags = p["flags"]
    present = flags["present"]
    uniform = len(present) == 1
    if uniform:
        fm = rm = K = sS = None  # filled directly by the only branch present
    else:
        fm = np.empty(out_shape)  # output in the mirrored frame
        rm = np.empty(out_shape)  # residual in the mirrored frame
        K = np.empty(out_shape)
        sS = np.empty(out_shape)  # η_w|u|² + η_u|w|²
    full = np.broadcast_to(br, out_shape)

    def put(which: int, f_: F, r_: F, K_: F, sS_: F) -> None:
        nonlocal fm, rm, K, sS
        if uniform:
            fm, rm, K, sS = (x if np.shape(x) == out_shape else np.broadcast_to(x, out_shape)
                             for x in (f_, r_, K_, sS_))
            return
        sel = full == which
        for dst, val in ((fm, f_), (rm, r_), (K, K_), (sS, sS_)):
            _put(dst, sel, val)

    with np.errstate(all="ignore"):
        # (in-place arithmetic below keeps the number of fresh temporaries, hence page faults, low)
        Dt = D * T
        if flags["any_D0"]:  # no dynamics: avoid 0·inf at t = inf
            Dt = np.where(D == 0, 0.0, Dt)
        small = Dt < 0.7  # 1 − e^{−x} cancels for small x: use expm1 there
        Dt = np.negative(Dt, out=Dt) if Dt.flags.writeable and Dt.shape == out_shape else -Dt
        E = np.exp(Dt)
        Ec = np.subtract(1.0, E)
        if small.any():
            if small.shape == Ec.shape:
                Ec[small] = -np.expm1(Dt[small])
            else:
                Ec = -np.expm1(Dt)

        if GENERIC in present:
            n0, d0, gg, yp = (b(p[x]) for x in ("n0", "d0", "g", "yplus"))
            s, Q, r0m = b(p["s"]), b(p["Q"]), b(p["r0m"])
            P1 = n0 * yp + d0
            P2 = yp * yp + 1.0
            tmp = np.multiply(n0 * P2, E, out=Dt if Dt.shape == out_shape else None)
            num = np.multiply(yp * P1, Ec)
            num += tmp
            np.multiply(d0 * P2, E, out=tmp)
            den = np.multiply(P1, Ec)
            den += tmp
            inv_num = np.divide(1.0, num)
            inv_den = np.divide(1.0, den)
            y_inv = np.multiply(num, inv_den, out=num)  # y + 1/y (num is not needed any more)
            y_inv += np.multiply(den, inv_num, out=den)
            # r = r0·E·Φ,  Φ = P2 n0 d0 (y y+ + 1)/(P1 num) = (P2 n0 d0/P1)(y+/den + 1/num)
            r_g = np.multiply(inv_den, yp)
            r_g += inv_num
            r_g *= E
            r_g *= r0m * (P2 * n0 * d0 / P1)
            # f = g(1/y − y) = g·Δ·(1/num + 1/den), Δ = den − num written without cancellation
            f_g = np.multiply(P1 * b(p["one_m_yp"]), Ec)
            f_g += np.multiply(P2 * b(p["d0_m_n0"]), E, out=tmp)
            inv_num += inv_den
            f_g *= inv_num
            f_g *= gg
            K_g = np.multiply(y_inv, 2.0 * V * kap * s * gg)
            sS_g = np.multiply(y_inv, s * (s * Q) / 2.0, out=y_inv)
            del tmp, inv_num, inv_den
            put(GENERIC, f_g, r_g, K_g, sS_g)

        if LOGISTIC in present:
            km, f0m, r0m, s, Am = b(p["km"]), b(p["f0m"]), b(p["r0m"]), b(p["s"]), b(p["Am"])
            K0 = b(p["K0"])
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
            put(LOGISTIC, f0m * v, r0m * Ev, K0 * v, s * s * Am * v / 2.0)

        if LINEAR in present:
            K0, r0 = b(p["K0"]), b(p["r0"])
            r_l = r0 * E
            put(LINEAR, k + r_l, r_l, K0, np.nan)  # never mirrored

        if STATIC in present:
            put(STATIC, kap * uw, b(p["r0"]), b(p["K0"]), np.nan)

        if flags["any_mirror"]:
            sign = np.where(mirror, -1.0, 1.0)
            output = sign * fm
            residual = sign * rm
        else:  # fresh arrays from the branch formulas (copies only for broadcast views)
            output = fm if (fm.flags.writeable and fm.flags.owndata) else np.array(fm)
            residual = rm if (rm.flags.writeable and rm.flags.owndata) else np.array(rm)
        loss = np.multiply(residual, residual)
        loss *= 0.5 * V
        # p = u·w; for κ = 0 (static) keep the initial value
        if flags["all_kap_pos"]:
            pdot = output / kap
        else:
            pdot = np.broadcast_to(np.where(kap > 0, output / np.where(kap > 0, kap, 1.0), uw), out_shape)
        pa2 = np.multiply(pdot, pdot)  # |u|²|w|² = p² + |u∧w|²
        pa2 += area * area
        scaled = not np.isfinite(pa2.max())  # p² overflows: use hypot and ratios
        den_z = np.hypot(pdot, area) if scaled else np.sqrt(pa2)
        if flags["all_area_pos"] and not scaled:
            alignment = np.divide(pdot, den_z, out=den_z)
        else:
            alignment = np.divide(pdot, den_z, out=np.zeros(out_shape), where=den_z > 0)
        if LOGISTIC in present:  # at the saddle both vectors vanish: keep ζ at its limit ±1
            alignment = np.where(full == LOGISTIC, np.where(mirror, -1.0, 1.0), alignment)

        u2 = np.broadcast_to(uu, out_shape)
        w2 = np.broadcast_to(ww, out_shape)
        if GENERIC in present or LOGISTIC in present:
            # X = η_w|u|², Y = η_u|w|²: X+Y = sS, X−Y = C, XY = s²(p²+area²): the larger from the
            # sum, the smaller from the product (no cancellation)
            C = b(p["C"])
            hi = np.add(sS, np.abs(C))
            hi *= 0.5
            if scaled:
                sh = np.sqrt(hi)
                lo_ratio = (pdot / sh) ** 2 + (area / sh) ** 2  # (p² + area²) / hi without overflow
            else:
                lo_ratio = np.divide(pa2, hi, out=pa2 if pa2.shape == hi.shape else None)
            if flags["C_all_pos"]:
                u2_two, w2_two = np.divide(hi, ew, out=hi), np.multiply(lo_ratio, ew, out=lo_ratio)
            elif flags["C_all_neg"]:
                u2_two, w2_two = np.multiply(lo_ratio, eu, out=lo_ratio), np.divide(hi, eu, out=hi)
            else:
                u2_two = np.where(C >= 0, hi / ew, eu * lo_ratio)
                w2_two = np.where(C >= 0, ew * lo_ratio, hi / eu)
            zero = sS == 0
            if zero.any():
                u2_two = np.where(zero, 0.0, u2_two)
                w2_two = np.where(zero, 0.0, w2_two)
            if uniform:
                u2, w2 = u2_two, w2_two
            else:
                two = (full == GENERIC) | (full == LOGISTIC)
                u2 = np.where(two, u2_two, u2)
                w2 = np.where(two, w2_two, w2)
        if LINEAR in present:
            # one frozen layer: it keeps its norm, the other one follows p: |moving|² = (p²+area²)/|frozen|²
            prod = pdot * pdot + area * area
            u2_lin = np.where(ew == 0, np.where(ww > 0, prod / ww, uu), uu)
            w2_lin = np.where(eu == 0, np.where(uu > 0, prod / uu, ww), ww)
            lin = full == LINEAR
            u2 = np.where(lin, u2_lin, u2)
            w2 = np.where(lin, w2_lin, w2)
        norm_u = np.sqrt(u2, out=u2) if u2.flags.writeable and u2.shape == out_shape else np.sqrt(u2)
        norm_w = np.sqrt(w2, out=w2) if w2.flags.writeable and w2.shape == out_shape else np.sqrt(w2)
        conserved = np.broadcast_to(ew * uu - eu * ww, out_shape)

    ntk = K if (K.flags.writeable and K.flags.owndata) else np.array(K)
    return State(t=np.array(T), output=output, residual=residual, loss=loss, ntk=ntk,
                 alignment=alignment, norm_u=norm_u, norm_w=norm_w, conserved=np.array(conserved))


def _put(dst: F, sel: NDArray[np.bool_], val: F) -> None:
    dst[sel] = np.broadcast_to(val, dst.shape)[sel]


def _weights(h: Hyper, p: dict[str, F], vecs: tuple[F, F], t: F) -> tuple[F, F]:
    u0, w0 = vecs
    eu, ew = float(h.eta_u), float(h.eta_w)
    br = int(p["branch"])
    tt = t[..., None]
    shape = t.shape + u0.shape
    if br == STATIC:
        return np.broadcast_to(u0, shape).copy(), np.broadcast_to(w0, shape).copy()
    if br == LINEAR:
        sol_p = float(h.kappa)
        st = _evaluate(Gram.trusted(u0 @ u0, w0 @ w0, u0 @ w0, 0.0), h, p, t)
        pt = st.output[..., None] / sol_p
        p0 = float(u0 @ w0)
        if ew == 0:
            return u0 + (pt - p0) / float(w0 @ w0) * w0, np.broadcast_to(w0, shape).copy()
        return np.broadcast_to(u0, shape).copy(), w0 + (pt - p0) / float(u0 @ u0) * u0
    su, sw = math.sqrt(eu), math.sqrt(ew)
    a = u0 / su + w0 / sw
    bvec = u0 / su - w0 / sw
    mirror = bool(p["mirror"])
    D = float(p["D"])
    with np.errstate(all="ignore"):
        Dt = np.where(tt == 0, 0.0, D * tt)
        E = np.exp(-Dt)
        Ec = -np.expm1(-Dt)
        if br == GENERIC:
            n0, d0, yp = float(p["n0"]), float(p["d0"]), float(p["yplus"])
            P1, P2 = n0 * yp + d0, yp * yp + 1.0
            num = yp * P1 * Ec + n0 * P2 * E
            den = P1 * Ec + d0 * P2 * E
            # mirrored frame: z' = y / y0 = (num/den)·(d0/n0);  e^{τ} = sqrt(z) with z = z' or 1/z'
            sq = np.sqrt(num * d0) / np.sqrt(den * n0)
            ez = 1.0 / sq if mirror else sq
            ca, cb = 0.5 / ez, 0.5 * ez
        else:  # LOGISTIC: the non-zero mode scales as sqrt(v)
            st = _evaluate(Gram.trusted(u0 @ u0, w0 @ w0, u0 @ w0, 0.0), h, p, t)
            f0m = float(p["f0m"])
            v = np.abs(st.output[..., None]) / abs(f0m)
            if mirror:  # A = 0: only b survives
                ca, cb = np.zeros_like(v), 0.5 * np.sqrt(v)
            else:
                ca, cb = 0.5 * np.sqrt(v), np.zeros_like(v)
        ut = ca * a + cb * bvec
        wt = ca * a - cb * bvec
    return su * ut, sw * wt


# ---------------------------------------------------------------------- public constructors
def solve(u0: ArrayLike, w0: ArrayLike, *, eta_u: float = 1.0, eta_w: float = 1.0, kappa: float = 1.0,
          target: float = 1.0, data_var: float = 1.0) -> Solution:
    """Exact gradient-flow solution from weight vectors ``u0`` (output layer) and ``w0`` (hidden).

    Parameters are as in THEORY.md §1: ``eta_u, eta_w >= 0`` layer-wise learning rates,
    ``kappa >= 0`` output scale, ``target`` the slope k of y = kx, ``data_var`` V = E[x²] >= 0.
    Zero values give frozen layers or no dynamics (documented in docs/exact.md). The width is
    ``len(u0)``; the cost of every later call is O(1) per time point, independent of it.

    >>> import numpy as np, featmech
    >>> sol = featmech.solve(np.full(4, 0.1), np.full(4, 0.1))
    >>> round(float(sol(np.inf).output), 12)
    1.0
    """
    u, w = check_vectors(u0, w0)
    hyper = _check_hyper(eta_u, eta_w, kappa, target, data_var)
    for name in ("eta_u", "eta_w", "kappa", "target", "data_var"):
        if getattr(hyper, name).ndim != 0:
            raise InputError(f"{name} must be a single number with vectors u0, w0 (use solve_gram for batches)")
    gram = gram_of(u, w)
    modes = None
    eu, ew = float(hyper.eta_u), float(hyper.eta_w)
    if eu > 0 and ew > 0:
        modes = _modes_from_gram(gram, hyper)
        A, B = float(modes[0]), float(modes[1])
        if min(A, B) < 1e-6 * max(A, B):
            # a nearly vanishing mode (nearly aligned, balanced init): take it and the conserved
            # c = a·b straight from the vectors, a = u0/√η_u + w0/√η_w, b = u0/√η_u − w0/√η_w
            mu, mw = max(float(np.max(np.abs(u))), 1e-300), max(float(np.max(np.abs(w))), 1e-300)
            sc = max(mu / math.sqrt(eu), mw / math.sqrt(ew))
            a = (u / math.sqrt(eu) + w / math.sqrt(ew)) / sc
            bb = (u / math.sqrt(eu) - w / math.sqrt(ew)) / sc
            with np.errstate(over="ignore"):
                modes = (np.asarray(sc * sc * float(a @ a)), np.asarray(sc * sc * float(bb @ bb)),
                         np.asarray(sc * sc * float(a @ bb)))
            if not all(np.isfinite(x) for x in modes):
                raise InputError("parameters out of float64 range: the mode norms |u0/√η_u ± w0/√η_w|²")
    return Solution._build(gram, hyper, modes=modes, vectors=(u, w))


def solve_gram(uu: ArrayLike, ww: ArrayLike, uw: ArrayLike, *, area: ArrayLike | None = None,
               eta_u: ArrayLike = 1.0, eta_w: ArrayLike = 1.0, kappa: ArrayLike = 1.0,
               target: ArrayLike = 1.0, data_var: ArrayLike = 1.0) -> Solution:
    """Exact solution from Gram statistics ``uu=|u0|², ww=|w0|², uw=u0·w0`` (any width).

    All arguments broadcast together, giving a batch of configurations evaluated at once.
    ``area`` = |u0 ∧ w0| may be given for full accuracy with nearly collinear inits (the
    exact Gram sampler provides it); otherwise it is computed as sqrt(uu·ww − uw²).
    Requires uw² <= uu·ww (Cauchy–Schwarz, 1e-12 relative slack).
    """
    gram = check_gram(uu, ww, uw, area)
    return Solution._build(gram, _check_hyper(eta_u, eta_w, kappa, target, data_var))


def check_gram(uu: ArrayLike, ww: ArrayLike, uw: ArrayLike, area: ArrayLike | None = None) -> Gram:
    """Validate Gram statistics (broadcast together) and complete the area |u0∧w0| if not given.

    Same as ``Gram(uu, ww, uw, area)``: requires uu, ww >= 0 and uw² <= uu·ww, area <= sqrt(uu·ww)
    (1e-12 relative slack); uw is clipped into the Cauchy–Schwarz range.
    """
    return Gram(uu, ww, uw, area)
