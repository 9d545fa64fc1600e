r"""Gradient flow of the two-layer linear network at any width, integrated at width r ≤ c+m (docs/theory.md §8).

The flow dU/dt = −η_u G Wᵀ, dW/dt = −η_w Uᵀ G, G = κ(κUWΣ − Bᵀ), is integrated on the reduced
weights (Ũ, W̃) ∈ ℝ^{c×r} × ℝ^{r×m} (:mod:`~featmech.theory.linear.gram`): r(c+m) ≤ (c+m)² unknowns
whatever the width d. The integrator is scipy's ``solve_ivp`` with dense output, relative tolerance
``rtol`` (default 1e-10) and absolute tolerance ``atol`` (default, per layer: ``rtol`` × the layer's
largest initial entry, Ũ₀ and W̃₀ separately; the other layer's when one starts at 0). The ODE is
integrated in the time unit T₀ below (τ = t/T₀), so that the step-size control sees times of order 1
whatever the rates. ``method="auto"`` (the default) takes ``"LSODA"`` (Adams while the flow
is not stiff, BDF with the analytic Jacobian of the reduced ODE when it is) up to
:data:`AUTO_LSODA_MAX` unknowns and ``"DOP853"`` beyond, where a dense Jacobian's LU (O(n³)) costs
more than the explicit steps do over the usual horizons; ``"Radau"``, ``"BDF"``, ``"LSODA"``,
``"DOP853"``, ``"RK45"`` on request (the implicit ones use the analytic Jacobian). Measured against
scipy on the full width-50 ODE at rtol 1e-13 (c = 3, m = 5, t ≤ 20): max error of κUW 1.1e-8
(LSODA), 1.0e-10 (Radau, 5× slower), 1.2e-7 (DOP853) at the default rtol = 1e-10; 5.7e-10,
1.4e-11, 1.4e-10 at rtol = 1e-12. For long horizons on stiff data (Σ with eigenvalues over many
decades), ask for ``method="LSODA"`` or ``"Radau"``.

Horizon: the solution is integrated lazily, on the fixed segments [0, T₀], [T₀, 2T₀], [2T₀, 4T₀], …
(T₀ = 1/K₀ with K₀ the initial per-output NTK trace, rounded to a power of two; 1 when K₀ = 0), as far
as the largest time asked for; ``sol.t_max`` is the current end. The segments do not depend on the
order of the requests, so ``sol(t)`` is a fixed function of t.

t = ∞ (``sol(np.inf)``) is the limit of the flow (it always exists for gradient flow of this
polynomial loss, at a critical point): the segments are integrated until, at a segment end b, the
remaining motion is below the integrator's tolerance, b·|ż_i(b)| ≤ atol_i + rtol·|z_i(b)| for every
unknown i (with exponential convergence at rate λ and b ≥ 1/λ, the distance still to go is at most
about |ż(b)|/λ ≤ b·|ż(b)|); that state is the limit (``sol.t_converged`` = b). A flow that has not
settled by :data:`MAX_DOUBLINGS` doublings of T₀ (t ≈ 10¹⁸·T₀) raises ``InputError``. A flow that
starts at a critical point (e.g. U₀ = 0 and W₀ = 0, or κ = 0) stays there.

One input and one output (c = m = 1, Σ > 0) is the closed form of :func:`featmech.theory.exact.solve`
with target k = B/Σ and data variance V = Σ (docs/theory.md §2): no integration at all.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.integrate import solve_ivp

from featmech._validation import check_real, check_scalar
from featmech.errors import InputError
from featmech.theory.config import Gram, Hyper, Init
from featmech.theory.exact import solve as solve_1d
from featmech.theory.linear.gram import LinearGram, check_weights, gram_of
from featmech.theory.linear.model import LinearState, Problem, check_hyper, check_moments, observables

__all__ = ["LinearSolution", "solve", "solve_gram", "METHODS", "MAX_DOUBLINGS"]

F = NDArray[np.float64]

#: the integrators ``solve`` accepts (scipy's names)
METHODS = ("auto", "LSODA", "Radau", "BDF", "DOP853", "RK45")

#: ``method="auto"`` takes LSODA up to this many unknowns r(c+m), DOP853 beyond (a dense Jacobian LU costs O(n³))
AUTO_LSODA_MAX = 1000

#: ``sol(np.inf)`` integrates at most this many segments (to t = 2^(MAX_DOUBLINGS−1)·T₀) looking for the limit
MAX_DOUBLINGS = 64
#: the most right-hand-side evaluations one segment of the flow may take (a flow on digits needs a few
#: thousand in all); beyond it the segment is refused with an InputError rather than filling the memory
MAX_SEGMENT_NFEV = 200_000


class _OverBudget(Exception):
    """A segment took more than MAX_SEGMENT_NFEV evaluations."""


class LinearSolution:
    r"""The gradient flow of the two-layer linear network; call it at times ``t`` like scipy's ``OdeSolution``.

    ``sol(t)`` (t ≥ 0, a number or an array of any shape and order; ``np.inf``: the limit) returns a
    :class:`~featmech.theory.linear.model.LinearState` of arrays with leading shape ``t.shape``.
    Build it with :func:`solve` or :func:`solve_gram`.

    Attributes:
        gram: the :class:`~featmech.theory.linear.gram.LinearGram` of the init.
        problem: the validated moments and hyperparameters.
        rtol, atol, method: the integrator's settings.
        closed_form: True when the one-dimensional closed form is used (c = m = 1, Σ > 0).
        t_max: how far the flow has been integrated so far (grows as later times are asked for).
        t_converged: after ``sol(np.inf)``: the segment end at which the flow had settled (else ``None``).
        nfev: right-hand-side evaluations so far.
    """

    def __init__(self, gram: LinearGram, problem: Problem, *, rtol: float, atol: float | None, method: str,
                 init: Init | None = None) -> None:
        self.gram = gram
        self.problem = problem
        self.rtol = rtol
        U0, W0 = gram.reduced()
        if method == "auto":
            method = "LSODA" if U0.size + W0.size <= AUTO_LSODA_MAX else "DOP853"
        self.method = method
        self._u0, self._w0 = U0, W0
        c, r, m = U0.shape[0], U0.shape[1], W0.shape[1]
        self._shape = (c, r, m)
        self._z0 = np.concatenate([U0.ravel(), W0.ravel()])
        zmax = float(np.max(np.abs(self._z0))) if self._z0.size else 0.0
        if atol is not None:
            self.atol: float | F = float(atol)
        else:  # per layer: rtol × the layer's largest initial entry (the other's when it starts at 0)
            umax = float(np.max(np.abs(U0), initial=0.0))
            wmax = float(np.max(np.abs(W0), initial=0.0))
            fall = zmax if zmax > 0 else 1.0
            self.atol = rtol * np.concatenate([np.full(U0.size, umax if umax > 0 else fall),
                                               np.full(W0.size, wmax if wmax > 0 else fall)])
        st0 = observables(0.0, U0, W0, problem)
        self._conserved = np.array(st0.conserved)
        K0 = float(st0.ntk_trace) / c
        self._T0 = 2.0 ** round(math.log2(1.0 / K0)) if K0 > 0 and math.isfinite(1.0 / K0) else 1.0
        self._ends: list[float] = [0.0]
        self._segments: list[Any] = []
        self._zend = self._z0.copy()
        self._zinf: F | None = None
        self._h_last: float | None = None
        self.t_converged: float | None = None
        self.nfev = 0
        self.closed_form = False
        self._closed = None
        S = problem.sigma_xx
        if c == 1 and m == 1 and float(S[0, 0]) > 0:
            V = float(S[0, 0])
            hyper = Hyper(eta_u=problem.eta_u, eta_w=problem.eta_w, kappa=problem.kappa,
                          target=float(problem.sigma_xy[0, 0]) / V, data_var=V)
            self._closed = solve_1d(init if init is not None else _gram_1d(gram), hyper)
            self.closed_form = True

    # ------------------------------------------------------------------ the ODE
    def _rhs(self, _t: float, z: F) -> F:
        c, r, m = self._shape
        p = self.problem
        U = z[: c * r].reshape(c, r)
        W = z[c * r:].reshape(r, m)
        G = p.kappa * (p.kappa * (U @ W) @ p.sigma_xx - p.sigma_xy.T)
        return np.concatenate([(-p.eta_u * (G @ W.T)).ravel(), (-p.eta_w * (U.T @ G)).ravel()])

    def _jac(self, _t: float, z: F) -> F:
        """The analytic Jacobian of :meth:`_rhs` (row-major vec of Ũ then W̃)."""
        c, r, m = self._shape
        p = self.problem
        k2 = p.kappa * p.kappa
        S = p.sigma_xx
        U = z[: c * r].reshape(c, r)
        W = z[c * r:].reshape(r, m)
        G = p.kappa * (p.kappa * (U @ W) @ S - p.sigma_xy.T)
        WS = W @ S
        Ir = np.eye(r)
        # d(−η_u G Wᵀ): dG Wᵀ + G dWᵀ with dG = κ²(dU W + U dW)Σ
        JUU = np.einsum("ab,ij->aibj", np.eye(c), k2 * WS @ W.T)
        JUW = np.einsum("ak,ij->aikj", k2 * U, WS) + np.einsum("ik,aj->aikj", Ir, G)
        # d(−η_w Uᵀ G): dUᵀ G + Uᵀ dG
        JWU = np.einsum("ik,aj->ijak", Ir, G) + np.einsum("ai,bj->ijab", k2 * U, WS)
        JWW = np.einsum("ik,jl->ijkl", k2 * U.T @ U, S)
        nu, nw = c * r, r * m
        J = np.empty((nu + nw, nu + nw))
        J[:nu, :nu] = -p.eta_u * JUU.reshape(nu, nu)
        J[:nu, nu:] = -p.eta_u * JUW.reshape(nu, nw)
        J[nu:, :nu] = -p.eta_w * JWU.reshape(nw, nu)
        J[nu:, nu:] = -p.eta_w * JWW.reshape(nw, nw)
        return J

    def integrate_to(self, t: float) -> None:
        """Integrate on the fixed segments until ``t_max >= t``."""
        while self._ends[-1] < t:
            a = self._ends[-1]
            b = self._T0 if a == 0.0 else 2.0 * a
            # integrated in the time unit T₀ (τ = t/T₀, dz/dτ = T₀·ż): step-size heuristics see times of order 1
            # even when the rates are 10¹⁰⁰ (T₀ is a power of two, so a/T₀ and b/T₀ are exact)
            T0 = self._T0
            kw: dict[str, Any] = {}
            if self.method in ("LSODA", "Radau", "BDF"):
                kw["jac"] = lambda tau, z: T0 * self._jac(tau, z)
            if self._h_last is not None:  # continue with the last accepted step: no restart of the step search
                kw["first_step"] = min(self._h_last, (b - a) / T0)
            # the solver's own warnings (LSODA's "repeated convergence failures") are not shown: a failure
            # is reported by res.success, below, as one InputError
            calls = [0]

            def rhs(tau: float, z: F) -> F:
                calls[0] += 1
                if calls[0] > MAX_SEGMENT_NFEV:  # bounded work and memory (every step's dense output is kept)
                    raise _OverBudget
                return T0 * self._rhs(tau, z)

            try:
                with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    res = solve_ivp(rhs, (a / T0, b / T0), self._zend, method=self.method, rtol=self.rtol,
                                    atol=self.atol, dense_output=True, **kw)
            except _OverBudget:
                self.nfev += calls[0]
                raise InputError(f"the flow could not be integrated from t = {a:g} to {b:g} within "
                                 f"{MAX_SEGMENT_NFEV} evaluations (too stiff, or rates spanning too many scales); "
                                 "ask for earlier times") from None
            self.nfev += int(res.nfev)
            if not res.success or not np.all(np.isfinite(res.y[:, -1])):
                raise InputError(f"the flow could not be integrated beyond t = {a:g} ({res.message}); "
                                 "it may blow up in finite time (a negative κ·loss direction) or be too stiff")
            self._segments.append(res.sol)
            self._ends.append(b)
            h = float(res.t[-1] - res.t[-2]) if res.t.size >= 2 else 0.0
            self._h_last = h if h > 0 and math.isfinite(h) else None
            self._zend = np.array(res.y[:, -1])

    def _settle(self) -> F:
        """The limit t → ∞: integrate segment by segment until b·|ż(b)| ≤ atol + rtol·|z(b)| element-wise."""
        if self._zinf is not None:
            return self._zinf
        i = 1
        while True:
            if i >= len(self._ends):
                if len(self._ends) > MAX_DOUBLINGS:
                    raise InputError(f"the flow has not settled by t = {self._ends[-1]:.3g} ({MAX_DOUBLINGS} "
                                     "doublings of its first time scale): sol(inf) is not available; ask for a "
                                     "finite t")
                self.integrate_to(self._T0 if self._ends[-1] == 0.0 else 2.0 * self._ends[-1])
            b = self._ends[i]
            z = self._zend if i == len(self._ends) - 1 else np.asarray(self._segments[i - 1](b / self._T0), dtype=np.float64)
            if np.all(b * np.abs(self._rhs(b, z)) <= self.atol + self.rtol * np.abs(z)):
                self._zinf = np.array(z)
                self.t_converged = b
                return self._zinf
            i += 1

    @property
    def t_max(self) -> float:
        """The end of the integrated range so far."""
        return self._ends[-1]

    # ------------------------------------------------------------------ evaluation
    def reduced(self, t: ArrayLike) -> tuple[F, F]:
        """The reduced weights ``(Ũ(t), W̃(t))``, shapes ``t.shape + (c, r)`` and ``t.shape + (r, m)``
        (always from the integrated ODE, also when the closed form gives the observables)."""
        ts = _times(t)
        c, r, m = self._shape
        flat = ts.ravel()
        Z = np.empty((flat.size, self._z0.size))
        inner = np.isfinite(flat) & (flat > 0.0)
        if inner.any():
            ti = flat[inner]
            self.integrate_to(float(ti.max()))
            ends = np.asarray(self._ends)
            seg = np.clip(np.searchsorted(ends, ti, side="right") - 1, 0, len(self._segments) - 1)
            Zi = np.empty((ti.size, self._z0.size))
            for s in np.unique(seg):
                sel = seg == s
                Zi[sel] = self._segments[s](ti[sel] / self._T0).T
            Z[inner] = Zi
        Z[flat == 0.0] = self._z0
        if np.isinf(flat).any():
            Z[np.isinf(flat)] = self._settle()
        U = Z[:, : c * r].reshape(ts.shape + (c, r))
        W = Z[:, c * r:].reshape(ts.shape + (r, m))
        return U, W

    def __call__(self, t: ArrayLike) -> LinearState:
        ts = _times(t)
        if self._closed is not None:
            return self._closed_state(ts)
        U, W = self.reduced(ts)
        return observables(ts, U, W, self.problem)

    def _closed_state(self, ts: F) -> LinearState:
        st = self._closed(ts)
        p = self.problem
        V = float(p.sigma_xx[0, 0])
        k = float(p.sigma_xy[0, 0]) / V
        const = (0.5 * p.sigma_yy if p.sigma_yy is not None else 0.0) - 0.5 * V * k * k
        cons = np.broadcast_to(self._conserved, ts.shape + self._conserved.shape)
        loss = np.asarray(st.loss) + const
        if p.sigma_yy is not None:  # L ≥ 0 with E|y|²: no rounding below 0
            loss = np.maximum(loss, 0.0)
        return LinearState(ts, np.asarray(st.output)[..., None, None], loss,
                           st.ntk, np.abs(st.alignment), st.norm_u, st.norm_w, cons)

    @property
    def initial(self) -> LinearState:
        """The state at t = 0."""
        return self(0.0)

    @property
    def conserved(self) -> F:
        """The eigenvalues of the conserved matrix η_w ŨᵀŨ − η_u W̃W̃ᵀ at t = 0 (ascending, read-only)."""
        out = self._conserved.copy()
        out.flags.writeable = False
        return out

    def __repr__(self) -> str:
        c, r, m = self._shape
        how = "closed form" if self.closed_form else f"{self.method}, rtol={self.rtol:g}"
        return f"LinearSolution(c={c}, m={m}, width={self.gram.width}, r={r}, {how}, t_max={self.t_max:g})"


def _times(t: ArrayLike) -> F:
    ts = check_real("t", t)
    if ts.size and not (not np.isnan(ts).any() and ts.min() >= 0.0):
        raise InputError("t must be >= 0 (a number or an array; inf: the limit of the flow), got "
                         f"{ts.ravel()[np.flatnonzero(np.isnan(ts.ravel()) | (ts.ravel() < 0))[0]]!r}")
    return np.array(ts, dtype=np.float64)


def _gram_1d(g: LinearGram) -> Gram:
    R = np.asarray(g.factor)
    Rt = np.linalg.qr(R, mode="r") if R.shape[0] else np.zeros((0, 2))
    area = abs(float(Rt[0, 0] * Rt[1, 1])) if Rt.shape[0] >= 2 else 0.0
    H = g.H
    uu, ww, uw = float(H[0, 0]), float(H[1, 1]), float(H[0, 1])
    return Gram(uu, ww, max(-math.sqrt(uu * ww), min(uw, math.sqrt(uu * ww))), area=min(area, math.sqrt(uu * ww)))


def _settings(rtol: Any, atol: Any, method: Any) -> tuple[float, float | None, str]:
    rt = check_scalar("rtol", rtol, low=1e-14, high=1e-3)
    at = None if atol is None else check_scalar("atol", atol, low=0.0)
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return rt, at, method


def solve(U0: ArrayLike, W0: ArrayLike, *, sigma_xx: ArrayLike, sigma_xy: ArrayLike, eta_u: float = 1.0,
          eta_w: float = 1.0, kappa: float = 1.0, sigma_yy: ArrayLike | None = None, rtol: float = 1e-10,
          atol: float | None = None, method: str = "auto") -> LinearSolution:
    r"""Gradient flow of f(x) = κUWx from given weights, exact reduction to width r = min(d, c+m).

    .. math::
        \dot U = -\eta_u G W^\top,\quad \dot W = -\eta_w U^\top G,\quad G = \kappa(\kappa UW\Sigma - B^\top)

    (docs/theory.md §8). Time t is gradient-flow time (a GD step of size lr advances it by lr).

    Arguments:
        U0: the output layer, c×d; W0: the hidden layer, d×m (real, finite).
        sigma_xx: Σ = E[xxᵀ], m×m symmetric positive semi-definite.
        sigma_xy: B = E[xyᵀ], m×c.
        eta_u, eta_w: layer learning-rate multipliers ``>= 0`` (0 freezes the layer); kappa: output
            scale ``>= 0``.
        sigma_yy: E|y|² (a number) or E[yyᵀ] (c×c; its trace is used): with it ``loss`` is the loss;
            without it, the loss minus ½E|y|² (which can be negative).
        rtol: relative tolerance in [1e-14, 1e-3]; atol: absolute tolerance (default per layer:
            ``rtol`` × the layer's largest initial entry).
        method: scipy's integrator, one of :data:`METHODS` (``"auto"``: see the module docstring).

    Returns:
        A :class:`LinearSolution` (call it at times t).

    Raises:
        InputError: a parameter of the wrong shape, type or range (named).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sol = solve(0.1 * rng.standard_normal((2, 50)), 0.1 * rng.standard_normal((50, 3)),
    ...             sigma_xx=np.eye(3), sigma_xy=np.ones((3, 2)))
    >>> np.round(sol(40.0).product, 6).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """
    U, W = check_weights(U0, W0)
    gram = gram_of(U, W)
    init = Init(U[0], W[:, 0]) if gram.c == 1 and gram.m == 1 else None
    return _solve(gram, sigma_xx, sigma_xy, sigma_yy, eta_u, eta_w, kappa, rtol, atol, method, init)


def solve_gram(gram: LinearGram, *, sigma_xx: ArrayLike, sigma_xy: ArrayLike, eta_u: float = 1.0,
               eta_w: float = 1.0, kappa: float = 1.0, sigma_yy: ArrayLike | None = None, rtol: float = 1e-10,
               atol: float | None = None, method: str = "auto") -> LinearSolution:
    """:func:`solve` from the Gram matrix of the init (:func:`~featmech.theory.linear.gram.sample_gram`,
    :func:`~featmech.theory.linear.gram.gram_of`): any width at the cost of width c+m.

    Raises:
        InputError: ``gram`` is not a :class:`LinearGram`, or as :func:`solve`.
    """
    if not isinstance(gram, LinearGram):
        raise InputError(f"gram must be a LinearGram (sample_gram, gram_of), got {type(gram).__name__}")
    return _solve(gram, sigma_xx, sigma_xy, sigma_yy, eta_u, eta_w, kappa, rtol, atol, method, None)


def _solve(gram: LinearGram, sigma_xx: Any, sigma_xy: Any, sigma_yy: Any, eta_u: Any, eta_w: Any, kappa: Any,
           rtol: Any, atol: Any, method: Any, init: Init | None) -> LinearSolution:
    S, B, yy = check_moments(sigma_xx, sigma_xy, sigma_yy, gram.c, gram.m)
    eu, ew, k = check_hyper(eta_u, eta_w, kappa)
    rt, at, meth = _settings(rtol, atol, method)
    return LinearSolution(gram, Problem(S, B, yy, eu, ew, k), rtol=rt, atol=at, method=meth, init=init)
