"""Networks for the experiments (PyTorch, optional extra ``featmech[torch]``).

- :class:`TwoLayerNet`: f(x) = κ Σ_i u_i σ(w_i x) on scalar input, initialized like the linear
  model (σ_u, σ_w, correlation ρ); with ``activation="linear"`` it *is* docs/theory.md's network.
- :class:`MLP` and :class:`SmallCNN`: image classifiers with an init-scale multiplier (weights
  N(0, (scale)²/fan_in), zero biases) and an output scale κ.
- :func:`param_groups` / :func:`make_optimizer`: per-layer learning rates lr·η_l as optimizer
  parameter groups (docs/theory.md's layer-wise η).
- :class:`Training` and :func:`train`: full-batch GD or minibatch SGD with MSE
  (½·mean Σ_c (f_c − y_c)²) or cross-entropy, deterministic seeds, an optional
  :class:`featmech.nets.monitor.MechanismMonitor`; the result is a frozen :class:`TrainResult`.

>>> net = TwoLayerNet(4, "tanh", rho=0.5, seed=1)
>>> net.u.shape, [name for name, _ in weight_layers(net)]
((4,), ['hidden', 'output'])
>>> layer_multipliers(net, {"output": 10.0})
{'hidden': 1.0, 'output': 10.0}
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
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
from featmech.params import PARAMETERS
from featmech.theory.config import check_vectors, readonly
from featmech.theory.inits import iid_gaussian

__all__ = ["ACTIVATIONS", "LOSSES", "activation", "TwoLayerNet", "MLP", "SmallCNN", "weight_layers",
           "layer_multipliers", "param_groups", "make_optimizer", "Training", "TrainResult", "to_tensor", "accuracy", "train"]

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda z: z,
    "relu": F.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "silu": F.silu,
    "swish": F.silu,
}


#: the losses :func:`train` knows: ``mse`` = ½·mean_i Σ_c (f_c(x_i) − y_ic)², ``ce`` = cross-entropy
LOSSES = PARAMETERS["loss"].choices


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation σ called ``name`` (a key of :data:`ACTIVATIONS`; ``swish`` is SiLU).

    Arguments:
        name: ``linear``, ``relu``, ``leaky_relu`` (slope 0.01), ``tanh``, ``sigmoid``, ``silu`` or ``swish``.

    Returns:
        The elementwise function on tensors.

    Raises:
        InputError: an unknown name (the message lists the known ones).

    >>> float(activation("relu")(torch.tensor(-1.0)))
    0.0
    """
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise InputError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


class TwoLayerNet(nn.Module):
    """f(x) = κ Σ_i u_i σ(w_i x): ``hidden.weight`` is w (d×1), ``output.weight`` is u (1×d).

    Arguments:
        width: d, the number of hidden units (ignored when ``u0`` and ``w0`` are given).
        activation_name: σ, a key of :data:`ACTIVATIONS`.
        sigma_u, sigma_w, rho: the iid init u_i ~ N(0, σ_u²), w_i ~ N(0, σ_w²), corr(u_i, w_i) = ρ
            (:func:`featmech.theory.inits.iid_gaussian`).
        kappa: the output scale κ ≥ 0.
        seed: the seed of the init.
        dtype: the parameters' dtype (float64 by default, to compare with the exact theory).
        u0, w0: explicit initial vectors instead of the sampled ones (1-D, one length).

    Raises:
        InputError: an unknown activation, a value out of range, or bad ``u0``/``w0``.
    """

    def __init__(self, width: int, activation_name: str = "linear", *, sigma_u: float = 1.0, sigma_w: float = 1.0,
                 rho: float = 0.0, kappa: float = 1.0, seed: int = 0, dtype: torch.dtype = torch.float64,
                 u0: Any = None, w0: Any = None) -> None:
        super().__init__()
        self.act_name = activation_name
        self.act = activation(activation_name)
        self.kappa = check_scalar("kappa", kappa, low=0.0)
        if u0 is None or w0 is None:
            u0, w0 = iid_gaussian(width, sigma_u, sigma_w, rho=rho, seed=seed)
        u0, w0 = check_vectors(u0, w0)
        self.hidden = nn.Linear(1, u0.size, bias=False, dtype=dtype)
        self.output = nn.Linear(u0.size, 1, bias=False, dtype=dtype)
        with torch.no_grad():
            self.hidden.weight.copy_(to_tensor(w0, dtype).reshape(-1, 1))
            self.output.weight.copy_(to_tensor(u0, dtype).reshape(1, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kappa * self.output(self.act(self.hidden(x)))

    @property
    def u(self) -> np.ndarray:
        """The output weights u as a float64 vector (a copy)."""
        return self.output.weight.detach().cpu().numpy().ravel().astype(np.float64)

    @property
    def w(self) -> np.ndarray:
        """The hidden weights w as a float64 vector (a copy)."""
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
    """Fully connected net: Linear → σ → … → Linear, output multiplied by κ.

    Weights are drawn N(0, scale²/fan_in), biases start at zero.

    Arguments:
        in_dim, hidden, out_dim: the layer widths (input, hidden layers, output).
        activation_name: σ, a key of :data:`ACTIVATIONS`.
        init_scale: the init-scale multiplier ``scale > 0``.
        kappa: the output scale κ ≥ 0.
        seed: the seed of the init.
        dtype: the parameters' dtype.
        bias: whether the layers have biases.

    Raises:
        InputError: an unknown activation or a value out of range.
    """

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
        gen = torch.Generator().manual_seed(PARAMETERS["seed"].check(seed))
        _init_scaled(self, scale, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.act(layer(x))
        return self.kappa * self.layers[-1](x)


class SmallCNN(nn.Module):
    """Two 3×3 convolutions (padding 1) → global average pool → Linear; output × κ.

    Takes flattened images and reshapes them to ``image_shape`` = (channels, height, width);
    weights N(0, scale²/fan_in), biases zero.

    Arguments:
        image_shape: (channels, height, width) of the input images.
        n_classes: the number of outputs.
        channels: the channels of both convolutions.
        activation_name, init_scale, kappa, seed, dtype: as for :class:`MLP`.

    Raises:
        InputError: an unknown activation or a value out of range.
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
        gen = torch.Generator().manual_seed(PARAMETERS["seed"].check(seed))
        _init_scaled(self, check_scalar("init_scale", init_scale, low=0.0, low_inclusive=False), gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.image_shape)
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        return self.kappa * self.head(x.mean(dim=(2, 3)))


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's weight layers in registration order: modules owning a ≥2-D ``weight`` parameter.

    Returns:
        ``(name, module)`` pairs, names as in ``model.named_modules()``.

    Raises:
        InputError: the model has no such layer.
    """
    out = []
    for name, m in model.named_modules():
        w = getattr(m, "weight", None)
        if isinstance(w, nn.Parameter) and w.ndim >= 2 and not isinstance(m, (nn.Embedding,)):
            out.append((name, m))
    if not out:
        raise InputError("the model has no weight layers (modules with a 2-D or higher 'weight' parameter)")
    return out


def layer_multipliers(model: nn.Module, multipliers: Mapping[str, float] | Sequence[float] | None = None
                      ) -> dict[str, float]:
    """The learning-rate multiplier η_l of every weight layer of ``model``, in layer order.

    Arguments:
        model: the network.
        multipliers: layer name (from :func:`weight_layers`) -> η_l (layers not named get 1), or
            one η_l per weight layer in order, or ``None`` (all 1).

    Returns:
        layer name -> η_l ≥ 0, for every weight layer.

    Raises:
        InputError: an unknown layer name, a list of the wrong length, or a negative η_l.
    """
    names = [n for n, _ in weight_layers(model)]
    if multipliers is None:
        return {n: 1.0 for n in names}
    if isinstance(multipliers, Mapping):
        unknown = set(multipliers) - set(names)
        if unknown:
            raise InputError(f"unknown layer(s) {sorted(unknown)}; weight layers are {names}")
        mult = {n: float(multipliers.get(n, 1.0)) for n in names}
    else:
        if len(multipliers) != len(names):
            raise InputError(f"multipliers has {len(multipliers)} entries for {len(names)} weight layers")
        mult = {n: float(v) for n, v in zip(names, multipliers)}
    for n, v in mult.items():
        check_scalar(f"multiplier of layer {n}", v, low=0.0)
    return mult


def param_groups(model: nn.Module, lr: float, multipliers: Mapping[str, float] | Sequence[float] | None = None
                 ) -> list[dict[str, Any]]:
    """Optimizer parameter groups with learning rate lr·η_l per weight layer (its bias included).

    Arguments:
        model: the network.
        lr: the base learning rate ``> 0``.
        multipliers: the η_l, as for :func:`layer_multipliers`.

    Returns:
        One group per weight layer (keys ``params, lr, eta, layer``), then one with η = 1 for the
        parameters outside weight layers (if any).

    Raises:
        InputError: a bad ``lr`` or bad multipliers.
    """
    lr = check_scalar("lr", lr, low=0.0, low_inclusive=False)
    mult = layer_multipliers(model, multipliers)
    groups: list[dict[str, Any]] = []
    seen: set[int] = set()
    for n, m in weight_layers(model):
        ps = [p for p in m.parameters(recurse=False)]
        seen.update(id(p) for p in ps)
        groups.append({"params": ps, "lr": lr * mult[n], "eta": mult[n], "layer": n})
    rest = [p for p in model.parameters() if id(p) not in seen]
    if rest:
        groups.append({"params": rest, "lr": lr, "eta": 1.0, "layer": None})
    return groups


def make_optimizer(model: nn.Module, lr: float, multipliers: Mapping[str, float] | Sequence[float] | None = None,
                   momentum: float = 0.0, weight_decay: float = 0.0) -> torch.optim.SGD:
    """SGD (PyTorch conventions) with per-layer learning rates lr·η_l.

    Arguments:
        model, lr, multipliers: as for :func:`param_groups`.
        momentum: heavy-ball μ in [0, 1).
        weight_decay: L2 coefficient ≥ 0.

    Returns:
        A ``torch.optim.SGD`` over :func:`param_groups`.

    Raises:
        InputError: a value out of range.
    """
    mom = PARAMETERS["momentum"].check(momentum)
    return torch.optim.SGD(param_groups(model, lr, multipliers), lr=lr, momentum=mom,
                           weight_decay=PARAMETERS["weight_decay"].check(weight_decay))


@dataclass(frozen=True)
class Training:
    """How :func:`train` trains: SGD with PyTorch conventions and per-layer rates lr·η_l.

    Attributes:
        lr: the base learning rate ``> 0``.
        steps: the number of updates.
        loss: ``mse`` (½·mean_i Σ_c (f_c − y_c)², targets as floats) or ``ce`` (cross-entropy,
            integer labels).
        multipliers: the η_l, as for :func:`layer_multipliers` (``None``: all 1).
        batch_size: ``None`` for full-batch GD, else minibatches drawn without replacement
            (reshuffled when an epoch runs out).
        momentum: heavy-ball μ in [0, 1).
        seed: the seed of the minibatch order.

    Raises:
        InputError: a value out of range or an unknown loss.

    >>> Training(lr=0.1, steps=10).loss
    'mse'
    """

    lr: float
    steps: int
    loss: str = "mse"
    multipliers: Mapping[str, float] | Sequence[float] | None = None
    batch_size: int | None = None
    momentum: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", check_scalar("lr", self.lr, low=0.0, low_inclusive=False))
        object.__setattr__(self, "steps", PARAMETERS["steps"].check(self.steps))
        object.__setattr__(self, "loss", PARAMETERS["loss"].check(self.loss))
        if self.batch_size is not None:
            object.__setattr__(self, "batch_size", PARAMETERS["batch_size"].check(self.batch_size))
        object.__setattr__(self, "momentum", PARAMETERS["momentum"].check(self.momentum))
        object.__setattr__(self, "seed", PARAMETERS["seed"].check(self.seed))


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        steps: the steps asked for.
        losses: the loss before each update (read-only; NaN from a divergence on).
        diverged: whether the loss became non-finite (training stopped there).
        diverged_at: the step at which it did (``None`` otherwise).
        train_accuracy, test_accuracy: accuracies after training, for ``loss="ce"`` (test: when
            test data were given); ``None`` otherwise.
    """

    steps: int
    losses: np.ndarray
    diverged: bool
    diverged_at: int | None
    train_accuracy: float | None = None
    test_accuracy: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "losses", readonly(self.losses))

    @property
    def final_loss(self) -> float | None:
        """The last finite loss (``None`` when there is none)."""
        ok = np.isfinite(self.losses)
        return float(self.losses[ok][-1]) if ok.any() else None


def _loss_fn(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if kind == "mse":
        return lambda out, y: 0.5 * ((out - y) ** 2).sum(dim=-1).mean()
    if kind == "ce":
        return lambda out, y: F.cross_entropy(out, y)
    raise InputError(f"unknown loss {kind!r}; choose mse or ce")


def to_tensor(x: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``x`` (array-like or tensor) as a tensor of ``dtype``; read-only arrays are copied first.

    >>> to_tensor(np.zeros(2), torch.float32).dtype
    torch.float32
    """
    if isinstance(x, torch.Tensor):
        return x if dtype is None else x.to(dtype)
    a = np.asarray(x)
    if not a.flags.writeable:
        a = a.copy()
    return torch.as_tensor(a, dtype=dtype)


def accuracy(model: nn.Module, x: Any, labels: Any) -> float:
    """The fraction of examples whose largest output is the label (no gradients).

    Arguments:
        model: a classifier (outputs of shape (n, classes)).
        x: the inputs, (n, features).
        labels: the integer labels, (n,).

    Returns:
        The accuracy in [0, 1].
    """
    with torch.no_grad():
        X = to_tensor(x, next(model.parameters()).dtype)
        Y = to_tensor(labels).to(torch.int64)
        return float((model(X).argmax(-1) == Y).double().mean())


def train(model: nn.Module, x: Any, y: Any, training: Training | None = None, *, monitor: Any = None,
          x_test: Any = None, y_test: Any = None, **options: Any) -> TrainResult:
    """Train with full-batch GD (``batch_size=None``) or minibatch SGD; stops early on divergence.

    With a monitor, ``monitor.step(t)`` is called before step t (t = 0 … steps) so that records
    at step t describe the weights after t updates.

    Arguments:
        model: the network (trained in place).
        x, y: the training inputs and targets (floats for ``mse``, integer labels for ``ce``).
        training: the :class:`Training` settings; or give its fields as keywords
            (``train(net, x, y, lr=0.1, steps=100)``), which also override those of ``training``.
        monitor: an object with ``step(t)`` (a :class:`~featmech.nets.monitor.MechanismMonitor`).
        x_test, y_test: test data for the final test accuracy (``ce`` only).

    Returns:
        A :class:`TrainResult`.

    Raises:
        InputError: bad settings, or a batch larger than the data.
        TypeError: an unknown keyword.
    """
    if training is None:
        training = Training(**options)
    elif options:
        training = replace(training, **options)
    steps, loss = training.steps, training.loss
    dtype = next(model.parameters()).dtype
    X = to_tensor(x, dtype)
    Y = to_tensor(y)
    Y = Y.to(torch.int64) if loss == "ce" else Y.to(dtype)
    lf = _loss_fn(loss)
    opt = make_optimizer(model, training.lr, training.multipliers, training.momentum)
    gen = torch.Generator().manual_seed(training.seed)
    n = X.shape[0]
    bs = n if training.batch_size is None else training.batch_size
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
    train_acc = test_acc = None
    if loss == "ce" and diverged_at is None:
        train_acc = accuracy(model, X, Y)
        if x_test is not None:
            test_acc = accuracy(model, x_test, y_test)
    return TrainResult(steps=steps, losses=losses, diverged=diverged_at is not None, diverged_at=diverged_at,
                       train_accuracy=train_acc, test_accuracy=test_acc)
