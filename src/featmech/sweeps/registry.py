"""The registry of computations a sweep can run.

A :class:`Computation` names one kind of point — an exact trajectory, a width-free simulation, a
network run — with the parameters it takes (names of :data:`featmech.params.PARAMETERS`), the
defaults where they differ from that table, whether it is cheap (cheap points are grouped into
chunks), the function that turns one configuration into a :class:`~featmech.records.PointResult`,
and optionally a batch function that computes a whole chunk in one call (the exact computations
run a chunk through the vectorized engine). Functions are callables or lazy dotted paths
``"package.module:function"`` imported on first use, so registering a computation never imports
its dependencies (the network computation needs PyTorch, which only ``featmech.nets`` imports).

Adding a computation is one registration::

    register(Computation("my_point", params=("width", "kappa"), function="mypkg.points:my_point"))

after which a spec may say ``computation = "my_point"`` and set ``width`` and ``kappa``.

>>> get("simulate").cheap, get("network").cheap
(True, False)
>>> get("network").default_config()["steps"]
300
>>> get("trajectory").config({"kappa": 2}, seed=0)["kappa"]
2.0
>>> get("simulate").chunk_size(1000, workers=1), get("simulate").chunk_size(10_000, workers=2)
(500, 1000)
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

from featmech.errors import InputError
from featmech.params import GROUPS, PARAMETERS
from featmech.records import PointResult

__all__ = ["Computation", "COMPUTATIONS", "register", "get", "PointFunction", "BatchFunction", "MAX_CHUNK",
           "MIN_BATCH", "MAX_BATCH"]

#: What a computation's function looks like: a full configuration in, a result out.
PointFunction = Callable[[Mapping[str, Any]], PointResult]
#: What a batch function looks like: configurations in, one result or exception per configuration out.
BatchFunction = Callable[[Sequence[Mapping[str, Any]]], Sequence[Any]]

#: the largest automatic chunk of cheap points computed one by one
MAX_CHUNK = 256
#: the smallest automatic chunk of a batched computation (unless the sweep is smaller): a batched
#: call costs a fixed overhead per step plus a little per configuration, so bigger is faster
MIN_BATCH = 512
#: the largest automatic chunk of a batched computation
MAX_BATCH = 1024


@lru_cache(maxsize=None)
def _resolve(path: str) -> Any:
    module, _, name = path.partition(":")
    fn = getattr(importlib.import_module(module), name)
    if not callable(fn):  # pragma: no cover - a programming error in a registration
        raise TypeError(f"{path!r} is not callable")
    return fn


@dataclass(frozen=True, eq=False)
class Computation:
    """One kind of sweep point: its parameters, its defaults and the function computing it.

    The configuration a computation receives holds every name of ``params`` (defaults filled in)
    and ``seed``. Instances are picklable (the function is pickled by reference or as its dotted
    path), so pools and Dask workers receive the computation itself, not a name to look up.

    Attributes:
        name: the spec's ``computation = "..."``.
        params: the parameter names it takes, each a key of :data:`featmech.params.PARAMETERS`
            (``seed`` is always added and need not be listed).
        function: ``config -> PointResult``, or its dotted path ``"package.module:function"``,
            imported lazily on the first :meth:`run`.
        cheap: points take milliseconds, so a sweep groups them into chunks; expensive points
            (networks) run one per task.
        defaults: parameter -> default, where it differs from the table's default.
        help: one line describing the computation.
        batch: optionally, ``configs -> [PointResult or exception, ...]`` (or its dotted path):
            a chunk in one call, each entry exactly what ``function`` returns or raises for that
            configuration (see :meth:`run_many`). Chunks of a batched computation are larger
            (:meth:`chunk_size`).
        spec: whether a TOML spec may name it. ``False`` for a computation whose points need
            more than parameters of the table (``diagnose``: a model and data, given by
            :func:`featmech.sweeps.widths.diagnose_widths`); a spec naming it is refused with
            ``spec_hint`` (what to use instead).
        spec_hint: the sentence a refused spec is told.

    Raises:
        ValueError: a parameter that is not in the table, or a default outside its range (a
            mistake in the registration, not in a spec).
    """

    name: str
    params: tuple[str, ...]
    function: PointFunction | str
    cheap: bool = True
    defaults: Mapping[str, Any] = field(default_factory=dict)
    help: str = ""
    batch: BatchFunction | str | None = None
    spec: bool = True
    spec_hint: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a computation needs a non-empty name, got {self.name!r}")
        params = tuple(p for p in self.params if p != "seed")
        unknown = [p for p in params if p not in PARAMETERS]
        if unknown:
            raise ValueError(f"computation {self.name!r}: unknown parameter(s) {', '.join(unknown)} "
                             "(add them to featmech.params.PARAMETERS first)")
        bad = [k for k in self.defaults if k not in params]
        if bad:
            raise ValueError(f"computation {self.name!r}: defaults for parameters it does not take: {', '.join(bad)}")
        for fn in (self.function, self.batch):
            if isinstance(fn, str) and ":" not in fn:
                raise ValueError(f"computation {self.name!r}: a dotted path must read 'package.module:function', "
                                 f"got {fn!r}")
        try:
            defaults = {k: PARAMETERS[k].check(v) for k, v in self.defaults.items()}
        except InputError as exc:
            raise ValueError(f"computation {self.name!r}: bad default: {exc}") from None
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "defaults", defaults)

    def default_config(self) -> dict[str, Any]:
        """Every parameter with its default, in the order of ``params`` (seed not included).

        Returns:
            A new dict ``name -> default``.
        """
        return {p: self.defaults[p] if p in self.defaults else PARAMETERS[p].default for p in self.params}

    def check(self, name: str, value: Any, where: str = "") -> Any:
        """Validate one value of one parameter, as the command line does.

        Arguments:
            name: the parameter.
            value: its value (integer-valued floats are accepted for integers).
            where: a prefix for error messages, e.g. ``"spec [fixed] "``.

        Returns:
            The value in its canonical type (``int``, ``float``, ``str``, ``bool`` or ``None``).

        Raises:
            InputError: the computation does not take ``name`` (the message lists the allowed
                names), or the value has the wrong type or lies outside the allowed range.
        """
        self.check_name(name, where)
        return PARAMETERS[name].check(value, where)

    def check_name(self, name: str, where: str = "") -> None:
        """Refuse a parameter the computation does not take.

        Raises:
            InputError: ``name`` is neither in ``params`` nor ``seed`` (the message lists the
                allowed names).
        """
        if name != "seed" and name not in self.params:
            raise InputError(f"{where}unknown key {name!r} for computation {self.name!r}; "
                             f"allowed: {', '.join(self.params)}")

    def config(self, values: Mapping[str, Any], *, seed: int | None = None, where: str = "") -> dict[str, Any]:
        """A full, validated configuration: defaults, then ``values``, then ``seed``.

        Arguments:
            values: parameter -> value (a subset of ``params``; may include ``seed``).
            seed: the seed, if not in ``values`` (default 0).
            where: a prefix for error messages.

        Returns:
            ``params`` in order, then ``seed``: the configuration :meth:`run` takes.

        Raises:
            InputError: an unknown name or a bad value.
        """
        checked = {k: self.check(k, v, where) for k, v in values.items()}
        s = checked.pop("seed", 0) if seed is None else seed
        return {**self.default_config(), **checked, "seed": PARAMETERS["seed"].check(s, where)}

    def resolve(self) -> PointFunction:
        """The function, importing it if it was given as a dotted path.

        Raises:
            ImportError: the module cannot be imported (e.g. PyTorch is missing for networks).
        """
        return _resolve(self.function) if isinstance(self.function, str) else self.function  # type: ignore[no-any-return]

    def resolve_batch(self) -> BatchFunction | None:
        """The batch function (``None`` if there is none), imported if given as a dotted path.

        Raises:
            ImportError: the module cannot be imported.
        """
        return _resolve(self.batch) if isinstance(self.batch, str) else self.batch  # type: ignore[no-any-return]

    def run(self, config: Mapping[str, Any]) -> PointResult:
        """Compute one point.

        Arguments:
            config: a full configuration (see :meth:`config`; not validated again here).

        Returns:
            The point's scalars and arrays.

        Raises:
            InputError: the configuration is invalid for the computation (a failed point).
            TypeError: the function did not return a :class:`~featmech.records.PointResult`.
        """
        out = self.resolve()(config)
        if not isinstance(out, PointResult):
            raise TypeError(f"computation {self.name!r} returned {type(out).__name__}, not a PointResult")
        return out

    def run_many(self, configs: Sequence[Mapping[str, Any]]) -> list[PointResult | Exception]:
        """Compute many points, each failing alone: with the batch function in one call, else one by one.

        If the batch function raises, or returns the wrong number of entries, every point is
        computed alone with :meth:`run`, so a fault of the batch never fails a point that
        succeeds alone.

        Arguments:
            configs: full configurations.

        Returns:
            One entry per configuration, in order: its :class:`~featmech.records.PointResult`, or
            the exception computing it raised (a ``TypeError`` for a result of the wrong type).
        """
        batch = self.resolve_batch()
        if batch is not None:
            try:
                outs = list(batch(configs))
            except Exception:  # the batch as a whole failed: each point alone
                outs = None
            if outs is not None and len(outs) == len(configs):
                return [o if isinstance(o, (PointResult, Exception)) else
                        TypeError(f"computation {self.name!r} returned {type(o).__name__}, not a PointResult")
                        for o in outs]
        out: list[PointResult | Exception] = []
        for cfg in configs:
            try:
                out.append(self.run(cfg))
            except Exception as exc:  # a failed point is data
                out.append(exc)
        return out

    def chunk_size(self, points: int, workers: int = 1) -> int:
        """How many points one task computes when the sweep does not say.

        Expensive computations: one point per task. Cheap ones computed point by point: about
        four tasks per worker, at most :data:`MAX_CHUNK` points (task overhead stays small while
        the load balances). Batched ones: throughput first — a batched call costs a fixed
        overhead per step plus little per point, so chunks hold at least :data:`MIN_BATCH` points
        (or one worker's share of the sweep, if smaller), about four tasks per worker above that,
        at most :data:`MAX_BATCH`; the chunks of a sweep are made about equal.

        Arguments:
            points: the points left to compute.
            workers: the workers computing them (1 in-process).

        Returns:
            The chunk size, ``>= 1``.
        """
        n, w = max(1, int(points)), max(1, int(workers))
        if not self.cheap:
            return 1
        quarter = math.ceil(n / (4 * w))
        if self.batch is None:
            return max(1, min(MAX_CHUNK, quarter))
        size = min(MAX_BATCH, max(min(math.ceil(n / w), MIN_BATCH), quarter))
        return math.ceil(n / math.ceil(n / size))  # equal chunks

    def __repr__(self) -> str:
        fn = self.function if isinstance(self.function, str) else getattr(self.function, "__qualname__", "?")
        extra = "" if self.batch is None else (
            f", batch={self.batch if isinstance(self.batch, str) else getattr(self.batch, '__qualname__', '?')!r}")
        return f"Computation({self.name!r}, params={self.params!r}, function={fn!r}, cheap={self.cheap}{extra})"


#: name -> :class:`Computation`: every computation a spec may name.
COMPUTATIONS: dict[str, Computation] = {}


def register(computation: Computation, *, replace: bool = False) -> Computation:
    """Make a computation available to sweep specs under its name.

    Arguments:
        computation: the computation.
        replace: allow replacing one registered under the same name.

    Returns:
        ``computation`` (so a registration can be assigned).

    Raises:
        ValueError: the name is taken and ``replace`` is false.
    """
    if computation.name in COMPUTATIONS and not replace:
        raise ValueError(f"a computation named {computation.name!r} is already registered")
    COMPUTATIONS[computation.name] = computation
    return computation


def get(name: Any) -> Computation:
    """The computation registered under ``name``.

    Raises:
        InputError: no computation has that name (the message lists them).
    """
    try:
        return COMPUTATIONS[name]
    except (KeyError, TypeError):
        raise InputError(f"computation must be one of {', '.join(COMPUTATIONS)}, got {name!r}") from None


def _without_seed(group: str) -> tuple[str, ...]:
    return tuple(p for p in GROUPS[group] if p != "seed")


register(Computation(
    "trajectory", _without_seed("init") + GROUPS["hyper"] + GROUPS["times"],
    "featmech.sweeps.computations:trajectory_point", batch="featmech.sweeps.computations:trajectory_points",
    help="The exact gradient flow from sampled Gram statistics, classified (featmech.theory.exact)."))
register(Computation(
    "simulate", _without_seed("init") + GROUPS["hyper"] + GROUPS["optimizer"],
    "featmech.sweeps.computations:simulate_point", batch="featmech.sweeps.computations:simulate_points",
    help="Width-free discrete-time GD/SGD from sampled Gram statistics, classified (featmech.theory.simulate)."))
register(Computation(
    "network", _without_seed("network"), "featmech.nets.experiments:network_point", cheap=False,
    defaults={"lr": 0.05, "steps": 300, "quick": True},
    help="A PyTorch network on a data set with a MechanismMonitor (featmech.nets; needs the torch extra)."))
register(Computation(
    "diagnose", ("width",), "featmech.nets.diagnose_point:diagnose_point", cheap=False,
    help="featmech.nets.diagnose.diagnose of one model at one width (featmech.nets; needs the torch extra). Its "
         "model, data and keywords are not spec parameters: run it through featmech.sweeps.widths.diagnose_widths.",
    spec=False,
    spec_hint="its points need a model factory and data, which a TOML spec cannot hold: call "
              "featmech.diagnose.diagnose_widths(make_model, widths, X, Y, store=...) from Python instead "
              "(docs/widths.md)"))
