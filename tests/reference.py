"""Independent references used by the tests (none of them calls featmech's solvers).

- ``ode_reference``: scipy's solve_ivp (DOP853) on the full 2d-dimensional ODE;
- ``mp_closed_form``: docs/theory.md §2's Riccati solution z(t) in mpmath at 250 digits,
  written directly from the formula in the spec (a different formula from the one the
  package evaluates, and at a precision where cancellation cannot matter);
- ``saxe_logistic``: the published logistic curve for aligned balanced inits.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
from scipy.integrate import solve_ivp


def ode_reference(u0, w0, *, eta_u, eta_w, kappa, target, data_var, times, rtol=1e-13):
    u0 = np.asarray(u0, float)
    w0 = np.asarray(w0, float)
    d = u0.size

    def rhs(t, x):
        u, w = x[:d], x[d:]
        r = kappa * (u @ w) - target
        return np.concatenate([-eta_u * data_var * kappa * r * w, -eta_w * data_var * kappa * r * u])

    scale = max(np.max(np.abs(u0)), np.max(np.abs(w0)), 1e-300)
    sol = solve_ivp(rhs, (0.0, float(times[-1])), np.concatenate([u0, w0]), method="DOP853", rtol=rtol,
                    atol=1e-16 * scale, t_eval=np.asarray(times, float))
    assert sol.success, sol.message
    u, w = sol.y[:d].T, sol.y[d:].T
    p = np.sum(u * w, axis=1)
    nu, nw = np.linalg.norm(u, axis=1), np.linalg.norm(w, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        zeta = np.where((nu > 0) & (nw > 0), p / (nu * nw), 0.0)
    return {
        "output": kappa * p,
        "residual": kappa * p - target,
        "ntk": data_var * kappa**2 * (eta_w * nu**2 + eta_u * nw**2),
        "alignment": zeta,
        "norm_u": nu,
        "norm_w": nw,
        "u": u,
        "w": w,
    }


def mp_closed_form(uu, ww, uw, *, eta_u, eta_w, kappa, target, data_var, times, dps=250):
    """docs/theory.md §2 at high precision: returns dict of mpf lists (output, ntk, norm_u, norm_w, alignment, loss)."""
    with mp.workdps(dps):
        uu, ww, uw = mp.mpf(uu), mp.mpf(ww), mp.mpf(uw)
        eu, ew, kap, k, V = (mp.mpf(x) for x in (eta_u, eta_w, kappa, target, data_var))
        s = mp.sqrt(eu * ew)
        ut2, wt2, cross = uu / eu, ww / ew, uw / s
        A = ut2 + wt2 + 2 * cross
        B = ut2 + wt2 - 2 * cross
        c = ut2 - wt2
        alpha = V * s**2 * kap**2 * A / 2
        beta = 2 * V * s * kap * k
        gamma = V * s**2 * kap**2 * B / 2
        area2 = uu * ww - uw**2
        out = {key: [] for key in ("output", "ntk", "norm_u", "norm_w", "alignment", "loss")}
        for t in times:
            t = mp.mpf(t)
            if gamma == 0:
                # linear equation dz/dt = α − βz
                z = alpha / beta + (1 - alpha / beta) * mp.e ** (-beta * t) if beta != 0 else 1 + alpha * t
            else:
                D = mp.sqrt(beta**2 + 4 * alpha * gamma)
                zp = (-beta + D) / (2 * gamma)
                zm = (-beta - D) / (2 * gamma)
                C = (1 - zp) / (1 - zm)
                ed = mp.e ** (-D * t)
                z = (zp - C * zm * ed) / (1 - C * ed)
            p = s * (A / z - B * z) / 4
            K = V * kap**2 * s**2 * (A / z + B * z) / 2
            u2 = eu * (A / z + B * z + 2 * c) / 4
            w2 = ew * (A / z + B * z - 2 * c) / 4
            out["output"].append(kap * p)
            out["ntk"].append(K)
            out["norm_u"].append(mp.sqrt(u2))
            out["norm_w"].append(mp.sqrt(w2))
            out["alignment"].append(p / mp.sqrt(p**2 + area2))
            out["loss"].append(V * (kap * p - k) ** 2 / 2)
        return out


def saxe_logistic(p0, *, eta, kappa, target, data_var, times):
    """Saxe et al. (2014): p(t) = (k/κ) / (1 + (k/(κ p0) − 1) e^{−2 η V κ k t})."""
    t = np.asarray(times, float)
    k = target
    return (k / kappa) / (1.0 + (k / (kappa * p0) - 1.0) * np.exp(-2.0 * eta * data_var * kappa * k * t))


# ---------------------------------------------------------------------- any scale, any init
def mp_gram(u0, w0, dps=60):
    """The exact Gram statistics (uu, ww, uw, area²) of two float64 vectors as mpf (products of
    float64 numbers are exact in mpmath; the sums are exact at this precision for small widths)."""
    with mp.workdps(dps):
        u = [mp.mpf(float(x)) for x in np.asarray(u0, float)]
        w = [mp.mpf(float(x)) for x in np.asarray(w0, float)]
        uu = mp.fsum(x * x for x in u)
        ww = mp.fsum(x * x for x in w)
        uw = mp.fsum(x * y for x, y in zip(u, w))
        # the area from the 2x2 minors (Lagrange's identity): exact, no cancellation
        area2 = mp.fsum((u[i] * w[j] - u[j] * w[i]) ** 2 for i in range(len(u)) for j in range(i + 1, len(u)))
        return uu, ww, uw, area2


def _digits(*xs):
    """Decimal exponent spread of the nonzero values: how many digits a computation may need."""
    return max([abs(int(mp.log10(abs(x)))) for x in xs if x != 0 and mp.isfinite(x)] + [0])


def mp_exact(uu, ww, uw, area2, *, eta_u, eta_w, kappa, target, data_var, times):
    """docs/theory.md §2 for any scales, in mpmath (whose exponents never under- or overflow).

    The Riccati equation dz/dt = α − βz − γz² (z = e^{2τ}, z(0) = 1) is solved with its roots
    taken by the stable form of the quadratic formula, at a precision chosen from the exponent
    spread of the inputs; a zero mode gets the linear equation (A = 0 through the symmetry
    w → −w). Times may be ``inf`` (the limit). Returns a dict of mpf lists: output, residual,
    loss, ntk, norm_u, norm_w, alignment. Needs η_u, η_w, κ, V > 0.
    """
    with mp.workdps(100):  # (mpf() rounds to the working precision: convert exactly first)
        vals = [mp.mpf(x) for x in (uu, ww, uw, area2)]
        hyp = [mp.mpf(x) for x in (eta_u, eta_w, kappa, target, data_var)]
        ts = [mp.mpf(float(t)) if np.isfinite(t) else mp.inf for t in times]
        # enough digits for every exponent the inputs reach, and for a residual down to float64's
        # smallest numbers (κp − k cancels)
        dps = 400 + 4 * _digits(*vals, *hyp, *(t for t in ts if t != mp.inf))
    with mp.workdps(dps):
        uu, ww, uw, area2 = (mp.mpf(x) for x in vals)
        eu, ew, kap, k, V = (mp.mpf(x) for x in hyp)
        s = mp.sqrt(eu * ew)
        ut2, wt2, cross = uu / eu, ww / ew, uw / s
        A = ut2 + wt2 + 2 * cross
        B = ut2 + wt2 - 2 * cross
        c = ut2 - wt2
        sign = 1
        if A == 0:  # w → −w: A ↔ B, c unchanged, k → −k, p → −p
            A, B, k, sign = B, A, -k, -1
        alpha = V * s**2 * kap**2 * A / 2
        beta = 2 * V * s * kap * k
        gamma = V * s**2 * kap**2 * B / 2
        out = {key: [] for key in ("output", "residual", "loss", "ntk", "norm_u", "norm_w", "alignment")}
        for t in ts:
            # z(t), and where the flow converges to z∞ also dz = z − z∞ without cancellation, so that
            # p − p∞ (the residual) keeps its digits when it is far below p∞
            dz = None
            if alpha == 0 or t == 0:  # nothing moves (u0 = w0 = 0), or the start
                z = mp.mpf(1)
            elif gamma == 0:  # dz/dt = α − βz
                if beta > 0:
                    zinf = alpha / beta
                    dz = (1 - zinf) * mp.exp(-beta * t) if t != mp.inf else mp.mpf(0)
                    z = zinf + dz
                elif beta == 0:
                    z = 1 + alpha * t if t != mp.inf else mp.inf
                else:
                    z = alpha / beta + (1 - alpha / beta) * mp.exp(-beta * t) if t != mp.inf else mp.inf
            else:
                D = mp.sqrt(beta**2 + 4 * alpha * gamma)
                if beta >= 0:
                    zm = -(beta + D) / (2 * gamma)
                    zinf = 2 * alpha / (beta + D)
                else:
                    zinf = (D - beta) / (2 * gamma)
                    zm = -2 * alpha / (D - beta)
                if t == mp.inf:
                    dz = mp.mpf(0)
                else:
                    C = (1 - zinf) / (1 - zm)
                    ed = mp.exp(-D * t)
                    dz = C * ed * (zinf - zm) / (1 - C * ed)
                z = zinf + dz
            if z == mp.inf:
                az, bz = mp.mpf(0), (mp.inf if B > 0 else mp.mpf(0))
            else:
                az, bz = A / z, B * z
            if dz is None:  # no fixed point to measure from (the start, a saddle, algebraic decay)
                p = sign * s * (az - bz) / 4
                r = kap * p - sign * k
            else:  # p = p∞ + (p − p∞),  p − p∞ = −s·dz·(A/(z z∞) + B)/4;  κp∞ = k
                dp = -sign * s * dz * (A / (z * zinf) + B) / 4
                p = sign * k / kap + dp
                r = kap * dp
            out["output"].append(kap * p)
            out["residual"].append(r)
            out["loss"].append(V * r**2 / 2)
            out["ntk"].append(V * kap**2 * s**2 * (az + bz) / 2)
            # |ũ|² − |w̃|² = c is conserved and |u|²|w|² = p² + |u∧w|²: the larger norm from the
            # sum (no cancellation), the smaller from the product (a vanishing one exactly)
            if c >= 0:
                u2 = eu * (az + bz + 2 * c) / 4
                w2 = (p**2 + area2) / u2 if u2 > 0 else mp.mpf(0)
            else:
                w2 = ew * (az + bz - 2 * c) / 4
                u2 = (p**2 + area2) / w2 if w2 > 0 else mp.mpf(0)
            out["norm_u"].append(mp.sqrt(u2))
            out["norm_w"].append(mp.sqrt(w2))
            den = mp.sqrt(p**2 + area2)
            if z == mp.inf:  # the saddle (one mode zero, wrong-sign target): ũ = ±w̃ shrink to 0, ζ → ±1
                out["alignment"].append(mp.mpf(sign))
            else:
                out["alignment"].append(p / den if den > 0 else mp.mpf(0))
        return out
