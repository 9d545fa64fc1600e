r"""Does a parametrization learn features in the infinite-width limit? ``diagnose`` over widths.

:func:`diagnose_widths` runs :func:`featmech.nets.diagnose.diagnose` once per (width, seed) through
the sweep machinery — the ``diagnose`` computation of :mod:`featmech.sweeps.registry`, the
executors (serial, process pool, Dask) and the resumable SQLite store — and fits, for each
quantity q of :data:`QUANTITIES`, the exponent of the width d by least squares in log–log:

.. math:: \log q_{d,s} = a + b \log d + \varepsilon_{d,s}

pooled over widths d and seeds s (values that are not finite or not > 0 are left out). The
standard error is the ordinary-least-squares one, :math:`\mathrm{se}(b) = \sqrt{\hat\sigma^2/S_{xx}}`
with :math:`\hat\sigma^2 = \mathrm{RSS}/(n-2)`; the interval is :math:`b \pm t_{n-2,\,0.975}\,\mathrm{se}`
(none with n = 2 points). Each seed's own slope is kept too.

The verdict (:class:`WidthVerdict`) reads the fitted exponents with a :class:`WidthRule`
(defaults: ``falling = 0.25``, ``flat = 0.2``, ``rising = 0.25``), in this order:

1. **unstable** — a run diverged at the largest width (status ``diverged`` or regime
   ``unstable``), or the output at init grows with the width (slope > ``rising`` and, when the
   fit has at least 4 points, the lower end of its interval > 0);
2. **kernel in the limit** — the NTK change falls with the width (slope < −``falling`` and, when
   the fit has at least 4 points, the upper end of its interval < 0), the linearization gap too
   (slope < −``falling``; ignored when the gap was not measured), and most runs at the largest
   width are ``kernel``;
3. **feature learning persists** — the NTK change is flat (\|slope\| ≤ ``flat``) and every run at
   every width is ``feature``;
4. **undetermined** — anything else (the reason says which condition failed).

A fit of fewer than 4 points has under 2 residual degrees of freedom and an interval too wide to
use: there the slope alone decides.

The data X, Y never enter a point's configuration: the configuration holds their SHA-256 (so a
point's key changes with the data) and the arrays travel beside it, bound to the computation's
function and pickled with each task (to a pool worker or a Dask worker; nothing is written to
disk but the store). ``make_model`` is a dotted path ``"module:function"``, or a callable: one
importable by its own module and name is turned into its path; any other (a lambda, a closure, a
function of ``__main__``) runs in this process only (``executor="serial"``), keyed by its name and
a hash of its source.

:meth:`WidthsResult.plot` draws a quick-look figure (log–log quantities against width with the
fitted lines, the verdict in the title) beside the result, as ``Diagnosis.plot`` does; the report
layer draws the project's figures.

>>> fit_exponent([10, 100, 1000], [1.0, 0.1, 0.01]).slope
-1.0
>>> WidthVerdict.KERNEL.label
'kernel in the limit'
"""

from __future__ import annotations

import contextlib
import enum
import functools
import hashlib
import importlib
import inspect
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from featmech.errors import InputError
from featmech.sweeps.executors import EXECUTORS, check_scheduler, check_timeout
from featmech.sweeps.progress import Progress
from featmech.sweeps.registry import get
from featmech.sweeps.store import Store, point_key
from featmech.tables import Table

__all__ = ["diagnose_widths", "WidthsResult", "WidthVerdict", "WidthRule", "Exponent", "fit_exponent",
           "decide", "data_hash", "model_name", "QUANTITIES", "POINT_FUNCTION", "RESERVED"]

#: the quantities whose width exponents are fitted, in table order
QUANTITIES = ("ntk_change", "alignment_change", "linearization_gap", "output_at_init")
#: the function of the ``diagnose`` computation (imported by workers, never by this module)
POINT_FUNCTION = "featmech.nets.diagnose_point:diagnose_point"
#: configuration keys that are not keywords of ``diagnose``
RESERVED = ("make_model", "width", "seed", "data")
_EXECUTOR_ALIASES = {"process": "pool"}


class WidthVerdict(enum.StrEnum):
    """What happens to feature learning as the width grows (see the module docstring for the rule)."""

    KERNEL = "kernel"  #: the NTK change and the linearization gap vanish with the width
    FEATURE = "feature"  #: the NTK change stays O(1) and every width learns features
    UNSTABLE = "unstable"  #: runs diverge (or the output at init grows) as the width grows
    UNDETERMINED = "undetermined"  #: none of the above holds clearly

    @property
    def label(self) -> str:
        """In words: ``"kernel in the limit"``, ``"feature learning persists"``, ``"unstable"``, ``"undetermined"``."""
        return {"kernel": "kernel in the limit", "feature": "feature learning persists"}.get(self.value, self.value)


@dataclass(frozen=True)
class WidthRule:
    """The thresholds of the verdict on fitted log–log slopes.

    Attributes:
        falling: a quantity falls with the width when its slope is below ``-falling`` (> 0).
        flat: the NTK change is flat when \\|slope\\| ≤ ``flat`` (> 0).
        rising: the output at init grows when its slope exceeds ``rising`` (> 0).
        level: the confidence level of the intervals, in (0, 1).

    Raises:
        InputError: a threshold that is not a finite number > 0, a level outside (0, 1).
    """

    falling: float = 0.25
    flat: float = 0.2
    rising: float = 0.25
    level: float = 0.95

    def __post_init__(self) -> None:
        for name in ("falling", "flat", "rising"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise InputError(f"{name} must be a finite number > 0, got {v!r}")
            object.__setattr__(self, name, float(v))
        if isinstance(self.level, bool) or not isinstance(self.level, (int, float)) or not 0 < self.level < 1:
            raise InputError(f"level must be a number in (0, 1), got {self.level!r}")


@dataclass(frozen=True)
class Exponent:
    """The fitted width exponent of one quantity: q ≈ e^a d^b.

    Attributes:
        quantity: its name.
        slope: b (``None`` when fewer than two distinct widths have a usable value).
        stderr: the OLS standard error of b (``None`` with fewer than three points, or no slope).
        low, high: the confidence interval b ± t·se (``None`` when there is no standard error).
        intercept: a.
        points: the (width, seed) values used (finite and > 0).
        widths: the distinct widths among them.
        per_seed: (seed, slope) for each seed with at least two widths.
    """

    quantity: str
    slope: float | None
    stderr: float | None = None
    low: float | None = None
    high: float | None = None
    intercept: float | None = None
    points: int = 0
    widths: int = 0
    per_seed: tuple[tuple[int, float], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain values (``per_seed`` as a dict seed -> slope)."""
        return {"quantity": self.quantity, "slope": self.slope, "stderr": self.stderr, "low": self.low,
                "high": self.high, "intercept": self.intercept, "points": self.points, "widths": self.widths,
                "per_seed": {s: b for s, b in self.per_seed}}

    def describe(self) -> str:
        """``-0.98 ± 0.05`` (slope ± standard error), ``-1`` or ``n/a``."""
        if self.slope is None:
            return "n/a"
        return f"{self.slope:.3g}" + ("" if self.stderr is None else f" ± {self.stderr:.2g}")


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float | None, int]:
    xm, ym = x.mean(), y.mean()
    sxx = float(((x - xm) ** 2).sum())
    b = float(((x - xm) * (y - ym)).sum() / sxx)
    a = float(ym - b * xm)
    n = len(x)
    se = None
    if n > 2:
        rss = float(((y - a - b * x) ** 2).sum())
        se = math.sqrt(rss / (n - 2) / sxx)
    return b, a, se, n


def fit_exponent(widths: ArrayLike, values: ArrayLike, seeds: ArrayLike | None = None, *, quantity: str = "",
                 level: float = 0.95) -> Exponent:
    """Least-squares slope of log(value) against log(width), pooled over seeds (module docstring).

    Arguments:
        widths: the width of each value (> 0).
        values: the values; entries that are not finite or not > 0 are left out.
        seeds: the seed of each value (for the per-seed slopes); default all 0.
        quantity: the name kept in the result.
        level: the confidence level of the interval.

    Returns:
        An :class:`Exponent` (``slope`` is ``None`` when fewer than two distinct widths remain).

    Raises:
        InputError: arrays of different lengths, or a width ≤ 0.

    >>> e = fit_exponent([1, 2, 4, 8], [3.0, 3 / 2**0.5, 1.5, 3 / 8**0.5])
    >>> round(e.slope, 12), round(e.stderr, 12), round(math.exp(e.intercept), 12)
    (-0.5, 0.0, 3.0)
    """
    w = np.asarray(widths, dtype=np.float64).ravel()
    v = np.asarray(values, dtype=np.float64).ravel()
    s = np.zeros(len(w), dtype=np.int64) if seeds is None else np.asarray(seeds).ravel()
    if not len(w) == len(v) == len(s):
        raise InputError(f"widths, values and seeds must have one length, got {len(w)}, {len(v)}, {len(s)}")
    if np.any(~np.isfinite(w)) or np.any(w <= 0):
        raise InputError("widths must be finite numbers > 0")
    ok = np.isfinite(v) & (v > 0)
    x, y, s = np.log(w[ok]), np.log(v[ok]), s[ok]
    distinct = len(np.unique(x))
    if distinct < 2:
        return Exponent(quantity, None, points=int(ok.sum()), widths=distinct)
    b, a, se, n = _ols(x, y)
    low = high = None
    if se is not None:
        from scipy.stats import t

        q = float(t.ppf(0.5 + level / 2, n - 2))
        low, high = b - q * se, b + q * se
    per_seed = []
    for seed in np.unique(s):
        m = s == seed
        if len(np.unique(x[m])) >= 2:
            per_seed.append((int(seed) if np.issubdtype(type(seed), np.integer) else seed, _ols(x[m], y[m])[0]))
    return Exponent(quantity, b, se, low, high, a, n, distinct, tuple(per_seed))


def decide(rows: Sequence[Mapping[str, Any]], exponents: Mapping[str, Exponent],
           rule: WidthRule | None = None) -> tuple[WidthVerdict, str]:
    """The verdict of a width study and the reason, by the rule of the module docstring.

    Arguments:
        rows: one mapping per finished run with ``width``, ``regime`` and ``diverged``.
        exponents: the fitted :class:`Exponent` of each quantity (``ntk_change`` needed for a
            kernel or feature verdict; ``linearization_gap`` and ``output_at_init`` optional).
        rule: the thresholds (default :class:`WidthRule`).

    Returns:
        ``(verdict, reason)``, the reason one sentence with the numbers it rests on.

    >>> rows = [{"width": w, "regime": "kernel", "diverged": False} for w in (10, 100)]
    >>> decide(rows, {"ntk_change": Exponent("ntk_change", -1.0, 0.01, -1.1, -0.9)})[0]
    <WidthVerdict.KERNEL: 'kernel'>
    """
    rule = rule or WidthRule()
    if not rows:
        return WidthVerdict.UNDETERMINED, "no run finished"
    top = max(r["width"] for r in rows)
    at_top = [r for r in rows if r["width"] == top]
    div_top = sum(bool(r.get("diverged")) for r in at_top)
    if div_top:
        osc = sum(bool(r.get("diverged")) and r.get("status") not in (None, "diverged") for r in at_top)
        how = "diverged" if not osc else ("oscillated at the edge of stability" if osc == div_top
                                          else "diverged or oscillated at the edge of stability")
        return WidthVerdict.UNSTABLE, f"{div_top} of {len(at_top)} runs at the largest width {top} {how}"
    out0 = exponents.get("output_at_init")
    if out0 is not None and out0.slope is not None and out0.slope > rule.rising and not (
            out0.low is not None and out0.points >= 4 and out0.low <= 0):
        return WidthVerdict.UNSTABLE, f"the output at init grows with the width (slope {out0.describe()})"
    ntk = exponents.get("ntk_change")
    if ntk is None or ntk.slope is None:
        return WidthVerdict.UNDETERMINED, "no NTK-change exponent could be fitted (fewer than two usable widths)"
    gap = exponents.get("linearization_gap")
    gap_slope = None if gap is None else gap.slope
    if ntk.slope < -rule.falling:
        if ntk.high is not None and ntk.points >= 4 and ntk.high >= 0:
            return (WidthVerdict.UNDETERMINED, f"the NTK change seems to fall (slope {ntk.describe()}) but its "
                    f"{rule.level:.0%} interval reaches 0 ({ntk.high:.3g})")
        if gap_slope is not None and gap_slope >= -rule.falling:
            return (WidthVerdict.UNDETERMINED, f"the NTK change falls (slope {ntk.describe()}) but the "
                    f"linearization gap does not (slope {gap.describe()})")  # type: ignore[union-attr]
        kern = sum(r.get("regime") == "kernel" for r in at_top)
        if 2 * kern <= len(at_top):
            return (WidthVerdict.UNDETERMINED, f"the NTK change falls (slope {ntk.describe()}) but only {kern} of "
                    f"{len(at_top)} runs at the largest width {top} are kernel")
        gap_note = ("" if gap_slope is None else f", the linearization gap as width^{gap_slope:.3g}")
        return (WidthVerdict.KERNEL, f"the NTK change falls as width^{ntk.describe()}{gap_note}; {kern} of "
                f"{len(at_top)} runs at width {top} are kernel")
    if abs(ntk.slope) <= rule.flat:
        feat = sum(r.get("regime") == "feature" for r in rows)
        if feat == len(rows):
            return (WidthVerdict.FEATURE, f"the NTK change is flat in the width (slope {ntk.describe()}, "
                    f"|slope| <= {rule.flat:g}) and all {len(rows)} runs learn features")
        return (WidthVerdict.UNDETERMINED, f"the NTK change is flat (slope {ntk.describe()}) but only {feat} of "
                f"{len(rows)} runs are feature")
    if ntk.slope > rule.flat:
        return WidthVerdict.UNDETERMINED, f"the NTK change grows with the width (slope {ntk.describe()})"
    return (WidthVerdict.UNDETERMINED, f"the NTK change slope {ntk.describe()} is neither flat (|slope| <= "
            f"{rule.flat:g}) nor falling (< -{rule.falling:g})")


def data_hash(X: Any, Y: Any) -> str:
    """SHA-256 (hex) of the data: shape, dtype and bytes of X, then of Y (C order).

    >>> data_hash(np.zeros((2, 1)), np.ones((2, 1))) == data_hash(np.zeros((2, 1)), np.zeros((2, 1)))
    False
    """
    h = hashlib.sha256()
    for a in (X, Y):
        a = np.ascontiguousarray(np.asarray(a))
        h.update(f"{a.shape}|{a.dtype.str}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _import_path(path: str) -> Any:
    if not isinstance(path, str) or path.count(":") != 1 or not all(path.split(":")):
        raise InputError(f"make_model must be a callable or a dotted path 'package.module:function', got {path!r}")
    module, name = path.split(":")
    try:
        obj: Any = importlib.import_module(module)
    except Exception as exc:  # ImportError, or an error while importing
        raise InputError(f"make_model {path!r}: cannot import module {module!r} "
                         f"({type(exc).__name__}: {exc})") from None
    for part in name.split("."):
        obj = getattr(obj, part, None)
    if obj is None or not callable(obj):
        raise InputError(f"make_model {path!r}: module {module!r} has no callable {name!r}")
    return obj


def model_name(make_model: str | Callable[[int], Any]) -> tuple[str, bool]:
    """How a point's configuration names ``make_model``, and whether workers can import it.

    A path ``"module:function"`` is checked by importing it. A callable defined at the top level
    of an importable module (not ``__main__``) becomes its path. Anything else (a lambda, a
    closure, a function of ``__main__``, a callable object) is named
    ``"callable:module.qualname#<12 hex digits>"``, the digits hashing its source (or ``repr``)
    with the values it carries (a partial's arguments, a closure's cells, its defaults), and runs
    only in this process.

    Returns:
        ``(name, importable)``.

    Raises:
        InputError: a path that is malformed or cannot be imported, or neither a path nor a callable.

    >>> model_name(data_hash)
    ('featmech.sweeps.widths:data_hash', True)
    >>> model_name(lambda w: w)[0].startswith("callable:featmech.sweeps.widths.<lambda>#")
    True
    >>> model_name("featmech.nowhere:f")[0]
    Traceback (most recent call last):
    ...
    featmech.errors.InputError: make_model 'featmech.nowhere:f': cannot import module 'featmech.nowhere' (ModuleNotFoundError: No module named 'featmech.nowhere')
    """
    if isinstance(make_model, str):
        _import_path(make_model)
        return make_model, True
    if not callable(make_model):
        raise InputError(f"make_model must be a callable width -> model or a path 'module:function', got "
                         f"{type(make_model).__name__}")
    module = getattr(make_model, "__module__", None) or "?"
    qual = getattr(make_model, "__qualname__", None) or type(make_model).__qualname__
    if module != "__main__" and "<" not in qual:
        with contextlib.suppress(InputError):
            if _import_path(f"{module}:{qual}") is make_model:
                return f"{module}:{qual}", True
    return f"callable:{module}.{qual}#{hashlib.sha256(_identity(make_model).encode()).hexdigest()[:12]}", False


def _identity(fn: Any) -> str:
    """What distinguishes a callable that has no import path: its source (or repr), and the values
    it carries — a partial's arguments, a closure's cells, the defaults — so that two closures of
    one ``def`` over different values get different keys."""
    if isinstance(fn, functools.partial):
        return f"partial({_identity(fn.func)}, {fn.args!r}, {sorted(fn.keywords.items())!r})"
    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):
        src = repr(fn)
    cells = []
    for c in getattr(fn, "__closure__", None) or ():
        try:
            v = c.cell_contents
        except ValueError:  # an empty cell
            continue
        cells.append(_identity(v) if callable(v) else repr(v))
    return f"{src}|{cells!r}|{getattr(fn, '__defaults__', None)!r}|{getattr(fn, '__kwdefaults__', None)!r}"


@dataclass(frozen=True, eq=False)
class _Bound:
    """The point function with the data (and a callable make_model) bound: picklable by reference
    to :data:`POINT_FUNCTION` plus the arrays, imported where it runs."""

    X: Any
    Y: Any
    make_model: Callable[[int], Any] | None = None

    def __call__(self, config: Mapping[str, Any]) -> Any:
        module, _, name = POINT_FUNCTION.partition(":")
        fn = getattr(importlib.import_module(module), name)
        return fn(config, X=self.X, Y=self.Y, make_model=self.make_model)


@dataclass(frozen=True, repr=False)
class WidthsResult:
    """A width study: every run's scalars, the fitted exponents and the verdict.

    Attributes:
        model: how the configuration names ``make_model``.
        widths: the widths, increasing.
        seeds: the seeds.
        runs: one read-only mapping per finished run: ``width``, ``seed`` and its
            ``Diagnosis.scalars()`` (plus ``diverged``, ``seconds``).
        failures: ``(width, seed, error)`` for each run that failed.
        exponents: quantity -> :class:`Exponent` (every quantity of :data:`QUANTITIES`).
        verdict: the :class:`WidthVerdict`.
        reason: why, in one sentence with numbers.
        rule: the thresholds used.
        computed, skipped: runs computed now, and found finished in the store.
        store: the store file (``None`` for a temporary store).
        settings: the keywords given to ``diagnose`` (the same at every width).
        seconds: wall time.
    """

    model: str
    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    runs: tuple[Mapping[str, Any], ...]
    failures: tuple[tuple[int, int, str], ...]
    exponents: Mapping[str, Exponent]
    verdict: WidthVerdict
    reason: str
    rule: WidthRule = field(default_factory=WidthRule)
    computed: int = 0
    skipped: int = 0
    store: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle support: the read-only mappings (``MappingProxyType``, which cannot be pickled)
        travel as plain dicts and are wrapped again on unpickling."""
        fields = {f: getattr(self, f) for f in self.__dataclass_fields__}
        fields.update(runs=tuple(dict(r) for r in self.runs), exponents=dict(self.exponents),
                      settings=dict(self.settings))
        return (_rebuild_widths_result, (fields,))

    def frame(self) -> Any:
        """Tidy pandas DataFrame: one row per (width, seed, quantity) with its ``value`` — every
        numeric scalar of every finished run (the quantities of :data:`QUANTITIES` first)."""
        import pandas as pd

        recs = []
        for r in self.runs:
            names = [q for q in QUANTITIES if q in r] + sorted(k for k in r if k not in QUANTITIES)
            for k in names:
                v = r[k]
                if k in ("width", "seed") or isinstance(v, bool) or not isinstance(v, (int, float)):
                    continue
                recs.append({"width": r["width"], "seed": r["seed"], "quantity": k, "value": float(v)})
        return pd.DataFrame(recs, columns=["width", "seed", "quantity", "value"])

    def table(self) -> Table:
        """The wide per-width summary as a :class:`~featmech.tables.Table`: width, runs, the mean
        over seeds of each quantity of :data:`QUANTITIES`, the regimes (``kernel:2,feature:1``),
        the diverged and failed runs; the verdict, reason and slopes as scalars."""
        cols: dict[str, list[Any]] = {"width": [], "runs": []}
        for q in QUANTITIES:
            cols[q] = []
        cols.update(regimes=[], diverged=[], failed=[])
        for w in self.widths:
            rs = [r for r in self.runs if r["width"] == w]
            cols["width"].append(w)
            cols["runs"].append(len(rs))
            for q in QUANTITIES:
                vals = [float(r[q]) for r in rs if isinstance(r.get(q), (int, float)) and not isinstance(r.get(q), bool)
                        and math.isfinite(float(r[q]))]
                cols[q].append(float(np.mean(vals)) if vals else None)
            counts: dict[str, int] = {}
            for r in rs:
                counts[str(r.get("regime"))] = counts.get(str(r.get("regime")), 0) + 1
            cols["regimes"].append(",".join(f"{k}:{n}" for k, n in sorted(counts.items())))
            cols["diverged"].append(sum(bool(r.get("diverged")) for r in rs))
            cols["failed"].append(sum(1 for f in self.failures if f[0] == w))
        scalars: dict[str, Any] = {"model": self.model, "verdict": self.verdict.value, "label": self.verdict.label,
                                   "reason": self.reason}
        scalars.update({f"slope_{q}": e.slope for q, e in self.exponents.items()})
        return Table(cols, scalars=scalars)

    def as_dict(self) -> dict[str, Any]:
        """Everything as plain values (JSON)."""
        return {"model": self.model, "widths": list(self.widths), "seeds": list(self.seeds),
                "verdict": self.verdict.value, "label": self.verdict.label, "reason": self.reason,
                "exponents": {q: e.as_dict() for q, e in self.exponents.items()},
                "rule": {"falling": self.rule.falling, "flat": self.rule.flat, "rising": self.rule.rising,
                         "level": self.rule.level},
                "runs": [dict(r) for r in self.runs], "failures": [list(f) for f in self.failures],
                "computed": self.computed, "skipped": self.skipped, "store": self.store,
                "settings": dict(self.settings), "seconds": self.seconds}

    def summary(self) -> str:
        """A few lines for people: the verdict, the reason, each exponent."""
        lines = [f"{self.verdict.label}: {self.reason}",
                 f"widths {', '.join(map(str, self.widths))}; seeds {', '.join(map(str, self.seeds))}; "
                 f"{len(self.runs)} runs ({self.computed} computed, {self.skipped} from the store, "
                 f"{len(self.failures)} failed)"]
        for q, e in self.exponents.items():
            ci = "" if e.low is None else f"  [{e.low:.3g}, {e.high:.3g}]"
            lines.append(f"  {q:<18} width^{e.describe()}{ci}")
        for w, seed, err in self.failures[:3]:
            lines.append(f"  failed: width {w}, seed {seed}: {err.strip().splitlines()[-1] if err.strip() else '?'}")
        if len(self.failures) > 3:
            lines.append(f"  … and {len(self.failures) - 3} more failures (result.failures)")
        lines.extend(f"Caveat: {c}" for c in self.caveats)
        return "\n".join(lines) + "\n"

    @property
    def caveats(self) -> tuple[str, ...]:
        """Notes on settings that weaken the verdict (from :attr:`settings`): Adam, ``lr="auto"``."""
        out = []
        if self.settings.get("optimizer") == "adam":
            out.append("Adam: the NTK change is measured with the SGD-weighted kernel, and width-dependent learning "
                       "rates for Adam differ from SGD's (e.g. μP scales Adam's hidden-layer rates as 1/width), so the "
                       "limit found here is that of this Adam recipe, not of the parametrization under SGD")
        if self.settings.get("lr", "auto") == "auto":
            out.append('lr="auto" rescales the learning rate at every width from that width\'s kernel, which hides '
                       "how the parametrization scales its rates; give a number for a width study")
        return tuple(out)

    def _repr_html_(self) -> str:
        import html

        table = self.table().to_pandas().to_html(index=False, na_rep="", float_format=lambda x: f"{x:.4g}")
        return (f"<div class='featmech-widths'><p><b>{html.escape(self.verdict.label)}</b>: "
                f"{html.escape(self.reason)}</p><pre>{html.escape(self.summary())}</pre>{table}</div>")

    def __repr__(self) -> str:
        return (f"<WidthsResult {self.verdict.label}; widths {', '.join(map(str, self.widths))}; seeds "
                f"{', '.join(map(str, self.seeds))}; {len(self.runs)} runs, {len(self.failures)} failed>")

    def plot(self, quantities: Sequence[str] = QUANTITIES, *, title: str | None = None) -> Any:
        """A quick-look figure: each quantity against the width in log–log (every run a dot, the
        mean over seeds a line), the fitted power law dashed with its slope in the legend, the
        verdict in the title.

        Arguments:
            quantities: the panels (those never measured are left out).
            title: what follows the verdict in the title (default: the model's name).

        Returns:
            A :class:`matplotlib.figure.Figure` (not attached to pyplot; ``fig.savefig(path)``).
        """
        from matplotlib.figure import Figure
        from matplotlib.ticker import NullFormatter

        qs = [q for q in quantities if any(_positive(r.get(q)) for r in self.runs)]
        fig = Figure(figsize=(4.2 * max(1, len(qs)), 3.6), layout="constrained")
        axes = fig.subplots(1, max(1, len(qs)), squeeze=False)[0]
        for ax, q in zip(axes, qs):
            w = np.array([r["width"] for r in self.runs], dtype=float)
            v = np.array([float(r[q]) if isinstance(r.get(q), (int, float)) else np.nan for r in self.runs])
            ok = np.isfinite(v) & (v > 0)
            ax.loglog(w[ok], v[ok], "o", ms=4, alpha=0.5, color="C0", label="runs")
            means = [(x, float(np.mean(v[ok & (w == x)]))) for x in self.widths if np.any(ok & (w == x))]
            if means:
                ax.plot(*zip(*means), "-", color="C0", lw=1)
            e = self.exponents.get(q)
            if e is not None and e.slope is not None:
                xs = np.array([min(self.widths), max(self.widths)], dtype=float)
                ax.plot(xs, np.exp(e.intercept) * xs**e.slope, "--", color="C3",  # type: ignore[operator]
                        label=f"fit: width^{e.describe()}")
            ax.set_xticks(list(self.widths), [str(x) for x in self.widths])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("width")
            ax.set_title(q.replace("_", " "))
            ax.legend(fontsize=8)
        fig.suptitle(f"{self.verdict.label} — {self.model.split('#')[0] if title is None else title}", fontsize=10)
        return fig


def _rebuild_widths_result(fields: Mapping[str, Any]) -> WidthsResult:
    """Undo :meth:`WidthsResult.__reduce__` (the mappings arrive as dicts: make them read-only again)."""
    f = dict(fields)
    f["runs"] = tuple(MappingProxyType(dict(r)) for r in f["runs"])
    f["exponents"] = MappingProxyType(dict(f["exponents"]))
    f["settings"] = MappingProxyType(dict(f["settings"]))
    return WidthsResult(**f)


def _check_widths(widths: Any) -> tuple[int, ...]:
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
        raise InputError(f"widths must be a sequence of integers >= 1, got {widths!r}")
    out = []
    for w in widths:
        if isinstance(w, (bool, np.bool_)) or not isinstance(w, (int, np.integer, float)) or not float(w).is_integer() \
                or w < 1:
            raise InputError(f"widths must be integers >= 1, got {w!r}")
        out.append(int(w))
    if len(set(out)) != len(out):
        dup = sorted({w for w in out if out.count(w) > 1})
        raise InputError(f"widths must be distinct, got {dup} more than once (give more seeds for repeated runs)")
    ws = tuple(sorted(out))
    if len(ws) < 2:
        raise InputError(f"widths must hold at least two distinct widths to fit exponents, got {list(out)!r}")
    return ws


def _check_seeds(seeds: Any) -> tuple[int, ...]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        seeds = (seeds,)
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise InputError(f"seeds must be a sequence of distinct integers >= 0, got {seeds!r}")
    out = tuple(seeds)
    if not out or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in out) \
            or len(set(out)) != len(out):
        raise InputError(f"seeds must be a non-empty sequence of distinct integers >= 0, got {list(out)!r}")
    return tuple(int(s) for s in out)


def _check_data(X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        x, y = np.asarray(X), np.asarray(Y)
    except Exception as exc:
        raise InputError(f"X and Y must be arrays: {exc}") from None
    if x.ndim < 1 or y.ndim < 1 or len(x) == 0 or len(x) != len(y):
        raise InputError(f"X and Y must be arrays with one row per sample, got shapes {x.shape} and {y.shape}")
    for name, a in (("X", x), ("Y", y)):
        if a.dtype.kind not in "biuf" or (a.dtype.kind == "f" and not np.all(np.isfinite(a))):
            raise InputError(f"{name} must hold finite numbers")
    x, y = np.array(x), np.array(y)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    if "seed" in settings:
        raise InputError("give the seeds as seeds=(...); each run's model and diagnose get that seed")
    bad = [k for k in settings if k in RESERVED]
    if bad:
        raise InputError(f"{', '.join(bad)} cannot be a keyword of diagnose here (set by diagnose_widths)")
    out = {}
    for k, v in settings.items():
        if isinstance(v, np.ndarray):
            v = v.tolist()
        try:
            json.dumps(v, allow_nan=False)
        except (TypeError, ValueError):
            raise InputError(f"{k}: diagnose_widths passes only JSON values (numbers, strings, lists, dicts) to "
                             f"diagnose, got {type(v).__name__}") from None
        out[k] = v
    return out


def diagnose_widths(make_model: str | Callable[[int], Any], widths: Sequence[int], X: ArrayLike, Y: ArrayLike, *,
                    seeds: Sequence[int] | int = (0,), store: str | os.PathLike[str] | None = None,
                    executor: str = "serial", workers: int | None = None, scheduler: str | None = None,
                    connect_timeout: float = 10.0, retry_failed: bool = False, progress: bool | None = None,
                    rule: WidthRule | None = None, **diagnose_kwargs: Any) -> WidthsResult:
    """Diagnose a model family at every width and seed, fit the width exponents, give the verdict.

    Each (width, seed) is one point of the ``diagnose`` sweep computation
    (:mod:`featmech.nets.diagnose_point`): ``torch.manual_seed(seed)``, ``make_model(width,
    seed=seed)`` (or ``make_model(width)`` if it takes no ``seed``), then ``diagnose(model, X, Y,
    seed=seed, **diagnose_kwargs)``. Points finished in ``store`` are not recomputed (the key
    hashes the model's name, the width, the seed, the data, the keywords and the package version).

    For a width study the learning rate must be a number (``lr="auto"`` would rescale it at every
    width and hide the parametrization); width-dependent learning rates are per-layer
    multipliers returned by ``make_model`` (``width -> (model, multipliers)``; see
    :mod:`featmech.nets.parametrizations`).

    Arguments:
        make_model: ``width -> nn.Module`` or ``width -> (nn.Module, multipliers)`` (optionally
            with a keyword ``seed``: the init then varies with the seed), as a dotted
            path ``"module:function"`` or a callable (one that cannot be imported by a path runs
            only with ``executor="serial"``).
        widths: at least two distinct integers ≥ 1.
        X, Y: the data (one row per sample), the same at every width.
        seeds: one or more distinct seeds ≥ 0.
        store: a SQLite store path (created if missing; resumable); ``None``: a temporary store,
            deleted afterwards.
        executor: ``"serial"`` (this process), ``"process"`` (alias ``"pool"``: local processes)
            or ``"dask"``.
        workers: pool or local Dask cluster size (not with ``"serial"`` or ``scheduler``).
        scheduler: a Dask scheduler address ``tcp://HOST:PORT`` (with ``executor="dask"``).
        connect_timeout: seconds to reach the Dask scheduler.
        retry_failed: recompute runs that failed before.
        progress: draw a progress line on stderr (default: when stderr is a terminal).
        rule: the verdict's thresholds (default :class:`WidthRule`).
        **diagnose_kwargs: the keywords of :func:`featmech.nets.diagnose.diagnose` (``loss``,
            ``lr``, ``steps``, ``batch_size``, ``optimizer``, ``multipliers``, ``linearize``, …),
            JSON values only.

    Returns:
        A :class:`WidthsResult`.

    Raises:
        InputError: fewer than two widths, a repeated width, a width < 1, bad seeds, a
            ``make_model`` path that cannot be imported, a non-importable callable with a parallel
            executor, data that are not finite arrays of one length, a keyword that is not a JSON
            value (or is ``seed``), a keyword ``diagnose`` does not take or a value it refuses
            (:func:`featmech.nets.diagnose.check_options`: ``steps=0``, ``lr="fast"``, …), a bad
            executor, scheduler or store.
        SweepAborted: a fault of the executor (:mod:`featmech.sweeps.executors`); finished runs
            are in the store.
    """
    t0 = time.perf_counter()
    ws = _check_widths(widths)
    ss = _check_seeds(seeds)
    name, importable = model_name(make_model)
    xa, ya = _check_data(X, Y)
    settings = _check_settings(diagnose_kwargs)
    from featmech.nets.diagnose import check_options  # the torch extra: the points need it anyway

    check_options(**settings)
    rule = rule if rule is not None else WidthRule()
    if not isinstance(rule, WidthRule):
        raise InputError(f"rule must be a WidthRule, got {type(rule).__name__}")
    executor = _EXECUTOR_ALIASES.get(executor, executor)
    if executor not in EXECUTORS:
        raise InputError(f"executor must be one of serial, process, dask, got {executor!r}")
    if not importable and executor != "serial":
        raise InputError(f"make_model {name.split('#')[0]!r} cannot be imported by workers (define it at the top "
                         "level of an importable module, or give its path 'module:function'); with a callable "
                         "like this one use executor='serial'")
    if executor == "serial" and (workers is not None or scheduler is not None):
        raise InputError("workers and scheduler are for the process and dask executors, not serial")
    if scheduler is not None:
        if executor != "dask":
            raise InputError(f"a Dask scheduler needs the dask executor, not {executor}")
        scheduler = check_scheduler(scheduler)
    connect_timeout = check_timeout("connect_timeout", connect_timeout)

    digest = data_hash(xa, ya)
    todo_all = []
    for w in ws:
        for s in ss:
            cfg = {"make_model": name, "width": w, "seed": s, "data": digest, **settings}
            todo_all.append((point_key("diagnose", cfg), cfg))
    bound = _Bound(xa, ya, None if importable else make_model)  # type: ignore[arg-type]
    comp = replace(get("diagnose"), function=bound)

    with contextlib.ExitStack() as stack:
        if store is None:
            path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="featmech-widths-"))) / "widths.db"
        else:
            path = Store.check_path(store)
        db = stack.enter_context(Store(path))
        status = db.status(k for k, _ in todo_all)
        todo = [p for p in todo_all if status.get(p[0]) != "done" and (retry_failed or status.get(p[0]) != "failed")]
        prog = Progress(len(todo), None, bool(progress) if progress is not None else _tty(), label="widths")
        chunks = [[p] for p in todo]
        run = EXECUTORS[executor](comp, chunks, workers=workers, scheduler=scheduler, connect_timeout=connect_timeout)
        computed = 0
        try:
            with contextlib.closing(run):
                for outcomes in run:
                    db.write(outcomes, computation="diagnose")
                    computed += sum(o.ok for o in outcomes)
                    prog.update(len(outcomes), sum(not o.ok for o in outcomes))
        except KeyboardInterrupt:
            if prog.enabled and prog.tty:
                prog.stream.write("\n")
                prog.stream.flush()
            done = len(todo_all) - len(todo) + computed
            kept = (f"they are in the store {str(store)!r}: call diagnose_widths again with the same arguments to "
                    "compute only the missing runs" if store is not None
                    else "the store was temporary, so they are lost (give store='widths.db' to keep finished runs)")
            raise KeyboardInterrupt(f"diagnose_widths interrupted: {done} of {len(todo_all)} runs had finished; "
                                    f"{kept}") from None
        keys = {k: cfg for k, cfg in todo_all}
        stored = {p.key: p for p in db.points() if p.key in keys}
    runs, failures = [], []
    for key, cfg in todo_all:
        p = stored.get(key)
        if p is None:  # pragma: no cover - every point is written
            continue
        if p.ok:
            runs.append(MappingProxyType({"width": cfg["width"], "seed": cfg["seed"], **p.result}))
        else:
            failures.append((cfg["width"], cfg["seed"], p.error or ""))
    exps = {}
    for q in QUANTITIES:
        vals = [abs(float(r[q])) if isinstance(r.get(q), (int, float)) and not isinstance(r.get(q), bool)
                and r[q] is not None else np.nan for r in runs]
        exps[q] = fit_exponent([r["width"] for r in runs] or [1], vals or [np.nan],
                               [r["seed"] for r in runs] or [0], quantity=q, level=rule.level)
    verdict, reason = decide(runs, exps, rule)
    return WidthsResult(model=name, widths=ws, seeds=ss, runs=tuple(runs), failures=tuple(failures),
                        exponents=MappingProxyType(exps), verdict=verdict, reason=reason, rule=rule,
                        computed=computed, skipped=len(todo_all) - len(todo),
                        store=None if store is None else str(store), settings=MappingProxyType(settings),
                        seconds=time.perf_counter() - t0)


def _positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _tty() -> bool:
    import sys

    return bool(getattr(sys.stderr, "isatty", lambda: False)())
