r"""GD, minibatch SGD, heavy-ball momentum and weight decay of the two-layer linear network, exact at any width.

Every update of U adds rows that are combinations of the columns of W (ΔU = −lr·η_u·G Wᵀ), every
update of W columns that are combinations of the rows of U (ΔW = −lr·η_w·UᵀG), and weight decay
and momentum (buffers starting at 0) only rescale and combine such vectors: the weights never leave S = span{rows of U₀, columns of W₀} (docs/theory.md §8).
So training runs on the reduced weights (Ũ, W̃) ∈ ℝ^{c×r} × ℝ^{r×m}, r ≤ c+m, at a cost per step
independent of the width d.

One step (PyTorch's SGD conventions, as :class:`featmech.theory.optim.Optimizer`; both layers at once):

.. math::
    G_b = \kappa(\kappa V\Sigma_b - B_b^\top),\quad g_U = G_b W^\top + \mathrm{wd}\,U,\quad
    g_W = U^\top G_b + \mathrm{wd}\,W,\quad m_\theta \leftarrow \mu m_\theta + g_\theta,\quad
    \theta \leftarrow \theta - \mathrm{lr}\,\eta_\theta m_\theta,

the gradient of the batch loss L_b = (1/b) Σ_{i∈batch} ½|κUWx_i − y_i|² (Σ_b = X_bᵀX_b/b,
B_b = X_bᵀY_b/b). Full-batch GD uses all n samples; SGD either replays ``batch_indices`` or draws
shuffled epochs from ``seed`` (see :func:`draw_batches`).

Recorded: the full-data observables (:class:`~featmech.theory.linear.model.LinearState` of the
moments of all of X, Y; the loss includes ½ mean|y|²).

Divergence (the rule of the one-dimensional simulator, docs/simulate.md, in loss form): a run has
diverged at the first step where the full-data loss is not finite or exceeds
``divergence_factor² × max(L₀, ½ mean|y|²)``; for one-dimensional noise-free data
(L = ½V(κp − k)²) this is exactly |κp − k| > divergence_factor·max(|r₀|, |k|). Records from that
step on are NaN and training stops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech._validation import check_int, check_real, check_scalar
from featmech.errors import InputError
from featmech.params import PARAMETERS
from featmech.theory.config import readonly
from featmech.theory.linear.gram import LinearGram, check_weights, gram_of
from featmech.theory.linear.model import Problem, check_hyper, observables
from featmech.theory.optim import Record

__all__ = ["LinearSimResult", "simulate", "simulate_gram", "draw_batches"]

F = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True)
class LinearSimResult:
    """A recorded training run (read-only arrays; records at and after divergence are NaN).

    Attributes:
        steps: the recorded step numbers, shape (n_records,).
        product: κUW, shape (n_records, c, m).
        loss: the full-data loss ½ mean_i |κUWx_i − y_i|² at the records.
        ntk_trace: κ²[η_u c tr(WΣWᵀ) + η_w ‖U‖²_F tr Σ] (Σ of all the data).
        alignment: ζ = ‖UW‖_F/(‖U‖_F‖W‖_F); norm_u, norm_w: ‖U‖_F, ‖W‖_F.
        conserved: eigenvalues of η_w ŨᵀŨ − η_u W̃W̃ᵀ, shape (n_records, r) (conserved by the flow,
            not exactly by discrete steps).
        converged: not diverged, and the full-data gradient ‖∂L/∂(κ·UW)‖ at the last step is at most
            ``tol`` times its initial value.
        diverged: whether the run diverged; diverged_at: the step it did (-1 if not).
        batch_indices: the (steps, batch) sample indices used (``None`` for full-batch GD).
        gram_u: UUᵀ, shape (n_records, c, c), and gram_w: WᵀW, shape (n_records, m, m), at the
            records (rotation-invariant, so the same for the width-d and the reduced weights; what
            the per-mode quantities |u_α|, |w_α|, ζ_α of :func:`featmech.analysis.linear.classify`
            need); ``None`` when run with ``grams=False``.
        lr: the step size (flow time of step s is s·lr).
        problem: the full-data moments Σ, B, E|y|² and η_u, η_w, κ the run was trained with
            (:func:`featmech.analysis.linear.classify` reads them).
    """

    steps: I64
    product: F
    loss: F
    ntk_trace: F
    alignment: F
    norm_u: F
    norm_w: F
    conserved: F
    converged: bool
    diverged: bool
    diverged_at: int
    batch_indices: I64 | None
    gram_u: F | None = None
    gram_w: F | None = None
    lr: float = math.nan
    problem: Problem | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                object.__setattr__(self, f.name, readonly(v, v.dtype))

    def as_dict(self) -> dict[str, Any]:
        """The fields by name (``problem`` as η_u, η_w, κ)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "problem"}
        if self.problem is not None:
            out.update(eta_u=self.problem.eta_u, eta_w=self.problem.eta_w, kappa=self.problem.kappa)
        return out


MAX_RECORDED = 100_000_000  # numbers a run may keep (records, drawn batch indices): 0.8 GB of float64


def draw_batches(n: int, batch_size: int, steps: int, seed: int = 0) -> I64:
    """The minibatch sampler of :func:`simulate`: shuffled epochs, the last incomplete batch dropped.

    ``rng = numpy.random.default_rng(seed)``; each epoch is ``rng.permutation(n)`` cut into
    ``n // batch_size`` batches of ``batch_size`` consecutive entries (PyTorch's DataLoader with
    ``shuffle=True, drop_last=True``); epochs follow each other until ``steps`` batches are drawn.

    Returns:
        An int64 array of shape (steps, batch_size).

    Raises:
        InputError: n < 1, batch_size outside [1, n], steps < 0.

    >>> draw_batches(5, 2, 3, seed=0).shape
    (3, 2)
    """
    n = check_int("n", n, low=1)
    batch_size = check_int("batch_size", batch_size, low=1, high=n)
    steps = check_int("steps", steps, low=0)
    rng = np.random.default_rng(seed)
    per = n // batch_size
    epochs = -(-steps // per)
    out = np.empty((epochs * per, batch_size), dtype=np.int64)
    for e in range(epochs):
        out[e * per:(e + 1) * per] = rng.permutation(n)[: per * batch_size].reshape(per, batch_size)
    return out[:steps]


def _data(X: Any, Y: Any, c: int, m: int) -> tuple[F, F]:
    x = check_real("X", X)
    y = check_real("Y", Y)
    if x.ndim != 2 or x.shape[1] != m or x.shape[0] == 0:
        raise InputError(f"X must have shape (n, m) = (n, {m}) with n >= 1, got {x.shape}")
    if y.ndim == 1 and c == 1:
        y = y[:, None]
    if y.shape != (x.shape[0], c):
        raise InputError(f"Y must have shape (n, c) = ({x.shape[0]}, {c}), got {y.shape}")
    for name, a in (("X", x), ("Y", y)):
        if not np.all(np.isfinite(a)):
            raise InputError(f"{name} must be finite")
    return np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64)


def simulate(U0: ArrayLike, W0: ArrayLike, X: ArrayLike, Y: ArrayLike, *, lr: float, steps: int,
             eta_u: float = 1.0, eta_w: float = 1.0, kappa: float = 1.0, batch_size: int | None = None,
             batch_indices: ArrayLike | None = None, momentum: float = 0.0, weight_decay: float = 0.0,
             seed: int = 0, every: int | None = 1, divergence_factor: float = 1e8,
             tol: float = 1e-6, grams: bool = True) -> LinearSimResult:
    r"""Train f(x) = κUWx on samples (X, Y) by GD / SGD / momentum / weight decay, exactly, at width r ≤ c+m.

    The update rule and the recorded observables are those of the module docstring; the result
    equals (to rounding) that of the plain loop on the width-d weights.

    Arguments:
        U0: c×d; W0: d×m (real, finite).
        X: inputs, n×m; Y: targets, n×c (or length n when c = 1).
        lr: step size ``> 0``; steps: number of steps (``>= 1``).
        eta_u, eta_w: layer multipliers ``>= 0`` (0 freezes the layer); kappa: output scale ``>= 0``.
        batch_size: SGD with shuffled-epoch batches of this size (1 ≤ b ≤ n) drawn from ``seed``
            (:func:`draw_batches`); ``None`` and no ``batch_indices``: full-batch GD.
        batch_indices: an int array (steps, b) of the samples of each step (replayed as given).
        momentum: heavy-ball μ in [0, 1); weight_decay: ``>= 0``.
        every: record every ``every`` steps (and the last; ``None``: ``steps // 100``).
        divergence_factor: F > 1 of the divergence rule.
        tol: the gradient reduction that counts as ``converged``.
        grams: record UUᵀ and WᵀW (``gram_u``, ``gram_w``: (c² + m²) numbers per record).

    Returns:
        A :class:`LinearSimResult`.

    Raises:
        InputError: a value of the wrong type, shape or range (named); both ``batch_size`` and
            ``batch_indices``.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 3)); Y = X @ np.ones((3, 2))
    >>> res = simulate(0.1 * rng.standard_normal((2, 40)), 0.1 * rng.standard_normal((40, 3)), X, Y,
    ...                lr=0.1, steps=2000, every=1000)
    >>> res.steps.tolist(), bool(res.converged), float(np.round(res.loss[-1], 12))
    ([0, 1000, 2000], True, 0.0)
    """
    U, W = check_weights(U0, W0)
    return _train(gram_of(U, W), X, Y, lr, steps, eta_u, eta_w, kappa, batch_size, batch_indices, momentum,
                  weight_decay, seed, every, divergence_factor, tol, grams)


def simulate_gram(gram: LinearGram, X: ArrayLike, Y: ArrayLike, *, lr: float, steps: int, eta_u: float = 1.0,
                  eta_w: float = 1.0, kappa: float = 1.0, batch_size: int | None = None,
                  batch_indices: ArrayLike | None = None, momentum: float = 0.0, weight_decay: float = 0.0,
                  seed: int = 0, every: int | None = 1, divergence_factor: float = 1e8,
                  tol: float = 1e-6, grams: bool = True) -> LinearSimResult:
    """:func:`simulate` from the Gram matrix of the init (any width, e.g. :func:`sample_gram` at 10¹⁵).

    Raises:
        InputError: ``gram`` is not a :class:`LinearGram`, or as :func:`simulate`.
    """
    if not isinstance(gram, LinearGram):
        raise InputError(f"gram must be a LinearGram (sample_gram, gram_of), got {type(gram).__name__}")
    return _train(gram, X, Y, lr, steps, eta_u, eta_w, kappa, batch_size, batch_indices, momentum, weight_decay,
                  seed, every, divergence_factor, tol, grams)


def _train(gram: LinearGram, X: Any, Y: Any, lr: Any, steps: Any, eta_u: Any, eta_w: Any, kappa: Any,
           batch_size: Any, batch_indices: Any, momentum: Any, weight_decay: Any, seed: Any, every: Any,
           divergence_factor: Any, tol: Any, grams: Any = True) -> LinearSimResult:
    c, m = gram.c, gram.m
    x, y = _data(X, Y, c, m)
    n = x.shape[0]
    eu, ew, kap = check_hyper(eta_u, eta_w, kappa)
    if lr is None:
        raise InputError("lr must be given (a step size > 0)")
    lr_f = float(PARAMETERS["lr"].check(lr))
    nsteps = PARAMETERS["steps"].check(steps)
    mu = float(PARAMETERS["momentum"].check(momentum))
    wd = float(PARAMETERS["weight_decay"].check(weight_decay))
    sd = PARAMETERS["seed"].check(seed)
    record = Record(every)
    per_rec = c * m + c + m + 6 + (c * c + m * m if grams is not False else 0)  # numbers kept per record
    nrec_max = nsteps // record.interval(nsteps) + 2
    if nrec_max * per_rec > MAX_RECORDED:
        need = -(-nsteps * per_rec // MAX_RECORDED)
        raise InputError(f"every: {nrec_max} records of {per_rec} numbers exceed {MAX_RECORDED:.0e} "
                         f"(float64, 8 bytes each); record every >= {need} steps")
    rec = record.steps(nsteps)
    fac = check_scalar("divergence_factor", divergence_factor, low=1.0, low_inclusive=False)
    tol_f = check_scalar("tol", tol, low=0.0)
    idx: I64 | None = None
    if batch_indices is not None:
        if batch_size is not None:
            raise InputError("give batch_size (draw batches) or batch_indices (replay them), not both")
        bi = np.asarray(batch_indices)
        if bi.dtype.kind not in "iu" or bi.ndim != 2 or bi.shape[0] != nsteps or bi.shape[1] < 1:
            raise InputError(f"batch_indices must be an integer array of shape (steps, batch) = ({nsteps}, b), "
                             f"got dtype {bi.dtype} and shape {bi.shape}")
        if bi.min() < 0 or bi.max() >= n:
            raise InputError(f"batch_indices must lie in [0, n) = [0, {n})")
        idx = np.array(bi, dtype=np.int64)
    elif batch_size is not None:
        b = PARAMETERS["batch_size"].check(batch_size)
        if b > n:
            raise InputError(f"batch_size must be in [1, n] = [1, {n}], got {b}")
        if nsteps * b > MAX_RECORDED:
            raise InputError(f"steps × batch_size = {nsteps * b:.3g} batch indices (kept to replay) exceed "
                             f"{MAX_RECORDED:.0e}; take fewer steps or smaller batches")
        idx = draw_batches(n, b, nsteps, sd)

    if not isinstance(grams, (bool, np.bool_)):
        raise InputError(f"grams must be True or False, got {grams!r}")
    S = x.T @ x / n
    B = x.T @ y / n
    yy = float(np.sum(y * y) / n)
    prob = Problem(S, B, yy, eu, ew, kap)
    U, W = gram.reduced()
    r = U.shape[1]
    bu = np.zeros_like(U)
    bw = np.zeros_like(W)
    Bt = np.ascontiguousarray(B.T)
    half_yy = 0.5 * yy
    k2 = kap * kap

    def loss_grad(V: F) -> tuple[float, F]:
        # L = ½κ²tr(VΣVᵀ) − κtr(VB) + ½E|y|², ∂L/∂V = κ(κVΣ − Bᵀ); vdot flattens (no temporaries)
        VS = V @ S
        L = 0.5 * k2 * float(np.vdot(VS, V)) - kap * float(np.vdot(V, Bt)) + half_yy
        return L, kap * (kap * VS - Bt)

    nrec = rec.size
    out_p = np.full((nrec, c, m), np.nan)
    out_s = np.full((6, nrec), np.nan)
    out_c = np.full((nrec, r), np.nan)
    out_uu = np.full((nrec, c, c), np.nan) if grams else None
    out_ww = np.full((nrec, m, m), np.nan) if grams else None

    def record(j: int, step: int) -> None:
        st = observables(float(step), U, W, prob)
        out_p[j] = st.product
        out_s[:, j] = (st.loss, st.ntk_trace, st.alignment, st.norm_u, st.norm_w, 0.0)
        out_c[j] = st.conserved
        if out_uu is not None and out_ww is not None:
            out_uu[j] = U @ U.T
            out_ww[j] = W.T @ W

    V = U @ W
    L0, G0 = loss_grad(V)
    limit = fac * fac * max(L0, 0.5 * yy, np.finfo(float).tiny)
    g0 = float(np.linalg.norm(G0))
    j = 0
    if rec[0] == 0:
        record(0, 0)
        j = 1
    diverged_at = -1
    G_last = G0
    lr_u, lr_w = lr_f * eu, lr_f * ew
    # the per-step work is ~15 small BLAS calls on r ≤ c+m columns, whatever the width. For SGD the
    # full-data loss of the divergence rule is first bounded by L ≤ ½κ²‖V‖²_F‖Σ‖₂ + |κ|‖V‖_F‖B‖_F + ½E|y|²
    # (c·m operations); only when the bound exceeds the limit is L computed (c·m² operations), so the
    # step at which a run diverges is the same as with L at every step.
    s2 = float(np.linalg.eigvalsh(S)[-1]) if m else 0.0
    nb = float(np.linalg.norm(B))
    next_rec = int(rec[j]) if j < nrec else -1
    with np.errstate(all="ignore"):
        for step in range(1, nsteps + 1):
            if idx is None:
                G = G_last  # the full-data gradient at the current weights (computed with the loss)
            else:
                ib = idx[step - 1]
                xb = x[ib]
                Rb = kap * (xb @ V.T) - y[ib]  # V = UW at the current weights (from the last loss)
                G = (kap / xb.shape[0]) * (Rb.T @ xb)
            gu = G @ W.T
            gw = U.T @ G
            if wd:
                gu += wd * U
                gw += wd * W
            if mu:
                bu *= mu
                bu += gu
                bw *= mu
                bw += gw
                gu, gw = bu, bw
            U = U - lr_u * gu
            W = W - lr_w * gw
            V = U @ W
            # a non-finite entry of U or W makes UW, hence L (and its bound), non-finite (inf·0 = nan)
            if idx is None:
                L, G_last = loss_grad(V)
            else:
                v2 = float(np.vdot(V, V))
                L = 0.5 * k2 * v2 * s2 + abs(kap) * math.sqrt(v2) * nb + half_yy if v2 >= 0 else math.nan
                if not (L <= limit):
                    L = loss_grad(V)[0]
            if not (L <= limit):
                diverged_at = step
                break
            if step == next_rec:
                record(j, step)
                j += 1
                next_rec = int(rec[j]) if j < nrec else -1
    diverged = diverged_at >= 0
    if idx is not None and not diverged:
        G_last = loss_grad(V)[1]
    gl = float(np.linalg.norm(G_last))
    converged = (not diverged) and math.isfinite(gl) and gl <= tol_f * max(g0, np.finfo(float).tiny)
    return LinearSimResult(rec, out_p, out_s[0], out_s[1], out_s[2], out_s[3], out_s[4], out_c, bool(converged),
                           bool(diverged), int(diverged_at), idx, out_uu, out_ww, lr_f, prob)
