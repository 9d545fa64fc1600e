r"""The model-level verdict of :func:`featmech.nets.diagnose.diagnose` (docs/diagnose.md).

The neural tangent kernel is a property of the whole network, so the *regime* is decided once,
for the model; the layer pairs only say *how* the features moved (the mechanism). The rule, in
order (numbers on the probe batch, over the recorded steps t = 0 … T):

1. **unstable** when training diverged: a non-finite loss, or a loss above
   ``blowup`` × the initial loss;
2. **undetermined** (no label) when the run did not converge
   (:func:`featmech.analysis.regimes.run_status`: a regression loss above 1 % of its start, a
   classifier at chance);
3. **kernel** when ``ntk_change`` = max_t |tr K_t / tr K_0 − 1| ≤ ε **and** (when a linearized
   model was trained alongside) the largest linearization gap over the NTK records
   max_t ‖f_t − f_lin,t‖/max(‖f_t − f_0‖, ‖f_lin,t − f_0‖) ≤ ``gap`` (the maximum, not the final
   value: on a probe of training points both models may fit the targets at the end and agree
   there even when their paths differed);
4. **feature** otherwise.

In the feature regime the mechanism is the §5 mechanism (docs/theory.md §5) of the layer pair
with the largest change of alignment |Δζ| (Δζ = ζ_T − ζ_0, ζ the alignment between consecutive
layers): disalignment when Δζ < −δ, alignment when Δζ > δ and the pair's balance
(‖W_{l+1}‖/√η_{l+1}) / (‖W_l‖/√η_l) changed by a factor within [1/F, F], rescaling otherwise
(in particular when every pair's |Δζ| ≤ δ: the kernel moved through the weight norms). The
per-pair mechanisms come from :func:`featmech.analysis.regimes.classify`, the same rule the
exact theory uses.

>>> th = VerdictThresholds()
>>> th.eps, th.gap, th.blowup
(0.1, 0.1, 1000000.0)
>>> p = pair_result("a->b", zeta=[0.1, 0.6], norm_next=[1.0, 1.5], norm_prev=[1.0, 1.5], thresholds=th)
>>> p.mechanism, round(p.alignment_change, 3)
(<Mechanism.ALIGNMENT: 'alignment'>, 0.5)
>>> v = decide(status="converged", ntk_change=0.4, kernel_distance=0.2, linearization_gap=0.5,
...            pairs=(p,), norm_change={"a": 1.5, "b": 1.5}, output_at_init=0.3, thresholds=th)
>>> v.regime, v.mechanism, v.label
(<Regime.FEATURE: 'feature'>, <Mechanism.ALIGNMENT: 'alignment'>, 'feature learning by alignment')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from featmech._validation import check_scalar
from featmech.analysis.labels import Mechanism, Regime, Status, category
from featmech.analysis.regimes import Thresholds, classify

__all__ = ["VerdictThresholds", "PairResult", "Verdict", "pair_result", "decide", "GAP_THRESHOLD", "BLOWUP"]

#: the default largest linearization gap still called kernel
GAP_THRESHOLD = 0.1
#: the default loss blow-up factor (over the initial loss) that counts as divergence
BLOWUP = 1e6


@dataclass(frozen=True)
class VerdictThresholds:
    """The thresholds of the model-level verdict (validated; frozen).

    Attributes:
        eps: ε, the largest relative change of the NTK trace still called kernel; in (0, ∞).
        delta: δ, the change of a pair's alignment ζ that counts as alignment/disalignment; in (0, ∞).
        factor: F, the largest change of a pair's balance still called alignment; in [1, ∞).
        gap: the largest linearization gap still called kernel; in (0, ∞).
        blowup: a loss above ``blowup`` × the initial loss counts as divergence; in (1, ∞).

    Raises:
        InputError: a value out of range (the message names it).

    >>> VerdictThresholds(gap=0.2).gap
    0.2
    """

    eps: float = Thresholds().eps
    delta: float = Thresholds().delta
    factor: float = Thresholds().factor
    gap: float = GAP_THRESHOLD
    blowup: float = BLOWUP

    def __post_init__(self) -> None:
        Thresholds(eps=self.eps, delta=self.delta, factor=self.factor)  # validates ε, δ, F
        object.__setattr__(self, "eps", float(self.eps))
        object.__setattr__(self, "delta", float(self.delta))
        object.__setattr__(self, "factor", float(self.factor))
        object.__setattr__(self, "gap", check_scalar("gap", self.gap, low=0.0, low_inclusive=False))
        object.__setattr__(self, "blowup", check_scalar("blowup", self.blowup, low=1.0, low_inclusive=False))

    @classmethod
    def of(cls, thresholds: "VerdictThresholds | Thresholds | Mapping[str, float] | None") -> "VerdictThresholds":
        """Coerce ``None`` (defaults), a §5 :class:`~featmech.analysis.regimes.Thresholds` or a mapping."""
        if thresholds is None:
            return cls()
        if isinstance(thresholds, VerdictThresholds):
            return thresholds
        if isinstance(thresholds, Thresholds):
            return cls(**thresholds.as_dict())
        if isinstance(thresholds, Mapping):
            unknown = set(thresholds) - set(cls.__dataclass_fields__)
            if unknown:
                from featmech.errors import InputError
                raise InputError(f"thresholds: unknown key(s) {sorted(unknown)}; known: eps, delta, factor, gap, "
                                 "blowup")
            try:
                return cls(**{k: float(v) for k, v in thresholds.items()})
            except (TypeError, ValueError) as exc:
                from featmech.errors import InputError
                raise InputError(f"thresholds: {exc}") from None
        from featmech.errors import InputError
        raise InputError(f"thresholds must be a VerdictThresholds, Thresholds or a mapping, got {thresholds!r}")

    @property
    def section5(self) -> Thresholds:
        """ε, δ, F as the §5 :class:`~featmech.analysis.regimes.Thresholds`."""
        return Thresholds(eps=self.eps, delta=self.delta, factor=self.factor)

    def as_dict(self) -> dict[str, float]:
        """``{"eps", "delta", "factor", "gap", "blowup"}``."""
        return {k: float(getattr(self, k)) for k in ("eps", "delta", "factor", "gap", "blowup")}


@dataclass(frozen=True)
class PairResult:
    """What one pair of consecutive weight layers did (l → l+1).

    Attributes:
        name: ``"lower->upper"``.
        zeta_0, zeta_T: the alignment ζ = ‖W_{l+1} W_l‖_F / (‖W_{l+1}‖_F ‖W_l‖_F) at the first and last record.
        alignment_change: Δζ = |ζ_T| − |ζ_0|.
        balance_change: the factor by which (‖W_{l+1}‖/√η_{l+1}) / (‖W_l‖/√η_l) changed.
        norm_ratio_prev, norm_ratio_next: ‖W_l‖_T/‖W_l‖_0 and ‖W_{l+1}‖_T/‖W_{l+1}‖_0.
        mechanism: the §5 mechanism this pair shows if the model learns features (alignment,
            disalignment or rescaling; ``none`` only when ζ is undefined).
        borderline: Δζ or the balance change within 20 % of δ or F.
    """

    name: str
    zeta_0: float
    zeta_T: float
    alignment_change: float
    balance_change: float
    norm_ratio_prev: float
    norm_ratio_next: float
    mechanism: Mechanism
    borderline: bool

    def as_dict(self) -> dict[str, Any]:
        """Plain values (the mechanism as its string)."""
        return {"name": self.name, "zeta_0": self.zeta_0, "zeta_T": self.zeta_T,
                "alignment_change": self.alignment_change, "balance_change": self.balance_change,
                "norm_ratio_prev": self.norm_ratio_prev, "norm_ratio_next": self.norm_ratio_next,
                "mechanism": self.mechanism.value, "borderline": self.borderline}


def _ends(a: np.ndarray) -> tuple[float, float]:
    ok = np.flatnonzero(np.isfinite(a))
    if ok.size == 0:
        return math.nan, math.nan
    return float(a[ok[0]]), float(a[ok[-1]])


def pair_result(name: str, *, zeta: ArrayLike, norm_next: ArrayLike, norm_prev: ArrayLike, eta_next: float = 1.0,
                eta_prev: float = 1.0, thresholds: VerdictThresholds | None = None) -> PairResult:
    """The :class:`PairResult` of one pair from its recorded ζ and the two layers' norms.

    The mechanism is :func:`featmech.analysis.regimes.classify` applied as if the NTK moved
    (the regime is decided for the model, not here): W_{l+1} plays the output layer u, W_l the
    hidden layer w of docs/theory.md.

    Arguments:
        name: the pair's name.
        zeta, norm_next, norm_prev: 1-D records of ζ, ‖W_{l+1}‖_F and ‖W_l‖_F (first and last finite used).
        eta_next, eta_prev: the layers' learning-rate multipliers.
        thresholds: δ and F (default :class:`VerdictThresholds`).

    Returns:
        A :class:`PairResult`.
    """
    th = thresholds or VerdictThresholds()
    z0, z1 = _ends(np.asarray(zeta, dtype=np.float64))
    u0, u1 = _ends(np.asarray(norm_next, dtype=np.float64))
    w0, w1 = _ends(np.asarray(norm_prev, dtype=np.float64))
    if not all(math.isfinite(v) for v in (z0, z1, u0, u1, w0, w1)):
        return PairResult(name, z0, z1, math.nan, math.nan, math.nan, math.nan, Mechanism.NONE, False)

    def bal(u: float, w: float) -> float:
        if eta_next <= 0 or eta_prev <= 0:
            return math.nan
        num, den = u / math.sqrt(eta_next), w / math.sqrt(eta_prev)
        return num / den if den > 0 else (math.inf if num > 0 else math.nan)

    c = classify(ntk_max_deviation=math.inf, ntk_ratio=math.nan, alignment_start=z0, alignment_end=z1,
                 balance_start=bal(u0, w0), balance_end=bal(u1, w1), thresholds=th.section5)
    return PairResult(name=name, zeta_0=z0, zeta_T=z1, alignment_change=float(c.alignment_change),
                      balance_change=float(c.balance_change),
                      norm_ratio_prev=w1 / w0 if w0 > 0 else math.inf, norm_ratio_next=u1 / u0 if u0 > 0 else math.inf,
                      mechanism=Mechanism(str(c.mechanism)), borderline=bool(c.borderline))


@dataclass(frozen=True)
class Verdict:
    """The model-level verdict and the numbers it was decided on (module docstring: the rule).

    Attributes:
        regime: kernel, feature, unstable or undetermined (:class:`~featmech.analysis.labels.Regime`).
        mechanism: the mechanism (``none`` outside feature learning).
        converged: whether the run earned a label (``status == "converged"``).
        status: the :class:`~featmech.analysis.labels.Status` of the run.
        ntk_change: max_t |tr K_t / tr K_0 − 1| over the NTK records (the probe's tangent kernel).
        kernel_distance: the final 1 − ⟨K_0, K_T⟩/(‖K_0‖‖K_T‖) (0: the kernel kept its shape).
        linearization_gap: the final ‖f − f_lin‖/max(‖f − f_0‖, ‖f_lin − f_0‖) on the probe (NaN:
            not checked; inf: the linearized model diverged).
        max_linearization_gap: its largest value over the records (what the rule reads).
        alignment_change: max over pairs of |ζ_T − ζ_0| (NaN without pairs).
        norm_change: layer name -> ‖W_l‖_T / ‖W_l‖_0 (read-only mapping).
        output_at_init: the RMS of the network's output on the probe at initialization.
        deciding_pair: the pair whose mechanism was taken ("" when none).
        thresholds: the :class:`VerdictThresholds` used.
        linearized: whether a linearized model was trained alongside.
        explanation: the verdict in words.
        disagreement: a note when the NTK trace and the linearization gap disagree ("" otherwise).
        caveats: further notes (e.g. an adaptive optimizer).
    """

    regime: Regime
    mechanism: Mechanism
    converged: bool
    status: Status
    ntk_change: float
    kernel_distance: float
    linearization_gap: float
    max_linearization_gap: float
    alignment_change: float
    norm_change: Mapping[str, float]
    output_at_init: float
    deciding_pair: str
    thresholds: VerdictThresholds
    linearized: bool
    explanation: str = field(repr=False)
    disagreement: str = field(default="", repr=False)
    caveats: tuple[str, ...] = field(default=(), repr=False)

    @property
    def label(self) -> str:
        """Words: ``"kernel (lazy) regime"``, ``"feature learning by alignment"``, ``"undetermined: not converged"``."""
        if self.regime is Regime.FEATURE:
            return f"feature learning by {self.mechanism.value}"
        if self.regime is Regime.UNDETERMINED:
            return f"undetermined: {self.status.value}"
        if self.regime is Regime.UNSTABLE and self.status is not Status.DIVERGED:
            return "unstable (oscillating at the edge of stability)"
        return self.regime.label

    @property
    def category(self) -> str:
        """``"kernel"``, ``"feature/alignment"``, …, ``"undetermined"`` (:func:`~featmech.analysis.labels.category`)."""
        return category(self.regime, self.mechanism)

    def __str__(self) -> str:
        lines = [f"Verdict: {self.label}."]
        lines.append(self.explanation)
        if self.disagreement:
            lines.append("Note: " + self.disagreement)
        lines.extend("Caveat: " + c for c in self.caveats)
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """Plain values (labels as strings, norm changes as a dict, thresholds as a dict)."""
        return {"regime": self.regime.value, "mechanism": self.mechanism.value, "converged": self.converged,
                "status": self.status.value, "ntk_change": self.ntk_change, "kernel_distance": self.kernel_distance,
                "linearization_gap": self.linearization_gap,
                "max_linearization_gap": self.max_linearization_gap, "alignment_change": self.alignment_change,
                "norm_change": dict(self.norm_change), "output_at_init": self.output_at_init,
                "deciding_pair": self.deciding_pair, "thresholds": self.thresholds.as_dict(),
                "linearized": self.linearized, "explanation": self.explanation, "disagreement": self.disagreement,
                "caveats": list(self.caveats)}


def _pct(x: float) -> str:
    if math.isnan(x):
        return "(not measured)"
    if not math.isfinite(x):
        return str(x)
    return f"{100 * x:.0f} %" if abs(x) >= 1 else f"{100 * x:.3g} %"


def decide(*, status: Status | str, ntk_change: float, kernel_distance: float, linearization_gap: float,
           pairs: Sequence[PairResult], norm_change: Mapping[str, float], output_at_init: float,
           thresholds: VerdictThresholds | None = None, linearized: bool | None = None,
           max_linearization_gap: float | None = None,
           diverged_at: int | None = None, lr: float | None = None, lr_edge: float | None = None,
           diverged_loss: float | None = None, initial_loss: float | None = None, beyond_edge: str = "",
           caveats: Sequence[str] = ()) -> Verdict:
    """Apply the model-level rule (module docstring) and write the explanation.

    Arguments:
        status: the run's status (``diverged`` gives unstable).
        ntk_change, kernel_distance, linearization_gap, output_at_init: the numbers (see :class:`Verdict`).
        pairs: the :class:`PairResult` of every consecutive pair.
        norm_change: layer -> ‖W_l‖_T/‖W_l‖_0.
        thresholds: the :class:`VerdictThresholds`.
        linearized: whether the gap was measured (default: it is not NaN).
        max_linearization_gap: the largest gap over the records (default: ``linearization_gap``); the rule reads it.
        diverged_at, lr, lr_edge, diverged_loss, initial_loss: quoted in the explanation of an
            unstable run (``diverged_loss`` None: the loss became non-finite).
        beyond_edge: words when training ended beyond the edge of stability of its final kernel with
            an oscillating loss (""  otherwise): a run that did not converge is then **unstable**
            (not undetermined: a longer run would not help); a converged one keeps its regime and
            carries the words as a caveat.
        caveats: notes carried into the verdict.

    Returns:
        A :class:`Verdict`.
    """
    th = thresholds or VerdictThresholds()
    st = Status(str(status))
    final_gap = float(linearization_gap)
    gap = final_gap if max_linearization_gap is None else float(max_linearization_gap)
    lin = (not math.isnan(gap)) if linearized is None else bool(linearized)
    dev = float(ntk_change)
    trace_kernel = not (dev > th.eps)  # NaN counts as no change, as in §5
    gap_kernel = (not lin) or gap <= th.gap
    valid = [p for p in pairs if math.isfinite(p.alignment_change)]
    top = max(valid, key=lambda p: abs(p.alignment_change)) if valid else None
    achange = max((abs(p.zeta_T - p.zeta_0) for p in valid), default=math.nan)
    oscillating = bool(beyond_edge) and st is not Status.CONVERGED and st is not Status.DIVERGED
    caveats = tuple(caveats)
    if bool(beyond_edge) and st is Status.CONVERGED:
        caveats = (*caveats, beyond_edge[0].upper() + beyond_edge[1:] + "; the verdict reads the run as it ended")
    if st is Status.DIVERGED or oscillating:
        regime = Regime.UNSTABLE
    elif st is not Status.CONVERGED:
        regime = Regime.UNDETERMINED
    elif trace_kernel and gap_kernel:
        regime = Regime.KERNEL
    else:
        regime = Regime.FEATURE
    mech = Mechanism.NONE
    if regime is Regime.FEATURE:
        mech = top.mechanism if top is not None and top.mechanism is not Mechanism.NONE else Mechanism.RESCALING
    norms = ", ".join(f"{k or 'the layer'} ×{v:.3g}" for k, v in norm_change.items())
    gap_words = (f"the network stayed within {_pct(gap)} of its linearization throughout (largest gap ≤ {th.gap:g})"
                 if lin and gap <= th.gap
                 else (f"the network departed from its linearization (largest gap {gap:.3g} > {th.gap:g}, final "
                       f"{final_gap:.3g})" if lin
                       else "its linearization was not checked (no linearized model was trained)"))
    ntk_words = (f"the network's tangent kernel (its trace on the probe) {'moved by at most' if trace_kernel else 'changed by up to'} "
                 f"{_pct(dev)} of its initial value ({'≤' if trace_kernel else '>'} ε = {th.eps:g}); its final "
                 f"kernel distance from initialization (1 − cosine between K₀ and K_T) is "
                 + (f"{kernel_distance:.3g}" if math.isfinite(kernel_distance) else "not measured"))
    if regime is Regime.UNSTABLE and oscillating:
        explanation = (f"Unstable: training did not converge because {beyond_edge}. Lower lr below "
                       "the final edge (lr=\"auto\" is set from the initial kernel, which feature learning can "
                       "grow). No regime or mechanism is given.")
    elif regime is Regime.UNSTABLE:
        where = f" at step {diverged_at}" if diverged_at is not None else ""
        if diverged_loss is not None and initial_loss is not None and math.isfinite(diverged_loss) \
                and initial_loss > 0:
            what = (f"the loss reached {diverged_loss:.3g}, {diverged_loss / initial_loss:.3g}× its initial "
                    f"{initial_loss:.3g} (beyond the blow-up factor {th.blowup:g})")
        elif diverged_at is not None:
            what = "the loss became non-finite (NaN or inf)"
        else:
            what = f"the loss became non-finite or grew beyond {th.blowup:g}× its initial value"
        text = (f"Training diverged{where}: {what}. The learning rate is beyond the stable step of the network's "
                "tangent kernel")
        if lr is not None and lr_edge is not None and math.isfinite(lr_edge):
            text += (f" (lr = {lr:.3g}; the gradient-descent edge of stability at initialization is "
                     f"2n/λ_max(K₀) = {lr_edge:.3g}, lr=\"auto\" takes a quarter of it)")
        explanation = text + ". No regime or mechanism is given."
    elif regime is Regime.UNDETERMINED:
        why = ("the classifier's loss or accuracy stayed at chance" if st is Status.DID_NOT_TRAIN
               else "the training loss did not fall to 1 % of its initial value")
        explanation = (f"No label: {why}, so the run did not reach the end a regime describes (train longer, or with "
                       f"another learning rate). So far: NTK change {_pct(dev)}, "
                       + (f"largest linearization gap {gap:.3g}, " if lin and math.isfinite(gap) else
                          ("the linearized model diverged, " if lin and gap == math.inf else ""))
                       + (f"largest change of alignment {achange:.3g}." if math.isfinite(achange) else
                          "no pair of consecutive weight layers."))
    elif regime is Regime.KERNEL:
        explanation = (f"Kernel (lazy) regime: {ntk_words}, and {gap_words}. Training acted like a linear model "
                       f"around the initial weights; the layers' weight norms changed by {norms or 'nothing'}"
                       + (f" and the largest change of alignment between consecutive layers is {achange:.3g}."
                          if valid else "."))
    else:
        first = ntk_words + "; " + gap_words
        if top is None:
            how = "the model has no pair of consecutive weight layers, so no mechanism can be read off."
        elif mech is Mechanism.ALIGNMENT:
            how = (f"learning by alignment: the alignment between consecutive layers {top.name} rose from "
                   f"{top.zeta_0:.3f} to {top.zeta_T:.3f} (Δζ = {top.alignment_change:+.3f} > δ = {th.delta:g}) while "
                   f"their weight norms grew together (the ratio of the two layers' norms changed "
                   f"×{top.balance_change:.3g}, within F = {th.factor:g}): the layers turn towards each other.")
        elif mech is Mechanism.DISALIGNMENT:
            how = (f"learning by disalignment: the alignment between consecutive layers {top.name} fell from "
                   f"{top.zeta_0:.3f} to {top.zeta_T:.3f} (Δζ = {top.alignment_change:+.3f} < −δ = {-th.delta:g}): "
                   "the layers turn apart and the tangent kernel shrinks.")
        else:
            why = (f"no pair's alignment moved by more than δ = {th.delta:g} (largest Δζ = {top.alignment_change:+.3f} "
                   f"at {top.name})" if abs(top.alignment_change) <= th.delta
                   else f"the weight norms of {top.name} changed very unequally (the ratio of their norms changed "
                        f"×{top.balance_change:.3g}, beyond F = {th.factor:g})")
            how = (f"learning by rescaling: {why}; the kernel changed through the layers' weight norms "
                   f"({norms}), not through their alignment.")
        explanation = f"Feature learning: {first}. Mechanism: {how}"
    disagreement = ""
    if lin and st is Status.CONVERGED:
        if trace_kernel and not gap <= th.gap:
            disagreement = (f"the NTK trace stayed within ε = {th.eps:g} but the network departed from its "
                            f"linearization (gap {gap:.3g} > {th.gap:g}): feature learning invisible to the trace "
                            f"(e.g. a rotation of the kernel; kernel distance {kernel_distance:.3g}).")
        elif not trace_kernel and gap <= th.gap:
            disagreement = (f"the two witnesses disagree: the NTK trace changed by {_pct(dev)} (> ε = {th.eps:g}) "
                            f"yet the network stayed within {_pct(gap)} of its linearization on the probe (largest "
                            f"gap ≤ {th.gap:g}). The kernel changed"
                            + (f", mostly in scale (kernel distance {kernel_distance:.3g}: it barely turned)"
                               if kernel_distance < 0.1 else f" (kernel distance {kernel_distance:.3g})")
                            + ", but the function learned on the probe is close to what the "
                            "initial kernel gives; the verdict follows the trace (feature learning), and the small "
                            "gap says the learned features barely changed these predictions.")
    return Verdict(regime=regime, mechanism=mech, converged=st is Status.CONVERGED, status=st, ntk_change=dev,
                   kernel_distance=float(kernel_distance), linearization_gap=final_gap,
                   max_linearization_gap=gap, alignment_change=float(achange),
                   norm_change=MappingProxyType({str(k): float(v) for k, v in norm_change.items()}),
                   output_at_init=float(output_at_init), deciding_pair=top.name if top is not None else "",
                   thresholds=th, linearized=lin, explanation=explanation, disagreement=disagreement,
                   caveats=tuple(caveats))
