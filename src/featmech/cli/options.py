"""Command-line options generated from the parameter table, and the small parsers the commands share.

Every option that sets a parameter of :data:`featmech.params.PARAMETERS` is built by
:func:`option` from its table entry: the flag (``--eta-u``), the type, the default, the help line
and the allowed range all come from there, so the vocabulary is stated once. Values are parsed
and validated by :class:`ParamValue` while click reads the command line, so a bad value is a
click usage error (exit status 2, one line) naming the option and the allowed range.

>>> ParamValue(PARAMETERS["width"]).convert("1e12", None, None)
1000000000000
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import click
import numpy as np

from featmech.errors import InputError
from featmech.params import GROUPS, PARAMETERS, Param
from featmech.tables import FORMATS

__all__ = ["ParamValue", "Seconds", "NonEmptyPath", "option", "compose", "pick", "format_option", "init_options",
           "hyper_options", "threshold_options", "time_options", "optimizer_options", "network_options",
           "out_option", "force_option", "check_cost", "duration", "parse_times", "parse_floats",
           "parse_assignments", "F", "LONG_RUN", "BIG_MEMORY"]

#: seconds of estimated work above which a command asks for ``--force``
LONG_RUN = 600.0
#: bytes of estimated memory above which a command asks for ``--force``
BIG_MEMORY = 2e9

#: The type of a click decorator.
F = Callable[[Callable[..., Any]], Callable[..., Any]]


class ParamValue(click.ParamType):
    """A click type reading one parameter of the table and validating it with :meth:`Param.check`.

    Numbers are read with Python's ``float`` (so ``1e12`` is a width: integer-valued floats are
    integers); the value is returned in its canonical type.

    Arguments:
        param: the table entry.

    Raises:
        click.BadParameter: (from :meth:`convert`) the text is not a number of the right kind or
            lies outside the allowed range; the message names the range.
    """

    def __init__(self, param: Param) -> None:
        self.param = param
        self.name = {"int": "integer", "float": "float"}.get(param.kind, param.kind)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse and validate one value (``None`` passes through: the option was not given)."""
        if value is None:
            return None
        p = self.param
        if isinstance(value, str) and p.kind in ("int", "float"):
            text = value.strip()
            try:
                value = int(text) if p.kind == "int" and text.lstrip("+-").isdigit() else float(text)
            except ValueError:
                kind = "an integer" if p.kind == "int" else "a real number"
                self.fail(f"{p.name} must be {kind} in {p.range_text}, got {text!r}", param, ctx)
        try:
            return p.check(value)
        except InputError as exc:
            self.fail(str(exc), param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str | None:  # type: ignore[override]
        """``INTEGER`` or ``FLOAT`` in ``--help``."""
        return self.name.upper()


class Seconds(click.ParamType):
    """A timeout in seconds: a real number in (0, a week] — not NaN, not inf, not negative.

    >>> Seconds().convert("2.5", None, None)
    2.5
    """

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse and check one timeout."""
        if value is None or isinstance(value, float):
            return value
        from featmech.sweeps.executors import check_timeout

        try:
            return check_timeout("the timeout", float(str(value).strip()))
        except (ValueError, InputError) as exc:
            msg = str(exc) if isinstance(exc, InputError) else f"must be a number of seconds, got {value!r}"
            self.fail(msg, param, ctx)


class NonEmptyPath(click.ParamType):
    """A file or directory name that is not empty (``--out ''`` is a mistake, not the current directory)."""

    name = "path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Refuse an empty (or blank) path."""
        if value is not None and not str(value).strip():
            self.fail("the path is empty", param, ctx)
        return value


def duration(seconds: float) -> str:
    """Seconds in words for people: ``"40 s"``, ``"12 min"``, ``"4.6 h"``, ``"3.2 days"``.

    >>> duration(40), duration(720), duration(16560), duration(3e5)
    ('40 s', '12 min', '4.6 h', '3.5 days')
    """
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.2g} h"
    return f"{seconds / 86400:.2g} days"


def check_cost(force: bool, what: str, *, seconds: float = 0.0, memory: float = 0.0, detail: str = "",
               limit: float = LONG_RUN) -> None:
    """The size guard of a command: refuse work estimated over ``limit`` seconds (default
    :data:`LONG_RUN`) or :data:`BIG_MEMORY` bytes unless ``--force``; the error says the estimate.

    Arguments:
        force: the command's ``--force``.
        what: the option and value that make it big (``"--steps 1000000000"``).
        seconds, memory: the estimated time and memory.
        detail: how the estimate was made (``" at about 1.5e-05 s per step"``).
        limit: the seconds allowed without ``--force``.

    Raises:
        click.UsageError: over a limit without ``force`` (exit status 2, one line).
    """
    parts = []
    if seconds > limit:
        parts.append(f"about {duration(seconds)}")
    if memory > BIG_MEMORY:
        parts.append(f"about {memory / 1e9:.2g} GB of memory")
    if parts and not force:
        raise click.UsageError(f"{what} would take {' and '.join(parts)}{detail}; pass --force to run it anyway")


def force_option(help: str = "Run even when the estimated time or memory is large (the size guard).") -> F:
    """``--force``: lift the size guard of :func:`check_cost`."""
    return click.option("--force", is_flag=True, help=help)


def _help(p: Param, text: str | None, implied_default: bool) -> str:
    out = text if text is not None else p.help
    if p.kind in ("int", "float") and (math.isfinite(p.low) or math.isfinite(p.high)):
        out += f" Range {p.range_text}."
    if implied_default and p.default is not None:
        out += f"  [default: {p.default}]"
    return out


def option(name: str, *decls: str, help: str | None = None, default: Any = ..., implied_default: bool = False,
           **kwargs: Any) -> F:
    """A click option for the parameter ``name`` of :data:`~featmech.params.PARAMETERS`.

    Arguments:
        name: the parameter (``"eta_u"`` gives ``--eta-u``).
        decls: more flags (``"-d"``).
        help: replaces the table's help line (the range is appended either way).
        default: replaces the table's default (``None``: "not given", resolved later).
        implied_default: show the table's default in the help although click's default is ``None``
            (for options whose absence matters, such as the random init next to ``--init``).
        kwargs: passed to :func:`click.option`.

    Returns:
        The decorator.
    """
    p = PARAMETERS[name]
    dflt = p.default if default is ... else default
    kw: dict[str, Any] = {"help": _help(p, help, implied_default), "default": dflt}
    if p.kind == "bool":
        kw.update(is_flag=True, default=bool(dflt))
    elif p.kind == "str" and p.choices:
        kw.update(type=click.Choice(list(p.choices)), show_default=dflt is not None)
    elif p.kind == "str":
        kw.update(type=str, show_default=dflt is not None)
    else:
        kw.update(type=ParamValue(p), show_default=dflt is not None)
    kw.update(kwargs)
    return click.option(p.flag, *decls, name, **kw)


def compose(*decorators: F) -> F:
    """Apply click decorators so that ``--help`` lists them in the order given."""

    def apply(f: Callable[..., Any]) -> Callable[..., Any]:
        for d in reversed(decorators):
            f = d(f)
        return f

    return apply


def pick(values: Mapping[str, Any], group: str) -> dict[str, Any]:
    """The entries of ``values`` that belong to a parameter group of :data:`~featmech.params.GROUPS`."""
    return {k: values[k] for k in GROUPS[group] if k in values}


def format_option(choices: Sequence[str] = FORMATS) -> F:
    """``--format``: the output format (table for people, JSON or CSV for programs)."""
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default="table", show_default=True,
                        help="Output: an aligned table for people, or JSON / CSV for programs.")


def out_option(help: str) -> F:
    """``--out DIR``: where files are written."""
    return click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help=help,
                        callback=_not_empty)


def _not_empty(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and not str(value).strip():
        raise click.BadParameter("the path is empty", ctx=ctx, param=param)
    return value


def init_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The random init (``--width -d --sigma-u --sigma-w --rho --seed``) or ``--init FILE.npz``."""
    return compose(
        *(option(n, *(("-d",) if n == "width" else ()), default=None, implied_default=True) for n in GROUPS["init"]),
        click.option("--init", "init", type=str, default=None, metavar="FILE.npz",
                     help="Read u0, w0 from an .npz file instead (numpy.savez with arrays u0 and w0)."),
    )(f)


def hyper_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The hyperparameters of the flow: ``--eta-u --eta-w --kappa --target --data-var``."""
    return compose(*(option(n) for n in GROUPS["hyper"]))(f)


def threshold_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The classification thresholds ``--eps --delta --factor``."""
    return compose(*(option(n) for n in GROUPS["thresholds"]))(f)


def time_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Evaluation times of the exact flow: ``--times`` or ``--t-max --points``."""
    return compose(
        click.option("--times", type=str, default=None, help="Comma-separated times, increasing (e.g. 0,1,10)."),
        *(option(n) for n in GROUPS["times"]),
    )(f)


def optimizer_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Discrete-time training: ``--lr --steps --momentum --weight-decay --batch-size --noise --every``."""
    return compose(*(option(n) for n in GROUPS["optimizer"]))(f)


def network_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options of the network experiments (data set, architecture, seeds, steps, loss, outputs)."""
    return compose(
        option("dataset"),
        option("data_dir"),
        option("arch"),
        click.option("--seeds", "n_seeds", type=click.IntRange(min=1), default=3, show_default=True,
                     help="Number of seeds (0, 1, …) per value."),
        option("steps", default=None, help="SGD steps (default 1500, --quick 150)."),
        option("loss"),
        option("max_train"),
        option("quick"),
        out_option("Write JSON, CSV and figures here."),
        format_option(("table", "json")),
        threshold_options,
        click.option("--quiet", is_flag=True, help="No progress lines on stderr."),
        force_option("Run even when the estimated time is over an hour (the size guard: runs × --steps)."),
    )(f)


# ---------------------------------------------------------------------- parsers
def parse_times(times: str | None, t_max: float | None, *, allow_inf: bool = True) -> np.ndarray | None:
    """The evaluation times given as ``--times`` (``None`` when not given: the library's default
    times, :func:`featmech.analysis.runs.flow_times` of ``--t-max`` and ``--points``).

    Arguments:
        times: comma-separated, increasing, ``>= 0`` (``inf`` allowed: the fixed point), or ``None``.
        t_max: the value of ``--t-max`` (not with ``times``).
        allow_inf: accept ``inf`` (the fixed point); ``False`` where the times must be finite.

    Returns:
        The times, a float64 array, or ``None``.

    Raises:
        click.UsageError: both ``times`` and ``t_max``, or malformed / unsorted / negative times.
    """
    if times is None:
        return None
    if t_max is not None:
        raise click.UsageError("give either --times or --t-max, not both")
    try:
        arr = np.array([float(x) for x in times.split(",") if x.strip() != ""])
    except ValueError as exc:
        raise click.BadParameter(f"must be comma-separated numbers, got {times!r}", param_hint="--times") from exc
    if arr.size == 0:
        raise click.BadParameter("needs at least one time", param_hint="--times")
    if not allow_inf and (not np.all(np.isfinite(arr)) or np.any(arr < 0)):
        raise click.BadParameter(f"times must be finite and >= 0, got {times!r}", param_hint="--times")
    if np.any(np.isnan(arr)) or np.any(arr < 0):
        raise click.BadParameter("times must be >= 0 (inf allowed: the fixed point)", param_hint="--times")
    if np.any(np.diff(arr) < 0):
        raise click.BadParameter("times must be sorted in increasing order", param_hint="--times")
    return arr


def parse_floats(text: str, hint: str) -> list[float]:
    """Comma-separated positive finite numbers (``--scales 0.1,1,10``).

    Raises:
        click.BadParameter: not numbers, none, or not positive and finite.
    """
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"must be comma-separated numbers, got {text!r}", param_hint=hint) from exc
    if not vals or any(not (math.isfinite(v) and v > 0) for v in vals):
        raise click.BadParameter("needs positive finite numbers", param_hint=hint)
    return vals


def parse_assignments(items: Sequence[str], hint: str = "--set") -> dict[str, float]:
    """``NAME=VALUE`` pairs with numeric values (``--set width=1e4``).

    Raises:
        click.BadParameter: no ``=`` or a value that is not a number.
    """
    out: dict[str, float] = {}
    for it in items:
        if "=" not in it:
            raise click.BadParameter(f"expected name=value, got {it!r}", param_hint=hint)
        k, v = it.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError as exc:
            raise click.BadParameter(f"{k.strip()}: value must be a number, got {v!r}", param_hint=hint) from exc
    return out
