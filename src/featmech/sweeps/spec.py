"""Sweep specifications: a TOML file → a validated :class:`Spec` → its points.

Spec (keys are the parameter names of :data:`featmech.params.PARAMETERS`, the CLI options with
``_``)::

    computation = "simulate"            # a name in featmech.sweeps.registry.COMPUTATIONS
    seeds = [0, 1, 2, 3]
    [fixed]
    width = 20000
    lr = 0.01
    [axes]
    kappa = {start = 1e-4, stop = 1.0, num = 25, scale = "log"}
    sigma_u = [0.01, 0.1, 1.0]

Every value — fixed or on an axis — is checked like the command-line option of the same name
(:meth:`featmech.params.Param.check`), so a negative width, ``lr = 0`` or an unknown data set is
refused before anything runs, naming the key. Seeds and axis values must be distinct.

>>> spec = parse_spec({"computation": "trajectory", "seeds": [0, 1], "axes": {"kappa": [0.5, 1]}})
>>> spec.n_points, spec.axes
(4, {'kappa': (0.5, 1.0)})
>>> [(p.config["kappa"], p.config["seed"]) for p in points(spec)]
[(0.5, 0), (0.5, 1), (1.0, 0), (1.0, 1)]
>>> parse_spec({"computation": "simulate", "fixed": {"width": -3}})
Traceback (most recent call last):
...
featmech.errors.InputError: spec [fixed]: width must be an integer in [1, 1e+15], got -3
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from featmech.errors import InputError
from featmech.params import PARAMETERS
from featmech.sweeps.registry import Computation, get
from featmech.sweeps.store import point_key

__all__ = ["Spec", "Point", "parse_spec", "load_spec", "points", "check_size", "TOP_KEYS", "MAX_POINTS"]

#: the keys a spec may have at its top level
TOP_KEYS = ("computation", "seeds", "fixed", "axes")
#: the most points (grid points × seeds) a spec may have without ``force``: each point is planned
#: in memory (about 1 kB) before anything runs
MAX_POINTS = 10**6
_RANGE_KEYS = {"start", "stop", "num", "scale"}


@dataclass(frozen=True)
class Spec:
    """A validated sweep specification.

    Attributes:
        computation: the name of a registered :class:`~featmech.sweeps.registry.Computation`.
        seeds: the seeds, distinct, each run at every grid point.
        fixed: parameter -> value, the same at every point (canonical types).
        axes: parameter -> its values (canonical types, distinct); the grid is their product.
        source: the file the spec was read from (empty if given as a mapping).
    """

    computation: str
    seeds: tuple[int, ...]
    fixed: dict[str, Any]
    axes: dict[str, tuple[Any, ...]]
    source: str = field(default="", compare=False)

    @property
    def n_points(self) -> int:
        """Number of (grid point, seed) pairs."""
        return math.prod(len(v) for v in self.axes.values()) * len(self.seeds)

    @property
    def runner(self) -> Computation:
        """The registered computation."""
        return get(self.computation)

    def points(self) -> list["Point"]:
        """Every point and seed, in a deterministic order (see :func:`points`)."""
        return points(self)

    def as_dict(self) -> dict[str, Any]:
        """The spec as the mapping :func:`parse_spec` takes (axes as explicit lists)."""
        return {"computation": self.computation, "seeds": list(self.seeds), "fixed": dict(self.fixed),
                "axes": {k: list(v) for k, v in self.axes.items()}}


class Point(NamedTuple):
    """One point of a sweep: its content key and its full configuration (seed included)."""

    key: str
    config: dict[str, Any]


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise InputError(f"spec: [{name}] must be a table, got {value!r}")
    return value


def _seeds(seeds: Any) -> tuple[int, ...]:
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise InputError(f"spec: seeds must be a non-empty list of distinct integers >= 0, got {seeds!r}")
    out = tuple(PARAMETERS["seed"].check(s, f"spec seeds[{i}]: ") for i, s in enumerate(seeds))
    _distinct("spec: seeds", out)
    return out


def _distinct(where: str, values: tuple[Any, ...]) -> None:
    seen: set[Any] = set()
    for v in values:
        if v in seen:
            raise InputError(f"{where} must be distinct; {v!r} is repeated in {list(values)!r}")
        seen.add(v)


def _range(name: str, ax: Mapping[str, Any], kind: str) -> list[Any]:
    where = f"spec [axes] {name}"
    if set(ax) - _RANGE_KEYS or not {"start", "stop", "num"} <= set(ax):
        raise InputError(f"{where}: a range needs start, stop, num (and scale = 'log'|'linear')")
    start, stop, num, scale = ax["start"], ax["stop"], ax["num"], ax.get("scale", "linear")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in (start, stop)):
        raise InputError(f"{where}: start and stop must be finite numbers, got {start!r}, {stop!r}")
    if kind not in ("int", "float"):
        raise InputError(f"{where}: {name} is a {kind} parameter; give a list of values, not a range")
    if not isinstance(num, int) or isinstance(num, bool) or num < 1:
        raise InputError(f"{where}: num must be an integer >= 1, got {num!r}")
    if scale not in ("log", "linear"):
        raise InputError(f"{where}: scale must be 'log' or 'linear', got {scale!r}")
    if stop < start or (stop == start and num > 1):
        raise InputError(f"{where}: empty or inverted range {start}..{stop}")
    if scale == "log" and start <= 0:
        raise InputError(f"{where}: a log range needs start > 0")
    vals = (np.logspace(math.log10(start), math.log10(stop), num) if scale == "log"
            else np.linspace(start, stop, num)).tolist()
    if kind == "int":  # an integer range is rounded; neighbours that round alike become one value
        vals = sorted({int(round(v)) for v in vals})
    return vals


def check_size(n_points: int, force: bool = False) -> None:
    """Refuse a sweep of more than :data:`MAX_POINTS` points unless ``force``.

    >>> check_size(10**7)
    Traceback (most recent call last):
    ...
    featmech.errors.InputError: the sweep has 10,000,000 points (grid points × seeds), over 1,000,000 (about 10 GB to plan); pass force=True (--force) to run it

    Raises:
        InputError: too many points.
    """
    if n_points > MAX_POINTS and not force:
        raise InputError(f"the sweep has {n_points:,} points (grid points × seeds), over {MAX_POINTS:,} "
                         f"(about {n_points * 1e3 / 1e9:.3g} GB to plan); pass force=True (--force) to run it")


def _size(data: Mapping[str, Any], axes: Mapping[str, Any]) -> int:
    """The number of points a spec asks for, counted before any axis is built (an upper bound:
    an integer range may merge values)."""
    seeds = data.get("seeds", [0])
    n = len(seeds) if isinstance(seeds, (list, tuple)) else 1
    for ax in axes.values():
        if isinstance(ax, Mapping):
            num = ax.get("num", 1)
            n *= num if isinstance(num, int) and not isinstance(num, bool) and num > 0 else 1
        elif isinstance(ax, (list, tuple)):
            n *= max(len(ax), 1)
    return n


def parse_spec(data: Mapping[str, Any], source: str = "", *, force: bool = False) -> Spec:
    """Validate a spec given as a mapping (what ``tomllib`` returns).

    Arguments:
        data: ``computation``, ``seeds`` (default ``[0]``), ``[fixed]`` and ``[axes]`` tables. An
            axis is a list of values or a range ``{start, stop, num, scale = "linear"|"log"}``
            (an integer parameter's range is rounded and de-duplicated).
        source: where the spec came from (kept in :attr:`Spec.source`).
        force: allow more than :data:`MAX_POINTS` points (counted from the spec before any axis
            is built, so that a huge grid is refused at once rather than filling the memory).

    Returns:
        The validated :class:`Spec`, every value in its canonical type.

    Raises:
        InputError: an unknown key or computation, a computation that cannot run from a spec
            (``diagnose``), a value a CLI option would refuse (wrong
            type, out of range, a fractional integer), repeated seeds or axis values, a key both
            fixed and swept, an empty or inverted range, too many points without ``force``.
    """
    if not isinstance(data, Mapping):
        raise InputError(f"spec: expected a table of keys, got {type(data).__name__}")
    unknown = set(data) - set(TOP_KEYS)
    if unknown:
        raise InputError(f"spec: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(TOP_KEYS))}")
    comp = get(data.get("computation"))
    if not comp.spec:
        raise InputError(f"spec: computation {comp.name!r} cannot run from a spec: {comp.spec_hint}")
    seeds = _seeds(data.get("seeds", [0]))
    fixed_in, axes_in = _table(data, "fixed"), _table(data, "axes")
    if "seed" in fixed_in or "seed" in axes_in:
        raise InputError("spec: give seeds as the top-level list seeds = [...], not in [fixed] or [axes]")
    fixed = {k: comp.check(k, v, "spec [fixed]: ") for k, v in fixed_in.items()}
    check_size(_size(data, axes_in), force)
    axes: dict[str, tuple[Any, ...]] = {}
    for name, ax in axes_in.items():
        comp.check_name(name, "spec [axes]: ")
        if name in fixed:
            raise InputError(f"spec: {name} is both fixed and an axis")
        if isinstance(ax, Mapping):
            vals = _range(name, ax, PARAMETERS[name].kind)
        elif isinstance(ax, (list, tuple)):
            vals = list(ax)
        else:
            raise InputError(f"spec [axes] {name}: give a list of values or a {{start, stop, num, scale}} table")
        if not vals:
            raise InputError(f"spec [axes] {name}: the axis has no values")
        values = tuple(comp.check(name, v, f"spec [axes] {name}: ") for v in vals)
        _distinct(f"spec [axes] {name}: the values", values)
        axes[name] = values
    _check_together(comp, fixed, axes)
    return Spec(comp.name, seeds, fixed, axes, source)


def _check_together(comp: Computation, fixed: Mapping[str, Any], axes: Mapping[str, tuple[Any, ...]]) -> None:
    """The rules between parameters that no single value breaks, refused as the command line
    refuses them (rather than every point failing later): label noise needs minibatches."""
    if "noise" in comp.params and "batch_size" in comp.params:
        defaults = comp.default_config()

        def values(name: str) -> tuple[Any, ...]:
            return axes.get(name, (fixed.get(name, defaults.get(name)),))

        if any(n for n in values("noise")) and None in values("batch_size"):
            raise InputError("spec: noise > 0 needs batch_size (label noise only enters through minibatches); "
                             "set batch_size in [fixed] or on an axis")


def load_spec(path: str | os.PathLike[str], *, force: bool = False) -> Spec:
    """Read and validate a TOML spec file (``tomllib``: nothing in it is executed or unpickled).

    Arguments:
        path: the ``.toml`` file.
        force: allow more than :data:`MAX_POINTS` points (:func:`parse_spec`).

    Returns:
        The validated :class:`Spec` (its ``source`` is ``path``).

    Raises:
        InputError: the file does not exist, is not UTF-8 TOML, or is not a valid spec
            (:func:`parse_spec`).
    """
    import tomllib

    if str(path) == "":
        raise InputError("spec file path is empty; give a .toml file")
    p = Path(path)
    if not p.is_file():
        raise InputError(f"spec file {str(p)!r} does not exist" if not p.exists()
                         else f"spec file {str(p)!r} is not a file")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"spec file {str(p)!r} is not valid TOML: {exc}") from exc
    return parse_spec(data, str(p), force=force)


def points(spec: Spec) -> list[Point]:
    """Every (grid point, seed) with its content key, in a deterministic order.

    The configuration holds every parameter of the computation (defaults, then ``fixed``, then
    the axis values) and then ``seed``; the key is :func:`~featmech.sweeps.store.point_key` of it.
    The last axis varies fastest, then the seed.

    Returns:
        One :class:`Point` per (grid point, seed): ``spec.n_points`` of them.
    """
    comp = get(spec.computation)
    base = {**comp.default_config(), **spec.fixed}
    names = list(spec.axes)
    out = []
    for combo in itertools.product(*(spec.axes[n] for n in names)):
        for seed in spec.seeds:
            cfg = {**base, **dict(zip(names, combo)), "seed": seed}
            out.append(Point(point_key(spec.computation, cfg), cfg))
    return out
