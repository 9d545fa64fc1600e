"""Figures (matplotlib, headless): phase diagrams, exponent diagrams, trajectories, networks.

Publication defaults: the Okabe–Ito colour-blind-safe palette for categories, viridis for heat
maps, labelled axes with the formula of the plotted quantity; every figure is written as PNG and
SVG. The conventions every figure keeps:

- the NTK is drawn as its change K(t)/K(0) − 1 (or, when it changes by orders of magnitude, as the
  ratio on a log axis), never in offset notation, with the kernel band |K/K0 − 1| ≤ ε shaded;
- the two layers have two colours (|u| blue, |w| vermillion), and a legend entry for every marker;
- time is logarithmic when the action is early (:func:`time_scale`), norms when they change by
  orders of magnitude;
- a run that diverged, did not train or did not converge is drawn and named as such
  (:func:`featmech.report.captions.run_label`), never with a regime label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from featmech.report.captions import (
    DIVERGED,
    NOT_CONVERGED,
    NOT_TRAINED,
    by_value,
    num,
    run_label,
    run_status,
)

__all__ = ["PALETTE", "STATUS_STYLE", "LAYER_COLORS", "plot_phase", "plot_exponent_diagram", "plot_trajectory",
           "plot_activations", "plot_sweep", "plot_network_trajectories", "plot_preset_slopes", "time_scale",
           "save"]

#: Okabe & Ito (2008) colours, one per category of featmech.analysis.phase.LABELS and of the
#: infinite-width labels
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

#: how a run without a regime label is drawn: face colour and marker
STATUS_STYLE = {
    NOT_TRAINED: {"color": "#FFFFFF", "marker": "X"},
    NOT_CONVERGED: {"color": "#FFFFFF", "marker": "o"},
    DIVERGED: {"color": "#000000", "marker": "x"},
}

#: |u| (output layer) and |w| (hidden layer)
LAYER_COLORS = ("#0072B2", "#D55E00")
_SERIES = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2", "#999999"]

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

_EXPONENT_SYMBOLS = {"kappa": "κ", "eta": "η_u = η_w", "sigma2": "σ_u² = σ_w²", "eta_u": "η_u", "eta_w": "η_w",
                     "sigma_u2": "σ_u²", "sigma_w2": "σ_w²"}


def _mpl() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ImportError("figures need matplotlib: pip install matplotlib") from exc
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 120, "font.size": 9, "axes.titlesize": 10,
                         "axes.labelsize": 9, "legend.fontsize": 8, "axes.spines.top": False,
                         "axes.spines.right": False, "svg.fonttype": "none", "axes.formatter.useoffset": False})
    return plt


def save(fig: Any, base: str | Path) -> list[Path]:
    """Write a figure as ``base.png`` and ``base.svg`` and close it.

    Arguments:
        fig: a matplotlib figure.
        base: the path without suffix (its directory is created if missing).

    Returns:
        The two paths, PNG first.

    Raises:
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


def _base(label: str) -> str:
    return label.split(" (borderline")[0]


def _color(label: str) -> str:
    return PALETTE.get(_base(label), "#777777")


def time_scale(t: Any, *series: Any, early: float = 0.03) -> str:
    """``"log"`` when the action is early: some series has made half of its total change before
    ``early`` × the last time; ``"linear"`` otherwise.

    Arguments:
        t: the times (increasing, from 0 or more).
        series: arrays over ``t`` (NaN ignored).
        early: the fraction of the window that counts as early.

    >>> t = np.linspace(0, 100, 1001)
    >>> time_scale(t, 1 - np.exp(-t)), time_scale(t, 1 - np.exp(-t / 30))
    ('log', 'linear')
    """
    t = np.asarray(t, dtype=float)
    if t.size < 3 or not np.any(t > 0):
        return "linear"
    for s in series:
        s = np.asarray(s, dtype=float)
        ok = np.isfinite(s)
        if ok.sum() < 3:
            continue
        ts, ss = t[ok], s[ok]
        total = np.max(np.abs(ss - ss[0]))
        if not total > 1e-12 * max(1.0, abs(ss[0])):
            continue
        first = ts[np.argmax(np.abs(ss - ss[0]) >= 0.5 * total)]
        if first < early * ts[-1]:
            return "log"
    return "linear"


def _log_ok(*arrays: Any, factor: float = 10.0) -> bool:
    """Whether positive data spanning more than ``factor`` call for a log axis."""
    vals = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays])
    vals = vals[np.isfinite(vals)]
    return bool(vals.size and np.all(vals > 0) and vals.max() / vals.min() > factor)


def _eps_band(ax: Any, eps: float, *, ratio: bool = False, label: bool = True) -> None:
    """Shade the kernel band |K/K0 − 1| ≤ ε (around 0, or around 1 for a ratio)."""
    c = 1.0 if ratio else 0.0
    ax.axhspan(c - eps, c + eps, color="#BBBBBB", alpha=0.35, lw=0, zorder=0,
               label=f"kernel band |K/K0 − 1| ≤ ε = {eps:g}" if label else None)
    ax.axhline(c, color="#777777", lw=0.6, zorder=0)


def _ntk_limits(ax: Any, values: Any, eps: float) -> None:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    lo, hi = (min(v.min(), -1.6 * eps), max(v.max(), 1.6 * eps)) if v.size else (-1.6 * eps, 1.6 * eps)
    pad = 0.05 * (hi - lo)
    ax.set_ylim(lo - pad, hi + pad)


def _edges(v: np.ndarray, log: bool) -> np.ndarray:
    if v.size == 1:
        return np.array([v[0] * 0.9, v[0] * 1.1]) if log else np.array([v[0] - 0.5, v[0] + 0.5])
    t = np.log10(v) if log else v
    mid = (t[1:] + t[:-1]) / 2
    e = np.concatenate([[t[0] - (mid[0] - t[0])], mid, [t[-1] + (t[-1] - mid[-1])]])
    return 10**e if log else e


# ---------------------------------------------------------------------- finite-width phase diagrams
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

    The solid black line is λ = k/g = 1 (docs/theory.md §4's boundary λ = Θ(1)); dashed: λ = 0.1
    and 10. Categories are the majority over seeds (blank: no label); heat maps show the median
    over seeds; on the NTK map the white line is the kernel threshold ε.

    Arguments:
        pd: a :class:`~featmech.analysis.phase.PhaseDiagram`.
        out_dir: where the figures go.
        prefix: file names are ``<prefix>_regime``, ``<prefix>_ntk_change``,
            ``<prefix>_alignment_change`` and ``<prefix>_convergence_time``.

    Returns:
        The written files (PNG + SVG each).
    """
    plt = _mpl()
    from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm
    from matplotlib.lines import Line2D
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
    cmap = ListedColormap([_color(k) for k in LABELS])
    ax.pcolormesh(xe, ye, maj, cmap=cmap, norm=BoundaryNorm(np.arange(-0.5, len(LABELS) + 0.5), cmap.N),
                  shading="flat")
    _setup_axes(ax, pd)
    _lambda_contours(ax, pd)
    present = [k for i, k in enumerate(LABELS) if np.any(maj == i)]
    handles: list[Any] = [Patch(facecolor=_color(k), edgecolor="k", lw=0.3, label=k) for k in present]
    handles += [Line2D([], [], color="k", lw=1.4, label="λ = 1"), Line2D([], [], color="k", lw=0.8, ls="--",
                                                                         label="λ = 0.1, 10")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(f"Regime and mechanism (majority of {pd.seeds} seeds)\nfixed: {fixed}", fontsize=9)
    written += save(fig, out_dir / f"{prefix}_regime")

    eps = float(pd.thresholds.eps)
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
        if name == "ntk_change":
            cb.ax.axhline(eps, color="w", lw=1.5)
            if pd.x.values.size > 1 and pd.y.values.size > 1 and np.nanmin(z) < eps < np.nanmax(z):
                X, Y = np.meshgrid(pd.x.values, pd.y.values)
                ax.contour(X, Y, z, levels=[eps], colors="w", linewidths=1.6)
            ax.legend(handles=[Line2D([], [], color="w", lw=1.6, label=f"ε = {eps:g} (kernel threshold)")],
                      loc="lower right", facecolor="#444444", labelcolor="w", framealpha=0.8, fontsize=7)
        ax.set_title(f"{label} (median over seeds)\nfixed: {fixed}", fontsize=9)
        written += save(fig, out_dir / f"{prefix}_{name}")
    return written


# ---------------------------------------------------------------------- infinite width
def _exponent_panel(ax: Any, xs: np.ndarray, ys: np.ndarray, labels: np.ndarray, b: Any, *,
                    offset_y: float = 0.0, presets_at: Mapping[str, tuple[float, float]] | None = None) -> list[str]:
    """Cells, exact boundaries and presets of one exponent plane; returns the categories drawn."""
    import matplotlib.patheffects as pe
    from matplotlib.colors import BoundaryNorm, ListedColormap

    cats = [c for c in PALETTE if np.any(labels == c)]
    idx = np.full(labels.shape, np.nan)
    for i, c in enumerate(cats):
        idx[labels == c] = i
    cmap = ListedColormap([PALETTE[c] for c in cats] or ["#FFFFFF"])
    ax.pcolormesh(_edges(xs, False), _edges(ys, False) + offset_y, idx, cmap=cmap,
                  norm=BoundaryNorm(np.arange(-0.5, max(len(cats), 1) + 0.5), cmap.N), shading="flat", alpha=0.85)
    for line in b.lam:
        ax.plot(line[:, 0], line[:, 1] + offset_y, color="#333333", lw=0.8, ls=":", zorder=3)
    for line in b.output0:
        ax.plot(line[:, 0], line[:, 1] + offset_y, color="k", lw=1.6, zorder=3)
    outline = [pe.Stroke(linewidth=5.0, foreground="k"), pe.Normal()]
    for seg in b.learning:
        ax.plot(seg.xy[:, 0], seg.xy[:, 1] + offset_y, color=PALETTE[seg.category], lw=3.2, zorder=4,
                solid_capstyle="round", path_effects=outline)
        cats = cats + [seg.category] if seg.category not in cats else cats
    for p in b.feature_points:
        ax.plot(p.x, p.y + offset_y, "o", ms=10, color=PALETTE.get(p.category, "#0072B2"), mec="k", mew=1.2, zorder=5)
        cats = cats + [p.category] if p.category not in cats else cats
    points: dict[tuple[float, float], list[str]] = {}
    if presets_at is None:
        presets_at = {p.name: (p.x, p.y) for p in b.presets if p.on_plane}
    for name, (px, py) in presets_at.items():
        points.setdefault((round(px, 9), round(py, 9)), []).append(name)
    for (px, py), names in points.items():
        ax.plot(px, py + offset_y, marker="D", ms=6, mfc="w", mec="k", mew=1.2, ls="", zorder=6)
        ax.annotate(" / ".join(names), (px, py + offset_y), xytext=(6, 5), textcoords="offset points", fontsize=7,
                    zorder=7, bbox={"boxstyle": "round,pad=0.15", "fc": "w", "ec": "none", "alpha": 0.75})
    ax.set_xlim(_edges(xs, False)[[0, -1]])
    ax.set_ylim(_edges(ys, False)[[0, -1]] + offset_y)
    return cats


def plot_exponent_diagram(xname: str, xs: np.ndarray, yname: str, ys: np.ndarray, labels: np.ndarray,
                          out_base: str | Path, title: str = "", *, base: Any = None, boundaries: Any = None,
                          invariant: bool = True) -> list[Path]:
    """The infinite-width labels over two exponents of the width d, with the exact boundaries and
    the named presets; and (``invariant``) every preset in the plane of its invariants.

    Left: the cells are the analytic labels at the grid points; the lines are exact
    (:mod:`featmech.report.boundaries`): φ = 0 (black; the initial output diverges beyond it),
    δ = 0 (thick, coloured by its label: finite-time learning happens only there), ℓ = 0 (dotted),
    and the feature-learning points where they meet; the presets lying in the plane are white
    diamonds. Right: the plane of the invariants m (exponent of κ√(η_uη_w)) and n (exponent of N),
    where every preset sits at its own point.

    Arguments:
        xname, yname: the exponent axes (``kappa``, ``sigma2``, …).
        xs, ys: their values.
        labels: the category at each point, shape ``(len(ys), len(xs))``.
        out_base: the path without suffix.
        title: the left panel's title (default "Infinite-width regime (d → ∞)").
        base: the exponents the axes do not set (an :class:`~featmech.analysis.scaling.Exponents`;
            default all 0, as :func:`~featmech.analysis.scaling.exponent_diagram`).
        boundaries: the left plane's :class:`~featmech.report.boundaries.Boundaries`, if already computed.
        invariant: draw the invariant plane with every preset.

    Returns:
        The written PNG and SVG.
    """
    plt = _mpl()
    import matplotlib.patheffects as pe
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from featmech.analysis.scaling import PRESETS, exponent_grid
    from featmech.report.boundaries import (
        INVARIANT_AXES,
        INVARIANT_BASE,
        exponent_boundaries,
        invariant_point,
    )

    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    labels = np.asarray(labels).astype(str)
    ex, ey = _edges(xs, False), _edges(ys, False)
    b = boundaries or exponent_boundaries(xname, (ex[0], ex[-1]), yname, (ey[0], ey[-1]), base)
    ncols = 2 if invariant else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5.0 * ncols + 1.6, 4.3), squeeze=False)
    ax = axes[0, 0]
    cats = _exponent_panel(ax, xs, ys, labels, b)
    ax.set_xlabel(f"exponent of d in {_EXPONENT_SYMBOLS.get(xname, xname)}")
    ax.set_ylabel(f"exponent of d in {_EXPONENT_SYMBOLS.get(yname, yname)}")
    ax.set_title(title or "Infinite-width regime (d → ∞)", fontsize=9)
    if invariant:
        pts = {name: invariant_point(p.exponents) for name, p in PRESETS.items()}
        ms = np.array([m for m, _ in pts.values()])
        ns = np.array([n for _, n in pts.values()])
        m_vals = np.linspace(min(-1.5, ms.min() - 0.5), max(0.5, ms.max() + 0.5), 41)
        n_vals = np.linspace(min(-1.0, ns.min() - 0.5), max(2.5, ns.max() + 0.5), 41)
        # the invariant plane is the (κ, σ²) plane of a centered init with η = 1: m = κ exponent, n = 1 + σ² exponent
        inv_labels = exponent_grid(INVARIANT_AXES[0], m_vals, INVARIANT_AXES[1], n_vals - 1.0, INVARIANT_BASE)
        em, en = _edges(m_vals, False), _edges(n_vals - 1.0, False)
        bi = exponent_boundaries(INVARIANT_AXES[0], (em[0], em[-1]), INVARIANT_AXES[1], (en[0], en[-1]),
                                 INVARIANT_BASE, presets={})
        ax2 = axes[0, 1]
        cats2 = _exponent_panel(ax2, m_vals, n_vals - 1.0, inv_labels, bi, offset_y=1.0,
                                presets_at={k: (m, n - 1.0) for k, (m, n) in pts.items()})
        cats += [c for c in cats2 if c not in cats]
        ax2.set_xlabel("m: exponent of d in sκ = κ√(η_uη_w)")
        ax2.set_ylabel("n: exponent of d in N = max(dσ_u²/η_u, dσ_w²/η_w)")
        ax2.set_title("Every parametrization by its invariants\n(initial output not diverging)", fontsize=9)
    order = [c for c in PALETTE if c in cats]
    handles: list[Any] = [Patch(facecolor=PALETTE[c], edgecolor="k", lw=0.3, label=c) for c in order]
    handles += [Line2D([], [], color="#BBBBBB", lw=3.2, label="δ = 0: learning in finite time\n(coloured by its label)",
                       path_effects=[pe.Stroke(linewidth=5.0, foreground="k"), pe.Normal()]),
                Line2D([], [], color="k", lw=1.6, label="φ = 0: initial output Θ(1)"),
                Line2D([], [], color="#333333", lw=0.8, ls=":", label="ℓ = 0: λ = Θ(1)"),
                Line2D([], [], marker="o", ms=8, color="#0072B2", mec="k", ls="", label="feature-learning point"),
                Line2D([], [], marker="D", ms=6, mfc="w", mec="k", ls="", label="named preset")]
    axes[0, -1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=7)
    fig.tight_layout()
    return save(fig, out_base)


def plot_preset_slopes(report: Any, out_base: str | Path) -> list[Path]:
    """Each preset's metrics against the width, log–log, over its predicted power laws.

    Four panels (λ, the rate D, the initial output |f0|, the NTK change): points are the measured
    values (:attr:`~featmech.analysis.scaling.Verification.data`), lines the predicted exponent
    through the points' geometric mean. Values that are 0 (a centered init's output) or a
    predicted −∞ are not drawn.

    Arguments:
        report: a :class:`~featmech.analysis.scaling.PresetReport`.
        out_base: the path without suffix.

    Returns:
        The written PNG and SVG.
    """
    plt = _mpl()
    from featmech.analysis.scaling import QUANTITIES

    titles = {"lam": "λ = 4k/(κsN)", "rate": "rate D", "output0": "initial output |f0| (RMS)",
              "ntk_change": "NTK change max|K/K0 − 1|"}
    markers = ["o", "s", "^", "v", "D", "P", "*"]
    fig, axes = plt.subplots(2, 2, figsize=(8.6, 6.4))
    for ax, q in zip(axes.ravel(), QUANTITIES):
        for i, row in enumerate(report.rows):
            v = row.verification
            c = _SERIES[(i + 1) % len(_SERIES)]
            d = np.asarray(v.widths, dtype=float)
            y = np.asarray(v.data[q], dtype=float)
            ok = np.isfinite(y) & (y > 0)
            chk = next(ch for ch in v.checks if ch.quantity == q)
            mark = markers[i % len(markers)] if chk.agree else "X"
            if ok.sum():
                ax.plot(d[ok], y[ok], marker=mark, ls="", ms=8.0 - 0.9 * (i % len(markers)), mew=1.1,
                        mfc="none" if chk.agree else c, mec=c,
                        label=f"{row.name}: slope {num(chk.measured, 3)} (pred. {num(chk.predicted, 3)})")
                if np.isfinite(chk.predicted):
                    logc = np.mean(np.log10(y[ok]) - chk.predicted * np.log10(d[ok]))
                    ax.plot(d, 10 ** (logc + chk.predicted * np.log10(d)), color=c, lw=1.0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("width d")
        ax.set_title(titles.get(q, q), fontsize=9)
        ax.legend(frameon=False, fontsize=6)
    fig.suptitle("Presets: measured metrics (points; X: slope disagrees) and predicted power laws d^p (lines)",
                 fontsize=10)
    fig.tight_layout()
    return save(fig, out_base)


# ---------------------------------------------------------------------- trajectories (exact, GD)
def plot_trajectory(theory: Any, out_base: str | Path, *, sim: Any = None, lr: float | None = None,
                    title: str = "", label: str = "exact gradient flow", eps: float | None = None,
                    timescale: str | None = None) -> list[Path]:
    """Exact theory (lines) over simulated GD (points): loss, NTK change, alignment and layer norms.

    Arguments:
        theory: a :class:`featmech.theory.exact.State` (or a sequence of ``(State, label)`` pairs).
        out_base: the path without suffix.
        sim: a :class:`featmech.theory.simulate.SimResult`, drawn at times ``step · lr``.
        lr: the step of ``sim`` (both or neither).
        title: the figure title.
        label: the legend entry of a single ``theory``.
        eps: the kernel threshold ε (the band on the NTK panel; default that of
            :class:`~featmech.analysis.regimes.Thresholds`).
        timescale: ``"linear"`` or ``"log"`` (default: :func:`time_scale` of the first state).

    Returns:
        The written PNG and SVG.
    """
    plt = _mpl()
    eps = _default_eps() if eps is None else eps
    states: Sequence[tuple[Any, str]] = theory if isinstance(theory, (list, tuple)) else [(theory, label)]
    st0 = states[0][0]
    k0 = np.asarray(st0.ntk, dtype=float)[0]
    scale = timescale or time_scale(st0.t, st0.alignment, np.asarray(st0.ntk) / k0, np.log(st0.norm_u),
                                    np.log(st0.norm_w))
    log_t = scale == "log"
    fig, axes = plt.subplots(2, 2, figsize=(8.2, 5.8))
    (ax_loss, ax_ntk), (ax_z, ax_n) = axes
    lstyles = ["-", "--", ":", "-."]
    ntk_all = []
    for i, (st, lab) in enumerate(states):
        t = np.asarray(st.t, dtype=float)
        keep = t > 0 if log_t else np.ones_like(t, dtype=bool)
        c = _SERIES[(i + 6) % len(_SERIES)] if len(states) > 1 else LAYER_COLORS[0]
        ntk = np.asarray(st.ntk, dtype=float)
        dk = ntk / ntk[0] - 1
        ntk_all.append(dk)
        ax_loss.plot(t[keep], np.asarray(st.loss)[keep], color=c, lw=1.5, label=lab)
        ax_ntk.plot(t[keep], dk[keep], color=c, lw=1.5, label=lab)
        ax_z.plot(t[keep], np.asarray(st.alignment)[keep], color=c, lw=1.5, label=lab)
        suffix = f" {lab}" if len(states) > 1 else " (exact flow)"
        ax_n.plot(t[keep], np.asarray(st.norm_u)[keep], color=LAYER_COLORS[0], lw=1.5, ls=lstyles[i % 4],
                  label=f"|u|{suffix}")
        ax_n.plot(t[keep], np.asarray(st.norm_w)[keep], color=LAYER_COLORS[1], lw=1.5, ls=lstyles[(i + 1) % 4],
                  label=f"|w|{suffix}")
        if i == 0:
            max_dev = float(np.nanmax(np.abs(dk)))
    if sim is not None and lr is not None:
        ts = np.asarray(sim.step, dtype=float) * lr
        keep = ts > 0 if log_t else np.ones_like(ts, dtype=bool)
        if log_t and keep.sum() > 40:  # thin the recorded steps evenly in log time
            pick = np.unique(np.searchsorted(ts, np.geomspace(ts[keep][0], ts[-1], 40)).clip(0, ts.size - 1))
            keep = np.zeros_like(keep)
            keep[pick] = True
        gd = dict(ls="", ms=3.5, mfc="none", mew=0.9)
        ax_loss.plot(ts[keep], np.ravel(sim.loss)[keep], "o", color="k", label="GD (simulated)", **gd)
        sk = np.ravel(sim.ntk)
        ax_ntk.plot(ts[keep], (sk / sk[0] - 1)[keep], "o", color="k", label="GD (simulated)", **gd)
        ntk_all.append(sk / sk[0] - 1)
        ax_z.plot(ts[keep], np.ravel(sim.alignment)[keep], "o", color="k", label="GD (simulated)", **gd)
        ax_n.plot(ts[keep], np.ravel(sim.norm_u)[keep], "o", color=LAYER_COLORS[0], label="|u| GD", **gd)
        ax_n.plot(ts[keep], np.ravel(sim.norm_w)[keep], "s", color=LAYER_COLORS[1], label="|w| GD", **gd)
    _eps_band(ax_ntk, eps)
    ax_ntk.plot([], [], ls="", label=f"max|K/K0 − 1| = {num(max_dev)}")
    _ntk_limits(ax_ntk, np.concatenate([np.ravel(a) for a in ntk_all]), eps)
    ax_loss.set_yscale("log")
    norms = [np.asarray(s.norm_u) for s, _ in states] + [np.asarray(s.norm_w) for s, _ in states]
    if _log_ok(*norms):
        ax_n.set_yscale("log")
    ax_loss.set_ylabel("loss L = ½V(κu·w − k)²")
    ax_ntk.set_ylabel("NTK change K(t)/K(0) − 1,\nK = Vκ²(η_w|u|² + η_u|w|²)")
    ax_z.set_ylabel("alignment ζ = u·w/(|u||w|)")
    ax_n.set_ylabel("layer norms |u| (output), |w| (hidden)")
    for ax in axes.ravel():
        if log_t:
            ax.set_xscale("log")
        ax.set_xlabel("gradient-flow time t (GD: step × lr)" + (", log scale" if log_t else ""))
    ax_loss.legend(frameon=False, fontsize=7)
    ax_ntk.legend(frameon=False, fontsize=7, loc="best")
    ax_n.legend(frameon=False, fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, out_base)


# ---------------------------------------------------------------------- networks
def _default_eps() -> float:
    from featmech.analysis.regimes import Thresholds

    return float(Thresholds().eps)


def _eps_of(runs: Sequence[Mapping[str, Any]]) -> float:
    for r in runs:
        th = (r.get("classification") or {}).get("thresholds") if isinstance(r, Mapping) else None
        if th and "eps" in th:
            return float(th["eps"])
    return _default_eps()


def plot_activations(runs: Sequence[Mapping[str, Any]], out_base: str | Path, *, eps: float | None = None) -> list[Path]:
    """ζ(t) and the NTK change K(t)/K(0) − 1 of the two-layer net for every activation; the exact
    gradient flow dashed for ``linear``; the kernel band |K/K0 − 1| ≤ ε shaded.

    Arguments:
        runs: one run per activation (``ActivationRun.as_dict()``: ``activation, case, regime,
            mechanism, time, alignment, ntk``, optionally ``theory_alignment``, ``classification``,
            ``diverged``, ``converged``).
        out_base: the path without suffix.
        eps: the kernel threshold (default: the runs' classification thresholds, else the default ε).

    Returns:
        The written PNG and SVG.
    """
    plt = _mpl()
    eps = _eps_of(runs) if eps is None else eps
    fig, axes = plt.subplots(1, 2, figsize=(9.4, 3.8))
    series = []
    for r in runs:
        ntk = np.asarray(r["ntk"], dtype=float)
        series += [np.asarray(r["alignment"], dtype=float), ntk / ntk[0]]
    t_all = np.asarray(runs[0]["time"], dtype=float) if runs else np.zeros(0)
    log_t = time_scale(t_all, *series) == "log" if runs else False
    dks = []
    for i, r in enumerate(runs):
        c = _SERIES[i % len(_SERIES)]
        t = np.asarray(r["time"], dtype=float)
        keep = t > 0 if log_t else np.ones_like(t, dtype=bool)
        lab = f"{r['activation']} ({run_label(r)})"
        ls = ":" if run_status(r) is not None else "-"
        axes[0].plot(t[keep], np.asarray(r["alignment"], dtype=float)[keep], color=c, lw=1.6, ls=ls, label=lab)
        ntk = np.asarray(r["ntk"], dtype=float)
        dk = ntk / ntk[0] - 1
        dks.append(dk)
        axes[1].plot(t[keep], dk[keep], color=c, lw=1.6, ls=ls)
        if r.get("theory_alignment") is not None:
            axes[0].plot(t[keep], np.asarray(r["theory_alignment"], dtype=float)[keep], color="#777777", lw=1.0,
                         ls="--", label=f"{r['activation']}: exact gradient flow")
    _eps_band(axes[1], eps)
    _ntk_limits(axes[1], np.concatenate(dks) if dks else np.zeros(1), eps)
    for ax in axes:
        ax.set_xlabel("time t = step × lr" + (", log scale" if log_t else ""))
        if log_t:
            ax.set_xscale("log")
    axes[0].set_ylabel("alignment ζ = ‖W₂W₁‖/(‖W₂‖‖W₁‖) = |cos(u,w)|")
    axes[1].set_ylabel("NTK trace change K(t)/K(0) − 1")
    handles = [h for ax in axes for h in ax.get_legend_handles_labels()[0]]
    labels = [lab for ax in axes for lab in ax.get_legend_handles_labels()[1]]
    case = runs[0]["case"] if runs else ""
    fig.suptitle(f"Two-layer network f(x) = κ Σ u_i σ(w_i x), {case} case", fontsize=10)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False, fontsize=7)
    return save(fig, out_base)


def _marker(label: str) -> dict[str, Any]:
    base = _base(label)
    if base in STATUS_STYLE:
        st = STATUS_STYLE[base]
        return {"marker": st["marker"], "mfc": st["color"], "mec": "k", "color": "k"}
    return {"marker": "o", "mfc": _color(base), "mec": "k", "color": _color(base)}


def plot_sweep(rows: Sequence[Any], key: str, out_base: str | Path, xlabel: str, *,
               chance: float | None = None) -> list[Path]:
    """Test accuracy against a swept hyperparameter: the mean over seeds with min–max bars,
    coloured by the majority label over seeds (runs that did not train or converge drawn as such),
    and the chance level.

    Arguments:
        rows: one run per (value, seed) (``NetworkRun.as_dict()`` rows: ``key``, ``test_accuracy``,
            ``regime``, ``mechanism``, ``diverged``, and ``converged`` when the classification carries it).
        key: the swept hyperparameter (the x axis, logarithmic).
        out_base: the path without suffix.
        xlabel: the x-axis label.
        chance: the chance accuracy (1/classes), a dashed line.

    Returns:
        The written PNG and SVG.
    """
    plt = _mpl()
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(5.6, 3.9))
    groups = by_value(rows, key)
    xs = np.array([g["value"] for g in groups])
    means = np.array([g["accuracy"] for g in groups])
    ax.plot(xs, np.where(np.isfinite(means), means, np.nan), color="#444444", lw=1, zorder=1)
    shown: list[str] = []
    for g in groups:
        m = g["accuracy"] if np.isfinite(g["accuracy"]) else 0.0
        lo, hi = g["accuracy_min"], g["accuracy_max"]
        yerr = None if not (np.isfinite(lo) and g["n"] > 1) else [[m - lo], [hi - m]]
        ax.errorbar([g["value"]], [m], yerr=yerr, ls="", ms=8, mew=0.8, ecolor="#444444", capsize=3, zorder=3,
                    **_marker(g["label"]))
        if g["count"] < g["n"]:
            ax.annotate(f"{g['count']}/{g['n']}", (g["value"], m), xytext=(6, -10), textcoords="offset points",
                        fontsize=7)
        shown.append(g["label"])
    if chance is not None:
        ax.axhline(chance, color="#777777", ls="--", lw=1, zorder=0)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(-0.02, 1.02)
    handles = [Line2D([], [], ls="", ms=7, label=lab, **{k: v for k, v in _marker(lab).items() if k != "color"})
               for lab in dict.fromkeys(shown)]
    if chance is not None:
        handles.append(Line2D([], [], color="#777777", ls="--", label=f"chance ({chance:g})"))
    if any(g["n"] > 1 for g in groups):
        handles.append(Line2D([], [], color="#444444", marker="|", ls="", ms=10, label="min–max over seeds"))
    ax.legend(handles=handles, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return save(fig, out_base)


def _history(r: Any) -> Mapping[str, Any]:
    h = r.get("history") if isinstance(r, Mapping) else getattr(r, "history", None)
    if h is None:
        raise ValueError("the network trajectories need runs with their history (as_dict(history=True))")
    return h if isinstance(h, Mapping) else h.as_dict()


def plot_network_trajectories(rows: Sequence[Any], key: str, out_base: str | Path, *, name: str | None = None,
                              eps: float | None = None) -> list[Path]:
    """Per layer pair, over training: ζ, the norms of the pair's two layers relative to their
    initial value, and the NTK trace ratio (log scale, the band 1 ± ε shaded); one colour per swept
    value, the median over seeds with the min–max over seeds shaded.

    Arguments:
        rows: one run per (value, seed) with its history (``NetworkRun.as_dict()``: ``pairs`` and
            ``history`` with ``step, zeta, norms, ntk_step, ntk_trace``).
        key: the swept field (``scale``, ``lr_ratio``).
        out_base: the path without suffix.
        name: the swept quantity in words (default ``key``).
        eps: the kernel threshold ε (default that of :class:`~featmech.analysis.regimes.Thresholds`).

    Returns:
        The written PNG and SVG.

    Raises:
        ValueError: a run without its history.
    """
    plt = _mpl()
    eps = _default_eps() if eps is None else eps
    name = name or key
    groups = by_value(rows, key)
    first = groups[0]["runs"][0]
    pairs = [str(p["pair"] if isinstance(p, Mapping) else p.pair) for p in first["pairs"]]
    npairs = max(1, len(pairs))
    fig = plt.figure(figsize=(11.0, 2.7 * npairs + 0.6))
    gs = fig.add_gridspec(npairs, 3)
    colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, max(len(groups), 1)))
    ax_zs = [fig.add_subplot(gs[pi, 0]) for pi in range(npairs)]
    ax_ns = [fig.add_subplot(gs[pi, 1]) for pi in range(npairs)]
    ax_k = fig.add_subplot(gs[:, 2])
    all_steps = []
    norm_data: list[list[np.ndarray]] = [[] for _ in range(npairs)]
    ntk_data: list[np.ndarray] = []
    for gi, g in enumerate(groups):
        hs = [_history(r) for r in g["runs"]]
        steps = np.asarray(hs[0]["step"], dtype=float)
        all_steps.append(steps)
        c = colors[gi]
        lab = f"{g['value']:g}: {g['label']}"
        dash = ":" if _base(g["label"]) in STATUS_STYLE else "-"
        for pi in range(npairs):
            ax_z, ax_n = ax_zs[pi], ax_ns[pi]
            z = np.array([np.asarray(h["zeta"], dtype=float)[:, pi] for h in hs if len(h["step"]) == len(steps)])
            ax_z.plot(steps, np.median(z, axis=0), color=c, lw=1.5, ls=dash, label=lab if pi == 0 else None)
            if len(z) > 1:
                ax_z.fill_between(steps, z.min(axis=0), z.max(axis=0), color=c, alpha=0.2, lw=0)
            for li, ls in ((pi, "-"), (pi + 1, "--")):
                nrm = np.array([np.asarray(h["norms"], dtype=float)[:, li] for h in hs if len(h["step"]) == len(steps)])
                rel = nrm / nrm[:, :1]
                norm_data[pi].append(rel)
                ax_n.plot(steps, np.median(rel, axis=0), color=c, lw=1.3, ls=ls)
                if len(rel) > 1:
                    ax_n.fill_between(steps, rel.min(axis=0), rel.max(axis=0), color=c, alpha=0.15, lw=0)
            ax_z.set_ylabel(f"ζ of {pairs[pi] if pi < len(pairs) else 'pair'}")
            lower, upper = (pairs[pi].split("->") + ["", ""])[:2] if pi < len(pairs) else ("lower", "upper")
            ax_n.set_ylabel(f"‖W‖/‖W(0)‖: {lower} (solid),\n{upper} (dashed)", fontsize=8)
        ks = np.asarray(hs[0]["ntk_step"], dtype=float)
        kr = np.array([np.asarray(h["ntk_trace"], dtype=float) for h in hs if len(h["ntk_step"]) == len(ks)])
        ratio = kr / kr[:, :1]
        ntk_data.append(ratio)
        ax_k.plot(ks, np.median(ratio, axis=0), color=c, lw=1.6, ls=dash, label=lab)
        if len(ratio) > 1:
            ax_k.fill_between(ks, ratio.min(axis=0), ratio.max(axis=0), color=c, alpha=0.2, lw=0)
    _eps_band(ax_k, eps, ratio=True)
    for ax_n, data in zip(ax_ns, norm_data):
        if _log_ok(*data):
            ax_n.set_yscale("log")
    if _log_ok(*ntk_data):
        ax_k.set_yscale("log")
    ax_k.set_ylabel("NTK trace ratio tr K(t)/tr K(0) (probe batch)")
    steps_all = np.concatenate(all_steps) if all_steps else np.zeros(1)
    for ax in fig.axes:
        ax.set_xlabel("SGD step")
        ax.set_xlim(0, steps_all.max() if steps_all.size else 1)
    ax_k.legend(frameon=False, fontsize=7, loc="upper left", title=name, title_fontsize=7)
    fig.suptitle(f"Per layer pair over training, by {name} (median over seeds; shaded: min–max)", fontsize=10)
    fig.tight_layout()
    return save(fig, out_base)
