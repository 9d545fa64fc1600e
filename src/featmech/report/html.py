"""``featmech reproduce``: every result of the paper regenerated into one self-contained HTML report.

Sections: the five canonical cases (exact flow over simulated GD), finite-width phase diagrams,
the infinite-width exponent diagram with its numeric verification, the activations experiment,
the digits experiments and the evidence grid on digits and MNIST-1D read by ``diagnose``
(:mod:`featmech.nets.evidence`; these three need the torch extra and are skipped with a note
without it), and the two-layer linear network on digits and MNIST-1D (exact at any width).
Figures are embedded as base64 PNGs; every string that reaches the HTML is escaped;
the data behind every figure is written next to the report, through :class:`featmech.tables.Table`
(the one writer of CSV and JSON). Every caption sentence that states a result is generated from
the data of its figure (:mod:`featmech.report.captions`): a run that did not train or did not
converge is captioned so, and the exponent diagram's caption says what its grid does and does
not contain.
"""

from __future__ import annotations

import base64
import html
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from featmech import __version__
from featmech.errors import InputError
from featmech.tables import Table, format_number

if TYPE_CHECKING:
    from featmech.analysis.canonical import CanonicalReport

__all__ = ["SECTIONS", "Section", "canonical_figures", "render_html", "reproduce"]

SECTIONS = ("canonical", "phase", "scaling", "activations", "digits", "evidence", "linear")


@dataclass
class Section:
    """One section of the report.

    Attributes:
        title, intro, note: text (escaped when rendered).
        figures: ``(png, caption)`` pairs, embedded in order.
        tables: ``(caption, table)`` pairs; the table's column names are the header, its cells are
            shown with :func:`featmech.tables.format_number` (strings as they are).
        files: the data files written for the section (``.csv``/``.json`` ones are listed).
        seconds: how long the section took.
    """

    title: str
    intro: str = ""
    figures: list[tuple[Path, str]] = field(default_factory=list)
    tables: list[tuple[str, Table]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""


def _save(path: Path, obj: Any) -> Path:
    """Write a JSON object (nested data, not one tidy table) through :class:`Table`."""
    return Table({}, extra=obj).write(path, "json")


def _start_time(state: Any) -> float:
    """A tenth of the first time at which ζ, the NTK or a norm has made 1 % of its total change."""
    t = np.asarray(state.t, dtype=float)
    first = t[-1]
    for s in (state.alignment, np.asarray(state.ntk) / np.asarray(state.ntk)[0], np.log(state.norm_u),
              np.log(state.norm_w)):
        s = np.asarray(s, dtype=float)
        ok = np.isfinite(s) & (t > 0)
        if ok.sum() < 2:
            continue
        ch = np.abs(s[ok] - s[0])
        if ch.max() > 1e-12:
            first = min(first, float(t[ok][np.argmax(ch >= 0.01 * ch.max())]))
    return max(first / 10.0, t[-1] * 1e-9)


def canonical_figures(out: Path, seed: int = 0, *,
                      report: CanonicalReport | None = None) -> tuple[list[Path], list[dict[str, Any]]]:
    """Per canonical case: exact gradient flow (lines) over width-free GD at a small step (points).

    GD runs for 1.5 convergence times at a step of 0.05/max(K(0), K(∞)) (at most 20 000 steps).
    Time is logarithmic where the action is early (:func:`featmech.report.plots.time_scale`).

    Arguments:
        out: the directory of the figures (created if missing).
        seed: the seed of the random inits (when ``report`` is not given).
        report: the cases already solved (:func:`featmech.analysis.canonical.run_canonical`).

    Returns:
        The written files (PNG and SVG per case) and one row per case: ``case``, the GD step
        ``lr``, ``steps``, ``gd_vs_flow_max_alignment_gap`` (the largest gap between the alignment
        of GD and of the exact flow at the recorded steps), ``time_scale`` and ``caption`` (the
        figure's caption, from :func:`featmech.report.captions.canonical_caption`).
    """
    from featmech.analysis.canonical import run_canonical
    from featmech.report.captions import canonical_caption, run_label
    from featmech.report.plots import plot_trajectory, time_scale
    from featmech.theory.optim import Optimizer, Record
    from featmech.theory.simulate import simulate

    report = report if report is not None else run_canonical(seed)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    rows = []
    for row in report.rows:
        sol, cl = row.solution, row.classification
        tc = float(sol.convergence_time(1e-3))
        kmax = max(float(sol(0.0).ntk), float(sol(np.inf).ntk))
        lr = 0.05 / kmax
        steps = int(min(max(math.ceil(1.5 * tc / lr), 10), 20_000))
        lr = 1.5 * tc / steps if steps == 20_000 else lr
        t_end = steps * lr
        probe = sol(np.concatenate([[0.0], np.geomspace(t_end * 1e-9, t_end, 800)]))
        scale = time_scale(probe.t, probe.alignment, np.asarray(probe.ntk) / float(probe.ntk[0]),
                           np.log(probe.norm_u), np.log(probe.norm_w))
        if scale == "log":
            times = np.concatenate([[0.0], np.geomspace(_start_time(probe), t_end, 400)])
            record = Record(every=1)
        else:
            times = np.linspace(0.0, t_end, 400)
            record = Record(every=max(1, steps // 40))
        res = simulate(sol.gram, sol.hyper, Optimizer(lr=lr), steps, record)
        st = sol(times)
        files += plot_trajectory(st, out / f"canonical_{row.name}", sim=res, lr=lr, eps=cl.thresholds.eps,
                                 timescale=scale, title=f"{row.name}: {run_label(cl)} (GD lr = {lr:.3g})")
        gd_at = sol(res.step * lr)
        gap = float(np.max(np.abs(res.alignment - gd_at.alignment)))
        rows.append({"case": row.name, "lr": lr, "steps": steps, "gd_vs_flow_max_alignment_gap": gap,
                     "time_scale": scale, "caption": canonical_caption(row, gap)})
    return files, rows


def _sec_canonical(out: Path, quick: bool) -> Section:
    from featmech.analysis.canonical import run_canonical
    from featmech.report.captions import run_label

    report = run_canonical()
    files, gd = canonical_figures(out / "canonical", report=report)
    t = report.table()
    data = Table({**t.columns, **{k: [r[k] for r in gd] for k in ("lr", "steps", "gd_vs_flow_max_alignment_gap")}},
                 t.scalars, t.extra)
    rows = [dict(zip(data.columns, r)) for r in data.rows()]
    for r, row in zip(rows, report.rows):
        r["label"] = run_label(row.classification)
    s = Section("1. The five canonical cases (theory §5)",
                "Each case is solved exactly (closed form, lines) and trained with width-free gradient descent at a "
                "small step (points); the label is decided by the rule of theory §5 on the exact trajectory.")
    s.tables.append(("Regime and mechanism of each canonical case, with the numbers they were decided on.",
                     _display(rows, [("case", "case", "{}"), ("expected", "expected", "{}"), ("label", "label", "{}"),
                                     ("max|K/K0−1|", "ntk_max_deviation", "{:.3g}"),
                                     ("ζ start", "alignment_start", "{:.3f}"), ("ζ end", "alignment_end", "{:.3f}"),
                                     ("balance ×", "balance_change", "{:.3g}"),
                                     ("max |ζ_GD − ζ_flow|", "gd_vs_flow_max_alignment_gap", "{:.1e}")])))
    agree = report.all_agree
    s.note = ("All five cases come out as the theory (§5) states." if agree else
              "Some cases do not come out as the theory (§5) states: " +
              ", ".join(f"{r.name} ({run_label(r.classification)}, expected {r.case.category})"
                        for r in report.rows if not r.agrees) + ".")
    for r in gd:
        s.figures.append((out / "canonical" / f"canonical_{r['case']}.png", r["caption"]))
    s.files += files
    s.files.append(data.write(out / "canonical" / "canonical.json"))
    return s


def _sec_phase(out: Path, quick: bool) -> Section:
    from featmech.analysis.phase import phase_diagram
    from featmech.report.captions import (
        convergence_time_caption,
        ntk_change_caption,
        phase_caption,
    )
    from featmech.report.plots import plot_phase

    n = 24 if quick else 60
    seeds = 2 if quick else 3
    s = Section("2. Finite-width phase diagrams",
                f"Each grid point ({n}×{n}, {seeds} seeds) is an exact Gram sample solved in closed form and "
                "classified; colours are the majority label over seeds. Solid line: λ = k/g = 1; dashed: λ = 0.1, 10 "
                "(theory §4: at large width λ = 4k/(κsN)).")
    d = out / "phase"
    specs = [
        ("width_kappa", f"width=1e1:1e6:log:{n}", f"kappa=1e-7:1:log:{n}", {},
         "Width × output scale (σ = η = 1, k = 1)"),
        ("sigmaw_etaratio", f"sigma_w=1e-3:1:log:{n}", f"eta_ratio=1e-3:1e3:log:{n}", {"width": 10000, "kappa": 1e-4},
         "Hidden-layer init scale × learning-rate ratio η_u/η_w (d = 1e4, κ = 1e−4, σ_u = 1)"),
        ("rho_target", f"rho=-0.95:0.95:linear:{n}", f"target=1e-3:10:log:{n}", {"width": 1000, "kappa": 1e-3},
         "Init correlation × target (d = 1000, κ = 1e−3, σ = η = 1)"),
    ]
    for name, x, y, fixed, setup in specs:
        pd = phase_diagram(x, y, fixed, seeds=seeds)
        files = plot_phase(pd, d, prefix=name)
        s.files.append(pd.table().write(d / f"{name}.csv"))
        s.files += files
        s.figures.append((d / f"{name}_regime.png", phase_caption(pd, setup)))
        if name == "width_kappa":
            s.figures.append((d / f"{name}_ntk_change.png", ntk_change_caption(pd)))
            s.figures.append((d / f"{name}_convergence_time.png", convergence_time_caption(pd)))
    return s


def _sec_scaling(out: Path, quick: bool) -> Section:
    from featmech.analysis.scaling import PRESETS, exponent_diagram, verify_presets
    from featmech.report.boundaries import exponent_boundaries
    from featmech.report.captions import exponent_caption, num, slopes_caption
    from featmech.report.plots import plot_exponent_diagram, plot_preset_slopes

    d = out / "scaling"
    d.mkdir(parents=True, exist_ok=True)
    s = Section("3. Infinite width: the exponent diagram and its numeric verification",
                "Hyperparameters as powers of the width d. The analytic label (theory §4) is checked by fitting the "
                "slopes of λ, the rate D, the initial output and the NTK change against log d on exact solutions at "
                "d = 1e2 … 1e12.")
    verified = verify_presets(seeds=8 if quick else 16)
    presets = Table({
        "preset": [r.name for r in verified.rows],
        "parametrization": [r.preset.description for r in verified.rows],
        "published": [r.preset.published for r in verified.rows],
        "predicted": [r.predicted for r in verified.rows],
        "measured": [r.measured for r in verified.rows],
        "slopes_agree": ["yes" if r.verification.all_agree else "no" for r in verified.rows],
        "slopes": [", ".join(f"{c.quantity} {num(c.measured, 3)} (pred. {num(c.predicted, 3)})"
                             for c in r.verification.checks)
                   for r in verified.rows],
    })
    s.tables.append(("Presets: published, predicted and measured regimes; the measured slopes of log(metric) against "
                     "log d next to the predicted exponents.",
                     Table({k.replace("_", " "): v for k, v in presets.columns.items()})))
    s.files.append(presets.write(d / "presets.csv"))
    s.files += plot_preset_slopes(verified, d / "preset_slopes")
    s.figures.append((d / "preset_slopes.png", slopes_caption(verified)))
    nx = 41 if not quick else 21
    base = PRESETS["mean-field"].exponents
    dia = exponent_diagram(f"kappa=-1.5:0.5:{nx}", f"eta=-1:2:{nx}", base=base)
    title = "σ² = d^0 (σ = 1): exponents of κ and η (both layers)"
    xs, ys = dia.x.values, dia.y.values
    hx, hy = (xs[1] - xs[0]) / 2, (ys[1] - ys[0]) / 2
    bounds = exponent_boundaries(dia.x.name, (xs[0] - hx, xs[-1] + hx), dia.y.name, (ys[0] - hy, ys[-1] + hy),
                                 dia.base)
    s.files += plot_exponent_diagram(dia.x.name, xs, dia.y.name, ys, dia.labels, d / "exponent_kappa_eta",
                                     title=title, base=dia.base, boundaries=bounds)
    s.files.append(_save(d / "exponent_kappa_eta.json", dia.as_dict()))
    s.figures.append((d / "exponent_kappa_eta.png", exponent_caption(dia.labels, bounds, invariant=True, title=title)))
    return s


def _sec_activations(out: Path, quick: bool) -> Section:
    from featmech.nets.experiments import activations_experiment
    from featmech.report.captions import (
        activations_caption,
        activations_table_note,
        run_label,
    )
    from featmech.report.plots import plot_activations

    d = out / "activations"
    d.mkdir(parents=True, exist_ok=True)
    s = Section("4. Beyond the linear model: the two-layer network with nonlinear activations",
                "f(x) = κ Σ u_i σ(w_i x) on 1-D data, trained by full-batch GD, monitored with the MechanismMonitor. "
                "For the linear activation the exact gradient flow from the same initialization is overlaid.")
    rows = []
    all_runs = []
    for case in ("alignment", "disalignment"):
        result = activations_experiment(case, quick=quick)
        runs = [r.as_dict() for r in result]
        all_runs += runs
        s.files.append(_save(d / f"activations_{case}.json", result.as_dict()))
        s.files += plot_activations(runs, d / f"activations_{case}")
        s.figures.append((d / f"activations_{case}.png", activations_caption(case, runs)))
        rows += [{"case": case, "activation": r["activation"], "label": run_label(r), **r["classification"]}
                 for r in runs]
    note = activations_table_note(all_runs)
    s.tables.append(("Labels per activation." + (f" {note}" if note else ""),
                     _display(rows, [("case", "case", "{}"), ("activation", "activation", "{}"),
                                     ("label", "label", "{}"),
                                     ("ζ start", "alignment_start", "{:.3f}"), ("ζ end", "alignment_end", "{:.3f}"),
                                     ("max|K/K0−1|", "ntk_max_deviation", "{:.3g}")])))
    return s


def _sec_digits(out: Path, quick: bool) -> Section:
    from featmech.data import load_dataset
    from featmech.nets.experiments import init_scale_experiment, lr_ratio_experiment
    from featmech.report.captions import (
        network_trajectories_caption,
        run_label,
        sweep_caption,
    )
    from featmech.report.plots import plot_network_trajectories, plot_sweep

    d = out / "digits"
    d.mkdir(parents=True, exist_ok=True)
    chance = 1.0 / load_dataset("digits").n_classes
    s = Section("5. Real data: an MLP on handwritten digits",
                "scikit-learn's bundled digits (8×8), MLP with ReLU, cross-entropy, SGD (batch 128); the monitor "
                "records ζ per consecutive layer pair, the layer norms and the NTK on a probe batch.")
    seeds = (0,) if quick else (0, 1, 2)
    sweeps = [("init_scale", "scale", "init scale", "init scale (weights ~ N(0, scale²/fan-in))",
               lambda: init_scale_experiment((0.1, 1.0, 10.0) if quick else (0.1, 0.3, 1.0, 3.0, 10.0), seeds=seeds,
                                             quick=quick)),
              ("lr_ratio", "lr_ratio", "learning-rate ratio η_out/η_hidden", "learning-rate ratio η_out / η_hidden",
               lambda: lr_ratio_experiment((0.01, 1.0, 100.0) if quick else (0.01, 0.1, 1.0, 10.0, 100.0), seeds=seeds,
                                           quick=quick))]
    for fname, key, words, xlabel, run in sweeps:
        result = run()
        rows = result.as_dict()["rows"]
        s.files.append(_save(d / f"{fname}.json", {"rows": rows}))
        s.files += plot_sweep(rows, key, d / fname, xlabel, chance=chance)
        s.figures.append((d / f"{fname}.png", sweep_caption(rows, key, words, chance)))
        s.files += plot_network_trajectories(rows, key, d / f"{fname}_trajectories", name=words)
        s.figures.append((d / f"{fname}_trajectories.png",
                          network_trajectories_caption(rows, key, words)))
        table_rows = [{"per_pair": "; ".join(f"{p['pair']}: ζ {p['alignment_start']:.2f}→{p['alignment_end']:.2f}"
                                             for p in r["pairs"]), "label": run_label(r),
                       "loss_text": "n/a" if r["final_loss"] is None else f"{r['final_loss']:.3g}", **r} for r in rows]
        s.tables.append((f"{words.capitalize()} sweep (chance accuracy {chance:.2g}).",
                         _display(table_rows, [(key.replace("_", " "), key, "{:g}"), ("seed", "seed", "{}"),
                                               ("test acc.", "test_accuracy", "{:.3f}"),
                                               ("final loss", "loss_text", "{}"),
                                               ("NTK ratio", "ntk_ratio", "{:.3g}"),
                                               ("kernel dist.", "kernel_distance", "{:.3g}"), ("label", "label", "{}"),
                                               ("per pair", "per_pair", "{}")])))
    return s


def _sec_evidence(out: Path, quick: bool) -> Section:
    from featmech.nets.evidence import EvidenceConfig, run_evidence
    from featmech.report.evidence_plots import AXIS_WORDS, plot_evidence, verdict_text

    d = out / "evidence"
    d.mkdir(parents=True, exist_ok=True)
    if quick:
        cfg = EvidenceConfig(combos=(("mnist1d", "mlp"),), seeds=(0,),
                             axes={"init_scale": (0.3, 0.5, 1.0), "lr_ratio": (0.1, 1.0, 10.0), "width": (8, 32)},
                             n_train=500, steps=200)
    else:
        cfg = EvidenceConfig()
    s = Section("6. Real data, read by diagnose: digits and MNIST-1D, MLP and 1-D CNN",
                "Each point is one diagnose run per seed (cross-entropy, minibatch SGD, the linearized model trained "
                "alongside): the verdict — kernel, or feature learning by alignment, disalignment or rescaling — with "
                "the NTK change and the largest linearization gap it was decided on, varying one of init scale, "
                "output-to-hidden learning-rate ratio and width from a base point. A run whose training loss stayed "
                "within 5 % of the chance loss, or whose training accuracy stayed at chance, gets no label "
                "('did not train'; its test accuracy may still be a little above chance).")
    res = run_evidence(cfg)
    data = res.as_dict()
    s.files.append(res.table().write(d / "evidence_runs.csv"))
    s.files.append(res.verdicts().write(d / "evidence_verdicts.csv"))
    s.files.append(_save(d / "evidence.json", data))
    rows = [dict(v, verdict_text=verdict_text(v), axis_words=AXIS_WORDS[v["axis"]][0]) for v in data["verdicts"]]
    s.tables.append(("Verdicts over seeds (majority, seeds agreeing/seeds), test accuracy (mean over seeds), median "
                     "NTK change and largest linearization gap, mean Δζ per layer pair.",
                     _display(rows, [("data", "dataset", "{}"), ("arch", "arch", "{}"), ("axis", "axis_words", "{}"),
                                     ("value", "value", "{:g}"), ("verdict", "verdict_text", "{}"),
                                     ("test acc.", "test_accuracy_mean", "{:.3f}"),
                                     ("NTK change", "ntk_change_median", "{:.3g}"),
                                     ("largest gap", "max_gap_median", "{:.3g}"),
                                     ("Δζ pair 1", "dzeta_pair1_mean", "{:+.3f}"),
                                     ("Δζ pair 2", "dzeta_pair2_mean", "{:+.3f}")])))
    for png, caption in plot_evidence(data, d):
        s.files += [png, png.with_suffix(".svg")]
        s.figures.append((png, caption))
    return s


#: the linear-network runs of the report: (name, words, σ_u, σ_w, width, κ, η); η = None: η = width
_LINEAR_RUNS = (
    ("small", "small init σ = 1e−3, d = 1000, κ = η = 1", 1e-3, 1e-3, 1000, 1.0, 1.0),
    ("ntk", "NTK: σ = 1, d = 1e12, κ = d^−½, η = 1", 1.0, 1.0, 10**12, 1e-6, 1.0),
    ("meanfield", "mean-field: σ = 1, d = 1e12, κ = 1/d, η = d", 1.0, 1.0, 10**12, 1e-12, None),
    ("unbalanced", "unbalanced: σ_u = 1, σ_w = 1e−4, d = 100, κ = 0.1, η = 1", 1.0, 1e-4, 100, 0.1, 1.0),
)


def _sec_linear(out: Path, quick: bool) -> Section:
    from featmech.analysis.linear import classify, moments, phase
    from featmech.report.captions import linear_phase_caption, linear_trajectory_caption, run_label
    from featmech.report.linear_plots import plot_linear_phase, plot_linear_trajectory
    from featmech.theory.linear import sample_gram, solve_gram

    d = out / "linear"
    d.mkdir(parents=True, exist_ok=True)
    comps = {"digits": 16, "mnist1d": 16} if quick else {"digits": 61, "mnist1d": 40}
    s = Section("7. The two-layer linear network on real data",
                "f(x) = κUWx trained by exact gradient flow at any width (theory §8) on the moments of digits (64 "
                "pixels → 10 one-hot classes) and MNIST-1D (40 → 10), inputs centred, projected on their k leading "
                f"principal components and whitened (digits k = {comps['digits']}, MNIST-1D k = {comps['mnist1d']}"
                + ("" if quick else ": every component of nonzero variance") + "), one seed per run. Whitening makes "
                "Σ = I, so the singular modes of the target decouple and the per-mode labels are exact. The rule is "
                "that of §5 on the NTK trace, ζ = ‖UW‖/(‖U‖‖W‖) and the layer balance, at model level and per mode.")
    for ds in ("digits", "mnist1d"):
        mo = moments(ds, components=comps[ds], scale="whiten")
        rows = []
        for name, words, su, sw, width, kappa, eta in _LINEAR_RUNS:
            e = float(width) if eta is None else eta
            g = sample_gram(width, c=mo.c, m=mo.m, sigma_u=su, sigma_w=sw, seed=0)
            sol = solve_gram(g, sigma_xx=mo.sigma_xx, sigma_xy=mo.sigma_xy, sigma_yy=mo.sigma_yy, eta_u=e, eta_w=e,
                             kappa=kappa)
            cl = classify(sol, mo, points=60 if quick else 150)
            s.files.append(_save(d / f"{ds}_{name}.json", cl.as_dict()))
            c = cl.classification
            mode_labels = {}
            for m in cl.modes:
                lab = run_label(m.classification)
                mode_labels[lab] = mode_labels.get(lab, 0) + 1
            rows.append({"run": words, "label": run_label(c), "ntk": c.ntk_max_deviation,
                         "z0": c.alignment_start, "z1": c.alignment_end, "nu": c.norm_u_change,
                         "nw": c.norm_w_change,
                         "modes": ", ".join(f"{k} ({v})" for k, v in mode_labels.items()),
                         "tc": cl.convergence_time})
            if name in ("small", "meanfield") and (ds == "digits" or not quick):
                s.files += plot_linear_trajectory(cl, d / f"{ds}_{name}", title=f"{ds}: {words}")
                s.figures.append((d / f"{ds}_{name}.png", linear_trajectory_caption(
                    cl, f"{ds} ({mo.m} whitened components), {words}")))
        s.tables.append((f"{ds}: the four runs (model-level label, the numbers it was decided on, and the labels "
                         "of the singular modes).",
                         _display(rows, [("run", "run", "{}"), ("label", "label", "{}"),
                                         ("max|K/K0−1|", "ntk", "{:.3g}"), ("ζ start", "z0", "{:.3f}"),
                                         ("ζ end", "z1", "{:.3f}"), ("‖U‖ ×", "nu", "{:.3g}"),
                                         ("‖W‖ ×", "nw", "{:.3g}"), ("modes", "modes", "{}"),
                                         ("convergence time", "tc", "{:.3g}")])))
    n = 5 if quick else 8
    k_phase = 4 if quick else 8
    for ds in ("digits",) if quick else ("digits", "mnist1d"):
        mo = moments(ds, components=k_phase, scale="whiten")
        ph = phase(mo, f"width=1e1:1e6:log:{n}", f"kappa=1e-4:1:log:{n}", seeds=1, points=40)
        s.files.append(ph.table().write(d / f"{ds}_phase.csv"))
        s.files += plot_linear_phase(ph, d / f"{ds}_phase", title=f"{ds} ({k_phase} whitened components): κ × width")
        s.figures.append((d / f"{ds}_phase.png", linear_phase_caption(
            ph, f"{ds} ({k_phase} whitened components), width × output scale κ, σ = η = 1, {n}×{n} grid, one seed")))
    return s


def _display(rows: Sequence[dict[str, Any]], spec: Sequence[tuple[str, str, str]]) -> Table:
    """A table for people: ``(header, key, format)`` per column, cells formatted as text."""
    return Table({header: [fmt.format(r[key]) for r in rows] for header, key, fmt in spec})


_BUILDERS: dict[str, Callable[[Path, bool], Section]] = {
    "canonical": _sec_canonical, "phase": _sec_phase, "scaling": _sec_scaling, "activations": _sec_activations,
    "digits": _sec_digits, "evidence": _sec_evidence, "linear": _sec_linear,
}


def _versions() -> dict[str, str]:
    import scipy

    v = {"featmech": __version__, "python": platform.python_version(), "numpy": np.__version__,
         "scipy": scipy.__version__, "platform": platform.platform()}
    for mod in ("matplotlib", "torch", "sklearn"):
        try:
            v[mod] = __import__(mod).__version__
        except ImportError:
            v[mod] = "not installed"
    return v


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}h1{font-size:1.7em}h2{margin-top:2em;border-bottom:1px solid #ccc}
figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.92em;color:#444}
table{border-collapse:collapse;font-size:.86em;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}
th{background:#f4f4f4}.note{background:#f7f7e8;padding:.5em .8em}.meta td{border:none;padding:1px 8px}
code{background:#f3f3f3;padding:0 3px}"""

CHECK_JS = """(function(){var errors=0;window.addEventListener('error',function(){errors++;});
window.addEventListener('load',function(){var imgs=document.querySelectorAll('img');var ok=0;
for(var i=0;i<imgs.length;i++){if(imgs[i].complete&&imgs[i].naturalWidth>0){ok++;}}
var s=document.getElementById('status');s.textContent='figures loaded: '+ok+'/'+imgs.length+'; script errors: '+errors;
s.setAttribute('data-ok',ok===imgs.length&&errors===0?'yes':'no');});})();"""


def render_html(sections: Sequence[Section], meta: dict[str, Any], out: Path) -> Path:
    """Write ``out/report.html``: the run's metadata, then every section (all strings escaped).

    Arguments:
        sections: the sections, in order.
        meta: name -> value shown in the "Run" table.
        out: the report's directory (data files are linked relative to it).

    Returns:
        The path of ``report.html``.

    Raises:
        OSError: the file cannot be written.
    """
    e = html.escape
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             f"<title>{e('featmech report')}</title><style>{CSS}</style><script>{CHECK_JS}</script></head><body>",
             "<h1>featmech: three mechanisms of feature learning — reproduced</h1>",
             "<p>Exact learning dynamics of the one-hidden-layer linear network (Xu &amp; Ziyin, ICLR 2025), its phase "
             "diagram, the three mechanisms of feature learning — alignment, disalignment, rescaling — and their traces "
             "in nonlinear and deep networks on real data. Every number and figure below was computed by this run; the "
             "data behind each figure is in the folders next to this file.</p>",
             "<p id='status' data-ok='pending'>figures loading…</p>",
             "<h2>Run</h2><table class='meta'>"]
    for k, v in meta.items():
        parts.append(f"<tr><td>{e(str(k))}</td><td>{e(str(v))}</td></tr>")
    parts.append("</table>")
    for sec in sections:
        parts.append(f"<h2>{e(sec.title)}</h2>")
        if sec.intro:
            parts.append(f"<p>{e(sec.intro)}</p>")
        if sec.note:
            parts.append(f"<p class='note'>{e(sec.note)}</p>")
        for cap, table in sec.tables:
            parts.append("<table><caption>" + e(cap) + "</caption><tr>"
                         + "".join(f"<th>{e(str(h))}</th>" for h in table.columns) + "</tr>")
            for r in table.rows():
                parts.append("<tr>" + "".join(f"<td>{e(format_number(c))}</td>" for c in r) + "</tr>")
            parts.append("</table>")
        for png, cap in sec.figures:
            parts.append(f"<figure><img src='{_img(png)}' alt='{e(cap[:120])}'><figcaption>{e(cap)}</figcaption></figure>")
        if sec.files:
            rel = sorted({str(p.relative_to(out)) for p in sec.files if p.suffix in (".csv", ".json")})
            if rel:
                parts.append("<p>Data: " + ", ".join(f"<code>{e(r)}</code>" for r in rel) + "</p>")
        parts.append(f"<p><small>computed in {sec.seconds:.1f} s</small></p>")
    parts.append("</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def reproduce(out_dir: str | Path = "featmech-report", *, quick: bool = False, sections: Sequence[str] = SECTIONS,
              log: Callable[[str], None] | None = None) -> Path:
    """Regenerate every result into ``out_dir``: ``report.html``, ``run.json`` and the data of each section.

    A section whose optional extra is missing (torch, matplotlib) is kept with a note saying so.

    Arguments:
        out_dir: the report's directory (created if missing).
        quick: smaller grids and networks (about two minutes on 2 cores).
        sections: which of :data:`SECTIONS`, in order.
        log: called with a progress line before and after each section.

    Returns:
        The path of ``report.html``.

    Raises:
        InputError: an unknown section, or ``out_dir`` exists and is not a directory.
        OSError: a file cannot be written.
    """
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise InputError(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    built: list[Section] = []
    timings = {}
    for name in sections:
        t0 = time.perf_counter()
        if log:
            log(f"[{name}] running…")
        try:
            sec = _BUILDERS[name](out, quick)
        except ImportError as exc:
            sec = Section(f"{name}: skipped", note=f"Skipped: {exc}")
        sec.seconds = time.perf_counter() - t0
        timings[name] = round(sec.seconds, 1)
        if log:
            log(f"[{name}] done in {sec.seconds:.1f} s")
        built.append(sec)
    meta: dict[str, Any] = {"mode": "quick" if quick else "full", "sections": ", ".join(sections),
                            "total time (s)": round(time.perf_counter() - t_all, 1),
                            "section times (s)": ", ".join(f"{k} {v}" for k, v in timings.items()),
                            "date (UTC)": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    meta.update({f"version {k}": v for k, v in _versions().items()})
    Table({}, scalars=meta).write(out / "run.json")
    return render_html(built, meta, out)
