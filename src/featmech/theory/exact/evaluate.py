r"""Evaluating the exact solution at given times: the observables (:func:`evaluate`) and the
weight vectors themselves (:func:`weights`).

:func:`evaluate` runs the evaluator of every branch present
(:data:`~featmech.theory.exact.branches.EVALUATORS`) and assembles the observables from their
:class:`~featmech.theory.exact.branches.Flow`: undo the mirror (:math:`f \to -f`), the loss
:math:`\tfrac12 V r^2`, :math:`p = f/\kappa`, the alignment
:math:`\zeta = p/\sqrt{p^2 + |u_0\wedge w_0|^2}` (:math:`u\wedge w` is conserved) and the layer
norms: with :math:`X = \eta_w|u|^2`, :math:`Y = \eta_u|w|^2`,
:math:`X+Y = \eta_w|u|^2+\eta_u|w|^2`, :math:`X-Y = C` (conserved),
:math:`XY = s^2(p^2 + |u\wedge w|^2)`, the larger from the sum and the smaller from the product
(no cancellation); with one frozen layer, the frozen norm is constant and the moving one
:math:`(p^2 + |u\wedge w|^2)/|\mathrm{frozen}|^2`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from featmech.theory.config import F, Gram, Hyper, Init, freeze
from featmech.theory.exact.branches import EVALUATORS, Branch, Clock, Flow
from featmech.theory.exact.constants import Constants
from featmech.theory.exact.state import State

__all__ = ["evaluate", "weights"]

_LINEAR, _LOGISTIC, _GENERIC = int(Branch.LINEAR), int(Branch.LOGISTIC), int(Branch.GENERIC)


def evaluate(c: Constants, g: Gram, h: Hyper, t: F) -> State:
    """The observables at times ``t`` (validated: non-negative, no NaN; ``inf`` allowed).

    Arguments:
        c: the constants of the configurations.
        g, h: the Gram statistics and hyperparameters they were built from (batch shape ``c.shape``).
        t: times, any shape.

    Returns:
        A :class:`~featmech.theory.exact.state.State` of read-only arrays of shape
        ``c.shape + t.shape``.
    """
    if t.ndim == 0:  # work on a length-1 axis (in-place ufuncs need arrays), then drop it
        st = evaluate(c, g, h, t.reshape(1))
        return State.trusted(**{name: a[..., 0] for name, a in st.as_dict().items()})
    bshape = c.shape
    cshape = bshape + (1,) * t.ndim
    out_shape = bshape + t.shape

    def col(x: NDArray[Any]) -> Any:
        if not bshape:  # one configuration: a numpy scalar keeps ufuncs on their fast path
            return x[()]
        return x.reshape(cshape)
    present = c.branches
    eu, ew, kap, V = (col(x) for x in (h.eta_u, h.eta_w, h.kappa, h.data_var))
    uu, ww, uw, area = (col(x) for x in (g.uu, g.ww, g.uw, g.area))  # type: ignore[arg-type]
    mirror = col(c.mirror)
    D = col(c.D)
    T = t if t.shape == out_shape else np.broadcast_to(t, out_shape)
    uniform = len(present) == 1
    # the branch of every output entry (needed only where branches mix or need their own treatment)
    full = None if uniform and Branch.LOGISTIC not in present and Branch.LINEAR not in present else (
        np.broadcast_to(col(c.branch), out_shape))

    with np.errstate(all="ignore"):
        # (in-place arithmetic below keeps the number of fresh temporaries, hence page faults, low)
        Dt = D * T
        if c.any_rate_zero:  # no dynamics: avoid 0·inf at t = inf
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
        clock = Clock(t=T, E=E, Ec=Ec, scratch=Dt if Dt.shape == out_shape else None, shape=out_shape,
                      column=col)
        flows = [(int(br), run(c, g, h, clock)) for br, run in EVALUATORS.items() if br in present]
        fm, rm, K, sS = _combine(flows, full, out_shape)
        del flows, clock, Dt

        if c.any_mirror:
            sign = np.where(mirror, -1.0, 1.0)
            output = sign * fm
            residual = sign * rm
        else:  # fresh arrays from the branch formulas (copies only for broadcast views)
            output = fm if (fm.flags.writeable and fm.flags.owndata) else np.array(fm)
            residual = rm if (rm.flags.writeable and rm.flags.owndata) else np.array(rm)
        loss = np.multiply(residual, residual)
        loss *= 0.5 * V
        # p = u·w; for κ = 0 (static) keep the initial value
        if c.all_kappa_pos:
            pdot = output / kap
        else:
            pdot = np.broadcast_to(np.where(kap > 0, output / np.where(kap > 0, kap, 1.0), uw), out_shape)
        pa2 = np.multiply(pdot, pdot)  # |u|²|w|² = p² + |u∧w|²
        pa2 += area * area
        scaled = not np.isfinite(pa2.max())  # p² overflows: use hypot and ratios
        den_z = np.hypot(pdot, area) if scaled else np.sqrt(pa2)
        if c.all_area_pos and not scaled:
            alignment = np.divide(pdot, den_z, out=den_z)
        else:
            alignment = np.divide(pdot, den_z, out=np.zeros(out_shape), where=den_z > 0)
        if Branch.LOGISTIC in present:  # at the saddle both vectors vanish: keep ζ at its limit ±1
            alignment = np.where(full == _LOGISTIC, np.where(mirror, -1.0, 1.0), alignment)

        u2: Any = uu  # broadcast below
        w2: Any = ww
        if Branch.GENERIC in present or Branch.LOGISTIC in present:
            # X = η_w|u|², Y = η_u|w|²: X+Y = sS, X−Y = C, XY = s²(p²+area²): the larger from the
            # sum, the smaller from the product (no cancellation)
            C = col(c.C)
            hi = np.add(sS, np.abs(C))
            hi *= 0.5
            if scaled:
                sh = np.sqrt(hi)
                lo_ratio = (pdot / sh) ** 2 + (area / sh) ** 2  # (p² + area²) / hi without overflow
            else:
                lo_ratio = np.divide(pa2, hi, out=pa2 if pa2.shape == hi.shape else None)
            if c.C_all_nonneg:
                u2_two, w2_two = np.divide(hi, ew, out=hi), np.multiply(lo_ratio, ew, out=lo_ratio)
            elif c.C_all_neg:
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
                two = (full == _GENERIC) | (full == _LOGISTIC)
                u2 = np.where(two, u2_two, u2)
                w2 = np.where(two, w2_two, w2)
        if Branch.LINEAR in present:
            # one frozen layer: it keeps its norm, the other one follows p: |moving|² = (p²+area²)/|frozen|²
            prod = pdot * pdot + area * area
            u2_lin = np.where(ew == 0, np.where(ww > 0, prod / ww, uu), uu)
            w2_lin = np.where(eu == 0, np.where(uu > 0, prod / uu, ww), ww)
            lin = full == _LINEAR
            u2 = np.where(lin, u2_lin, u2)
            w2 = np.where(lin, w2_lin, w2)
        norm_u = _sqrt(u2, out_shape)
        norm_w = _sqrt(w2, out_shape)
        conserved = np.empty(out_shape)
        conserved[...] = ew * uu - eu * ww

    ntk = K if (K.flags.writeable and K.flags.owndata) else np.array(K)
    return State.trusted(t=_seal(np.array(T)), output=_seal(output), residual=_seal(residual),
                         loss=_seal(loss), ntk=_seal(ntk), alignment=_seal(alignment),
                         norm_u=_seal(norm_u), norm_w=_seal(norm_w), conserved=_seal(conserved))


def _seal(a: F) -> F:
    """Make a result array read-only in place (every array evaluate returns is its own fresh one)."""
    a.flags.writeable = False
    return a


def _sqrt(x: Any, shape: tuple[int, ...]) -> F:
    """sqrt(x) as a fresh array of ``shape`` (in place where x is already one)."""
    if isinstance(x, np.ndarray) and x.flags.writeable and x.shape == shape:
        return np.sqrt(x, out=x)
    out = np.empty(shape)
    out[...] = x
    return np.sqrt(out, out=out)


def _combine(flows: list[tuple[int, Flow]], full: NDArray[np.int8] | None, shape: tuple[int, ...]) -> Flow:
    """One Flow of ``shape`` from the flows of the branches present (each where its branch applies)."""
    if len(flows) == 1:  # the only branch present fills everything directly
        return Flow(*(x if np.shape(x) == shape else np.broadcast_to(x, shape) for x in flows[0][1]))
    out = Flow(np.empty(shape), np.empty(shape), np.empty(shape), np.empty(shape))
    for code, flow in flows:
        sel = full == code
        for dst, val in zip(out, flow):
            dst[sel] = np.broadcast_to(val, shape)[sel]
    return out


def weights(c: Constants, h: Hyper, init: Init, t: F) -> tuple[F, F]:
    r"""The weight vectors u(t), w(t) of a single configuration built from vectors.

    Generic branch: :math:`\tilde u = (a e^{-\tau} + b e^{\tau})/2`,
    :math:`\tilde w = (a e^{-\tau} - b e^{\tau})/2` with :math:`e^{2\tau} = y/y_0` (mirrored frame);
    logistic: the surviving mode scales as :math:`\sqrt v`; one frozen layer: the moving one
    moves along the frozen one, :math:`u = u_0 + (p - p_0)\, w_0/|w_0|^2` (or the reverse).

    Arguments:
        c: the constants (0-d).
        h: the hyperparameters (0-d).
        init: the vectors the solution was built from.
        t: validated times, any shape.

    Returns:
        ``(u, w)``, read-only arrays of shape ``t.shape + (width,)``.
    """
    u0, w0 = init.u0, init.w0
    eu, ew = float(h.eta_u), float(h.eta_w)
    br = int(c.branch)
    tt = t[..., None]
    shape = t.shape + u0.shape
    if br == Branch.STATIC:
        return freeze(np.broadcast_to(u0, shape).copy()), freeze(np.broadcast_to(w0, shape).copy())
    if br == Branch.LINEAR:
        sol_p = float(h.kappa)
        st = evaluate(c, Gram.trusted(u0 @ u0, w0 @ w0, u0 @ w0, 0.0), h, t)
        pt = st.output[..., None] / sol_p
        p0 = float(u0 @ w0)
        if ew == 0:
            return freeze(u0 + (pt - p0) / float(w0 @ w0) * w0), freeze(np.broadcast_to(w0, shape).copy())
        return freeze(np.broadcast_to(u0, shape).copy()), freeze(w0 + (pt - p0) / float(u0 @ u0) * u0)
    su, sw = math.sqrt(eu), math.sqrt(ew)
    a = u0 / su + w0 / sw
    bvec = u0 / su - w0 / sw
    mirror = bool(c.mirror)
    D = float(c.D)
    with np.errstate(all="ignore"):
        Dt = np.where(tt == 0, 0.0, D * tt)
        E = np.exp(-Dt)
        Ec = -np.expm1(-Dt)
        if br == Branch.GENERIC:
            n0, d0, yp = float(c.n0), float(c.d0), float(c.yplus)
            P1, P2 = n0 * yp + d0, yp * yp + 1.0
            num = yp * P1 * Ec + n0 * P2 * E
            den = P1 * Ec + d0 * P2 * E
            # mirrored frame: z' = y / y0 = (num/den)·(d0/n0);  e^{τ} = sqrt(z) with z = z' or 1/z'
            sq = np.sqrt(num * d0) / np.sqrt(den * n0)
            ez = 1.0 / sq if mirror else sq
            ca, cb = 0.5 / ez, 0.5 * ez
        else:  # LOGISTIC: the non-zero mode scales as sqrt(v)
            st = evaluate(c, Gram.trusted(u0 @ u0, w0 @ w0, u0 @ w0, 0.0), h, t)
            f0m = float(c.f0m)
            v = np.abs(st.output[..., None]) / abs(f0m)
            if mirror:  # A = 0: only b survives
                ca, cb = np.zeros_like(v), 0.5 * np.sqrt(v)
            else:
                ca, cb = 0.5 * np.sqrt(v), np.zeros_like(v)
        ut = ca * a + cb * bvec
        wt = ca * a - cb * bvec
    return freeze(su * ut), freeze(sw * wt)
