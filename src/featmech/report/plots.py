"""Figures (matplotlib, headless): phase diagrams, exponent diagrams and trajectories.

Publication defaults: the Okabe–Ito colour-blind-safe palette for categories, viridis for
heat maps, labelled axes with units and the formula of the plotted quantity; every figure is
written as PNG and SVG. Needs the ``plot`` extra (``pip install featmech[plot]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["PALETTE", "plot_phase", "plot_exponent_diagram", "plot_trajectory", "plot_activations", "plot_sweep", "save"]

#: Okabe & Ito (2008) colours, one per category of featmech.phase.LABELS
PALETTE = {
    "kernel": "#BBBBBB",
    "feature/alignment": "#0072B2",
    "feature/disalignment": "#D55E00",
    "feature/rescaling": "#009E73",
    "unstable": "#CC79A7",
    "undetermined": "#FFFFFF",
    "rich": "#56B4E9",
    "frozen": "#F0E442",
    "divergent-output": "#000000",
}

AXIS_LABELS = {
    "width": "width d",
    "sigma_u": "output-layer init std σ_u",
    "sigma_w": "hidden-layer init std σ_w",
    "eta_u": "output-layer learning rate η_u",
    "eta_w": "hidden-layer learning rate η_w",
    "eta_ratio": "learning-rate ratio η_u/η_w",
    "kappa": "output scale κ",
    "rho": "init correlation ρ",
    "target": "target slope k",
    "data_var": "data variance V = E[x²]",
}


def _mpl() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - optional dependency
        raise ImportError("figures need matplotlib: pip install 'featmech[plot]'") from exc
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "font.size": 9, "axes.titlesize": 10,
                         "axes.labelsize": 9, "legend.fontsize": 8, "axes.spines.top": False,
                         "axes.spines.right": False, "svg.fonttype": "none"})
    return plt


def save(fig: Any, base: str | Path) -> list[Path]:
    """Write a figure as ``base.png`` and ``base.svg`` and close it.

    Arguments:
        fig: a matplotlib figure.
        base: the path without suffix (its directory is created if missing).

    Returns:
        The two paths, PNG first.

    Raises:
        ImportError: matplotlib is not installed.
        OSError: a file cannot be written.
    """
    plt = _mpl()
    base = Path(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = [base.with_suffix(".png"), base.with_suffix(".svg")]
    for p in paths:
        fig.savefig(p, bbox_inches="tight")
    plt.close(fig)
    return paths


def _edges(v: np.ndarray, log: bool) -> np.ndarray:
    if v.size == 1:
        return np.array([v[0] * 0.9, v[0] * 1.1]) if log else np.array([v[0] - 0.5, v[0] + 0.5])
    t = np.log10(v) if log else v
    mid = (t[1:] + t[:-1]) / 2
    e = np.concatenate([[t[0] - (mid[0] - t[0])], mid, [t[-1] + (t[-1] - mid[-1])]])
    return 10**e if log else e


def _setup_axes(ax: Any, pd: Any) -> None:
    ax.set_xscale("log" if pd.x.scale == "log" else "linear")
    ax.set_yscale("log" if pd.y.scale == "log" else "linear")
    ax.set_xlabel(AXIS_LABELS[pd.x.name])
    ax.set_ylabel(AXIS_LABELS[pd.y.name])


def _lambda_contours(ax: Any, pd: Any) -> None:
    with np.errstate(all="ignore"):
        lam = np.nanmedian(np.log10(np.abs(pd.metric("lam"))), axis=0)
    lam = np.where(np.isfinite(lam), lam, np.nan)
    if pd.x.values.size < 2 or pd.y.values.size < 2 or not np.any(np.isfinite(lam)):
        return
    X, Y = np.meshgrid(pd.x.values, pd.y.values)
    lo, hi = np.nanmin(lam), np.nanmax(lam)
    levels = [lv for lv in (-1.0, 0.0, 1.0) if lo < lv < hi]
    if not levels:
        return
    cs = ax.contour(X, Y, lam, levels=levels, colors="k",
                    linestyles=["--" if lv != 0 else "-" for lv in levels], linewidths=[0.8 if lv else 1.4 for lv in levels])
    ax.clabel(cs, fmt={-1.0: "λ=0.1", 0.0: "λ=1", 1.0: "λ=10"}, fontsize=7)


def plot_phase(pd: Any, out_dir: str | Path, prefix: str = "phase") -> list[Path]:
    """Categorical regime/mechanism map and heat maps of NTK change, |Δζ| and convergence time.

    The solid line is λ = k/g = 1 (docs/theory.md §4's boundary λ = Θ(1)); dashed: λ = 0.1 and 10.
    Categories are the majority over seeds; heat maps show the median over seeds.

    Arguments:
        pd: a :class:`~featmech.analysis.phase.PhaseDiagram`.
        out_dir: where the figures go.
        prefix: file names are ``<prefix>_regime``, ``<prefix>_ntk_change``,
            ``<prefix>_alignment_change`` and ``<prefix>_convergence_time``.

    Returns:
        The written files (PNG + SVG each).

    Raises:
        ImportError: matplotlib is not installed.
    """
    plt = _mpl()
    from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm
    from matplotlib.patches import Patch

    from featmech.analysis.phase import LABELS

    out_dir = Path(out_dir)
    written: list[Path] = []
    xe = _edges(pd.x.values, pd.x.scale == "log")
    ye = _edges(pd.y.values, pd.y.scale == "log")
    fixed = ", ".join(f"{k}={v:g}" for k, v in pd.fixed.items()) or "defaults"

    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    maj = pd.majority_label().astype(float)
    maj[maj < 0] = np.nan
    cmap = ListedColormap([PALETTE[k] for k in LABELS])
    ax.pcolormesh(xe, ye, maj, cmap=cmap, norm=BoundaryNorm(np.arange(-0.5, len(LABELS) + 0.5), cmap.N),
                  shading="flat")
    _setup_axes(ax, pd)
    _lambda_contours(ax, pd)
    present = [k for i, k in enumerate(LABELS) if np.any(maj == i)]
    ax.legend(handles=[Patch(color=PALETTE[k], label=k) for k in present], loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(f"Regime and mechanism (majority of {pd.seeds} seeds)\nfixed: {fixed}", fontsize=9)
    written += save(fig, out_dir / f"{prefix}_regime")

    heat = [
        ("ntk_change", "max$_t$ |K(t)/K(0) − 1|", np.abs(pd.metric("ntk_max_deviation")), True),
        ("alignment_change", "|Δζ| = | |ζ$_\\infty$| − |ζ$_0$| |", np.abs(pd.metric("alignment_change")), False),
        ("convergence_time", "convergence time t$_c$: |r(t$_c$)| = 10$^{-2}$|r(0)|", pd.metric("convergence_time"),
         True),
    ]
    for name, label, data, log in heat:
        fig, ax = plt.subplots(figsize=(5.0, 4.0))
        with np.errstate(all="ignore"):
            z = np.nanmedian(np.where(np.isfinite(data), data, np.nan), axis=0)
        pos = z[np.isfinite(z) & (z > 0)]
        norm = LogNorm(vmin=max(pos.min(), 1e-12), vmax=pos.max()) if (log and pos.size and pos.max() > pos.min()) else None
        mesh = ax.pcolormesh(xe, ye, np.where(z > 0, z, np.nan) if log else z, cmap="viridis", norm=norm,
                             shading="flat")
        cb = fig.colorbar(mesh, ax=ax)
        cb.set_label(label)
        _setup_axes(ax, pd)
        _lambda_contours(ax, pd)
        ax.set_title(f"{label} (median over seeds)\nfixed: {fixed}", fontsize=9)
        written += save(fig, out_dir / f"{prefix}_{name}")
    return written


def plot_exponent_diagram(xname: str, xs: np.ndarray, yname: str, ys: np.ndarray, labels: np.ndarray,
                          out_base: str | Path, title: str = "") -> list[Path]:
    """Categorical map of the infinite-width classification over two exponents of the width d.

    Arguments:
        xname, yname: the exponent axes (``kappa``, ``sigma2``, …).
        xs, ys: their values.
        labels: the category at each point, shape ``(len(ys), len(xs))`` (strings of :data:`PALETTE`).
        out_base: the path without suffix.
        title: the figure title (default "Infinite-width regime (d → ∞)").

    Returns:
        The written PNG and SVG.

    Raises:
        ImportError: matplotlib is not installed.
    """
    plt = _mpl()
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    cats = [c for c in PALETTE if np.any(labels == c)]
    idx = np.full(labels.shape, np.nan)
    for i, c in enumerate(cats):
        idx[labels == c] = i
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    cmap = ListedColormap([PALETTE[c] for c in cats])
    ax.pcolormesh(_edges(xs, False), _edges(ys, False), idx, cmap=cmap,
                  norm=BoundaryNorm(np.arange(-0.5, len(cats) + 0.5), cmap.N), shading="flat")
    ax.set_xlabel(f"exponent of d in {xname}")
    ax.set_ylabel(f"exponent of d in {yname}")
    ax.legend(handles=[Patch(color=PALETTE[c], label=c) for c in cats], loc="upper left", bbox_to_anchor=(1.01, 1.0),
              frameon=False)
    ax.set_title(title or "Infinite-width regime (d → ∞)", fontsize=9)
    return save(fig, out_base)


def plot_trajectory(theory: Any, out_base: str | Path, *, sim: Any = None, lr: float | None = None,
                    title: str = "", label: str = "exact gradient flow") -> list[Path]:
    """Exact theory (lines) over simulated GD (points): loss, NTK, alignment and norms against time.

    Arguments:
        theory: a :class:`featmech.theory.exact.State` (or a sequence of ``(State, label)`` pairs).
        out_base: the path without suffix.
        sim: a :class:`featmech.theory.simulate.SimResult`, drawn at times ``step · lr``.
        lr: the step of ``sim`` (both or neither).
        title: the figure title.
        label: the legend entry of a single ``theory``.

    Returns:
        The written PNG and SVG.

    Raises:
        ImportError: matplotlib is not installed.
    """
    plt = _mpl()
    states: Sequence[tuple[Any, str]] = theory if isinstance(theory, (list, tuple)) else [(theory, label)]
    fig, axes = plt.subplots(2, 2, figsize=(8.0, 5.6))
    panels = [("loss", "loss L = ½V(κu·w − k)²", True), ("ntk", "NTK K = Vκ²(η_w|u|² + η_u|w|²)", False),
              ("alignment", "alignment ζ = u·w/(|u||w|)", False), ("norm_u", "layer norms |u|, |w|", False)]
    colors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00"]
    for ax, (field, ylabel, logy) in zip(axes.ravel(), panels):
        for i, (st, lab) in enumerate(states):
            c = colors[i % len(colors)]
            ax.plot(st.t, getattr(st, field), color=c, lw=1.5, label=lab if field != "norm_u" else f"|u| {lab}")
            if field == "norm_u":
                ax.plot(st.t, st.norm_w, color=c, lw=1.5, ls="--", label=f"|w| {lab}")
        if sim is not None and lr is not None:
            ts = sim.step * lr
            ax.plot(ts, np.ravel(getattr(sim, field)), "o", ms=3, mfc="none", color="k", label="GD (simulated)")
            if field == "norm_u":
                ax.plot(ts, np.ravel(sim.norm_w), "s", ms=3, mfc="none", color="k")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("gradient-flow time t (GD: step × lr)")
        ax.set_ylabel(ylabel)
    axes[0, 0].legend(frameon=False)
    axes[1, 1].legend(frameon=False, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, out_base)


def plot_activations(runs: Sequence[dict[str, Any]], out_base: str | Path) -> list[Path]:
    """ζ(t) and K(t)/K(0) of the two-layer net for every activation; exact theory dashed for linear.

    Arguments:
        runs: one run per activation, each with ``activation, case, regime, mechanism, time,
            alignment, ntk`` (and ``theory_alignment`` for the linear one).
        out_base: the path without suffix.

    Returns:
        The written PNG and SVG.

    Raises:
        ImportError: matplotlib is not installed.
    """
    plt = _mpl()
    colors = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2"]
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6))
    for i, r in enumerate(runs):
        c = colors[i % len(colors)]
        lab = f"{r['activation']} ({r['regime']}" + (f"/{r['mechanism']})" if r["regime"] == "feature" else ")")
        axes[0].plot(r["time"], r["alignment"], color=c, lw=1.6, label=lab)
        ntk = np.asarray(r["ntk"])
        axes[1].plot(r["time"], ntk / ntk[0], color=c, lw=1.6, label=r["activation"])
        if "theory_alignment" in r:
            axes[0].plot(r["time"], r["theory_alignment"], color="#777777", lw=1.0, ls="--",
                         label="linear: exact gradient flow")
    axes[0].set_xlabel("time t = step × lr")
    axes[0].set_ylabel("alignment ζ = ‖W₂W₁‖/(‖W₂‖‖W₁‖) = |cos(u,w)|")
    axes[1].set_xlabel("time t = step × lr")
    axes[1].set_ylabel("NTK trace ratio K(t)/K(0)")
    axes[0].legend(frameon=False, fontsize=7)
    case = runs[0]["case"] if runs else ""
    fig.suptitle(f"Two-layer network f(x) = κ Σ u_i σ(w_i x), {case} case", fontsize=10)
    fig.tight_layout()
    return save(fig, out_base)


def plot_sweep(rows: Sequence[dict[str, Any]], key: str, out_base: str | Path, xlabel: str) -> list[Path]:
    """Test accuracy against a swept hyperparameter, points coloured by regime/mechanism.

    Arguments:
        rows: one row per run, each with ``key``, ``test_accuracy``, ``regime`` and ``mechanism``.
        key: the swept hyperparameter (the x axis, logarithmic).
        out_base: the path without suffix.
        xlabel: the x-axis label.

    Returns:
        The written PNG and SVG.

    Raises:
        ImportError: matplotlib is not installed.
    """
    plt = _mpl()
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    xs = np.array([r[key] for r in rows], dtype=float)
    acc = np.array([r["test_accuracy"] for r in rows], dtype=float)
    cats = []
    for r, x, a in zip(rows, xs, acc):
        cat = r["regime"] if r["regime"] != "feature" else f"feature/{r['mechanism']}"
        cats.append(cat)
        ax.plot(x, a if np.isfinite(a) else 0.0, "o", ms=7, color=PALETTE.get(cat, "#777777"),
                mec="k", mew=0.5)
    ux = np.unique(xs)
    ax.plot(ux, [np.nanmean(np.where(np.isfinite(acc[xs == u]), acc[xs == u], np.nan)) for u in ux], color="#444444",
            lw=1, zorder=0)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(-0.02, 1.02)
    present = [c for c in PALETTE if c in cats]
    ax.legend(handles=[Line2D([], [], marker="o", ls="", color=PALETTE[c], mec="k", label=c) for c in present],
              frameon=False, loc="lower left")
    fig.tight_layout()
    return save(fig, out_base)
