"""The ``diagnose`` sweep computation: one :func:`featmech.nets.diagnose.diagnose` run at one width.

:func:`diagnose_point` is registered in :mod:`featmech.sweeps.registry` by its dotted path
(``featmech.nets.diagnose_point:diagnose_point``), so the sweeps layer never imports PyTorch; it
is what :func:`featmech.sweeps.widths.diagnose_widths` runs once per (width, seed).

The configuration of a point (everything in it is JSON, and its SHA-256 is the point's key in the
store):

- ``make_model``: ``"package.module:function"``, a function ``width -> nn.Module`` or
  ``width -> (nn.Module, multipliers)`` (per-layer learning-rate multipliers, in the order of
  :func:`featmech.nets.networks.weight_layers`, or a mapping by layer name). A callable that
  cannot be imported by a path is given to the point function directly (``make_model=``) and the
  configuration names it ``"callable:module.qualname#<hash of its source>"``
  (:func:`featmech.sweeps.widths.model_name`);
- ``width`` (≥ 1) and ``seed``: the model is built after ``torch.manual_seed(seed)`` by
  ``make_model(width, seed=seed)`` when ``make_model`` takes a keyword ``seed`` (models that seed
  their own init, such as :class:`~featmech.nets.networks.MLP`, need it to vary with the seed),
  else by ``make_model(width)``; ``diagnose`` gets the same seed (minibatch order, probe);
- ``data``: the SHA-256 of the data (:func:`featmech.sweeps.widths.data_hash`). The arrays themselves
  travel beside the configuration (``X=``, ``Y=``: bound to the function, pickled with the task),
  never inside it, so the store holds a 64-character digest per point rather than the data set;
- the keywords of ``diagnose`` (``loss``, ``lr``, ``steps``, ``batch_size``, ``optimizer``,
  ``multipliers``, ``linearize``, …), JSON values only.
"""

from __future__ import annotations

import enum
import importlib
import inspect
from typing import Any, Callable, Mapping

import numpy as np

try:
    import torch
except ImportError as exc:  # pragma: no cover - optional
    raise ImportError("featmech.nets.diagnose_point needs PyTorch: pip install 'featmech[torch]'") from exc

from featmech.errors import InputError
from featmech.records import PointResult

__all__ = ["diagnose_point", "RESERVED"]

#: configuration keys that are not keywords of ``diagnose``
RESERVED = ("make_model", "width", "seed", "data")


def _import(path: str) -> Callable[[int], Any]:
    """Import ``"package.module:function"`` (checked by :func:`featmech.sweeps.widths.model_name` before a
    sweep starts; a failure here is a point's error)."""
    module, _, name = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def _takes_seed(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` accepts a keyword ``seed`` (then ``make_model(width, seed=seed)`` is called)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    p = params.get("seed")
    return (p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)) or any(
        q.kind is q.VAR_KEYWORD for q in params.values())


def _plain(value: Any) -> Any:
    """A scalar result as a JSON value (enums as their value, numpy scalars as Python numbers)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    return value


def diagnose_point(config: Mapping[str, Any], *, X: Any = None, Y: Any = None,
                   make_model: Callable[[int], Any] | None = None) -> PointResult:
    """One ``diagnose`` point: build the model at ``config["width"]``, diagnose it on (X, Y).

    PyTorch runs on one thread during the run (sweeps parallelize over points; ``diagnose(threads=1)``
    restores the caller's setting afterwards, which matters for the serial executor).

    Arguments:
        config: ``make_model``, ``width``, ``seed``, ``data`` and the keywords of
            :func:`featmech.nets.diagnose.diagnose` (module docstring).
        X, Y: the data (``config["data"]`` is their hash, :func:`featmech.sweeps.widths.data_hash`).
        make_model: the callable, when ``config["make_model"]`` names one that cannot be imported.

    Returns:
        A :class:`~featmech.records.PointResult` whose scalars are ``Diagnosis.scalars()`` (labels
        as strings) plus ``diverged`` (status ``diverged`` or regime ``unstable``) and ``seconds``.

    Raises:
        InputError: no data, a ``make_model`` that is a non-importable callable not given, or that
            does not return a module (or a ``(module, multipliers)`` pair),
            multipliers given both by ``make_model`` and as a keyword, a bad ``diagnose`` keyword.
    """
    import time

    from featmech.nets.diagnose import diagnose

    if X is None or Y is None:
        raise InputError("the diagnose computation needs its data X, Y beside the configuration: run it through "
                         "featmech.sweeps.widths.diagnose_widths")
    spec = config["make_model"]
    if make_model is None:
        if isinstance(spec, str) and spec.startswith("callable:"):
            raise InputError(f"make_model {spec!r} is a callable that cannot be imported by a path: it runs only in "
                             "the process that defined it (the serial executor)")
        make_model = _import(spec)
    width, seed = int(config["width"]), int(config["seed"])
    kwargs = {k: v for k, v in config.items() if k not in RESERVED}
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    built = make_model(width, seed=seed) if _takes_seed(make_model) else make_model(width)
    if isinstance(built, tuple):
        if len(built) != 2:
            raise InputError(f"make_model({width}) returned a tuple of {len(built)}; expected (model, multipliers)")
        model, multipliers = built
        if multipliers is not None:
            if kwargs.get("multipliers") is not None:
                raise InputError("multipliers given both by make_model and as a keyword of diagnose_widths; give one")
            kwargs["multipliers"] = multipliers
    else:
        model = built
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"make_model({width}) must return a torch.nn.Module (or (module, multipliers)), "
                         f"got {type(model).__name__}")
    kwargs.setdefault("progress", False)
    kwargs.setdefault("threads", 1)  # one thread for the run, restored afterwards (serial runs share the caller's process)
    diag = diagnose(model, X, Y, seed=seed, **kwargs)
    scalars = {k: _plain(v) for k, v in diag.scalars().items()}
    scalars.setdefault("diverged", scalars.get("status") == "diverged" or scalars.get("regime") == "unstable")
    scalars["seconds"] = time.perf_counter() - t0
    return PointResult(scalars)
