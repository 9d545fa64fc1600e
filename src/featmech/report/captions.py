"""Captions generated from the data they describe.

Every sentence of a figure caption that states a result is written here from the numbers of the
figure — labels, counts, ranges, agreements — never typed in by hand: a run that did not train is
captioned "did not train", a label that the data do not carry is not claimed, and a point a grid
misses is said to be missed.

Run status first: a run that diverged, did not train or did not converge gets no regime label
(:func:`run_status`, :func:`run_label`). The status is the data's own — the ``status`` (and
``converged``) a :class:`~featmech.analysis.regimes.Classification` and every experiment result
carry, decided by the rules of :mod:`featmech.analysis.regimes` — and a label near a threshold is
marked with the thresholds it is near (``borderline_threshold``).

>>> run_label({"regime": "undetermined", "mechanism": "none", "status": "did not train"})
'did not train'
>>> run_label({"regime": "feature", "mechanism": "alignment", "converged": False})
'not converged'
>>> run_label({"regime": "feature", "mechanism": "alignment", "borderline": True, "borderline_threshold": "eps"})
'feature/alignment (borderline: ε)'
>>> phrase("feature/rescaling"), phrase("did not train")
('learn features by rescaling', 'did not train')
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from featmech.analysis.labels import Regime, category

__all__ = ["DIVERGED", "NOT_TRAINED", "NOT_CONVERGED", "STATUSES", "run_status", "run_label",
           "phrase", "num", "canonical_caption", "phase_caption", "ntk_change_caption", "convergence_time_caption",
           "exponent_caption", "slopes_caption", "activations_caption", "sweep_caption",
           "network_trajectories_caption", "activations_table_note", "by_value", "linear_trajectory_caption",
           "linear_phase_caption", "learning_order"]

DIVERGED = "diverged"
NOT_TRAINED = "did not train"
NOT_CONVERGED = "not converged"
#: the statuses that replace a regime label
STATUSES = (DIVERGED, NOT_TRAINED, NOT_CONVERGED)


def _get(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def _flag(item: Any, name: str) -> Any:
    """A field of the item, or of its ``classification`` (object or dict) when the item lacks it."""
    v = _get(item, name)
    if v is None:
        cl = _get(item, "classification")
        if cl is not None:
            v = _get(cl, name)
    return v


def run_status(item: Any) -> str | None:
    """Why a run earns no regime label, or ``None`` when it does.

    Arguments:
        item: a :class:`~featmech.analysis.regimes.Classification`, a run object or its
            ``as_dict()`` (fields ``status``, ``converged``, ``diverged``, ``regime``, or a
            ``classification`` carrying them).

    Returns:
        :data:`DIVERGED`, :data:`NOT_TRAINED`, :data:`NOT_CONVERGED` or ``None``.
    """
    regime = _get(item, "regime")
    status = _flag(item, "status")
    if status is not None and str(status) in STATUSES:
        return str(status)
    if bool(_flag(item, "diverged")) or regime == Regime.UNSTABLE:
        return DIVERGED
    converged = _flag(item, "converged")
    if converged is not None and not bool(np.all(converged)):
        return NOT_CONVERGED
    if regime == Regime.UNDETERMINED:
        return NOT_CONVERGED
    return None


_SYMBOLS = {"eps": "ε", "delta": "δ", "factor": "F"}


def run_label(item: Any) -> str:
    """The label a figure shows for a run: its status (:func:`run_status`) or its category, with
    ``" (borderline: ε)"`` when the classification marks it near a threshold."""
    status = run_status(item)
    if status is not None:
        return status
    cat = category(str(_get(item, "regime")), str(_get(item, "mechanism")))
    if not bool(np.any(_flag(item, "borderline") or False)):
        return cat
    near = str(_flag(item, "borderline_threshold") or "")
    names = ", ".join(_SYMBOLS.get(n, n) for n in near.split(",") if n)
    return f"{cat} (borderline{': ' + names if names else ''})"


def _base(label: str) -> str:
    return label.split(" (borderline")[0]


def phrase(label: str) -> str:
    """What a run with this label did, as a verb phrase (``"learn features by alignment"``)."""
    lab = _base(label)
    words = {"kernel": "stay in the kernel regime", "unstable": "diverged", DIVERGED: "diverged",
             NOT_TRAINED: "did not train", NOT_CONVERGED: "did not converge (no regime is assigned)",
             "rich": "are rich (the NTK grows without bound)", "frozen": "are frozen",
             "divergent-output": "have a diverging initial output"}
    if lab.startswith("feature/"):
        out = f"learn features by {lab.split('/', 1)[1]}"
    else:
        out = words.get(lab, lab)
    return out + label[len(lab):]


def num(x: Any, digits: int = 2) -> str:
    """A number for a caption: ``digits`` significant digits, powers of ten written 1e-06 → 1e−6.

    >>> num(0.000012345), num(2.0), num(float("inf")), num(123456.0)
    ('1.2e−5', '2', '∞', '1.2e5')
    """
    v = float(x)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    s = f"{v:.{digits}g}"
    if float(s) == 0:
        return "0"
    if "e" in s:
        mant, ex = s.split("e")
        s = f"{mant}e{int(ex)}"
    return s.replace("-", "−")


def _fixed(x: Any, digits: int = 2) -> str:
    """Fixed-point with a true minus sign and no negative zero.

    >>> _fixed(-0.001), _fixed(0.0), _fixed(-0.25)
    ('0.00', '0.00', '−0.25')
    """
    s = f"{float(x):.{digits}f}"
    return (s[1:] if s.startswith("-") and float(s) == 0 else s).replace("-", "−")


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _float(x: Any) -> float:
    """A number, NaN for ``None`` (JSON writes NaN as null)."""
    return math.nan if x is None else float(x)


def _sentence(s: str) -> str:
    return s[:1].upper() + s[1:]


# ---------------------------------------------------------------------- canonical cases
def _setup(case: Any) -> str:
    from featmech.params import PARAMETERS

    parts = []
    for name, value in case.values.items():
        sym = PARAMETERS[name].symbol or name
        parts.append(f"{sym} = {num(value, 3)}")
    return f"{_sentence(case.description)} ({', '.join(parts)})"


def canonical_caption(row: Any, gd_gap: float | None = None) -> str:
    """The caption of one canonical case's figure (:class:`~featmech.analysis.canonical.CanonicalRow`).

    Arguments:
        row: the solved and classified case.
        gd_gap: the largest |ζ_GD − ζ_flow| at the recorded steps, if GD was drawn.
    """
    cl, case = row.classification, row.case
    th = cl.thresholds
    out = [_setup(case) + "."]
    status = run_status(cl)
    dev, ratio = float(cl.ntk_max_deviation), float(cl.ntk_ratio)
    z0, z1 = float(cl.alignment_start), float(cl.alignment_end)
    if status is not None:
        out.append(f"The run {status}: no regime is assigned.")
    elif cl.regime == Regime.KERNEL:
        out.append(f"The NTK stays within ε: max|K/K0 − 1| = {num(dev)} ≤ ε = {num(th.eps)}; ζ goes from "
                   f"{_fixed(z0)} to {_fixed(z1)} — the kernel regime.")
    else:
        out.append(f"The NTK moves: max|K/K0 − 1| = {num(dev)} > ε = {num(th.eps)} (K(∞)/K(0) = {num(ratio, 3)}); "
                   f"ζ goes from {_fixed(z0)} to {_fixed(z1)} (Δ|ζ| = {num(abs(z1) - abs(z0))}, δ = {num(th.delta)}); "
                   f"|u| ×{num(cl.norm_u_change, 3)}, |w| ×{num(cl.norm_w_change, 3)}, layer balance "
                   f"×{num(cl.balance_change, 3)} (F = {num(th.factor)}) — feature learning by {cl.mechanism}"
                   + run_label(cl)[len(str(cl.category)):] + ".")
    out.append("As theory §5 states." if row.agrees else
               f"theory §5 expects {case.category}: this run does not come out as stated.")
    if gd_gap is not None:
        out.append(f"Lines: exact gradient flow; points: width-free GD at time step × lr (largest |ζ_GD − ζ_flow| = "
                   f"{num(gd_gap)}).")
    return " ".join(out)


# ---------------------------------------------------------------------- phase diagrams
def _median_lam(pd: Any) -> np.ndarray:
    with np.errstate(all="ignore"):
        lam = np.abs(pd.metric("lam"))
        return np.nanmedian(np.where(np.isfinite(lam), lam, np.nan), axis=0)


def phase_caption(pd: Any, setup: str) -> str:
    """The caption of a categorical phase map, from its majority labels and λ.

    Arguments:
        pd: a :class:`~featmech.analysis.phase.PhaseDiagram`.
        setup: what was varied and fixed, in words (no results).
    """
    from featmech.analysis.phase import LABELS

    maj = pd.majority_label()
    lam = _median_lam(pd)
    total = maj.size
    parts = []
    for i, name in enumerate(LABELS):
        sel = maj == i
        n = int(sel.sum())
        if not n:
            continue
        lv = lam[sel]
        lv = lv[np.isfinite(lv)]
        rng = f" (λ from {num(lv.min())} to {num(lv.max())})" if lv.size else ""
        parts.append(f"{name} at {n} of {total} points{rng}")
    out = [f"{setup}.", f"Majority label over {pd.seeds} seeds: {_join(parts)}." if parts else
           "No point has a label."]
    kern = LABELS.index("kernel")
    feat = np.isin(maj, [i for i, n in enumerate(LABELS) if n.startswith("feature/")])
    below, above = np.isfinite(lam) & (lam < 1), np.isfinite(lam) & (lam > 1)
    if below.any() and above.any():
        out.append(f"Against the line λ = 1: {100 * np.mean(maj[below] == kern):.0f}% of the points with λ < 1 are "
                   f"kernel and {100 * np.mean(feat[above]):.0f}% of those with λ > 1 learn features.")
        rest = Counter(LABELS[i] for i in maj[below] if 0 <= i != kern)
        if rest:
            out.append("Below λ = 1 the others are " + _join([f"{c} ({n})" for c, n in rest.most_common()]) + ".")
    return " ".join(out)


def _where(pd: Any, i: int, j: int) -> str:
    return f"{_symbol(pd.x.name)} = {num(pd.x.values[j])}, {_symbol(pd.y.name)} = {num(pd.y.values[i])}"


def _symbol(name: str) -> str:
    from featmech.params import PARAMETERS

    return {"eta_ratio": "η_u/η_w"}.get(name) or PARAMETERS[name].symbol or name


def ntk_change_caption(pd: Any) -> str:
    """The caption of the NTK-change heat map: its range, the ε line and the comparison with the
    large-width prediction √(1 + λ²/4) − 1."""
    eps = pd.thresholds.eps
    with np.errstate(all="ignore"):
        dev = np.nanmedian(np.where(np.isfinite(pd.metric("ntk_max_deviation")), pd.metric("ntk_max_deviation"),
                                    np.nan), axis=0)
        lam = _median_lam(pd)
        pred = np.sqrt(1 + lam**2 / 4) - 1
        mid = np.isfinite(dev) & np.isfinite(lam) & (lam >= 0.1) & (lam <= 10) & (pred > 0)
        rel = np.abs(dev[mid] / pred[mid] - 1)
    ok = np.isfinite(dev)
    out = [f"max_t |K(t)/K(0) − 1| over the same grid (median over seeds), from {num(np.nanmin(dev))} to "
           f"{num(np.nanmax(dev))}; white line: ε = {num(eps)}, the kernel threshold "
           f"({100 * np.mean(dev[ok] <= eps):.0f}% of the points lie within it)."]
    if rel.size:
        worst = np.flatnonzero(mid.ravel())[int(np.argmax(rel))]
        i, j = np.unravel_index(worst, mid.shape)
        out.append(f"Where 0.1 ≤ λ ≤ 10 ({rel.size} points) it differs from the large-width prediction "
                   f"√(1 + λ²/4) − 1 by {num(100 * np.median(rel))}% (median) and at most {num(100 * np.max(rel))}% "
                   f"(at {_where(pd, int(i), int(j))}).")
    return " ".join(out)


def convergence_time_caption(pd: Any) -> str:
    """The caption of the convergence-time heat map: its range and where it is longest."""
    from featmech.analysis.phase import LABELS

    with np.errstate(all="ignore"):
        tc = np.nanmedian(np.where(np.isfinite(pd.metric("convergence_time")), pd.metric("convergence_time"), np.nan),
                          axis=0)
    if not np.isfinite(tc).any():
        return "Convergence time over the same grid: no point converged."
    i, j = np.unravel_index(np.nanargmax(tc), tc.shape)
    k, m = np.unravel_index(np.nanargmin(tc), tc.shape)
    out = [f"Convergence time t_c (residual down to 1e−2 of its start; median over seeds) over the same grid, from "
           f"{num(tc[k, m])} ({_where(pd, int(k), int(m))}) to {num(tc[i, j])} ({_where(pd, int(i), int(j))})."]
    maj = pd.majority_label()
    kern = maj == LABELS.index("kernel")
    feat = np.isin(maj, [n for n, name in enumerate(LABELS) if name.startswith("feature/")])
    if kern.any() and feat.any():
        out.append(f"Median t_c: {num(np.nanmedian(tc[feat]))} where features are learned, "
                   f"{num(np.nanmedian(tc[kern]))} in the kernel regime.")
    nonconv = int((~np.isfinite(pd.metric("convergence_time"))).sum())
    if nonconv:
        out.append(f"{nonconv} (point, seed) pairs never converge (blank).")
    return " ".join(out)


# ---------------------------------------------------------------------- infinite width
def _axis_words(name: str) -> str:
    return {"kappa": "κ", "eta": "η", "sigma2": "σ²", "eta_u": "η_u", "eta_w": "η_w", "sigma_u2": "σ_u²",
            "sigma_w2": "σ_w²"}.get(name, name)


def exponent_caption(labels: np.ndarray, boundaries: Any, *, invariant: bool = True, title: str = "") -> str:
    """The caption of an exponent diagram, from its grid labels, its exact boundaries
    (:class:`~featmech.report.boundaries.Boundaries`) and the presets placed on it.

    Arguments:
        labels: the grid's categories, shape ``(ny, nx)``.
        boundaries: the left panel's boundaries.
        invariant: whether the figure has the invariant panel with every preset.
        title: the plane, in words (``"σ² = d^0: exponents of κ and η"``).
    """
    b = boundaries
    xw, yw = _axis_words(b.xname), _axis_words(b.yname)
    cats = Counter(str(v) for v in np.asarray(labels).ravel())
    ny, nx = np.shape(labels)
    out = [f"{title + '. ' if title else ''}Left: the analytic label at each point of the {nx} × {ny} grid "
           f"({_join([f'{c} {n}' for c, n in cats.most_common()])}) and the exact boundaries."]
    ranges = b.learning_ranges()
    if ranges or b.feature_points:
        seg = [f"{c} for {xw} exponents from {num(lo, 3)} to {num(hi, 3)}" for c, (lo, hi) in sorted(ranges.items())]
        pts = [f"{p.category} at ({xw}, {yw}) = ({num(p.x)}, {num(p.y)})" for p in b.feature_points]
        out.append("Learning in finite time (rate exponent δ = 0) happens only on the thick line: "
                   + _join(seg + pts) + ".")
        if b.feature_points and not any(p.category in cats for p in b.feature_points):
            out.append("No grid point falls on the feature-learning point: only the line shows it.")
    else:
        out.append("No finite-time learning line (δ = 0) crosses this plane.")
    if b.output0:
        out.append("Black line: φ = 0; beyond it the initial output diverges with the width.")
    on = [p for p in b.presets if p.on_plane]
    off = [p for p in b.presets if not p.on_plane]
    out.append(("Presets in this plane: " + _join([f"{p.name} ({p.category}) at ({num(p.x)}, {num(p.y)})"
                                                    for p in on]) + ".") if on else "No preset lies in this plane.")
    if invariant:
        out.append("Right: every parametrization by its invariants m (exponent of κ√(η_uη_w)) and n (exponent of N); "
                   "its label is the label of its point there unless its initial output diverges. All presets: "
                   + _join([f"{p.name} ({p.category})" for p in b.presets])
                   + (f"; {_join([p.name for p in off])} lie off the left plane." if off else "."))
    elif off:
        out.append(f"Not in this plane: {_join([p.name for p in off])}.")
    return " ".join(out)


def slopes_caption(report: Any) -> str:
    """The caption of the preset-slopes figure (:class:`~featmech.analysis.scaling.PresetReport`)."""
    checks = [(r.name, c) for r in report.rows for c in r.verification.checks]
    good = [x for x in checks if x[1].agree]
    bad = [f"{n} {c.quantity} (measured {num(c.measured, 3)}, predicted {num(c.predicted, 3)})" for n, c in checks
           if not c.agree]
    out = ["Each metric (points: median over seeds at each width; RMS for |f0|) against the width d, log–log, and the "
           "predicted power law d^p (lines: the analytic exponent p, through the points' geometric mean).",
           f"The fitted slopes agree with the predictions for {len(good)} of {len(checks)} (preset, quantity) pairs"
           + (f"; they do not for {_join(bad)}." if bad else ".")]
    zero = [f"{r.name} {q}" for r in report.rows for q, v in r.verification.data.items()
            if not np.any(np.asarray(v) > 0)]
    if zero:
        out.append(f"Zero at every width, so not drawn: {_join(zero)}.")
    return " ".join(out)


# ---------------------------------------------------------------------- networks
def by_value(rows: Iterable[Any], key: str) -> list[dict[str, Any]]:
    """Runs grouped by the swept value: per value its runs' labels, the majority label and the
    accuracies (``value, labels, label, count, n, accuracy, accuracy_min, accuracy_max``)."""
    groups: dict[float, list[Any]] = {}
    for r in rows:
        groups.setdefault(float(_get(r, key)), []).append(r)
    out = []
    for v in sorted(groups):
        rs = groups[v]
        labels = [run_label(r) for r in rs]
        label, count = Counter(labels).most_common(1)[0]
        acc = np.array([_float(_get(r, "test_accuracy")) for r in rs], dtype=float)
        fin = acc[np.isfinite(acc)]
        out.append({"value": v, "labels": labels, "label": label, "count": count, "n": len(rs), "runs": rs,
                    "accuracy": float(np.mean(fin)) if fin.size else math.nan,
                    "accuracy_min": float(np.min(fin)) if fin.size else math.nan,
                    "accuracy_max": float(np.max(fin)) if fin.size else math.nan})
    return out


def sweep_caption(rows: Sequence[Any], key: str, name: str, chance: float | None = None) -> str:
    """The caption of an accuracy-against-hyperparameter figure, from its runs' labels and accuracies.

    Arguments:
        rows: one run per (value, seed) (``as_dict()`` rows or run objects).
        key: the swept field (``scale``, ``lr_ratio``).
        name: the swept quantity in words (``"init scale"``).
        chance: the chance accuracy (1/classes), drawn as a line.
    """
    groups = by_value(rows, key)
    nseeds = max((g["n"] for g in groups), default=0)
    out = [f"Test accuracy against the {name}: "
           + (f"markers the mean over {nseeds} seeds, bars min–max over seeds; colour the monitor's label (majority "
              "over seeds)" if nseeds > 1 else "one run per value; colour the monitor's label")
           + (f"; dashed line: chance ({num(chance)})." if chance is not None else ".")]
    runs: list[tuple[list[float], str, list[dict[str, Any]]]] = []
    for g in groups:
        if runs and runs[-1][1] == g["label"]:
            runs[-1][0].append(g["value"])
            runs[-1][2].append(g)
        else:
            runs.append(([g["value"]], g["label"], [g]))
    sentences = []
    for values, label, gs in runs:
        vs = num(values[0]) if len(values) == 1 else f"{num(values[0])} to {num(values[-1])}"
        where = f"at {name} {vs}"
        counts = ", ".join(f"{g['count']}/{g['n']}" for g in gs) + " seeds; " if nseeds > 1 else ""
        acc = ", ".join(num(g["accuracy"]) for g in gs)
        extra = ""
        if _base(label) == NOT_TRAINED:
            losses = [float(_get(r, "final_loss")) for g in gs for r in g["runs"] if _get(r, "final_loss") is not None]
            extra = f"; final loss {num(min(losses), 3)}" + (f"–{num(max(losses), 3)}" if len(losses) > 1 and
                                                              num(min(losses), 3) != num(max(losses), 3) else "")
        sentences.append(f"{where} the runs {phrase(label)} ({counts}accuracy {acc}{extra})")
    if sentences:
        out.append(_sentence("; ".join(sentences)) + ".")
    mixed = [g for g in groups if len(set(g["labels"])) > 1]
    if mixed:
        out.append("Seeds disagree at " + _join([f"{num(g['value'])} ({', '.join(g['labels'])})" for g in mixed]) + ".")
    return " ".join(out)


def network_trajectories_caption(rows: Sequence[Any], key: str, name: str, eps: float | None = None) -> str:
    """The caption of the per-layer-pair trajectories (ζ, norms, NTK) of a network sweep."""
    from featmech.analysis.regimes import Thresholds

    eps = Thresholds().eps if eps is None else eps
    groups = by_value(rows, key)
    out = [f"Over training, per {name} (colour; median over seeds, shaded min–max): ζ of each consecutive layer pair, "
           f"the norm of each layer relative to its initial value, and the NTK trace ratio tr K(t)/tr K(0) (band: "
           f"1 ± ε, ε = {num(eps)})."]
    parts = []
    for g in groups:
        r0 = g["runs"][0]
        pairs = _get(r0, "pairs") or []
        zeta = ", ".join(f"{_fixed(_get(p, 'alignment_start'))}→{_fixed(_get(p, 'alignment_end'))}" for p in pairs)
        ratios = [_float(_get(r, "ntk_ratio")) for r in g["runs"]]
        parts.append(f"{_sentence(name)} {num(g['value'])}: {g['label']}; ζ per pair {zeta} (seed {_get(r0, 'seed')}); "
                     f"NTK ×" + "/".join(num(x) for x in ratios) + (" (per seed)" if len(ratios) > 1 else "") + ".")
    out += parts
    return " ".join(out)


def activations_caption(case: str, runs: Sequence[Mapping[str, Any]]) -> str:
    """The caption of one case of the activations experiment, from its runs' labels."""
    groups: dict[str, list[str]] = {}
    for r in runs:
        groups.setdefault(run_label(r), []).append(str(r["activation"]))
    out = [f"{case.capitalize()} case. Left: alignment ζ(t); right: NTK trace change K(t)/K(0) − 1, the band "
           f"|K/K0 − 1| ≤ ε shaded.", "Labels — " + "; ".join(f"{_join(acts)}: {lab}" for lab, acts in groups.items())
           + "."]
    lin = [r for r in runs if r.get("theory_max_deviation") is not None]
    for r in lin:
        out.append(f"The {r['activation']} network follows the exact gradient flow (dashed) to "
                   f"{num(r['theory_max_deviation'])} in ζ.")
    note = activations_table_note(runs)
    if note:
        out.append(note)
    return " ".join(out)


def activations_table_note(runs: Sequence[Mapping[str, Any]]) -> str:
    """A sentence on runs whose ζ moves by more than δ while their NTK stays within ε (empty if none)."""
    hits = []
    for r in runs:
        c = r.get("classification", {})
        if run_status(r) is None and str(r.get("regime")) == Regime.KERNEL:
            dz = abs(float(c.get("alignment_end", 0.0))) - abs(float(c.get("alignment_start", 0.0)))
            if abs(dz) > float(c.get("thresholds", {}).get("delta", 0.1)):
                hits.append(f"{r['activation']} (Δ|ζ| = {num(dz)}, max|K/K0 − 1| = "
                            f"{num(c.get('ntk_max_deviation', math.nan))})")
    if not hits:
        return ""
    return (f"ζ moves by more than δ while the NTK stays within ε for {_join(hits)}: alignment of the weights alone "
            "is not evidence of feature learning.")


# --------------------------------------------------------------------------- the linear network on data
def learning_order(cl: Any) -> tuple[np.ndarray, np.ndarray]:
    """When each singular mode of a :class:`~featmech.analysis.linear.LinearClassification` is learned:
    the first recorded time at which m_α/s_α reaches ½ (inf if never), and the target strengths s_α."""
    tr = cl.trajectory
    t = np.asarray(tr.t, dtype=float)
    targets = np.array([m.target for m in cl.modes], dtype=float)
    half = np.full(targets.size, np.inf)
    for a, s in enumerate(targets):
        frac = np.asarray(tr.mode_strength[:, a], dtype=float) / s if s else np.zeros(t.size)
        hit = np.flatnonzero(frac >= 0.5)
        if hit.size:
            half[a] = t[hit[0]]
    return half, targets


def linear_trajectory_caption(cl: Any, setup: str) -> str:
    """The caption of one linear-network trajectory figure, from its classification: the model-level
    label with the numbers it was decided on, the labels of the singular modes, and the order in
    which the modes are learned (only what the recorded data show)."""
    c = cl.classification
    label = run_label(c)
    out = [f"{setup}.", f"Model level: {label}; max|K/K0 − 1| = {num(c.ntk_max_deviation)} (ε = "
                        f"{num(c.thresholds.eps)}), ζ {_fixed(c.alignment_start)} → {_fixed(c.alignment_end)}, "
                        f"‖U‖ ×{num(c.norm_u_change)}, ‖W‖ ×{num(c.norm_w_change)}; loss gap "
                        f"{num(cl.gap_start)} → {num(cl.gap_end)}."]
    labels = Counter(run_label(m.classification) for m in cl.modes)
    if labels:
        ends = np.array([m.classification.alignment_end for m in cl.modes], dtype=float)
        ends = ends[np.isfinite(ends)]
        zeta = f"; ζ_α at the end from {_fixed(ends.min())} to {_fixed(ends.max())}" if ends.size else ""
        kind = "" if cl.exact_modes else " (approximate: the modes are coupled)"
        out.append(f"The {len(cl.modes)} singular modes of the target{kind}: "
                   + _join([f"{lab} ({n})" for lab, n in labels.most_common()]) + zeta + ".")
        half, targets = learning_order(cl)
        fin = np.isfinite(half)
        if fin.sum() >= 2:
            order = np.argsort(-targets[fin])
            th = half[fin][order]
            inversions = int(np.sum(np.diff(th) < 0))
            if th[-1] == th[0]:
                out.append(f"All {int(fin.sum())} modes reach half their target strength at the same recorded time, "
                           f"t = {num(th[0])}.")
            elif inversions == 0:
                out.append(f"The modes reach half their target strength in order of strength, from t = {num(th[0])} "
                           f"(s = {num(targets[fin][order][0])}) to t = {num(th[-1])} "
                           f"(s = {num(targets[fin][order][-1])}).")
            else:
                out.append(f"The modes reach half their target strength between t = {num(th.min())} and "
                           f"t = {num(th.max())}, not in order of strength ({inversions} inversion(s) between "
                           "neighbours by strength).")
        if (~fin).any():
            out.append(f"{int((~fin).sum())} mode(s) never reach half their target strength in the recorded time.")
    return " ".join(out)


def linear_phase_caption(ph: Any, setup: str) -> str:
    """The caption of a linear-network phase diagram (:class:`~featmech.analysis.linear.LinearPhase`):
    the counts of the majority labels, and where the NTK change crosses ε along the x axis (only
    what the grid shows)."""
    from featmech.analysis.labels import ALL_CATEGORIES

    maj = ph.majority()
    counts = Counter(ALL_CATEGORIES[i] for i in maj.ravel())
    out = [f"{setup}.", f"Majority label over {ph.seeds} seed(s): "
           + _join([f"{lab} at {n} of {maj.size} points" for lab, n in counts.most_common()]) + "."]
    dev = np.nanmedian(np.asarray(ph.metrics["ntk_max_deviation"], dtype=float), axis=0)
    eps = float(ph.thresholds.eps)
    xs, ys = ph.x.values, ph.y.values
    cross = []
    for i, yv in enumerate(ys):
        row = dev[i]
        k = np.flatnonzero(np.isfinite(row[:-1]) & np.isfinite(row[1:]) & ((row[:-1] > eps) != (row[1:] > eps)))
        for j in k:
            cross.append((float(yv), float(xs[j]), float(xs[j + 1])))
    if cross:
        sym_x, sym_y = _symbol(ph.x.name), _symbol(ph.y.name)
        shown = cross if len(cross) <= 4 else [cross[0], cross[len(cross) // 2], cross[-1]]
        out.append(f"max|K/K0 − 1| crosses ε = {num(eps)} along {sym_x} at {len(cross)} place(s), e.g. "
                   + _join([f"between {sym_x} = {num(a)} and {num(b)} at {sym_y} = {num(y)}" for y, a, b in shown])
                   + ".")
    else:
        out.append(f"max|K/K0 − 1| does not cross ε = {num(eps)} between neighbouring points along "
                   f"{_symbol(ph.x.name)}.")
    return " ".join(out)
