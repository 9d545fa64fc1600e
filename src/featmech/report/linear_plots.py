"""Figures of the linear network on real data (:mod:`featmech.analysis.linear`), in the style of
:mod:`featmech.report.plots`: trajectories (loss gap, K/K0 with the ε band, ζ, norms, per-mode
strengths and alignments) and the phase diagram with its kernel boundary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from featmech.analysis.labels import ALL_CATEGORIES
from featmech.report.plots import LAYER_COLORS, PALETTE, _eps_band, _mpl, save

__all__ = ["plot_linear_trajectory", "plot_linear_phase"]


def _t(tr: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(tr.t, dtype=float)
    ok = t > 0
    return t, ok


def plot_linear_trajectory(cl: Any, out_base: str | Path, *, title: str = "") -> list[Path]:
    """Six panels of one :class:`~featmech.analysis.linear.LinearClassification` over log time:
    L − L*, K(t)/K(0) − 1 with the kernel band, ζ, ‖U‖_F and ‖W‖_F, the mode strengths m_α/s_α and
    the mode alignments ζ_α. Returns the PNG and SVG paths."""
    plt = _mpl()
    tr = cl.trajectory
    t, ok = _t(tr)
    eps = cl.classification.thresholds.eps
    fig, axes = plt.subplots(2, 3, figsize=(11, 6))
    ax = axes[0, 0]
    ax.loglog(t[ok], np.maximum(tr.gap[ok], 1e-300), color="k")
    ax.set(xlabel="time t", ylabel="loss gap L − L*", title="loss gap")
    ax = axes[0, 1]
    dev = tr.ntk / tr.ntk[0] - 1.0
    big = np.nanmax(np.abs(dev)) > 3
    if big:
        ax.loglog(t[ok], tr.ntk[ok] / tr.ntk[0], color="k")
        _eps_band(ax, eps, ratio=True)
        ax.set(ylabel="K(t)/K(0) (NTK trace)")
    else:
        ax.semilogx(t[ok], dev[ok], color="k")
        _eps_band(ax, eps)
        ax.set(ylabel="K(t)/K(0) − 1 (NTK trace)")
    ax.set(xlabel="time t", title="NTK trace")
    ax.legend(loc="best")
    ax = axes[0, 2]
    ax.semilogx(t[ok], tr.alignment[ok], color="k")
    ax.set(xlabel="time t", ylabel="ζ = ‖UW‖/(‖U‖‖W‖)", title="alignment", ylim=(-0.02, 1.02))
    ax = axes[1, 0]
    ax.loglog(t[ok], tr.norm_u[ok], color=LAYER_COLORS[0], label="‖U‖_F (output layer)")
    ax.loglog(t[ok], tr.norm_w[ok], color=LAYER_COLORS[1], label="‖W‖_F (hidden layer)")
    ax.set(xlabel="time t", ylabel="Frobenius norm", title="layer norms")
    ax.legend(loc="best")
    k = tr.mode_strength.shape[1]
    cmap = plt.get_cmap("viridis")
    targets = np.array([m.target for m in cl.modes])
    ax = axes[1, 1]
    for a in range(k):
        ax.semilogx(t[ok], tr.mode_strength[ok, a] / targets[a], color=cmap(a / max(k - 1, 1)),
                    label=f"mode {a + 1} (s = {targets[a]:.2g})" if a in (0, k - 1) else None)
    ax.axhline(1.0, color="#777777", lw=0.6)
    ax.set(xlabel="time t", ylabel="m_α(t)/s_α", title="mode strengths (strongest: dark)")
    ax.legend(loc="best")
    ax = axes[1, 2]
    if np.all(np.isnan(tr.mode_alignment)):
        ax.text(0.5, 0.5, "per-mode ζ not recorded", ha="center", va="center", transform=ax.transAxes)
    for a in range(k):
        ax.semilogx(t[ok], tr.mode_alignment[ok, a], color=cmap(a / max(k - 1, 1)))
    ax.set(xlabel="time t", ylabel="ζ_α = u_α·w_α/(|u_α||w_α|)", title="mode alignments", ylim=(-1.02, 1.02))
    fig.suptitle(title or cl.category)
    fig.tight_layout()
    return save(fig, out_base)


def _edges(values: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around grid values: midpoints (geometric ones on a log axis), the ends mirrored."""
    v = np.log10(values) if log else np.asarray(values, dtype=float)
    if v.size == 1:
        e = np.array([v[0] - 0.5, v[0] + 0.5])
    else:
        mid = (v[1:] + v[:-1]) / 2
        e = np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])
    return 10.0**e if log else e


def plot_linear_phase(ph: Any, out_base: str | Path, *, title: str = "") -> list[Path]:
    """The categorical map (majority over seeds, Okabe–Ito colours) and max|K/K0 − 1| with the
    contour ε (the kernel boundary) of a :class:`~featmech.analysis.linear.LinearPhase`."""
    plt = _mpl()
    from matplotlib.colors import ListedColormap, LogNorm

    xs, ys = ph.x.values, ph.y.values
    xe, ye = _edges(xs, ph.x.scale == "log"), _edges(ys, ph.y.scale == "log")
    maj = ph.majority()
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.2))
    ax = axes[0]
    cmap = ListedColormap([PALETTE[c] for c in ALL_CATEGORIES])
    ax.pcolormesh(xe, ye, maj, cmap=cmap, vmin=-0.5, vmax=len(ALL_CATEGORIES) - 0.5, shading="flat",
                  edgecolors="#FFFFFF", linewidth=0.3)
    present = sorted(set(maj.ravel().tolist()))
    for i in present:
        ax.scatter([], [], color=PALETTE[ALL_CATEGORIES[i]], marker="s", label=ALL_CATEGORIES[i],
                   edgecolors="#777777")
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.15), ncol=3)
    ax.set_title("label (majority over seeds)")
    ax = axes[1]
    dev = np.nanmedian(ph.metrics["ntk_max_deviation"], axis=0)
    pos = np.where(dev > 0, dev, np.nan)
    lo = np.nanmin(pos) if np.isfinite(pos).any() else 1e-3
    hi = np.nanmax(pos) if np.isfinite(pos).any() else 1.0
    im = ax.pcolormesh(xe, ye, pos, shading="flat", cmap="viridis", norm=LogNorm(vmin=lo, vmax=max(hi, lo * 10)))
    fig.colorbar(im, ax=ax, label="max_t |K(t)/K(0) − 1| (median over seeds)")
    if xs.size > 1 and ys.size > 1 and lo < ph.thresholds.eps < hi:
        ax.contour(xs, ys, pos, levels=[ph.thresholds.eps], colors="white", linewidths=1.5)
    ax.set_title(f"NTK change; white: ε = {ph.thresholds.eps:g} (kernel boundary)")
    for ax in axes:
        ax.set_xlabel(ph.x.param.symbol or ph.x.name)
        ax.set_ylabel(ph.y.param.symbol or ph.y.name)
        if ph.x.scale == "log":
            ax.set_xscale("log")
        if ph.y.scale == "log":
            ax.set_yscale("log")
    fig.suptitle(title or f"{ph.moments.name}: {ph.y.name} × {ph.x.name}")
    fig.tight_layout()
    return save(fig, out_base)
