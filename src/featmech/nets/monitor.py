r"""MechanismMonitor: diagnose kernel vs feature learning, and the mechanism, in any PyTorch model.

Attach it to a model and call :meth:`MechanismMonitor.step` once per training step (or let
:meth:`attach` hook it onto an optimizer). It records

- every ``every`` steps: each weight layer's Frobenius norm ‖W_l‖_F and, every ``alignment_every``
  steps (default 10) and at NTK steps, for each consecutive pair the exact alignment
  ζ_l = ‖W_{l+1} W_l‖_F / (‖W_{l+1}‖_F ‖W_l‖_F) (NaN at the records in between; conv kernels reshaped so that
  the product composes the channels: W_l as (out_l, in_l·k·k), W_{l+1} as (out_{l+1}·k·k, out_l);
  a Linear after a flatten of C channels as (out·m, C)). For the two-layer net on scalar input it is
  |cos(u, w)|;
- every ``ntk_every`` steps: the empirical NTK on a fixed probe batch,
  K_ij = Σ_θ η_θ Σ_c ∂f_c(x_i)/∂θ · ∂f_c(x_j)/∂θ (per-example Jacobians with ``torch.func``;
  η_θ the layer's learning-rate multiplier, so that for the linear model trace(K)/n equals
  docs/theory.md's K = Vκ²(η_w|u|² + η_u|w|²) with V the probe's E[x²]); its normalized trace
  tr(K)/n, the kernel distance from initialization 1 − ⟨K0, Kt⟩/(‖K0‖‖Kt‖) and the kernel-target
  alignment ⟨K, YYᵀ⟩/(‖K‖‖YYᵀ‖); with probe targets also the probe loss (MSE ½·mean Σ_c (f_c − y_c)²,
  or cross-entropy for integer labels) and, for labels, the probe accuracy.

:meth:`~MechanismMonitor.classify` labels each pair with
:func:`featmech.analysis.regimes.classify_trajectory` (NTK trace, ζ_l, ‖W_{l+1}‖ as "u", ‖W_l‖ as
"w"); :meth:`~MechanismMonitor.records` returns the records as a frozen :class:`MonitorHistory`,
:meth:`~MechanismMonitor.history` as a tidy pandas DataFrame and :meth:`~MechanismMonitor.table` as a
tidy :class:`featmech.tables.Table`. :meth:`~MechanismMonitor.verdict`,
:meth:`~MechanismMonitor.summary`, :meth:`~MechanismMonitor.plot` and the notebook view present
them like :func:`featmech.nets.diagnose.diagnose` does (the model-level verdict; without a
linearized model, whether the network followed its linearization is not checked).

A label is given only to a run that converged (:func:`featmech.analysis.regimes.run_status`):
``classify`` judges it from the training losses you pass, or from the probe loss it recorded; a
run that did not converge, or a classifier at chance, is ``undetermined``. The NTK weighting
assumes SGD steps (the update of θ is −lr·η_θ·∂L/∂θ): :meth:`~MechanismMonitor.attach` warns once
when the optimizer is adaptive (Adam, RMSprop, Adagrad, …), whose steps follow a preconditioned
gradient instead.

>>> from featmech.nets.networks import TwoLayerNet
>>> net = TwoLayerNet(8, "linear", rho=1.0, seed=0)
>>> mon = MechanismMonitor(net, np.linspace(-1, 1, 5)[:, None], every=1, ntk_every=1)
>>> mon.step(0)
>>> h = mon.records()
>>> h.pairs, h.zeta.shape, round(float(h.zeta[0, 0]), 12)
(('hidden->output',), (1, 1), 1.0)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

try:
    import torch
    from torch import nn
    from torch.func import functional_call, jacrev, vmap
except ImportError as exc:  # pragma: no cover - optional
    raise ImportError("featmech.monitor needs PyTorch: pip install 'featmech[torch]'") from exc

from featmech._validation import check_int
from featmech.analysis.labels import Status
from featmech.analysis.regimes import (
    Classification,
    Thresholds,
    classify_trajectory,
    run_status,
)
from featmech.errors import InputError
from featmech.nets.networks import layer_multipliers, to_tensor, weight_layers
from featmech.tables import Table
from featmech.theory.config import readonly

__all__ = ["MechanismMonitor", "MonitorHistory", "pair_alignment", "empirical_ntk", "fast_ntk", "ADAPTIVE_OPTIMIZERS",
           "is_adaptive", "MonitorRecord", "DEFAULT_ALIGNMENT_EVERY"]

#: the optimizers whose steps are not (momentum) SGD steps lr·η_θ·∂L/∂θ: per-coordinate preconditioned
#: (Adam and its variants, RMSprop, Adagrad, Adadelta), sign-based (Rprop) or quasi-Newton (L-BFGS)
ADAPTIVE_OPTIMIZERS: tuple[str, ...] = ("Adam", "AdamW", "Adamax", "NAdam", "RAdam", "SparseAdam", "RMSprop",
                                        "Adagrad", "Adadelta", "Rprop", "LBFGS", "Adafactor")


def is_adaptive(optimizer: Any) -> bool:
    """Whether ``optimizer`` is one of :data:`ADAPTIVE_OPTIMIZERS` (or a subclass of one).

    >>> is_adaptive(torch.optim.Adam([torch.zeros(1, requires_grad=True)])), is_adaptive(object())
    (True, False)
    """
    classes = tuple(c for c in (getattr(torch.optim, n, None) for n in ADAPTIVE_OPTIMIZERS) if isinstance(c, type))
    return isinstance(optimizer, classes)


#: the default interval of exact ζ records, in steps (rounded up to a multiple of ``every``): ζ costs one
#: product W_{l+1}W_l per pair, ~15 % of an SGD step of the digits MLP at batch 128 (BENCHMARKS.md, "monitor")
DEFAULT_ALIGNMENT_EVERY = 10


def _norms(ws: Sequence[torch.Tensor]) -> Sequence[torch.Tensor]:
    """‖W‖_F of each tensor as 0-d tensors on its device, in one call where torch has ``_foreach_norm``."""
    foreach = getattr(torch, "_foreach_norm", None)
    if foreach is not None:
        try:
            return foreach(list(ws))
        except RuntimeError:  # e.g. tensors on different devices
            pass
    return [torch.linalg.vector_norm(w) for w in ws]


def _right(w: torch.Tensor) -> torch.Tensor:
    """W_l as a matrix (out_l, everything else)."""
    return w.reshape(w.shape[0], -1)


def _left(w: torch.Tensor, out_prev: int) -> torch.Tensor | None:
    """W_{l+1} as a matrix (rows, out_prev) whose columns are the previous layer's outputs."""
    if w.ndim > 2:  # conv: (o, i, kh, kw) -> (o·kh·kw, i)
        if w.shape[1] != out_prev:
            return None
        return w.permute(0, *range(2, w.ndim), 1).reshape(-1, out_prev)
    o, i = w.shape
    if i == out_prev:
        return w
    if i % out_prev == 0:  # Linear after flattening (C, H, W): columns c·m + s
        m = i // out_prev
        return w.reshape(o, out_prev, m).permute(0, 2, 1).reshape(o * m, out_prev)
    return None


def pair_alignment(w_next: torch.Tensor, w_prev: torch.Tensor) -> float:
    """ζ = ‖W_{l+1} W_l‖_F / (‖W_{l+1}‖_F ‖W_l‖_F), conv kernels reshaped as in the module docstring.

    Arguments:
        w_next: the weight of layer l+1 (Linear (out, in) or conv (out, in, kh, kw)).
        w_prev: the weight of layer l.

    Returns:
        ζ in [0, 1]; 0 when a weight vanishes; NaN when the shapes do not compose.

    >>> pair_alignment(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0], [0.0]]))
    1.0
    """
    with torch.no_grad():
        L = _left(w_next, w_prev.shape[0])
        if L is None:
            return float("nan")
        R = _right(w_prev)
        den = torch.linalg.norm(L) * torch.linalg.norm(R)
        if float(den) == 0.0:
            return 0.0
        return float(torch.linalg.norm(L @ R) / den)


def empirical_ntk(model: nn.Module, x: torch.Tensor, eta: Mapping[str, float] | None = None) -> torch.Tensor:
    """K_ij = Σ_θ η_θ Σ_c ∂f_c(x_i)/∂θ ∂f_c(x_j)/∂θ (n × n), per-example Jacobians via torch.func.

    Arguments:
        model: the network (examples must be processed independently).
        x: the probe batch, (n, …), on the model's device.
        eta: parameter name -> η_θ (missing: 1; 0 drops the parameter).

    Returns:
        K as an (n, n) tensor of ``x``'s dtype, on ``x``'s device.
    """
    allp = {k: v.detach() for k, v in model.named_parameters()}
    params = {k: v for k, v in allp.items() if eta is None or float(eta.get(k, 1.0)) != 0.0}
    fixed = {k: v for k, v in allp.items() if k not in params}

    def f(p: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        return functional_call(model, {**fixed, **p}, (xi.unsqueeze(0),)).reshape(-1)

    n = x.shape[0]
    K = torch.zeros((n, n), dtype=x.dtype, device=x.device)
    if not params:
        return K
    jac = vmap(jacrev(f), in_dims=(None, 0))(params, x)
    for name, J in jac.items():
        Jf = J.reshape(n, J.shape[1], -1)
        e = 1.0 if eta is None else float(eta.get(name, 1.0))
        if e != 0.0:
            K = K + e * torch.einsum("iap,jap->ij", Jf, Jf)
    return K


def _has_batch_coupling(model: nn.Module) -> bool:
    """True if some module mixes examples in a batch (batch norm in training mode)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in model.modules())


def fast_ntk(model: nn.Module, x: torch.Tensor, eta: Mapping[str, float] | None = None) -> torch.Tensor:
    """The same K as :func:`empirical_ntk`, with the structure of ``nn.Linear`` layers exploited.

    For a Linear layer z = W a + b, ∂f_c(x_i)/∂W = δ_ic a_iᵀ with δ_ic = ∂f_c(x_i)/∂z_i, so its
    contribution is K_ij = (Σ_c δ_ic·δ_jc)(a_i·a_j) (+ Σ_c δ_ic·δ_jc for the bias), the trick behind
    neural-tangents' structured derivatives: K = Σ_layers η_W (D Dᵀ) ⊙ (A Aᵀ) + η_b D Dᵀ with
    D = (δ_ic)_{i,(c,·)} of shape (n, C·out). One forward pass over the probe, then the C backward
    passes (one per output) as one batched backward (``is_grads_batched``; a loop over the outputs
    if some operation of the model cannot be batched). Computed in ``x``'s dtype on ``x``'s device
    (relative error of K against :func:`empirical_ntk`: ~1e-7 in float32, ~1e-15 in float64).
    Other parameters, and Linear layers applied to inputs with more than one feature axis, go
    through :func:`empirical_ntk` restricted to them. Requires examples to be processed
    independently (no batch norm in training mode); otherwise use :func:`empirical_ntk`.

    Arguments:
        model, x, eta: as for :func:`empirical_ntk` (``x`` on the model's device).

    Returns:
        K as an (n, n) tensor of ``x``'s dtype, on ``x``'s device.
    """
    eta = eta or {}
    linear = [(nm, m) for nm, m in model.named_modules() if isinstance(m, nn.Linear)]
    acts: dict[str, torch.Tensor] = {}
    outs: dict[str, torch.Tensor] = {}

    def hook(name: str) -> Any:
        def f(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            acts[name] = inp[0].detach()
            outs[name] = out
        return f

    xr = x.detach()
    n = xr.shape[0]
    K = torch.zeros((n, n), dtype=x.dtype, device=x.device)
    covered: set[str] = set()
    handles = [m.register_forward_hook(hook(nm)) for nm, m in linear]
    try:
        with torch.enable_grad():
            y = model(xr).reshape(n, -1)
    finally:
        for h in handles:
            h.remove()
    used = [(nm, m) for nm, m in linear if nm in outs and outs[nm].requires_grad and acts[nm].ndim == 2]
    if used:
        C = y.shape[1]
        inputs = [outs[nm] for nm, _ in used]
        try:  # all C backward passes at once: grads[l][c] = ∂(Σ_i f_c(x_i))/∂z_l = (δ_ic)_i
            e = torch.eye(C, dtype=y.dtype, device=y.device).unsqueeze(1).expand(C, n, C)
            grads = torch.autograd.grad(y, inputs, grad_outputs=e, retain_graph=True, is_grads_batched=True)
        except (RuntimeError, NotImplementedError):  # an operation without a batching rule
            per = [torch.autograd.grad(y[:, c].sum(), inputs, retain_graph=True) for c in range(C)]
            grads = tuple(torch.stack([p[k] for p in per]) for k in range(len(inputs)))
        for (name, m), g in zip(used, grads):
            D = g.reshape(C, n, -1).permute(1, 0, 2).reshape(n, -1).to(x.dtype)
            dd = D @ D.T
            a = acts[name].reshape(n, -1).to(x.dtype)
            wname = f"{name}.weight" if name else "weight"
            K += float(eta.get(wname, 1.0)) * dd * (a @ a.T)
            covered.add(wname)
            if m.bias is not None:
                bname = f"{name}.bias" if name else "bias"
                K += float(eta.get(bname, 1.0)) * dd
                covered.add(bname)
    rest = {k: v for k, v in model.named_parameters() if k not in covered}
    if rest:
        eta_rest = {k: float(eta.get(k, 1.0)) for k in rest}
        eta_rest.update({k: 0.0 for k in covered})
        K = K + empirical_ntk(model, x, eta_rest).to(x.dtype)
    return K


@dataclass(frozen=True)
class MonitorRecord:
    """What a :class:`MechanismMonitor` recorded at one step, as handed to its callbacks.

    Attributes:
        step: the step (number of updates taken).
        norms: layer name -> ‖W_l‖_F.
        alignment: pair name ``"a->b"`` -> ζ_l; empty at steps where ζ is not computed (see
            ``alignment_every``); NaN for a pair whose shapes do not compose.
        ntk: at NTK steps, ``ntk_trace``, ``kernel_distance``, ``kernel_target_alignment``,
            ``probe_loss`` and ``probe_accuracy`` (the last three NaN without the probe targets
            they need); empty otherwise.

    >>> r = MonitorRecord(3, {"l0": 2.0}, {}, {})
    >>> r.scalars()
    {'norm/l0': 2.0}
    """

    step: int
    norms: Mapping[str, float]
    alignment: Mapping[str, float]
    ntk: Mapping[str, float]

    def scalars(self) -> dict[str, float]:
        """Every value under a TensorBoard-style tag: ``norm/<layer>``, ``alignment/<pair>``, ``ntk/<quantity>``."""
        out = {f"norm/{k}": v for k, v in self.norms.items()}
        out.update({f"alignment/{k}": v for k, v in self.alignment.items()})
        out.update({f"ntk/{k}": v for k, v in self.ntk.items()})
        return out


@dataclass(frozen=True)
class MonitorHistory:
    """The records of a :class:`MechanismMonitor` (read-only arrays).

    Attributes:
        layers: the weight layers' names, in order.
        pairs: the consecutive pairs' names, ``"a->b"``.
        step: the steps with weight records, (n_rec,).
        norms: ‖W_l‖_F per record and layer, (n_rec, layers).
        zeta: ζ_l per record and pair, (n_rec, pairs).
        ntk_step: the steps with an NTK record, (n_ntk,) (a subset of ``step``).
        ntk_trace: tr(K)/n at those steps.
        kernel_distance: 1 − ⟨K0, Kt⟩/(‖K0‖‖Kt‖) at those steps.
        kernel_target_alignment: ⟨K, YYᵀ⟩/(‖K‖‖YYᵀ‖) at those steps (NaN without probe targets).
        probe_loss: the loss on the probe batch at those steps (NaN without probe targets).
        probe_accuracy: the accuracy on the probe batch at those steps (NaN unless the targets are labels).
    """

    layers: tuple[str, ...]
    pairs: tuple[str, ...]
    step: NDArray[np.int64]
    norms: NDArray[np.float64]
    zeta: NDArray[np.float64]
    ntk_step: NDArray[np.int64]
    ntk_trace: NDArray[np.float64]
    kernel_distance: NDArray[np.float64]
    kernel_target_alignment: NDArray[np.float64]
    probe_loss: NDArray[np.float64]
    probe_accuracy: NDArray[np.float64]

    def ntk_rows(self) -> NDArray[np.int64]:
        """The indices into ``step`` (and ``norms``, ``zeta``) of the NTK records."""
        pos = {int(s): i for i, s in enumerate(self.step)}
        return np.array([pos[int(s)] for s in self.ntk_step], dtype=np.int64)

    def as_dict(self) -> dict[str, Any]:
        """Every field as plain lists (JSON-ready except for NaN)."""
        return {"layers": list(self.layers), "pairs": list(self.pairs), "step": self.step.tolist(),
                "norms": self.norms.tolist(), "zeta": self.zeta.tolist(), "ntk_step": self.ntk_step.tolist(),
                "ntk_trace": self.ntk_trace.tolist(), "kernel_distance": self.kernel_distance.tolist(),
                "kernel_target_alignment": self.kernel_target_alignment.tolist(),
                "probe_loss": self.probe_loss.tolist(), "probe_accuracy": self.probe_accuracy.tolist()}


class MechanismMonitor:
    """Drop-in diagnostics of feature learning for any ``torch.nn.Module`` (see module docstring).

    Arguments:
        model: the network (its weight layers: :func:`featmech.nets.networks.weight_layers`).
        probe_x: the NTK probe batch, (n, …) with n ≥ 1.
        probe_y: optional probe targets (integer labels or regression targets), for the
            kernel-target alignment and the probe loss (from which :meth:`classify` judges
            convergence when it is not given the training losses).
        every: record the norms every ``every`` steps (≥ 1).
        ntk_every: record the NTK (and norms and ζ) every ``ntk_every`` steps (0 turns it off).
        multipliers: the per-layer learning-rate multipliers η_l (as in
            :func:`featmech.nets.networks.layer_multipliers`), weighting the NTK and the layer balance.
        n_classes: the number of classes for integer ``probe_y`` (default: its largest label + 1).
        loss: the training loss, ``"ce"`` (cross-entropy on integer labels) or ``"mse"``
            (½·mean Σ_c (f_c − y_c)², one-hot for integer labels); default: ``"ce"`` for 1-D
            integer ``probe_y``, ``"mse"`` otherwise. It decides how the probe loss is computed and
            which rule of :func:`~featmech.analysis.regimes.run_status` applies (a classifier when
            the targets are labels).
        alignment_every: compute the exact ζ_l at the weight records whose step is a multiple of
            it (a multiple of ``every``), and at every NTK record; the other records hold NaN for
            ζ. Default: :data:`DEFAULT_ALIGNMENT_EVERY` = 10 rounded up to a multiple of ``every``
            (so ζ at every record when ``every`` ≥ 10). ``alignment_every=every`` gives ζ at every
            record: on the digits MLP at SGD batch 128 that costs ~15 % of the training time, the
            default ~1.5 % (BENCHMARKS.md, "monitor").
        callback: called with a :class:`MonitorRecord` after every step that recorded something
            (more with :meth:`add_callback`); its exceptions propagate. E.g. to TensorBoard::

                writer = torch.utils.tensorboard.SummaryWriter("runs/mlp")
                def log(record):
                    for tag, value in record.scalars().items():   # "norm/layers.0", "ntk/ntk_trace", …
                        writer.add_scalar(tag, value, record.step)
                mon = MechanismMonitor(model, probe_x, probe_y, callback=log)

    Records follow the model: the probe and its targets are cast to the model's device and dtype
    at each record (the model may be moved or converted after the monitor is built), the NTK is
    computed there, and the records are Python floats. Norms and ζ stay on the device as tensors
    until read (``norms``, ``zetas``, or a callback), so recording costs no device synchronization
    per step; the NTK records synchronize once each.

    Raises:
        InputError: a model without weight layers, an empty probe, ``probe_y`` of the wrong
            length, bad intervals (``alignment_every`` not a multiple of ``every``), multipliers,
            loss or callback.
    """

    def __init__(self, model: nn.Module, probe_x: Any, probe_y: Any = None, *, every: int = 1, ntk_every: int = 50,
                 multipliers: Mapping[str, float] | Sequence[float] | None = None, n_classes: int | None = None,
                 loss: str | None = None, alignment_every: int | None = None,
                 callback: Callable[[MonitorRecord], Any] | None = None) -> None:
        self.model = model
        self.layers = weight_layers(model)
        self.names = [n for n, _ in self.layers]
        self.every = check_int("every", every, low=1)
        self.ntk_every = check_int("ntk_every", ntk_every, low=0)
        if alignment_every is None:
            alignment_every = self.every * -(-DEFAULT_ALIGNMENT_EVERY // self.every)
        self.alignment_every = check_int("alignment_every", alignment_every, low=1)
        if self.alignment_every % self.every:
            raise InputError(f"alignment_every must be a multiple of every={self.every}, got {self.alignment_every}")
        self.callbacks: list[Callable[[MonitorRecord], Any]] = []
        if callback is not None:
            self.add_callback(callback)
        dtype = next(model.parameters()).dtype
        self.probe_x = to_tensor(probe_x, dtype)
        if self.probe_x.ndim < 1 or self.probe_x.shape[0] < 1:
            raise InputError("probe_x must hold at least one example")
        if self.probe_x.is_floating_point() and not bool(torch.isfinite(self.probe_x).all()):
            raise InputError("probe_x must be finite (it holds NaN or inf)")
        # the probe as given (float64 when it is floating), cast to the model's device and dtype at each record
        src = to_tensor(probe_x)
        self._probe_src = src.detach().to("cpu", torch.float64) if src.is_floating_point() else self.probe_x.cpu()
        self.eta_layer = list(layer_multipliers(model, multipliers).values())
        self._eta_param: dict[str, float] = {}
        for (lname, m), e in zip(self.layers, self.eta_layer):
            for pname, _ in m.named_parameters(recurse=False):
                self._eta_param[f"{lname}.{pname}" if lname else pname] = e
        self._yy = None
        self._labels: torch.Tensor | None = None  # integer probe labels (classification)
        self._targets: torch.Tensor | None = None  # float probe targets (MSE; one-hot for labels)
        self._targets_src: torch.Tensor | None = None  # the same in float64
        self.n_classes: int | None = None
        if loss is not None and loss not in ("ce", "mse"):
            raise InputError(f"loss must be one of ce, mse, got {loss!r}")
        self.loss: str | None = loss
        if probe_y is not None:
            y = np.asarray(probe_y.detach().cpu() if isinstance(probe_y, torch.Tensor) else probe_y)
            if y.shape[0] != self.probe_x.shape[0]:
                raise InputError("probe_y must have one entry per probe example")
            if y.dtype.kind in "fc" and not np.isfinite(y).all():
                raise InputError("probe_y must be finite (it holds NaN or inf)")
            if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
                k = int(n_classes or (y.max() + 1))
                if y.min() < 0 or y.max() >= k:
                    raise InputError(f"probe_y: class labels must lie in [0, {k - 1}] (n_classes={k}), "
                                     f"got [{y.min()}, {y.max()}]")
                Y = np.eye(k)[y]
                self.n_classes = k
                self._labels = torch.as_tensor(y.astype(np.int64))
                self.loss = loss or "ce"
            else:
                if loss == "ce":
                    raise InputError("loss='ce' needs integer class labels as probe_y")
                Y = y.reshape(len(y), -1).astype(np.float64)
                self.loss = "mse"
            self._yy = torch.as_tensor(Y @ Y.T, dtype=torch.float64)
            self._targets = torch.as_tensor(Y, dtype=dtype)
            self._targets_src = torch.as_tensor(Y, dtype=torch.float64)
        ws = [m.weight for _, m in self.layers]
        self._left_cache = []
        for i in range(len(ws) - 1):  # how W_{l+1} is viewed as a matrix on W_l's outputs (fixed per model)
            ok = _left(ws[i + 1].detach(), ws[i].shape[0]) is not None
            self._left_cache.append((lambda w, o=ws[i].shape[0]: _left(w, o)) if ok else None)
        self.steps: list[int] = []
        self._norms: list[list[float]] = []  # converted records (Python floats)
        self._zetas: list[list[float]] = []
        # records not yet converted, kept as tensors on the model's device (no device sync per step):
        # (norms of each layer, ‖W_{l+1}W_l‖_F per pair or None where ζ is not computed at that step)
        self._pending: list[tuple[Sequence[torch.Tensor], torch.Tensor | None]] = []
        self._pending_key: tuple[Any, Any] | None = None
        self._probe_cache: tuple[Any, ...] | None = None
        self.ntk_steps: list[int] = []
        self.ntk_trace: list[float] = []
        self.kernel_distance: list[float] = []
        self.kernel_target_alignment: list[float] = []
        self.probe_loss: list[float] = []
        self.probe_accuracy: list[float] = []
        self._K0: torch.Tensor | None = None
        self._count = 0
        self._warned = False
        #: the attached optimizer's class name ("" until :meth:`attach`), and whether it is adaptive
        self.optimizer_name = ""
        self.adaptive = False

    # ------------------------------------------------------------------ recording
    @property
    def norms(self) -> list[list[float]]:
        """‖W_l‖_F per weight record, one list per record (converted from the device on reading)."""
        self._flush()
        return self._norms

    @property
    def zetas(self) -> list[list[float]]:
        """ζ_l per weight record, one list per record; NaN where ζ was not computed (``alignment_every``)."""
        self._flush()
        return self._zetas

    def add_callback(self, fn: Callable[[MonitorRecord], Any]) -> None:
        """Call ``fn(record)`` with a :class:`MonitorRecord` after every step that records anything.

        Exceptions raised by ``fn`` propagate out of :meth:`step` (and so out of the optimizer's
        ``step()`` when attached). A callback reads the values as Python floats, so on a GPU it costs
        one device synchronization per record.

        Raises:
            InputError: ``fn`` is not callable.
        """
        if not callable(fn):
            raise InputError(f"callback must be callable, got {fn!r}")
        self.callbacks.append(fn)

    def step(self, step: int | None = None) -> None:
        """Record at this step (default: an internal counter) if it falls on an interval.

        Norms every ``every`` steps, ζ at those of them that are multiples of ``alignment_every``,
        and norms, ζ and the NTK quantities every ``ntk_every`` steps; then the callbacks, once.

        Arguments:
            step: the number of updates taken so far (default: one more than the last call).
        """
        t = self._count if step is None else int(step)
        self._count = t + 1
        ntk = bool(self.ntk_every) and t % self.ntk_every == 0
        recorded = zeta = False
        if t % self.every == 0:
            zeta = ntk or t % self.alignment_every == 0
            self._record_weights(t, zeta)
            recorded = True
        if ntk:
            if not recorded and (not self.steps or self.steps[-1] != t):
                self._record_weights(t, True)
            zeta = recorded = True
            if self.ntk_steps:
                self._record_ntk(t)
            else:  # the first forward pass on the probe: a probe the model cannot take is the user's mistake
                try:
                    self._record_ntk(t)
                except RuntimeError as exc:
                    raise InputError(f"probe_x: the model cannot be applied to the probe of shape "
                                     f"{tuple(self.probe_x.shape)} ({str(exc).splitlines()[0]})") from None
        if recorded and self.callbacks:
            record = self._last_record(t, zeta, ntk)
            for fn in self.callbacks:
                fn(record)

    def _record_weights(self, t: int, zeta: bool) -> None:
        """Queue ‖W_l‖_F (and ‖W_{l+1}W_l‖_F when ``zeta``) as device tensors; converted on reading."""
        ws = [m.weight.detach() for _, m in self.layers]
        key = (ws[0].device, ws[0].dtype)
        if key != self._pending_key or len(self._pending) >= 1024:
            self._flush()
            self._pending_key = key
        with torch.no_grad():
            norms = _norms(ws)
            prods = None
            if zeta and len(ws) > 1:
                ps = []
                for i in range(len(ws) - 1):
                    L = self._left_cache[i](ws[i + 1]) if self._left_cache[i] is not None else None
                    ps.append(torch.linalg.vector_norm(L @ _right(ws[i])) if L is not None
                              else torch.full((), float("nan"), dtype=ws[i].dtype, device=ws[i].device))
                prods = torch.stack(ps)
            elif zeta:
                prods = torch.zeros(0, dtype=ws[0].dtype, device=ws[0].device)
        self._pending.append((norms, prods))
        self.steps.append(t)

    def _flush(self) -> None:
        """Convert the queued weight records to Python floats (one device synchronization)."""
        if not self._pending:
            return
        n_layers, n_pairs = len(self.names), len(self.names) - 1
        flat = [v for norms, _ in self._pending for v in norms]
        flat += [p for _, p in self._pending if p is not None]
        try:
            vals = torch.cat([v.reshape(-1) for v in flat]).to("cpu", torch.float64).tolist()
        except RuntimeError:  # layers on different devices
            vals = [float(x) for v in flat for x in v.reshape(-1).tolist()]
        pos = len(self._pending) * n_layers
        for k, (_, p) in enumerate(self._pending):
            nl = vals[k * n_layers:(k + 1) * n_layers]
            self._norms.append(nl)
            if p is None:
                self._zetas.append([float("nan")] * n_pairs)
            else:
                pl = vals[pos:pos + n_pairs]
                pos += n_pairs
                self._zetas.append([q / (nl[i + 1] * nl[i]) if nl[i + 1] * nl[i] > 0 else 0.0
                                    for i, q in enumerate(pl)])
        self._pending = []

    def _on_device(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """The probe, targets, labels and YYᵀ on the model's current device, the probe in its dtype (cached)."""
        w = self.layers[0][1].weight
        key = (w.device, w.dtype)
        if self._probe_cache is None or self._probe_cache[0] != key:
            x = self._probe_src.to(device=w.device, dtype=w.dtype if self._probe_src.is_floating_point() else None)
            tg = None if self._targets_src is None else self._targets_src.to(device=w.device, dtype=w.dtype)
            lab = None if self._labels is None else self._labels.to(w.device)
            yy = None if self._yy is None else self._yy.to(w.device)
            self._probe_cache = (key, x, tg, lab, yy)
        return self._probe_cache[1:]

    def _record_ntk(self, t: int) -> None:
        x, _, _, yy = self._on_device()
        ntk = empirical_ntk if _has_batch_coupling(self.model) else fast_ntk
        K = ntk(self.model, x, self._eta_param).to(torch.float64)
        n = K.shape[0]
        if self._K0 is None:
            self._K0 = K
        K0 = self._K0.to(K.device)
        nk = torch.linalg.norm(K)
        nan = torch.full((), float("nan"), dtype=torch.float64, device=K.device)
        loss, acc = self._probe_metrics()
        vals = torch.stack([torch.trace(K), (K0 * K).sum(), torch.linalg.norm(K0) * nk,
                            (K * yy).sum() if yy is not None else nan,
                            nk * torch.linalg.norm(yy) if yy is not None else nan,
                            loss.to(K.device), acc.to(K.device)]).tolist()
        tr, k0k, den0, ky, deny, pl, pa = vals
        self.ntk_steps.append(t)
        self.ntk_trace.append(tr / n)
        self.kernel_distance.append(max(0.0, 1.0 - k0k / den0) if den0 > 0 else float("nan"))  # cosine ≤ 1: clip round-off
        self.kernel_target_alignment.append(ky / deny if deny > 0 else float("nan"))
        self.probe_loss.append(pl)
        self.probe_accuracy.append(pa)

    def _probe_metrics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The probe loss and accuracy as float64 0-d tensors on the model's device (NaN without targets)."""
        x, tg, labels, _ = self._on_device()
        nan = torch.full((), float("nan"), dtype=torch.float64, device=x.device)
        if tg is None:
            return nan, nan
        saved = [(b, b.detach().clone()) for b in self.model.buffers()]  # e.g. batch-norm running statistics
        with torch.no_grad():
            out = self.model(x)
            for b, v in saved:
                b.copy_(v)
            out2 = out.reshape(out.shape[0], -1)
            if self.loss == "ce" and labels is not None:
                loss = torch.nn.functional.cross_entropy(out2.double(), labels)
            else:
                loss = 0.5 * ((out2.double() - tg.double()) ** 2).sum(-1).mean()
            acc = (out2.argmax(-1) == labels).double().mean() if labels is not None else nan
        return loss, acc

    def _probe_loss(self) -> tuple[float, float]:
        """The loss and accuracy on the probe batch (NaN without targets), the model's buffers untouched."""
        loss, acc = self._probe_metrics()
        return float(loss), float(acc)

    def _last_record(self, t: int, zeta: bool, ntk: bool) -> MonitorRecord:
        """The :class:`MonitorRecord` of step ``t``: the last weight record (its ζ if ``zeta``), the last NTK record if ``ntk``."""
        self._flush()
        quantities = {}
        if ntk:
            quantities = {"ntk_trace": self.ntk_trace[-1], "kernel_distance": self.kernel_distance[-1],
                          "kernel_target_alignment": self.kernel_target_alignment[-1],
                          "probe_loss": self.probe_loss[-1], "probe_accuracy": self.probe_accuracy[-1]}
        return MonitorRecord(t, MappingProxyType(dict(zip(self.names, self._norms[-1]))),
                             MappingProxyType(dict(zip(self.pairs, self._zetas[-1])) if zeta else {}),
                             MappingProxyType(quantities))

    def attach(self, optimizer: torch.optim.Optimizer) -> Any:
        """Call :meth:`step` after every ``optimizer.step()`` (records the initial state first).

        Warns (``UserWarning``, once per monitor) when the optimizer is adaptive
        (:func:`is_adaptive`): the NTK is weighted by the SGD learning-rate multipliers, which is the
        kernel of the training dynamics only for (momentum) SGD steps.

        Returns:
            The hook handle (``.remove()`` detaches the monitor).
        """
        if not callable(getattr(optimizer, "register_step_post_hook", None)):
            raise InputError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        self.optimizer_name = type(optimizer).__name__
        self.adaptive = self.adaptive or is_adaptive(optimizer)
        if is_adaptive(optimizer) and not self._warned:
            self._warned = True
            warnings.warn(f"MechanismMonitor attached to {type(optimizer).__name__}, an adaptive optimizer: its NTK "
                          "weighting assumes SGD steps (lr·η_θ·∂L/∂θ), so the NTK it records is not the kernel of "
                          "these dynamics and its regime and mechanism labels may not apply", UserWarning,
                          stacklevel=2)
        self.step(0)
        return optimizer.register_step_post_hook(lambda *_: self.step())

    # ------------------------------------------------------------------ results
    @property
    def pairs(self) -> list[str]:
        """The consecutive weight-layer pairs, ``"a->b"``."""
        return [f"{a}->{b}" for a, b in zip(self.names[:-1], self.names[1:])]

    def records(self) -> MonitorHistory:
        """The records so far as a :class:`MonitorHistory` (read-only arrays)."""
        n = len(self.steps)
        return MonitorHistory(
            layers=tuple(self.names), pairs=tuple(self.pairs), step=readonly(self.steps, np.int64),
            norms=readonly(np.array(self.norms, dtype=float).reshape(n, len(self.names))),
            zeta=readonly(np.array(self.zetas, dtype=float).reshape(n, len(self.names) - 1)),
            ntk_step=readonly(self.ntk_steps, np.int64), ntk_trace=readonly(self.ntk_trace),
            kernel_distance=readonly(self.kernel_distance),
            kernel_target_alignment=readonly(self.kernel_target_alignment),
            probe_loss=readonly(self.probe_loss), probe_accuracy=readonly(self.probe_accuracy))

    def classify(self, thresholds: Thresholds | None = None, diverged: bool = False, *,
                 losses: Any = None, status: Status | str | None = None) -> dict[str, Classification]:
        """Regime and mechanism per consecutive layer pair (docs/theory.md §5, from the records at NTK steps).

        Each pair is classified as a two-layer network: K the NTK trace, ζ_l, ‖W_{l+1}‖ as "u"
        and ‖W_l‖ as "w" with their η. Only a run that converged earns a label
        (:func:`~featmech.analysis.regimes.run_status`); the evidence, in order of precedence:

        1. ``status``, when given (you vouch for it);
        2. ``losses``, the training losses in order (e.g. ``TrainResult.losses``): a regression
           run converged when the last is at most 1e-2 × the first; a classifier (integer probe
           labels) did not train when the last is within 5 % of the chance loss (ln C for
           cross-entropy) or the last probe accuracy is at chance;
        3. the probe loss (and accuracy) this monitor recorded at its NTK steps, by the same rules.

        Arguments:
            thresholds: the classification thresholds (default :class:`Thresholds`).
            diverged: whether the training diverged (the regime is then unstable).
            losses: the training losses (see above).
            status: the run's :class:`~featmech.analysis.labels.Status` (see above).

        Returns:
            pair name -> :class:`~featmech.analysis.regimes.Classification` (regime ``undetermined``
            with status ``not converged`` or ``did not train`` when the run earned no label).

        Raises:
            InputError: no NTK was recorded; both ``losses`` and ``status``; or no evidence of
                convergence at all (no probe targets, no ``losses``, no ``status``).
        """
        if not self.ntk_steps:
            raise InputError("no NTK was recorded (ntk_every=0 or no step taken): cannot classify")
        if losses is not None and status is not None:
            raise InputError("give either losses or status, not both")
        if status is None and not diverged:
            status = self._status(losses)
        h = self.records()
        idx = h.ntk_rows()
        out = {}
        for j, name in enumerate(self.pairs):
            out[name] = classify_trajectory(h.ntk_trace, h.zeta[idx, j], h.norms[idx, j + 1],
                                            h.norms[idx, j], eta_u=self.eta_layer[j + 1],
                                            eta_w=self.eta_layer[j], diverged=diverged, thresholds=thresholds,
                                            status=status)
        return out

    def _status(self, losses: Any) -> Status:
        """Whether the run converged, from the training losses or the probe records (see :meth:`classify`)."""
        acc = [a for a in self.probe_accuracy if np.isfinite(a)]
        probe: dict[str, Any] = dict(accuracy=acc[-1], n_eval=int(self.probe_x.shape[0])) if acc else {}
        classifier: dict[str, Any] = (dict(n_classes=self.n_classes, loss=self.loss or "ce", **probe)
                                      if self.n_classes else {})
        if losses is not None:
            return run_status(losses, **classifier)
        if self._targets is None:
            raise InputError("the monitor cannot tell whether training converged: give it probe_y (it records the "
                             "probe loss), or pass losses=[...] (the training losses) or status='converged' to "
                             "verdict(), summary(), plot(), diagnosis() or classify()")
        return run_status(self.probe_loss, **classifier)

    def table(self) -> Table:
        """Tidy table: one row per (step, quantity, layer or pair), columns ``step, quantity, name, value``.

        Quantities: ``norm`` (per layer), ``alignment`` (ζ per pair), and per NTK record
        ``ntk_trace``, ``kernel_distance``, ``kernel_target_alignment``, ``probe_loss`` and
        ``probe_accuracy`` (name ``model``). Records without ζ (between ``alignment_every`` steps, or a
        pair whose shapes do not compose) have no ``alignment`` row.
        """
        rows: dict[str, list[Any]] = {"step": [], "quantity": [], "name": [], "value": []}

        def add(step: int, q: str, name: str, v: float) -> None:
            rows["step"].append(step)
            rows["quantity"].append(q)
            rows["name"].append(name)
            rows["value"].append(v)

        for t, norms, zs in zip(self.steps, self.norms, self.zetas):
            for n, v in zip(self.names, norms):
                add(t, "norm", n, v)
            for p, v in zip(self.pairs, zs):
                if not math.isnan(v):  # ζ is computed every ``alignment_every`` steps only
                    add(t, "alignment", p, v)
        for t, tr, kd, ka, pl, pa in zip(self.ntk_steps, self.ntk_trace, self.kernel_distance,
                                         self.kernel_target_alignment, self.probe_loss, self.probe_accuracy):
            add(t, "ntk_trace", "model", tr)
            add(t, "kernel_distance", "model", kd)
            add(t, "kernel_target_alignment", "model", ka)
            add(t, "probe_loss", "model", pl)
            add(t, "probe_accuracy", "model", pa)
        return Table(rows)

    # ------------------------------------------------------------------ presentation (shared with diagnose)
    def history(self) -> Any:
        """The records as a tidy pandas DataFrame, columns ``step, quantity, layer, value``.

        Quantities: ``norm`` (per layer), ``zeta`` (per pair), and with layer ``model``
        ``ntk_trace`` (tr K/n), ``ntk_ratio`` (tr K_t/tr K_0), ``kernel_distance``,
        ``kernel_target_alignment`` and ``probe_loss``/``probe_accuracy`` where measured (no NaN rows).
        The frozen arrays are :meth:`records`.
        """
        import pandas as pd

        df = self.table().to_pandas().rename(columns={"name": "layer"})
        df["quantity"] = df["quantity"].replace({"alignment": "zeta"})
        tr = df[df["quantity"] == "ntk_trace"]
        if len(tr) and float(tr["value"].iloc[0]) > 0:
            ratio = tr.assign(quantity="ntk_ratio", value=tr["value"] / float(tr["value"].iloc[0]))
            df = pd.concat([df, ratio], ignore_index=True)
        df = df[np.isfinite(df["value"].astype(float))].reset_index(drop=True)
        df["step"] = df["step"].astype(np.int64)
        df["value"] = df["value"].astype(np.float64)
        return df

    def diagnosis(self, *, losses: Any = None, status: Status | str | None = None, diverged: bool = False,
                  thresholds: Any = None) -> Any:
        """The records as a :class:`featmech.nets.diagnose.Diagnosis` (no linearized model: gap NaN).

        Convergence is judged as in :meth:`classify` (``status``, else ``losses``, else the probe
        records); ``diverged`` makes the verdict unstable.

        Arguments:
            losses: the training losses in order (shown as ``batch_loss``).
            status: the run's status, if you know it.
            diverged: whether the training diverged.
            thresholds: :class:`featmech.nets.verdict.VerdictThresholds` (or §5 ``Thresholds``).

        Raises:
            InputError: no NTK recorded, both ``losses`` and ``status``, or no evidence of convergence.
        """
        from featmech.nets.diagnose import diagnosis_from_monitor

        if not self.ntk_steps:
            raise InputError("no NTK was recorded (ntk_every=0 or no step taken): no verdict")
        if losses is not None and status is not None:
            raise InputError("give either losses or status, not both")
        if diverged:
            st = Status.DIVERGED
        elif status is not None:
            st = Status(str(status)) if str(status) in {s.value for s in Status} else None
            if st is None:
                raise InputError(f"status must be one of {', '.join(s.value for s in Status)}, got {status!r}")
        else:
            st = self._status(losses)
        return diagnosis_from_monitor(self, status=st, losses=losses, thresholds=thresholds)

    def verdict(self, *, losses: Any = None, status: Status | str | None = None, diverged: bool = False,
                thresholds: Any = None) -> Any:
        """The model-level :class:`featmech.nets.verdict.Verdict` (arguments as :meth:`diagnosis`).

        The regime is the model's (the NTK is global): kernel when max_t |tr K_t/tr K_0 − 1| ≤ ε,
        feature otherwise; the mechanism that of the pair whose alignment changed most. The
        linearization gap is not checked here (NaN; the verdict says so).
        """
        return self.diagnosis(losses=losses, status=status, diverged=diverged, thresholds=thresholds).verdict

    def summary(self, **kwargs: Any) -> Any:
        """One row per layer pair and one ``model`` row (pandas), as :meth:`Diagnosis.summary`; keywords as :meth:`diagnosis`."""
        return self.diagnosis(**kwargs).summary()

    def plot(self, **kwargs: Any) -> Any:
        """The diagnosis figure (matplotlib Figure) of the records; keywords as :meth:`diagnosis`."""
        return self.diagnosis(**kwargs).plot()

    def _repr_html_(self) -> str:
        import html as _html

        try:
            return self.diagnosis()._repr_html_()
        except InputError as exc:  # no verdict yet: say why, escaped
            head = _html.escape(f"MechanismMonitor of {len(self.names)} weight layers, {len(self.steps)} records")
            return f"<div class='featmech-monitor'><p>{head}</p><p><i>{_html.escape(str(exc))}</i></p></div>"
