"""Command-line interface: a thin layer over the Python API.

Every command prints either a human-readable table (default), JSON (``--format json``: the
same numbers as data) or CSV. User mistakes exit with status 2 and one line on stderr.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from typing import Any, Callable, Sequence

import click
import numpy as np

from . import __version__
from .exact import Gram, Solution, gram_of, solve_gram
from .inits import load_npz, sample_gram
from .regimes import CANONICAL_CASES, Thresholds, canonical_solution, classify_solution, classify_trajectory
from .simulate import simulate_gram

TRAJ_FIELDS = ("output", "loss", "ntk", "alignment", "norm_u", "norm_w")


# ---------------------------------------------------------------------- helpers
def _jsonable(x: Any) -> Any:
    """Convert numpy values to JSON; non-finite floats become null (JSON has no inf/NaN)."""
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        return v if math.isfinite(v) else None
    return x


def _emit(fmt: str, scalars: dict[str, Any], columns: dict[str, Sequence[Any]], extra: dict[str, Any]) -> None:
    if fmt == "json":
        obj = {**columns, **scalars, **extra}
        click.echo(json.dumps(_jsonable(obj), indent=None))
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
    K0 = data_var * kappa * kappa * (eta_w * float(gram.uu) + eta_u * float(gram.ww))
    if lr is None:
        if not (K0 > 0 and math.isfinite(K0)):
            raise click.BadParameter("cannot pick a default when the initial NTK is 0; give --lr", param_hint="--lr")
        lr = 0.5 / K0
    if every is None:
        every = max(1, steps // 100)
    res = simulate_gram(gram.uu, gram.ww, gram.uw, area=gram.area, lr=lr, steps=steps, eta_u=eta_u, eta_w=eta_w,
                        kappa=kappa, target=target, data_var=data_var, momentum=momentum,
                        weight_decay=weight_decay, batch_size=batch_size, noise=noise,
                        seed=cfg.get("seed", 0), every=every)
    data = res.truncated()
    cl = classify_trajectory(res.ntk, res.alignment, res.norm_u, res.norm_w, eta_u=eta_u, eta_w=eta_w,
                             diverged=bool(res.diverged), thresholds=th)
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
def canonical(seed: int, fmt: str, eps: float, delta: float, factor: float) -> None:
    """The five canonical cases of THEORY.md §5, solved exactly and classified.

    \b
    Example:
      featmech canonical --format json
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
    if fmt == "table":
        click.echo(f"{'case':>12} {'expected':>20} {'got':>20} {'max|K/K0-1|':>12} {'zeta0':>8} {'zeta_end':>8} "
                   f"{'balance x':>10}")
        for i, name in enumerate(rows["case"]):
            got = f"{rows['regime'][i]}/{rows['mechanism'][i]}"
            click.echo(f"{name:>12} {rows['expected'][i]:>20} {got:>20} {rows['ntk_max_deviation'][i]:>12.4g} "
                       f"{rows['alignment_start'][i]:>8.3f} {rows['alignment_end'][i]:>8.3f} "
                       f"{rows['balance_change'][i]:>10.3g}")
        click.echo(f"all cases as THEORY.md states: {agree}")
    else:
        _emit(fmt, {"all_agree": agree}, rows, {"thresholds": {"eps": eps, "delta": delta, "factor": factor}})


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
