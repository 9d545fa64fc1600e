"""``featmech linear``: the two-layer linear network on a real data set's moments, classified per singular mode.

``featmech linear`` runs one configuration (exact gradient flow, or GD/SGD with ``--lr``) and
prints the model-level regime and mechanism with one row per singular mode of the target;
``featmech linear-phase`` classifies a grid of two parameters. Both go through
:mod:`featmech.analysis.linear`; every number printed is its data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from featmech.analysis.linear import MAX_POINTS, PHASE_AXES, SCALES, classify, moments, phase, prepare
from featmech.analysis.regimes import Thresholds
from featmech.cli.options import (
    compose,
    format_option,
    option,
    out_option,
    parse_assignments,
    parse_times,
    pick,
    threshold_options,
)
from featmech.cli.output import check_out_dir, echo, figures, make_dir, write, write_json
from featmech.params import PARAMETERS
from featmech.tables import Table

__all__ = ["linear", "linear_phase", "data_options"]


def data_options(f: Any) -> Any:
    """``--dataset --components --scale --center/--no-center --max-train``."""
    return compose(
        click.option("--dataset", type=click.Choice(["digits", "mnist1d"]), default="digits", show_default=True,
                     help="digits: 8×8 images, 64 → 10; mnist1d: length-40 signals, 40 → 10 (one-hot targets)."),
        click.option("--components", type=click.IntRange(min=1), default=16, show_default=True,
                     help="Keep this many leading principal components of the inputs (0 < k ≤ m)."),
        click.option("--scale", type=click.Choice(list(SCALES)), default="whiten", show_default=True,
                     help="Input scaling after the projection: whiten makes Σ = I (the modes decouple)."),
        click.option("--center/--no-center", default=True, show_default=True, help="Centre inputs and targets."),
        option("max_train"),
    )(f)


def _moments(kw: dict[str, Any]) -> Any:
    return moments(kw["dataset"], center=kw["center"], scale=kw["scale"], components=kw["components"],
                   max_train=kw["max_train"])



def _points_option(default: int, text: str) -> Any:
    """``--points`` with the linear analysis's own range [2, MAX_POINTS] (not the 1-D grid's)."""
    return click.option("--points", "points", type=click.IntRange(2, MAX_POINTS), default=default, show_default=True,
                        help=f"{text} Range [2, {MAX_POINTS:.0e}].".replace("e+0", "e"))


@click.command()
@compose(data_options, option("width"), option("sigma_u"), option("sigma_w"), option("seed"), option("eta_u"),
         option("eta_w"), option("kappa"),
         click.option("--times", type=str, default=None, help="Comma-separated times, increasing (default: 0 to ten "
                                                              "convergence times)."),
         _points_option(200, "Number of times of the automatic grid."),
         option("lr", help="Train by GD/SGD with this step instead of the exact flow."),
         option("steps"), option("batch_size"), option("momentum"), option("weight_decay"), option("every"),
         click.option("--modes", "max_modes", type=click.IntRange(min=1), default=None,
                      help="Classify at most this many singular modes."),
         format_option(), threshold_options,
         out_option("Write linear.json, modes.csv, trajectory.csv and the figures here."))
def linear(**kw: Any) -> None:
    """The linear network f(x) = κUWx on a data set: regime and mechanism, per singular mode.

    \b
    Examples:
      featmech linear --dataset digits --width 1e12 --kappa 1e-6 --components 8
      featmech linear --dataset digits --width 1000 --sigma-u 1e-3 --sigma-w 1e-3 --components 8 --format json
      featmech linear --dataset mnist1d --width 1000 --kappa 1e-3 --lr 0.05 --steps 400 --components 8
    """
    from featmech.theory.linear import sample_gram, simulate_gram, solve_gram

    th = Thresholds(**pick(kw, "thresholds"))
    times = parse_times(kw["times"], None, allow_inf=False)
    if kw["lr"] is not None and times is not None:
        raise click.UsageError("--times is for the exact flow; with --lr the records are set by --steps/--every")
    check_out_dir(kw["out_dir"])
    mo = _moments(kw)
    g = sample_gram(kw["width"], c=mo.c, m=mo.m, sigma_u=kw["sigma_u"], sigma_w=kw["sigma_w"], seed=kw["seed"])
    hyper = {"eta_u": kw["eta_u"], "eta_w": kw["eta_w"], "kappa": kw["kappa"]}
    if kw["lr"] is None:
        sol = solve_gram(g, sigma_xx=mo.sigma_xx, sigma_xy=mo.sigma_xy, sigma_yy=mo.sigma_yy, **hyper)
        cl = classify(sol, mo, times=times, thresholds=th, points=kw["points"], max_modes=kw["max_modes"], **hyper)
    else:
        X, Y, _ = prepare(kw["dataset"], center=kw["center"], scale=kw["scale"], components=kw["components"],
                          max_train=kw["max_train"])
        res = simulate_gram(g, X, Y, lr=kw["lr"], steps=kw["steps"], batch_size=kw["batch_size"],
                            momentum=kw["momentum"], weight_decay=kw["weight_decay"], seed=kw["seed"],
                            every=kw["every"], **hyper)
        cl = classify(res, mo, lr=kw["lr"], thresholds=th, max_modes=kw["max_modes"], **hyper)
    config = {"dataset": mo.name, "components": mo.components, "scale": mo.scale, "center": mo.center,
              "width": kw["width"], "sigma_u": kw["sigma_u"], "sigma_w": kw["sigma_w"], "seed": kw["seed"], **hyper,
              "lr": kw["lr"]}
    files: list[Path] = []
    if kw["out_dir"] is not None:
        out = make_dir(kw["out_dir"])
        files.append(write_json({**cl.as_dict(), "config": config, "moments": mo.as_dict()}, out / "linear.json"))
        files.append(write(cl.mode_table(), out / "modes.csv"))
        files.append(write(cl.trajectory.table(), out / "trajectory.csv"))

        def draw() -> list[Path]:
            from featmech.report.linear_plots import plot_linear_trajectory

            return plot_linear_trajectory(cl, out / "linear_trajectory", title=f"{mo.name}: {cl.category}")

        files += figures(draw)
    fmt = kw["fmt"]
    if fmt == "json":
        echo(Table({}, extra={**cl.as_dict(), "config": config, "moments": mo.as_dict()}), "json")
    elif fmt == "csv":
        echo(cl.mode_table(), "csv")
    else:
        echo(cl.table(), "table")
        for f in files:
            click.echo(f"wrote {f}")


@click.command("linear-phase")
@compose(data_options,
         click.option("--x", "x", required=True, help=f"Axis name=start:stop:log:num or name=v1,v2; of "
                                                       f"{', '.join(PHASE_AXES)}."),
         click.option("--y", "y", required=True, help="The second axis, same form."),
         click.option("--set", "sets", multiple=True, help="Fix another parameter: name=value (repeatable)."),
         click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True, help="Inits per point."),
         option("seed"),
         _points_option(40, "Times per trajectory."),
         format_option(), threshold_options,
         out_option("Write linear_phase.csv and the phase-diagram figure here."))
def linear_phase(**kw: Any) -> None:
    """Phase diagram of the linear network on a data set over two parameters (exact flow per point).

    \b
    Examples:
      featmech linear-phase --dataset digits --components 4 --x width=10,1000 --y kappa=1e-3,1 --set sigma_u=0.1
    """
    th = Thresholds(**pick(kw, "thresholds"))
    check_out_dir(kw["out_dir"])
    fixed = parse_assignments(kw["sets"])
    mo = _moments(kw)
    ph = phase(mo, kw["x"], kw["y"], fixed, seeds=kw["seeds"], seed=kw["seed"], thresholds=th, points=kw["points"])
    table = ph.table()
    files: list[Path] = []
    if kw["out_dir"] is not None:
        out = make_dir(kw["out_dir"])
        files.append(write(table, out / "linear_phase.csv"))

        def draw() -> list[Path]:
            from featmech.report.linear_plots import plot_linear_phase

            return plot_linear_phase(ph, out / "linear_phase")

        files += figures(draw)
    echo(table, kw["fmt"])
    if kw["fmt"] == "table":
        for f in files:
            click.echo(f"wrote {f}")
