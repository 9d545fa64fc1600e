r"""``diagnose``: the verdict on your own PyTorch network — kernel or feature learning, and how.

:func:`diagnose` trains a deep copy of the model (yours is left untouched) with SGD or Adam and,
alongside it on the same batches, its first-order Taylor model around the initial weights
(:mod:`featmech.nets.linearize`). A :class:`~featmech.nets.monitor.MechanismMonitor` records the
layers' weight norms, the alignment ζ between consecutive layers and the tangent kernel on a
probe batch; the :class:`Diagnosis` holds the records, the model-level :class:`Verdict`
(:mod:`featmech.nets.verdict`) and the per-pair results, and presents them (``str``,
``summary()``, ``history()``, ``plot()``, HTML) and saves them (``save``/``load``, one ``.npz``
without pickle).

**The tangent kernel** on the probe x_1 … x_n is the η-weighted empirical NTK
Θ_(ic),(jc') = Σ_θ η_θ ∂f_c(x_i)/∂θ · ∂f_c'(x_j)/∂θ, η_θ the layer's learning-rate multiplier;
its trace over outputs K_ij = Σ_c Θ_(ic),(jc) is what the monitor records.

**lr="auto".** :func:`featmech.nets.networks.train`'s MSE is L = ½·(1/n) Σ_i Σ_c (f_c(x_i) − y_ic)²
(``_loss_fn``), so one linearized full-batch GD step maps the residual r to (I − lr·Θ/n) r: GD is
stable iff lr < 2n/λ_max(Θ) (the edge of stability, ``config["lr_edge"]``). ``"auto"`` takes
lr = 0.5 / (λ_max(Θ₀)/n) = n/(2 λ_max(Θ₀)), a quarter of the edge, with Θ₀ the kernel at
initialization on the probe (n probe points; the probe stands in for the training set, whose
λ_max/n it estimates). For cross-entropy the Hessian of the loss in the logits is at most 1/n
(eigenvalues of diag(p) − ppᵀ ≤ 1), so the same lr is at most a quarter of that edge too. With
Adam, whose stable step does not follow from the kernel, ``"auto"`` is Adam's customary 1e-3.

>>> import torch
>>> from featmech.nets.networks import MLP
>>> torch.manual_seed(0) and None
>>> X = np.random.default_rng(0).normal(size=(32, 2)); Y = np.tanh(X[:, :1] - X[:, 1:])
>>> d = diagnose(MLP(2, (32,), 1, activation_name="tanh", dtype=torch.float64), X, Y, steps=300, progress=False)
>>> d.verdict.regime in ("kernel", "feature", "undetermined"), d.lr > 0
(True, True)
"""

from __future__ import annotations

import copy
import html
import io
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - optional
    raise ImportError("featmech.diagnose needs PyTorch: pip install 'featmech[torch]'") from exc

from featmech._validation import check_int
from featmech.analysis.labels import Mechanism, Regime, Status
from featmech.analysis.regimes import run_status
from featmech.errors import InputError
from featmech.nets.monitor import MechanismMonitor
from featmech.nets.networks import _loss_fn, layer_multipliers, make_optimizer, param_groups, weight_layers
from featmech.nets.verdict import PairResult, Verdict, VerdictThresholds, decide, pair_result
from featmech.theory.config import readonly

from featmech.nets.linearize import Linearized, check_deterministic, linearization_gap

__all__ = ["diagnose", "check_options", "Diagnosis", "Verdict", "VerdictThresholds", "PairResult", "tangent_kernel_lambda_max",
           "AUTO_LR_FACTOR", "ADAM_AUTO_LR", "PROBE_SIZE", "FORMAT"]

#: lr="auto" = AUTO_LR_FACTOR · n / λ_max(Θ₀): a quarter of the GD edge 2n/λ_max
AUTO_LR_FACTOR = 0.5
#: lr="auto" with Adam
ADAM_AUTO_LR = 1e-3
#: the default probe size (a seeded random subset of the training inputs)
PROBE_SIZE = 64
#: the linearization gap counts moves below GAP_RTOL_EPS · ε(dtype) · ‖f₀‖ as nothing moved (round-off)
GAP_RTOL_EPS = 1000.0
#: the format tag of :meth:`Diagnosis.save` files
FORMAT = "featmech.diagnosis/1"
OPTIMIZERS = ("sgd", "adam")

#: the arrays a Diagnosis holds: name -> the length they follow ("rec": weight records, "ntk": NTK records, "steps")
_ARRAYS = {"step": "rec", "norms": "rec", "zeta": "rec", "train_loss": "rec", "lin_train_loss": "rec",
           "test_loss": "rec", "lin_test_loss": "rec", "train_accuracy": "rec", "test_accuracy": "rec",
           "ntk_step": "ntk", "ntk_trace": "ntk", "kernel_distance": "ntk", "linearization_gap": "ntk",
           "probe_loss": "ntk", "batch_loss": "steps", "lin_batch_loss": "steps"}


# ---------------------------------------------------------------------------------------------- helpers
def _eta_param(model: nn.Module, multipliers: Any) -> dict[str, float]:
    """Parameter name -> η of its weight layer (parameters outside weight layers: absent, i.e. 1)."""
    mult = layer_multipliers(model, multipliers)
    if mult and not any(mult.values()):  # nothing would train, and lr="auto" would divide by a zero kernel
        raise InputError(f"multipliers must not all be 0 (no weight layer would train), got {dict(mult)}")
    out: dict[str, float] = {}
    for lname, m in weight_layers(model):
        for pname, _ in m.named_parameters(recurse=False):
            out[f"{lname}.{pname}" if lname else pname] = mult[lname]
    return out


def tangent_kernel_lambda_max(model: nn.Module, x: torch.Tensor, eta: Mapping[str, float] | None = None) -> float:
    """λ_max of the full tangent kernel Θ_(ic),(jc') = Σ_θ η_θ ∂f_c(x_i)/∂θ ∂f_c'(x_j)/∂θ ((n·C) × (n·C)).

    Arguments:
        model: the network (examples processed independently).
        x: the probe batch (n, …).
        eta: parameter name -> η_θ (missing: 1).

    Returns:
        The largest eigenvalue, in float64.

    >>> from featmech.nets.networks import TwoLayerNet
    >>> net = TwoLayerNet(3, "linear", u0=[1.0, 0, 0], w0=[2.0, 0, 0])   # f = u·w x: Θ = (|u|²+|w|²) x xᵀ
    >>> tangent_kernel_lambda_max(net, torch.tensor([[1.0], [2.0]], dtype=torch.float64))
    25.0
    """
    eta = eta or {}
    params = [(k, v) for k, v in model.named_parameters() if float(eta.get(k, 1.0)) != 0.0 and v.requires_grad]
    if not params:
        return 0.0
    with torch.enable_grad():
        out = model(x.detach()).reshape(-1)  # (n·C,), rows ordered (i, c)
        rows = []
        for k in range(out.shape[0]):  # one backward pass per output: the rows of the Jacobian
            g = torch.autograd.grad(out[k], [v for _, v in params], retain_graph=k < out.shape[0] - 1,
                                    allow_unused=True)
            rows.append(torch.cat([(math.sqrt(float(eta.get(name, 1.0))) * gi).reshape(-1).double()
                                   if gi is not None else torch.zeros(v.numel(), dtype=torch.float64, device=v.device)
                                   for (name, v), gi in zip(params, g)]))
    J = torch.stack(rows)
    return float(torch.linalg.eigvalsh((J @ J.T).cpu())[-1])


class _Progress:
    """A one-line progress bar on stderr (throttled to ~10 updates a second)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.last = total, enabled, 0.0

    def update(self, t: int, loss: float, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        frac = t / self.total
        bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
        sys.stderr.write(f"\rdiagnose [{bar}] {100 * frac:3.0f}% step {t}/{self.total} loss {loss:.3g}   ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _as_tensor(name: str, a: Any, dtype: torch.dtype | None, device: torch.device) -> torch.Tensor:
    try:
        t = a.detach() if isinstance(a, torch.Tensor) else torch.as_tensor(np.array(a))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{name} must be a numeric array, got {type(a).__name__}") from exc
    if t.dtype == torch.bool or not (t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32,
                                                                             torch.int64, torch.uint8)):
        raise InputError(f"{name} must be a numeric array, got dtype {t.dtype}")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise InputError(f"{name} must be finite (it holds NaN or inf)")
    return t.to(device=device, dtype=dtype) if dtype is not None else t.to(device)


def _targets(name: str, Y: Any, n: int, loss: str, n_out: int, dtype: torch.dtype,
             device: torch.device) -> tuple[torch.Tensor, int | None]:
    """Targets as the loss wants them, and the number of classes (None for regression)."""
    t = _as_tensor(name, Y, None, device)
    if t.ndim == 0 or t.shape[0] != n:
        raise InputError(f"{name} must have one entry per example ({n}), got shape {tuple(t.shape)}")
    integer = not t.is_floating_point() or bool((t == t.round()).all())
    if loss == "ce":
        if t.ndim != 1:
            raise InputError(f"loss='ce' needs {name} as 1-D integer class labels, got shape {tuple(t.shape)}")
        if not integer:
            raise InputError(f"loss='ce' needs {name} as integer class labels, got non-integer values "
                             "(use loss='mse' for real-valued targets)")
        t = t.round().to(torch.int64)
        if n_out < 2 or int(t.min()) < 0 or int(t.max()) >= n_out:
            raise InputError(f"{name}: class labels must lie in [0, {n_out - 1}] (the model has {n_out} outputs, "
                             "cross-entropy needs at least 2)")
        return t, n_out
    if t.ndim == 1 and not t.is_floating_point() and n_out > 1:  # integer labels with MSE: one-hot targets
        if int(t.min()) < 0 or int(t.max()) >= n_out:
            raise InputError(f"{name}: class labels must lie in [0, {n_out - 1}] for one-hot MSE targets")
        return torch.nn.functional.one_hot(t.to(torch.int64), n_out).to(dtype), n_out
    t = t.to(dtype).reshape(n, -1)
    if t.shape[1] != n_out:
        raise InputError(f"{name} has {t.shape[1]} target column(s) but the model has {n_out} output(s)")
    return t, None


def _check_lr(lr: Any) -> float | None:
    if isinstance(lr, str):
        if lr != "auto":
            raise InputError(f"lr must be a positive finite number or 'auto', got {lr!r}")
        return None
    if isinstance(lr, (bool, np.bool_)):
        raise InputError(f"lr must be a positive finite number or 'auto', got {lr!r}")
    try:
        v = float(lr)
    except (TypeError, ValueError):
        raise InputError(f"lr must be a positive finite number or 'auto', got {lr!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise InputError(f"lr must be a positive finite number in (0, inf) or 'auto', got {lr!r}")
    return v


#: keywords of :func:`diagnose` that :func:`check_options` validates without a model or data
_DATA_KEYWORDS = ("model", "X", "Y", "X_test", "Y_test")


def check_options(**options: Any) -> None:
    """Validate keywords of :func:`diagnose` that do not depend on the model or the data.

    What a width study (:func:`featmech.sweeps.widths.diagnose_widths`) calls before it starts, so
    that a mistake (``steps=0``, ``lr="fast"``, ``optimizer="rmsprop"``, a misspelt keyword) is
    one :class:`~featmech.errors.InputError` rather than a failed run at every width. The checks
    are the ones :func:`diagnose` makes; ``batch_size`` and an integer ``probe`` are checked
    against the number of examples only when the data are there (here: ≥ 1).

    Raises:
        InputError: an unknown keyword (the message lists the known ones) or a bad value.

    >>> check_options(loss="ce", lr=0.1, steps=10)
    >>> check_options(stpes=10)
    Traceback (most recent call last):
    ...
    featmech.errors.InputError: unknown keyword(s) of diagnose: stpes; known: loss, lr, steps, batch_size, optimizer, momentum, multipliers, seed, linearize, probe, thresholds, every, ntk_every, progress, threads
    """
    import inspect

    known = [k for k in inspect.signature(diagnose).parameters if k not in _DATA_KEYWORDS]
    unknown = [k for k in options if k not in known]
    if unknown:
        raise InputError(f"unknown keyword(s) of diagnose: {', '.join(unknown)}; known: {', '.join(known)}")
    o = dict(options)
    if o.get("loss", "mse") not in ("mse", "ce"):
        raise InputError(f"loss must be one of mse, ce, got {o['loss']!r}")
    if o.get("optimizer", "sgd") not in OPTIMIZERS:
        raise InputError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {o['optimizer']!r}")
    if "steps" in o:
        check_int("steps", o["steps"], low=1)
    if "seed" in o:
        check_int("seed", o["seed"], low=0)
    if "lr" in o:
        _check_lr(o["lr"])
    _check_momentum(o.get("momentum", 0.0), o.get("optimizer", "sgd"))
    for k in ("batch_size", "every", "ntk_every", "threads"):
        if o.get(k) is not None:
            check_int(k, o[k], low=1)
    if isinstance(o.get("probe"), (int, np.integer)) and not isinstance(o.get("probe"), bool):
        check_int("probe", o["probe"], low=1)
    for k in ("linearize",):
        if k in o and not isinstance(o[k], (bool, np.bool_)):
            raise InputError(f"{k} must be True or False, got {o[k]!r}")
    if o.get("progress") is not None and not isinstance(o["progress"], (bool, np.bool_)):
        raise InputError(f"progress must be True, False or None, got {o['progress']!r}")
    VerdictThresholds.of(o.get("thresholds"))
    mult = o.get("multipliers")
    if mult is not None:
        vals = list(mult.values()) if isinstance(mult, Mapping) else (list(mult) if isinstance(mult, (list, tuple))
                                                                       else None)
        if vals is None or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0
                               for v in vals):
            raise InputError(f"multipliers must be a list or a mapping of finite numbers >= 0, got {mult!r}")


def _check_momentum(momentum: Any, optimizer: str) -> float:
    try:
        mom = float(momentum)
    except (TypeError, ValueError):
        raise InputError(f"momentum must be a number in [0, 1), got {momentum!r}") from None
    if isinstance(momentum, bool) or not (0.0 <= mom < 1.0):
        raise InputError(f"momentum must be in [0, 1), got {momentum!r}")
    if optimizer == "adam" and mom != 0.0:
        raise InputError("momentum is for optimizer='sgd' (Adam has its own moments); leave it at 0")
    return mom


#: models on the CPU with fewer parameters than this run on one thread by default (see ``diagnose(threads=)``)
SMALL_MODEL = 1_000_000


def _threads(threads: Any, model: nn.Module, device: torch.device) -> int:
    if threads is not None:
        return check_int("threads", threads, low=1)
    small = sum(p.numel() for p in model.parameters()) < SMALL_MODEL
    return 1 if device.type == "cpu" and small else torch.get_num_threads()


def _make_opt(model: nn.Module, optimizer: str, lr: float, multipliers: Any, momentum: float) -> torch.optim.Optimizer:
    if optimizer == "adam":
        return torch.optim.Adam(param_groups(model, lr, multipliers), lr=lr)
    return make_optimizer(model, lr, multipliers, momentum)


#: lr counts as at or beyond the final edge of stability when lr > EDGE_MARGIN · 2n/λ_max(K_T) (at the edge
#: of stability gradient descent keeps the sharpness hovering around 2/lr, just above or below it)
EDGE_MARGIN = 0.9
#: the training loss counts as oscillating when it rose in more than this fraction of the last quarter's steps …
OSCILLATION_UPS = 0.25
#: … or ended more than this factor above its minimum
OSCILLATION_RISE = 1.5


def _edge_of_stability(cfg: Mapping[str, Any], arrs: Mapping[str, NDArray[Any]]) -> str:
    """Words when SGD ended beyond the edge of its final kernel and the loss oscillates ("" otherwise).

    The kernel can grow while features are learned (a small initialization's kernel grows
    many-fold), so a step that was stable at initialization (lr < 2n/λ_max(K₀)) may end beyond
    the edge 2n/λ_max(K_T) of the final kernel; gradient descent then oscillates instead of
    converging (at the edge of stability the sharpness then hovers around the edge). It is reported
    when lr > :data:`EDGE_MARGIN` · 2n/λ_max(K_T) **and** the loss oscillates: it rose in more
    than :data:`OSCILLATION_UPS` of the steps of the last quarter of the run (full-batch losses per
    step, else the recorded full-data losses), or it ended above :data:`OSCILLATION_RISE` × its
    minimum.
    """
    lr, edge = cfg.get("lr"), cfg.get("lr_edge_final")
    if lr is None or edge is None or cfg.get("optimizer") != "sgd" or not lr > EDGE_MARGIN * edge:
        return ""
    full = cfg.get("batch_size") is not None and cfg.get("batch_size") == cfg.get("n_train")
    loss = np.asarray(arrs["batch_loss"] if full else arrs["train_loss"], dtype=np.float64)
    loss = loss[np.isfinite(loss)]
    if loss.size < 8:
        return ""
    tail = loss[-max(4, loss.size // 4):]
    ups = float(np.mean(np.diff(tail) > 0))
    rise = float(loss[-1] / loss.min()) if loss.min() > 0 else 1.0
    if ups <= OSCILLATION_UPS and rise <= OSCILLATION_RISE:
        return ""
    rel = "beyond" if lr > edge else "at"
    return (f"the step ended {rel} the edge of stability of the final kernel: lr = {lr:.3g} vs 2n/λ_max(K_T) = "
            f"{edge:.3g} (the kernel grew during training; at initialization the edge was "
            f"{cfg.get('lr_edge', math.nan):.3g}), and the loss oscillates (it rose in {100 * ups:.0f} % of the last "
            f"quarter's steps and ended {rise:.3g}× above its minimum)")


def _finite_last(a: NDArray[np.float64]) -> float:
    ok = np.isfinite(a)
    return float(a[ok][-1]) if ok.any() else math.nan


# ---------------------------------------------------------------------------------------------- Diagnosis
@dataclass(frozen=True, eq=False)
class Diagnosis:
    """The outcome of :func:`diagnose` (or of a :class:`~featmech.nets.monitor.MechanismMonitor`'s records).

    It is the records (read-only arrays) and the run's settings (JSON scalars); the verdict and
    the per-pair results follow from them, so a saved and loaded diagnosis decides the same.

    Attributes:
        config: read-only mapping of the settings and scalar outcomes (``lr``, ``loss``,
            ``optimizer``, ``steps``, ``status``, ``diverged_at``, ``layers``, ``pairs``, ``eta``, …).
        arrays: read-only mapping of the records: over the weight records ``step``, ``norms``
            (records × layers), ``zeta`` (records × pairs), ``train_loss``, ``lin_train_loss``,
            ``test_loss``, ``lin_test_loss``, ``train_accuracy``, ``test_accuracy`` (full data,
            NaN where not measured); over the NTK records ``ntk_step``, ``ntk_trace`` (tr K/n),
            ``kernel_distance``, ``linearization_gap``, ``probe_loss``; per update ``batch_loss``,
            ``lin_batch_loss``.
        verdict: the model-level :class:`~featmech.nets.verdict.Verdict`.
        pairs: pair name -> :class:`~featmech.nets.verdict.PairResult`.
    """

    config: Mapping[str, Any]
    arrays: Mapping[str, NDArray[Any]]
    verdict: Verdict = field(init=False)
    pairs: Mapping[str, PairResult] = field(init=False)

    def __post_init__(self) -> None:
        cfg = json.loads(json.dumps(dict(self.config)))  # a JSON-clean private copy
        arrs = {}
        for k in _ARRAYS:
            a = self.arrays.get(k)
            if a is None:
                raise InputError(f"diagnosis: missing array {k!r}")
            arrs[k] = readonly(np.asarray(a), np.int64 if k in ("step", "ntk_step") else np.float64)
        object.__setattr__(self, "config", MappingProxyType(cfg))
        object.__setattr__(self, "arrays", MappingProxyType(arrs))
        th = VerdictThresholds(**cfg["thresholds"])
        layers, pairs, eta = cfg["layers"], cfg["pairs"], cfg["eta"]
        norms, zeta = arrs["norms"], arrs["zeta"]
        pr = {p: pair_result(p, zeta=zeta[:, j], norm_next=norms[:, j + 1], norm_prev=norms[:, j],
                             eta_next=eta[j + 1], eta_prev=eta[j], thresholds=th) for j, p in enumerate(pairs)}
        object.__setattr__(self, "pairs", MappingProxyType(pr))
        tr = arrs["ntk_trace"]
        ok = np.isfinite(tr)
        k0 = float(tr[ok][0]) if ok.any() else math.nan
        ntk_change = float(np.max(np.abs(tr[ok] / k0 - 1.0))) if ok.any() and k0 > 0 else math.nan
        nc = {}
        for i, name in enumerate(layers):
            col = norms[:, i]
            okc = np.isfinite(col)
            nc[name] = float(col[okc][-1] / col[okc][0]) if okc.any() and col[okc][0] > 0 else math.nan
        gap = arrs["linearization_gap"]
        if cfg["linearize"]:
            gap_final = float(gap[-1]) if gap.size and not np.isnan(gap[-1]) else _finite_last(gap)
            gap_max = float(np.max(gap[~np.isnan(gap)])) if (~np.isnan(gap)).any() else math.nan
        else:
            gap_final = gap_max = math.nan
        edge_note = _edge_of_stability(cfg, arrs)
        verdict = decide(status=cfg["status"], ntk_change=ntk_change, kernel_distance=_finite_last(
            arrs["kernel_distance"]), linearization_gap=gap_final, max_linearization_gap=gap_max, pairs=tuple(pr.values()), norm_change=nc,
            output_at_init=cfg["output_at_init"], thresholds=th, linearized=bool(cfg["linearize"]),
            diverged_at=cfg.get("diverged_at"), lr=cfg.get("lr"), lr_edge=cfg.get("lr_edge"),
            diverged_loss=cfg.get("diverged_loss"), initial_loss=cfg.get("initial_loss"), beyond_edge=edge_note,
            caveats=tuple(cfg.get("caveats", ())))
        object.__setattr__(self, "verdict", verdict)

    # -------------------------------------------------------------- plain accessors
    @property
    def linearization_gap(self) -> float:
        """The final linearization gap on the probe (NaN when not linearized; inf when the linearized model diverged)."""
        return self.verdict.linearization_gap

    @property
    def lr(self) -> float:
        """The learning rate used (after ``"auto"``)."""
        return float(self.config["lr"])

    @property
    def regime(self) -> Regime:
        """``verdict.regime``."""
        return self.verdict.regime

    def scalars(self) -> dict[str, float | str]:
        """Flat scalars for a results store: labels as strings, numbers as floats (NaN: not measured).

        Keys: ``regime, mechanism, category, status, converged`` (1.0/0.0), ``ntk_change,
        kernel_distance, linearization_gap, max_linearization_gap, alignment_change, output_at_init, train_loss,
        lin_train_loss, test_loss, lin_test_loss, train_accuracy, test_accuracy, lr, lr_edge,
        steps``.
        """
        v, a, c = self.verdict, self.arrays, self.config
        out: dict[str, float | str] = {"regime": v.regime.value, "mechanism": v.mechanism.value,
                                       "category": v.category, "status": v.status.value,
                                       "converged": 1.0 if v.converged else 0.0, "ntk_change": v.ntk_change,
                                       "kernel_distance": v.kernel_distance, "linearization_gap": v.linearization_gap,
                                       "max_linearization_gap": v.max_linearization_gap, "alignment_change": v.alignment_change,
                                       "output_at_init": v.output_at_init}
        for k in ("train_loss", "lin_train_loss", "test_loss", "lin_test_loss", "train_accuracy", "test_accuracy"):
            out[k] = _finite_last(a[k])
        out["lr"] = float(c["lr"]) if c.get("lr") is not None else math.nan
        out["lr_edge"] = float(c["lr_edge"]) if c.get("lr_edge") is not None else math.nan
        out["steps"] = float(c["steps"])
        return out

    # -------------------------------------------------------------- tables
    def summary(self) -> Any:
        """One row per layer pair and one row ``model`` (a pandas DataFrame indexed by ``name``).

        Model row: ``regime, mechanism, converged, status, ntk_change, kernel_distance,
        linearization_gap`` (NaN only when not linearized), ``alignment_change`` (max over
        pairs), ``output_at_init``. Pair rows: ``mechanism`` (the pair's own §5 mechanism when the
        model learns features, ``none`` when it is kernel, unstable or undetermined — labels only where
        earned; ``self.pairs`` keeps the pair's own),
        ``zeta_0, zeta_T, alignment_change, balance_change, norm_ratio_lower, norm_ratio_upper,
        borderline``. Cells that do not apply to a row are NaN (numbers) or None (labels): the
        regime is the model's, not a pair's.
        """
        import pandas as pd

        v = self.verdict
        rows = []
        for p in self.pairs.values():
            mech = p.mechanism.value if v.regime is Regime.FEATURE else Mechanism.NONE.value
            rows.append({"name": p.name, "kind": "pair", "regime": None, "mechanism": mech,
                         "converged": None, "status": None, "ntk_change": math.nan, "kernel_distance": math.nan,
                         "linearization_gap": math.nan, "max_linearization_gap": math.nan, "zeta_0": p.zeta_0, "zeta_T": p.zeta_T,
                         "alignment_change": p.alignment_change, "balance_change": p.balance_change,
                         "norm_ratio_lower": p.norm_ratio_prev, "norm_ratio_upper": p.norm_ratio_next,
                         "borderline": p.borderline, "output_at_init": math.nan})
        rows.append({"name": "model", "kind": "model", "regime": v.regime.value, "mechanism": v.mechanism.value,
                     "converged": v.converged, "status": v.status.value, "ntk_change": v.ntk_change,
                     "kernel_distance": v.kernel_distance, "linearization_gap": v.linearization_gap, "max_linearization_gap": v.max_linearization_gap,
                     "zeta_0": math.nan, "zeta_T": math.nan,
                     "alignment_change": v.alignment_change, "balance_change": math.nan,
                     "norm_ratio_lower": math.nan, "norm_ratio_upper": math.nan, "borderline": None,
                     "output_at_init": v.output_at_init})
        return pd.DataFrame(rows).set_index("name")

    def history(self) -> Any:
        """The records as a tidy pandas DataFrame with columns ``step, quantity, layer, value``.

        Quantities: ``norm`` (layer = the layer), ``zeta`` (layer = the pair), and with layer
        ``model``: ``train_loss``, ``lin_train_loss``, ``test_loss``, ``lin_test_loss``,
        ``train_accuracy``, ``test_accuracy``, ``ntk_trace`` (tr K/n), ``ntk_ratio``
        (tr K_t / tr K_0), ``kernel_distance``, ``linearization_gap``, ``probe_loss``,
        ``batch_loss``, ``lin_batch_loss`` (per update, minibatch runs only). Only measured
        values appear (no NaN rows).
        """
        import pandas as pd

        a, c = self.arrays, self.config
        parts: list[Any] = []

        def add(steps: NDArray[Any], q: str, layer: str, vals: NDArray[Any]) -> None:
            ok = np.isfinite(vals)
            if ok.any():
                parts.append(pd.DataFrame({"step": steps[ok].astype(np.int64), "quantity": q, "layer": layer,
                                           "value": vals[ok].astype(np.float64)}))

        st = a["step"]
        for i, name in enumerate(c["layers"]):
            add(st, "norm", name, a["norms"][:, i])
        for j, name in enumerate(c["pairs"]):
            add(st, "zeta", name, a["zeta"][:, j])
        for q in ("train_loss", "lin_train_loss", "test_loss", "lin_test_loss", "train_accuracy", "test_accuracy"):
            add(st, q, "model", a[q])
        ns = a["ntk_step"]
        tr = a["ntk_trace"]
        add(ns, "ntk_trace", "model", tr)
        okt = np.flatnonzero(np.isfinite(tr))
        if okt.size and tr[okt[0]] > 0:
            add(ns, "ntk_ratio", "model", tr / tr[okt[0]])
        for q in ("kernel_distance", "linearization_gap", "probe_loss"):
            add(ns, q, "model", a[q])
        if c.get("batch_size") is not None and c.get("n_train") is not None and c["batch_size"] < c["n_train"]:
            bs = np.arange(a["batch_loss"].size)
            add(bs, "batch_loss", "model", a["batch_loss"])
            add(bs, "lin_batch_loss", "model", a["lin_batch_loss"])
        if not parts:
            return pd.DataFrame({"step": np.zeros(0, np.int64), "quantity": [], "layer": [], "value": []})
        return pd.concat(parts, ignore_index=True)

    # -------------------------------------------------------------- presentation
    def __str__(self) -> str:
        c = self.config
        lr = "" if c.get("lr") is None else f" lr={c['lr']:.3g}" + (" (auto)" if c.get("lr_auto") else "")
        opt = "" if c.get("optimizer") in (None, "unknown") else f"{c['optimizer']}"
        loss = "" if c.get("loss") in (None, "unknown") else f", {c['loss']} loss"
        src = " (from a MechanismMonitor)" if c.get("source") == "monitor" else ""
        head = (f"Diagnosis of a {len(c['layers'])}-weight-layer network{src}: {opt}{lr}"
                f"{', ' if opt or lr else ''}{c['steps']} step{'' if c['steps'] == 1 else 's'}{loss}")
        return head + "\n" + str(self.verdict)

    def __repr__(self) -> str:
        lr = "" if self.config.get("lr") is None else f", lr={self.config['lr']:.3g}"
        return f"<Diagnosis {self.verdict.label}; {self.config['steps']} steps{lr}>"

    def plot(self, **kwargs: Any) -> Any:
        """The figure (:func:`featmech.nets.diagnose_plot.plot_diagnosis`): a matplotlib Figure."""
        from featmech.nets.diagnose_plot import plot_diagnosis
        return plot_diagnosis(self, **kwargs)

    def _repr_html_(self) -> str:
        v = self.verdict
        esc = html.escape
        parts = [f"<div class='featmech-diagnosis'><p><b>{esc('Verdict: ' + v.label)}</b></p>",
                 f"<p>{esc(v.explanation)}</p>"]
        if v.disagreement:
            parts.append(f"<p><i>{esc('Note: ' + v.disagreement)}</i></p>")
        parts += [f"<p><i>{esc('Caveat: ' + x)}</i></p>" for x in v.caveats]
        parts.append(self.summary().to_html(escape=True, na_rep="", float_format=lambda x: f"{x:.4g}"))
        parts.append("</div>")
        return "\n".join(parts)

    # -------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write one ``.npz`` (no pickle): the arrays, and ``__config__`` the settings as a JSON string.

        Returns:
            The path written (``.npz`` appended by NumPy when missing).
        """
        p = Path(path)
        if p.suffix != ".npz":
            p = p.with_name(p.name + ".npz")
        cfg = dict(self.config, format=FORMAT)
        np.savez(p, __config__=np.array(json.dumps(cfg, allow_nan=True)), **dict(self.arrays))
        return p

    @classmethod
    def load(cls, path: str | Path) -> "Diagnosis":
        """Read a file written by :meth:`save` (``allow_pickle=False``).

        Raises:
            InputError: a missing, unreadable or foreign file (the message names ``path``).
        """
        p = Path(path)
        if not p.is_file():
            raise InputError(f"path: no diagnosis file at {str(p)!r}")
        try:
            with np.load(p, allow_pickle=False) as z:
                cfg = json.loads(str(z["__config__"][()]))
                arrays = {k: np.array(z[k]) for k in _ARRAYS}
        except Exception as exc:  # a corrupt zip, a missing member, bad JSON, an object array
            raise InputError(f"path: {str(p)!r} is not a readable diagnosis file ({type(exc).__name__}: {exc})") from None
        if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
            raise InputError(f"path: {str(p)!r} is not a diagnosis file of format {FORMAT}")
        cfg.pop("format")
        try:
            return cls(cfg, arrays)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputError(f"path: {str(p)!r} holds an inconsistent diagnosis ({exc})") from None


def diagnosis_from_monitor(monitor: MechanismMonitor, *, status: Status | str, diverged_at: int | None = None,
                           losses: Any = None, thresholds: VerdictThresholds | None = None) -> Diagnosis:
    """A :class:`Diagnosis` of a monitor's records (no linearized model: the gap is NaN and the verdict says so).

    Arguments:
        monitor: the monitor.
        status: the run's status (decided by the monitor from losses or its probe records).
        diverged_at: the step of a divergence, if any.
        losses: the training losses per update (shown as ``batch_loss``), if known.
        thresholds: the verdict thresholds.
    """
    h = monitor.records()
    n_rec, n_ntk = h.step.size, h.ntk_step.size
    nan_rec, nan_ntk = np.full(n_rec, np.nan), np.full(n_ntk, np.nan)
    bl = np.zeros(0) if losses is None else np.asarray(losses, dtype=np.float64).ravel()
    arrays = {"step": h.step, "norms": h.norms, "zeta": h.zeta, "train_loss": nan_rec, "lin_train_loss": nan_rec,
              "test_loss": nan_rec, "lin_test_loss": nan_rec, "train_accuracy": nan_rec, "test_accuracy": nan_rec,
              "ntk_step": h.ntk_step, "ntk_trace": h.ntk_trace, "kernel_distance": h.kernel_distance,
              "linearization_gap": nan_ntk, "probe_loss": h.probe_loss, "batch_loss": bl,
              "lin_batch_loss": np.full(bl.size, np.nan)}
    config = {"source": "monitor", "layers": list(h.layers), "pairs": list(h.pairs),
              "eta": [float(e) for e in monitor.eta_layer], "loss": monitor.loss or "unknown",
              "optimizer": getattr(monitor, "optimizer_name", "") or "unknown", "lr": None, "lr_auto": False, "lr_edge": None,
              "steps": int(h.step[-1]) if n_rec else 0, "batch_size": None, "n_train": None, "linearize": False,
              "status": Status(str(status)).value, "diverged_at": diverged_at, "output_at_init": math.nan,
              "thresholds": VerdictThresholds.of(thresholds).as_dict(),
              "caveats": ["the records come from a MechanismMonitor: no linearized model was trained, so whether the "
                          "network followed its linearization was not checked"]
              + ([f"{monitor.optimizer_name} is an adaptive optimizer: the tangent kernel is weighted for SGD steps, so "
                  "it is not the kernel of these dynamics and the regime and mechanism labels are less grounded"]
                 if getattr(monitor, "adaptive", False) else [])}
    return Diagnosis(config, arrays)


# ---------------------------------------------------------------------------------------------- diagnose

def _train_step(model: nn.Module, opt: Any, lf: Any, xb: Any, yb: Any, first: float,
                blowup: float) -> tuple[float, bool]:
    """One optimizer step on a batch: the batch loss, and False (no step taken) when it is not finite or
    above ``blowup`` × ``first`` (the first batch loss; NaN at the first step, when nothing is compared)."""
    opt.zero_grad(set_to_none=True)
    val = lf(model(xb), yb)
    v = float(val.detach())
    if not math.isfinite(v) or (math.isfinite(first) and first > 0 and v > blowup * first):
        return v, False
    val.backward()
    opt.step()
    return v, True

def diagnose(model: nn.Module, X: Any, Y: Any, *, loss: str = "mse", lr: float | str = "auto", steps: int = 1000,
             batch_size: int | None = None, optimizer: str = "sgd", momentum: float = 0.0,
             multipliers: Mapping[str, float] | Sequence[float] | None = None, seed: int = 0,
             linearize: bool = True, probe: Any = None, X_test: Any = None, Y_test: Any = None,
             thresholds: VerdictThresholds | Any = None, every: int | None = None, ntk_every: int | None = None,
             progress: bool | None = None, threads: int | None = None) -> Diagnosis:
    r"""Train a deep copy of ``model`` and say whether it learned in the kernel or the feature regime, and how.

    The copy is trained for ``steps`` updates with SGD (per-layer rates lr·η_l, optional
    momentum) or Adam on ``loss`` — MSE ½·mean_i Σ_c (f_c − y_ic)² or cross-entropy, as
    :func:`featmech.nets.networks.train` — full batch or on seeded minibatches drawn without
    replacement. With ``linearize`` its Taylor model f_lin(θ) = f(θ₀) + J_θ₀(θ − θ₀) is trained
    on the same batches with the same optimizer settings. Everything runs on the model's device
    and dtype (inputs and probe are moved there).

    Arguments:
        model: any ``torch.nn.Module`` mapping a batch (n, …) to outputs (n, C) (left untouched).
        X, Y: the training inputs (n, …) and targets: floats (n,) or (n, C) for ``mse`` (integer
            labels with C > 1 outputs become one-hot), integer labels in [0, C) for ``ce``.
        loss: ``"mse"`` or ``"ce"``.
        lr: the base learning rate (> 0), or ``"auto"`` (module docstring: n/(2 λ_max(Θ₀)) for SGD,
            1e-3 for Adam).
        steps: the number of updates (≥ 1).
        batch_size: ``None`` (full batch) or an integer in [1, n].
        optimizer: ``"sgd"`` or ``"adam"`` (Adam warns: the kernel's weighting assumes SGD steps).
        momentum: heavy-ball μ in [0, 1) (SGD only).
        multipliers: per-layer learning-rate multipliers η_l
            (:func:`featmech.nets.networks.layer_multipliers`); they weight the NTK too.
        seed: the seed of the minibatch order and of the default probe.
        linearize: train the Taylor model alongside (the ground truth of "kernel").
        probe: the batch the NTK, the output and the gap are measured on: ``None`` (a seeded subset
            of min(n, 64) training inputs), an integer size in [1, n], or inputs (m, …) like X.
        X_test, Y_test: optional test data (test loss and, for classifiers, accuracy).
        thresholds: :class:`~featmech.nets.verdict.VerdictThresholds` (or §5 ``Thresholds``, or a
            mapping of eps, delta, factor, gap, blowup).
        every: record norms, ζ and the full-data losses every ``every`` steps (default steps/200).
        ntk_every: record the NTK and the gap every ``ntk_every`` steps (default steps/20); the
            last step is always recorded.
        progress: show a progress bar on stderr (default: only when stderr is a terminal).
        threads: PyTorch's CPU threads during the run (restored afterwards). Default: 1 for a
            model on the CPU with fewer than :data:`SMALL_MODEL` parameters — its many tiny
            operations gain nothing from threads and lose much on a busy machine (a 16-16 MLP:
            5 s on one thread, 73 s on two threads of a loaded two-core machine) — else
            PyTorch's setting.

    Returns:
        A :class:`Diagnosis`.

    Raises:
        InputError: a bad argument (the message names it and its allowed range).
    """
    if not isinstance(model, nn.Module) or not any(True for _ in model.parameters()):
        raise InputError("model must be a torch.nn.Module with parameters")
    if loss not in ("mse", "ce"):
        raise InputError(f"loss must be one of mse, ce, got {loss!r}")
    if optimizer not in OPTIMIZERS:
        raise InputError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    steps = check_int("steps", steps, low=1)
    seed = check_int("seed", seed, low=0)
    lr_given = _check_lr(lr)
    mom = _check_momentum(momentum, optimizer)
    if not isinstance(linearize, (bool, np.bool_)):
        raise InputError(f"linearize must be True or False, got {linearize!r}")
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise InputError(f"progress must be True, False or None, got {progress!r}")
    th = VerdictThresholds.of(thresholds)
    try:
        weight_layers(model)
    except InputError as exc:
        raise InputError(f"model: {exc} — diagnose reads the alignment and norms of nn.Linear/nn.Conv-like "
                         "layers") from None
    check_deterministic(model, "first: diagnose reads the tangent kernel and the linearization of a deterministic "
                               "network (train-mode dropout or batch norm makes both random)")
    p0 = next(model.parameters())
    dtype, device = p0.dtype, p0.device
    Xt = _as_tensor("X", X, dtype, device)
    if Xt.ndim < 2 or Xt.shape[0] < 1:
        raise InputError(f"X must be an array (n, features…) with n ≥ 1, got shape {tuple(Xt.shape)}")
    n = int(Xt.shape[0])
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, low=1, high=n)
    net = copy.deepcopy(model)
    try:
        with torch.no_grad():
            out = net(Xt[: min(n, 2)])
    except Exception as exc:
        raise InputError(f"X: the model cannot be applied to inputs of shape {tuple(Xt.shape[1:])} ({exc})") from None
    if not isinstance(out, torch.Tensor):
        raise InputError(f"model: forward must return one tensor of outputs (n, C), got a {type(out).__name__} "
                         "(wrap the model so that it returns only the outputs)")
    if out.ndim != 2 or out.shape[0] != min(n, 2):
        raise InputError(f"model: outputs must be (n, C), got shape {tuple(out.shape)} for {min(n, 2)} inputs")
    n_out = int(out.shape[1])
    Yt, n_classes = _targets("Y", Y, n, loss, n_out, dtype, device)
    if (X_test is None) != (Y_test is None):
        raise InputError("give both X_test and Y_test, or neither")
    Xs = Ys = None
    if X_test is not None:
        Xs = _as_tensor("X_test", X_test, dtype, device)
        if Xs.ndim != Xt.ndim or tuple(Xs.shape[1:]) != tuple(Xt.shape[1:]) or Xs.shape[0] < 1:
            raise InputError(f"X_test must be (m, {', '.join(map(str, Xt.shape[1:]))}), got {tuple(Xs.shape)}")
        Ys, _ = _targets("Y_test", Y_test, int(Xs.shape[0]), loss, n_out, dtype, device)
    gen = torch.Generator().manual_seed(seed)
    if probe is None or (isinstance(probe, (int, np.integer)) and not isinstance(probe, bool)):
        m = min(n, PROBE_SIZE) if probe is None else check_int("probe", probe, low=1, high=n)
        pidx = torch.randperm(n, generator=gen)[:m].sort().values.to(device)
        Xp = Xt[pidx]
    else:
        Xp = _as_tensor("probe", probe, dtype, device)
        if Xp.ndim != Xt.ndim or tuple(Xp.shape[1:]) != tuple(Xt.shape[1:]) or Xp.shape[0] < 1:
            raise InputError(f"probe must be a size in [1, {n}] or inputs (m ≥ 1, {', '.join(map(str, Xt.shape[1:]))}),"
                             f" got shape {tuple(Xp.shape)}")
    n_probe = int(Xp.shape[0])
    every = max(1, steps // 200) if every is None else check_int("every", every, low=1)
    ntk_every = max(1, steps // 20) if ntk_every is None else check_int("ntk_every", ntk_every, low=1)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    caveats = []
    if optimizer == "adam":
        msg = ("Adam: the tangent kernel is weighted for SGD steps (lr·η_l·∂L/∂θ), so it is not the kernel of Adam's "
               "preconditioned dynamics; the verdict reads its change and the linearization gap (the linearized model "
               "is trained with the same Adam), but the mechanism labels are less grounded")
        warnings.warn(msg, UserWarning, stacklevel=2)
        caveats.append(msg)

    n_threads, old_threads = _threads(threads, net, device), torch.get_num_threads()
    if n_threads != old_threads:
        torch.set_num_threads(n_threads)
    try:
        eta = _eta_param(net, multipliers)
        lam = tangent_kernel_lambda_max(net, Xp, eta)
        lr_edge = 2.0 * n_probe / lam if lam > 0 else math.inf
        if not lam > 0:
            caveats.append("the tangent kernel is zero at initialization (λ_max = 0): no gradient reaches the "
                           "trainable parameters, so gradient descent cannot move this network (e.g. all-zero weights "
                           "in consecutive layers)" + ("; lr=\"auto\" fell back to 1" if lr_given is None else ""))
        if lr_given is None:
            lr_used = ADAM_AUTO_LR if optimizer == "adam" else (AUTO_LR_FACTOR * n_probe / lam if lam > 0 else 1.0)
        else:
            lr_used = lr_given
        lf = _loss_fn(loss)
        opt = _make_opt(net, optimizer, lr_used, multipliers, mom)
        lin = Linearized(net) if linearize else None
        opt_lin = _make_opt(lin.net, optimizer, lr_used, multipliers, mom) if lin is not None else None
        mon = MechanismMonitor(net, Xp, every=every, ntk_every=ntk_every, alignment_every=every, multipliers=multipliers)
        with torch.no_grad():
            f0 = net(Xp).detach()
        gap_rtol = GAP_RTOL_EPS * float(torch.finfo(dtype).eps)  # moves below the outputs' round-off: no gap
        output_at_init = float(torch.sqrt((f0.double() ** 2).mean()))

        rec: dict[str, list[float]] = {k: [] for k in ("train_loss", "lin_train_loss", "test_loss", "lin_test_loss",
                                                       "train_accuracy", "test_accuracy")}
        gaps: list[float] = []
        batch_loss = np.full(steps, np.nan)
        lin_batch_loss = np.full(steps, np.nan)
        lin_dead = False
        lin_diverged_at: int | None = None

        def full_eval(f: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
            with torch.no_grad():
                o = f(x)
                v = float(lf(o, y))
                acc = float((o.argmax(-1) == y).double().mean()) if loss == "ce" else (
                    float((o.argmax(-1) == y.argmax(-1)).double().mean()) if n_classes else math.nan)
            return v, acc

        def record(t: int) -> None:
            n_w, n_k = len(mon.steps), len(mon.ntk_steps)
            mon.step(t)
            if len(mon.steps) > n_w:
                tl, ta = full_eval(net, Xt, Yt)
                rec["train_loss"].append(tl)
                rec["train_accuracy"].append(ta)
                rec["lin_train_loss"].append(full_eval(lin, Xt, Yt)[0] if lin is not None and not lin_dead else math.nan)
                if Xs is not None:
                    vl, va = full_eval(net, Xs, Ys)
                    rec["test_loss"].append(vl)
                    rec["test_accuracy"].append(va)
                    rec["lin_test_loss"].append(full_eval(lin, Xs, Ys)[0] if lin is not None and not lin_dead
                                                else math.nan)
                else:
                    for k in ("test_loss", "test_accuracy", "lin_test_loss"):
                        rec[k].append(math.nan)
            if len(mon.ntk_steps) > n_k:
                if lin is None:
                    gaps.append(math.nan)
                elif lin_dead:
                    gaps.append(math.inf)
                else:
                    with torch.no_grad():
                        g = linearization_gap(net(Xp), lin(Xp), f0, rtol=gap_rtol)
                    gaps.append(g if math.isfinite(g) else math.inf)

        bar = _Progress(steps, show)
        bs = n if batch_size is None else batch_size
        perm, pos = torch.randperm(n, generator=gen).to(device), 0
        diverged_at: int | None = None
        diverged_loss = math.nan
        first = lfirst = math.nan
        t = 0
        try:
            for t in range(steps):
                record(t)
                if bs == n:
                    xb, yb = Xt, Yt
                else:
                    if pos + bs > n:
                        perm, pos = torch.randperm(n, generator=gen).to(device), 0
                    idx = perm[pos:pos + bs]
                    pos += bs
                    xb, yb = Xt[idx], Yt[idx]
                v, ok = _train_step(net, opt, lf, xb, yb, first, th.blowup)
                if t == 0:
                    first = v
                if not ok:
                    diverged_at, diverged_loss = t, v
                    break
                batch_loss[t] = v
                if lin is not None and opt_lin is not None and not lin_dead:
                    lv, lok = _train_step(lin, opt_lin, lf, xb, yb, lfirst, th.blowup)
                    if t == 0:
                        lfirst = lv
                    if lok:
                        lin_batch_loss[t] = lv
                    else:
                        lin_dead, lin_diverged_at = True, t
                bar.update(t + 1, v)
            else:
                mon.every, mon.ntk_every = 1, 1  # the last step is always a full record
                record(steps)
        except KeyboardInterrupt:
            bar.close()
            raise KeyboardInterrupt(f"diagnose interrupted at step {t} of {steps}; nothing was returned (the model you "
                                    "passed is untouched)") from None
        bar.update(steps if diverged_at is None else diverged_at, float(np.nanmin(batch_loss)) if np.isfinite(
            batch_loss).any() else math.nan, force=True)
        bar.close()

        train_loss = np.asarray(rec["train_loss"], dtype=np.float64)
        if diverged_at is not None:
            status = Status.DIVERGED
        else:
            classifier: dict[str, Any] = {}
            if n_classes:
                classifier = dict(n_classes=n_classes, loss=loss, accuracy=rec["train_accuracy"][-1], n_eval=n)
            status = run_status(train_loss, **classifier)
        lam_final = None
        if diverged_at is None and optimizer == "sgd":
            lam_final = tangent_kernel_lambda_max(net, Xp, eta)  # the kernel at the end: has lr passed its edge?
        if lin_dead:
            caveats.append(f"the linearized model diverged at step {lin_diverged_at} while the network did not (a "
                           "catapult: the network escaped the instability of its linearization by moving its kernel)")
        h = mon.records()
        arrays = {"step": h.step, "norms": h.norms, "zeta": h.zeta, "ntk_step": h.ntk_step, "ntk_trace": h.ntk_trace,
                  "kernel_distance": h.kernel_distance, "linearization_gap": np.asarray(gaps, dtype=np.float64),
                  "probe_loss": h.probe_loss, "batch_loss": batch_loss, "lin_batch_loss": lin_batch_loss,
                  **{k: np.asarray(v, dtype=np.float64) for k, v in rec.items()}}
        config = {"source": "diagnose", "layers": list(h.layers), "pairs": list(h.pairs),
                  "eta": list(layer_multipliers(net, multipliers).values()), "loss": loss, "optimizer": optimizer,
                  "lr": lr_used, "lr_auto": lr_given is None, "lr_edge": lr_edge, "lambda_max": lam,
                  "lr_edge_final": (2.0 * n_probe / lam_final if lam_final else None) if lam_final is not None else None,
                  "momentum": mom, "steps": steps, "batch_size": bs, "n_train": n,
                  "n_test": None if Xs is None else int(Xs.shape[0]), "n_classes": n_classes, "n_outputs": n_out,
                  "probe_size": n_probe, "seed": seed, "linearize": bool(linearize), "every": every,
                  "ntk_every": ntk_every, "dtype": str(dtype).removeprefix("torch."), "device": str(device),
                  "status": status.value, "diverged_at": diverged_at, "lin_diverged_at": lin_diverged_at,
                  "diverged_loss": diverged_loss if diverged_at is not None and math.isfinite(diverged_loss) else None,
                  "initial_loss": first if math.isfinite(first) else None,
                  "output_at_init": output_at_init, "thresholds": th.as_dict(), "caveats": caveats}
        return Diagnosis(config, arrays)
    finally:
        if n_threads != old_threads:
            torch.set_num_threads(old_threads)
