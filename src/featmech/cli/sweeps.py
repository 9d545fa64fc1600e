"""``featmech sweep``: grids of configurations into a resumable results store."""

from __future__ import annotations

from pathlib import Path

import click

from featmech.cli.options import format_option
from featmech.cli.output import echo
from featmech.tables import Table

__all__ = ["sweep"]


@click.group()
def sweep() -> None:
    """Sweeps over a grid of configurations into a resumable results store (SQLite)."""


@sweep.command("run")
@click.argument("spec_path", metavar="SPEC.toml")
@click.option("--store", "store_path", required=True, help="Results store file (created if missing).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Local process pool size (default: all cores).")
@click.option("--serial", is_flag=True, help="Run in this process (no pool).")
@click.option("--dask-local", type=click.IntRange(min=1), default=None, metavar="N",
              help="Start a Dask LocalCluster of N workers on 127.0.0.1.")
@click.option("--scheduler", type=str, default=None, metavar="tcp://HOST:PORT", help="Join an existing Dask cluster.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to reach --scheduler.")
@click.option("--retry-failed", is_flag=True, help="Recompute points that failed before.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=None, help="Points per task (default: automatic).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@format_option(("table", "json"))
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
    executor = "serial" if serial else ("dask" if (dask_local or scheduler) else "pool")
    rep = run_sweep(load_spec(spec_path), store_path, executor=executor, workers=dask_local or workers,
                    scheduler=scheduler, retry_failed=retry_failed, chunk_size=chunk_size, progress=not quiet,
                    connect_timeout=timeout)
    if fmt == "json":
        echo(rep.table(), fmt)
    else:
        click.echo(rep.summary(), nl=False)


def _existing(store_path: str) -> None:
    if not Path(store_path).exists():
        raise click.BadParameter(f"{store_path!r} does not exist", param_hint="STORE")


@sweep.command("status")
@click.argument("store_path", metavar="STORE")
@format_option(("table", "json"))
def sweep_status(store_path: str, fmt: str) -> None:
    """Counts of finished and failed points in a store, and the errors of failed ones."""
    from featmech.sweeps.store import store_status

    _existing(store_path)
    status = store_status(store_path)
    if fmt == "json":
        echo(Table({}, extra=status.as_dict()), fmt)
    else:
        click.echo(status.summary(), nl=False)


@sweep.command("export")
@click.argument("store_path", metavar="STORE")
@click.option("--to", "fmt", type=click.Choice(["parquet", "csv"]), required=True)
@click.option("--out", "out_path", required=True, help="Output file.")
def sweep_export(store_path: str, fmt: str, out_path: str) -> None:
    """Export finished points: one row per point and seed, its parameters then its scalar results."""
    from featmech.sweeps.store import export_store

    _existing(store_path)
    click.echo(export_store(store_path, out_path, fmt).summary(), nl=False)
