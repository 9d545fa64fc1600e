"""The project's vocabulary: one table of every parameter a user can set.

Each :class:`Param` carries its name, kind, default, allowed range and help text. The command
line builds its options from this table, phase diagrams take their axes from it, sweep specs
validate their keys and values with it and the canonical cases are written in it, so a name, a
default or a range is stated exactly once.

>>> PARAMETERS["kappa"].check(0.5)
0.5
>>> PARAMETERS["width"].check(1e12)
1000000000000
>>> PARAMETERS["rho"].check(2)
Traceback (most recent call last):
...
featmech.errors.InputError: rho must be in [-1, 1], got 2
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from featmech.errors import InputError

__all__ = ["Param", "PARAMETERS", "GROUPS", "defaults", "check_values"]

_KINDS = ("float", "int", "str", "bool")


@dataclass(frozen=True)
class Param:
    """One user-settable parameter.

    Attributes:
        name: the Python keyword (``eta_u``); the CLI flag is ``--eta-u``.
        kind: ``"float"``, ``"int"``, ``"str"`` or ``"bool"``.
        default: the value used when it is not given (``None``: computed or absent, see ``help``).
        low, high: the allowed closed range for numbers (``low_open``: ``low`` itself excluded;
            ``high_open``: ``high`` itself excluded).
        optional: ``None`` is an allowed value.
        choices: the allowed strings for ``kind == "str"`` (empty: any string).
        symbol: how figures and tables write it.
        help: one line for ``--help``.
    """

    name: str
    kind: str
    default: Any
    help: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    choices: tuple[str, ...] = ()
    symbol: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:  # pragma: no cover - a programming error in the table
            raise TypeError(f"Param {self.name}: kind must be one of {_KINDS}")

    @property
    def flag(self) -> str:
        """The command-line option, e.g. ``--eta-u``."""
        return "--" + self.name.replace("_", "-")

    @property
    def range_text(self) -> str:
        """The allowed range in words, e.g. ``[0, inf)`` or ``one of mlp, cnn``."""
        if self.kind == "str":
            return "one of " + ", ".join(self.choices) if self.choices else "a string"
        if self.kind == "bool":
            return "true or false"
        lo = "(" if self.low_open or self.low == -math.inf else "["
        hi = ")" if self.high_open or self.high == math.inf else "]"
        return f"{lo}{_num(self.low)}, {_num(self.high)}{hi}"

    def check(self, value: Any, where: str = "") -> Any:
        """Validate one value and return it in its canonical Python type.

        Integer-valued floats are accepted for integers (``1e12`` is a width); booleans are never
        numbers; complex numbers, strings for numbers and out-of-range values raise
        :class:`~featmech.errors.InputError` naming the parameter and the allowed range.

        Raises:
            InputError: the value has the wrong type or lies outside the allowed range.
        """
        label = f"{where}{self.name}"
        if value is None:
            if self.optional:
                return None
            raise InputError(f"{label} must be given ({self.range_text})")
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise InputError(f"{label} must be true or false, got {value!r}")
        if self.kind == "str":
            if not isinstance(value, str):
                raise InputError(f"{label} must be a string, got {value!r}")
            if self.choices and value not in self.choices:
                raise InputError(f"{label} must be {self.range_text}, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or isinstance(value, complex):
            try:
                import numpy as np

                if isinstance(value, (np.generic, np.ndarray)) and value.ndim == 0 and value.dtype.kind in "iuf":
                    value = value.item()  # a NumPy number or a 0-d array of one
                else:
                    raise TypeError
            except TypeError:
                kind = "an integer" if self.kind == "int" else "a real number"
                raise InputError(f"{label} must be {kind}, got {value!r}") from None
        try:
            v = float(value)
        except OverflowError:  # an int beyond float64
            raise InputError(f"{label} must be in {self.range_text}, got an integer of {len(str(abs(value)))} digits") from None
        if not math.isfinite(v):
            raise InputError(f"{label} must be finite and in {self.range_text}, got {value!r}")
        if self.kind == "int" and not v.is_integer():
            raise InputError(f"{label} must be an integer in {self.range_text}, got {value!r}")
        below = v <= self.low if self.low_open else v < self.low
        above = v >= self.high if self.high_open else v > self.high
        if below or above:
            kind = "an integer in " if self.kind == "int" else "in "
            raise InputError(f"{label} must be {kind}{self.range_text}, got {_num(v)}")
        return int(v) if self.kind == "int" else v


def _num(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


def _p(name: str, kind: str, default: Any, help: str, **kw: Any) -> tuple[str, Param]:
    return name, Param(name, kind, default, help, **kw)


#: Every parameter, by name. Ranges are the documented ones (docs/exact.md).
PARAMETERS: dict[str, Param] = dict([
    # the initialization
    _p("width", "int", 1000, "Width d. Any width up to 1e15: iid inits are sampled exactly as Gram statistics.",
       low=1, high=1e15, symbol="d"),
    _p("sigma_u", "float", 1.0, "Std of the output weights u_i.", low=0.0, symbol="σ_u"),
    _p("sigma_w", "float", 1.0, "Std of the hidden weights w_i.", low=0.0, symbol="σ_w"),
    _p("rho", "float", 0.0, "Correlation of (u_i, w_i).", low=-1.0, high=1.0, symbol="ρ"),
    _p("seed", "int", 0, "Random seed.", low=0, high=2**63 - 1),
    # the hyperparameters of the flow
    _p("eta_u", "float", 1.0, "Learning-rate multiplier of the output layer u.", low=0.0, symbol="η_u"),
    _p("eta_w", "float", 1.0, "Learning-rate multiplier of the hidden layer w.", low=0.0, symbol="η_w"),
    _p("eta_ratio", "float", 1.0, "η_u/η_w at fixed η_uη_w (a phase-diagram axis).", low=0.0, low_open=True,
       symbol="η_u/η_w"),
    _p("kappa", "float", 1.0, "Output scale κ.", low=0.0, symbol="κ"),
    _p("target", "float", 1.0, "Target slope k (y = k x).", symbol="k"),
    _p("data_var", "float", 1.0, "Data variance V = E[x²].", low=0.0, symbol="V"),
    # discrete-time training
    _p("lr", "float", None, "Step size (default 0.5/K0, a quarter of the edge of stability 2/K0).", low=0.0,
       low_open=True, optional=True, symbol="lr"),
    _p("steps", "int", 1000, "Number of training steps.", low=1, high=10**9),
    _p("momentum", "float", 0.0, "Heavy-ball momentum μ.", low=0.0, high=1.0, high_open=True,
       symbol="μ"),
    _p("weight_decay", "float", 0.0, "L2 weight decay (added to the gradient).", low=0.0),
    _p("batch_size", "int", None, "Minibatch size for SGD (default: full-batch GD).", low=1, high=10**12,
       optional=True),
    _p("noise", "float", 0.0, "Label-noise std of SGD batches (needs batch_size).", low=0.0),
    _p("every", "int", None, "Record every N steps (default steps/100).", low=1, high=10**9, optional=True),
    # evaluation times of the exact flow
    _p("t_max", "float", None, "Last time (default 10/D, ten convergence times).", low=0.0, optional=True),
    _p("points", "int", 101, "Number of evenly spaced times.", low=1, high=10**7),
    # classification thresholds
    _p("eps", "float", 0.1, "NTK change threshold ε: kernel when max_t |K(t)/K(0) − 1| ≤ ε.", low=0.0, low_open=True,
       symbol="ε"),
    _p("delta", "float", 0.1, "Alignment change threshold δ.", low=0.0, low_open=True, symbol="δ"),
    _p("factor", "float", 10.0, "Layer-balance change factor F.", low=1.0, symbol="F"),
    # networks (PyTorch extra)
    _p("dataset", "str", "digits", "Data set: digits (bundled), mnist1d (generated), mnist or cifar10 (files on disk).",
       choices=("digits", "mnist1d", "mnist", "cifar10")),
    _p("data_dir", "str", None, "Directory with the MNIST IDX or CIFAR-10 binary files.", optional=True),
    _p("arch", "str", "mlp", "Network architecture.", choices=("mlp", "cnn")),
    _p("scale", "float", 1.0, "Init scale (weights ~ N(0, scale²/fan-in)).", low=0.0, low_open=True),
    _p("lr_ratio", "float", 1.0, "Output-to-hidden learning-rate ratio η_out/η_hidden.", low=0.0, low_open=True),
    _p("loss", "str", "ce", "Loss: cross-entropy or mean squared error.", choices=("ce", "mse")),
    _p("max_train", "int", None, "Subsample the training set to this many examples.", low=1, high=10**9,
       optional=True),
    _p("quick", "bool", False, "Smaller network and fewer steps (a CI-sized run)."),
])

#: Which parameters belong together (the domain objects and commands are built from these).
GROUPS: dict[str, tuple[str, ...]] = {
    "init": ("width", "sigma_u", "sigma_w", "rho", "seed"),
    "hyper": ("eta_u", "eta_w", "kappa", "target", "data_var"),
    "optimizer": ("lr", "steps", "momentum", "weight_decay", "batch_size", "noise", "every"),
    "times": ("t_max", "points"),
    "thresholds": ("eps", "delta", "factor"),
    "network": ("dataset", "data_dir", "arch", "scale", "lr_ratio", "lr", "steps", "loss", "max_train", "quick",
                "seed"),
}


def defaults(names: Iterable[str]) -> dict[str, Any]:
    """The default value of each named parameter."""
    return {n: PARAMETERS[n].default for n in names}


def check_values(values: Mapping[str, Any], allowed: Iterable[str] | None = None, where: str = "") -> dict[str, Any]:
    """Validate a mapping of parameter values; unknown names are refused.

    Raises:
        InputError: an unknown name (with the allowed ones) or a bad value.
    """
    names = tuple(PARAMETERS) if allowed is None else tuple(allowed)
    out = {}
    for k, v in values.items():
        if k not in names:
            raise InputError(f"{where}unknown parameter {k!r}; allowed: {', '.join(names)}")
        out[k] = PARAMETERS[k].check(v, where)
    return out
