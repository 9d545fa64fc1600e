r"""Discrete-time training of the linear network, exact at any width (THEORY.md §3).

Every update is a linear combination of u and w (and of the momentum buffers, which are
themselves such combinations), so the whole trajectory stays in span{u0, w0}. Writing the
vectors in an orthonormal basis of that plane, ``u0 = (|u0|, 0)``,
``w0 = (u0·w0/|u0|, |u0∧w0|/|u0|)``, makes each step O(1) whatever the width.

Update rule (one step, all layers simultaneously; PyTorch's SGD conventions):

.. math::
    g_u = V_t\kappa (\kappa p - k_t)\, w + \mathrm{wd}\,u,\quad
    m_u \leftarrow \mu\, m_u + g_u,\quad u \leftarrow u - \mathrm{lr}\,\eta_u\, m_u

and the same for w with :math:`\eta_w`. Full-batch GD has :math:`V_t = V`, :math:`k_t = k`;
minibatch SGD draws the batch moments :math:`V_t = \frac1n\sum x_b^2`,
:math:`k_t = \frac{1}{nV_t}\sum x_b y_b` exactly (:func:`batch_moments`).
Recorded observables use the population loss :math:`\tfrac12 V(\kappa p - k)^2` and the NTK
:math:`V\kappa^2(\eta_w|u|^2+\eta_u|w|^2)`.

Divergence: a configuration has diverged at the first step where its residual is not finite or
exceeds ``divergence_factor × max(|r0|, |k|)``; its records from there on are NaN and
``diverged_at`` holds that step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech._validation import check_array, check_int, check_scalar
from featmech.errors import InputError
from featmech.theory.config import Gram, check_vectors
from featmech.theory.exact import check_gram, gram_of

__all__ = ["SimResult", "simulate", "simulate_gram", "simulate_full", "batch_moments", "run_defaults"]

F = NDArray[np.float64]


@dataclass(frozen=True)
class SimResult:
    """Recorded trajectory of a discrete-time run.

    ``step`` has shape (n_records,); every observable has shape ``batch_shape + (n_records,)``.
    ``diverged`` (bool) and ``diverged_at`` (int, -1 where it did not diverge) have the batch
    shape; records at and after the divergence step are NaN.
    """

    step: NDArray[np.int64]
    output: F
    loss: F
    ntk: F
    alignment: F
    norm_u: F
    norm_w: F
    diverged: NDArray[np.bool_]
    diverged_at: NDArray[np.int64]

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def truncated(self) -> dict[str, Any]:
        """For a single configuration: records before divergence only, JSON-ready."""
        if np.ndim(self.diverged) != 0:
            raise InputError("truncated() is for a single configuration")
        n = self.step.size
        if bool(self.diverged):
            n = int(np.searchsorted(self.step, int(self.diverged_at)))
        out: dict[str, Any] = {"step": self.step[:n].tolist()}
        for name in ("output", "loss", "ntk", "alignment", "norm_u", "norm_w"):
            out[name] = np.asarray(getattr(self, name))[:n].tolist()
        out["diverged"] = bool(self.diverged)
        out["diverged_at"] = int(self.diverged_at) if bool(self.diverged) else None
        return out


def batch_moments(steps: int, batch_size: int, *, data_var: ArrayLike = 1.0, target: ArrayLike = 1.0,
                  noise: ArrayLike = 0.0, seed: int = 0, shape: tuple[int, ...] = ()) -> tuple[F, F]:
    """Exact minibatch moments for ``steps`` steps of SGD with batches of ``batch_size``.

    Data model: x ~ N(0, V), y = k x + ε, ε ~ N(0, noise²). Returns ``(V_t, k_t)`` with shape
    ``shape + (steps,)``: V_t = mean(x²) ~ V χ²_n / n and k_t = mean(x y)/V_t, where
    sum(x ε) | x ~ N(0, noise² Σx²) — the same distribution as drawing the samples, in O(1).
    """
    steps = check_int("steps", steps, low=1)
    n = check_int("batch_size", batch_size, low=1)
    V = check_array("data_var", data_var, low=0.0, low_inclusive=False)
    k = check_array("target", target)
    sig = check_array("noise", noise, low=0.0)
    rng = np.random.default_rng(check_int("seed", seed, low=0))
    full = shape + (steps,)
    chi = rng.chisquare(n, size=full)
    z = rng.standard_normal(size=full)
    Vb = np.expand_dims(V, -1) if V.ndim else V
    kb = np.expand_dims(k, -1) if k.ndim else k
    sb = np.expand_dims(sig, -1) if sig.ndim else sig
    sumx2 = Vb * chi
    Vt = sumx2 / n
    with np.errstate(divide="ignore", invalid="ignore"):
        kt = kb + np.where(sumx2 > 0, sb * z / np.sqrt(sumx2), 0.0)
    return np.broadcast_to(Vt, full).copy(), np.broadcast_to(kt, full).copy()


def run_defaults(gram: Gram, *, steps: int, lr: float | None = None, every: int | None = None, eta_u: float = 1.0,
                 eta_w: float = 1.0, kappa: float = 1.0, data_var: float = 1.0) -> tuple[float, float, int]:
    """(K0, lr, every) for one configuration, filling the defaults the CLI and sweeps share.

    K0 = Vκ²(η_w|u0|² + η_u|w0|²); the default lr is 0.5/K0 (a quarter of the edge of stability
    2/K0) and the default recording interval steps/100.
    """
    K0 = data_var * kappa * kappa * (eta_w * float(gram.uu) + eta_u * float(gram.ww))
    if lr is None:
        if not (K0 > 0 and math.isfinite(K0)):
            raise InputError("lr: cannot pick a default learning rate when the initial NTK is 0; give lr")
        lr = 0.5 / K0
    return K0, float(lr), int(every) if every is not None else max(1, int(steps) // 100)


def _record_steps(steps: int, every: int) -> NDArray[np.int64]:
    rec = np.arange(0, steps + 1, every, dtype=np.int64)
    if rec[-1] != steps:
        rec = np.append(rec, steps)
    return rec


def _common_checks(lr: Any, steps: Any, every: Any, momentum: Any, weight_decay: Any,
                   divergence_factor: Any) -> tuple[F, int, int, F, F, float]:
    lr_a = check_array("lr", lr, low=0.0, low_inclusive=False)
    steps_i = check_int("steps", steps, low=1)
    every_i = check_int("every", every, low=1)
    mom = check_array("momentum", momentum, low=0.0, high=1.0)
    if np.any(mom >= 1.0):
        raise InputError("momentum must be in [0, 1)")
    wd = check_array("weight_decay", weight_decay, low=0.0)
    dfac = check_scalar("divergence_factor", divergence_factor, low=1.0, low_inclusive=False)
    return lr_a, steps_i, every_i, mom, wd, dfac


def simulate_gram(uu: ArrayLike, ww: ArrayLike, uw: ArrayLike, *, area: ArrayLike | None = None,
                  lr: ArrayLike, steps: int, eta_u: ArrayLike = 1.0, eta_w: ArrayLike = 1.0,
                  kappa: ArrayLike = 1.0, target: ArrayLike = 1.0, data_var: ArrayLike = 1.0,
                  momentum: ArrayLike = 0.0, weight_decay: ArrayLike = 0.0, batch_size: int | None = None,
                  noise: ArrayLike = 0.0, seed: int = 0, every: int = 1, moments: tuple[F, F] | None = None,
                  divergence_factor: float = 1e8) -> SimResult:
    """Width-free GD / SGD / momentum / weight decay from Gram statistics (batched).

    All parameters broadcast to one batch shape. ``batch_size=None`` is full-batch GD;
    otherwise SGD with exact batch moments drawn from ``seed`` (or given as ``moments``, a pair
    of arrays of shape ``batch_shape + (steps,)`` or ``(steps,)``).
    """
    return _simulate_plane(check_gram(uu, ww, uw, area), lr=lr, steps=steps,
                           eta_u=eta_u, eta_w=eta_w, kappa=kappa, target=target, data_var=data_var,
                           momentum=momentum, weight_decay=weight_decay, batch_size=batch_size, noise=noise,
                           seed=seed, every=every, moments=moments, divergence_factor=divergence_factor)


def simulate(u0: ArrayLike, w0: ArrayLike, *, lr: float, steps: int, eta_u: float = 1.0, eta_w: float = 1.0,
             kappa: float = 1.0, target: float = 1.0, data_var: float = 1.0, momentum: float = 0.0,
             weight_decay: float = 0.0, batch_size: int | None = None, noise: float = 0.0, seed: int = 0,
             every: int = 1, moments: tuple[F, F] | None = None, divergence_factor: float = 1e8) -> SimResult:
    """Width-free discrete-time training from weight vectors (see :func:`simulate_gram`).

    Exactly equal (to rounding) to running the update on the full vectors, at O(1) per step.
    """
    gram = gram_of(u0, w0)
    return _simulate_plane(gram, lr=lr, steps=steps, eta_u=eta_u, eta_w=eta_w, kappa=kappa, target=target,
                           data_var=data_var, momentum=momentum, weight_decay=weight_decay,
                           batch_size=batch_size, noise=noise, seed=seed, every=every, moments=moments,
                           divergence_factor=divergence_factor)


def _simulate_plane(gram: Gram, *, lr: Any, steps: Any, eta_u: Any, eta_w: Any, kappa: Any, target: Any,
                    data_var: Any, momentum: Any, weight_decay: Any, batch_size: Any, noise: Any, seed: Any,
                    every: Any, moments: Any, divergence_factor: Any) -> SimResult:
    lr_a, steps_i, every_i, mom, wd, dfac = _common_checks(lr, steps, every, momentum, weight_decay,
                                                           divergence_factor)
    eu = check_array("eta_u", eta_u, low=0.0)
    ew = check_array("eta_w", eta_w, low=0.0)
    kap = check_array("kappa", kappa, low=0.0)
    k = check_array("target", target)
    V = check_array("data_var", data_var, low=0.0)
    arrs = np.broadcast_arrays(gram.uu, gram.ww, gram.uw, gram.area, lr_a, eu, ew, kap, k, V, mom, wd)
    shape = arrs[0].shape
    flat = [np.ascontiguousarray(a, dtype=np.float64).reshape(-1) for a in arrs]
    uu, ww, uw, area, lr_f, eu_f, ew_f, kap_f, k_f, V_f, mom_f, wd_f = flat
    n = uu.size

    # orthonormal basis of span{u0, w0}
    nu = np.sqrt(uu)
    has_u = nu > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.stack([nu, np.zeros(n)])
        w = np.stack([np.where(has_u, uw / np.where(has_u, nu, 1.0), np.sqrt(ww)),
                      np.where(has_u, area / np.where(has_u, nu, 1.0), 0.0)])

    if moments is not None:
        Vt = np.broadcast_to(np.asarray(moments[0], dtype=np.float64), shape + (steps_i,)).reshape(n, steps_i)
        kt = np.broadcast_to(np.asarray(moments[1], dtype=np.float64), shape + (steps_i,)).reshape(n, steps_i)
        if not (np.all(np.isfinite(Vt)) and np.all(np.isfinite(kt))):
            raise InputError("moments must be finite")
        stochastic = True
    elif batch_size is not None:
        bs = check_int("batch_size", batch_size, low=1)
        Vt, kt = batch_moments(steps_i, bs, data_var=np.where(V_f > 0, V_f, 1.0), target=k_f,
                               noise=np.broadcast_to(check_array("noise", noise, low=0.0), shape).reshape(-1),
                               seed=seed, shape=(n,))
        Vt = Vt * (V_f > 0)[:, None]
        stochastic = True
    else:
        stochastic = False

    rec = _record_steps(steps_i, every_i)
    nrec = rec.size
    out = {name: np.full((n, nrec), np.nan) for name in ("output", "loss", "ntk", "alignment", "norm_u", "norm_w")}
    diverged = np.zeros(n, dtype=bool)
    diverged_at = np.full(n, -1, dtype=np.int64)
    r0 = kap_f * uw - k_f
    rmax = dfac * np.maximum(np.maximum(np.abs(r0), np.abs(k_f)), np.finfo(float).tiny)

    a_u = lr_f * eu_f  # effective step sizes
    a_w = lr_f * ew_f
    use_mom = bool(np.any(mom_f > 0))
    use_wd = bool(np.any(wd_f > 0))
    mu_ = np.zeros_like(u)
    mw_ = np.zeros_like(w)
    Vk = V_f * kap_f

    def record(j: int) -> None:
        u2 = u[0] * u[0] + u[1] * u[1]
        w2 = w[0] * w[0] + w[1] * w[1]
        p = u[0] * w[0] + u[1] * w[1]
        res = kap_f * p - k_f
        out["output"][:, j] = kap_f * p
        out["loss"][:, j] = 0.5 * V_f * res * res
        out["ntk"][:, j] = V_f * kap_f * kap_f * (ew_f * u2 + eu_f * w2)
        den = np.sqrt(u2) * np.sqrt(w2)
        out["alignment"][:, j] = np.where(den > 0, p / np.where(den > 0, den, 1.0), 0.0)
        out["norm_u"][:, j] = np.sqrt(u2)
        out["norm_w"][:, j] = np.sqrt(w2)
        if diverged.any():
            for arr in out.values():
                arr[diverged, j] = np.nan

    j = 0
    if rec[0] == 0:
        record(0)
        j = 1
    with np.errstate(all="ignore"):
        for step in range(1, steps_i + 1):
            p = u[0] * w[0] + u[1] * w[1]
            if stochastic:
                coef = Vt[:, step - 1] * kap_f * (kap_f * p - kt[:, step - 1])
            else:
                coef = Vk * (kap_f * p - k_f)
            gu = coef * w
            gw = coef * u
            if use_wd:
                gu = gu + wd_f * u
                gw = gw + wd_f * w
            if use_mom:
                mu_ = mom_f * mu_ + gu
                mw_ = mom_f * mw_ + gw
                gu, gw = mu_, mw_
            u = u - a_u * gu
            w = w - a_w * gw
            pn = u[0] * w[0] + u[1] * w[1]
            bad = ~(np.abs(kap_f * pn - k_f) <= rmax)
            if bad.any():
                new = bad & ~diverged
                if new.any():
                    diverged_at[new] = step
                    diverged |= new
                u[:, diverged] = 0.0
                w[:, diverged] = 0.0
                mu_[:, diverged] = 0.0
                mw_[:, diverged] = 0.0
            if j < nrec and rec[j] == step:
                record(j)
                j += 1

    def shaped(a: F) -> F:
        return a.reshape(shape + (nrec,))

    return SimResult(step=rec, output=shaped(out["output"]), loss=shaped(out["loss"]), ntk=shaped(out["ntk"]),
                     alignment=shaped(out["alignment"]), norm_u=shaped(out["norm_u"]),
                     norm_w=shaped(out["norm_w"]), diverged=diverged.reshape(shape),
                     diverged_at=diverged_at.reshape(shape))


def simulate_full(u0: ArrayLike, w0: ArrayLike, *, lr: float, steps: int, eta_u: float = 1.0,
                  eta_w: float = 1.0, kappa: float = 1.0, target: float = 1.0, data_var: float = 1.0,
                  momentum: float = 0.0, weight_decay: float = 0.0, every: int = 1,
                  moments: tuple[F, F] | None = None, divergence_factor: float = 1e8) -> SimResult:
    """Reference simulator: the plain update loop on the full width-d vectors, O(d) per step.

    It shares no code with the width-free simulator and exists to test it (and to measure it).
    ``moments`` optionally gives the per-step (V_t, k_t) of a minibatch run (shape (steps,)).
    """
    u, w = check_vectors(u0, w0)
    lr_a, steps_i, every_i, mom, wd, dfac = _common_checks(lr, steps, every, momentum, weight_decay,
                                                           divergence_factor)
    lr_s, mom_s, wd_s = float(lr_a), float(mom), float(wd)
    eu = check_scalar("eta_u", eta_u, low=0.0)
    ew = check_scalar("eta_w", eta_w, low=0.0)
    kap = check_scalar("kappa", kappa, low=0.0)
    k = check_scalar("target", target)
    V = check_scalar("data_var", data_var, low=0.0)
    u = u.copy()
    w = w.copy()
    bu = np.zeros_like(u)
    bw = np.zeros_like(w)
    rec = _record_steps(steps_i, every_i)
    rows: list[list[float]] = []
    r0 = kap * float(u @ w) - k
    rmax = dfac * max(abs(r0), abs(k), np.finfo(float).tiny)
    diverged_at = -1

    def obs() -> list[float]:
        p = float(u @ w)
        nu, nw = float(np.linalg.norm(u)), float(np.linalg.norm(w))
        zeta = p / (nu * nw) if nu > 0 and nw > 0 else 0.0
        return [kap * p, 0.5 * V * (kap * p - k) ** 2, V * kap * kap * (ew * nu * nu + eu * nw * nw), zeta, nu, nw]

    ri = 0
    if rec[0] == 0:
        rows.append(obs())
        ri = 1
    with np.errstate(all="ignore"):
        for step in range(1, steps_i + 1):
            if moments is not None:
                Vs, ks = float(moments[0][step - 1]), float(moments[1][step - 1])
            else:
                Vs, ks = V, k
            r = kap * float(u @ w) - ks
            gu = Vs * kap * r * w + wd_s * u
            gw = Vs * kap * r * u + wd_s * w
            bu = mom_s * bu + gu
            bw = mom_s * bw + gw
            u = u - lr_s * eu * bu
            w = w - lr_s * ew * bw
            rn = kap * float(u @ w) - k
            if not abs(rn) <= rmax:
                diverged_at = step
                break
            if ri < rec.size and rec[ri] == step:
                rows.append(obs())
                ri += 1
    data = np.full((rec.size, 6), np.nan)
    if rows:
        data[: len(rows)] = np.array(rows)
    return SimResult(step=rec, output=data[:, 0], loss=data[:, 1], ntk=data[:, 2], alignment=data[:, 3],
                     norm_u=data[:, 4], norm_w=data[:, 5], diverged=np.array(diverged_at >= 0),
                     diverged_at=np.array(diverged_at, dtype=np.int64))
