r"""Networks whose infinite-width limits are known: for width sweeps and lazy-training checks.

- :class:`OutputScaled`: Chizat & Bach's lazy-training trick f(x) = α (g(x) − g(θ0; x)).
- :class:`Parametrization` (:data:`PARAMETRIZATIONS`, :func:`parametrization`): MLPs in the
  standard, NTK, mean-field and maximal-update (μP) parametrizations, built at any width with the
  per-layer learning-rate multipliers η_l of :func:`featmech.nets.networks.make_optimizer`.
- :class:`Conv1dNet`: a small 1-D CNN for MNIST-1D (flat inputs of length 40).

The parametrizations (width n of every hidden layer, input dimension d and output dimension c
finite). A layer computes z = m·W x with trainable W initialised N(0, σ²) entrywise and trained by
SGD at rate lr·η_l (lr the base rate), so the *effective* weight m·W has variance m²σ² and moves at
rate m²·η_l. No biases (a bias would need its own rate in μP). fan_in/fan_out are the layer's:

================  ==========================  =========================  ==========================
parametrization   input layer (d → n)         hidden layers (n → n)      output layer (n → c)
================  ==========================  =========================  ==========================
standard (SP)     m=1, σ²=1/d, η=1/n          m=1, σ²=1/n, η=1/n         m=1, σ²=1/n, η=1/n
ntk               m=1/√d, σ²=1, η=1           m=1/√n, σ²=1, η=1          m=1/√n, σ²=1, η=1
mean_field        m=1/√d, σ²=1, η=d·n         m=1/√n, σ²=1, η=n          m=1/n, σ²=1, η=n
mup (SGD)         m=1, σ²=1/d, η=n            m=1, σ²=1/n, η=1           m=1, σ²=1/n², η=1/n
================  ==========================  =========================  ==========================

``mup`` is Table 3 of Yang et al., *Tensor Programs V* (2022), for SGD: initial variance
1/fan_in (input weights), 1/fan_in (hidden), 1/fan_in² (output); SGD learning rate ∝ fan_out
(input weights), 1 (hidden), 1/fan_in (output) — the scaling of microsoft/mup's ``MuSGD`` (vector-
like parameters × width multiplier, square hidden matrices × 1) with a ``MuReadout`` output.
``mean_field`` is the same parametrization written with N(0, 1) weights and forward multipliers
(the unit-scaled table of the same paper; for one hidden layer it is the two-layer mean-field net
f = (1/n) Σ_i v_i σ(w_i·x/√d) with rates ∝ n): the abc-symmetry (m → m·θ, σ → σ/θ, η → η/θ²)
maps one to the other exactly, so with one seed they compute the same function and train the same
way (a test checks it). ``standard`` is PyTorch's default init with a global rate ∝ 1/width
(the largest stable one); ``ntk`` is Jacot et al.'s parametrization at rate O(1).

Known limits as n → ∞ at a fixed base rate and a fixed number of steps (Yang & Hu, *Tensor
Programs IV*, 2021), as exponents of n (the fields of :class:`Parametrization`; the tests fit
them over widths 32–1024, docs/parametrizations.md lists the measured slopes):

================  ==========  ===========================================  ==============  ================
parametrization   output f0   pre-activation change, one step (in/hid/out)  NTK change      limit
================  ==========  ===========================================  ==============  ================
standard          0           −3/2, −1/2, 0                                −1              kernel
ntk               0           −1/2, −1/2, 0                                −1              kernel
mean_field, mup   −1/2        0, 0, 0                                      0               feature learning
================  ==========  ===========================================  ==============  ================

The NTK change is the relative change |tr K_T / tr K_0 − 1| of the η-weighted NTK's trace after
a fixed number T of GD steps; its O(1/n) decay in the kernel regime is the known 1/width
correction to the NTK dynamics (Dyer & Gur-Ari 2020) — faster than the O(1/√n) bound on the
weights' movement.

>>> model, eta = parametrization("mup").build(64, in_dim=3, out_dim=1, seed=0)
>>> eta
{'layers.0': 64.0, 'layers.1': 1.0, 'layers.2': 0.015625}
>>> model(torch.zeros(2, 3, dtype=torch.float64)).shape
torch.Size([2, 1])
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, NamedTuple

try:
    import torch
    from torch import nn
    from torch.func import functional_call
except ImportError as exc:  # pragma: no cover - optional
    raise ImportError("featmech.nets needs PyTorch: pip install 'featmech[torch]'") from exc

from featmech._validation import check_int, check_scalar
from featmech.errors import InputError
from featmech.nets.linearize import _Store
from featmech.nets.networks import activation
from featmech.params import PARAMETERS

__all__ = ["OutputScaled", "LayerScale", "Parametrization", "PARAMETRIZATIONS", "parametrization", "Built",
           "ScaledMLP", "Conv1dNet"]


# --------------------------------------------------------------------------------------------------
# Chizat & Bach's output scaling


class OutputScaled(nn.Module):
    """f(x) = α (g(θ; x) − g(θ0; x)) (``center=True``) or α g(θ; x): Chizat & Bach's lazy-training scale.

    ``net`` is a deep copy of the model g holding the trainable θ (``OutputScaled.parameters()``
    are exactly ``net``'s); the initial parameters θ0 are stored as buffers (``theta0``), so
    ``.to()`` moves them and they are never trained; ``model`` itself is not touched. Centering
    makes f ≡ 0 at initialisation whatever α.

    The tangent kernel of f is α² times g's, so gradient descent at rate lr moves f at speed
    ∝ lr·α² while the parameters move by O(1/α) relative to that function change. **Use
    lr = lr0/α²** to train at a fixed function-space speed: as α → ∞ the relative change of the
    parameters and of the NTK vanishes ∝ 1/α and training becomes that of the linearized model
    (the lazy regime; :class:`featmech.nets.linearize.Linearized`).

    Arguments:
        model: g, a module mapping a batch of inputs to outputs example by example.
        alpha: the output scale α > 0.
        center: subtract the frozen initial function g(θ0; ·).

    Raises:
        InputError: ``alpha`` not > 0, or ``model`` not a module with parameters.
    """

    def __init__(self, model: nn.Module, alpha: float, *, center: bool = True) -> None:
        super().__init__()
        if not isinstance(model, nn.Module) or not any(True for _ in model.parameters()):
            raise InputError("model must be a torch.nn.Module with parameters")
        self.alpha = check_scalar("alpha", alpha, low=0.0, low_inclusive=False)
        self.center = bool(center)
        self.net = copy.deepcopy(model)
        self._param_names = tuple(n for n, _ in self.net.named_parameters())
        self.theta0 = _Store()
        for n, p in self.net.named_parameters():
            self.theta0.put(n, p.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """α (g(θ; x) − g(θ0; x)), or α g(θ; x) without centering."""
        out = self.net(x)
        if self.center:
            theta0 = {n: self.theta0.get_buffer(n) for n in self._param_names}
            with torch.no_grad():
                initial = functional_call(self.net, theta0, (x,))
            out = out - initial
        return self.alpha * out


# --------------------------------------------------------------------------------------------------
# width parametrizations of MLPs


class LayerScale(NamedTuple):
    """One layer of a parametrization: forward multiplier m, init standard deviation σ of the
    trainable weights, learning-rate multiplier η (relative to the base rate)."""

    multiplier: float
    init_std: float
    lr: float


class Built(NamedTuple):
    """What :meth:`Parametrization.build` returns: the model and its per-layer η_l (layer name -> η_l,
    for :func:`featmech.nets.networks.make_optimizer`)."""

    model: "ScaledMLP"
    multipliers: dict[str, float]


_KINDS = ("input", "hidden", "output")


def _scale(name: str, kind: str, fan_in: int, fan_out: int, width: int) -> LayerScale:
    """The table of the module docstring."""
    fi, fo, n = float(fan_in), float(fan_out), float(width)
    if name == "standard":
        return LayerScale(1.0, 1.0 / math.sqrt(fi), 1.0 / n)
    if name == "ntk":
        return LayerScale(1.0 / math.sqrt(fi), 1.0, 1.0)
    if name == "mean_field":
        if kind == "input":
            return LayerScale(1.0 / math.sqrt(fi), 1.0, fi * fo)
        if kind == "hidden":
            return LayerScale(1.0 / math.sqrt(fi), 1.0, fi)
        return LayerScale(1.0 / fi, 1.0, fi)
    if name == "mup":
        if kind == "input":
            return LayerScale(1.0, 1.0 / math.sqrt(fi), fo)
        if kind == "hidden":
            return LayerScale(1.0, 1.0 / math.sqrt(fi), 1.0)
        return LayerScale(1.0, 1.0 / fi, 1.0 / fi)
    raise InputError(f"unknown parametrization {name!r}; choose from {', '.join(PARAMETRIZATIONS)}")


class ScaledMLP(nn.Module):
    """z_1 = m_1 W_1 x, z_{l+1} = m_{l+1} W_{l+1} σ(z_l), f = z_{L}: an MLP without biases whose layers
    carry forward multipliers m_l (``forward_multipliers``), weights in ``layers.0 … layers.L-1``.

    Arguments:
        dims: the widths (in_dim, hidden…, out_dim).
        scales: one :class:`LayerScale` per layer (its ``multiplier`` and ``init_std`` are used here).
        activation_name: σ, a key of :data:`featmech.nets.networks.ACTIVATIONS`.
        seed: the seed of the init (standard normals drawn layer by layer, then × σ_l).
        dtype: the parameters' dtype.

    Raises:
        InputError: an unknown activation, or ``scales`` of the wrong length.
    """

    def __init__(self, dims: tuple[int, ...], scales: tuple[LayerScale, ...], *, activation_name: str = "tanh",
                 seed: int = 0, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        if len(scales) != len(dims) - 1:
            raise InputError(f"scales has {len(scales)} entries for {len(dims) - 1} layers")
        self.act = activation(activation_name)
        self.forward_multipliers = tuple(float(s.multiplier) for s in scales)
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=False, dtype=dtype) for a, b in zip(dims[:-1], dims[1:]))
        gen = torch.Generator().manual_seed(PARAMETERS["seed"].check(seed))
        with torch.no_grad():
            for layer, s in zip(self.layers, scales):
                z = torch.randn(layer.weight.shape, generator=gen, dtype=torch.float64)
                layer.weight.copy_(s.init_std * z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        for i, (layer, m) in enumerate(zip(self.layers, self.forward_multipliers)):
            x = m * layer(x)
            if i < last:
                x = self.act(x)
        return x


@dataclass(frozen=True)
class Parametrization:
    """A width parametrization of MLPs (a row of the module docstring's table).

    Attributes:
        name: ``standard``, ``ntk``, ``mean_field`` or ``mup``.
        description: one line for people.
        limit: ``kernel`` or ``feature learning``: the regime as width → ∞ at a fixed base rate.
        output_exponent: the output at init is ∝ width^output_exponent.
        update_exponents: the RMS change of the input, hidden and output layers' pre-activations
            z_l after one SGD step is ∝ width^exponent (μP: all 0, every layer learns maximally).
        ntk_change_exponent: the relative change of the η-weighted NTK after a fixed number of
            steps is ∝ width^exponent (−1 in the kernel regime, 0 with feature learning).
    """

    name: str
    description: str
    limit: str
    output_exponent: float
    update_exponents: tuple[float, float, float]
    ntk_change_exponent: float

    def scales(self, width: int, in_dim: int, out_dim: int, depth: int = 2) -> tuple[LayerScale, ...]:
        """The :class:`LayerScale` of every layer (input, ``depth − 1`` hidden, output).

        Raises:
            InputError: a width, dimension or depth below 1.
        """
        n = check_int("width", width, low=1)
        d = check_int("in_dim", in_dim, low=1)
        c = check_int("out_dim", out_dim, low=1)
        depth = check_int("depth", depth, low=1)
        kinds = ["input"] + ["hidden"] * (depth - 1) + ["output"]
        dims = [d] + [n] * depth + [c]
        return tuple(_scale(self.name, k, a, b, n) for k, a, b in zip(kinds, dims[:-1], dims[1:]))

    def build(self, width: int, in_dim: int, out_dim: int, seed: int = 0, *, depth: int = 2,
              activation_name: str = "tanh", dtype: torch.dtype = torch.float64) -> Built:
        """An MLP of ``depth`` hidden layers of ``width`` units in this parametrization.

        Arguments:
            width: n, the width of every hidden layer.
            in_dim, out_dim: d and c.
            seed: the seed of the init.
            depth: the number of hidden layers (≥ 1; 1 is a two-layer net).
            activation_name: σ.
            dtype: the parameters' dtype.

        Returns:
            :class:`Built` ``(model, multipliers)``: train with
            ``make_optimizer(model, lr, multipliers)`` (or ``train(model, x, y, lr=lr, steps=…,
            multipliers=multipliers)``).

        Raises:
            InputError: a value out of range or an unknown activation.
        """
        scales = self.scales(width, in_dim, out_dim, depth)
        dims = (in_dim,) + (width,) * depth + (out_dim,)
        model = ScaledMLP(dims, scales, activation_name=activation_name, seed=seed, dtype=dtype)
        return Built(model, {f"layers.{i}": s.lr for i, s in enumerate(scales)})


#: the parametrizations, by name
PARAMETRIZATIONS: Mapping[str, Parametrization] = MappingProxyType({
    "standard": Parametrization("standard", "standard (PyTorch) init, rate ∝ 1/width", "kernel", 0.0,
                                (-1.5, -0.5, 0.0), -1.0),
    "ntk": Parametrization("ntk", "NTK parametrization: N(0,1) weights, forward × 1/√fan_in", "kernel", 0.0,
                           (-0.5, -0.5, 0.0), -1.0),
    "mean_field": Parametrization("mean_field", "mean field: N(0,1) weights, output × 1/width, rates ∝ width",
                                  "feature learning", -0.5, (0.0, 0.0, 0.0), 0.0),
    "mup": Parametrization("mup", "μP (Tensor Programs V, Table 3, SGD)", "feature learning", -0.5,
                           (0.0, 0.0, 0.0), 0.0),
})


def parametrization(name: str) -> Parametrization:
    """The :class:`Parametrization` called ``name`` (a key of :data:`PARAMETRIZATIONS`).

    Raises:
        InputError: an unknown name (the message lists the known ones).

    >>> parametrization("ntk").limit
    'kernel'
    """
    if not isinstance(name, str) or name not in PARAMETRIZATIONS:
        raise InputError(f"unknown parametrization {name!r}; choose from {', '.join(PARAMETRIZATIONS)}")
    return PARAMETRIZATIONS[name]


# --------------------------------------------------------------------------------------------------
# a 1-D CNN for MNIST-1D


class Conv1dNet(nn.Module):
    """Conv1d(1→c, k) → σ → Conv1d(c→c, k) → σ → mean over positions → Linear(c → classes); output × κ.

    Takes flat inputs (n, in_len) and reshapes them to (n, 1, in_len) (MNIST-1D: in_len = 40).
    Convolutions have kernel size ``kernel`` and padding ``kernel // 2`` (odd kernels keep the
    length); weights N(0, scale²/fan_in) with fan_in = in_channels·kernel, biases zero. Its weight
    layers (:func:`featmech.nets.networks.weight_layers`) are ``conv1``, ``conv2``, ``head``.

    Arguments:
        in_len: the input length.
        n_classes: the number of outputs.
        channels: c, the width of both convolutions.
        kernel: the kernel size (odd).
        activation_name, init_scale, kappa, seed, dtype: as for :class:`featmech.nets.networks.MLP`.

    Raises:
        InputError: a value out of range or an unknown activation.

    >>> Conv1dNet(channels=4)(torch.zeros(3, 40)).shape
    torch.Size([3, 10])
    """

    def __init__(self, in_len: int = 40, n_classes: int = 10, *, channels: int = 16, kernel: int = 5,
                 activation_name: str = "relu", init_scale: float = 1.0, kappa: float = 1.0, seed: int = 0,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.in_len = check_int("in_len", in_len, low=1)
        self.act = activation(activation_name)
        self.kappa = check_scalar("kappa", kappa, low=0.0)
        c = check_int("channels", channels, low=1)
        k = check_int("kernel", kernel, low=1)
        if k % 2 == 0:
            raise InputError(f"kernel must be odd, got {k}")
        scale = check_scalar("init_scale", init_scale, low=0.0, low_inclusive=False)
        self.conv1 = nn.Conv1d(1, c, k, padding=k // 2, dtype=dtype)
        self.conv2 = nn.Conv1d(c, c, k, padding=k // 2, dtype=dtype)
        self.head = nn.Linear(c, check_int("n_classes", n_classes, low=1), dtype=dtype)
        gen = torch.Generator().manual_seed(PARAMETERS["seed"].check(seed))
        with torch.no_grad():
            for m in (self.conv1, self.conv2, self.head):
                m.weight.normal_(0.0, scale / math.sqrt(m.weight[0].numel()), generator=gen)
                m.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], 1, self.in_len)
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        return self.kappa * self.head(x.mean(dim=2))
