"""Command-line interface: a thin layer over the Python API.

Every command prints either a human-readable table (default), JSON (``--format json``: the
same numbers as data) or CSV. User mistakes exit with status 2 and one line on stderr.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import click
import numpy as np

from featmech import __version__
from featmech._jsonio import jsonable
from featmech.analysis.phase import parse_axis, phase_diagram
from featmech.analysis.regimes import (
    CANONICAL_CASES,
    Thresholds,
    canonical_solution,
    classify_solution,
    classify_trajectory,
)
from featmech.analysis.regimes import explain as regimes_explain
from featmech.analysis.scaling import PRESETS, Exponents, exponent_grid, verify
from featmech.theory.exact import Gram, gram_of, solve_gram
from featmech.theory.inits import load_npz, sample_gram
from featmech.theory.simulate import run_defaults, simulate_gram

TRAJ_FIELDS = ("output", "loss", "ntk", "alignment", "norm_u", "norm_w")


# ---------------------------------------------------------------------- helpers
def _emit(fmt: str, scalars: dict[str, Any], columns: dict[str, Sequence[Any]], extra: dict[str, Any]) -> None:
    if fmt == "json":
        obj = {**columns, **scalars, **extra}
        click.echo(json.dumps(jsonable(obj), indent=None))
    elif fmt == "csv":
        buf = io.StringIO()
        wr = csv.writer(buf, lineterminator="\n")
        names = list(columns)
        wr.writerow(names)
        for row in zip(*(columns[n] for n in names)):
            wr.writerow([_fmt_csv(v) for v in row])
        click.echo(buf.getvalue(), nl=False)
    else:
        for k, v in scalars.items():
            click.echo(f"{k:>12}: {_fmt_num(v)}")
        names = list(columns)
        click.echo("  ".join(f"{n:>12}" for n in names))
        for row in zip(*(columns[n] for n in names)):
            click.echo("  ".join(f"{_fmt_num(v):>12}" for v in row))


def _fmt_num(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)) or v is None or isinstance(v, str):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return f"{float(v):.6g}"


def _fmt_csv(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return str(v)


def _parse_times(times: str | None, t_max: float | None, points: int, rate: float) -> np.ndarray:
    if times is not None:
        if t_max is not None:
            raise click.UsageError("give either --times or --t-max, not both")
        try:
            arr = np.array([float(x) for x in times.split(",") if x.strip() != ""])
        except ValueError as exc:
            raise click.BadParameter(f"must be comma-separated numbers, got {times!r}",
                                     param_hint="--times") from exc
        if arr.size == 0:
            raise click.BadParameter("needs at least one time", param_hint="--times")
        if np.any(np.isnan(arr)) or np.any(arr < 0):
            raise click.BadParameter("times must be >= 0 (inf allowed: the fixed point)", param_hint="--times")
        if np.any(np.diff(arr) < 0):
            raise click.BadParameter("times must be sorted in increasing order", param_hint="--times")
        return arr
    if points < 1:
        raise click.BadParameter(f"must be >= 1, got {points}", param_hint="--points")
    if t_max is None:
        t_max = 10.0 / rate if rate > 0 and math.isfinite(10.0 / rate) else 10.0
    if not math.isfinite(t_max) or t_max < 0:
        raise click.BadParameter(f"must be finite and >= 0, got {t_max}", param_hint="--t-max")
    return np.linspace(0.0, t_max, points) if points > 1 else np.array([t_max])


def _initial_gram(width: int | None, sigma_u: float | None, sigma_w: float | None, rho: float | None,
                  seed: int | None, init: str | None) -> tuple[Gram, dict[str, Any]]:
    if init is not None:
        given = [n for n, v in (("--width", width), ("--sigma-u", sigma_u), ("--sigma-w", sigma_w),
                                ("--rho", rho), ("--seed", seed)) if v is not None]
        if given:
            raise click.UsageError(f"--init FILE replaces the random init; do not combine it with {', '.join(given)}")
        u0, w0 = load_npz(init)
        return gram_of(u0, w0), {"init": init, "width": int(u0.size)}
    cfg = {"width": 1000 if width is None else width, "sigma_u": 1.0 if sigma_u is None else sigma_u,
           "sigma_w": 1.0 if sigma_w is None else sigma_w, "rho": 0.0 if rho is None else rho,
           "seed": 0 if seed is None else seed}
    g = sample_gram(cfg["width"], cfg["sigma_u"], cfg["sigma_w"], rho=cfg["rho"], seed=cfg["seed"])
    return g, cfg


def _init_options(f: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option("--width", "-d", type=int, default=None, help="Width d (default 1000). Any width up to 1e15: the init is sampled exactly as Gram statistics."),
        click.option("--sigma-u", type=float, default=None, help="Std of the output weights u_i (default 1)."),
        click.option("--sigma-w", type=float, default=None, help="Std of the hidden weights w_i (default 1)."),
        click.option("--rho", type=float, default=None, help="Correlation of (u_i, w_i) in [-1, 1] (default 0)."),
        click.option("--seed", type=int, default=None, help="Random seed (default 0)."),
        click.option("--init", "init", type=str, default=None, metavar="FILE.npz", help="Read u0, w0 from an .npz file instead."),
        click.option("--eta-u", type=float, default=1.0, show_default=True, help="Learning rate multiplier of u."),
        click.option("--eta-w", type=float, default=1.0, show_default=True, help="Learning rate multiplier of w."),
        click.option("--kappa", type=float, default=1.0, show_default=True, help="Output scale κ >= 0."),
        click.option("--target", type=float, default=1.0, show_default=True, help="Target slope k (y = k x)."),
        click.option("--data-var", type=float, default=1.0, show_default=True, help="Data variance V = E[x²] >= 0."),
        click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _threshold_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--factor", type=float, default=10.0, show_default=True, help="Balance change factor F.")(f)
    f = click.option("--delta", type=float, default=0.1, show_default=True, help="Alignment change threshold δ.")(f)
    f = click.option("--eps", type=float, default=0.1, show_default=True, help="NTK change threshold ε.")(f)
    return f


# ---------------------------------------------------------------------- commands
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="featmech")
def cli() -> None:
    """featmech: exact learning dynamics of a two-layer linear network, and whether it learns features.

    \b
    Model: f(x) = κ Σ_i u_i w_i x, loss ½V(κ u·w − k)², gradient flow with
    du/dt = −η_u ∂L/∂u, dw/dt = −η_w ∂L/∂w.  See docs/ for formulas and ranges.
    """


@cli.command()
@_init_options
@click.option("--times", type=str, default=None, help="Comma-separated times, increasing (e.g. 0,1,10).")
@click.option("--t-max", type=float, default=None, help="Last time (default 10/D, ten convergence times).")
@click.option("--points", type=int, default=101, show_default=True, help="Number of evenly spaced times.")
@_threshold_options
def trajectory(width: int | None, sigma_u: float | None, sigma_w: float | None, rho: float | None,
               seed: int | None, init: str | None, eta_u: float, eta_w: float, kappa: float, target: float,
               data_var: float, fmt: str, times: str | None, t_max: float | None, points: int, eps: float,
               delta: float, factor: float) -> None:
    """Exact gradient-flow trajectory, with its regime and mechanism.

    \b
    Examples:
      featmech trajectory --width 100000 --eta-u 1e5 --eta-w 1e5 --kappa 1e-5   # mean-field
      featmech trajectory --width 1000 --rho 0.9 --kappa 1e-3 --target 0.05 --format json
      featmech trajectory --init my_init.npz --times 0,0.5,1,2,inf
    """
    th = Thresholds(eps, delta, factor)
    gram, cfg = _initial_gram(width, sigma_u, sigma_w, rho, seed, init)
    sol = solve_gram(gram.uu, gram.ww, gram.uw, area=gram.area, eta_u=eta_u, eta_w=eta_w, kappa=kappa,
                     target=target, data_var=data_var)
    tt = _parse_times(times, t_max, points, float(sol.rate))
    st = sol(tt)
    cl = classify_solution(sol, th)
    columns: dict[str, Any] = {"t": st.t}
    for n in TRAJ_FIELDS:
        columns[n] = getattr(st, n)
    scalars = {"regime": cl.regime, "mechanism": cl.mechanism, "ntk_ratio": float(sol.ntk_ratio),
               "rate": float(sol.rate)}
    cfg.update(eta_u=eta_u, eta_w=eta_w, kappa=kappa, target=target, data_var=data_var)
    _emit(fmt, scalars, columns, {"classification": cl.as_dict(), "config": cfg,
                                  "conserved": float(st.conserved.ravel()[0]), "branch": sol.branch})


@cli.command()
@_init_options
@click.option("--lr", type=float, default=None, help="Step size (default 0.5/K0, a quarter of the edge of stability 2/K0).")
@click.option("--steps", type=int, default=1000, show_default=True)
@click.option("--momentum", type=float, default=0.0, show_default=True, help="Heavy-ball momentum μ in [0, 1).")
@click.option("--weight-decay", type=float, default=0.0, show_default=True, help="L2 weight decay (added to the gradient).")
@click.option("--batch-size", type=int, default=None, help="Minibatch size for SGD (default: full-batch GD).")
@click.option("--noise", type=float, default=0.0, show_default=True, help="Label noise std for SGD batches.")
@click.option("--every", type=int, default=None, help="Record every K steps (default steps/100).")
@_threshold_options
def simulate(width: int | None, sigma_u: float | None, sigma_w: float | None, rho: float | None,
             seed: int | None, init: str | None, eta_u: float, eta_w: float, kappa: float, target: float,
             data_var: float, fmt: str, lr: float | None, steps: int, momentum: float, weight_decay: float,
             batch_size: int | None, noise: float, every: int | None, eps: float, delta: float,
             factor: float) -> None:
    """Discrete-time GD / SGD / momentum / weight decay, exact at any width in O(1) per step.

    \b
    Examples:
      featmech simulate --width 1000000 --kappa 1e-3 --lr 0.3 --steps 2000
      featmech simulate --width 1000 --sigma-u 0.0707 --sigma-w 0.0707 --lr 0.3 --steps 300 --every 1  # catapult
      featmech simulate --batch-size 32 --noise 0.1 --momentum 0.9 --lr 1e-4 --steps 10000
    """
    th = Thresholds(eps, delta, factor)
    if steps < 1:
        raise click.BadParameter(f"must be >= 1, got {steps}", param_hint="--steps")
    gram, cfg = _initial_gram(width, sigma_u, sigma_w, rho, seed, init)
    K0, lr, every = run_defaults(gram, steps=steps, lr=lr, every=every, eta_u=eta_u, eta_w=eta_w, kappa=kappa,
                                 data_var=data_var)
    res = simulate_gram(gram.uu, gram.ww, gram.uw, area=gram.area, lr=lr, steps=steps, eta_u=eta_u, eta_w=eta_w,
                        kappa=kappa, target=target, data_var=data_var, momentum=momentum,
                        weight_decay=weight_decay, batch_size=batch_size, noise=noise,
                        seed=cfg.get("seed", 0), every=every)
    data = res.truncated()
    cl = classify_trajectory(res.ntk, res.alignment, res.norm_u, res.norm_w, eta_u=eta_u, eta_w=eta_w,
                             diverged=bool(res.diverged), output=res.output, thresholds=th)
    columns = {"step": data.pop("step")}
    for n in TRAJ_FIELDS:
        columns[n] = data.pop(n)
    scalars = {"diverged": data["diverged"], "diverged_at": data["diverged_at"], "regime": cl.regime,
               "mechanism": cl.mechanism, "lr": lr, "lr_times_ntk0": lr * K0}
    cfg.update(eta_u=eta_u, eta_w=eta_w, kappa=kappa, target=target, data_var=data_var, lr=lr, steps=steps,
               momentum=momentum, weight_decay=weight_decay, batch_size=batch_size, noise=noise, every=every)
    _emit(fmt, scalars, columns, {"classification": cl.as_dict(), "config": cfg})


@cli.command()
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random inits.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@_threshold_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write a figure per case (exact flow as lines, simulated GD as points) and canonical.json.")
def canonical(seed: int, fmt: str, eps: float, delta: float, factor: float, out_dir: str | None) -> None:
    """The five canonical cases of THEORY.md §5, solved exactly and classified.

    \b
    Examples:
      featmech canonical --format json
      featmech canonical --out out/canonical
    """
    th = Thresholds(eps, delta, factor)
    rows: dict[str, list[Any]] = {k: [] for k in ("case", "expected", "regime", "mechanism", "ntk_max_deviation",
                                                   "ntk_ratio", "alignment_start", "alignment_end",
                                                   "balance_change", "rate")}
    for name, (_cfg, regime, mech) in CANONICAL_CASES.items():
        sol = canonical_solution(name, seed=seed)
        cl = classify_solution(sol, th)
        rows["case"].append(name)
        rows["expected"].append(f"{regime}/{mech}")
        for key in ("regime", "mechanism", "ntk_max_deviation", "ntk_ratio", "alignment_start", "alignment_end",
                    "balance_change"):
            rows[key].append(getattr(cl, key))
        rows["rate"].append(float(sol.rate))
    agree = all(f"{r}/{m}" == e for r, m, e in zip(rows["regime"], rows["mechanism"], rows["expected"]))
    if out_dir is not None:
        try:
            from featmech.report.html import canonical_figures

            files = [str(p) for p in canonical_figures(Path(out_dir), seed)[0]]
        except ImportError as exc:  # pragma: no cover - optional
            click.echo(f"featmech: note: {exc}; figures skipped", err=True)
            files = []
        (Path(out_dir) / "canonical.json").write_text(json.dumps(jsonable({**rows, "all_agree": agree}), indent=2))
        rows_files = files + [str(Path(out_dir) / "canonical.json")]
    else:
        rows_files = []
    if fmt == "table":
        click.echo(f"{'case':>12} {'expected':>20} {'got':>20} {'max|K/K0-1|':>12} {'zeta0':>8} {'zeta_end':>8} "
                   f"{'balance x':>10}")
        for i, name in enumerate(rows["case"]):
            got = f"{rows['regime'][i]}/{rows['mechanism'][i]}"
            click.echo(f"{name:>12} {rows['expected'][i]:>20} {got:>20} {rows['ntk_max_deviation'][i]:>12.4g} "
                       f"{rows['alignment_start'][i]:>8.3f} {rows['alignment_end'][i]:>8.3f} "
                       f"{rows['balance_change'][i]:>10.3g}")
        click.echo(f"all cases as THEORY.md states: {agree}")
        for f in rows_files:
            click.echo(f"wrote {f}")
    else:
        _emit(fmt, {"all_agree": agree}, rows, {"thresholds": {"eps": eps, "delta": delta, "factor": factor}})


@cli.command()
@_init_options
@_threshold_options
def explain(width: int | None, sigma_u: float | None, sigma_w: float | None, rho: float | None, seed: int | None,
            init: str | None, eta_u: float, eta_w: float, kappa: float, target: float, data_var: float, fmt: str,
            eps: float, delta: float, factor: float) -> None:
    """Regime and mechanism of one configuration, with a short account of why.

    \b
    Examples:
      featmech explain --width 100000 --eta-u 1e5 --eta-w 1e5 --kappa 1e-5
      featmech explain --width 1000 --rho 0.9 --kappa 1e-3 --target 0.05 --format json
    """
    th = Thresholds(eps, delta, factor)
    gram, cfg = _initial_gram(width, sigma_u, sigma_w, rho, seed, init)
    sol = solve_gram(gram.uu, gram.ww, gram.uw, area=gram.area, eta_u=eta_u, eta_w=eta_w, kappa=kappa,
                     target=target, data_var=data_var)
    cl = classify_solution(sol, th)
    text = regimes_explain(cl, rate=float(sol.rate))
    if fmt == "table":
        click.echo(text)
    else:
        cfg.update(eta_u=eta_u, eta_w=eta_w, kappa=kappa, target=target, data_var=data_var)
        _emit(fmt, {"regime": cl.regime, "mechanism": cl.mechanism, "explanation": text, "rate": float(sol.rate)},
              {}, {"classification": cl.as_dict(), "config": cfg})


def _parse_fixed(items: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for it in items:
        if "=" not in it:
            raise click.BadParameter(f"expected name=value, got {it!r}", param_hint="--set")
        k, v = it.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError as exc:
            raise click.BadParameter(f"{k.strip()}: value must be a number, got {v!r}", param_hint="--set") from exc
    return out


@cli.command()
@click.option("--x", "x_spec", required=True, metavar="NAME=START:STOP:log|linear:NUM",
              help="x axis, e.g. width=1e1:1e6:log:40 (or NAME=v1,v2,...).")
@click.option("--y", "y_spec", required=True, metavar="NAME=START:STOP:log|linear:NUM", help="y axis, e.g. kappa=1e-6:1:log:40.")
@click.option("--set", "fixed", multiple=True, metavar="NAME=VALUE", help="Fix another parameter (repeatable).")
@click.option("--seeds", type=int, default=3, show_default=True, help="Random inits per grid point.")
@click.option("--seed", type=int, default=0, show_default=True, help="Base random seed.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write table.csv, summary.json and figures (PNG + SVG) here.")
@click.option("--force", is_flag=True, help="Allow grids over 1e8 points × seeds.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@_threshold_options
def phase(x_spec: str, y_spec: str, fixed: Sequence[str], seeds: int, seed: int, out_dir: str | None, force: bool,
          fmt: str, eps: float, delta: float, factor: float) -> None:
    """Finite-width phase diagram over two hyperparameters, evaluated exactly and vectorized.

    \b
    Axes: width, sigma_u, sigma_w, eta_u, eta_w, eta_ratio (η_u/η_w), kappa, rho, target, data_var.
    Examples:
      featmech phase --x width=1e1:1e6:log:40 --y kappa=1e-7:1:log:40 --out out/phase
      featmech phase --x sigma_w=1e-3:1:log:30 --y eta_ratio=1e-3:1e3:log:30 --set width=10000 --format json
    """
    th = Thresholds(eps, delta, factor)
    pd = phase_diagram(parse_axis(x_spec), parse_axis(y_spec), _parse_fixed(fixed), seeds=seeds, seed=seed,
                       thresholds=th, force=force)
    summary = pd.summary()
    files: list[str] = []
    if out_dir is not None:
        from pathlib import Path

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files.append(str(pd.to_csv(out / "table.csv")))
        try:
            from featmech.report.plots import plot_phase

            files += [str(p) for p in plot_phase(pd, out)]
        except ImportError as exc:
            click.echo(f"featmech: note: {exc}; figures skipped", err=True)
        summary["files"] = files
        (out / "summary.json").write_text(json.dumps(jsonable(summary), indent=2))
        files.append(str(out / "summary.json"))
    if fmt == "table":
        click.echo(f"{pd.x.name} × {pd.y.name}: {summary['points']} points × {pd.seeds} seeds")
        for k, v in summary["counts"].items():
            click.echo(f"{k:>22}: {v}")
        from featmech.analysis.phase import LABELS

        maj = pd.majority_label()
        click.echo(f"majority label per point (rows: {pd.y.name} ascending; columns: {pd.x.name} ascending):")
        letters = "KADRU"
        if maj.shape[1] <= 120:
            for row in maj[::-1]:
                click.echo("  " + "".join(letters[i] if i >= 0 else "?" for i in row))
        click.echo("  " + ", ".join(f"{letters[i]}={name}" for i, name in enumerate(LABELS)))
        for f in files:
            click.echo(f"wrote {f}")
    else:
        _emit(fmt, {}, pd.table(), {"summary": summary} if fmt == "json" else {})


def _exponent_options(f: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option("--preset", type=click.Choice(list(PRESETS)), default=None, help="Start from a named parametrization."),
        click.option("--sigma-u2", type=float, default=None, help="Exponent a_u: σ_u² = d^a_u."),
        click.option("--sigma-w2", type=float, default=None, help="Exponent a_w: σ_w² = d^a_w."),
        click.option("--eta-u", type=float, default=None, help="Exponent e_u: η_u = d^e_u."),
        click.option("--eta-w", type=float, default=None, help="Exponent e_w: η_w = d^e_w."),
        click.option("--kappa", type=float, default=None, help="Exponent c: κ = d^c."),
        click.option("--orthogonal/--no-orthogonal", default=None, help="Centered init u0 ⊥ w0 (f0 = 0)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


@cli.command()
@_exponent_options
@click.option("--seeds", type=int, default=16, show_default=True, help="Inits per width in the numeric check.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--diagram", nargs=2, type=str, default=None, metavar="X=LO:HI:NUM Y=LO:HI:NUM",
              help="Also map the analytic label over two exponents (axes: sigma_u2 sigma_w2 sigma2 eta_u eta_w eta kappa).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="Write JSON and figures here.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def scaling(preset: str | None, sigma_u2: float | None, sigma_w2: float | None, eta_u: float | None,
            eta_w: float | None, kappa: float | None, orthogonal: bool | None, seeds: int, seed: int,
            diagram: tuple[str, str] | None, out_dir: str | None, fmt: str) -> None:
    """Infinite-width regime from exponents of the width d, verified by fitting d = 1e2…1e12.

    \b
    Examples:
      featmech scaling --preset mean-field
      featmech scaling --sigma-u2 0 --sigma-w2 0 --eta-u 0 --eta-w 0 --kappa -0.5     # NTK parametrization
      featmech scaling --preset ntk --diagram kappa=-1.5:0.5:41 sigma2=-2:1:31 --out out/scaling
    """
    from dataclasses import asdict as _asdict

    base = _asdict(PRESETS[preset][0]) if preset else _asdict(Exponents())
    for k, v in (("sigma_u2", sigma_u2), ("sigma_w2", sigma_w2), ("eta_u", eta_u), ("eta_w", eta_w),
                 ("kappa", kappa), ("orthogonal", orthogonal)):
        if v is not None:
            base[k] = v
    exps = Exponents(**base)
    ver = verify(exps, seeds=seeds, seed=seed)
    ana = ver.analysis
    result = ver.as_dict()
    files: list[str] = []
    if diagram is not None:
        axes = []
        for spec in diagram:
            m = re.match(r"^\s*([a-z_0-9]+)\s*=\s*([-+0-9.eE]+):([-+0-9.eE]+):(\d+)\s*$", spec)
            if not m:
                raise click.BadParameter(f"expected NAME=LO:HI:NUM, got {spec!r}", param_hint="--diagram")
            lo, hi, num = float(m.group(2)), float(m.group(3)), int(m.group(4))
            if not hi > lo or num < 2:
                raise click.BadParameter(f"{m.group(1)}: need LO < HI and NUM >= 2", param_hint="--diagram")
            axes.append((m.group(1), np.linspace(lo, hi, num)))
        labels = exponent_grid(axes[0][0], axes[0][1], axes[1][0], axes[1][1], base=exps)
        result["diagram"] = {"x": axes[0][0], "x_values": axes[0][1], "y": axes[1][0], "y_values": axes[1][1],
                             "labels": labels}
        if out_dir is not None:
            try:
                from featmech.report.plots import plot_exponent_diagram

                files += [str(p) for p in plot_exponent_diagram(axes[0][0], axes[0][1], axes[1][0], axes[1][1],
                                                                labels, Path(out_dir) / "exponent_diagram")]
            except ImportError as exc:
                click.echo(f"featmech: note: {exc}; figures skipped", err=True)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "scaling.json").write_text(json.dumps(jsonable(result), indent=2))
        files.append(str(Path(out_dir) / "scaling.json"))
    if fmt == "json":
        click.echo(json.dumps(jsonable(result)))
        return
    click.echo(f"exponents of d: σ_u² {exps.sigma_u2:g}, σ_w² {exps.sigma_w2:g}, η_u {exps.eta_u:g}, "
               f"η_w {exps.eta_w:g}, κ {exps.kappa:g}" + (", orthogonal init" if exps.orthogonal else ""))
    click.echo(f"infinite-width regime: {ana.regime}" + (f" ({ana.mechanism})" if ana.regime == 'feature' else "")
               + f" — {ana.reason}")
    click.echo(f"{'quantity':>12} {'predicted':>10} {'measured':>10}  agree")
    for k in ver.predicted:
        click.echo(f"{k:>12} {ver.predicted[k]:>10.3g} {ver.measured[k]:>10.3g}  {ver.agree[k]}")
    click.echo(f"measured regime: {ver.regime}" + (f" ({ver.mechanism})" if ver.regime == 'feature' else "")
               + f"; exact label at d = {ver.widths[-1]:.0e}: {ver.finite_width_label}")
    for f in files:
        click.echo(f"wrote {f}")


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
def presets(fmt: str) -> None:
    """Named parametrizations with their published, predicted and measured regimes."""
    cols: dict[str, list[Any]] = {k: [] for k in ("preset", "description", "published", "predicted", "measured",
                                                   "finite_width_label", "slopes_agree")}
    for name, (exps, desc, pub) in PRESETS.items():
        ver = verify(exps)
        pred = ver.analysis.regime + (f"/{ver.analysis.mechanism}" if ver.analysis.regime == "feature" else "")
        meas = ver.regime + (f"/{ver.mechanism}" if ver.regime == "feature" else "")
        for k, v in (("preset", name), ("description", desc), ("published", pub), ("predicted", pred),
                     ("measured", meas), ("finite_width_label", ver.finite_width_label),
                     ("slopes_agree", ver.all_agree)):
            cols[k].append(v)
    if fmt == "table":
        click.echo(f"{'preset':>12} {'predicted':>18} {'measured':>18} {'published':>40}")
        for i in range(len(cols["preset"])):
            click.echo(f"{cols['preset'][i]:>12} {cols['predicted'][i]:>18} {cols['measured'][i]:>18} "
                       f"{cols['published'][i]:>40}")
    else:
        _emit(fmt, {}, cols, {})


@cli.group()
def experiment() -> None:
    """Experiments on nonlinear and deep networks (needs the torch extra: pip install 'featmech[torch]')."""


def _write_outputs(out_dir: str | None, name: str, obj: dict[str, Any], table_rows: list[dict[str, Any]],
                   plot: Callable[[Path], list[Path]]) -> list[str]:
    if out_dir is None:
        return []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    (out / f"{name}.json").write_text(json.dumps(jsonable(obj), indent=1))
    files.append(str(out / f"{name}.json"))
    if table_rows:
        keys: list[str] = []
        for r in table_rows:
            keys += [k for k, v in r.items() if not isinstance(v, (list, dict)) and k not in keys]
        with (out / f"{name}.csv").open("w", newline="") as fh:
            wr = csv.writer(fh)
            wr.writerow(keys)
            for r in table_rows:
                wr.writerow([_fmt_csv(r[k]) if k in r else "" for k in keys])
        files.append(str(out / f"{name}.csv"))
    try:
        files += [str(p) for p in plot(out)]
    except ImportError as exc:  # pragma: no cover - optional
        click.echo(f"featmech: note: {exc}; figures skipped", err=True)
    return files


def _floats(text: str, name: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"must be comma-separated numbers, got {text!r}", param_hint=name) from exc
    if not vals or any(not (math.isfinite(v) and v > 0) for v in vals):
        raise click.BadParameter("needs positive finite numbers", param_hint=name)
    return vals


def _seeds(n: int) -> list[int]:
    if n < 1:
        raise click.BadParameter(f"must be >= 1, got {n}", param_hint="--seeds")
    return list(range(n))


@experiment.command("activations")
@click.option("--case", type=click.Choice(["alignment", "disalignment"]), default="alignment", show_default=True)
@click.option("--activation", "acts", multiple=True, default=None,
              help="linear, relu, leaky_relu, tanh, sigmoid, silu (swish); repeatable; default: all.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quick", is_flag=True, help="Smaller width and fewer steps (a CI-sized run).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="Write JSON, CSV and figures here.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@_threshold_options
def experiment_activations(case: str, acts: Sequence[str], seed: int, quick: bool, out_dir: str | None, fmt: str,
                           eps: float, delta: float, factor: float) -> None:
    """ζ(t) of the two-layer net f(x) = κ Σ u_i σ(w_i x) for each activation, exact theory for linear.

    \b
    Examples:
      featmech experiment activations --case alignment --out out/act
      featmech experiment activations --case disalignment --activation linear --format json
    """
    from featmech.nets.experiments import ALL_ACTIVATIONS, activations_experiment

    th = Thresholds(eps, delta, factor)
    runs = activations_experiment(case, list(acts) or list(ALL_ACTIVATIONS), seed=seed, quick=quick, thresholds=th)
    obj: dict[str, Any] = runs[0] if len(runs) == 1 else {"case": case, "runs": runs}
    table_rows = [{k: v for k, v in r.items() if k not in ("classification",)} for r in runs]

    def plot(out: Path) -> list[Path]:
        from featmech.report.plots import plot_activations

        return plot_activations(runs, out / f"activations_{case}")

    files = _write_outputs(out_dir, f"activations_{case}", obj, table_rows, plot)
    if fmt == "json":
        click.echo(json.dumps(jsonable(obj)))
        return
    click.echo(f"{'activation':>12} {'regime':>8} {'mechanism':>13} {'zeta0':>7} {'zeta_end':>8} {'max|K/K0-1|':>11}"
               f" {'theory dev':>10}")
    for r in runs:
        c = r["classification"]
        dev = r.get("theory_max_deviation")
        click.echo(f"{r['activation']:>12} {r['regime']:>8} {r['mechanism']:>13} {c['alignment_start']:>7.3f} "
                   f"{c['alignment_end']:>8.3f} {c['ntk_max_deviation']:>11.3g} "
                   f"{'' if dev is None else f'{dev:.1e}':>10}")
    for f in files:
        click.echo(f"wrote {f}")


def _network_options(f: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option("--dataset", type=str, default="digits", show_default=True, help="digits (bundled), mnist or cifar10."),
        click.option("--data-dir", type=str, default=None, help="Directory with the MNIST IDX or CIFAR-10 binary files."),
        click.option("--arch", type=click.Choice(["mlp", "cnn"]), default="mlp", show_default=True),
        click.option("--seeds", "n_seeds", type=int, default=3, show_default=True),
        click.option("--steps", type=int, default=None, help="SGD steps (default 1500, --quick 150)."),
        click.option("--loss", type=click.Choice(["ce", "mse"]), default="ce", show_default=True),
        click.option("--max-train", type=int, default=None, help="Subsample the training set."),
        click.option("--quick", is_flag=True, help="Smaller network, fewer steps (a CI-sized run)."),
        click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="Write JSON, CSV and figures here."),
        click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True),
    ]
    for o in reversed(opts):
        f = o(f)
    return _threshold_options(f)


def _report_rows(rows: list[dict[str, Any]], key: str, name: str, out_dir: str | None, fmt: str, xlabel: str) -> None:
    slim = [{k: v for k, v in r.items() if k != "history"} for r in rows]
    obj = {"rows": slim}

    def plot(out: Path) -> list[Path]:
        from featmech.report.plots import plot_sweep

        return plot_sweep(rows, key, out / name, xlabel)

    files = _write_outputs(out_dir, name, {"rows": rows}, slim, plot)
    if fmt == "json":
        click.echo(json.dumps(jsonable(obj)))
        return
    click.echo(f"{key:>10} {'seed':>4} {'test acc':>8} {'NTK ratio':>9} {'kernel dist':>11} {'regime':>9} "
               f"{'mechanism':>13}  per pair")
    for r in rows:
        pairs = ", ".join(f"{p['mechanism']}" for p in r["pairs"])
        click.echo(f"{r[key]:>10.3g} {r['seed']:>4} {r['test_accuracy']:>8.3f} {r['ntk_ratio']:>9.3g} "
                   f"{r['kernel_distance']:>11.3g} {r['regime']:>9} {r['mechanism']:>13}  {pairs}")
    for f in files:
        click.echo(f"wrote {f}")


@experiment.command("init-scale")
@click.option("--scales", type=str, default="0.1,0.3,1,3,10", show_default=True)
@click.option("--lr", type=float, default=0.05, show_default=True)
@_network_options
def experiment_init_scale(scales: str, lr: float, dataset: str, data_dir: str | None, arch: str, n_seeds: int,
                          steps: int | None, loss: str, max_train: int | None, quick: bool, out_dir: str | None,
                          fmt: str, eps: float, delta: float, factor: float) -> None:
    """Train an MLP (or CNN) per init scale: accuracy, NTK change and per-pair mechanism.

    \b
    Examples:
      featmech experiment init-scale --dataset digits --scales 0.1,0.3,1,3,10 --out out/scale
      featmech experiment init-scale --dataset mnist --data-dir ~/data/mnist --max-train 5000
    """
    from featmech.nets.experiments import init_scale_experiment

    rows = init_scale_experiment(_floats(scales, "--scales"), dataset=dataset, data_dir=data_dir,
                                 seeds=_seeds(n_seeds), arch=arch, lr=lr, loss=loss, quick=quick, steps=steps,
                                 max_train=max_train, thresholds=Thresholds(eps, delta, factor))
    _report_rows(rows, "scale", "init_scale", out_dir, fmt, "init scale (weights ~ N(0, scale²/fan-in))")


@experiment.command("lr-ratio")
@click.option("--ratios", type=str, default="0.01,0.1,1,10,100", show_default=True)
@click.option("--lr", type=float, default=0.02, show_default=True)
@_network_options
def experiment_lr_ratio(ratios: str, lr: float, dataset: str, data_dir: str | None, arch: str, n_seeds: int,
                        steps: int | None, loss: str, max_train: int | None, quick: bool, out_dir: str | None, fmt: str,
                        eps: float, delta: float, factor: float) -> None:
    """Train over the output-to-hidden learning-rate ratio η_out/η_hidden, where rescaling is expected.

    \b
    Example:
      featmech experiment lr-ratio --dataset digits --out out/lr
    """
    from featmech.nets.experiments import lr_ratio_experiment

    rows = lr_ratio_experiment(_floats(ratios, "--ratios"), dataset=dataset, data_dir=data_dir,
                               seeds=_seeds(n_seeds), arch=arch, lr=lr, loss=loss, quick=quick, steps=steps,
                               max_train=max_train, thresholds=Thresholds(eps, delta, factor))
    _report_rows(rows, "lr_ratio", "lr_ratio", out_dir, fmt, "learning-rate ratio η_out / η_hidden")


@cli.group()
def sweep() -> None:
    """Sweeps over a grid of configurations into a resumable results store (SQLite)."""


@sweep.command("run")
@click.argument("spec_path", metavar="SPEC.toml")
@click.option("--store", "store_path", required=True, help="Results store file (created if missing).")
@click.option("--workers", type=int, default=None, help="Local process pool size (default: all cores).")
@click.option("--serial", is_flag=True, help="Run in this process (no pool).")
@click.option("--dask-local", type=int, default=None, metavar="N", help="Start a Dask LocalCluster of N workers on 127.0.0.1.")
@click.option("--scheduler", type=str, default=None, metavar="tcp://HOST:PORT", help="Join an existing Dask cluster.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to reach --scheduler.")
@click.option("--retry-failed", is_flag=True, help="Recompute points that failed before.")
@click.option("--chunk-size", type=int, default=None, help="Points per task (default: automatic).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def sweep_run(spec_path: str, store_path: str, workers: int | None, serial: bool, dask_local: int | None,
              scheduler: str | None, timeout: float, retry_failed: bool, chunk_size: int | None, quiet: bool,
              fmt: str) -> None:
    """Compute every missing point of SPEC into the store (finished points are never recomputed).

    \b
    Examples:
      featmech sweep run spec.toml --store results.db
      featmech sweep run spec.toml --store results.db --dask-local 2
      featmech sweep run spec.toml --store results.db --scheduler tcp://10.0.0.5:8786
    """
    from featmech.sweeps.sweep import load_spec, run_sweep

    chosen = [n for n, v in (("--serial", serial), ("--dask-local", dask_local is not None),
                             ("--scheduler", scheduler is not None)) if v]
    if len(chosen) > 1:
        raise click.UsageError(f"choose one executor, not {' and '.join(chosen)}")
    for name, v in (("--workers", workers), ("--dask-local", dask_local), ("--chunk-size", chunk_size)):
        if v is not None and v < 1:
            raise click.BadParameter(f"must be >= 1, got {v}", param_hint=name)
    executor = "serial" if serial else ("dask" if (dask_local or scheduler) else "pool")
    spec = load_spec(spec_path)
    rep = run_sweep(spec, store_path, executor=executor, workers=dask_local or workers, scheduler=scheduler,
                    retry_failed=retry_failed, chunk_size=chunk_size, progress=not quiet, connect_timeout=timeout)
    out = {"spec": spec_path, "store": store_path, "computation": spec.computation, "total": rep.total,
           "skipped": rep.skipped, "computed": rep.computed, "failed": rep.failed, "seconds": rep.seconds,
           "executor": rep.executor}
    if fmt == "json":
        click.echo(json.dumps(out))
    else:
        click.echo(f"{rep.total} points: {rep.computed} computed, {rep.failed} failed, {rep.skipped} already in the "
                   f"store ({rep.executor}, {rep.seconds:.1f} s)")


@sweep.command("status")
@click.argument("store_path", metavar="STORE")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def sweep_status(store_path: str, fmt: str) -> None:
    """Counts of finished and failed points in a store, and the errors of failed ones."""
    from featmech.sweeps.store import Store

    if not Path(store_path).exists():
        raise click.BadParameter(f"{store_path!r} does not exist", param_hint="STORE")
    with Store(store_path, create=False) as st:
        counts = st.counts()
        failed = st.rows("failed")
    if fmt == "json":
        click.echo(json.dumps({**counts, "errors": [{"key": r["key"], "error": r["error"]} for r in failed]}))
        return
    click.echo(f"done: {counts['done']}, failed: {counts['failed']}")
    for r in failed[:20]:
        click.echo(f"  failed {r['key'][:12]}: {r['error']}")


@sweep.command("export")
@click.argument("store_path", metavar="STORE")
@click.option("--to", "fmt", type=click.Choice(["parquet", "csv"]), required=True)
@click.option("--out", "out_path", required=True, help="Output file.")
def sweep_export(store_path: str, fmt: str, out_path: str) -> None:
    """Export finished points: one row per point and seed, its parameters then its scalar results."""
    from featmech.sweeps.store import Store

    if not Path(store_path).exists():
        raise click.BadParameter(f"{store_path!r} does not exist", param_hint="STORE")
    with Store(store_path, create=False) as st:
        p = st.export(out_path, fmt)
        n = st.counts()["done"]
    click.echo(f"wrote {n} rows to {p}")


@cli.command()
@click.option("--quick", is_flag=True, help="Smaller grids and networks: about two minutes on 2 cores.")
@click.option("--out", "out_dir", type=click.Path(), default="featmech-report", show_default=True)
@click.option("--section", "sections", multiple=True, type=click.Choice(["canonical", "phase", "scaling", "activations", "digits"]),
              help="Only these sections (repeatable; default: all).")
def reproduce(quick: bool, out_dir: str, sections: Sequence[str]) -> None:
    """The main job: every result of the paper, regenerated into OUT/report.html with its data.

    \b
    Examples:
      featmech reproduce --quick --out out/report
      featmech reproduce --out out/full
    """
    from featmech.report.html import SECTIONS
    from featmech.report.html import reproduce as _reproduce

    path = _reproduce(out_dir, quick=quick, sections=list(sections) or list(SECTIONS),
                      log=lambda m: click.echo(m, err=True))
    click.echo(f"wrote {path}")


# ---------------------------------------------------------------------- entry point
def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 and one stderr line on a user mistake)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="featmech", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # pragma: no cover - click>=8.2
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except click.UsageError as exc:
        msg = exc.format_message().replace("\n", " ")
        click.echo(f"featmech: error: {msg}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"featmech: error: {exc.format_message()}".replace("\n", " "), err=True)
        return 2
    except ValueError as exc:
        click.echo(f"featmech: error: {str(exc).splitlines()[0] if str(exc) else 'invalid input'}", err=True)
        return 2
    except ImportError as exc:
        click.echo(f"featmech: error: {str(exc).splitlines()[0]}", err=True)
        return 1
    except click.exceptions.Abort:
        click.echo("featmech: aborted", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
