r"""The state and the computation behind ``featmech explore`` — no web framework here.

The interactive explorer (:mod:`featmech.report.explorer`, Panel/Bokeh) is a thin view of this
module: one frozen :class:`ExplorerConfig` holds every control (the init, the flow's
hyperparameters, the GD step size in units of the edge of stability, the two phase-diagram axes),
validated with the parameter table :data:`featmech.params.PARAMETERS`; :func:`compute` turns it
into an :class:`ExplorerView` — the exact flow (:func:`~featmech.analysis.runs.exact_run`), GD at
the chosen step size (:func:`~featmech.analysis.runs.simulated_run`), the finite-width phase
diagram over the two axes (:func:`~featmech.analysis.phase.phase_diagram`, cached) and the words
of ``featmech explain``. Presets are data (:data:`PRESETS`): the five canonical cases of
docs/theory.md §5 and the named parametrizations of :mod:`featmech.analysis.scaling` at the
current width.

Conventions: the GD step size is given as ``lr_k0`` = lr·K0 with K0 = Vκ²(η_w|u0|² + η_u|w0|²) the
initial NTK, so that 2 (the edge of stability) and 4 (the end of the catapult window) are fixed
marks; GD step n is drawn at flow time n·lr. The iid init's Gram statistics are sampled exactly
(any width up to 10¹⁵ at the same cost).

A configuration is also a command line (:meth:`ExplorerConfig.cli_commands`: ``featmech
trajectory …`` and ``featmech simulate …``), a Python snippet (:meth:`ExplorerConfig.python`) and
JSON (:meth:`ExplorerConfig.to_json`, :meth:`ExplorerConfig.from_json`).

>>> cfg = ExplorerConfig(width=1000, sigma_u=0.03, sigma_w=0.03)
>>> view = compute(cfg)
>>> view.category, view.explanation.splitlines()[0]
('feature/alignment', 'Regime: feature learning; mechanism: learning by alignment.')
>>> compute(cfg.replace(sigma_w=3e-5)).category
'feature/rescaling'
>>> mf = apply_preset(cfg, "mean-field")
>>> mf.eta_u == mf.width, mf.kappa
(True, 1e-05)
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np
from numpy.typing import NDArray

from featmech.analysis.canonical import CANONICAL_CASES
from featmech.analysis.phase import GRID_PARAMETERS, LABELS, Axis, PhaseDiagram, phase_diagram
from featmech.analysis.runs import ExactRun, SimulatedRun, exact_run, iid_init, simulated_run
from featmech.analysis.scaling import PRESETS as SCALING_PRESETS
from featmech.errors import InputError
from featmech.params import PARAMETERS
from featmech.theory.config import Gram, Hyper, Init, readonly

__all__ = ["ExplorerConfig", "ExplorerView", "PhaseView", "Preset", "PRESETS", "AXES", "AXIS_RANGES",
           "LR_K0_RANGE", "MAX_GD_STEPS", "FLOW_POINTS", "GRID_POINTS", "compute", "phase_view", "apply_preset",
           "axis_values", "timed"]

#: the parameters a control sets and that the CLI's ``trajectory``/``simulate`` take, in table order
_MODEL = ("width", "sigma_u", "sigma_w", "rho", "seed", "eta_u", "eta_w", "kappa", "target", "data_var")
#: the phase-diagram axes the explorer offers (the grid parameters of :mod:`featmech.analysis.phase`)
AXES: tuple[str, ...] = GRID_PARAMETERS
#: the default range of each axis: (low, high, scale); widened to include the current value
AXIS_RANGES: Mapping[str, tuple[float, float, str]] = MappingProxyType({
    "width": (1.0, 1e12, "log"),
    "sigma_u": (1e-4, 10.0, "log"),
    "sigma_w": (1e-4, 10.0, "log"),
    "eta_u": (1e-3, 1e6, "log"),
    "eta_w": (1e-3, 1e6, "log"),
    "kappa": (1e-7, 10.0, "log"),
    "rho": (-1.0, 1.0, "linear"),
    "target": (1e-3, 1e2, "log"),
    "data_var": (1e-2, 1e2, "log"),
})
#: allowed lr·K0 (the edge of stability is 2, GD on this model diverges beyond about 4)
LR_K0_RANGE = (1e-3, 8.0)
#: at most this many GD steps are simulated (the run covers ten convergence times when it can)
MAX_GD_STEPS = 2000
#: evaluation times of the exact flow
FLOW_POINTS = 200
#: phase-diagram grid points per axis
GRID_POINTS = 40


@dataclass(frozen=True)
class ExplorerConfig:
    """Every control of the explorer, validated on construction.

    Attributes:
        width, sigma_u, sigma_w, rho, seed: the iid Gaussian init (Gram statistics sampled exactly).
        eta_u, eta_w, kappa, target, data_var: the flow's hyperparameters η_u, η_w, κ, k, V.
        lr_k0: the GD step size as lr·K0 (K0 the initial NTK), in :data:`LR_K0_RANGE`.
        x_axis, y_axis: the phase diagram's axes, two different names of :data:`AXES`.

    Raises:
        InputError: a value outside its range (the parameter table's message) or bad axes.
    """

    width: int = 1000
    sigma_u: float = 0.03
    sigma_w: float = 0.03
    rho: float = 0.0
    seed: int = 0
    eta_u: float = 1.0
    eta_w: float = 1.0
    kappa: float = 1.0
    target: float = 1.0
    data_var: float = 1.0
    lr_k0: float = 0.5
    x_axis: str = "sigma_w"
    y_axis: str = "kappa"

    def __post_init__(self) -> None:
        for name in _MODEL:
            object.__setattr__(self, name, PARAMETERS[name].check(getattr(self, name)))
        lo, hi = LR_K0_RANGE
        lr = self.lr_k0
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or not lo <= lr <= hi:
            raise InputError(f"lr_k0 (lr·K0) must be a number in [{lo:g}, {hi:g}], got {lr!r}")
        object.__setattr__(self, "lr_k0", float(lr))
        for name in ("x_axis", "y_axis"):
            if getattr(self, name) not in AXES:
                raise InputError(f"{name} must be one of {', '.join(AXES)}, got {getattr(self, name)!r}")
        if self.x_axis == self.y_axis:
            raise InputError(f"x_axis and y_axis must differ, both are {self.x_axis!r}")

    # ----------------------------------------------------------------- building and changing
    def replace(self, **changes: Any) -> "ExplorerConfig":
        """A validated copy with some controls changed."""
        return replace(self, **changes)

    def set_value(self, name: str, value: float) -> "ExplorerConfig":
        """A copy with one model parameter set from a number (a width is rounded to an integer ≥ 1).

        Raises:
            InputError: an unknown name or a value out of range.
        """
        if name not in _MODEL:
            raise InputError(f"unknown control {name!r}; choose from {', '.join(_MODEL)}")
        if PARAMETERS[name].kind == "int":
            value = int(round(float(value)))
        return self.replace(**{name: value})

    @property
    def hyper(self) -> Hyper:
        """The flow's hyperparameters."""
        return Hyper(eta_u=self.eta_u, eta_w=self.eta_w, kappa=self.kappa, target=self.target,
                     data_var=self.data_var)

    @property
    def init(self) -> Gram | Init:
        """The init: an exact sample of the iid Gaussian init's Gram statistics."""
        return _init(self.width, self.sigma_u, self.sigma_w, self.rho, self.seed)

    @property
    def model_values(self) -> dict[str, Any]:
        """The init and flow parameters by name (what ``featmech trajectory`` takes)."""
        return {n: getattr(self, n) for n in _MODEL}

    # ----------------------------------------------------------------- serializations
    def as_dict(self) -> dict[str, Any]:
        """Every control by name (plain values)."""
        return asdict(self)

    def to_json(self) -> str:
        """The configuration as JSON (``{"featmech_explore": 1, "config": {…}}``)."""
        return json.dumps({"featmech_explore": 1, "config": self.as_dict()}, indent=2)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "ExplorerConfig":
        """Build from a mapping of controls (missing ones take their defaults).

        Raises:
            InputError: an unknown key or a bad value.
        """
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise InputError(f"unknown control(s) {', '.join(unknown)}; allowed: {', '.join(sorted(names))}")
        return cls(**dict(values))

    @classmethod
    def from_json(cls, text: str) -> "ExplorerConfig":
        """Read what :meth:`to_json` wrote (a bare mapping of controls is accepted too).

        Raises:
            InputError: not JSON, or bad controls.
        """
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise InputError(f"not a JSON configuration: {exc}") from None
        if isinstance(data, dict) and "config" in data:
            data = data["config"]
        if not isinstance(data, dict):
            raise InputError("a JSON configuration is an object of controls")
        return cls.from_dict(data)

    def lr(self) -> float | None:
        """The absolute GD step size lr = lr_k0 / K0 (``None`` when K0 = 0: nothing to train)."""
        k0 = _ntk0(self)
        return self.lr_k0 / k0 if k0 > 0 and math.isfinite(self.lr_k0 / k0) else None

    def gd_steps(self) -> int:
        """The number of GD steps drawn: enough for ten convergence times of the flow (10/D), at
        least 20, at most :data:`MAX_GD_STEPS`."""
        lr = self.lr()
        if lr is None:
            return 20
        rate = float(_run(self).rate)
        t_end = 10.0 / rate if rate > 0 and math.isfinite(10.0 / rate) else 10.0
        return int(min(MAX_GD_STEPS, max(20, math.ceil(t_end / lr))))

    def cli_commands(self) -> dict[str, str]:
        """The configuration as runnable command lines.

        Returns:
            ``{"trajectory": "featmech trajectory …", "simulate": "featmech simulate … --lr LR
            --steps N --every 1", "explain": "featmech explain …"}``: options only where a value
            differs from the table's default; floats written with ``repr`` (exact round trip).
        """
        opts = " ".join(f"{PARAMETERS[n].flag} {_num(getattr(self, n))}" for n in _MODEL
                        if getattr(self, n) != PARAMETERS[n].default)
        opts = (" " + opts) if opts else ""
        out = {"trajectory": f"featmech trajectory{opts}", "explain": f"featmech explain{opts}"}
        lr = self.lr()
        if lr is not None:
            steps = self.gd_steps()
            out["simulate"] = f"featmech simulate{opts} --lr {_num(lr)} --steps {steps} --every {_every(steps)}"
        return out

    def cli_text(self) -> str:
        """What "copy as CLI command" copies: the ``trajectory`` and ``simulate`` lines."""
        cmds = self.cli_commands()
        return "\n".join(cmds[k] for k in ("trajectory", "simulate") if k in cmds)

    def python(self) -> str:
        """A Python snippet that computes what the explorer shows (the exact flow, its label and
        explanation, and GD at the chosen step size)."""
        init = ", ".join(f"{n!r}: {_num(getattr(self, n))}" for n in ("width", "sigma_u", "sigma_w", "rho", "seed"))
        hyper = ", ".join(f"{n}={_num(getattr(self, n))}" for n in ("eta_u", "eta_w", "kappa", "target", "data_var"))
        lines = [
            "from featmech.analysis.runs import exact_run, iid_init, simulated_run",
            "from featmech.theory.config import Hyper",
            "",
            f"init = iid_init({{{init}}})  # exact Gram sample of the iid Gaussian init",
            f"hyper = Hyper({hyper})",
            "run = exact_run(init, hyper)  # exact gradient flow",
            "print(run.classification.category)",
            "print(run.explanation)",
        ]
        lr = self.lr()
        if lr is not None:
            steps = self.gd_steps()
            lines += [f"gd = simulated_run(init, hyper, steps={steps}, lr={_num(lr)}, every={_every(steps)})"
                      f"  # lr·K0 = {self.lr_k0:g}",
                      "print(gd.classification.category, 'diverged' if gd.diverged else '')"]
        return "\n".join(lines) + "\n"


def _num(x: Any) -> str:
    """A number as text that reads back exactly (ints plainly, floats by ``repr``)."""
    return str(x) if isinstance(x, int) else repr(float(x))


def _every(steps: int) -> int:
    return max(1, steps // 200)


# --------------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class Preset:
    """A named setting of controls.

    Attributes:
        name: the preset's name (``"mean-field"``).
        description: one line for people.
        expected: the label the source states (canonical cases: docs/theory.md §5; parametrizations:
            the published infinite-width classification), as text.
        values: a function of the current configuration giving the controls to set (the named
            parametrizations are evaluated at the current width).
    """

    name: str
    description: str
    expected: str
    values: Callable[[ExplorerConfig], Mapping[str, Any]] = field(repr=False)

    def apply(self, config: ExplorerConfig) -> ExplorerConfig:
        """The configuration with this preset's controls set."""
        return config.replace(**dict(self.values(config)))


def _canonical(name: str) -> Callable[[ExplorerConfig], Mapping[str, Any]]:
    case = CANONICAL_CASES[name]

    def values(cfg: ExplorerConfig) -> Mapping[str, Any]:
        out = {n: case.value(n) for n in ("eta_u", "eta_w", "kappa", "target", "data_var")}
        if case.init == "aligned":  # u0 = w0 with |u0| = scale: an iid init with ρ = 1 at width 1000
            d = 1000
            s = float(case.value("scale")) / math.sqrt(d)
            out.update(width=d, sigma_u=s, sigma_w=s, rho=1.0, lr_k0=0.1)  # K grows about tenfold
        else:
            out.update({n: case.value(n) for n in ("width", "sigma_u", "sigma_w", "rho")}, lr_k0=0.5)
        return out

    return values


def _scaling(name: str, lr_k0: float = 0.5) -> Callable[[ExplorerConfig], Mapping[str, Any]]:
    exps = SCALING_PRESETS[name].exponents

    def values(cfg: ExplorerConfig) -> Mapping[str, Any]:
        hp = {k: float(v) for k, v in exps.at(cfg.width).items()}
        return {**hp, "rho": 0.0, "target": 1.0, "data_var": 1.0, "lr_k0": lr_k0}

    return values


def _preset(name: str, description: str, expected: str, values: Callable[[ExplorerConfig], Mapping[str, Any]]
            ) -> tuple[str, Preset]:
    return name, Preset(name, description, expected, values)


#: The presets: the five canonical cases (their own widths) and the named parametrizations (at the
#: current width; Chizat's centered init u0 ⊥ w0 is approximated by ρ = 0, exact in the limit).
PRESETS: Mapping[str, Preset] = MappingProxyType(dict([
    *(_preset(name, CANONICAL_CASES[name].description
              + (" (here: ρ = 1 at width 1000, |u0| ≈ 0.3)" if name == "aligned" else ""),
              CANONICAL_CASES[name].category, _canonical(name)) for name in CANONICAL_CASES),
    _preset("SP", SCALING_PRESETS["sp"].description + "; lr·K0 = 5 stands for lr = O(1) (K0 grows with d)",
            SCALING_PRESETS["sp"].published, _scaling("sp", lr_k0=5.0)),
    _preset("NTK", SCALING_PRESETS["ntk"].description, SCALING_PRESETS["ntk"].published, _scaling("ntk")),
    _preset("mean-field (scaling)", SCALING_PRESETS["mean-field"].description,
            SCALING_PRESETS["mean-field"].published, _scaling("mean-field")),
    _preset("μP", SCALING_PRESETS["mup"].description, SCALING_PRESETS["mup"].published, _scaling("mup")),
    _preset("Chizat", SCALING_PRESETS["chizat-lazy"].description + " (here ρ = 0)",
            SCALING_PRESETS["chizat-lazy"].published, _scaling("chizat-lazy")),
]))


def apply_preset(config: ExplorerConfig, name: str) -> ExplorerConfig:
    """The configuration with the controls of the preset ``name`` set.

    Raises:
        InputError: an unknown preset (the message lists them).
    """
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name].apply(config)


# --------------------------------------------------------------------------------- computing
@lru_cache(maxsize=64)
def _init(width: int, sigma_u: float, sigma_w: float, rho: float, seed: int) -> Gram | Init:
    return iid_init({"width": width, "sigma_u": sigma_u, "sigma_w": sigma_w, "rho": rho, "seed": seed})


def _model_key(cfg: ExplorerConfig) -> tuple[Any, ...]:
    return tuple(getattr(cfg, n) for n in _MODEL)


@lru_cache(maxsize=64)
def _run_key(key: tuple[Any, ...]) -> ExactRun:
    cfg = dict(zip(_MODEL, key))
    init = _init(*(cfg[n] for n in ("width", "sigma_u", "sigma_w", "rho", "seed")))
    hyper = Hyper(**{n: cfg[n] for n in ("eta_u", "eta_w", "kappa", "target", "data_var")})
    sol_run = exact_run(init, hyper, points=2)
    rate = sol_run.rate
    t_end = 10.0 / rate if rate > 0 and math.isfinite(10.0 / rate) else 10.0
    return exact_run(init, hyper, t_max=t_end, points=FLOW_POINTS)


def _run(cfg: ExplorerConfig) -> ExactRun:
    return _run_key(_model_key(cfg))


def _ntk0(cfg: ExplorerConfig) -> float:
    st = _run(cfg).state
    return float(np.asarray(st.ntk).ravel()[0])


def axis_values(name: str, current: float, points: int = GRID_POINTS) -> tuple[NDArray[np.float64], str]:
    """The values of one phase-diagram axis: :data:`AXIS_RANGES`, widened to include ``current``.

    Returns:
        ``(values, scale)``: ``points`` values (integers for the width) and ``"log"`` or ``"linear"``.
    """
    lo, hi, scale = AXIS_RANGES[name]
    if scale == "log":
        if current > 0:
            lo, hi = min(lo, current), max(hi, current)
        vals = np.logspace(math.log10(lo), math.log10(hi), points)
    else:
        lo, hi = min(lo, current), max(hi, current)
        vals = np.linspace(lo, hi, points)
    if PARAMETERS[name].kind == "int":
        vals = np.unique(np.maximum(1.0, np.round(vals)))
    return vals, scale


@dataclass(frozen=True)
class PhaseView:
    """The phase diagram around the current point.

    Attributes:
        diagram: the :class:`~featmech.analysis.phase.PhaseDiagram` (one seed, the config's).
        x_edges, y_edges: cell edges (geometric means of neighbours on a log axis), read-only.
        label: category index into :data:`~featmech.analysis.phase.LABELS` per (y, x), read-only.
        point: the current point (x value, y value).
    """

    diagram: PhaseDiagram
    x_edges: NDArray[np.float64]
    y_edges: NDArray[np.float64]
    label: NDArray[np.int64]
    point: tuple[float, float]

    def cells(self) -> dict[str, Any]:
        """One row per cell (``left, right, bottom, top, category``) — a plotting library's quads."""
        xe, ye = self.x_edges, self.y_edges
        ny, nx = self.label.shape
        left = np.broadcast_to(xe[:-1][None, :], (ny, nx)).ravel()
        right = np.broadcast_to(xe[1:][None, :], (ny, nx)).ravel()
        bottom = np.broadcast_to(ye[:-1][:, None], (ny, nx)).ravel()
        top = np.broadcast_to(ye[1:][:, None], (ny, nx)).ravel()
        return {"left": left, "right": right, "bottom": bottom, "top": top,
                "category": [LABELS[int(i)] for i in self.label.ravel()]}


    def raster(self, max_pixels: int = 4 * GRID_POINTS) -> dict[str, Any]:
        """The diagram as an image on a grid uniform in each axis' scale (what an image glyph draws).

        A pixel takes the label of the cell containing its centre. Where the cells are already
        uniform in the axis' scale (log₁₀ for a log axis) the pixels are the cells; otherwise (a
        width axis rounded to integers) each axis has ``max_pixels`` pixels.

        Returns:
            ``{"image": uint8 (ny, nx) label indices into LABELS (row 0 at the bottom), "x0", "x1",
            "y0", "y1"}``: the image spans [x0, x1] × [y0, y1] in data units.
        """
        log_x = bool(self.diagram.x.scale == "log")
        log_y = bool(self.diagram.y.scale == "log")
        ix = _pixel_cells(self.x_edges, log_x, max_pixels)
        iy = _pixel_cells(self.y_edges, log_y, max_pixels)
        img = np.ascontiguousarray(self.label[np.ix_(iy, ix)].astype(np.uint8))
        return {"image": img, "x0": float(self.x_edges[0]), "x1": float(self.x_edges[-1]),
                "y0": float(self.y_edges[0]), "y1": float(self.y_edges[-1])}


def _pixel_cells(edges: NDArray[np.float64], log: bool, max_pixels: int) -> NDArray[np.intp]:
    """Cell index of each pixel of a uniform pixel grid over ``edges`` (in log₁₀ on a log axis)."""
    e = np.log10(edges) if log else np.asarray(edges, dtype=np.float64)
    n = e.size - 1
    widths = np.diff(e)
    if np.allclose(widths, widths.mean(), rtol=1e-9, atol=0):
        return np.arange(n)
    m = max(n, max_pixels)
    centres = e[0] + (np.arange(m) + 0.5) * (e[-1] - e[0]) / m
    return np.clip(np.searchsorted(e, centres, side="right") - 1, 0, n - 1)


def _edges(vals: NDArray[np.float64], scale: str) -> NDArray[np.float64]:
    v = np.log10(vals) if scale == "log" else vals
    if v.size == 1:
        e = np.array([v[0] - 0.5, v[0] + 0.5])
    else:
        mid = (v[1:] + v[:-1]) / 2
        e = np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])
    return 10**e if scale == "log" else e


@lru_cache(maxsize=32)
def _phase_key(x: str, y: str, xr: tuple[float, ...], yr: tuple[float, ...], xs: str, ys: str,
               fixed: tuple[tuple[str, float], ...], seed: int) -> tuple[PhaseDiagram, NDArray[np.int64]]:
    pd = phase_diagram(Axis(x, np.array(xr), xs), Axis(y, np.array(yr), ys), dict(fixed), seeds=1, seed=seed)
    lab = np.asarray(pd.majority_label(), dtype=np.int64)
    lab.setflags(write=False)
    return pd, lab


def phase_view(cfg: ExplorerConfig, points: int = GRID_POINTS) -> PhaseView:
    """The finite-width phase diagram over ``cfg.x_axis`` × ``cfg.y_axis`` (the other parameters at
    the config's values), cached per axes, ranges and the other values.

    Returns:
        A :class:`PhaseView` with the current point.
    """
    xv, xs = axis_values(cfg.x_axis, float(getattr(cfg, cfg.x_axis)), points)
    yv, ys = axis_values(cfg.y_axis, float(getattr(cfg, cfg.y_axis)), points)
    fixed = tuple((n, float(getattr(cfg, n))) for n in GRID_PARAMETERS if n not in (cfg.x_axis, cfg.y_axis))
    pd, lab = _phase_key(cfg.x_axis, cfg.y_axis, tuple(xv.tolist()), tuple(yv.tolist()), xs, ys, fixed, cfg.seed)
    return PhaseView(diagram=pd, x_edges=readonly(_edges(xv, xs)), y_edges=readonly(_edges(yv, ys)), label=lab,
                     point=(float(getattr(cfg, cfg.x_axis)), float(getattr(cfg, cfg.y_axis))))


@dataclass(frozen=True)
class ExplorerView:
    """Everything the explorer draws for one configuration.

    Attributes:
        config: the configuration.
        run: the exact flow (:class:`~featmech.analysis.runs.ExactRun`) over ten convergence times.
        gd: GD at lr = lr_k0/K0 (:class:`~featmech.analysis.runs.SimulatedRun`), ``None`` when K0 = 0.
        phase: the phase diagram with the current point.
        seconds: the time :func:`compute` took.
    """

    config: ExplorerConfig
    run: ExactRun
    gd: SimulatedRun | None
    phase: PhaseView
    seconds: float

    @property
    def category(self) -> str:
        """The exact flow's label (``"feature/alignment"``, ``"kernel"``, …), as ``featmech explain``."""
        return str(self.run.classification.category)

    @property
    def explanation(self) -> str:
        """The plain-words account of ``featmech explain``."""
        return self.run.explanation

    @property
    def gd_category(self) -> str | None:
        """GD's label (``"unstable"`` when it diverged), ``None`` without GD."""
        return None if self.gd is None else str(self.gd.classification.category)

    def flow_series(self) -> dict[str, NDArray[np.float64]]:
        """The exact flow: ``t`` and ``output, loss, ntk_ratio (K/K0), alignment, norm_u, norm_w``."""
        return _series(self.run.state.t, self.run.state)

    def gd_series(self) -> dict[str, NDArray[np.float64]]:
        """GD's records before a divergence, at flow time n·lr (same keys as :meth:`flow_series`)."""
        if self.gd is None:
            return {k: np.zeros(0) for k in ("t", "output", "loss", "ntk_ratio", "alignment", "norm_u", "norm_w")}
        d = self.gd.result.truncated()
        return _series(np.asarray(d["step"], dtype=np.float64) * self.gd.lr, d, k0=float(self.gd.defaults.ntk0))

    def summary(self) -> dict[str, Any]:
        """The numbers the page shows, as data."""
        cl = self.run.classification
        out: dict[str, Any] = {"category": self.category, "explanation": self.explanation,
                               "rate": self.run.rate, "ntk_ratio": float(self.run.solution.ntk_ratio),
                               "classification": cl.as_dict(), "ntk0": _ntk0(self.config)}
        if self.gd is not None:
            out.update(gd_category=self.gd_category, lr=self.gd.lr, lr_times_ntk0=self.gd.lr_times_ntk0,
                       diverged=self.gd.diverged, diverged_at=self.gd.diverged_at, gd_steps=self.config.gd_steps())
        return out


def _series(t: Any, src: Any, k0: float | None = None) -> dict[str, NDArray[np.float64]]:
    get = (lambda n: np.asarray(src[n], dtype=np.float64)) if isinstance(src, Mapping) else \
        (lambda n: np.asarray(getattr(src, n), dtype=np.float64))
    ntk = get("ntk")
    base = k0 if k0 is not None else (float(ntk[0]) if ntk.size else 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = ntk / base if base > 0 else np.full_like(ntk, np.nan)
    return {"t": np.asarray(t, dtype=np.float64), "output": get("output"), "loss": get("loss"),
            "ntk_ratio": ratio, "alignment": get("alignment"), "norm_u": get("norm_u"), "norm_w": get("norm_w")}


def compute(config: ExplorerConfig, points: int = GRID_POINTS) -> ExplorerView:
    """Compute everything the explorer shows for one configuration.

    Arguments:
        config: the controls.
        points: phase-diagram grid points per axis.

    Returns:
        An :class:`ExplorerView`.

    Raises:
        InputError: values the solver refuses (e.g. statistics beyond float64).
    """
    t0 = time.perf_counter()
    run = _run(config)
    lr = config.lr()
    gd = None
    if lr is not None:
        steps = config.gd_steps()
        gd = simulated_run(config.init, config.hyper, steps=steps, lr=lr, every=_every(steps))
        t_gd = steps * lr
        if t_gd > float(run.state.t[-1]):  # draw the flow as far as GD goes
            times = np.linspace(0.0, t_gd, FLOW_POINTS)
            run = ExactRun(solution=run.solution, state=run.solution(times), classification=run.classification)
    ph = phase_view(config, points)
    return ExplorerView(config=config, run=run, gd=gd, phase=ph, seconds=time.perf_counter() - t0)


def timed(config: ExplorerConfig, repeat: int = 20) -> dict[str, float]:
    """Median seconds of :func:`compute` for fresh configurations near ``config`` (σ_w nudged each
    time, so that no cache answers; the phase diagram is recomputed too).

    Returns:
        ``{"median": s, "max": s, "min": s}``.
    """
    times = []
    for i in range(repeat):
        cfg = config.replace(sigma_w=config.sigma_w * (1 + 1e-6 * (i + 1)))
        times.append(compute(cfg).seconds)
    return {"median": float(np.median(times)), "max": float(np.max(times)), "min": float(np.min(times))}
