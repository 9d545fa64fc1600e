"""Figures, captions and the Markdown table of the evidence grid (:mod:`featmech.nets.evidence`).

Everything here reads the plain data of ``EvidenceResult.as_dict()`` (``{"config", "runs",
"verdicts"}``), so a saved ``evidence.json`` can be redrawn without torch. One figure per
(data set, architecture): a column per axis (init scale, η_out/η_hidden, width), rows for the NTK
change max_t |tr K_t/tr K_0 − 1|, the largest linearization gap and Δζ of each layer pair, every
seed's run drawn with the marker of its label (kernel, feature/<mechanism>, or the status of a run
that earned none) and the majority verdict over the seeds written above each value with its
agreement count. Captions state only what the rows contain.

>>> verdict_text({"verdict": "feature/alignment", "agreement": 2, "n_seeds": 3})
'feature/alignment (2/3)'
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from featmech.report.captions import num
from featmech.report.plots import _marker, _mpl, save

__all__ = ["AXIS_WORDS", "verdict_text", "evidence_caption", "plot_evidence", "evidence_markdown"]

#: axis -> (words for captions, x-axis label)
AXIS_WORDS = {"init_scale": ("init scale", "init scale s (weights ~ N(0, s²/fan-in))"),
              "lr_ratio": ("η_out/η_hidden", "learning-rate ratio η_out / η_hidden"),
              "width": ("width", "width (MLP hidden units / CNN channels)")}
_SHORT = {"kernel": "K", "feature/alignment": "A", "feature/disalignment": "D", "feature/rescaling": "R",
          "unstable": "U", "did not train": "–", "not converged": "nc"}
_ARCH_WORDS = {"mlp": "MLP (2 hidden layers, ReLU)", "conv1d": "1-D CNN (Conv1dNet)"}
_DATA_WORDS = {"digits": "digits (8×8)", "mnist1d": "MNIST-1D"}


def verdict_text(v: Mapping[str, Any]) -> str:
    """``"<majority label> (<agreement>/<seeds>)"`` of one verdict row."""
    return f"{v['verdict']} ({v['agreement']}/{v['n_seeds']})"


def _sel(rows: Sequence[Mapping[str, Any]], dataset: str, arch: str, axis: str | None = None) -> list[Mapping[str, Any]]:
    return [r for r in rows if r["dataset"] == dataset and r["arch"] == arch and (axis is None or r["axis"] == axis)]


def _combos(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((r["dataset"], r["arch"]) for r in data["verdicts"]))


def _axes(data: Mapping[str, Any], dataset: str, arch: str) -> list[str]:
    return list(dict.fromkeys(v["axis"] for v in _sel(data["verdicts"], dataset, arch)))


def _val(v: float) -> str:
    """An axis value as written: ``0.3``, ``128``, ``100``."""
    return f"{float(v):g}"


def evidence_caption(data: Mapping[str, Any], dataset: str, arch: str) -> str:
    """The caption of one (data set, architecture) figure, written from its verdict rows.

    Per axis: the majority verdict at each value with its agreement, whether it changes over the
    range (and from what to what), the range of the median NTK change and of the median largest
    gap, and the test accuracy range; then the base point and the sizes.
    """
    cfg = data["config"]
    vs = data["verdicts"]
    parts = [f"{_DATA_WORDS.get(dataset, dataset)}, {_ARCH_WORDS.get(arch, arch)}: diagnose verdicts over "
             f"{len(cfg['seeds'])} seed(s) per point (marker: each seed's label; text: the majority and its agreement)."]
    for ax in _axes(data, dataset, arch):
        rows = sorted(_sel(vs, dataset, arch, ax), key=lambda v: v["value"])
        words = AXIS_WORDS.get(ax, (ax, ax))[0]
        seq = "; ".join(f"{_val(v['value'])}: {verdict_text(v)}" for v in rows)
        distinct = [v["verdict"] for i, v in enumerate(rows) if i == 0 or v["verdict"] != rows[i - 1]["verdict"]]
        if len(distinct) == 1:
            change = f"the outcome does not change over {words} {_val(rows[0]['value'])}–{_val(rows[-1]['value'])}"
        else:
            change = "the outcome changes: " + " → ".join(distinct) + f" as {words} grows"
        ntk = [v["ntk_change_median"] for v in rows]
        gap = [v["max_gap_median"] for v in rows]
        bal = [v.get("balance_pair2_median", math.nan) for v in rows]
        acc_lo = min(v["test_accuracy_min"] for v in rows)
        acc_hi = max(v["test_accuracy_max"] for v in rows)
        head = words[0].upper() + words[1:] if words[0].isascii() else words
        parts.append(f"{head} ({seq}): {change}. Median NTK change {num(min(ntk))}–{num(max(ntk))}, "
                     f"median largest linearization gap {num(min(gap))}–{num(max(gap))}, "
                     + (f"median balance change of pair 2 ×{num(min(bal), 3)}–×{num(max(bal), 3)}, "
                        if all(math.isfinite(b) for b in bal) else "")
                     + "test accuracy "
                     f"{num(acc_lo)}–{num(acc_hi)}.")
    kern = sum(1 for r in _sel(data["runs"], dataset, arch) if r["label"] == "kernel")
    if kern == 0:
        parts.append("No run is in the kernel regime (every converged run moved its NTK trace by more than ε or "
                     "left its linearization by more than the gap threshold).")
    base = (f"Base point: init scale {num(cfg['init_scale'])}, η_out/η_hidden {num(cfg['lr_ratio'])}, width "
            f"{cfg['width'][arch] if isinstance(cfg['width'], dict) else cfg['width']}; {cfg['n_train']} training examples, {cfg['steps']} SGD steps of batch "
            f"{cfg['batch_size']} at lr {num(cfg['lr'][arch])}, cross-entropy.")
    parts.append(base)
    return " ".join(parts)


def plot_evidence(data: Mapping[str, Any], out_dir: str | Path, *, prefix: str = "evidence") -> list[tuple[Path, str]]:
    """One figure per (data set, architecture) of ``data`` (``EvidenceResult.as_dict()``).

    Columns: the axes; rows: NTK change max_t |tr K_t/tr K_0 − 1| (log scale, ε dashed), the
    largest linearization gap (threshold dashed), Δζ = ζ_T − ζ_0 of pair 1 and pair 2 (±δ dashed),
    the factor by which each pair's balance changed (log scale, F and 1/F dotted); x logarithmic. Every seed's run is a marker of its label's style (Δζ: of its pair); the majority
    verdict and its agreement are written above the top row (A alignment, D disalignment, R rescaling, K kernel,
    – did not train, nc not converged, U unstable).

    Arguments:
        data: the result as plain data.
        out_dir: the folder of the figures (``<prefix>_<dataset>_<arch>.png`` and ``.svg``).
        prefix: the file-name prefix.

    Returns:
        ``(png path, caption)`` per figure.
    """
    plt = _mpl()
    from matplotlib.lines import Line2D

    out = Path(out_dir)
    from featmech.nets.verdict import VerdictThresholds  # no torch: the verdict rule's default thresholds

    t = VerdictThresholds()
    th = {"eps": t.eps, "gap": t.gap, "delta": t.delta, "factor": t.factor}
    figs: list[tuple[Path, str]] = []
    for dataset, arch in _combos(data):
        axes_names = _axes(data, dataset, arch)
        fig, axs = plt.subplots(4, len(axes_names), figsize=(3.3 * len(axes_names) + 2.6, 9.2), squeeze=False,
                                sharey="row")
        seen: list[str] = []
        for j, axname in enumerate(axes_names):
            runs = _sel(data["runs"], dataset, arch, axname)
            verdicts = sorted(_sel(data["verdicts"], dataset, arch, axname), key=lambda v: v["value"])
            xs = np.array([v["value"] for v in verdicts], dtype=float)
            for i, (key, ylabel) in enumerate((("ntk_change", "NTK change max|trK/trK₀ − 1|"),
                                               ("max_linearization_gap", "largest linearization gap"),
                                               ("dzeta", "Δζ = ζ_T − ζ₀ per pair"),
                                               ("balance", "balance change per pair"))):
                ax = axs[i, j]
                if key in ("dzeta", "balance"):
                    for p, (col, off, mk) in enumerate((("#0072B2", 0.95, "o"), ("#D55E00", 1.05, "s")), start=1):
                        col_name = f"{key}_pair{p}"
                        agg = np.mean if key == "dzeta" else np.median
                        mean = [agg([r[col_name] for r in runs if r["value"] == x]) for x in xs]
                        ax.plot(xs * off, mean, color=col, lw=1.2)
                        ax.plot([r["value"] * off for r in runs], [r[col_name] for r in runs], ls="",
                                marker=mk, ms=4.5, mfc=col, mec="k", mew=0.5, alpha=0.85)
                    if key == "dzeta":
                        for s in (-1, 1):
                            ax.axhline(s * th["delta"], color="#777777", ls="--", lw=0.8)
                        ax.axhline(0, color="#BBBBBB", lw=0.6)
                    else:
                        ax.set_yscale("log")
                        for f in (th["factor"], 1 / th["factor"]):
                            ax.axhline(f, color="#777777", ls=":", lw=0.8)
                        ax.axhline(1, color="#BBBBBB", lw=0.6)
                else:
                    med = [np.median([r[key] for r in runs if r["value"] == x]) for x in xs]
                    ax.plot(xs, med, color="#444444", lw=1.0, zorder=1)
                    for r in runs:
                        ax.plot([r["value"]], [r[key] if np.isfinite(r[key]) else np.nan], ls="", ms=6, alpha=0.85,
                                zorder=3, **{k: v for k, v in _marker(r["label"]).items() if k != "color"})
                        seen.append(r["label"])
                    ax.axhline(th["eps"] if key == "ntk_change" else th["gap"], color="#777777", ls="--", lw=0.8)
                    if key == "ntk_change":
                        ax.set_yscale("log")
                ax.set_xscale("log")
                ax.set_xticks(xs, [_val(x) for x in xs])
                ax.minorticks_off()
                if j == 0:
                    ax.set_ylabel(ylabel)
                if i == 3:
                    ax.set_xlabel(AXIS_WORDS.get(axname, (axname, axname))[1], fontsize=8)
            top = axs[0, j]
            top.set_title("  ".join(f"{_val(v['value'])}: {_SHORT.get(v['verdict'], v['verdict'])} "
                                    f"{v['agreement']}/{v['n_seeds']}" for v in verdicts), fontsize=8)
            for x in xs:
                top.axvline(x, color="#EEEEEE", lw=0.6, zorder=0)
        handles = [Line2D([], [], ls="", ms=7, label=lab, **{k: v for k, v in _marker(lab).items() if k != "color"})
                   for lab in dict.fromkeys(seen)]
        handles += [Line2D([], [], color="#0072B2", marker="o", mfc="#0072B2", mec="k",
                           label="pair 1 (seeds; line: mean Δζ,\nmedian balance)"),
                    Line2D([], [], color="#D55E00", marker="s", mfc="#D55E00", mec="k",
                           label="pair 2 (ends at the output)"),
                    Line2D([], [], color="#444444", label="median over seeds"),
                    Line2D([], [], color="#777777", ls="--", label=f"ε = {num(th['eps'])}, gap {num(th['gap'])}, ±δ = {num(th['delta'])}"),
                    Line2D([], [], color="#777777", ls=":", label=f"balance F = {num(th['factor'])}, 1/F")]
        fig.legend(handles=handles, loc="center right", frameon=False, fontsize=7)
        fig.suptitle(f"{_DATA_WORDS.get(dataset, dataset)}, {_ARCH_WORDS.get(arch, arch)}: verdicts above each column\n"
                     "(value: majority verdict, seeds agreeing/seeds; A alignment, D disalignment, R rescaling, K kernel, "
                     "U unstable, – did not train, nc not converged)", fontsize=9)
        fig.tight_layout(rect=(0, 0, 1 - 2.5 / (3.3 * len(axes_names) + 2.6), 0.95))
        paths = save(fig, out / f"{prefix}_{dataset}_{arch}")
        figs.append((paths[0], evidence_caption(data, dataset, arch)))
    return figs


def _cell(x: float, digits: int = 2) -> str:
    return num(x, digits) if math.isfinite(float(x)) else "n/a"


def evidence_markdown(data: Mapping[str, Any]) -> str:
    """The verdict rows as a Markdown table (one table per data set and architecture)."""
    out = []
    for dataset, arch in _combos(data):
        out.append(f"**{_DATA_WORDS.get(dataset, dataset)}, {_ARCH_WORDS.get(arch, arch)}**\n")
        out.append("| axis | value | verdict (seeds agreeing) | test accuracy mean (min–max) | NTK change (median) "
                   "| largest gap (median) | Δζ pair 1, pair 2 (mean) | balance change pair 1, pair 2 (median) |")
        out.append("|---|---|---|---|---|---|---|---|")
        for v in _sel(data["verdicts"], dataset, arch):
            out.append(f"| {AXIS_WORDS.get(v['axis'], (v['axis'],))[0]} | {_val(v['value'])} | {verdict_text(v)} | "
                       f"{v['test_accuracy_mean']:.2f} ({v['test_accuracy_min']:.2f}–{v['test_accuracy_max']:.2f}) | "
                       f"{_cell(v['ntk_change_median'])} | {_cell(v['max_gap_median'])} | "
                       f"{v['dzeta_pair1_mean']:+.2f}, {v['dzeta_pair2_mean']:+.2f} | "
                       f"×{_cell(v['balance_pair1_median'], 3)}, ×{_cell(v['balance_pair2_median'], 3)} |")
        out.append("")
    return "\n".join(out)
