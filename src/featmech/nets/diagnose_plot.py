"""The figure of a :class:`featmech.nets.diagnose.Diagnosis` (matplotlib; no torch needed).

Six panels over training steps: the loss (network and linearized model, train and test), the
alignment ζ of each pair of consecutive layers, each layer's weight norm relative to
initialization, the NTK ratio tr K_t / tr K_0 with the kernel band 1 ± ε shaded, the kernel
distance from initialization, and the linearization gap with its threshold. The title states
the verdict; a run that did not converge is named so, never given a regime.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["plot_diagnosis", "PANELS"]

#: the panel titles, in order
PANELS = ("loss", "alignment ζ between consecutive layers", "weight norm / initial",
          "NTK ratio tr K / tr K₀", "kernel distance from init", "linearization gap")


def _title(d: Any) -> str:
    v = d.verdict
    if v.regime.value == "undetermined":
        head = f"No label: the run {v.status.value}"
    elif v.regime.value == "unstable":
        head = ("Unstable: training diverged" if v.status.value == "diverged"
                else "Unstable: the loss oscillates at the edge of stability")
    else:
        head = f"Verdict: {v.label}"
    gap = "not checked" if math.isnan(v.max_linearization_gap) else f"{v.max_linearization_gap:.3g}"
    return f"{head}  (NTK change {v.ntk_change:.3g}, largest linearization gap {gap})"


def plot_diagnosis(d: Any, *, figsize: tuple[float, float] = (13.0, 7.0)) -> Any:
    """Draw the six panels of a diagnosis (module docstring).

    Arguments:
        d: a :class:`~featmech.nets.diagnose.Diagnosis`.
        figsize: the figure size in inches.

    Returns:
        The matplotlib ``Figure`` (its axes titled as :data:`PANELS`).
    """
    from matplotlib.figure import Figure

    a, c, v = d.arrays, d.config, d.verdict
    th = v.thresholds
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(2, 3)
    ax = axes.ravel()
    st, ns = a["step"], a["ntk_step"]

    def line(axis: Any, x: Any, y: Any, **kw: Any) -> bool:
        y = np.asarray(y, dtype=float)
        if np.isfinite(y).any():
            axis.plot(x, y, **kw)
            return True
        return False

    drawn = False
    for key, lab, style in (("train_loss", "network, train", "-"), ("lin_train_loss", "linearized, train", "--"),
                            ("test_loss", "network, test", ":"), ("lin_test_loss", "linearized, test", "-.")):
        drawn |= line(ax[0], st, a[key], ls=style, label=lab)
    if not drawn and a["batch_loss"].size:
        drawn |= line(ax[0], np.arange(a["batch_loss"].size), a["batch_loss"], label="training loss")
    if drawn:
        y = np.concatenate([np.asarray(a[k], float) for k in ("train_loss", "lin_train_loss", "test_loss",
                                                                 "lin_test_loss", "batch_loss")])
        if np.all(y[np.isfinite(y)] > 0):
            ax[0].set_yscale("log")
        ax[0].legend(fontsize=8)
    for j, name in enumerate(c["pairs"]):
        line(ax[1], st, a["zeta"][:, j], label=name)
    if c["pairs"]:
        ax[1].legend(fontsize=8)
    for i, name in enumerate(c["layers"]):
        col = a["norms"][:, i]
        ok = np.isfinite(col)
        if ok.any() and col[ok][0] > 0:
            line(ax[2], st, col / col[ok][0], label=name)
    ax[2].legend(fontsize=8)
    tr = a["ntk_trace"]
    ok = np.isfinite(tr)
    ax[3].axhspan(1 - th.eps, 1 + th.eps, color="tab:green", alpha=0.15, label=f"kernel band 1 ± ε (ε = {th.eps:g})")
    if ok.any() and tr[ok][0] > 0:
        line(ax[3], ns, tr / tr[ok][0], marker="o", ms=3, color="k", label="tr K / tr K₀")
    ax[3].legend(fontsize=8)
    line(ax[4], ns, a["kernel_distance"], marker="o", ms=3, color="tab:purple")
    gap = a["linearization_gap"]
    if np.isfinite(gap).any():
        ax[5].axhspan(0, th.gap, color="tab:green", alpha=0.15, label=f"kernel: gap ≤ {th.gap:g}")
        line(ax[5], ns, gap, marker="o", ms=3, color="tab:red", label="‖f − f_lin‖ / max‖Δf‖")
        ax[5].legend(fontsize=8)
    else:
        ax[5].text(0.5, 0.5, "not checked\n(no linearized model)", ha="center", va="center",
                   transform=ax[5].transAxes)
    for axis, title in zip(ax, PANELS):
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("step")
    fig.suptitle(_title(d), fontsize=12)
    return fig
