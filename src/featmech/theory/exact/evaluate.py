r"""Evaluating the exact solution at given times: the observables (:func:`evaluate`), the fixed
point (:func:`fixed_point`) and the weight vectors themselves (:func:`weights`).

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

One generic configuration in float64 takes a fast path (:func:`generic_observables` on its
:class:`~featmech.theory.exact.constants.Scalars`): the same formulas and the same numbers, with
Python floats for the per-configuration factors. Extended-precision constants are evaluated in
their dtype and the observables rounded to float64 at the end.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from featmech.theory.config import F, Init, freeze, frozen_scalars
from featmech.theory.exact.branches import (
    EVALUATORS,
    FLOAT_MUL,
    Branch,
    Clock,
    Flow,
    generic_flow,
)
from featmech.theory.exact.constants import EXTENDED, Constants, Scalars
from featmech.theory.exact.state import State

__all__ = ["evaluate", "fixed_point", "generic_observables", "weights"]

_LINEAR, _LOGISTIC, _GENERIC = int(Branch.LINEAR), int(Branch.LOGISTIC), int(Branch.GENERIC)

#: below this D·t, float64's (1 − e^{−Dt})·P1(1 − y+) may be subnormal (P1(1 − y+) >= 1e-100 in BAND): the
#: output of a balanced orthogonal init (d0 = n0) is that product
_TINY_DT = 1e-180
#: above this D·t, float64's e^{−Dt} is subnormal (the residual r0·E·Φ needs its digits)
_SUBNORMAL_DT = 708.39
#: ... and up to this D·t the residual r0·E·Φ may still be a normal number (|r0·Φ| < 1e300)
_WIDEN_DT = 1420.0


def evaluate(c: Constants, t: F) -> State:
    """The observables at times ``t`` (validated: non-negative, no NaN; ``inf`` allowed).

    Arguments:
        c: the constants of the configurations (float64 inside :data:`~featmech.theory.exact.constants.BAND`,
            or extended precision).
        t: times, any shape.

    Returns:
        A :class:`~featmech.theory.exact.state.State` of read-only float64 arrays of shape
        ``c.shape + t.shape``.
    """
    sc = c.scalars
    if t.ndim == 0:
        if sc is not None:  # one time, one configuration: Python floats throughout
            st = _single_time(sc, float(t))
            if st is not None:
                return st
        st = evaluate(c, t.reshape(1))  # work on a length-1 axis (in-place ufuncs need arrays), then drop it
        return State.trusted(**{name: a[..., 0] for name, a in st.as_dict().items()})
    if sc is not None:
        return _single(c, sc, t)
    return _general(c, t)


def _single_time(sc: Scalars, t: float) -> State | None:
    """One generic float64 configuration at one time, on Python floats (NumPy's exp and expm1 on
    numbers: the same values as on arrays); ``None`` where float64's 1 − E would be subnormal."""
    Dt = sc.D * t
    if _SUBNORMAL_DT < Dt < _WIDEN_DT and EXTENDED is not None:
        return None
    E = float(np.exp(-Dt))
    if Dt < 0.7:
        if sc.d0_m_n0 == 0.0 and 0.0 < Dt < _TINY_DT and EXTENDED is not None:
            return None
        Ec = -float(np.expm1(-Dt))
    else:
        Ec = 1.0 - E
    obs = generic_observables(sc, _generic_of(sc, E, Ec, None, FLOAT_MUL), math.sqrt, t)
    obs.update(t=t, conserved=sc.C)
    return State.trusted(**dict(zip(_NAMES, frozen_scalars([obs[n] for n in _NAMES]))))


def _clock(D: Any, T: F, any_rate_zero: bool, balanced: Any = False, zero_k: Any = False) -> tuple[F, F, F, Any]:
    """``(−Dt, E, Ec, widen)``: Ec = 1 − E through expm1 where Dt < 0.7 (no cancellation).

    ``widen`` is ``None``, or (float64 only, where extended precision exists) the entries whose
    digits float64 cannot carry, as ``(residual_mask, output_mask)``: e^{−Dt} below float64's
    normal range while the residual r0·E·Φ may not be (708 < Dt < 1420; the output too where the
    target is 0, ``zero_k``), or a tiny 1 − e^{−Dt} where it carries the output (a balanced
    orthogonal init, ``balanced``: Dt < 1e-180). :func:`_splice` recomputes those in extended precision.
    """
    Dt = D * T
    if any_rate_zero:  # no dynamics: avoid 0·inf at t = inf
        Dt = np.where(D == 0, 0.0, Dt)
    widen = None
    if Dt.dtype == np.float64 and EXTENDED is not None:
        res = out = None
        if Dt.max() > _SUBNORMAL_DT:
            res = (Dt > _SUBNORMAL_DT) & (Dt < _WIDEN_DT)
            out = res & zero_k
        if np.any(balanced):
            tiny = (Dt > 0) & (Dt < _TINY_DT) & balanced
            out = tiny if out is None else out | tiny
        if (res is not None and res.any()) or (out is not None and out.any()):
            widen = (res, out)
    small = Dt < 0.7  # 1 − e^{−x} cancels for small x: use expm1 there
    Dt = np.negative(Dt, out=Dt) if Dt.flags.writeable and Dt.base is None else -Dt
    E = np.exp(Dt)
    Ec = np.subtract(1.0, E)
    if small.any():
        np.expm1(Dt, out=Ec, where=small)
        np.negative(Ec, out=Ec, where=small)
    return Dt, E, Ec, widen


def _splice(arrays: dict[str, Any], c: Constants, t: F, widen: tuple[Any, Any]) -> None:
    """Replace the float64 entries that lost digits (see :func:`_clock`) by their extended-precision values:
    the residual and loss where ``widen[0]``, the output and alignment where ``widen[1]``."""
    ext = _general(c.widen(), t)
    res, out = widen
    for keys, mask in ((("residual", "loss"), res), (("output", "alignment"), out)):
        if mask is not None:
            mask = np.broadcast_to(mask, arrays["residual"].shape)
            for k in keys:
                np.copyto(arrays[k], getattr(ext, k), where=mask)


def _single(c: Constants, sc: Scalars, t: F) -> State:
    """One generic float64 configuration: Python floats for the constants, NumPy over t."""
    with np.errstate(all="ignore"):
        Dt, E, Ec, widen = _clock(sc.D, t, False, sc.d0_m_n0 == 0.0, sc.target == 0.0)
        flow = _generic_of(sc, E, Ec, Dt, np.multiply)
        obs = generic_observables(sc, flow, np.sqrt, t)
        if widen is not None:
            _splice(obs, c, t, widen)
        conserved = np.full(t.shape, sc.C)
    return State.trusted(t=_seal(np.array(t)), conserved=_seal(conserved), **{k: _seal(v) for k, v in obs.items()})


def _generic_of(sc: Scalars, E: Any, Ec: Any, scratch: Any, mul: Any) -> Flow:
    """:func:`~featmech.theory.exact.branches.generic_flow` from the scalars of one configuration."""
    return generic_flow(sc.n0, sc.d0, sc.yplus, sc.g, sc.one_m_yp, sc.d0_m_n0, sc.r0m,
                        2.0 * sc.data_var * sc.kappa * sc.s * sc.g, sc.s * (sc.s * sc.Q) / 2.0, E, Ec, scratch, mul)


def generic_observables(sc: Scalars, flow: Flow, sqrt: Any, t: Any) -> dict[str, Any]:
    """The observables of one generic configuration from its flow, on arrays or on Python floats.

    Arguments:
        sc: the configuration's constants.
        flow: its :class:`~featmech.theory.exact.branches.Flow` (mirrored frame).
        sqrt: :func:`numpy.sqrt` or :func:`math.sqrt`.
        t: the times (for the alignment of collinear vectors whose p underflowed).

    Returns:
        ``output, residual, loss, ntk, alignment, norm_u, norm_w`` by name.
    """
    fm, rm, K, sS = flow
    output = -fm if sc.mirror else fm
    residual = -rm if sc.mirror else rm
    loss = _loss(residual, sc.data_var)
    p = output / sc.kappa
    pa2 = p * p  # |u|²|w|² = p² + |u∧w|²
    pa2 += sc.area * sc.area
    den = sqrt(pa2)
    if sc.area > 0:
        alignment = p / den
    else:  # collinear vectors: ζ = p/|p| exactly (p² may underflow where p does not)
        alignment = np.sign(p) if isinstance(p, np.ndarray) else (p > 0) - (p < 0) + 0.0
        if sc.target == 0.0 and sc.uw != 0.0:
            alignment = _collinear_decay(alignment, p, t, sc.uw)
    # X = η_w|u|², Y = η_u|w|²: X+Y = sS, X−Y = C, XY = s²(p²+area²): the larger from the sum, the
    # smaller from the product (no cancellation)
    hi = sS + abs(sc.C)
    hi *= 0.5
    lo_ratio = pa2 / hi
    if sc.C >= 0:
        u2, w2 = hi / sc.eta_w, lo_ratio * sc.eta_w
    else:
        u2, w2 = lo_ratio * sc.eta_u, hi / sc.eta_u
    norm_u, norm_w = sqrt(u2), sqrt(w2)
    if sc.area == 0:
        norm_u, norm_w = _collinear_norms(norm_u, norm_w, p, pa2)
    return dict(output=output, residual=residual, loss=loss, ntk=K, alignment=alignment, norm_u=norm_u,
                norm_w=norm_w)


def _collinear_norms(norm_u: Any, norm_w: Any, p: Any, pa2: Any) -> tuple[Any, Any]:
    """Collinear vectors (|u0∧w0| = 0) have |u||w| = |p|: where p² underflowed, the smaller norm is
    |p| over the larger one (not the square root of an underflowed product)."""
    tiny = float(np.finfo(np.asarray(pa2).dtype).tiny) * 2.0**54
    if isinstance(pa2, np.ndarray):
        fix = pa2 < tiny
        if fix.any():
            big = np.maximum(norm_u, norm_w)
            small = np.divide(np.abs(p), big, out=np.zeros(np.shape(big), big.dtype), where=big > 0)
            u_small = norm_u <= norm_w
            norm_u = np.where(fix & u_small, small, norm_u)
            norm_w = np.where(fix & ~u_small, small, norm_w)
        return norm_u, norm_w
    if pa2 < tiny:
        if norm_u <= norm_w:
            norm_u = abs(p) / norm_w if norm_w > 0 else 0.0
        else:
            norm_w = abs(p) / norm_u
    return norm_u, norm_w


def _collinear_decay(alignment: Any, p: Any, t: Any, p0: Any) -> Any:
    """ζ of collinear vectors (|u0∧w0| = 0) with target 0: p(t) decays to 0 keeping the sign of p0,
    so ζ = sign(p0) at every finite t, also where p(t) itself is below the smallest number."""
    fix = (p == 0) & (t < math.inf)
    if isinstance(alignment, np.ndarray):
        return np.where(fix, np.sign(p0), alignment) if np.any(fix) else alignment
    return math.copysign(1.0, p0) if fix else alignment


def fixed_point(c: Constants) -> State:
    """The observables at t = ∞ (0-d fields for one configuration).

    Arguments:
        c: the constants.

    Returns:
        The :class:`~featmech.theory.exact.state.State` at t = ∞ (read-only float64 arrays of ``c.shape``).
    """
    sc = c.scalars
    if sc is None:
        return evaluate(c, np.array(math.inf))
    obs = generic_observables(sc, _generic_of(sc, 0.0, 1.0, None, FLOAT_MUL), math.sqrt, math.inf)
    obs.update(t=math.inf, conserved=sc.C)
    return State.trusted(**dict(zip(_NAMES, frozen_scalars([obs[n] for n in _NAMES]))))


_NAMES = ("t", "output", "residual", "loss", "ntk", "alignment", "norm_u", "norm_w", "conserved")


def _general(c: Constants, t: F) -> State:
    """Any batch, any mix of branches, in the constants' working precision."""
    bshape = c.shape
    cshape = bshape + (1,) * t.ndim
    out_shape = bshape + t.shape
    dtype = c.dtype

    def col(x: NDArray[Any]) -> Any:
        if not bshape:  # one configuration: a numpy scalar keeps ufuncs on their fast path
            return x[()]
        return x.reshape(cshape)
    present = c.branches
    eu, ew, kap, V = (col(x) for x in (c.eta_u, c.eta_w, c.kappa, c.data_var))
    uu, ww, uw, area = (col(x) for x in (c.uu, c.ww, c.uw, c.area))
    mirror = col(c.mirror)
    D = col(c.D)
    T = t if t.shape == out_shape else np.broadcast_to(t, out_shape)
    uniform = len(present) == 1
    # the branch of every output entry (needed only where branches mix or need their own treatment)
    full = None if uniform and Branch.LOGISTIC not in present and Branch.LINEAR not in present else (
        np.broadcast_to(col(c.branch), out_shape))

    with np.errstate(all="ignore"):
        # (in-place arithmetic below keeps the number of fresh temporaries, hence page faults, low)
        balanced = col((c.d0_m_n0 == 0) & (c.branch == _GENERIC)) if Branch.GENERIC in present else False
        Dt, E, Ec, widen = _clock(D, T, c.any_rate_zero, balanced, col(c.target == 0))
        clock = Clock(t=T, E=E, Ec=Ec, scratch=Dt if Dt.shape == out_shape and Dt.flags.writeable else None,
                      shape=out_shape, column=col)
        flows = [(int(br), run(c, clock)) for br, run in EVALUATORS.items() if br in present]
        fm, rm, K, sS = _combine(flows, full, out_shape, dtype)
        del flows, clock, Dt

        if c.any_mirror:
            sign = np.where(mirror, -1.0, 1.0)
            output = sign * fm
            residual = sign * rm
        else:  # fresh arrays from the branch formulas (copies only for broadcast views)
            output = fm if (fm.flags.writeable and fm.flags.owndata) else np.array(fm)
            residual = rm if (rm.flags.writeable and rm.flags.owndata) else np.array(rm)
        loss = _loss(residual, V)
        # p = u·w; for κ = 0 (static) keep the initial value
        if c.all_kappa_pos:
            pdot = output / kap
        else:
            pdot = np.broadcast_to(np.where(kap > 0, output / np.where(kap > 0, kap, 1.0), uw), out_shape)
        pa2 = np.multiply(pdot, pdot)  # |u|²|w|² = p² + |u∧w|² (in range: BAND, or extended precision)
        pa2 += area * area
        den_z = np.sqrt(pa2)
        if c.all_area_pos:
            alignment = np.divide(pdot, den_z, out=den_z)
        else:  # collinear vectors: ζ = p/|p| exactly (p² may underflow where p does not)
            alignment = np.where(area == 0, np.sign(pdot), np.divide(pdot, den_z, out=np.zeros(out_shape, dtype),
                                                                     where=den_z > 0))
            alignment = _collinear_decay(alignment, pdot, T, np.where((area == 0) & (col(c.target) == 0) & (
                col(c.branch) == _GENERIC), uw, 0.0))
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
            lo_ratio = np.divide(pa2, hi, out=pa2 if pa2.shape == hi.shape else None)
            if c.C_all_nonneg:
                u2_two, w2_two = np.divide(hi, ew, out=hi), np.multiply(lo_ratio, ew, out=lo_ratio)
            elif c.C_all_neg:
                u2_two, w2_two = np.multiply(lo_ratio, eu, out=lo_ratio), np.divide(hi, eu, out=hi)
            else:
                u2_two = np.where(C >= 0, hi / ew, eu * lo_ratio)
                w2_two = np.where(C >= 0, ew * lo_ratio, hi / eu)
            if Branch.LOGISTIC in present:  # the saddle of a wrong-sign aligned init: both vectors vanish
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
        norm_u = _sqrt(u2, out_shape, dtype)
        norm_w = _sqrt(w2, out_shape, dtype)
        if not c.all_area_pos:
            pp = pdot * pdot
            pp += area * area
            norm_u, norm_w = _collinear_norms(norm_u, norm_w, np.where(area == 0, pdot, 0.0),
                                              np.where(area == 0, pp, np.inf))
        conserved = np.empty(out_shape, dtype)
        conserved[...] = col(c.C)

    ntk = K if (K.flags.writeable and K.flags.owndata) else np.array(K)
    arrays = dict(output=output, residual=residual, loss=loss, ntk=ntk, alignment=alignment, norm_u=norm_u,
                  norm_w=norm_w, conserved=conserved)
    if widen is not None:
        arrays = {k: v if v.flags.writeable and v.shape == out_shape and v.base is None else np.array(v)
                  for k, v in arrays.items()}
        _splice(arrays, c, t, widen)
    if dtype != np.float64:  # extended precision: round to float64 once, at the end
        with np.errstate(over="ignore", under="ignore"):
            arrays = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
    return State.trusted(t=_seal(np.array(T, dtype=np.float64)), **{k: _seal(v) for k, v in arrays.items()})


def _loss(r: Any, V: Any) -> Any:
    """½V r² (arrays or floats). Where r² is subnormal but ½V r² need not be (V > 2), r² lost digits:
    those entries are taken as (r·√(V/2))² instead."""
    loss = r * r
    loss *= 0.5 * V
    if isinstance(loss, np.ndarray):
        if loss.dtype == np.float64 and np.any(0.5 * V > 1.0):
            sub = np.abs(r) < _SQRT_TINY
            if sub.any():
                fixed = r * np.sqrt(0.5 * V)
                fixed *= fixed
                np.copyto(loss, fixed, where=sub)
    elif abs(r) < _SQRT_TINY and 0.5 * V > 1.0:
        loss = (r * math.sqrt(0.5 * V)) ** 2
    return loss


#: below this, a float64 square is subnormal
_SQRT_TINY = 1.5e-154


def _seal(a: F) -> F:
    """Make a result array read-only in place (every array evaluate returns is its own fresh one)."""
    a.flags.writeable = False
    return a


def _sqrt(x: Any, shape: tuple[int, ...], dtype: Any) -> F:
    """sqrt(x) as a fresh array of ``shape`` (in place where x is already one)."""
    if isinstance(x, np.ndarray) and x.flags.writeable and x.shape == shape and x.base is None:
        return np.sqrt(x, out=x)
    out = np.empty(shape, dtype)
    out[...] = x
    return np.sqrt(out, out=out)


def _combine(flows: list[tuple[int, Flow]], full: NDArray[np.int8] | None, shape: tuple[int, ...],
             dtype: Any) -> Flow:
    """One Flow of ``shape`` from the flows of the branches present (each where its branch applies)."""
    if len(flows) == 1:  # the only branch present fills everything directly
        return Flow(*(x if np.shape(x) == shape else np.broadcast_to(x, shape) for x in flows[0][1]))
    out = Flow(np.empty(shape, dtype), np.empty(shape, dtype), np.empty(shape, dtype), np.empty(shape, dtype))
    for code, flow in flows:
        sel = full == code
        for dst, val in zip(out, flow):
            dst[sel] = np.broadcast_to(val, shape)[sel]
    return out


def weights(c: Constants, init: Init, t: F) -> tuple[F, F]:
    r"""The weight vectors u(t), w(t) of a single configuration built from vectors.

    Generic branch: :math:`\tilde u = (a e^{-\tau} + b e^{\tau})/2`,
    :math:`\tilde w = (a e^{-\tau} - b e^{\tau})/2` with :math:`e^{2\tau} = y/y_0` (mirrored frame);
    logistic: the surviving mode scales as :math:`\sqrt v`; one frozen layer: the moving one
    moves along the frozen one, :math:`u = u_0 + (p - p_0)\, w_0/|w_0|^2` (or the reverse).
    Computed in the constants' working precision, rounded to float64 at the end.

    Arguments:
        c: the constants (0-d).
        init: the vectors the solution was built from.
        t: validated times, any shape.

    Returns:
        ``(u, w)``, read-only float64 arrays of shape ``t.shape + (width,)``.
    """
    u0, w0 = init.u0, init.w0
    x = c.dtype
    ext = x != np.float64
    if ext:  # the same formulas on the vectors in extended precision
        u0, w0 = u0.astype(x), w0.astype(x)
    eu, ew = c.eta_u[()], c.eta_w[()]
    br = int(c.branch)
    tt = t[..., None]
    shape = t.shape + u0.shape
    if br == Branch.STATIC:
        return _out(np.broadcast_to(u0, shape).copy()), _out(np.broadcast_to(w0, shape).copy())
    if br == Branch.LINEAR:
        pt = _moving_output(c, t)[..., None] / c.kappa[()]
        p0 = c.uw[()]
        if ew == 0:
            return _out(u0 + (pt - p0) / c.ww[()] * w0), _out(np.broadcast_to(w0, shape).copy())
        return _out(np.broadcast_to(u0, shape).copy()), _out(w0 + (pt - p0) / c.uu[()] * u0)
    su: Any = np.sqrt(eu)
    sw: Any = np.sqrt(ew)
    if not ext:
        su, sw = math.sqrt(float(eu)), math.sqrt(float(ew))
    a = u0 / su + w0 / sw
    bvec = u0 / su - w0 / sw
    mirror = bool(c.mirror)
    D = c.D[()] if ext else float(c.D)
    with np.errstate(all="ignore"):
        Dt = np.where(tt == 0, 0.0, D * tt)
        E = np.exp(-Dt)
        Ec = -np.expm1(-Dt)
        if br == Branch.GENERIC:
            n0: Any
            d0: Any
            yp: Any
            if ext:
                n0, d0, yp = c.n0[()], c.d0[()], c.yplus[()]
            else:
                n0, d0, yp = float(c.n0), float(c.d0), float(c.yplus)
            P1, P2 = n0 * yp + d0, yp * yp + 1.0
            num = yp * P1 * Ec + n0 * P2 * E
            den = P1 * Ec + d0 * P2 * E
            # mirrored frame: z' = y / y0 = (num/den)·(d0/n0);  e^{τ} = sqrt(z) with z = z' or 1/z'
            sq = np.sqrt(num * d0) / np.sqrt(den * n0)
            ez = 1.0 / sq if mirror else sq
            ca, cb = 0.5 / ez, 0.5 * ez
        else:  # LOGISTIC: the non-zero mode scales as sqrt(v)
            v = np.abs(_moving_output(c, t)[..., None]) / abs(c.f0m[()])
            if mirror:  # A = 0: only b survives
                ca, cb = np.zeros_like(v), 0.5 * np.sqrt(v)
            else:
                ca, cb = 0.5 * np.sqrt(v), np.zeros_like(v)
        ut = ca * a + cb * bvec
        wt = ca * a - cb * bvec
    return _out(su * ut), _out(sw * wt)


def _moving_output(c: Constants, t: F) -> Any:
    """The output f(t) in the working precision (for the weights of a frozen layer or a logistic init)."""
    with np.errstate(all="ignore"):
        _, E, Ec, _ = _clock(c.D[()], t.astype(c.dtype), c.any_rate_zero)
        clock = Clock(t=t, E=E, Ec=Ec, scratch=None, shape=t.shape, column=lambda x: x[()])
        flow = EVALUATORS[Branch(int(c.branch))](c, clock)
        return -flow.output if bool(c.mirror) else flow.output


def _out(a: Any) -> F:
    """A result vector: float64, read-only."""
    with np.errstate(over="ignore", under="ignore"):
        return freeze(np.asarray(a, dtype=np.float64))
