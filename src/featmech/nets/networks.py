"""Networks for the experiments (PyTorch, optional extra ``featmech[torch]``).

- :class:`TwoLayerNet`: f(x) = κ Σ_i u_i σ(w_i x) on scalar input, initialized like the linear
  model (σ_u, σ_w, correlation ρ); with ``activation="linear"`` it *is* THEORY.md's network.
- :class:`MLP` and :class:`SmallCNN`: image classifiers with an init-scale multiplier (weights
  N(0, (scale)²/fan_in), zero biases) and an output scale κ.
- :func:`param_groups` / :func:`make_optimizer`: per-layer learning rates lr·η_l as optimizer
  parameter groups (THEORY.md's layer-wise η).
- :func:`train`: full-batch GD or minibatch SGD with MSE (½·mean Σ_c (f_c − y_c)²) or
  cross-entropy, deterministic seeds, an optional :class:`featmech.monitor.MechanismMonitor`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

try:
    import torch
    from torch import nn
    from torch.nn import functional as F
except ImportError as exc:  # pragma: no cover - optional
    raise ImportError("featmech.nets needs PyTorch: pip install 'featmech[torch]'") from exc

from featmech._validation import check_int, check_scalar
from featmech.errors import InputError
from featmech.theory.inits import iid_gaussian

__all__ = ["ACTIVATIONS", "activation", "TwoLayerNet", "MLP", "SmallCNN", "weight_layers", "param_groups",
           "make_optimizer", "TrainResult", "train"]

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda z: z,
    "relu": F.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "silu": F.silu,
    "swish": F.silu,
}


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if name not in ACTIVATIONS:
        raise InputError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


class TwoLayerNet(nn.Module):
    """f(x) = κ Σ_i u_i σ(w_i x): ``hidden.weight`` is w (d×1), ``output.weight`` is u (1×d)."""

    def __init__(self, width: int, activation_name: str = "linear", *, sigma_u: float = 1.0, sigma_w: float = 1.0,
                 rho: float = 0.0, kappa: float = 1.0, seed: int = 0, dtype: torch.dtype = torch.float64,
                 u0: Any = None, w0: Any = None) -> None:
        super().__init__()
        self.act_name = activation_name
        self.act = activation(activation_name)
        self.kappa = check_scalar("kappa", kappa, low=0.0)
        if u0 is None or w0 is None:
            u0, w0 = iid_gaussian(width, sigma_u, sigma_w, rho=rho, seed=seed)
        u0, w0 = np.asarray(u0, dtype=np.float64), np.asarray(w0, dtype=np.float64)
        self.hidden = nn.Linear(1, u0.size, bias=False, dtype=dtype)
        self.output = nn.Linear(u0.size, 1, bias=False, dtype=dtype)
        with torch.no_grad():
            self.hidden.weight.copy_(torch.as_tensor(w0, dtype=dtype).reshape(-1, 1))
            self.output.weight.copy_(torch.as_tensor(u0, dtype=dtype).reshape(1, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kappa * self.output(self.act(self.hidden(x)))

    @property
    def u(self) -> np.ndarray:
        return self.output.weight.detach().cpu().numpy().ravel().astype(np.float64)

    @property
    def w(self) -> np.ndarray:
        return self.hidden.weight.detach().cpu().numpy().ravel().astype(np.float64)


def _init_scaled(module: nn.Module, scale: float, gen: torch.Generator) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.normal_(0.0, scale / math.sqrt(fan_in), generator=gen)
                if m.bias is not None:
                    m.bias.zero_()


class MLP(nn.Module):
    """Fully connected net: Linear → σ → … → Linear, output multiplied by κ."""

    def __init__(self, in_dim: int, hidden: Sequence[int] = (128, 128), out_dim: int = 10, *,
                 activation_name: str = "relu", init_scale: float = 1.0, kappa: float = 1.0, seed: int = 0,
                 dtype: torch.dtype = torch.float32, bias: bool = True) -> None:
        super().__init__()
        self.act = activation(activation_name)
        self.kappa = check_scalar("kappa", kappa, low=0.0)
        scale = check_scalar("init_scale", init_scale, low=0.0, low_inclusive=False)
        dims = [check_int("in_dim", in_dim, low=1)] + [check_int("hidden", h, low=1) for h in hidden] + [
            check_int("out_dim", out_dim, low=1)]
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=bias, dtype=dtype) for a, b in zip(dims[:-1], dims[1:]))
        gen = torch.Generator().manual_seed(check_int("seed", seed, low=0))
        _init_scaled(self, scale, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.act(layer(x))
        return self.kappa * self.layers[-1](x)


class SmallCNN(nn.Module):
    """Two 3×3 convolutions (padding 1) → global average pool → Linear; output × κ.

    Takes flattened images and reshapes them to ``image_shape`` = (channels, height, width).
    """

    def __init__(self, image_shape: tuple[int, int, int], n_classes: int = 10, *, channels: int = 16,
                 activation_name: str = "relu", init_scale: float = 1.0, kappa: float = 1.0, seed: int = 0,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.act = activation(activation_name)
        self.kappa = check_scalar("kappa", kappa, low=0.0)
        c = check_int("channels", channels, low=1)
        self.conv1 = nn.Conv2d(self.image_shape[0], c, 3, padding=1, dtype=dtype)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, dtype=dtype)
        self.head = nn.Linear(c, check_int("n_classes", n_classes, low=1), dtype=dtype)
        gen = torch.Generator().manual_seed(check_int("seed", seed, low=0))
        _init_scaled(self, check_scalar("init_scale", init_scale, low=0.0, low_inclusive=False), gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.image_shape)
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        return self.kappa * self.head(x.mean(dim=(2, 3)))


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's weight layers in registration order: modules owning a ≥2-D ``weight`` parameter."""
    out = []
    for name, m in model.named_modules():
        w = getattr(m, "weight", None)
        if isinstance(w, nn.Parameter) and w.ndim >= 2 and not isinstance(m, (nn.Embedding,)):
            out.append((name, m))
    if not out:
        raise InputError("the model has no weight layers (modules with a 2-D or higher 'weight' parameter)")
    return out


def param_groups(model: nn.Module, lr: float, multipliers: Mapping[str, float] | Sequence[float] | None = None
                 ) -> list[dict[str, Any]]:
    """Optimizer parameter groups with learning rate lr·η_l per weight layer (its bias included).

    ``multipliers`` maps layer names (from :func:`weight_layers`) to η_l, or lists η_l in layer
    order; layers not named get η = 1, parameters outside weight layers go in a group with η = 1.
    """
    lr = check_scalar("lr", lr, low=0.0, low_inclusive=False)
    layers = weight_layers(model)
    if multipliers is None:
        mult = {n: 1.0 for n, _ in layers}
    elif isinstance(multipliers, Mapping):
        unknown = set(multipliers) - {n for n, _ in layers}
        if unknown:
            raise InputError(f"unknown layer(s) {sorted(unknown)}; weight layers are {[n for n, _ in layers]}")
        mult = {n: float(multipliers.get(n, 1.0)) for n, _ in layers}
    else:
        if len(multipliers) != len(layers):
            raise InputError(f"multipliers has {len(multipliers)} entries for {len(layers)} weight layers")
        mult = {n: float(v) for (n, _), v in zip(layers, multipliers)}
    for n, v in mult.items():
        check_scalar(f"multiplier of layer {n}", v, low=0.0)
    groups, seen = [], set()
    for n, m in layers:
        ps = [p for p in m.parameters(recurse=False)]
        seen.update(id(p) for p in ps)
        groups.append({"params": ps, "lr": lr * mult[n], "eta": mult[n], "layer": n})
    rest = [p for p in model.parameters() if id(p) not in seen]
    if rest:
        groups.append({"params": rest, "lr": lr, "eta": 1.0, "layer": None})
    return groups


def make_optimizer(model: nn.Module, lr: float, multipliers: Any = None, momentum: float = 0.0,
                   weight_decay: float = 0.0) -> torch.optim.SGD:
    """SGD (PyTorch conventions) with per-layer learning rates lr·η_l."""
    mom = check_scalar("momentum", momentum, low=0.0, high=0.999999)
    return torch.optim.SGD(param_groups(model, lr, multipliers), lr=lr, momentum=mom,
                           weight_decay=check_scalar("weight_decay", weight_decay, low=0.0))


@dataclass
class TrainResult:
    """Per-step training losses, final metrics, and whether it diverged (non-finite loss)."""

    steps: int
    losses: np.ndarray
    diverged: bool
    diverged_at: int | None
    train_accuracy: float | None = None
    test_accuracy: float | None = None


def _loss_fn(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if kind == "mse":
        return lambda out, y: 0.5 * ((out - y) ** 2).sum(dim=-1).mean()
    if kind == "ce":
        return lambda out, y: F.cross_entropy(out, y)
    raise InputError(f"unknown loss {kind!r}; choose mse or ce")


def train(model: nn.Module, x: Any, y: Any, *, lr: float, steps: int, loss: str = "mse",
          multipliers: Any = None, batch_size: int | None = None, momentum: float = 0.0, seed: int = 0,
          monitor: Any = None, x_test: Any = None, y_test: Any = None) -> TrainResult:
    """Train with full-batch GD (``batch_size=None``) or minibatch SGD; stops early on divergence.

    With a monitor, ``monitor.step(t)`` is called before step t (t = 0 … steps) so that records
    at step t describe the weights after t updates.
    """
    steps = check_int("steps", steps, low=1)
    dtype = next(model.parameters()).dtype
    X = torch.as_tensor(np.asarray(x), dtype=dtype)
    Y = torch.as_tensor(np.asarray(y))
    Y = Y.to(torch.int64) if loss == "ce" else Y.to(dtype)
    lf = _loss_fn(loss)
    opt = make_optimizer(model, lr, multipliers, momentum)
    gen = torch.Generator().manual_seed(check_int("seed", seed, low=0))
    n = X.shape[0]
    bs = n if batch_size is None else check_int("batch_size", batch_size, low=1)
    if bs > n:
        raise InputError(f"batch_size {bs} is larger than the data ({n} examples)")
    losses = np.full(steps, np.nan)
    diverged_at = None
    perm = torch.randperm(n, generator=gen)
    pos = 0
    for t in range(steps):
        if monitor is not None:
            monitor.step(t)
        if bs == n:
            xb, yb = X, Y
        else:
            if pos + bs > n:
                perm, pos = torch.randperm(n, generator=gen), 0
            idx = perm[pos:pos + bs]
            pos += bs
            xb, yb = X[idx], Y[idx]
        opt.zero_grad(set_to_none=True)
        val = lf(model(xb), yb)
        if not torch.isfinite(val):
            diverged_at = t
            break
        val.backward()
        opt.step()
        losses[t] = float(val.detach())
    else:
        if monitor is not None:
            monitor.step(steps)
    res = TrainResult(steps=steps, losses=losses, diverged=diverged_at is not None, diverged_at=diverged_at)
    if loss == "ce" and diverged_at is None:
        with torch.no_grad():
            res.train_accuracy = float((model(X).argmax(-1) == Y).double().mean())
            if x_test is not None:
                Xt = torch.as_tensor(np.asarray(x_test), dtype=dtype)
                Yt = torch.as_tensor(np.asarray(y_test)).to(torch.int64)
                res.test_accuracy = float((model(Xt).argmax(-1) == Yt).double().mean())
    return res
