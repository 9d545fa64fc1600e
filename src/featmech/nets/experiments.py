"""Experiments: the three mechanisms beyond the linear model (PyTorch, ``featmech[torch]``).

- :func:`activations_experiment`: ζ(t) of the two-layer net f(x) = κ Σ u_i σ(w_i x) on 1-D data,
  in the alignment case (small balanced iid init, mean-field scaling, λ = 2) and the
  disalignment case (correlated init ρ = 0.9 whose output overshoots a small target), for
  every activation; for ``linear`` the exact gradient flow is overlaid (|ζ|, since the monitor's
  Frobenius alignment of a 1×d by d×1 pair is |cos(u, w)|). Returns an :class:`ActivationsResult`
  of :class:`ActivationRun`.
- :func:`init_scale_experiment`: an MLP on digits (or MNIST/CIFAR-10 files) per init scale and
  seed: test accuracy, NTK change, kernel distance and the mechanism of each layer pair.
- :func:`lr_ratio_experiment`: the same over the output-to-hidden learning-rate ratio.
  Both return a :class:`NetworkSweepResult` of :class:`NetworkRun`, one per (value, seed).
- :func:`run_network` trains one network described by a :class:`NetworkConfig`;
  :func:`network_point` is the ``network`` computation of a sweep.

Results are frozen dataclasses: ``as_dict()`` gives the JSON content, ``table()`` the rows for
people and ``summary()`` one row of scalars per run (the CSV content), both as
:class:`featmech.tables.Table`. Figures are drawn by the report layer from ``as_dict()``.

A run earns a label only when it converged (:func:`featmech.analysis.regimes.run_status`): a
regression run (the two-layer experiments) when its final loss is at most 1e-2 × its initial
loss, a classifier when its final loss is not within 5 % of chance (ln C) and its test accuracy
is not at chance. Otherwise its regime is ``undetermined`` and ``status`` says ``not converged``
or ``did not train``; every result carries ``converged``, ``status``, ``borderline`` and
``borderline_threshold``.

Long experiments report progress through an optional callback
``progress(done: int, total: int, what: str)`` (:data:`Progress`): called before each run with
the number of runs finished so far and what starts (``"scale=0.1 seed=0"``), and after each run
with ``done`` incremented and what finished, with its outcome
(``"scale=0.1 seed=0: undetermined (did not train), 41.2 s"``).

>>> cfg = network_defaults(quick=True, scale=0.5)
>>> cfg.scale, cfg.hidden, cfg.steps
(0.5, (64, 64), 150)
>>> network_defaults(arch="resnet")
Traceback (most recent call last):
...
featmech.errors.InputError: arch must be one of mlp, cnn, got 'resnet'
"""

from __future__ import annotations

import enum
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

try:
    import torch
except ImportError as exc:  # pragma: no cover - optional
    raise ImportError("featmech.nets.experiments needs PyTorch: pip install 'featmech[torch]'") from exc

from featmech._validation import check_int
from featmech.analysis.labels import Mechanism, Regime, Status, category
from featmech.analysis.regimes import Classification, Thresholds, run_status
from featmech.data import Dataset, load_dataset, regression_1d
from featmech.errors import InputError
from featmech.nets.monitor import MechanismMonitor, MonitorHistory
from featmech.nets.networks import (
    ACTIVATIONS,
    MLP,
    SmallCNN,
    Training,
    TwoLayerNet,
    accuracy,
    to_tensor,
    train,
    weight_layers,
)
from featmech.params import PARAMETERS
from featmech.records import PointResult
from featmech.tables import Table
from featmech.theory.config import readonly
from featmech.theory.exact import solve

__all__ = ["ALL_ACTIVATIONS", "CASES", "ActivationCase", "activation_case", "ActivationRun", "ActivationsResult",
           "activations_experiment", "NetworkConfig", "network_defaults", "PairResult", "NetworkRun",
           "NetworkSweepResult", "run_network", "network_point", "init_scale_experiment", "lr_ratio_experiment",
           "make_probe", "Progress"]

#: the progress callback of the experiments: ``progress(done, total, what)`` (see the module docstring)
Progress = Callable[[int, int, str], None]

#: the activations of :func:`activations_experiment` by default (``swish`` is ``silu``)
ALL_ACTIVATIONS = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "silu")
#: the two cases of :func:`activations_experiment`
CASES = ("alignment", "disalignment")


def _plain(x: Any) -> Any:
    """Builtin types for JSON: enums by value, arrays and tuples as lists, NumPy scalars as Python ones."""
    if isinstance(x, enum.Enum):
        return x.value
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    return x


def _choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InputError(f"unknown {name} {value!r}; choose from {', '.join(allowed)}")
    return value


class _Labelled:
    """``regime``, ``mechanism``, ``status``, ``converged``, ``borderline`` and ``borderline_threshold``
    of a result that carries the ``classification`` of one configuration."""

    classification: Classification

    @property
    def regime(self) -> Regime:
        """The regime (for a layer pair: the run's, the NTK being global); ``undetermined`` when the
        run did not converge or did not train."""
        return Regime(self.classification.regime)  # type: ignore[arg-type]

    @property
    def mechanism(self) -> Mechanism:
        """The mechanism of feature learning (``none`` outside that regime)."""
        return Mechanism(self.classification.mechanism)  # type: ignore[arg-type]

    @property
    def status(self) -> Status:
        """Converged, not converged, did not train or diverged."""
        return Status(self.classification.status)  # type: ignore[arg-type]

    @property
    def converged(self) -> bool:
        """Whether the run converged (it earned its label)."""
        return bool(self.classification.converged)

    @property
    def borderline(self) -> bool:
        """Whether the label lies within 20 % of a threshold."""
        return bool(self.classification.borderline)

    @property
    def borderline_threshold(self) -> str:
        """The thresholds the label lies near (``"eps"``, ``"delta,factor"``; ``""`` if none)."""
        return str(self.classification.borderline_threshold)


def _check_progress(progress: Progress | None) -> Progress | None:
    if progress is not None and not callable(progress):
        raise InputError(f"progress must be a callable progress(done, total, what) or None, got {progress!r}")
    return progress


def _outcome(regime: Regime, mechanism: Mechanism, status: Status, borderline_threshold: str, seconds: float) -> str:
    """One run's outcome in words, for progress reports: ``"feature/alignment, borderline (eps), 3.1 s"``."""
    words = category(regime, mechanism)
    if regime is Regime.UNDETERMINED or regime is Regime.UNSTABLE:
        words += f" ({status.value})"
    if borderline_threshold:
        words += f", borderline ({borderline_threshold})"
    return f"{words}, {seconds:.1f} s"


class _Runs:
    """A result is the sequence of its runs: ``len(result)``, ``result[0]``, ``for run in result``."""

    runs: tuple[Any, ...]

    def __len__(self) -> int:
        return len(self.runs)

    def __getitem__(self, i: int) -> Any:
        return self.runs[i]

    def __iter__(self) -> Any:
        return iter(self.runs)


# ---------------------------------------------------------------------- the two-layer net on 1-D data
@dataclass(frozen=True)
class ActivationCase:
    """One configuration of the two-layer experiment (docs/theory.md §5 canonical cases (i) and (v)).

    Attributes:
        width: d.
        sigma_u, sigma_w, rho: the iid init (stds and correlation of (u_i, w_i)).
        eta: η_u = η_w, the layers' learning-rate multiplier.
        kappa: the output scale κ.
        target: the slope k of the data y = k x.
        lr: the GD step size.
        steps: the number of full-batch GD steps.
    """

    width: int
    sigma_u: float
    sigma_w: float
    rho: float
    eta: float  # η_u = η_w
    kappa: float
    target: float
    lr: float
    steps: int


def activation_case(case: str, quick: bool = False) -> ActivationCase:
    """The configuration of ``case`` (``alignment`` or ``disalignment``), smaller when ``quick``.

    - alignment: mean-field, σ = 1, η = d, κ = 1/d, k = 1 → λ = 4k/(κ s N) = 2, K0 ≈ 2;
    - disalignment: correlated ρ = 0.9, κ = 1/d, η = 1, k = 0.05: κ p0 ≈ 0.9 overshoots the target.

    Raises:
        InputError: an unknown case.

    >>> activation_case("alignment", quick=True).width
    128
    """
    _choice("case", case, CASES)
    if case == "alignment":
        d = 128 if quick else 512
        return ActivationCase(d, 1.0, 1.0, 0.0, float(d), 1.0 / d, 1.0, 2e-3 if quick else 1e-3, 2500 if quick else 6000)
    dd = 1000
    return ActivationCase(dd, 1.0, 1.0, 0.9, 1.0, 1.0 / dd, 0.05, 5.0, 800 if quick else 1600)


@dataclass(frozen=True)
class ActivationRun(_Labelled):
    """One activation of :func:`activations_experiment` (arrays read-only, over the recorded steps).

    Attributes:
        case, activation: what ran.
        width, lr, steps, seed: its configuration.
        step: the recorded steps; ``time``: step × lr (gradient-flow time).
        alignment: ζ = |cos(u, w)| at those steps.
        ntk: the NTK trace tr(K)/n, interpolated from its records to those steps.
        ntk_step, ntk_exact_steps: the steps at which the NTK was computed, and its trace there.
        loss: the training loss at the recorded steps.
        classification: the monitor's label for the pair ``hidden->output`` (``undetermined``,
            status ``not converged``, when the final loss is above 1e-2 × the initial one).
        diverged: whether GD diverged.
        seconds: wall time of the run.
        theory_alignment: for ``linear``, |ζ| of the exact gradient flow from the same init with the
            sample moments V = mean x², k = mean xy / V (``None`` otherwise).
        theory_max_deviation: for ``linear``, max |ζ_exact − ζ_net| (``None`` otherwise).
    """

    case: str
    activation: str
    width: int
    lr: float
    steps: int
    seed: int
    step: NDArray[np.int64]
    time: NDArray[np.float64]
    alignment: NDArray[np.float64]
    ntk: NDArray[np.float64]
    ntk_step: NDArray[np.int64]
    ntk_exact_steps: NDArray[np.float64]
    loss: NDArray[np.float64]
    classification: Classification
    diverged: bool
    seconds: float
    theory_alignment: NDArray[np.float64] | None = None
    theory_max_deviation: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The run as builtin types (lists, labels as strings; NaN kept), the JSON content of one run."""
        d: dict[str, Any] = {
            "case": self.case, "activation": self.activation, "width": self.width, "lr": self.lr,
            "steps": self.steps, "seed": self.seed, "step": self.step, "time": self.time,
            "alignment": self.alignment, "ntk": self.ntk, "ntk_step": self.ntk_step,
            "ntk_exact_steps": self.ntk_exact_steps, "loss": self.loss, "regime": self.regime,
            "mechanism": self.mechanism, "converged": self.converged, "status": self.status,
            "borderline": self.borderline, "borderline_threshold": self.borderline_threshold,
            "classification": self.classification.as_dict(),
            "diverged": self.diverged, "seconds": self.seconds}
        if self.theory_alignment is not None:
            d["theory_alignment"] = self.theory_alignment
            d["theory_max_deviation"] = self.theory_max_deviation
        return _plain(d)


@dataclass(frozen=True)
class ActivationsResult(_Runs):
    """What :func:`activations_experiment` returns: one :class:`ActivationRun` per activation.

    Attributes:
        case: ``alignment`` or ``disalignment``.
        runs: the runs, in the order of the activations asked for.
    """

    case: str
    runs: tuple[ActivationRun, ...]

    def as_dict(self) -> dict[str, Any]:
        """The JSON content: the run itself when there is one, else ``{"case": …, "runs": [...]}``."""
        if len(self.runs) == 1:
            return self.runs[0].as_dict()
        return {"case": self.case, "runs": [r.as_dict() for r in self.runs]}

    def table(self) -> Table:
        """For people: per activation its label (``regime, mechanism``), ``status`` (converged, not
        converged, diverged) and ``borderline`` (the thresholds the label lies within 20 % of,
        empty if none), ζ at start and end (``alignment_start/end``), max|K/K0 − 1|
        (``ntk_max_deviation``) and, for ``linear``, the largest deviation from the exact theory
        (``theory_max_deviation``; empty for the others)."""
        return Table({
            "activation": [r.activation for r in self.runs],
            "regime": [r.regime for r in self.runs],
            "mechanism": [r.mechanism for r in self.runs],
            "status": [r.status for r in self.runs],
            "borderline": [r.borderline_threshold for r in self.runs],
            "alignment_start": [float(r.classification.alignment_start) for r in self.runs],
            "alignment_end": [float(r.classification.alignment_end) for r in self.runs],
            "ntk_max_deviation": [float(r.classification.ntk_max_deviation) for r in self.runs],
            "theory_max_deviation": ["" if r.theory_max_deviation is None else r.theory_max_deviation
                                     for r in self.runs]})

    def summary(self) -> Table:
        """One row of scalars per run (the CSV content): configuration, labels, ``converged``,
        ``status``, ``borderline``, ``borderline_threshold``, diverged, seconds, and
        ``theory_max_deviation`` (empty except for ``linear``)."""
        return Table.from_records([{k: v for k, v in r.as_dict().items() if not isinstance(v, (list, dict))}
                                   for r in self.runs])


def make_probe(x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` examples of ``x`` chosen by ``seed``.

    Raises:
        InputError: ``n < 1`` or larger than the data set.

    >>> make_probe(np.arange(6.0)[:, None], 2, seed=0).shape
    (2, 1)
    """
    return np.asarray(x)[_probe_indices(len(x), n, seed)]


def _probe_indices(n_data: int, n: int, seed: int) -> NDArray[np.int64]:
    n = check_int("probe size", n, low=1)
    if n > n_data:
        raise InputError(f"probe batch of {n} is larger than the data ({n_data} examples)")
    return np.random.default_rng(seed).permutation(n_data)[:n]


def activations_experiment(case: str = "alignment", activations: Sequence[str] = ALL_ACTIVATIONS, *,
                           seed: int = 0, quick: bool = False, n_data: int = 256, ntk_every: int | None = None,
                           thresholds: Thresholds | None = None,
                           progress: Progress | None = None) -> ActivationsResult:
    """ζ(t), NTK and loss of the two-layer net for each activation (full-batch GD on fixed samples).

    The data are ``n_data`` samples of y = k x (:func:`featmech.data.regression_1d`); every
    activation starts from the same init (:func:`activation_case`) and is trained with
    η_u = η_w = η; the :class:`~featmech.nets.monitor.MechanismMonitor` records ζ every
    steps/100 steps and the NTK every ``ntk_every`` steps (default steps/20).

    Arguments:
        case: ``alignment`` or ``disalignment``.
        activations: keys of :data:`featmech.nets.networks.ACTIVATIONS`.
        seed: the seed of the data and the init.
        quick: the smaller, CI-sized configuration.
        n_data: the number of samples.
        ntk_every: the NTK recording interval in steps.
        thresholds: the classification thresholds (default :class:`Thresholds`).
        progress: ``progress(done, total, what)``, called before and after each activation's run
            (see the module docstring); ``None``: silent.

    Returns:
        An :class:`ActivationsResult`. A run whose final loss is above 1e-2 × its initial loss is
        ``undetermined`` (status ``not converged``).

    Raises:
        InputError: an unknown case or activation, or a bad ``n_data``, ``seed``, ``ntk_every``
            or ``progress``.
    """
    c = activation_case(case, quick)
    progress = _check_progress(progress)
    for a in activations:
        _choice("activation", a, tuple(ACTIVATIONS))
    seed = PARAMETERS["seed"].check(seed)
    x, y = regression_1d(check_int("n_data", n_data, low=1), target=c.target, seed=seed)
    every = max(1, c.steps // 100)
    nk = max(every, c.steps // 20) if ntk_every is None else check_int("ntk_every", ntk_every, low=1)
    mult = {"hidden": c.eta, "output": c.eta}
    training = Training(lr=c.lr, steps=c.steps, multipliers=mult)
    runs = []
    total = len(activations)
    for i, act in enumerate(activations):
        what = f"{case} {act}"
        if progress is not None:
            progress(i, total, what)
        t0 = time.perf_counter()
        net = TwoLayerNet(c.width, act, sigma_u=c.sigma_u, sigma_w=c.sigma_w, rho=c.rho, kappa=c.kappa, seed=seed)
        u0, w0 = net.u.copy(), net.w.copy()
        mon = MechanismMonitor(net, x, y, every=every, ntk_every=nk, multipliers=mult, alignment_every=every)
        res = train(net, x, y, training, monitor=mon)
        h = mon.records()
        # per-step loss at the recorded steps: the loss before update t is losses[t]
        loss_at = [float(res.losses[s]) if s < c.steps else _mse(net, x, y) for s in h.step]
        status = None if res.diverged else run_status(loss_at)
        cl = mon.classify(thresholds, diverged=res.diverged, status=status)["hidden->output"]
        theory = dev = None
        if act == "linear":
            V = float(np.mean(x**2))
            k = float(np.mean(x * y)) / V
            sol = solve(u0, w0, eta_u=c.eta, eta_w=c.eta, kappa=c.kappa, target=k, data_var=V)
            theory = readonly(np.abs(sol(h.step * c.lr).alignment))
            dev = float(np.max(np.abs(theory - h.zeta[:, 0])))
        runs.append(ActivationRun(
            case=case, activation=act, width=c.width, lr=c.lr, steps=c.steps, seed=seed, step=h.step,
            time=readonly(h.step * c.lr), alignment=readonly(h.zeta[:, 0]),
            ntk=readonly(np.interp(h.step, h.ntk_step, h.ntk_trace)), ntk_step=h.ntk_step,
            ntk_exact_steps=h.ntk_trace, loss=readonly(loss_at), classification=cl, diverged=res.diverged,
            seconds=time.perf_counter() - t0, theory_alignment=theory, theory_max_deviation=dev))
        if progress is not None:
            r = runs[-1]
            progress(i + 1, total, f"{what}: {_outcome(r.regime, r.mechanism, r.status, r.borderline_threshold, r.seconds)}")
    return ActivationsResult(case, tuple(runs))


def _mse(net: Any, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        X = to_tensor(x, next(net.parameters()).dtype)
        return float(0.5 * ((net(X) - to_tensor(y, X.dtype)) ** 2).sum(-1).mean())


# ---------------------------------------------------------------------- image classifiers
@dataclass(frozen=True)
class NetworkConfig:
    """One network run of :func:`run_network` (validated on construction).

    Attributes:
        arch: ``mlp`` (ReLU MLP with ``hidden`` widths) or ``cnn`` (:class:`~featmech.nets.networks.SmallCNN`).
        scale: the init scale (weights ~ N(0, scale²/fan_in)), > 0.
        lr_ratio: η_out/η_hidden, the output layer's learning-rate multiplier (the others 1), > 0.
        lr: the base learning rate, > 0.
        steps: the number of SGD steps.
        loss: ``ce`` (cross-entropy) or ``mse`` (on one-hot targets).
        seed: the seed of the init, the minibatches and the probe.
        hidden: the MLP's hidden widths.
        batch_size: the minibatch size (``None``: full batch).
        probe: the number of training examples in the NTK probe batch.
        ntk_every: record ζ and the NTK every this many steps.

    Raises:
        InputError: a value out of its range (ranges of :data:`featmech.params.PARAMETERS`).
    """

    arch: str = "mlp"
    scale: float = 1.0
    lr_ratio: float = 1.0
    lr: float = 0.05
    steps: int = 1500
    loss: str = "ce"
    seed: int = 0
    hidden: tuple[int, ...] = (256, 256)
    batch_size: int | None = 128
    probe: int = 64
    ntk_every: int = 50

    def __post_init__(self) -> None:
        for name in ("arch", "scale", "lr_ratio", "steps", "loss", "seed", "batch_size"):
            object.__setattr__(self, name, PARAMETERS[name].check(getattr(self, name)))
        lr = PARAMETERS["lr"].check(self.lr)
        if lr is None:
            raise InputError("lr must be given for a network run")
        object.__setattr__(self, "lr", lr)
        object.__setattr__(self, "hidden", tuple(check_int("hidden", h, low=1) for h in self.hidden))
        object.__setattr__(self, "probe", check_int("probe", self.probe, low=1))
        object.__setattr__(self, "ntk_every", check_int("ntk_every", self.ntk_every, low=1))


def network_defaults(quick: bool = False, **changes: Any) -> NetworkConfig:
    """The default :class:`NetworkConfig`: 1500 steps of a 256-256 MLP, probe 64, NTK every 50
    (``quick``: 150 steps, 64-64, probe 32, NTK every 25); minibatches of 128.

    Arguments:
        quick: the CI-sized defaults.
        **changes: fields to set instead of the defaults.

    Raises:
        InputError: a value out of range.
        TypeError: an unknown field.
    """
    base = dict(steps=150 if quick else 1500, hidden=(64, 64) if quick else (256, 256), probe=32 if quick else 64,
                ntk_every=25 if quick else 50, batch_size=128)
    return NetworkConfig(**{**base, **changes})


@dataclass(frozen=True)
class PairResult(_Labelled):
    """The label of one consecutive weight-layer pair of a network run.

    Attributes:
        pair: ``"a->b"``.
        classification: the monitor's :class:`~featmech.analysis.regimes.Classification`.
    """

    pair: str
    classification: Classification

    def as_dict(self) -> dict[str, Any]:
        """``pair, regime, mechanism, borderline, borderline_threshold, alignment_start,
        alignment_end, balance_change, ntk_max_deviation``."""
        c = self.classification
        return _plain({"pair": self.pair, "regime": self.regime, "mechanism": self.mechanism,
                       "borderline": self.borderline, "borderline_threshold": self.borderline_threshold,
                       "alignment_start": float(c.alignment_start), "alignment_end": float(c.alignment_end),
                       "balance_change": float(c.balance_change), "ntk_max_deviation": float(c.ntk_max_deviation)})


@dataclass(frozen=True)
class NetworkRun:
    """One trained network: its accuracy, NTK change and labels.

    Attributes:
        config: what ran.
        test_accuracy: the test accuracy (NaN when the run diverged).
        ntk_ratio: tr K(end) / tr K(0) on the probe.
        kernel_distance: 1 − ⟨K0, K⟩/(‖K0‖‖K‖) at the end.
        kernel_target_alignment: ⟨K, YYᵀ⟩/(‖K‖‖YYᵀ‖) at the end.
        regime: the regime (from the NTK, common to all pairs); ``undetermined`` when the run did
            not train (final loss within 5 % of chance, or test accuracy at chance) or, for MSE
            on one-hot targets, likewise against the chance loss ½(1 − 1/C).
        mechanism: the most frequent mechanism among the pairs that learn features (``none`` if none does).
        status: converged, did not train or diverged (:class:`~featmech.analysis.labels.Status`).
        borderline: whether a pair's label lies within 20 % of a threshold.
        borderline_threshold: the thresholds the pairs' labels lie near (comma-separated, ``""`` if none).
        pairs: the label of each consecutive layer pair.
        diverged: whether the loss became non-finite.
        final_loss: the last finite training loss (``None`` if none).
        seconds: wall time of the training.
        history: the monitor's records.
    """

    config: NetworkConfig
    test_accuracy: float
    ntk_ratio: float
    kernel_distance: float
    kernel_target_alignment: float
    regime: Regime
    mechanism: Mechanism
    status: Status
    borderline: bool
    borderline_threshold: str
    pairs: tuple[PairResult, ...]
    diverged: bool
    final_loss: float | None
    seconds: float
    history: MonitorHistory

    @property
    def converged(self) -> bool:
        """Whether the run earned its labels (``status == "converged"``)."""
        return self.status is Status.CONVERGED

    @property
    def scale(self) -> float:
        """The init scale."""
        return self.config.scale

    @property
    def lr_ratio(self) -> float:
        """η_out/η_hidden."""
        return self.config.lr_ratio

    @property
    def seed(self) -> int:
        """The seed."""
        return self.config.seed

    def as_dict(self, history: bool = True) -> dict[str, Any]:
        """Builtin types (NaN kept): ``scale, lr_ratio, seed``, the results, the labels with
        ``converged, status, borderline, borderline_threshold``, ``pairs`` (a list of
        :meth:`PairResult.as_dict`) and with ``history`` its ``step, zeta, norms, ntk_step,
        ntk_trace, probe_loss, probe_accuracy``."""
        d: dict[str, Any] = {
            "scale": self.scale, "lr_ratio": self.lr_ratio, "seed": self.seed, "test_accuracy": self.test_accuracy,
            "ntk_ratio": self.ntk_ratio, "kernel_distance": self.kernel_distance,
            "kernel_target_alignment": self.kernel_target_alignment, "regime": self.regime,
            "mechanism": self.mechanism, "converged": self.converged, "status": self.status,
            "borderline": self.borderline, "borderline_threshold": self.borderline_threshold,
            "pairs": [p.as_dict() for p in self.pairs], "diverged": self.diverged,
            "final_loss": self.final_loss, "seconds": self.seconds}
        if history:
            h = self.history
            d["history"] = {"step": h.step, "zeta": h.zeta, "norms": h.norms, "ntk_step": h.ntk_step,
                            "ntk_trace": h.ntk_trace, "probe_loss": h.probe_loss, "probe_accuracy": h.probe_accuracy}
        return _plain(d)


#: what each swept parameter is called in the printed table
_SWEPT = ("scale", "lr_ratio")


@dataclass(frozen=True)
class NetworkSweepResult(_Runs):
    """What :func:`init_scale_experiment` and :func:`lr_ratio_experiment` return.

    Attributes:
        parameter: the swept :class:`NetworkConfig` field, ``scale`` or ``lr_ratio``.
        runs: one :class:`NetworkRun` per (value, seed), values outer, seeds inner.
    """

    parameter: str
    runs: tuple[NetworkRun, ...]

    def __post_init__(self) -> None:
        _choice("swept parameter", self.parameter, _SWEPT)

    def as_dict(self, history: bool = True) -> dict[str, Any]:
        """The JSON content, ``{"rows": [run.as_dict(history), ...]}``."""
        return {"rows": [r.as_dict(history) for r in self.runs]}

    def table(self) -> Table:
        """For people: per run the swept value, ``seed, test_accuracy, ntk_ratio, kernel_distance,
        regime, mechanism, status`` (converged, did not train, diverged), ``borderline`` (the
        thresholds a label lies within 20 % of, empty if none) and ``per_pair``, the mechanism of
        each pair."""
        rs = self.runs
        return Table({
            self.parameter: [getattr(r.config, self.parameter) for r in rs], "seed": [r.seed for r in rs],
            "test_accuracy": [r.test_accuracy for r in rs], "ntk_ratio": [r.ntk_ratio for r in rs],
            "kernel_distance": [r.kernel_distance for r in rs], "regime": [r.regime for r in rs],
            "mechanism": [r.mechanism for r in rs], "status": [r.status for r in rs],
            "borderline": [r.borderline_threshold for r in rs],
            "per_pair": [", ".join(str(p.mechanism) for p in r.pairs) for r in rs]})

    def summary(self) -> Table:
        """One row of scalars per run (the CSV content): ``scale, lr_ratio, seed``, the results and labels."""
        return Table.from_records([{k: v for k, v in r.as_dict(history=False).items() if not isinstance(v, (list, dict))}
                                   for r in self.runs])


def _build(ds: Dataset, config: NetworkConfig) -> torch.nn.Module:
    if config.arch == "mlp":
        return MLP(ds.n_features, config.hidden, ds.n_classes, init_scale=config.scale, seed=config.seed)
    return SmallCNN(ds.image_shape, ds.n_classes, init_scale=config.scale, seed=config.seed)


def _summarize_pairs(cls: Mapping[str, Classification]) -> dict[str, Any]:
    """The run's labels from its pairs' (the NTK and the status are global: every pair has the same regime)."""
    pairs = tuple(PairResult(name, c) for name, c in cls.items())
    feats = [p.mechanism for p in pairs if p.mechanism != Mechanism.NONE]
    near = sorted({n for p in pairs for n in p.borderline_threshold.split(",") if n},
                  key=("eps", "delta", "factor").index)
    return dict(regime=pairs[0].regime, mechanism=Counter(feats).most_common(1)[0][0] if feats else Mechanism.NONE,
                status=pairs[0].status, borderline=bool(near), borderline_threshold=",".join(near), pairs=pairs)


def run_network(ds: Dataset, config: NetworkConfig, thresholds: Thresholds | None = None) -> NetworkRun:
    """Train one network on ``ds`` with the MechanismMonitor and summarize it.

    The output layer's learning rate is lr·``lr_ratio``, the others lr; the monitor's probe is
    ``config.probe`` training examples chosen by the seed; ``mse`` trains on one-hot targets.

    Arguments:
        ds: the data set.
        config: the run.
        thresholds: the classification thresholds (default :class:`Thresholds`).

    Returns:
        A :class:`NetworkRun`; ``undetermined`` (status ``did not train``) when the final training
        loss is within 5 % of the chance loss or the test accuracy is at chance
        (:func:`~featmech.analysis.regimes.run_status` with the data set's classes and test size).

    Raises:
        InputError: a probe or batch larger than the data.
    """
    torch.manual_seed(config.seed)
    net = _build(ds, config)
    names = [n for n, _ in weight_layers(net)]
    mult = {n: 1.0 for n in names}
    mult[names[-1]] = config.lr_ratio
    idx = _probe_indices(len(ds.x_train), config.probe, config.seed)
    mon = MechanismMonitor(net, ds.x_train[idx], ds.y_train[idx], every=config.ntk_every,
                           ntk_every=config.ntk_every, multipliers=mult, n_classes=ds.n_classes)
    y = ds.y_train if config.loss == "ce" else np.eye(ds.n_classes)[ds.y_train]
    training = Training(lr=config.lr, steps=config.steps, loss=config.loss, multipliers=mult,
                        batch_size=config.batch_size, seed=config.seed)
    t0 = time.perf_counter()
    res = train(net, ds.x_train, y, training, monitor=mon, x_test=ds.x_test, y_test=ds.y_test)
    acc = res.test_accuracy
    if config.loss == "mse" and not res.diverged:
        acc = accuracy(net, ds.x_test, ds.y_test)
    status = None if res.diverged else run_status(res.losses, n_classes=ds.n_classes, loss=config.loss,
                                                  accuracy=acc, n_eval=len(ds.x_test))
    labels = _summarize_pairs(mon.classify(thresholds, diverged=res.diverged, status=status))
    h = mon.records()
    return NetworkRun(
        config=config, test_accuracy=acc if acc is not None else float("nan"),
        ntk_ratio=float(h.ntk_trace[-1] / h.ntk_trace[0]) if len(h.ntk_trace) else float("nan"),
        kernel_distance=float(h.kernel_distance[-1]) if len(h.kernel_distance) else float("nan"),
        kernel_target_alignment=float(h.kernel_target_alignment[-1]) if len(h.kernel_target_alignment)
        else float("nan"),
        **labels, diverged=res.diverged, final_loss=res.final_loss,
        seconds=time.perf_counter() - t0, history=h)


def network_point(config: Mapping[str, Any]) -> PointResult:
    """One ``network`` sweep point: load the data set, train one network, summarize it.

    Runs PyTorch on one thread (sweeps parallelize over points). The data set is loaded once per
    process (the last two are kept: a worker computing many points reads its files once).

    Arguments:
        config: the full point configuration (``dataset, data_dir, arch, scale, lr_ratio, lr, steps,
            loss, max_train, quick, seed``), defaults filled in by the sweep.

    Returns:
        A :class:`~featmech.records.PointResult` whose scalars are the run's summary (test accuracy,
        NTK ratio, kernel distance, kernel-target alignment, regime, mechanism, converged, status,
        borderline, borderline_threshold, diverged, final loss, seconds, ``pair_mechanisms`` as a
        comma-separated string) and whose arrays are ``ntk_step`` and ``ntk_trace``.

    Raises:
        InputError: an unknown data set, architecture or loss, a value out of range, or missing
            data files.
    """
    torch.set_num_threads(1)
    cfg = network_defaults(bool(config["quick"]), arch=config["arch"], scale=config["scale"],
                           lr_ratio=config["lr_ratio"], seed=config["seed"], steps=config["steps"], lr=config["lr"],
                           loss=config["loss"])
    ds = _sweep_dataset(config["dataset"], config["data_dir"], config["max_train"])
    run = run_network(ds, cfg)
    row = run.as_dict(history=False)
    scalars = {k: v for k, v in row.items() if k not in ("scale", "lr_ratio", "seed", "pairs")}
    scalars["pair_mechanisms"] = ",".join(p["mechanism"] for p in row["pairs"])
    return PointResult(scalars=scalars, arrays={"ntk_step": np.asarray(run.history.ntk_step),
                                                "ntk_trace": np.asarray(run.history.ntk_trace)})


def _network_sweep(parameter: str, values: Sequence[float], base: NetworkConfig, seeds: Sequence[int], *,
                   dataset: str, data_dir: str | None, max_train: int | None,
                   thresholds: Thresholds | None, progress: Progress | None) -> NetworkSweepResult:
    """One run per (value, seed): ``base`` with ``parameter`` set to the value; all validated first."""
    if not len(seeds):
        raise InputError("seeds must hold at least one seed")
    progress = _check_progress(progress)
    changes: list[dict[str, Any]] = [{parameter: v, "seed": s} for v in values for s in seeds]
    configs = [replace(base, **c) for c in changes]
    ds = load_dataset(dataset, data_dir=data_dir, seed=0, max_train=max_train)
    runs = []
    for i, c in enumerate(configs):
        what = f"{parameter}={getattr(c, parameter):g} seed={c.seed}"
        if progress is not None:
            progress(i, len(configs), what)
        r = run_network(ds, c, thresholds)
        runs.append(r)
        if progress is not None:
            outcome = _outcome(r.regime, r.mechanism, r.status, r.borderline_threshold, r.seconds)
            progress(i + 1, len(configs), f"{what}: {outcome}")
    return NetworkSweepResult(parameter, tuple(runs))


def init_scale_experiment(scales: Sequence[float] = (0.1, 0.3, 1.0, 3.0, 10.0), *, dataset: str = "digits",
                          data_dir: str | None = None, seeds: Sequence[int] = (0, 1, 2), arch: str = "mlp",
                          lr: float = 0.05, loss: str = "ce", quick: bool = False, steps: int | None = None,
                          max_train: int | None = None, thresholds: Thresholds | None = None,
                          progress: Progress | None = None) -> NetworkSweepResult:
    """Train the MLP (or CNN) per init scale and seed; one run per (scale, seed).

    Arguments:
        scales: the init scales (weights ~ N(0, scale²/fan_in)), each > 0.
        dataset, data_dir, max_train: the data (:func:`featmech.data.load_dataset`).
        seeds: the seeds of each scale.
        arch, lr, loss: as in :class:`NetworkConfig`.
        quick: the CI-sized defaults (:func:`network_defaults`).
        steps: the SGD steps (default: 1500, ``quick`` 150).
        thresholds: the classification thresholds.
        progress: ``progress(done, total, what)``, called before and after each run (see the
            module docstring); ``None``: silent.

    Returns:
        A :class:`NetworkSweepResult` over ``scale``.

    Raises:
        InputError: a value out of range, an unknown data set, missing data files, or a
            ``progress`` that is not callable.
    """
    base = network_defaults(quick, arch=arch, lr=lr, loss=loss, **({} if steps is None else {"steps": steps}))
    return _network_sweep("scale", scales, base, seeds, dataset=dataset, data_dir=data_dir, max_train=max_train,
                          thresholds=thresholds, progress=progress)


def lr_ratio_experiment(ratios: Sequence[float] = (0.01, 0.1, 1.0, 10.0, 100.0), *, dataset: str = "digits",
                        data_dir: str | None = None, seeds: Sequence[int] = (0, 1, 2), arch: str = "mlp",
                        lr: float = 0.02, loss: str = "ce", scale: float = 1.0, quick: bool = False,
                        steps: int | None = None, max_train: int | None = None,
                        thresholds: Thresholds | None = None, progress: Progress | None = None) -> NetworkSweepResult:
    """Train over the output-to-hidden learning-rate ratio η_out/η_hidden; one run per (ratio, seed).

    Arguments:
        ratios: the ratios, each > 0.
        scale: the init scale of every run.
        dataset, data_dir, seeds, arch, lr, loss, quick, steps, max_train, thresholds, progress: as
            for :func:`init_scale_experiment`.

    Returns:
        A :class:`NetworkSweepResult` over ``lr_ratio``.

    Raises:
        InputError: a value out of range, an unknown data set, or missing data files.
    """
    base = network_defaults(quick, arch=arch, lr=lr, loss=loss, scale=scale,
                            **({} if steps is None else {"steps": steps}))
    return _network_sweep("lr_ratio", ratios, base, seeds, dataset=dataset, data_dir=data_dir, max_train=max_train,
                          thresholds=thresholds, progress=progress)


#: (dataset, data_dir, max_train) -> the loaded data set, per process (network_point's cache)
_SWEEP_DATASETS: dict[tuple[Any, ...], Dataset] = {}


def _sweep_dataset(name: str, data_dir: str | None, max_train: int | None) -> Dataset:
    """load_dataset(name, data_dir=..., seed=0, max_train=...), loaded once per process (data sets
    are immutable); the two most recent are kept."""
    key = (name, data_dir, max_train)
    ds = _SWEEP_DATASETS.pop(key, None)
    if ds is None:
        ds = load_dataset(name, data_dir=data_dir, seed=0, max_train=max_train)
    _SWEEP_DATASETS[key] = ds  # most recent last
    while len(_SWEEP_DATASETS) > 2:
        del _SWEEP_DATASETS[next(iter(_SWEEP_DATASETS))]
    return ds
