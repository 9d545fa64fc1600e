"""The linearized network: the first-order Taylor model of a network around its initial parameters.

For a network f(θ; x) with parameters θ0 at construction,

    f_lin(θ; x) = f(θ0; x) + J_{θ0}(x)·(θ − θ0),      J_{θ0}(x) = ∂f(θ; x)/∂θ at θ0,

is linear in θ, so gradient descent on it is kernel regression with the empirical NTK at θ0
(the lazy / kernel regime, docs/theory.md): the residual on a training set of n examples
follows r_{t+1} = (I − lr·K/n) r_t for full-batch GD on the MSE ½·mean_i Σ_c (f_c − y_c)², where
K = J diag(η) Jᵀ is the η-weighted NTK (η_l the per-layer learning-rate multipliers). Comparing
a trained network with its linearization trained the same way (:func:`linearization_gap`)
measures how far training leaves the kernel regime.

:class:`Linearized` evaluates f(θ0; x) and J_{θ0}(x)·(θ − θ0) in one forward-mode pass
(``torch.func.jvp`` over ``torch.func.functional_call``); the result is differentiable in θ by
ordinary reverse-mode autograd, so it trains like any module:

>>> from featmech.nets.networks import MLP, make_optimizer
>>> net = MLP(3, (8,), 2, activation_name="tanh", dtype=torch.float64, seed=0)
>>> lin = Linearized(net)
>>> x = torch.randn(5, 3, dtype=torch.float64)
>>> bool(torch.allclose(lin(x), net(x)))     # θ = θ0: the Taylor model is the network
True
>>> opt = make_optimizer(lin.net, 0.1)
>>> loss = (lin(x) ** 2).mean(); loss.backward(); opt.step()
>>> with torch.no_grad():                    # the trained net vs its trained Taylor model
...     gap = linearization_gap(lin.net(x), lin(x), net(x))
>>> 0.0 < gap < 0.1
True
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

try:
    import torch
    from torch import nn
    from torch.func import functional_call, jvp
except ImportError as exc:  # pragma: no cover - optional
    raise ImportError("featmech.nets needs PyTorch: pip install 'featmech[torch]'") from exc

from featmech.errors import InputError

__all__ = ["Linearized", "linearization_gap", "check_deterministic"]

#: modules whose output couples the examples of a batch or is random in training mode
_BATCH_NORM = (nn.modules.batchnorm._BatchNorm,)
_DROPOUT = (nn.modules.dropout._DropoutNd, nn.AlphaDropout, nn.FeatureAlphaDropout)


class _Store(nn.Module):
    """A tree of modules holding tensors as buffers under dotted names (buffer names cannot
    contain dots, so ``layers.0.weight`` is the buffer ``weight`` of the child ``layers.0``)."""

    def put(self, name: str, value: torch.Tensor) -> None:
        node: nn.Module = self
        *path, leaf = name.split(".")
        for part in path:
            if part not in node._modules:
                node.add_module(part, _Store())
            node = node._modules[part]  # type: ignore[assignment]
        node.register_buffer(leaf, value)


class Linearized(nn.Module):
    """f_lin(θ; x) = f(θ0; x) + J_{θ0}(x)·(θ − θ0): the first-order Taylor model of ``model`` around its parameters θ0 at construction.

    ``net`` is a deep copy of ``model`` holding the trainable θ (same parameter names and shapes,
    initialised to θ0); train it with ``featmech.nets.networks.make_optimizer(lin.net, lr,
    multipliers)`` (per-layer rates as for the network itself). ``lin.parameters()`` are exactly
    ``lin.net``'s parameters. θ0 and the model's buffers at construction are stored as buffers
    (``lin.theta0``, ``lin.buffers0``, nested by the dotted names), so ``lin.to(device/dtype)``
    moves them, and they are never trained. ``model`` itself is not touched.

    The Taylor model is taken in the mode each submodule was in at construction (``model.train()``
    or ``model.eval()``): :meth:`forward` evaluates ``net`` in those modes whatever ``lin.train()``
    or ``lin.eval()`` say, with the buffers (e.g. batch-norm running statistics) as they were.
    Parameters with ``requires_grad=False`` get no gradient and stay at θ0 (their term
    J·(θ − θ0) is then zero).

    Cost: one forward-mode pass (about two to three forward passes) per call, and its reverse pass.

    Arguments:
        model: the network, a module mapping a batch of inputs (n, …) to outputs (n, …) example by
            example.

    Raises:
        InputError: ``model`` has no parameters, or contains a batch-norm layer in training mode
            or one without running statistics (it couples the examples of a batch: f(x_i) is not a
            function of x_i alone, and training mode would update the statistics) or dropout in
            training mode (a random function): call ``model.eval()`` first.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        check_deterministic(model, "before linearizing")
        self.net = copy.deepcopy(model)
        params = dict(self.net.named_parameters())
        if not params:
            raise InputError("model has no parameters to linearize")
        self._param_names = tuple(params)
        self._buffer_names = tuple(n for n, _ in self.net.named_buffers())
        self.theta0 = _Store()
        for n, p in params.items():
            self.theta0.put(n, p.detach().clone())
        self.buffers0 = _Store()
        for n, b in self.net.named_buffers():
            self.buffers0.put(n, b.detach().clone())
        self._modes = tuple(m.training for m in self.net.modules())

    def initial_parameters(self) -> dict[str, torch.Tensor]:
        """θ0 by parameter name (the stored tensors, not copies: do not modify them)."""
        return {n: self.theta0.get_buffer(n) for n in self._param_names}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """f(θ0; x) + J_{θ0}(x)·(θ − θ0) for the batch ``x``, differentiable in θ = ``net``'s parameters."""
        theta = dict(self.net.named_parameters())
        theta0 = self.initial_parameters()
        delta = {n: theta[n] - theta0[n] for n in self._param_names}
        buffers = {n: self.buffers0.get_buffer(n) for n in self._buffer_names}
        modules = list(self.net.modules())
        current = tuple(m.training for m in modules)
        if current != self._modes:
            for m, mode in zip(modules, self._modes):
                m.training = mode
        try:
            f0, df = jvp(lambda p: functional_call(self.net, (p, buffers), (x,)), (theta0,), (delta,))
        finally:
            if current != self._modes:
                for m, mode in zip(modules, current):
                    m.training = mode
        return f0 + df


def check_deterministic(model: nn.Module, why: str = "") -> None:
    """Refuse a model whose output on one example is not a fixed function of its parameters.

    Batch norm in training mode (or without running statistics) couples the examples of a batch
    and updates its statistics; dropout in training mode (p > 0) is random. The Taylor model, the
    tangent kernel and the linearization gap all assume f(θ; x_i) depends on θ and x_i alone.

    Arguments:
        model: the network.
        why: what the message says the ``model.eval()`` is needed for (e.g. ``"before linearizing"``).

    Raises:
        InputError: such a module (the message names it and says to call ``model.eval()``).
    """
    tail = f" {why}" if why else ""
    for name, m in model.named_modules():
        where = name or type(model).__name__
        if isinstance(m, _BATCH_NORM) and (m.training or not m.track_running_stats):
            raise InputError(f"model: batch norm {where!r} in training mode (or without running statistics) "
                             f"couples the examples of a batch; call model.eval(){tail}")
        if isinstance(m, _DROPOUT) and m.training and m.p > 0:
            raise InputError(f"model: dropout {where!r} in training mode is random; call model.eval(){tail}")


def _as_array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a numeric array or tensor") from exc
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name} has non-finite entries")
    return a


def linearization_gap(f: Any, f_lin: Any, f0: Any, *, rtol: float = 0.0) -> float:
    """How far a trained network is from its trained linearization, relative to how far either moved.

    gap = ‖f − f_lin‖_F / max(‖f − f0‖_F, ‖f_lin − f0‖_F)   (Frobenius norms over all entries),

    with f the trained network's outputs, f_lin the trained linearization's and f0 the outputs at
    initialisation, all on the same inputs. 0 means the network trained exactly like its Taylor
    model (the kernel regime); values of order 1 mean training left it (feature learning).

    Arguments:
        f, f_lin, f0: outputs of one shape (tensors, arrays or nested sequences).
        rtol: moves up to rtol·‖f0‖_F count as nothing moved (gap 0): below the round-off of the
            outputs' precision (e.g. 1000·ε of float32 ≈ 1.2e-4) the ratio is noise of order 1.

    Returns:
        The gap ≥ 0 (a float); 0.0 if nothing moved (f = f_lin = f0, or moves within ``rtol``).

    Raises:
        InputError: shapes differ, or an entry is not finite.

    >>> linearization_gap([1.0, 2.0], [1.0, 2.0], [0.0, 0.0])
    0.0
    >>> linearization_gap([2.0], [1.0], [0.0])
    0.5
    >>> linearization_gap([1.0 + 1e-9], [1.0 - 1e-9], [1.0], rtol=1e-6)   # round-off, not a gap
    0.0
    """
    a, b, c = _as_array("f", f), _as_array("f_lin", f_lin), _as_array("f0", f0)
    if not (a.shape == b.shape == c.shape):
        raise InputError(f"f, f_lin and f0 must have one shape, got {a.shape}, {b.shape}, {c.shape}")
    scale = max(float(np.linalg.norm(a - c)), float(np.linalg.norm(b - c)))
    if scale == 0.0 or scale <= float(rtol) * float(np.linalg.norm(c)):
        return 0.0
    return float(np.linalg.norm(a - b)) / scale
