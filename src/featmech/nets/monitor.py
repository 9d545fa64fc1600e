r"""MechanismMonitor: diagnose kernel vs feature learning, and the mechanism, in any PyTorch model.

Attach it to a model and call :meth:`MechanismMonitor.step` once per training step (or let
:meth:`attach` hook it onto an optimizer). It records

- every ``every`` steps: each weight layer's Frobenius norm ‖W_l‖_F and, for each consecutive
  pair, the alignment ζ_l = ‖W_{l+1} W_l‖_F / (‖W_{l+1}‖_F ‖W_l‖_F) (conv kernels reshaped so that
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

import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

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
           "is_adaptive"]

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
        x: the probe batch, (n, …).
        eta: parameter name -> η_θ (missing: 1; 0 drops the parameter).

    Returns:
        K as an (n, n) tensor of ``x``'s dtype.
    """
    allp = {k: v.detach() for k, v in model.named_parameters()}
    params = {k: v for k, v in allp.items() if eta is None or float(eta.get(k, 1.0)) != 0.0}
    fixed = {k: v for k, v in allp.items() if k not in params}

    def f(p: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        return functional_call(model, {**fixed, **p}, (xi.unsqueeze(0),)).reshape(-1)

    if not params:
        return torch.zeros((x.shape[0], x.shape[0]), dtype=x.dtype, device=x.device)
    jac = vmap(jacrev(f), in_dims=(None, 0))(params, x)
    n = x.shape[0]
    K = torch.zeros((n, n), dtype=x.dtype, device=x.device)
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
    contribution is K_ij = Σ_c (δ_ic·δ_jc)(a_i·a_j) (+ Σ_c δ_ic·δ_jc for the bias): one backward
    pass per output instead of a per-example Jacobian of every weight (the trick behind
    neural-tangents' structured derivatives). Other parameters go through :func:`empirical_ntk`
    restricted to them. Requires examples to be processed independently (no batch norm in
    training mode); otherwise use :func:`empirical_ntk`.

    Arguments:
        model, x, eta: as for :func:`empirical_ntk`.

    Returns:
        K as an (n, n) tensor of ``x``'s dtype.
    """
    eta = eta or {}
    linear = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    acts: dict[str, torch.Tensor] = {}
    outs: dict[str, torch.Tensor] = {}

    def hook(name: str) -> Any:
        def f(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            acts[name] = inp[0].detach()
            out.retain_grad()
            outs[name] = out
        return f

    handles = [m.register_forward_hook(hook(n)) for n, m in linear]
    try:
        with torch.enable_grad():
            xr = x.detach()
            y = model(xr)
            y2 = y.reshape(y.shape[0], -1)
            n, C = y2.shape
            K = torch.zeros((n, n), dtype=torch.float64, device=x.device)
            gram_a = {name: (a.reshape(n, -1).double() @ a.reshape(n, -1).double().T) for name, a in acts.items()}
            covered: set[str] = set()
            for c in range(C):
                for o in outs.values():
                    o.grad = None
                y2[:, c].sum().backward(retain_graph=c < C - 1, inputs=[outs[nm] for nm, _ in linear])
                for name, m in linear:
                    d = outs[name].grad.reshape(n, -1).double()
                    dd = d @ d.T
                    wname = f"{name}.weight" if name else "weight"
                    K += float(eta.get(wname, 1.0)) * dd * gram_a[name]
                    covered.add(wname)
                    if m.bias is not None:
                        bname = f"{name}.bias" if name else "bias"
                        K += float(eta.get(bname, 1.0)) * dd
                        covered.add(bname)
    finally:
        for h in handles:
            h.remove()
    rest = {k: v for k, v in model.named_parameters() if k not in covered}
    if rest:
        eta_rest = {k: float(eta.get(k, 1.0)) for k in rest}
        eta_rest.update({k: 0.0 for k in covered})
        K = K + empirical_ntk(model, x, eta_rest).double()
    return K.to(x.dtype)


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
        every: record norms and ζ every ``every`` steps (≥ 1).
        ntk_every: record the NTK every ``ntk_every`` steps (0 turns it off).
        multipliers: the per-layer learning-rate multipliers η_l (as in
            :func:`featmech.nets.networks.layer_multipliers`), weighting the NTK and the layer balance.
        n_classes: the number of classes for integer ``probe_y`` (default: its largest label + 1).
        loss: the training loss, ``"ce"`` (cross-entropy on integer labels) or ``"mse"``
            (½·mean Σ_c (f_c − y_c)², one-hot for integer labels); default: ``"ce"`` for 1-D
            integer ``probe_y``, ``"mse"`` otherwise. It decides how the probe loss is computed and
            which rule of :func:`~featmech.analysis.regimes.run_status` applies (a classifier when
            the targets are labels).

    Raises:
        InputError: a model without weight layers, an empty probe, ``probe_y`` of the wrong
            length, bad intervals, multipliers or loss.
    """

    def __init__(self, model: nn.Module, probe_x: Any, probe_y: Any = None, *, every: int = 1, ntk_every: int = 50,
                 multipliers: Mapping[str, float] | Sequence[float] | None = None, n_classes: int | None = None,
                 loss: str | None = None) -> None:
        self.model = model
        self.layers = weight_layers(model)
        self.names = [n for n, _ in self.layers]
        self.every = check_int("every", every, low=1)
        self.ntk_every = check_int("ntk_every", ntk_every, low=0)
        dtype = next(model.parameters()).dtype
        self.probe_x = to_tensor(probe_x, dtype)
        if self.probe_x.ndim < 1 or self.probe_x.shape[0] < 1:
            raise InputError("probe_x must hold at least one example")
        self.eta_layer = list(layer_multipliers(model, multipliers).values())
        self._eta_param: dict[str, float] = {}
        for (lname, m), e in zip(self.layers, self.eta_layer):
            for pname, _ in m.named_parameters(recurse=False):
                self._eta_param[f"{lname}.{pname}" if lname else pname] = e
        self._yy = None
        self._labels: torch.Tensor | None = None  # integer probe labels (classification)
        self._targets: torch.Tensor | None = None  # float probe targets (MSE; one-hot for labels)
        self.n_classes: int | None = None
        if loss is not None and loss not in ("ce", "mse"):
            raise InputError(f"loss must be one of ce, mse, got {loss!r}")
        self.loss: str | None = loss
        if probe_y is not None:
            y = np.asarray(probe_y)
            if y.shape[0] != self.probe_x.shape[0]:
                raise InputError("probe_y must have one entry per probe example")
            if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
                k = int(n_classes or (y.max() + 1))
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
        ws = [m.weight for _, m in self.layers]
        self._left_cache = []
        for i in range(len(ws) - 1):  # how W_{l+1} is viewed as a matrix on W_l's outputs (fixed per model)
            ok = _left(ws[i + 1].detach(), ws[i].shape[0]) is not None
            self._left_cache.append((lambda w, o=ws[i].shape[0]: _left(w, o)) if ok else None)
        self.steps: list[int] = []
        self.norms: list[list[float]] = []
        self.zetas: list[list[float]] = []
        self.ntk_steps: list[int] = []
        self.ntk_trace: list[float] = []
        self.kernel_distance: list[float] = []
        self.kernel_target_alignment: list[float] = []
        self.probe_loss: list[float] = []
        self.probe_accuracy: list[float] = []
        self._K0: torch.Tensor | None = None
        self._count = 0
        self._warned = False

    # ------------------------------------------------------------------ recording
    def step(self, step: int | None = None) -> None:
        """Record at this step (default: an internal counter) if it falls on an interval.

        Arguments:
            step: the number of updates taken so far (default: one more than the last call).
        """
        t = self._count if step is None else int(step)
        self._count = t + 1
        if t % self.every == 0:
            self._record_weights(t)
        if self.ntk_every and t % self.ntk_every == 0:
            if not self.steps or self.steps[-1] != t:
                self._record_weights(t)
            self._record_ntk(t)

    def _record_weights(self, t: int) -> None:
        with torch.no_grad():
            ws = [m.weight.detach() for _, m in self.layers]
            norms = torch.stack([torch.linalg.vector_norm(w) for w in ws])
            prods = []
            for i in range(len(ws) - 1):
                L = self._left_cache[i](ws[i + 1]) if self._left_cache[i] is not None else None
                prods.append(torch.linalg.vector_norm(L @ _right(ws[i])) if L is not None
                             else torch.tensor(float("nan"), dtype=norms.dtype))
            nl = norms.tolist()
            pl = torch.stack(prods).tolist() if prods else []
        self.norms.append(nl)
        self.zetas.append([p / (nl[i + 1] * nl[i]) if nl[i + 1] * nl[i] > 0 else 0.0 for i, p in enumerate(pl)])
        self.steps.append(t)

    def _record_ntk(self, t: int) -> None:
        ntk = empirical_ntk if _has_batch_coupling(self.model) else fast_ntk
        K = ntk(self.model, self.probe_x, self._eta_param).to(torch.float64)
        n = K.shape[0]
        if self._K0 is None:
            self._K0 = K
        nk = torch.linalg.norm(K)
        self.ntk_steps.append(t)
        self.ntk_trace.append(float(torch.trace(K)) / n)
        den = float(torch.linalg.norm(self._K0) * nk)
        self.kernel_distance.append(1.0 - float((self._K0 * K).sum()) / den if den > 0 else float("nan"))
        if self._yy is not None:
            den = float(nk * torch.linalg.norm(self._yy))
            self.kernel_target_alignment.append(float((K * self._yy).sum()) / den if den > 0 else float("nan"))
        else:
            self.kernel_target_alignment.append(float("nan"))
        loss, acc = self._probe_loss()
        self.probe_loss.append(loss)
        self.probe_accuracy.append(acc)

    def _probe_loss(self) -> tuple[float, float]:
        """The loss and accuracy on the probe batch (NaN without targets), the model's buffers untouched."""
        if self._targets is None:
            return float("nan"), float("nan")
        saved = [(b, b.detach().clone()) for b in self.model.buffers()]  # e.g. batch-norm running statistics
        with torch.no_grad():
            out = self.model(self.probe_x)
            for b, v in saved:
                b.copy_(v)
            out2 = out.reshape(out.shape[0], -1)
            if self.loss == "ce" and self._labels is not None:
                loss = float(torch.nn.functional.cross_entropy(out2.double(), self._labels))
            else:
                loss = float(0.5 * ((out2.double() - self._targets.double()) ** 2).sum(-1).mean())
            acc = (float((out2.argmax(-1) == self._labels).double().mean()) if self._labels is not None
                   else float("nan"))
        return loss, acc

    def attach(self, optimizer: torch.optim.Optimizer) -> Any:
        """Call :meth:`step` after every ``optimizer.step()`` (records the initial state first).

        Warns (``UserWarning``, once per monitor) when the optimizer is adaptive
        (:func:`is_adaptive`): the NTK is weighted by the SGD learning-rate multipliers, which is the
        kernel of the training dynamics only for (momentum) SGD steps.

        Returns:
            The hook handle (``.remove()`` detaches the monitor).
        """
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
                             "probe loss), or pass classify(losses=...) or classify(status=...)")
        return run_status(self.probe_loss, **classifier)

    def table(self) -> Table:
        """Tidy table: one row per (step, quantity, layer or pair), columns ``step, quantity, name, value``.

        Quantities: ``norm`` (per layer), ``alignment`` (ζ per pair), and per NTK record
        ``ntk_trace``, ``kernel_distance``, ``kernel_target_alignment``, ``probe_loss`` and
        ``probe_accuracy`` (name ``model``).
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
