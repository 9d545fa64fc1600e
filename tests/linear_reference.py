r"""Independent references for the multi-output linear network (none of them imports featmech).

The model (docs/theory.md §6): f(x) = κ U W x, U ∈ ℝ^{c×d}, W ∈ ℝ^{d×m}, V = UW,
L = ½ E|κVx − y|² = ½ κ² tr(VΣVᵀ) − κ tr(VB) + ½ E|y|², Σ = E[xxᵀ] (m×m), B = E[xyᵀ] (m×c),
G = ∂L/∂V = κ(κVΣ − Bᵀ), gradient flow dU/dt = −η_u G Wᵀ, dW/dt = −η_w Uᵀ G.

- :func:`ode_flow`: scipy's ``solve_ivp`` (DOP853) on the full c·d + d·m dimensional ODE;
- :func:`numpy_train`: a plain full-width GD / minibatch SGD / heavy-ball / weight-decay loop with
  PyTorch's SGD conventions (g = ∇L_batch + wd·θ, buf ← μ buf + g, θ ← θ − lr·η_θ·buf), replaying
  given batch indices;
- :func:`torch_train`: the same network trained by ``torch.optim.SGD`` (float64, autograd; one
  parameter group per layer with lr·η), the loss computed from the samples;
- :func:`saxe_modes`: Saxe et al. (2014) logistic curves of an aligned, balanced init;
- :func:`domine_flow`: Dominé et al. (ICLR 2025) closed form of a λ-balanced network on whitened
  inputs (a matrix Riccati equation for QQᵀ, Q = [Wᵀ; U]), evaluated in mpmath.

Observables (all from the weights, formulas as in the engine's contract):
product κUW, loss, ntk_trace = κ²[η_u c tr(WΣWᵀ) + η_w ‖U‖_F² tr Σ], alignment
ζ = ‖UW‖_F / (‖U‖_F ‖W‖_F) (0 where a layer is zero), norm_u, norm_w (Frobenius) and the
conserved d×d matrix η_w UᵀU − η_u WWᵀ.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
from scipy.integrate import solve_ivp

__all__ = ["moments", "observables", "ode_flow", "numpy_train", "torch_train", "saxe_init", "saxe_modes",
           "lambda_balanced_init", "domine_flow", "record_steps"]


# ---------------------------------------------------------------------------------- observables
def moments(X, Y):
    """Sample moments (Σ = XᵀX/n, B = XᵀY/n, E|y|²) of rows x, y."""
    X = np.asarray(X, float)
    Y = np.asarray(Y, float)
    n = X.shape[0]
    return X.T @ X / n, X.T @ Y / n, float(np.sum(Y * Y) / n)


def _trace_yy(sigma_yy):
    if sigma_yy is None:
        return 0.0
    a = np.asarray(sigma_yy, float)
    return float(np.trace(a)) if a.ndim == 2 else float(a)


def observables(U, W, sigma_xx, sigma_xy, *, eta_u=1.0, eta_w=1.0, kappa=1.0, sigma_yy=None, conserved=None):
    """Observables of weights U (..., c, d), W (..., d, m); the loss includes ½E|y|² only if sigma_yy is given
    (a c×c matrix E[yyᵀ] or the number E|y|²). The d×d conserved matrix is computed when ``conserved``
    (default: d ≤ 100)."""
    U = np.asarray(U, float)
    W = np.asarray(W, float)
    S = np.asarray(sigma_xx, float)
    Bm = np.asarray(sigma_xy, float)
    c = U.shape[-2]
    V = U @ W
    P = kappa * V
    loss = (0.5 * kappa**2 * np.einsum("...ij,jk,...ik->...", V, S, V)
            - kappa * np.einsum("...ij,ji->...", V, Bm) + 0.5 * _trace_yy(sigma_yy))
    nu = np.sqrt(np.sum(U * U, axis=(-2, -1)))
    nw = np.sqrt(np.sum(W * W, axis=(-2, -1)))
    nv = np.sqrt(np.sum(V * V, axis=(-2, -1)))
    wsw = np.einsum("...ij,jk,...ik->...", W, S, W)
    ntk = kappa**2 * (eta_u * c * wsw + eta_w * nu**2 * np.trace(S))
    with np.errstate(invalid="ignore", divide="ignore"):
        zeta = np.where((nu > 0) & (nw > 0), nv / (nu * nw), 0.0)
    out = {"product": P, "loss": loss, "ntk_trace": ntk, "alignment": zeta, "norm_u": nu, "norm_w": nw,
           "U": U, "W": W}
    if conserved or (conserved is None and U.shape[-1] <= 100):
        out["conserved"] = eta_w * np.swapaxes(U, -1, -2) @ U - eta_u * W @ np.swapaxes(W, -1, -2)
    return out


# ------------------------------------------------------------------------------- (a) the full ODE
def ode_flow(U0, W0, *, sigma_xx, sigma_xy, times, eta_u=1.0, eta_w=1.0, kappa=1.0, sigma_yy=None,
             rtol=1e-12, atol_rel=1e-15):
    """Gradient flow of the full-width network by solve_ivp (DOP853) on (U, W) flattened."""
    U0 = np.asarray(U0, float)
    W0 = np.asarray(W0, float)
    S = np.asarray(sigma_xx, float)
    Bt = np.asarray(sigma_xy, float).T
    c, d = U0.shape
    m = W0.shape[1]
    nu = c * d

    def rhs(_t, x):
        U = x[:nu].reshape(c, d)
        W = x[nu:].reshape(d, m)
        G = kappa * (kappa * (U @ W) @ S - Bt)
        return np.concatenate([(-eta_u * G @ W.T).ravel(), (-eta_w * U.T @ G).ravel()])

    times = np.asarray(times, float)
    x0 = np.concatenate([U0.ravel(), W0.ravel()])
    scale = max(float(np.max(np.abs(x0))), 1e-300)
    sol = solve_ivp(rhs, (0.0, float(times[-1])), x0, method="DOP853", rtol=rtol, atol=atol_rel * scale,
                    t_eval=times)
    assert sol.success, sol.message
    U = sol.y[:nu].T.reshape(-1, c, d)
    W = sol.y[nu:].T.reshape(-1, d, m)
    return observables(U, W, S, Bt.T, eta_u=eta_u, eta_w=eta_w, kappa=kappa, sigma_yy=sigma_yy)


# --------------------------------------------------------------------- (b) a plain training loop
def record_steps(steps, every):
    """Steps 0, every, 2·every, … and the last one."""
    rec = list(range(0, steps + 1, every))
    if rec[-1] != steps:
        rec.append(steps)
    return rec


def numpy_train(U0, W0, X, Y, *, lr, steps, eta_u=1.0, eta_w=1.0, kappa=1.0, batch_indices=None, momentum=0.0,
                weight_decay=0.0, every=1):
    """Full-width training, one step: with the batch loss L_b = mean_batch ½|κUWx − y|²,
    g_θ = ∇_θ L_b + wd·θ, buf_θ ← μ buf_θ + g_θ (buf = 0 at the start), θ ← θ − lr·η_θ·buf_θ,
    for θ = U, W simultaneously. ``batch_indices`` (steps, b) replays batches (None: full batch).
    Observables on the full data's moments (loss including ½ mean|y|²)."""
    X = np.asarray(X, float)
    Y = np.asarray(Y, float)
    U = np.array(U0, float)
    W = np.array(W0, float)
    bu = np.zeros_like(U)
    bw = np.zeros_like(W)
    S, Bm, yy = moments(X, Y)
    rec = set(record_steps(steps, every))
    Us, Ws = [], []
    for step in range(steps + 1):
        if step in rec:
            Us.append(U.copy())
            Ws.append(W.copy())
        if step == steps:
            break
        if batch_indices is None:
            Sb, Bb = S, Bm
        else:
            idx = np.asarray(batch_indices[step])
            Sb, Bb, _ = moments(X[idx], Y[idx])
        G = kappa * (kappa * (U @ W) @ Sb - Bb.T)
        gu = G @ W.T + weight_decay * U
        gw = U.T @ G + weight_decay * W
        bu = momentum * bu + gu
        bw = momentum * bw + gw
        U = U - lr * eta_u * bu
        W = W - lr * eta_w * bw
    return observables(np.array(Us), np.array(Ws), S, Bm, eta_u=eta_u, eta_w=eta_w, kappa=kappa, sigma_yy=yy)


# ------------------------------------------------------------------------------ (c) torch autograd
def torch_train(U0, W0, X, Y, *, lr, steps, eta_u=1.0, eta_w=1.0, kappa=1.0, batch_indices=None, momentum=0.0,
                weight_decay=0.0, every=1):
    """The same training by torch.optim.SGD in float64: parameter groups U (lr·η_u) and W (lr·η_w),
    momentum μ, weight_decay wd, dampening 0, no Nesterov — PyTorch's SGD is exactly
    g = ∇L + wd·θ, buf ← μ buf + g (buf = g at the first step), θ ← θ − lr_group·buf.
    The loss is computed from the batch samples: mean_i ½|κ U W x_i − y_i|²."""
    import torch

    torch.set_num_threads(1)
    Xt = torch.as_tensor(np.asarray(X, float), dtype=torch.float64)
    Yt = torch.as_tensor(np.asarray(Y, float), dtype=torch.float64)
    U = torch.nn.Parameter(torch.tensor(np.asarray(U0, float), dtype=torch.float64))
    W = torch.nn.Parameter(torch.tensor(np.asarray(W0, float), dtype=torch.float64))
    opt = torch.optim.SGD([{"params": [U], "lr": lr * eta_u}, {"params": [W], "lr": lr * eta_w}],
                          lr=lr, momentum=momentum, weight_decay=weight_decay)
    rec = set(record_steps(steps, every))
    Us, Ws = [], []
    for step in range(steps + 1):
        if step in rec:
            Us.append(U.detach().numpy().copy())
            Ws.append(W.detach().numpy().copy())
        if step == steps:
            break
        if batch_indices is None:
            xb, yb = Xt, Yt
        else:
            idx = torch.as_tensor(np.asarray(batch_indices[step]), dtype=torch.long)
            xb, yb = Xt[idx], Yt[idx]
        opt.zero_grad()
        out = kappa * (xb @ W.T @ U.T)
        loss = 0.5 * ((out - yb) ** 2).sum(dim=1).mean()
        loss.backward()
        opt.step()
    S, Bm, yy = moments(X, Y)
    return observables(np.array(Us), np.array(Ws), S, Bm, eta_u=eta_u, eta_w=eta_w, kappa=kappa, sigma_yy=yy)


# ------------------------------------------------------------------------------------- (d) Saxe
def saxe_init(sigma_xy, v0, d, *, eta_u=1.0, eta_w=1.0, seed=0):
    """An aligned, balanced init on the SVD Bᵀ = A diag(s) Pᵀ (rank r = len(v0)):
    U0 = A diag(√η_u a) Rᵀ, W0 = R diag(√η_w a) Pᵀ with a = (v0/√(η_uη_w))^{1/2}, so that
    U0 W0 = A diag(v0) Pᵀ and the rescaled layers are balanced (η_w U0ᵀU0 = η_u W0W0ᵀ).
    R ∈ ℝ^{d×r} has random orthonormal columns. Returns U0, W0, A, s, P."""
    Bt = np.asarray(sigma_xy, float).T
    A, s, Pt = np.linalg.svd(Bt, full_matrices=False)
    v0 = np.asarray(v0, float)
    r = v0.size
    A, s, P = A[:, :r], s[:r], Pt[:r].T
    R, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, r)))
    a = np.sqrt(v0 / np.sqrt(eta_u * eta_w))
    U0 = A @ np.diag(np.sqrt(eta_u) * a) @ R.T
    W0 = R @ np.diag(np.sqrt(eta_w) * a) @ P.T
    return U0, W0, A, s, P


def saxe_modes(s, lam, v0, *, times, eta_u=1.0, eta_w=1.0, kappa=1.0):
    r"""Mode strengths v_i(t) of V = UW = A diag(v) Pᵀ for an aligned balanced init when Σ P = P diag(λ).

    With U = A diag(a) Rᵀ, W = R diag(b) Pᵀ the flow decouples:
    da/dt = −η_u κ(κλab − s) b, db/dt = −η_w κ(κλab − s) a; balance a/√η_u = b/√η_w is kept and
    v = ab obeys the logistic equation dv/dt = 2√(η_uη_w) κ v (s − κλ v), so

        v(t) = v* e^{ρt} / (e^{ρt} − 1 + v*/v0),   v* = s/(κλ),   ρ = 2√(η_uη_w) κ s

    (Saxe et al. 2014 with τ = 1/η, κ = λ = 1: s(t) = s e^{2st/τ}/(e^{2st/τ} − 1 + s/s0)).
    Returns an array (len(times), len(s)); the product is κ v."""
    t = np.asarray(times, float)[:, None]
    s = np.asarray(s, float)[None, :]
    lam = np.asarray(lam, float)[None, :]
    v0 = np.asarray(v0, float)[None, :]
    vstar = s / (kappa * lam)
    rho = 2.0 * np.sqrt(eta_u * eta_w) * kappa * s
    # v*/(1 + (v*/v0 − 1) e^{−ρt}): the same curve, without overflow at late times
    return vstar / (1.0 + (vstar / v0 - 1.0) * np.exp(-rho * t))


# ------------------------------------------------------------------------------------ (e) Dominé
def lambda_balanced_init(c, m, h, lam, *, scale=1.0, seed=0):
    """Random U0 (c×h), W0 (h×m) with U0ᵀU0 − W0W0ᵀ = λ I_h, not aligned with any data.

    λ ≥ 0 (needs h ≤ c): W0 random, U0 = C (λI + W0W0ᵀ)^{1/2} with C ∈ ℝ^{c×h} orthonormal columns;
    λ < 0 (needs h ≤ m): U0 random, W0 = (U0ᵀU0 − λI)^{1/2} Dᵀ with D ∈ ℝ^{m×h} orthonormal columns."""
    rng = np.random.default_rng(seed)

    def sqrtm(M):
        ev, O = np.linalg.eigh(M)
        return O @ np.diag(np.sqrt(np.maximum(ev, 0.0))) @ O.T

    if lam >= 0:
        assert h <= c
        W0 = scale * rng.standard_normal((h, m))
        C, _ = np.linalg.qr(rng.standard_normal((c, h)))
        U0 = C @ sqrtm(lam * np.eye(h) + W0 @ W0.T)
    else:
        assert h <= m
        U0 = scale * rng.standard_normal((c, h))
        D, _ = np.linalg.qr(rng.standard_normal((m, h)))
        W0 = sqrtm(U0.T @ U0 - lam * np.eye(h)) @ D.T
    return U0, W0


def domine_flow(U0, W0, *, sigma_xy, times, lam, kappa=1.0, eta=1.0, dps=50):
    r"""Closed form of the flow of a λ-balanced network (U0ᵀU0 − W0W0ᵀ = λI) on whitened inputs (Σ = I),
    η_u = η_w = η (Dominé, Anguita, Proca, Braun, Kunin, Mediano, Saxe, ICLR 2025, in our conventions).

    Derivation. With Q = [Wᵀ; U] ∈ ℝ^{(m+c)×d}, QQᵀ = [[WᵀW, (UW)ᵀ], [UW, UUᵀ]] and J = diag(I_m, −I_c),
    the flow is dQ/dt = η(F Q − κ² off(QQᵀ) Q), F = [[0, κB], [κBᵀ, 0]], off(X) = (X − JXJ)/2.
    Since QᵀJQ = WWᵀ − UᵀU = −λI, off(QQᵀ)Q = ½(Q QᵀQ + λJQ), so
    dQ/dt = η(F̃Q − ½κ² Q QᵀQ),   F̃ = F − ½κ²λJ = [[−½κ²λ I_m, κB], [κBᵀ, ½κ²λ I_c]],
    and X = QQᵀ obeys the Riccati equation dX/dt = η(F̃X + XF̃ − κ²X²). Its inverse obeys a linear
    equation, d(X⁻¹)/dt = η(−X⁻¹F̃ − F̃X⁻¹ + κ²I), hence (push-through identity for singular X₀)

        QQᵀ(t) = e^{F̃ηt} Q₀ [I_d + κ² Q₀ᵀ M Q₀]⁻¹ Q₀ᵀ e^{F̃ηt},   M = ∫₀^{ηt} e^{2F̃s} ds.

    Evaluated in mpmath (dps digits) through F̃'s eigendecomposition. Returns the observables that
    QQᵀ determines: product κUW, WᵀW, UUᵀ, norm_u, norm_w, alignment, ntk_trace (Σ = I, η_u = η_w = η),
    and the loss up to ½E|y|².
    """
    U0 = np.asarray(U0, float)
    W0 = np.asarray(W0, float)
    Bm = np.asarray(sigma_xy, float)
    c = U0.shape[0]
    m = W0.shape[1]
    n = m + c
    out = {k: [] for k in ("product", "WtW", "UUt", "norm_u", "norm_w", "alignment", "ntk_trace", "loss")}
    with mp.workdps(dps):
        kap = mp.mpf(float(kappa))
        lm = mp.mpf(float(lam))
        F = mp.zeros(n, n)
        for i in range(m):
            F[i, i] = -kap**2 * lm / 2
            for j in range(c):
                F[i, m + j] = kap * mp.mpf(float(Bm[i, j]))
                F[m + j, i] = kap * mp.mpf(float(Bm[i, j]))
        for j in range(c):
            F[m + j, m + j] = kap**2 * lm / 2
        f, O = mp.eigsy(F)
        Q0 = mp.matrix(np.vstack([W0.T, U0]).tolist())
        Z0 = O.T * Q0  # Q0 in F̃'s eigenbasis
        d = Z0.cols
        for t in times:
            tt = mp.mpf(float(eta)) * mp.mpf(float(t))
            E = mp.diag([mp.exp(f[i] * tt) for i in range(n)])
            Mdiag = mp.diag([(mp.expm1(2 * f[i] * tt) / (2 * f[i]) if f[i] != 0 else tt) for i in range(n)])
            core = mp.eye(d) + kap**2 * (Z0.T * Mdiag * Z0)
            EZ = E * Z0
            Xe = EZ * mp.inverse(core) * EZ.T
            X = O * Xe * O.T
            Xf = np.array(X.tolist(), dtype=float)
            WtW, V, UUt = Xf[:m, :m], Xf[m:, :m], Xf[m:, m:]
            out["product"].append(float(kappa) * V)
            out["WtW"].append(WtW)
            out["UUt"].append(UUt)
            nu2 = float(sum(X[m + i, m + i] for i in range(c)))
            nw2 = float(sum(X[i, i] for i in range(m)))
            nv2 = float(sum(X[m + i, j] ** 2 for i in range(c) for j in range(m)))
            out["norm_u"].append(np.sqrt(nu2))
            out["norm_w"].append(np.sqrt(nw2))
            out["alignment"].append(np.sqrt(nv2 / (nu2 * nw2)) if nu2 > 0 and nw2 > 0 else 0.0)
            out["ntk_trace"].append(float(kappa) ** 2 * eta * (c * nw2 + nu2 * m))
            out["loss"].append(0.5 * float(kappa) ** 2 * nv2 - float(kappa) * float(np.trace(V @ Bm)))
    return {k: np.array(v) for k, v in out.items()}
