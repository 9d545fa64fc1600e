"""Commands over many configurations: ``phase`` (finite width), ``scaling`` and ``presets`` (infinite width)."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import click
import numpy as np

from featmech.analysis.phase import LABELS, parse_axis, phase_diagram
from featmech.analysis.regimes import Thresholds
from featmech.analysis.scaling import PRESETS, Exponents, exponent_grid, verify
from featmech.cli.options import (
    compose,
    format_option,
    out_option,
    parse_assignments,
    threshold_options,
)
from featmech.cli.output import as_table, echo, figures, make_dir, write, write_json
from featmech.tables import Table

__all__ = ["phase", "scaling", "presets", "parse_exponent_axis"]

#: one letter per category of featmech.analysis.phase.LABELS in the text map
LETTERS = "KADRU"


@click.command()
@click.option("--x", "x_spec", required=True, metavar="NAME=START:STOP:log|linear:NUM",
              help="x axis, e.g. width=1e1:1e6:log:40 (or NAME=v1,v2,...).")
@click.option("--y", "y_spec", required=True, metavar="NAME=START:STOP:log|linear:NUM", help="y axis, e.g. kappa=1e-6:1:log:40.")
@click.option("--set", "fixed", multiple=True, metavar="NAME=VALUE", help="Fix another parameter (repeatable).")
@click.option("--seeds", type=int, default=3, show_default=True, help="Random inits per grid point.")
@click.option("--seed", type=int, default=0, show_default=True, help="Base random seed.")
@out_option("Write table.csv, summary.json and figures (PNG + SVG) here.")
@click.option("--force", is_flag=True, help="Allow grids over 1e8 points × seeds.")
@compose(format_option(), threshold_options)
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
    pd = phase_diagram(parse_axis(x_spec), parse_axis(y_spec), parse_assignments(fixed), seeds=seeds, seed=seed,
                       thresholds=th, force=force)
    table = as_table(pd)
    summary = pd.summary()
    files: list[Path] = []
    if out_dir is not None:
        out = make_dir(out_dir)
        files.append(write(table, out / "table.csv"))
        from featmech.report.plots import plot_phase

        files += figures(lambda: plot_phase(pd, out))
        summary["files"] = [str(f) for f in files]
        files.append(write_json(summary, out / "summary.json"))
    if fmt == "json":
        echo(Table(table.columns, extra={"summary": summary}), fmt)
        return
    if fmt == "csv":
        echo(table, fmt)
        return
    click.echo(f"{pd.x.name} × {pd.y.name}: {summary['points']} points × {pd.seeds} seeds")
    for k, v in summary["counts"].items():
        click.echo(f"{k:>22}: {v}")
    maj = pd.majority_label()
    click.echo(f"majority label per point (rows: {pd.y.name} ascending; columns: {pd.x.name} ascending):")
    if maj.shape[1] <= 120:
        for row in maj[::-1]:
            click.echo("  " + "".join(LETTERS[i] if i >= 0 else "?" for i in row))
    click.echo("  " + ", ".join(f"{LETTERS[i]}={name}" for i, name in enumerate(LABELS)))
    for f in files:
        click.echo(f"wrote {f}")


_EXPONENT_AXIS = re.compile(r"^\s*([a-z_0-9]+)\s*=\s*([-+0-9.eE]+):([-+0-9.eE]+):(\d+)\s*$")


def parse_exponent_axis(spec: str) -> tuple[str, np.ndarray]:
    """``NAME=LO:HI:NUM``: an axis of exponents, ``NUM >= 2`` evenly spaced values from LO to HI.

    Arguments:
        spec: the text of one ``--diagram`` axis.

    Returns:
        The axis name and its values.

    Raises:
        click.BadParameter: malformed, ``LO >= HI`` or ``NUM < 2`` (the name is checked by
            :func:`featmech.analysis.scaling.exponent_grid`).
    """
    m = _EXPONENT_AXIS.match(spec)
    if not m:
        raise click.BadParameter(f"expected NAME=LO:HI:NUM, got {spec!r}", param_hint="--diagram")
    try:
        lo, hi, num = float(m.group(2)), float(m.group(3)), int(m.group(4))
    except ValueError as exc:
        raise click.BadParameter(f"expected NAME=LO:HI:NUM with numbers, got {spec!r}", param_hint="--diagram") from exc
    if not hi > lo or num < 2:
        raise click.BadParameter(f"{m.group(1)}: need LO < HI and NUM >= 2", param_hint="--diagram")
    return m.group(1), np.linspace(lo, hi, num)


def _exponent_options(f: Any) -> Any:
    return compose(
        click.option("--preset", type=click.Choice(list(PRESETS)), default=None, help="Start from a named parametrization."),
        click.option("--sigma-u2", type=float, default=None, help="Exponent a_u: σ_u² = d^a_u."),
        click.option("--sigma-w2", type=float, default=None, help="Exponent a_w: σ_w² = d^a_w."),
        click.option("--eta-u", type=float, default=None, help="Exponent e_u: η_u = d^e_u."),
        click.option("--eta-w", type=float, default=None, help="Exponent e_w: η_w = d^e_w."),
        click.option("--kappa", type=float, default=None, help="Exponent c: κ = d^c."),
        click.option("--orthogonal/--no-orthogonal", default=None, help="Centered init u0 ⊥ w0 (f0 = 0)."),
    )(f)


def _with_mechanism(regime: Any, mechanism: Any) -> str:
    return f"{regime}" + (f" ({mechanism})" if regime == "feature" else "")


@click.command()
@_exponent_options
@click.option("--seeds", type=int, default=16, show_default=True, help="Inits per width in the numeric check.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--diagram", nargs=2, type=str, default=None, metavar="X=LO:HI:NUM Y=LO:HI:NUM",
              help="Also map the analytic label over two exponents (axes: sigma_u2 sigma_w2 sigma2 eta_u eta_w eta kappa).")
@out_option("Write JSON and figures here.")
@format_option(("table", "json"))
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
    base = asdict(PRESETS[preset][0]) if preset else asdict(Exponents())
    given = {"sigma_u2": sigma_u2, "sigma_w2": sigma_w2, "eta_u": eta_u, "eta_w": eta_w, "kappa": kappa,
             "orthogonal": orthogonal}
    base.update({k: v for k, v in given.items() if v is not None})
    exps = Exponents(**base)
    ver = verify(exps, seeds=seeds, seed=seed)
    ana = ver.analysis
    result = ver.as_dict()
    files: list[Path] = []
    out = make_dir(out_dir) if out_dir is not None else None
    if diagram is not None:
        (xn, xs), (yn, ys) = (parse_exponent_axis(spec) for spec in diagram)
        labels = exponent_grid(xn, xs, yn, ys, base=exps)
        result["diagram"] = {"x": xn, "x_values": xs, "y": yn, "y_values": ys, "labels": labels}
        if out is not None:
            from featmech.report.plots import plot_exponent_diagram

            files += figures(lambda: plot_exponent_diagram(xn, xs, yn, ys, labels, out / "exponent_diagram"))
    if out is not None:
        files.append(write_json(result, out / "scaling.json"))
    if fmt == "json":
        echo(Table({}, extra=result), fmt)
        return
    click.echo(f"exponents of d: σ_u² {exps.sigma_u2:g}, σ_w² {exps.sigma_w2:g}, η_u {exps.eta_u:g}, "
               f"η_w {exps.eta_w:g}, κ {exps.kappa:g}" + (", orthogonal init" if exps.orthogonal else ""))
    click.echo(f"infinite-width regime: {_with_mechanism(ana.regime, ana.mechanism)} — {ana.reason}")
    names = list(ver.predicted)
    click.echo(Table({"quantity": names, "predicted": [ver.predicted[k] for k in names],
                      "measured": [ver.measured[k] for k in names], "agree": [ver.agree[k] for k in names]}).to_text(),
               nl=False)
    click.echo(f"measured regime: {_with_mechanism(ver.regime, ver.mechanism)}; exact label at "
               f"d = {ver.widths[-1]:.0e}: {ver.finite_width_label}")
    for f in files:
        click.echo(f"wrote {f}")


def presets_table() -> Table:
    """Every named parametrization verified: published, predicted and measured regimes."""
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
    return Table(cols)


@click.command()
@format_option()
def presets(fmt: str) -> None:
    """Named parametrizations with their published, predicted and measured regimes."""
    table = presets_table()
    if fmt == "table":
        click.echo(Table({k: table.columns[k] for k in ("preset", "predicted", "measured", "published")}).to_text(),
                   nl=False)
    else:
        echo(table, fmt)
