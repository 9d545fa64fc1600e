r"""The exact trajectory as an object you call at times ``t`` (:class:`Solution`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from featmech._validation import check_array, check_scalar, check_times
from featmech.errors import InputError
from featmech.theory.config import F, Gram, Hyper, Init, freeze
from featmech.theory.exact.branches import BRANCH_LABELS, Branch
from featmech.theory.exact.constants import (
    BAND,
    EXTENDED,
    Constants,
    Modes,
    inputs_in_band,
)
from featmech.theory.exact.evaluate import evaluate, fixed_point, weights
from featmech.theory.exact.gram import modes as gram_modes
from featmech.theory.exact.gram import vector_modes, vector_stats
from featmech.theory.exact.state import State

__all__ = ["Solution"]

_STATIC, _LINEAR, _LOGISTIC, _GENERIC = (int(b) for b in Branch)


@dataclass(frozen=True, eq=False)
class Solution:
    r"""Exact gradient-flow trajectory; call it at times ``t`` like scipy's ``OdeSolution``.

    ``sol(t)`` returns a :class:`~featmech.theory.exact.state.State` whose read-only arrays have
    shape ``sol.batch_shape + t.shape``; every call costs O(1) per time point, whatever the width.
    Build it with :func:`~featmech.theory.exact.solve` (vectors or Gram statistics) or
    :func:`~featmech.theory.exact.solve_gram` (Gram statistics, any batch shape), or from parts
    with :meth:`of`.

    Arguments:
        gram: the Gram statistics of the init, of the batch shape.
        hyper: the hyperparameters, of the batch shape.
        constants: ``Constants.of(gram, hyper, modes)``.
        init: the weight vectors it was built from (single configuration), or ``None``; needed
            by :meth:`weights`.

    Attributes:
        fixed_point: the :class:`~featmech.theory.exact.state.State` at t = ∞ (computed on
            construction: it is part of the range check; ``sol(np.inf)`` returns it).

    Raises:
        InputError: ``"parameters out of float64 range: …"`` where an observable would not be
            representable in float64 (see ``docs/exact.md``).

    Everything reachable from a Solution is immutable: its fields are frozen objects of
    read-only arrays, and so is every array it returns.

    >>> import numpy as np
    >>> sol = Solution.of(Gram(0.01, 0.01, 0.0), Hyper(target=2.0))
    >>> round(float(sol.fixed_point.output), 12), sol.branch
    (2.0, <Branch.GENERIC: 3>)
    """

    gram: Gram
    hyper: Hyper
    constants: Constants = field(repr=False)
    init: Init | None = field(default=None, repr=False)
    fixed_point: State = field(init=False, repr=False)

    def __post_init__(self) -> None:
        shape = self.constants.shape
        h = self.hyper
        if self.gram.shape != shape or not (h.eta_u.shape == h.eta_w.shape == h.kappa.shape == h.target.shape
                                            == h.data_var.shape == shape):
            raise InputError(f"Solution: gram, hyper and constants must share the batch shape {shape}")
        object.__setattr__(self, "fixed_point", _checked(self.constants))

    @classmethod
    def _trusted(cls, gram: Gram, hyper: Hyper, constants: Constants, init: Init | None, fp: State) -> "Solution":
        obj = object.__new__(cls)
        obj.__dict__.update(gram=gram, hyper=hyper, constants=constants, init=init, fixed_point=fp)
        return obj

    # ------------------------------------------------------------------ construction
    @classmethod
    def of(cls, gram: Gram, hyper: Hyper, *, modes: Modes | None = None, init: Init | None = None,
           exact: bool = True) -> "Solution":
        """The solution for (already validated) Gram statistics and hyperparameters.

        Float64 where every magnitude lies in :data:`~featmech.theory.exact.constants.BAND` (at the
        start and at the fixed point), else extended precision (``docs/exact.md``, "Any scale").

        Arguments:
            gram: Gram statistics.
            hyper: hyperparameters; both broadcast together to the batch shape.
            modes: the modes A, B, c when known more accurately than from the Gram statistics
                (vector inits, :func:`~featmech.theory.exact.gram.vector_modes`); ``None``: from ``gram``.
            init: the vectors ``gram`` was computed from (single configuration).
            exact: whether ``gram`` holds the vectors' statistics exactly (false when float64
                rounded them: then the solution is computed from the vectors in extended precision).

        Returns:
            The :class:`Solution`.

        Raises:
            InputError: out of float64 range (see the class).
        """
        shape = gram.shape if gram.shape == hyper.shape else np.broadcast_shapes(gram.shape, hyper.shape)
        small = gram.shape != shape or hyper.shape != shape  # check the inputs before broadcasting them
        inputs_ok = small and inputs_in_band(*(getattr(gram, f) for f in ("uu", "ww", "uw", "area")),
                                             *(getattr(hyper, f) for f in ("eta_u", "eta_w", "kappa", "target",
                                                                          "data_var")))
        gram, hyper = gram.broadcast(shape), hyper.broadcast(shape)
        if not exact and init is not None:
            if EXTENDED is None:
                raise InputError("parameters out of float64 range: the Gram statistics of the vectors underflow "
                                 "float64 (NumPy's longdouble is plain float64 on this platform)")
            return cls(gram, hyper, _extended_constants(gram, hyper, init), init)
        if shape == ():
            c = Constants.single(gram, hyper, modes)
            if c is not None:
                fp = fixed_point(c)
                if _state_in_band(fp):
                    return cls._trusted(gram, hyper, c, init, fp)
        if modes is None or not isinstance(modes.A, np.ndarray):  # (floats from the fast path: recompute)
            modes = gram_modes(gram, hyper)
        elif np.shape(modes.A) != shape:
            modes = Modes(*(np.broadcast_to(x, shape) for x in modes))
        c = Constants.of(gram, hyper, modes)
        if c.in_band(inputs=not inputs_ok):
            fp = fixed_point(c)
            if _state_in_band(fp):
                return cls._trusted(gram, hyper, c, init, fp)
        if EXTENDED is None:  # no extended precision here: refuse rather than risk a wrong number
            problems = c.range_problems() or [f"a magnitude outside [{BAND[0]:g}, {BAND[1]:g}]"]
            raise InputError("parameters out of float64 range: " + "; ".join(problems) + " (NumPy's longdouble "
                             "is plain float64 on this platform, so featmech cannot widen the computation)")
        return cls(gram, hyper, _extended_constants(gram, hyper, init), init)

    # ------------------------------------------------------------------ basic info
    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The shape of the batch of configurations (``()`` for one)."""
        return self.constants.shape

    @property
    def rate(self) -> F | float:
        """D, the asymptotic exponential convergence rate (1/time); 0 where convergence is
        algebraic or there is no dynamics. A float for one configuration, else an array."""
        return _scalarize(self.constants.D)

    @property
    def branch(self) -> Branch | NDArray[np.str_]:
        """Which exact form applies.

        Returns:
            One configuration: a :class:`~featmech.theory.exact.branches.Branch` (it also
            compares equal to its label, e.g. ``sol.branch == "logistic"``). A batch: a read-only
            array of the labels (``"generic"``, ``"logistic"``, ``"one frozen layer"``, ``"static"``);
            the integer codes are ``sol.constants.branch``.
        """
        codes = self.constants.branch
        if codes.ndim == 0:
            return Branch(int(codes))
        return freeze(BRANCH_LABELS[codes])

    @property
    def initial(self) -> State:
        """The :class:`~featmech.theory.exact.state.State` at t = 0."""
        return self(0.0)

    @property
    def ntk_ratio(self) -> F | float:
        """K(∞)/K(0) (1 where K(0) = 0)."""
        return _scalarize(1.0 + np.asarray(self.ntk_change))

    @property
    def ntk_change(self) -> F | float:
        r"""K(∞)/K(0) − 1, to full relative accuracy even when it is far below 1e-16.

        Generic branch: with :math:`K \propto y + 1/y`,

        .. math::
            \frac{K_\infty}{K_0} - 1 = \frac{(y_+ - y_0)(y_+y_0 - 1)}{y_+y_0(y_0 + 1/y_0)},\quad
            y_+ - y_0 = \frac{y_0 r_0}{g(y_0 + 1/y_+)},\quad
            y_+y_0 - 1 = -\frac{y_+(d_0 - n_0)}{d_0} - (1 - y_+)

        (no cancellation); logistic branch: :math:`v_\infty - 1 = -r_0/f_0` (k > 0) or −1;
        otherwise 0. A float for one configuration, else an array.
        """
        c = self.constants
        with np.errstate(all="ignore"):
            y0, yp, gg = c.y0, c.yplus, c.g
            d_y = y0 * c.r0m / (gg * (y0 + 1.0 / yp))
            prod_m1 = -yp * c.d0_m_n0 / c.d0 - c.one_m_yp
            gen = d_y * prod_m1 / (yp * y0 * (y0 + 1.0 / y0))
            logi = np.where(c.km > 0, -c.r0m / c.f0m, -1.0)
            out = np.select([c.branch == _GENERIC, c.branch == _LOGISTIC], [gen, logi], 0.0)
            out = np.where(c.K0 > 0, out, 0.0)
        return _scalarize(out)

    @property
    def ntk_max_deviation(self) -> F | float:
        r""":math:`\max_{t\in[0,\infty]} |K(t)/K(0) - 1|`, exactly.

        :math:`K = R(y + 1/y)` along the generic branch, so besides the endpoints only
        :math:`y = 1` (the output crossing zero, where :math:`K = 4V\kappa s g`) can be an
        extremum; elsewhere K is monotone. A float for one configuration, else an array.
        """
        c = self.constants
        with np.errstate(all="ignore"):
            K0 = c.K0
            dev = np.abs(np.asarray(self.ntk_change))
            crosses = (c.branch == _GENERIC) & ((c.y0 - 1.0) * (c.yplus - 1.0) < 0) & (K0 > 0)
            kmin = 4.0 * c.data_var * c.kappa * c.s * c.g
            dev = np.where(crosses, np.maximum(dev, np.abs(kmin / np.where(K0 > 0, K0, 1.0) - 1.0)), dev)
        return _scalarize(dev)

    @property
    def lam(self) -> F | float:
        r""":math:`\lambda = k/g` with :math:`g = \kappa\sqrt{\eta_u\eta_w}|a||b|/4`: the finite-width
        form of the infinite-width :math:`\lambda = 4k/(\kappa s N)`.

        ±inf on the logistic branch (a vanished mode), NaN where it does not apply. A float for
        one configuration, else an array.
        """
        c = self.constants
        with np.errstate(all="ignore"):
            lam = np.where(c.branch == _GENERIC, c.target / c.g,
                           np.where(c.branch == _LOGISTIC, np.sign(c.target) * np.inf, np.nan))
        return _scalarize(lam)

    @property
    def y_range(self) -> tuple[F, F]:
        """The scaled variable y at t = 0 and t = ∞ in the frame with k ≥ 0 (NaN outside the
        generic branch); read-only float64 arrays of the batch shape."""
        c = self.constants
        if c.dtype == np.float64:
            return c.y0, c.yplus
        return _float64(c.y0), _float64(c.yplus)

    # ------------------------------------------------------------------ evaluation
    def __call__(self, t: ArrayLike) -> State:
        """The observables at times ``t``.

        Arguments:
            t: times ``>= 0`` (any shape; ``inf`` gives the fixed point).

        Returns:
            A :class:`~featmech.theory.exact.state.State` of read-only arrays of shape
            ``batch_shape + t.shape``.

        Raises:
            InputError: a negative or NaN time.
        """
        tt = check_times(t)
        if tt.ndim == 0 and tt == math.inf:
            return self.fixed_point
        return evaluate(self.constants, tt)

    def weights(self, t: ArrayLike) -> tuple[F, F]:
        """Weight vectors u(t), w(t), read-only arrays of shape ``t.shape + (width,)``.

        Arguments:
            t: times ``>= 0``.

        Returns:
            ``(u, w)``.

        Raises:
            InputError: the solution was not built from vectors, or a bad time.
        """
        if self.init is None:
            raise InputError("weights() needs a solution built from vectors with featmech.solve(u0, w0)")
        return weights(self.constants, self.init, check_times(t))

    def index(self, idx: Any) -> "Solution":
        """One configuration (or a sub-batch) of a batch: ``idx`` indexes the batch axes."""
        return Solution(self.gram.index(idx), self.hyper.index(idx), self.constants.index(idx), self.init)

    def time_to_loss(self, loss: float) -> F | float:
        """Earliest time t with L(t) <= ``loss`` (0 if already there, ``inf`` if never).

        Gradient flow never increases the loss, so the answer is unique; it is found by a
        bracketed root search on the exact loss (relative accuracy ~1e-12).

        Arguments:
            loss: the loss level ``>= 0`` (broadcasts against the batch).

        Returns:
            A float for one configuration, else a read-only array.

        Raises:
            InputError: a negative or non-finite ``loss``.
        """
        lt = check_array("loss", loss, low=0.0)
        out = np.empty(self.batch_shape)
        for idx in np.ndindex(*self.batch_shape):
            out[idx] = _time_to_loss(self.index(idx), float(np.broadcast_to(lt, self.batch_shape)[idx]))
        return _scalarize(out)

    def convergence_time(self, fraction: float = 1e-2) -> F | float:
        r"""Time at which :math:`|r(t)| = \text{fraction}\cdot|r(0)|` (the loss falls by fraction²), vectorized.

        Closed form in every branch (no root search): the generic branch inverts y(t) — find
        :math:`y^*` with :math:`g(1/y^* - y^*) = k + \text{fraction}\cdot r_0`, then
        :math:`E^* = P_1(y_+ - y^*)/(P_1(y_+ - y^*) + P_2(d_0 y^* - n_0))` and :math:`t = -\ln(E^*)/D`;
        the logistic and linear branches invert their exponentials.

        Arguments:
            fraction: in (0, 1].

        Returns:
            A float for one configuration, else a read-only array: ``inf`` where the residual
            never gets that small (the saddle of a wrong-sign aligned init, or no dynamics);
            0 where r0 = 0.

        Raises:
            InputError: ``fraction`` outside (0, 1].
        """
        fr = check_scalar("fraction", fraction, low=0.0, low_inclusive=False, high=1.0)
        c = self.constants
        br = c.branch
        with np.errstate(all="ignore"):
            D = c.D
            # generic, mirrored frame (k' >= 0)
            gg, km, yp, n0, d0 = c.g, c.km, c.yplus, c.n0, c.d0
            fstar = km + fr * c.r0m
            hyp = np.hypot(fstar, 2.0 * gg)
            ystar = np.where(fstar >= 0, 2.0 * gg / (fstar + hyp), (hyp - fstar) / (2.0 * gg))
            P1, P2 = n0 * yp + d0, yp * yp + 1.0
            Estar = P1 * (yp - ystar) / (P1 * (yp - ystar) + P2 * (d0 * ystar - n0))
            t_gen = -np.log(Estar) / D
            # logistic: Ev(t) = fraction
            rho = np.abs(c.f0m / km)
            alpha = 2.0 * c.data_var * c.s * c.kappa * c.f0m
            E_pos = fr * rho / (1.0 - fr + fr * rho)
            E_neg = 1.0 - (1.0 / fr - 1.0) / rho
            t_log = np.where(km > 0, -np.log(E_pos) / D,
                             np.where(km < 0, np.where(E_neg > 0, -np.log(E_neg) / D, np.inf),
                                      (1.0 / fr - 1.0) / alpha))
            t_lin = -math.log(fr) / D
        out = np.select([br == _GENERIC, br == _LOGISTIC, br == _LINEAR], [t_gen, t_log, t_lin], np.inf)
        out = np.where(c.r0 == 0, 0.0, out)
        out = np.where(np.isnan(out), np.inf, out)
        return _scalarize(out)


def _time_to_loss(sol: Solution, target_loss: float) -> float:
    """time_to_loss of a single configuration."""

    def lossf(t: float) -> float:
        return float(sol(t).loss)

    l0 = lossf(0.0)
    if l0 <= target_loss:
        return 0.0
    if lossf(math.inf) > target_loss:
        return math.inf
    D = float(sol.constants.D)
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


def _finite(a: NDArray[np.float64]) -> bool:
    """Every entry finite (``math.isfinite`` for one number: cheaper than the ufunc)."""
    return math.isfinite(a) if a.ndim == 0 else bool(np.isfinite(a).all())


def _scalarize(a: Any) -> Any:
    """A float for a 0-d result, else the array made read-only (float64: extended precision is rounded)."""
    arr = np.asarray(a)
    if arr.ndim == 0:
        return float(arr)
    return freeze(arr) if arr.dtype == np.float64 else _float64(arr)


def _float64(a: Any) -> F:
    """An extended-precision array rounded to a read-only float64 one."""
    with np.errstate(over="ignore", under="ignore"):
        return freeze(np.array(a, dtype=np.float64))


def _state_in_band(st: State) -> bool:
    """The fixed point's magnitudes lie in BAND (so float64 holds the whole trajectory: every
    observable is monotone or convex in time, bounded by its values at the ends)."""
    lo, hi = BAND
    vals = (st.ntk, st.output, st.norm_u, st.norm_w)
    if st.ntk.ndim == 0:
        for i, v in enumerate(vals):
            a = abs(float(v))
            if i >= 2:
                a *= a
            if a != 0.0 and not (lo <= a <= hi):
                return False
        return True
    for i, v in enumerate(vals):
        a = np.abs(v)
        top, low = (hi, lo) if i < 2 else (math.sqrt(hi), math.sqrt(lo))  # (norms: their squares in BAND)
        if not (a.max() <= top and np.min(a, where=a > 0, initial=np.inf) >= low):
            return False
    return True


def _checked(c: Constants) -> State:
    """The fixed point, after checking that every observable is representable in float64.

    Raises:
        InputError: ``"parameters out of float64 range: …"``.
    """
    c.check_range()
    problems = []
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        K0 = np.asarray(c.K0, dtype=np.float64)
        r0 = np.asarray(c.r0, dtype=np.float64)
        loss0 = np.asarray(0.5 * c.data_var * c.r0 * c.r0, dtype=np.float64)
    if not _finite(K0):
        problems.append("the initial NTK V·κ²·(η_w|u0|²+η_u|w0|²)")
    if not (_finite(r0) and _finite(loss0)):
        problems.append("the initial loss ½V(κ u0·w0 − k)²")
    fp = fixed_point(c)
    for name in ("ntk", "output", "norm_u", "norm_w"):
        if not _finite(getattr(fp, name)):
            problems.append(f"the final {name}")
    if problems:
        raise InputError("parameters out of float64 range: " + "; ".join(problems) + " not representable")
    return fp


def _extended_constants(gram: Gram, hyper: Hyper, init: Init | None) -> Constants:
    """The constants in extended precision: from the vectors when there are some (their float64
    Gram statistics may have been rounded), else from the (exactly converted) Gram statistics."""
    x = EXTENDED
    xh = Hyper.trusted(hyper.eta_u, hyper.eta_w, hyper.kappa, hyper.target, hyper.data_var, dtype=x)
    if init is not None:
        stats, _ = vector_stats(init.u0, init.w0, extended=True)
        xg = Gram.trusted(*stats, dtype=x)
        m = gram_modes(xg, xh)
        m = vector_modes(init.u0, init.w0, xh, m) or m
    else:
        xg = Gram.trusted(gram.uu, gram.ww, gram.uw, gram.area, dtype=x)  # type: ignore[arg-type]
        m = gram_modes(xg, xh)
    return Constants.of(xg, xh, m)
