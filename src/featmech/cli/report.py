"""``featmech reproduce``: the report of every result."""

from __future__ import annotations

from typing import Sequence

import click

from featmech.cli.options import NonEmptyPath
from featmech.cli.output import check_out_dir
from featmech.report.html import SECTIONS
from featmech.report.html import reproduce as build_report

__all__ = ["reproduce"]


@click.command()
@click.option("--quick", is_flag=True, help="Smaller grids and networks: about two minutes on 2 cores.")
@click.option("--out", "out_dir", type=NonEmptyPath(), default="featmech-report", show_default=True,
              help="The report's directory (created if missing).")
@click.option("--section", "sections", multiple=True, type=click.Choice(list(SECTIONS)),
              help="Only these sections (repeatable; default: all).")
def reproduce(quick: bool, out_dir: str, sections: Sequence[str]) -> None:
    """The main job: every result of the paper, regenerated into OUT/report.html with its data.

    \b
    Examples:
      featmech reproduce --quick --out out/report
      featmech reproduce --out out/full
    """
    check_out_dir(out_dir)
    path = build_report(out_dir, quick=quick, sections=list(sections) or list(SECTIONS),
                        log=lambda m: click.echo(m, err=True))
    click.echo(f"wrote {path}")
