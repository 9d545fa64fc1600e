"""Commands over many configurations: ``phase`` (finite width), ``scaling`` and ``presets`` (infinite width)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import click

from featmech.analysis.phase import LABELS, parse_axis, phase_diagram
from featmech.analysis.regimes import Thresholds
from featmech.analysis.scaling import PRESETS, exponents, scaling_report, verify_presets
from featmech.cli.options import (
    check_cost,
    compose,
    force_option,
    format_option,
    option,
    out_option,
    parse_assignments,
    threshold_options,
)
from featmech.cli.output import (
    check_out_dir,
    echo,
    figures,
    make_dir,
    write,
    write_json,
)
from featmech.tables import Table

__all__ = ["phase", "scaling", "presets", "phase_map", "DIAGRAM_POINT_SECONDS", "DIAGRAM_POINT_BYTES", "SEED_SECONDS",
           "SEED_BYTES"]

#: the size guard of ``scaling`` (measured on 2 busy cores, rounded up): seconds and bytes per
#: point of an exponent diagram, and per seed of the numeric check (11 widths)
DIAGRAM_POINT_SECONDS = 3e-4
DIAGRAM_POINT_BYTES = 500.0
SEED_SECONDS = 1e-4
SEED_BYTES = 1000.0

#: one letter per category of featmech.analysis.phase.LABELS in the text map (others: their first letter)
LETTERS = {"kernel": "K", "feature/alignment": "A", "feature/disalignment": "D", "feature/rescaling": "R",
           "unstable": "U", "undetermined": "?"}
#: the widest text map printed (columns)
MAX_MAP_COLUMNS = 120


def _letter(i: int) -> str:
    if i < 0 or i >= len(LABELS):
        return "·"
    return LETTERS.get(LABELS[i], LABELS[i][:1].upper())


def phase_map(pd: Any) -> list[str]:
    """The majority label per point as text: y increases upwards (the top row is the largest y,
    each row labelled with its y value), x to the right (its first and last value below).

    Arguments:
        pd: a :class:`~featmech.analysis.phase.PhaseDiagram`.

    Returns:
        The lines, without newlines: the grid, its x axis, and the key of the letters.
    """
    maj = pd.majority_label()
    ys = [f"{v:g}" for v in pd.y.values]
    w = max(len(y) for y in ys + [pd.y.name])
    lines = [f"  {pd.y.name:>{w}}"]
    for i in range(maj.shape[0] - 1, -1, -1):  # largest y first: y increases upwards
        lines.append(f"  {ys[i]:>{w}} |" + "".join(_letter(int(v)) for v in maj[i]))
    lines.append("  " + " " * w + " +" + "-" * maj.shape[1])
    x0, x1 = f"{pd.x.values[0]:g}", f"{pd.x.values[-1]:g}"
    gap = max(1, maj.shape[1] - len(x0) - len(x1))
    lines.append("  " + " " * w + "  " + x0 + " " * gap + x1 + f"   {pd.x.name} →")
    lines.append("  " + ", ".join(f"{_letter(i)}={name}" for i, name in enumerate(LABELS)) + ", ·=no label")
    return lines


@click.command()
@click.option("--x", "x_spec", required=True, metavar="NAME=START:STOP:log|linear:NUM",
              help="x axis, e.g. width=1e1:1e6:log:40 (or NAME=v1,v2,...).")
@click.option("--y", "y_spec", required=True, metavar="NAME=START:STOP:log|linear:NUM", help="y axis, e.g. kappa=1e-6:1:log:40.")
@click.option("--set", "fixed", multiple=True, metavar="NAME=VALUE", help="Fix another parameter (repeatable).")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True, help="Random inits per grid point.")
@option("seed", help="Base random seed.")
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
    check_out_dir(out_dir)
    pd = phase_diagram(parse_axis(x_spec), parse_axis(y_spec), parse_assignments(fixed), seeds=seeds, seed=seed,
                       thresholds=th, force=force)
    table = pd.table()
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
    if pd.x.values.size <= MAX_MAP_COLUMNS:
        click.echo(f"majority label per point ({pd.y.name} increases upwards, {pd.x.name} to the right):")
        for line in phase_map(pd):
            click.echo(line)
    else:
        click.echo(f"(no text map: more than {MAX_MAP_COLUMNS} columns; see --out for the figures)")
    for f in files:
        click.echo(f"wrote {f}")


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
@click.option("--seeds", type=click.IntRange(min=1), default=16, show_default=True,
              help="Inits per width in the numeric check.")
@option("seed", help="Base random seed of the numeric check.")
@click.option("--diagram", nargs=2, type=str, default=None, metavar="X=LO:HI:NUM Y=LO:HI:NUM",
              help="Also map the analytic label over two exponents (axes: sigma_u2 sigma_w2 sigma2 eta_u eta_w eta kappa).")
@out_option("Write JSON and figures here.")
@format_option(("table", "json"))
@force_option("Allow a diagram or a check estimated over 10 minutes or 2 GB (the size guard).")
def scaling(preset: str | None, sigma_u2: float | None, sigma_w2: float | None, eta_u: float | None,
            eta_w: float | None, kappa: float | None, orthogonal: bool | None, seeds: int, seed: int,
            diagram: tuple[str, str] | None, out_dir: str | None, fmt: str, force: bool) -> None:
    """Infinite-width regime from exponents of the width d, verified by fitting d = 1e2…1e12.

    \b
    Examples:
      featmech scaling --preset mean-field
      featmech scaling --sigma-u2 0 --sigma-w2 0 --eta-u 0 --eta-w 0 --kappa -0.5     # NTK parametrization
      featmech scaling --preset ntk --diagram kappa=-1.5:0.5:41 sigma2=-2:1:31 --out out/scaling
    """
    check_cost(force, f"--seeds {seeds}", seconds=seeds * SEED_SECONDS, memory=seeds * SEED_BYTES)
    check_out_dir(out_dir)
    if diagram is not None:
        n = _diagram_points(diagram)
        check_cost(force, f"--diagram {' '.join(diagram)} ({n:,} points)", seconds=n * DIAGRAM_POINT_SECONDS,
                   memory=n * DIAGRAM_POINT_BYTES)
    exps = exponents(preset, sigma_u2=sigma_u2, sigma_w2=sigma_w2, eta_u=eta_u, eta_w=eta_w, kappa=kappa,
                     orthogonal=orthogonal)
    report = scaling_report(exps, seeds=seeds, seed=seed, diagram=diagram)
    ver, ana, dia = report.verification, report.analysis, report.diagram
    files: list[Path] = []
    if out_dir is not None:
        out = make_dir(out_dir)
        if dia is not None:
            from featmech.report.plots import plot_exponent_diagram

            files += figures(lambda: plot_exponent_diagram(dia.x.name, dia.x.values, dia.y.name, dia.y.values,
                                                           dia.labels, out / "exponent_diagram", base=dia.base))
        files.append(write_json(report.as_dict(), out / "scaling.json"))
    if fmt == "json":
        echo(Table({}, extra=report.as_dict()), fmt)
        return
    click.echo(f"exponents of d: σ_u² {exps.sigma_u2:g}, σ_w² {exps.sigma_w2:g}, η_u {exps.eta_u:g}, "
               f"η_w {exps.eta_w:g}, κ {exps.kappa:g}" + (", orthogonal init" if exps.orthogonal else ""))
    click.echo(f"infinite-width regime: {_with_mechanism(ana.regime, ana.mechanism)} — {ana.reason}")
    click.echo(Table(ver.table().columns).to_text(), nl=False)
    click.echo(f"measured regime: {_with_mechanism(ver.regime, ver.mechanism)}; exact label at "
               f"d = {ver.widths[-1]:.0e}: {ver.finite_width_label}")
    for f in files:
        click.echo(f"wrote {f}")


def _diagram_points(diagram: tuple[str, str]) -> int:
    """The number of points of ``--diagram X=LO:HI:NUM Y=LO:HI:NUM``, read before any axis is built
    (a malformed axis counts as one point: the library explains it)."""
    n = 1
    for ax in diagram:
        num = ax.rpartition(":")[2].strip()
        n *= int(num) if num.isdigit() else 1
    return n


@click.command()
@format_option()
def presets(fmt: str) -> None:
    """Named parametrizations with their published, predicted and measured regimes."""
    table = verify_presets().table()
    if fmt == "table":
        click.echo(Table({k: table.columns[k] for k in ("preset", "predicted", "measured", "published")}).to_text(),
                   nl=False)
    else:
        echo(table, fmt)
