r"""Regimes and mechanisms of the two-layer linear network on real data (docs/theory.md §5–§6).

The model is f(x) = κ U W x with U ∈ ℝ^{c×d}, W ∈ ℝ^{d×m}; the loss ½E|κUWx − y|² depends on the
data only through its moments (:class:`Moments`): Σ = E[xxᵀ] (m×m), B = E[xyᵀ] (m×c) and
E[yyᵀ] (c×c). With the end-to-end map M = κUW (c×m, the engine's ``product``):

    L(M) = ½ tr(M Σ Mᵀ) − tr(M B) + ½ E|y|²,    ∇_M L = M Σ − Bᵀ.

**The optimum.** L is minimized by every M with M Σ = Bᵀ; the one of least norm is
M* = Bᵀ Σ⁺ (Σ⁺ the pseudo-inverse; B lies in the range of Σ for data moments, so M* Σ = Bᵀ),
i.e. U W = Bᵀ Σ⁺ / κ, and

    L* = ½ (E|y|² − tr(M* B)),     L(M) − L* = ½ tr((M − M*) Σ (M − M*)ᵀ)  (the *gap*).

The gap is computed from the product, so it does not depend on the constant a solver includes in
its loss.

**The rule** (:func:`classify`) is the one-dimensional rule of docs/theory.md §5, applied by
:func:`featmech.analysis.regimes.classify_trajectory` to

- K: the NTK trace tr Θ = κ²(c η_u tr(WΣWᵀ) + η_w tr(Σ)‖U‖_F²) — kernel when
  max_t |K(t)/K(0) − 1| ≤ ε;
- ζ = ‖UW‖_F / (‖U‖_F‖W‖_F) ∈ [0, 1] (for c = m = 1, |u·w|/(|u||w|): the 1-D |ζ|);
- the layer balance b = (‖U‖_F/√η_u)/(‖W‖_F/√η_w).

**Convergence.** A label is earned only by a trajectory that reaches the optimum. For the exact
flow (a solver's solution) the *residual* √(gap(t)/gap(0)) must fall to
:data:`~featmech.analysis.regimes.LOSS_FRACTION` = 1e−2 — the 1-D rule, where the residual
reaches 1e−2 of its start (the loss gap 1e−4); the trajectory is then evaluated up to ten times
that convergence time (the stand-in for t = ∞; 1-D: K and ζ are then within
e^{−9·rate·t_c} of their limits). For a discrete-time run (a simulation result) the last gap must
be at most 1e−2 × the first (:func:`~featmech.analysis.regimes.run_status` on the gap). Both
also need the last gap to be at most 1e−2 × the gap of the zero map, L(0) − L*: a run that
started astronomically far from the optimum (σ = 1e100) and covered most of the way is still far
from it on the problem's own scale, and is not converged. A diverged run is unstable.

**Singular modes.** With the SVD M* = Σ_α s_α a_α b_αᵀ (a_α ∈ ℝᶜ, b_α ∈ ℝᵐ), mode α of the
network is the pair u_α = Uᵀa_α, w_α = W b_α ∈ ℝᵈ; its strength is
m_α = a_αᵀ M b_α = κ u_α·w_α (target s_α), its alignment ζ_α = u_α·w_α/(|u_α||w_α|) and its
kernel K_α = κ²(η_w|u_α|² + η_u|w_α|²)·b_αᵀΣb_α — for c = m = 1 exactly the 1-D u, w, ζ and K.
Each mode is classified by the same rule (converged when its own residual
|m_α − s_α|/|m_α(0) − s_α| ≤ 1e−2 at the end). The modes evolve independently only when Σ
commutes with BBᵀ (the right singular vectors b_α are eigenvectors of Σ: ``Modes.decoupled``)
and the initialization does not mix them; otherwise the per-mode labels are a projection of a
coupled flow — approximate, and reported as such (``exact_modes`` False).

>>> import numpy as np
>>> X = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-1.0, 0.5]])
>>> mo = moments(X, np.array([0, 1, 1, 0]), center=False)
>>> mo.m, mo.c, mo.n
(2, 2, 4)
>>> bool(np.allclose(mo.optimum @ mo.sigma_xx, mo.sigma_xy.T))
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from featmech._validation import check_int, check_scalar
from featmech.analysis.labels import ALL_CATEGORIES, Mechanism, Regime, Status
from featmech.analysis.regimes import (
    LOSS_FRACTION,
    Classification,
    Thresholds,
    classify_trajectory,
    explain,
    run_status,
)
from featmech.data import DATASETS, Dataset, load_dataset
from featmech.errors import InputError
from featmech.params import PARAMETERS
from featmech.tables import Table
from featmech.theory.config import readonly

__all__ = ["Moments", "moments", "prepare", "Modes", "modes", "LinearTrajectory", "ModeLabel", "LinearClassification",
           "classify", "classify_arrays", "flow_times", "LinearPhase", "phase", "PHASE_AXES", "SCALES",
           "ntk_trace", "gap", "RELATIVE_CUTOFF", "HORIZON"]

F = NDArray[np.float64]

#: how :func:`moments` may rescale the inputs
SCALES = ("none", "standardize", "trace", "whiten")
#: :func:`flow_times` stops looking for convergence once the solver has spent this many evaluations of
#: the right-hand side (a typical flow on digits needs a few thousand; each step's dense output is kept)
MAX_PROBE_NFEV = 200_000
#: eigenvalues of Σ below this fraction of the largest are treated as zero (pseudo-inverse, modes)
RELATIVE_CUTOFF = 1e-12
#: the automatic time grid looks for convergence up to this many multiples of the fastest time scale
HORIZON = 1e16


# --------------------------------------------------------------------------- moments
@dataclass(frozen=True)
class Moments:
    r"""The second moments of a regression data set: all the linear network's loss depends on.

    Attributes:
        sigma_xx: Σ = E[xxᵀ], m×m, symmetric positive semi-definite (read-only).
        sigma_xy: B = E[xyᵀ], m×c (read-only).
        sigma_yy: E[yyᵀ], c×c (read-only); ``yy`` = its trace = E|y|².
        n: the number of examples the moments were computed from (0: given directly).
        name: where they come from (``"digits"``, ``"mnist1d"``, ``"arrays"``).
        center, scale, components: how x and y were preprocessed (see :func:`prepare`).

    Raises:
        InputError: shapes that do not fit, non-finite entries, or a Σ that is not symmetric
            positive semi-definite.
    """

    sigma_xx: F
    sigma_xy: F
    sigma_yy: F
    n: int = 0
    name: str = "arrays"
    center: bool = False
    scale: str = "none"
    components: int | None = None

    def __post_init__(self) -> None:
        sxx = np.asarray(self.sigma_xx, dtype=np.float64)
        sxy = np.asarray(self.sigma_xy, dtype=np.float64)
        syy = np.asarray(self.sigma_yy, dtype=np.float64)
        if sxx.ndim != 2 or sxx.shape[0] != sxx.shape[1] or sxx.shape[0] < 1:
            raise InputError(f"sigma_xx must be a square m×m matrix, got shape {sxx.shape}")
        m = sxx.shape[0]
        if sxy.ndim != 2 or sxy.shape[0] != m or sxy.shape[1] < 1:
            raise InputError(f"sigma_xy must be an m×c matrix with m = {m}, got shape {sxy.shape}")
        c = sxy.shape[1]
        if syy.shape != (c, c):
            raise InputError(f"sigma_yy must be a c×c matrix with c = {c}, got shape {syy.shape}")
        for nm, a in (("sigma_xx", sxx), ("sigma_xy", sxy), ("sigma_yy", syy)):
            if not np.all(np.isfinite(a)):
                raise InputError(f"{nm} must be finite")
        scale_ = max(float(np.max(np.abs(sxx))), 1e-300)
        if np.max(np.abs(sxx - sxx.T)) > 1e-10 * scale_:
            raise InputError("sigma_xx must be symmetric")
        if np.linalg.eigvalsh(sxx)[0] < -1e-9 * scale_:
            raise InputError("sigma_xx must be positive semi-definite")
        if self.scale not in SCALES:
            raise InputError(f"scale must be one of {', '.join(SCALES)}, got {self.scale!r}")
        object.__setattr__(self, "sigma_xx", readonly((sxx + sxx.T) / 2))
        object.__setattr__(self, "sigma_xy", readonly(sxy))
        object.__setattr__(self, "sigma_yy", readonly((syy + syy.T) / 2))
        object.__setattr__(self, "n", check_int("n", self.n, low=0))

    @property
    def m(self) -> int:
        """Input dimension."""
        return int(self.sigma_xx.shape[0])

    @property
    def c(self) -> int:
        """Output dimension."""
        return int(self.sigma_xy.shape[1])

    @property
    def yy(self) -> float:
        """E|y|² = tr E[yyᵀ]."""
        return float(np.trace(self.sigma_yy))

    @property
    def sigma_pinv(self) -> F:
        """Σ⁺, the pseudo-inverse (eigenvalues below :data:`RELATIVE_CUTOFF` × the largest dropped)."""
        lam, vec = np.linalg.eigh(self.sigma_xx)
        keep = lam > RELATIVE_CUTOFF * max(lam[-1], 0.0)
        inv = np.where(keep, 1.0 / np.where(keep, lam, 1.0), 0.0)
        return readonly((vec * inv) @ vec.T)

    @property
    def optimum(self) -> F:
        """M* = Bᵀ Σ⁺ (c×m): the least-norm minimizer of the loss over the end-to-end map κUW."""
        return readonly(self.sigma_xy.T @ self.sigma_pinv)

    @property
    def min_loss(self) -> float:
        """L* = ½ (E|y|² − tr(M* B)), the smallest loss any linear map reaches."""
        return float(0.5 * (self.yy - np.trace(self.optimum @ self.sigma_xy)))

    @property
    def converged_gap(self) -> float:
        """The absolute part of the convergence rule: 1e−2 × the zero map's gap L(0) − L* = ½ tr(M*ΣM*ᵀ),
        the problem's own scale (``inf`` when the zero map is optimal: no absolute bound then)."""
        zero = float(0.5 * np.trace(self.optimum @ self.sigma_xx @ self.optimum.T))
        return LOSS_FRACTION * zero if zero > 0 else math.inf

    def loss(self, product: ArrayLike) -> F:
        """L(M) = ½ tr(MΣMᵀ) − tr(MB) + ½E|y|² for end-to-end maps M (…, c, m)."""
        M = np.asarray(product, dtype=np.float64)
        return 0.5 * np.einsum("...ij,jk,...ik->...", M, self.sigma_xx, M) - np.einsum(
            "...ij,ji->...", M, self.sigma_xy) + 0.5 * self.yy

    def as_dict(self) -> dict[str, Any]:
        """Name, sizes, preprocessing, E|y|², L*, tr Σ and the singular values of M* (plain values)."""
        return {"name": self.name, "n": self.n, "m": self.m, "c": self.c, "center": self.center, "scale": self.scale,
                "components": self.components,
                "yy": self.yy, "min_loss": self.min_loss, "trace_sigma": float(np.trace(self.sigma_xx)),
                "target_singular_values": modes(self).strength.tolist()}


MAX_POINTS = 10_000  # times of a flow's automatic grid (the reduced state at each is kept)
MAX_CLASSES = 10_000  # one-hot targets: at most this many classes (the linear engine's c ≤ 10⁴)


def _one_hot(labels: NDArray[Any], n_classes: int | None) -> F:
    k = int(labels.max()) + 1 if n_classes is None else n_classes
    if labels.min() < 0 or labels.max() >= k or k > MAX_CLASSES:
        top = min(k, MAX_CLASSES) - 1 if n_classes is not None else MAX_CLASSES - 1
        raise InputError(f"class labels must be integers in [0, {max(top, 0)}] (one-hot targets), got labels "
                         f"from {int(labels.min())} to {int(labels.max())}")
    out = np.zeros((labels.size, k))
    out[np.arange(labels.size), labels] = 1.0
    return out


def prepare(data: str | Dataset | ArrayLike, Y: ArrayLike | None = None, *, center: bool = True,
            one_hot: bool | None = None, scale: str = "none", components: int | None = None,
            max_train: int | None = None, seed: int = 0) -> tuple[F, F, str]:
    r"""The training inputs and targets of a data set as the linear network sees them.

    Preprocessing, in this order:

    - targets: integer class labels become one-hot vectors (``one_hot``; the default for a named
      data set and for 1-D integer ``Y``); real ``Y`` of shape (n, c) or (n,) is used as it is;
    - ``center`` (default True): subtract the mean of x and of y, so the bias-free network fits
      the centred problem (one-hot targets then have E|y|² = 1 − Σ_k p_k², 0.9 for balanced classes);
    - ``scale``: ``"none"``; ``"standardize"`` divides every input feature by its standard
      deviation (features that are constant stay 0); ``"trace"`` divides x by √(tr Σ/m), so the
      mean eigenvalue of Σ is 1; ``"whiten"`` maps x to Σ^{-1/2}x on the range of Σ (needs
      ``components``, so that Σ = I: then Σ commutes with BBᵀ and the singular modes decouple);
    - ``components`` = k: x is replaced by its coordinates on the k leading principal axes of the
      (prepared) inputs (the eigenvectors of Σ with the largest eigenvalues), m → k; applied before
      ``scale``. The gradient flow of the full-width network then costs (c+k)² unknowns instead of
      (c+m)², and the k-dimensional problem keeps the strongest input directions.

    Arguments:
        data: a data set name (``"digits"``: 1797 8×8 images scaled to [0, 1], m = 64, its
            75 % training split; ``"mnist1d"``: 4000 signals of length 40; see
            :func:`featmech.data.load_dataset`), a :class:`featmech.data.Dataset`, or inputs X (n, m).
        Y: targets for array ``data``: (n, c) real, (n,) real (c = 1) or (n,) integer labels.
        center, one_hot, scale: the preprocessing above.
        components: keep the k leading principal components (``None``: all m inputs).
        max_train: use this many training examples of a named data set (chosen by ``seed``).
        seed: the seed of the digits split and of the subsample.

    Returns:
        ``(X, Y, name)``: float64 arrays (n, m) and (n, c), and the data set's name (``"arrays"``).

    Raises:
        InputError: an unknown data set, arrays of the wrong shape or not finite, labels that are
            not non-negative integers, an unknown ``scale``.
        ImportError: the data set's package (scikit-learn, mnist1d) is missing.
    """
    if scale not in SCALES:
        raise InputError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    n_classes: int | None = None
    if isinstance(data, str) or isinstance(data, Dataset):
        if Y is not None:
            raise InputError("Y is given with a named data set; give arrays X, Y or a data set name")
        if isinstance(data, str):
            if data not in DATASETS:
                raise InputError(f"unknown dataset {data!r}: dataset must be one of {', '.join(DATASETS)}")
            data = load_dataset(data, seed=seed, max_train=max_train)
        X, Yarr = np.asarray(data.x_train, dtype=np.float64), np.asarray(data.y_train)
        n_classes, label = data.n_classes, data.name
        one_hot = True if one_hot is None else one_hot
    else:
        if Y is None:
            raise InputError("give targets Y with an input array X")
        try:
            X = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError("X must be a real (n, m) array") from exc
        Yarr = np.asarray(Y)
        label = "arrays"
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise InputError(f"X must be an (n, m) array, got shape {X.shape}")
    if Yarr.ndim not in (1, 2) or Yarr.shape[0] != X.shape[0]:
        raise InputError(f"Y must have n = {X.shape[0]} rows (shape (n,) or (n, c)), got shape {Yarr.shape}")
    if Yarr.dtype.kind not in "iufb":
        raise InputError("Y must be numbers")
    if one_hot is None:
        one_hot = Yarr.ndim == 1 and Yarr.dtype.kind in "iu"
    if one_hot:
        integer = Yarr.ndim == 1 and (Yarr.dtype.kind in "iu" or (
            Yarr.dtype.kind == "f" and bool(np.all(np.isfinite(Yarr))) and bool(np.all(Yarr == np.round(Yarr)))))
        if not integer:
            raise InputError("one_hot needs integer class labels Y of shape (n,)")
        Yf = _one_hot(Yarr.astype(np.int64), n_classes)
    else:
        Yf = np.asarray(Yarr, dtype=np.float64).reshape(X.shape[0], -1)
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(Yf))):
        raise InputError("X and Y must be finite")
    if center:
        X = X - X.mean(axis=0)
        Yf = Yf - Yf.mean(axis=0)
    if components is not None:
        k = check_int("components", components, low=1, high=X.shape[1])
        lam, vec = np.linalg.eigh(X.T @ X / X.shape[0])
        X = X @ vec[:, ::-1][:, :k]
    if scale == "whiten":
        if components is None:
            raise InputError("scale='whiten' needs components (the leading principal axes to whiten)")
        sd = X.std(axis=0) if center else np.sqrt(np.mean(X * X, axis=0))
        if np.any(sd <= 1e-12 * max(float(sd.max()), 1e-300)):
            raise InputError(f"cannot whiten: a principal component has zero variance; use fewer components")
        X = X / sd
    elif scale == "standardize":
        sd = X.std(axis=0)
        X = X / np.where(sd > 0, sd, 1.0)
    elif scale == "trace":
        tr = float(np.mean(X * X))  # tr Σ / m: the mean of x_j² over examples and features
        X = X / math.sqrt(tr) if tr > 0 else X
    return np.ascontiguousarray(X), np.ascontiguousarray(Yf), label


def moments(data: str | Dataset | ArrayLike, Y: ArrayLike | None = None, *, center: bool = True,
            one_hot: bool | None = None, scale: str = "none", components: int | None = None,
            max_train: int | None = None, seed: int = 0, name: str | None = None) -> Moments:
    r"""The moments Σ = E[xxᵀ], B = E[xyᵀ], E[yyᵀ] of a data set (empirical means over its training set).

    The data are first prepared by :func:`prepare` (one-hot targets, centring, scaling; same
    arguments); then Σ = XᵀX/n, B = XᵀY/n, E[yyᵀ] = YᵀY/n.

    Arguments:
        data, Y, center, one_hot, scale, components, max_train, seed: as for :func:`prepare`.
        name: the name carried along (default: the data set's, or ``"arrays"``).

    Returns:
        A frozen :class:`Moments`.

    Raises:
        InputError: as :func:`prepare`.
        ImportError: the data set's package (scikit-learn, mnist1d) is missing.

    >>> mo = moments(np.eye(3), np.array([0.0, 1.0, 2.0]), center=False)
    >>> mo.c, float(mo.sigma_xy[2, 0]), mo.yy
    (1, 0.6666666666666666, 1.6666666666666667)
    """
    X, Yf, label = prepare(data, Y, center=center, one_hot=one_hot, scale=scale, components=components,
                           max_train=max_train, seed=seed)
    n = X.shape[0]
    return Moments(X.T @ X / n, X.T @ Yf / n, Yf.T @ Yf / n, n=n, name=name or label, center=bool(center),
                   scale=scale, components=components)


# --------------------------------------------------------------------------- modes
@dataclass(frozen=True)
class Modes:
    """The singular modes of the target map M* = Bᵀ Σ⁺ = Σ_α s_α a_α b_αᵀ (nonzero s_α only).

    Attributes:
        strength: s_α, decreasing (read-only, k values).
        left: a_α as columns, c×k.  right: b_α as columns, m×k.
        variance: b_αᵀ Σ b_α, the input variance along mode α (the V of its 1-D problem).
        decoupled: whether Σ maps every b_α onto itself (Σ b_α = v_α b_α up to 1e−8 relative):
            the flow then decouples per mode for a mode-aligned init.
        coupling: the largest |Σ b_α − v_α b_α| / ‖Σ‖, the measure of the above.
    """

    strength: F
    left: F
    right: F
    variance: F
    decoupled: bool
    coupling: float

    @property
    def k(self) -> int:
        """Number of modes."""
        return int(self.strength.size)


def modes(mo: Moments, *, max_modes: int | None = None) -> Modes:
    """The singular modes of the optimum (:class:`Modes`), the strongest first.

    Arguments:
        mo: the moments.
        max_modes: keep at most this many (default: every nonzero singular value, > 1e−10 × the largest).

    Returns:
        :class:`Modes`.
    """
    a, s, bt = np.linalg.svd(np.asarray(mo.optimum), full_matrices=False)
    keep = s > 1e-10 * (s[0] if s.size and s[0] > 0 else 1.0)
    if max_modes is not None:
        keep &= np.arange(s.size) < check_int("max_modes", max_modes, low=1)
    a, s, b = a[:, keep], s[keep], bt[keep].T
    sig = np.asarray(mo.sigma_xx)
    var = np.einsum("ja,jk,ka->a", b, sig, b)
    norm = max(float(np.linalg.norm(sig, 2)), 1e-300)
    resid = np.linalg.norm(sig @ b - b * var, axis=0) / norm if s.size else np.zeros(0)
    coupling = float(resid.max()) if resid.size else 0.0
    return Modes(readonly(s), readonly(a), readonly(b), readonly(var), bool(coupling <= 1e-8), coupling)


# --------------------------------------------------------------------------- the rule on arrays
def gap(mo: Moments, product: ArrayLike) -> F:
    """L(M) − L* = ½ tr((M − M*) Σ (M − M*)ᵀ) for end-to-end maps M (…, c, m); ≥ 0."""
    D = np.asarray(product, dtype=np.float64) - mo.optimum
    return np.maximum(0.5 * np.einsum("...ij,jk,...ik->...", D, mo.sigma_xx, D), 0.0)


def ntk_trace(mo: Moments, uu: ArrayLike, ww: ArrayLike, *, eta_u: float, eta_w: float, kappa: float) -> F:
    r"""The NTK trace tr Θ = κ²(c η_u tr(W Σ Wᵀ) + η_w tr(Σ) ‖U‖_F²) from the Gram matrices
    UUᵀ (…, c, c) and WᵀW (…, m, m)."""
    uu, ww = np.asarray(uu, dtype=np.float64), np.asarray(ww, dtype=np.float64)
    tw = np.einsum("...ij,ji->...", ww, mo.sigma_xx)
    tu = np.einsum("...ii->...", uu)
    return kappa**2 * (mo.c * eta_u * tw + eta_w * float(np.trace(mo.sigma_xx)) * tu)


@dataclass(frozen=True)
class LinearTrajectory:
    """A recorded trajectory of the linear network on a data set (read-only arrays over T times).

    Attributes:
        t: the times (flow time, or step × lr for a discrete run).
        loss: L(t) on the moments (recomputed from the product, constant included).
        gap: L(t) − L*.
        ntk: the NTK trace.   alignment: ζ.   norm_u, norm_w: ‖U‖_F, ‖W‖_F.
        balance: (‖U‖_F/√η_u)/(‖W‖_F/√η_w).
        mode_strength: m_α(t) = a_αᵀ M(t) b_α, (T, k).
        mode_alignment, mode_ntk, mode_norm_u, mode_norm_w: ζ_α, K_α, |u_α|, |w_α| (T, k); NaN
            where the layers' Gram matrices were not recorded.
    """

    t: F
    loss: F
    gap: F
    ntk: F
    alignment: F
    norm_u: F
    norm_w: F
    balance: F
    mode_strength: F
    mode_alignment: F
    mode_ntk: F
    mode_norm_u: F
    mode_norm_w: F

    def table(self) -> Table:
        """One row per time: t, loss, gap, ntk, alignment, norms, balance, and m_α, ζ_α per mode."""
        cols: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("mode_")}
        for a in range(self.mode_strength.shape[1]):
            cols[f"mode{a + 1}_strength"] = self.mode_strength[:, a]
            cols[f"mode{a + 1}_alignment"] = self.mode_alignment[:, a]
        return Table(cols)


@dataclass(frozen=True)
class ModeLabel:
    """The label of one singular mode.

    Attributes:
        index: α (1 = strongest).  target: s_α.  variance: b_αᵀΣb_α.
        strength_start, strength_end: m_α at the start and the end.
        classification: the §5 rule on (K_α, ζ_α, |u_α|, |w_α|); its ``status`` is the mode's own
            convergence (|m_α − s_α| down to 1e−2 of its start).
    """

    index: int
    target: float
    variance: float
    strength_start: float
    strength_end: float
    classification: Classification


@dataclass(frozen=True)
class LinearClassification:
    """The regime and mechanism of one run of the linear network on a data set.

    Attributes:
        classification: the model-level label (a :class:`~featmech.analysis.regimes.Classification`
            of the NTK trace, ζ and the layer norms); ``regime``, ``mechanism``, ``category`` are
            shortcuts to it.
        modes: one :class:`ModeLabel` per singular mode of the target.
        exact_modes: whether the per-mode labels describe independent dynamics (Σ and BBᵀ commute);
            False: they are projections of a coupled flow (approximate).
        trajectory: the :class:`LinearTrajectory` the labels were decided on.
        convergence_time: the first recorded time at which the convergence rule holds (inf if never).
        gap_start, gap_end: L − L* at the start and the end.
        min_loss: L*.
        kind: ``"flow"`` (exact gradient flow) or ``"discrete"`` (GD/SGD record).
        settings: η_u, η_w, κ (plain values).
    """

    classification: Classification
    modes: tuple[ModeLabel, ...]
    exact_modes: bool
    trajectory: LinearTrajectory
    convergence_time: float
    gap_start: float
    gap_end: float
    min_loss: float
    kind: str
    settings: Mapping[str, float] = field(default_factory=dict)

    @property
    def regime(self) -> Any:
        """The model-level regime."""
        return self.classification.regime

    @property
    def mechanism(self) -> Any:
        """The model-level mechanism."""
        return self.classification.mechanism

    @property
    def category(self) -> str:
        """The model-level category (``"kernel"``, ``"feature/alignment"``, …)."""
        return str(self.classification.category)

    def mode_table(self) -> Table:
        """One row per mode: index, target s_α, variance, strength start/end, regime, mechanism, status and numbers."""
        rows = []
        for md in self.modes:
            cl = md.classification
            rows.append({"mode": md.index, "target": md.target, "variance": md.variance,
                         "strength_start": md.strength_start, "strength_end": md.strength_end,
                         "category": cl.category, "status": str(cl.status), "borderline": cl.borderline,
                         "ntk_max_deviation": cl.ntk_max_deviation, "alignment_start": cl.alignment_start,
                         "alignment_end": cl.alignment_end, "balance_change": cl.balance_change})
        return Table.from_records(rows) if rows else Table({"mode": []})

    def table(self) -> Table:
        """The modes as rows (:meth:`mode_table`) with the model-level label and numbers as scalars."""
        t = self.mode_table()
        return Table(t.columns, scalars=self.summary())

    def summary(self) -> dict[str, Any]:
        """Model-level label, the numbers it was decided on, convergence and settings (plain values)."""
        cl = self.classification
        return {"category": cl.category, "regime": str(cl.regime), "mechanism": str(cl.mechanism),
                "status": str(cl.status), "borderline": cl.borderline, "ntk_max_deviation": cl.ntk_max_deviation,
                "ntk_ratio": cl.ntk_ratio, "alignment_start": cl.alignment_start, "alignment_end": cl.alignment_end,
                "balance_change": cl.balance_change, "norm_u_change": cl.norm_u_change,
                "norm_w_change": cl.norm_w_change, "convergence_time": self.convergence_time,
                "gap_start": self.gap_start, "gap_end": self.gap_end, "min_loss": self.min_loss,
                "exact_modes": self.exact_modes, "kind": self.kind, **self.settings}

    def as_dict(self) -> dict[str, Any]:
        """Everything as plain values: the summary, the model classification, the modes and the trajectory."""
        return {"summary": self.summary(), "classification": self.classification.as_dict(),
                "modes": [{"index": m.index, "target": m.target, "variance": m.variance,
                           "strength_start": m.strength_start, "strength_end": m.strength_end,
                           "classification": m.classification.as_dict()} for m in self.modes],
                "trajectory": self.trajectory.table().as_dict()}

    def explain(self) -> str:
        """The model-level account of :func:`featmech.analysis.regimes.explain`, then one line per mode."""
        lines = [explain(self.classification)]
        lines.append(f"Loss gap L − L* from {self.gap_start:.4g} to {self.gap_end:.4g} (L* = {self.min_loss:.4g}).")
        head = "Per singular mode of the target" + ("" if self.exact_modes else
                                                    " (approximate: Σ and BBᵀ do not commute, the modes are coupled)")
        lines.append(head + ":")
        for md in self.modes:
            cl = md.classification
            lines.append(f"  mode {md.index}: s = {md.target:.4g}, strength {md.strength_start:.3g} → "
                         f"{md.strength_end:.3g}; {cl.category}" + (f" ({cl.status})" if not cl.converged else "")
                         + f"; ζ {cl.alignment_start:.3f} → {cl.alignment_end:.3f}, "
                           f"max|K/K0 − 1| = {cl.ntk_max_deviation:.3g}")
        return "\n".join(lines)


def _frob(a: F) -> F:
    return np.sqrt(np.einsum("...ij,...ij->...", a, a))


def classify_arrays(mo: Moments, t: ArrayLike, product: ArrayLike, *, eta_u: float = 1.0, eta_w: float = 1.0,
                    kappa: float = 1.0, uu: ArrayLike | None = None, ww: ArrayLike | None = None,
                    ntk: ArrayLike | None = None, norm_u: ArrayLike | None = None, norm_w: ArrayLike | None = None,
                    kind: str = "flow", diverged: bool = False, thresholds: Thresholds | None = None,
                    max_modes: int | None = None) -> LinearClassification:
    r"""The rule of this module on recorded arrays (what :func:`classify` calls for any result).

    Arguments:
        mo: the data moments.
        t: the recorded times (T,), increasing; the first is the start.
        product: M = κUW at those times, (T, c, m).
        eta_u, eta_w, kappa: the learning-rate multipliers and the output scale.
        uu, ww: the Gram matrices UUᵀ (T, c, c) and WᵀW (T, m, m); they give the norms, the NTK
            trace and the per-mode ζ_α, K_α (without them those per-mode numbers are NaN and
            ``ntk``, ``norm_u``, ``norm_w`` must be given).
        ntk, norm_u, norm_w: the NTK trace and ‖U‖_F, ‖W‖_F (T,), when the Grams are not given.
        kind: ``"flow"`` (convergence: residual √(gap/gap0) ≤ 1e−2) or ``"discrete"`` (last gap
            ≤ 1e−2 × first).
        diverged: a discrete run that diverged.
        thresholds: ε, δ, F.
        max_modes: classify at most this many modes.

    Returns:
        A :class:`LinearClassification`.

    Raises:
        InputError: shapes that do not fit the moments, or neither the Grams nor the norms.
    """
    th = thresholds or Thresholds()
    tt = np.asarray(t, dtype=np.float64).reshape(-1)
    M = np.asarray(product, dtype=np.float64)
    T = tt.size
    if M.shape != (T, mo.c, mo.m):
        raise InputError(f"product must have shape (T, c, m) = {(T, mo.c, mo.m)}, got {M.shape}")
    if kind not in ("flow", "discrete"):
        raise InputError(f"kind must be 'flow' or 'discrete', got {kind!r}")
    md = modes(mo, max_modes=max_modes)
    g = gap(mo, M)
    loss = g + mo.min_loss
    if uu is not None and ww is not None:
        UU = np.asarray(uu, dtype=np.float64)
        WW = np.asarray(ww, dtype=np.float64)
        if UU.shape != (T, mo.c, mo.c) or WW.shape != (T, mo.m, mo.m):
            raise InputError(f"uu, ww must have shapes {(T, mo.c, mo.c)} and {(T, mo.m, mo.m)}, "
                             f"got {UU.shape} and {WW.shape}")
        nu = np.sqrt(np.maximum(np.einsum("tii->t", UU), 0.0))
        nw = np.sqrt(np.maximum(np.einsum("tii->t", WW), 0.0))
        K = ntk_trace(mo, UU, WW, eta_u=eta_u, eta_w=eta_w, kappa=kappa)
        mu2 = np.maximum(np.einsum("ia,tij,ja->ta", md.left, UU, md.left), 0.0)
        mw2 = np.maximum(np.einsum("ia,tij,ja->ta", md.right, WW, md.right), 0.0)
        mode_nu, mode_nw = np.sqrt(mu2), np.sqrt(mw2)
        mode_K = kappa**2 * (eta_w * mu2 + eta_u * mw2) * md.variance
    elif ntk is not None and norm_u is not None and norm_w is not None:
        K = np.asarray(ntk, dtype=np.float64).reshape(-1)
        nu = np.asarray(norm_u, dtype=np.float64).reshape(-1)
        nw = np.asarray(norm_w, dtype=np.float64).reshape(-1)
        if not (K.size == nu.size == nw.size == T):
            raise InputError(f"ntk, norm_u, norm_w must have T = {T} entries")
        mode_nu = mode_nw = mode_K = np.full((T, md.k), np.nan)
    else:
        raise InputError("give the layer Grams uu, ww, or ntk, norm_u and norm_w")
    strength = np.einsum("ia,tij,ja->ta", md.left, M, md.right)
    with np.errstate(all="ignore"):
        zeta = np.where(nu * nw > 0, _frob(M) / abs(kappa) / (nu * nw), 0.0) if kappa != 0 else np.zeros(T)
        mode_zeta = np.where(mode_nu * mode_nw > 0, strength / kappa / (mode_nu * mode_nw), 0.0) \
            if kappa != 0 else np.zeros((T, md.k))
        balance = (nu / math.sqrt(eta_u)) / (nw / math.sqrt(eta_w)) if eta_u > 0 and eta_w > 0 else np.full(T, np.nan)
    zeta = np.clip(zeta, 0.0, 1.0)
    mode_zeta = np.where(np.isnan(mode_K), np.nan, np.clip(mode_zeta, -1.0, 1.0))
    ok = np.isfinite(g)
    # convergence
    g0 = float(g[0])
    g_abs = mo.converged_gap
    if kind == "flow":
        reached = np.flatnonzero(ok & (g <= LOSS_FRACTION**2 * g0) & (g <= g_abs)) if g0 > 0 else np.array([0])
        status = Status.CONVERGED if reached.size else Status.NOT_CONVERGED
        tc = float(tt[reached[0]]) if reached.size else math.inf
    else:
        status = run_status(g, diverged=bool(diverged)) if g0 > 0 else (
            Status.DIVERGED if diverged else Status.CONVERGED)
        idx = np.flatnonzero(ok & (g <= LOSS_FRACTION * g0))
        tc = float(tt[idx[0]]) if idx.size and status is Status.CONVERGED else math.inf
    # progress relative to the start is not enough when the start is astronomically far (σ = 1e100):
    # the end must also be close to the optimum on the problem's own scale, the zero map's gap
    last = g[ok][-1] if ok.any() else math.inf
    if status is Status.CONVERGED and g0 > 0 and not last <= g_abs:
        status, tc = Status.NOT_CONVERGED, math.inf
    model = classify_trajectory(K, zeta, nu, nw, eta_u=eta_u, eta_w=eta_w, diverged=diverged,
                                output=_frob(M), thresholds=th, status=status)
    labels = []
    for a in range(md.k):
        s = float(md.strength[a])
        r = np.abs(strength[:, a] - s)
        r0 = float(r[0])
        last = int(np.flatnonzero(np.isfinite(r))[-1]) if np.isfinite(r).any() else 0
        if diverged:
            ms = Status.DIVERGED
        else:
            ms = Status.CONVERGED if (r0 == 0 or r[last] <= LOSS_FRACTION * r0) else Status.NOT_CONVERGED
        if np.all(np.isnan(mode_K[:, a])):
            mcl = classify_trajectory(np.ones(T), np.zeros(T), np.ones(T), np.ones(T), status=ms, thresholds=th)
            mcl = _nan_numbers(mcl)
        else:
            mcl = classify_trajectory(mode_K[:, a], mode_zeta[:, a], mode_nu[:, a], mode_nw[:, a], eta_u=eta_u,
                                      eta_w=eta_w, diverged=diverged, output=strength[:, a], thresholds=th,
                                      status=ms)
        labels.append(ModeLabel(a + 1, s, float(md.variance[a]), float(strength[0, a]), float(strength[last, a]),
                                mcl))
    traj = LinearTrajectory(*(readonly(x) for x in (tt, loss, g, K, zeta, nu, nw, balance, strength, mode_zeta,
                                                    mode_K, mode_nu, mode_nw)))
    lastg = float(g[np.flatnonzero(ok)[-1]]) if ok.any() else math.nan
    return LinearClassification(model, tuple(labels), md.decoupled, traj, tc, g0, lastg, mo.min_loss, kind,
                                {"eta_u": float(eta_u), "eta_w": float(eta_w), "kappa": float(kappa)})


def _nan_numbers(cl: Classification) -> Classification:
    """A label whose numbers were not recorded: keep status/labels only where the status decides them."""
    from dataclasses import replace

    nums = {k: math.nan for k in ("ntk_max_deviation", "ntk_ratio", "alignment_start", "alignment_end",
                                  "alignment_change", "balance_start", "balance_end", "balance_change",
                                  "norm_u_change", "norm_w_change", "output_start", "output_end")}
    if cl.converged:  # no numbers: no regime can be earned from them
        return replace(cl, regime=Regime.UNDETERMINED, mechanism=Mechanism.NONE, **nums)
    return replace(cl, **nums)


# --------------------------------------------------------------------------- results of the engine
def _get(obj: Any, *names: str) -> Any:
    for n in names:
        v = getattr(obj, n, None)
        if v is not None:
            return v() if callable(v) and n in ("gram_u", "gram_w") else v
    return None


def _grams(state: Any) -> tuple[F | None, F | None]:
    """UUᵀ and WᵀW of a recorded state: given directly, or from the (reduced) factors U, W."""
    uu, ww = _get(state, "uu", "gram_u", "uut"), _get(state, "ww", "gram_w", "wtw")
    if uu is not None and ww is not None:
        return np.asarray(uu, dtype=np.float64), np.asarray(ww, dtype=np.float64)
    U, W = _get(state, "U", "u"), _get(state, "W", "w")
    if U is not None and W is not None:
        U, W = np.asarray(U, dtype=np.float64), np.asarray(W, dtype=np.float64)
        return U @ np.swapaxes(U, -1, -2), np.swapaxes(W, -1, -2) @ W
    return None, None


def _setting(result: Any, name: str, given: float | None) -> float:
    if given is not None:
        return float(PARAMETERS[name].check(given))
    for holder in (result, getattr(result, "problem", None), getattr(result, "hyper", None),
                   getattr(result, "settings", None)):
        if holder is None:
            continue
        v = holder.get(name) if isinstance(holder, Mapping) else getattr(holder, name, None)
        if v is not None and np.ndim(v) == 0:
            return float(v)
    raise InputError(f"{name} is not recorded in the result; pass {name}=…")


def _moments_of(result: Any, mo: Moments | None) -> Moments:
    if mo is not None:
        if not isinstance(mo, Moments):
            raise InputError(f"moments must be a Moments (featmech.analysis.linear.moments), got {type(mo).__name__}")
        return mo
    holder = getattr(result, "problem", None) or result
    sxx, sxy = _get(holder, "sigma_xx"), _get(holder, "sigma_xy")
    if sxx is None or sxy is None:
        raise InputError("the result does not carry its data moments; pass moments=…")
    syy = _get(holder, "sigma_yy")
    sxy = np.asarray(sxy, dtype=np.float64)
    c = sxy.shape[1]
    if syy is None:  # only L* needs E[yyᵀ]: take the smallest consistent one (L* = 0)
        opt = Moments(sxx, sxy, np.zeros((c, c))).optimum
        syy = opt @ sxy
    elif np.ndim(syy) == 0:  # E|y|² only: spread over the outputs (only its trace is used)
        syy = np.eye(c) * float(syy) / c
    return Moments(sxx, sxy, syy)


def _eval(sol: Any, t: F) -> dict[str, F | None]:
    if t.size and float(np.max(t)) == 0.0 and hasattr(sol, "integrate_to"):
        # the engine's LinearSolution raises IndexError when called at t = 0 before anything was
        # integrated (no segment yet): integrate its first segment first
        sol.integrate_to(1e-300)
    st = sol(t)
    uu, ww = _grams(st)
    if uu is None and callable(getattr(sol, "reduced", None)):  # the engine's reduced weights (Ũ, W̃)
        U, W = sol.reduced(t)
        U, W = np.asarray(U, dtype=np.float64), np.asarray(W, dtype=np.float64)
        uu, ww = U @ np.swapaxes(U, -1, -2), np.swapaxes(W, -1, -2) @ W
    ntk = _get(st, "ntk_trace", "ntk")
    return {"product": np.asarray(st.product, dtype=np.float64).reshape(t.size, *np.shape(st.product)[-2:]),
            "uu": uu, "ww": ww, "ntk": None if ntk is None else np.asarray(ntk, dtype=np.float64).reshape(-1),
            "norm_u": np.asarray(_get(st, "norm_u"), dtype=np.float64).reshape(-1),
            "norm_w": np.asarray(_get(st, "norm_w"), dtype=np.float64).reshape(-1)}


def flow_times(sol: Any, mo: Moments, *, points: int = 200, horizon: float = HORIZON) -> tuple[F, float]:
    r"""A time grid that covers an exact flow from t = 0 to ten convergence times.

    The fastest time scale is 1/K(0) (the NTK trace bounds the largest rate of the linearized
    flow); from t₀ = 10⁻³/K(0) the residual √(gap/gap0) is probed at four times per decade until
    it falls to 1e−2 and the gap to 1e−2 of the zero map's gap L(0) − L* (the convergence time
    t_c), or t reaches ``horizon`` × t₀, or the solver has spent :data:`MAX_PROBE_NFEV` evaluations. The grid is 0 and
    ``points`` times geometric from t₀ to 10 t_c (to the last probe if never converged).

    Arguments:
        sol: a solution, called at an array of times.
        mo: the moments.
        points: the number of positive times (2 … 10⁴).
        horizon: how far (in multiples of t₀) to look for convergence.

    Returns:
        ``(times, t_c)`` with t_c = inf when the residual never fell to 1e−2.
    """
    n = check_int("points", points, low=2, high=MAX_POINTS)
    s0 = _eval(sol, np.zeros(1))
    g0 = float(gap(mo, s0["product"])[0])
    k0 = float(s0["ntk"][0]) if s0["ntk"] is not None else 0.0
    k0 = k0 if k0 > 0 and math.isfinite(k0) else 1.0
    t0 = 1e-3 / k0
    if g0 == 0:
        return np.concatenate([[0.0], np.geomspace(t0, 1e3 * t0, n)]), 0.0
    g_abs = mo.converged_gap
    tc = math.inf
    last = t0
    for dec in range(int(math.ceil(math.log10(horizon)))):
        probe = t0 * 10.0 ** (dec + np.arange(1, 5) / 4)
        try:
            g = gap(mo, _eval(sol, probe)["product"])
        except InputError:  # the flow cannot be integrated this far (too stiff): not converged by then
            if dec == 0:
                raise
            break
        hit = np.flatnonzero((g <= LOSS_FRACTION**2 * g0) & (g <= g_abs))
        last = float(probe[-1])
        if hit.size:
            tc = float(probe[hit[0]])
            break
        if int(getattr(sol, "nfev", 0)) > MAX_PROBE_NFEV:  # bounded work and memory: not converged by then
            break
    end = 10.0 * tc if math.isfinite(tc) else last
    return np.concatenate([[0.0], np.geomspace(t0, end, n)]), tc


def classify(result: Any, moments: Moments | None = None, *, times: ArrayLike | None = None,
             eta_u: float | None = None, eta_w: float | None = None, kappa: float | None = None,
             lr: float | None = None, thresholds: Thresholds | None = None, points: int = 200,
             max_modes: int | None = None) -> LinearClassification:
    r"""Regime and mechanism of a linear-network run on a data set, at model level and per singular mode.

    ``result`` is an exact solution (a callable of times: :func:`featmech.linear.solve`,
    :func:`featmech.linear.solve_gram`) or a discrete-time record
    (:func:`featmech.linear.simulate`, :func:`featmech.linear.simulate_gram`). A solution is
    evaluated on ``times`` or on the grid of :func:`flow_times` (0 to ten convergence times);
    a record is classified on what it recorded. The rule and the quantities are the module's
    (docs/theory.md §5 with the multi-dimensional ζ and balance, see the module docstring).

    Arguments:
        result: the solution or the record.
        moments: the data moments (:func:`moments`); default: the ones the result carries.
        times: evaluation times of a solution (increasing, from 0) instead of the automatic grid.
        eta_u, eta_w, kappa: the settings, when the result does not record them.
        lr: the step size of a record, when its times are steps (flow time = step × lr; default: the
            record's own ``lr``, as :func:`featmech.linear.simulate` keeps it).
        thresholds: ε, δ, F (default :class:`~featmech.analysis.regimes.Thresholds`).
        points: positive times of the automatic grid (2 … 10⁴).
        max_modes: classify at most this many modes.

    Returns:
        A :class:`LinearClassification`.

    Raises:
        InputError: a result without a product, missing settings or moments, bad times.
    """
    mo = _moments_of(result, moments)
    eu, ew, k = (_setting(result, n, v) for n, v in (("eta_u", eta_u), ("eta_w", eta_w), ("kappa", kappa)))
    if callable(result) and getattr(result, "product", None) is None:
        if times is None:
            t, _ = flow_times(result, mo, points=points)
        else:
            t = np.asarray(times, dtype=np.float64).reshape(-1)
            if t.size > MAX_POINTS + 1:
                raise InputError(f"times: at most {MAX_POINTS + 1} times, got {t.size}")
            if t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0) or np.any(np.diff(t) < 0):
                raise InputError("times must be finite, >= 0 and increasing (the automatic grid: times=None), "
                                 f"got {np.array2string(t, threshold=8)}")
        ev = _eval(result, t)
        return classify_arrays(mo, t, ev["product"], eta_u=eu, eta_w=ew, kappa=k, uu=ev["uu"], ww=ev["ww"],
                               ntk=ev["ntk"], norm_u=ev["norm_u"], norm_w=ev["norm_w"], kind="flow",
                               thresholds=thresholds, max_modes=max_modes)
    product = _get(result, "product")
    if product is None:
        raise InputError("result has no product κUW: give a solution or a simulation result of featmech.linear")
    P = np.asarray(product, dtype=np.float64)
    t = _get(result, "t", "time", "times")
    if t is None:
        steps = _get(result, "step", "steps")
        if lr is None:
            rec_lr = getattr(result, "lr", None)
            lr = float(rec_lr) if rec_lr is not None and np.ndim(rec_lr) == 0 and math.isfinite(rec_lr) else None
        if steps is None:
            t = np.arange(P.shape[0], dtype=np.float64)
        else:
            t = np.asarray(steps, dtype=np.float64) * (1.0 if lr is None else float(lr))
    uu, ww = _grams(result)
    ntk = _get(result, "ntk_trace", "ntk")
    return classify_arrays(mo, np.asarray(t, dtype=np.float64), P, eta_u=eu, eta_w=ew, kappa=k, uu=uu, ww=ww,
                           ntk=ntk, norm_u=_get(result, "norm_u"), norm_w=_get(result, "norm_w"), kind="discrete",
                           diverged=bool(_get(result, "diverged") or False), thresholds=thresholds,
                           max_modes=max_modes)


# --------------------------------------------------------------------------- phase diagrams
#: the parameters a linear phase diagram may vary (names, defaults and ranges: featmech.params)
PHASE_AXES: tuple[str, ...] = ("width", "sigma_u", "sigma_w", "eta_u", "eta_w", "eta_ratio", "kappa")
_PHASE_GRID = ("width", "sigma_u", "sigma_w", "eta_u", "eta_w", "kappa")


@dataclass(frozen=True)
class LinearPhase:
    """Result of :func:`phase`: a grid of (seed, y, x) runs of the linear network on one data set.

    Attributes:
        x, y: the axes (:class:`featmech.analysis.phase.Axis`).
        fixed: the other parameters (plain values).
        seeds: inits per point.  moments: the data.
        params: every grid parameter on the (y, x) grid (read-only).
        categories: the model-level category per (seed, y, x) (string array).
        mode_categories: the category of each mode per (seed, y, x, mode).
        metrics: the model-level numbers per (seed, y, x): ``ntk_max_deviation``, ``ntk_ratio``,
            ``alignment_start``, ``alignment_end``, ``balance_change``, ``convergence_time``.
        exact_modes: whether the per-mode labels are exact (see :class:`Modes`).
        thresholds: ε, δ, F.
    """

    x: Any
    y: Any
    fixed: Mapping[str, float]
    seeds: int
    moments: Moments
    params: Mapping[str, F]
    categories: NDArray[np.str_]
    mode_categories: NDArray[np.str_]
    metrics: Mapping[str, F]
    exact_modes: bool
    thresholds: Thresholds

    @property
    def shape(self) -> tuple[int, int, int]:
        """(seeds, len(y), len(x))."""
        return cast("tuple[int, int, int]", self.categories.shape)

    def majority(self) -> NDArray[np.int64]:
        """Most frequent category over seeds per (y, x), as an index into
        :data:`featmech.analysis.labels.ALL_CATEGORIES` (ties: the lowest index)."""
        idx = np.stack([(self.categories == c).sum(axis=0) for c in ALL_CATEGORIES])
        return np.argmax(idx, axis=0)

    def mode_counts(self) -> dict[str, F]:
        """Per category: how many modes carry it, per (seed, y, x)."""
        return {c: (self.mode_categories == c).sum(axis=-1).astype(np.float64) for c in ALL_CATEGORIES}

    def table(self) -> Table:
        """Tidy table, one row per (point, seed): seed, the grid parameters, category, the metrics and
        the number of modes per category (``modes_<category>``)."""
        S, Y, X = self.shape
        cols: dict[str, Any] = {"seed": np.broadcast_to(np.arange(S)[:, None, None], self.shape).ravel()}
        for n in _PHASE_GRID:
            cols[n] = np.broadcast_to(self.params[n], self.shape).ravel()
        cols["category"] = self.categories.ravel()
        for k, v in self.metrics.items():
            cols[k] = np.asarray(v).ravel()
        for c, v in self.mode_counts().items():
            cols["modes_" + c.replace("/", "_")] = v.ravel().astype(np.int64)
        counts = {c: int((self.categories == c).sum()) for c in ALL_CATEGORIES}
        return Table(cols, extra={"summary": {"dataset": self.moments.name, "x": self.x.name, "y": self.y.name,
                                              "seeds": self.seeds, "fixed": dict(self.fixed), "counts": counts,
                                              "exact_modes": self.exact_modes,
                                              "thresholds": self.thresholds.as_dict()}})


def phase(mo: Moments, x: Any, y: Any, fixed: Mapping[str, float] | None = None, *, seeds: int = 1, seed: int = 0,
          thresholds: Thresholds | None = None, points: int = 60, max_modes: int | None = None,
          max_points: int = 10_000) -> LinearPhase:
    r"""Classify the linear network on ``mo`` over a grid of two parameters (:data:`PHASE_AXES`).

    Every (point, seed) gets an exact Wishart sample of its init's Gram matrix at its width
    (:func:`featmech.theory.linear.sample_gram`: U entries N(0, σ_u²), W entries N(0, σ_w²)),
    its gradient flow (:func:`featmech.theory.linear.solve_gram`) and :func:`classify` on a grid of
    ``points`` times up to ten convergence times.

    Arguments:
        mo: the moments.
        x, y: the axes (``"kappa=1e-4:1:log:20"``, ``"width=10,1e6"``; see
            :func:`featmech.analysis.phase.parse_axis`), of :data:`PHASE_AXES`.
        fixed: values of the other parameters (defaults: the parameter table's, width 1000, σ 1, η 1, κ 1).
        seeds: inits per point.  seed: the base seed (point i, seed s uses seed + s·P + i).
        thresholds: ε, δ, F.
        points: times per trajectory (2 … 10⁴).
        max_modes: classify at most this many modes.
        max_points: refuse larger grids (points × seeds).

    Returns:
        A :class:`LinearPhase`.

    Raises:
        InputError: an axis or fixed parameter outside :data:`PHASE_AXES` or out of range, both
            ``eta_ratio`` and ``eta_u``, equal axes, or too many points.
    """
    from featmech.analysis.phase import Axis, check_fixed, parse_axis
    from featmech.theory.linear import sample_gram, solve_gram

    for spec in (x, y):  # name the linear network's own parameters before the generic axis parser does
        name = spec.split("=", 1)[0].strip() if isinstance(spec, str) else getattr(spec, "name", None)
        if isinstance(spec, str) and "=" in spec and name not in PHASE_AXES:
            raise InputError(f"axis {name!r} is not a parameter of the linear network; choose from "
                             f"{', '.join(PHASE_AXES)}")
    for label, spec in (("x", x), ("y", y)):
        if not isinstance(spec, (str, Axis)):
            raise InputError(f"{label} must be an axis: a string 'name=start:stop:log:num' or 'name=v1,v2' "
                             f"(name of {', '.join(PHASE_AXES)}) or a featmech.analysis.phase.Axis, got {spec!r}")
    xa = parse_axis(x) if isinstance(x, str) else x
    ya = parse_axis(y) if isinstance(y, str) else y
    for a in (xa, ya):
        if a.name not in PHASE_AXES:
            raise InputError(f"axis {a.name!r} is not a parameter of the linear network; choose from "
                             f"{', '.join(PHASE_AXES)}")
    if xa.name == ya.name:
        raise InputError(f"x and y must be different parameters, both are {xa.name!r}")
    nseeds = check_int("seeds", seeds, low=1)
    base = PARAMETERS["seed"].check(seed)
    fx = check_fixed(fixed, PHASE_AXES, (xa.name, ya.name))
    P = xa.values.size * ya.values.size
    if P * nseeds > max_points:
        raise InputError(f"the grid has {P * nseeds} points × seeds, over {max_points}")
    grid = {n: np.full((ya.values.size, xa.values.size), float(PARAMETERS[n].default)) for n in _PHASE_GRID}
    for k, v in fx.items():
        grid.setdefault(k, np.zeros_like(grid["width"]))[...] = v
    grid[xa.name] = np.broadcast_to(xa.values[None, :], grid["width"].shape).copy()
    grid[ya.name] = np.broadcast_to(ya.values[:, None], grid["width"].shape).copy()
    if "eta_ratio" in grid:
        grid["eta_u"] = grid.pop("eta_ratio") * grid["eta_w"]
    th = thresholds or Thresholds()
    shape = (nseeds,) + grid["width"].shape
    cats = np.empty(shape, dtype=object)
    md = modes(mo, max_modes=max_modes)
    mcats = np.empty(shape + (md.k,), dtype=object)
    keys = ("ntk_max_deviation", "ntk_ratio", "alignment_start", "alignment_end", "balance_change")
    mets = {k: np.full(shape, np.nan) for k in (*keys, "convergence_time")}
    for s in range(nseeds):
        for i in range(ya.values.size):
            for j in range(xa.values.size):
                v = {n: grid[n][i, j] for n in _PHASE_GRID}
                g = sample_gram(int(v["width"]), c=mo.c, m=mo.m, sigma_u=v["sigma_u"], sigma_w=v["sigma_w"],
                                seed=base + s * P + i * xa.values.size + j)
                sol = solve_gram(g, sigma_xx=mo.sigma_xx, sigma_xy=mo.sigma_xy, eta_u=v["eta_u"], eta_w=v["eta_w"],
                                 kappa=v["kappa"])
                cl = classify(sol, mo, eta_u=v["eta_u"], eta_w=v["eta_w"], kappa=v["kappa"], thresholds=th,
                              points=points, max_modes=max_modes)
                cats[s, i, j] = cl.category
                mcats[s, i, j] = [m.classification.category for m in cl.modes]
                for k in keys:
                    mets[k][s, i, j] = getattr(cl.classification, k)
                mets["convergence_time"][s, i, j] = cl.convergence_time
    params = {n: readonly(grid[n]) for n in _PHASE_GRID}
    return LinearPhase(xa, ya, fx, nseeds, mo, params, readonly(cats.astype(str), dtype=str),
                       readonly(mcats.astype(str), dtype=str), {k: readonly(v) for k, v in mets.items()},
                       md.decoupled, th)
