"""``featmech sweep``: grids of configurations into a resumable results store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from featmech.cli.options import NonEmptyPath, Seconds, force_option, format_option
from featmech.cli.output import echo
from featmech.tables import Table

__all__ = ["sweep"]


@click.group()
def sweep() -> None:
    """Sweeps over a grid of configurations into a resumable results store (SQLite)."""


class SchedulerAddress(click.ParamType):
    """A Dask scheduler address, checked while the command line is read (not ``''``, not ``inproc://``)."""

    name = "address"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Check one address (:func:`featmech.sweeps.executors.check_scheduler`)."""
        from featmech.errors import InputError
        from featmech.sweeps.executors import check_scheduler

        try:
            return check_scheduler(value)
        except InputError as exc:
            self.fail(str(exc), param, ctx)


#: the default of --timeout, in seconds
TIMEOUT = 10.0


@sweep.command("run")
@click.argument("spec_path", metavar="SPEC.toml", type=NonEmptyPath())
@click.option("--store", "store_path", required=True, type=NonEmptyPath(), help="Results store file (created if missing).")
@click.option("--workers", type=click.IntRange(min=1, max=1024), default=None,
              help="Local process pool size (default: all cores).")
@click.option("--serial", is_flag=True, help="Run in this process (no pool).")
@click.option("--dask-local", type=click.IntRange(min=1, max=1024), default=None, metavar="N",
              help="Start a Dask LocalCluster of N workers on 127.0.0.1.")
@click.option("--scheduler", type=SchedulerAddress(), default=None, metavar="tcp://HOST:PORT",
              help="Join an existing Dask cluster.")
@click.option("--timeout", type=Seconds(), default=None,
              help=f"Dask only: seconds to reach the scheduler, and the longest the cluster may have no worker "
                   f"before the run is aborted.  [default: {TIMEOUT:g}]")
@click.option("--retry-failed", is_flag=True, help="Recompute points that failed before.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=None, help="Points per task (default: automatic).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@format_option(("table", "json"))
@force_option("Allow a spec of more than 1e6 points (grid points × seeds), or more workers than 4 per core.")
def sweep_run(spec_path: str, store_path: str, workers: int | None, serial: bool, dask_local: int | None,
              scheduler: str | None, timeout: float | None, retry_failed: bool, chunk_size: int | None, quiet: bool,
              fmt: str, force: bool) -> None:
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
    if workers is not None and chosen:
        raise click.UsageError({"--serial": "--workers sets the process pool's size; --serial runs in this process",
                                "--dask-local": "--workers sets the process pool's size; give the Dask cluster's "
                                                "as --dask-local N",
                                "--scheduler": "--workers sets the process pool's size; a --scheduler cluster has "
                                               "its own workers"}[chosen[0]])
    executor = "serial" if serial else ("dask" if (dask_local or scheduler) else "pool")
    n, cores = dask_local or workers, os.cpu_count() or 1
    if n is not None and n > max(8, 4 * cores) and not force:
        raise click.UsageError(f"{'--dask-local' if dask_local else '--workers'} {n} would start {n} processes on "
                               f"{cores} cores; pass --force to run it anyway")
    if timeout is not None and executor != "dask":
        raise click.UsageError("--timeout applies to Dask (--dask-local, --scheduler), not to "
                               + ("--serial" if serial else "the process pool"))
    rep = run_sweep(load_spec(spec_path, force=force), store_path, executor=executor, workers=dask_local or workers,
                    scheduler=scheduler, retry_failed=retry_failed, chunk_size=chunk_size, progress=not quiet,
                    connect_timeout=TIMEOUT if timeout is None else timeout, force=force)
    if fmt == "json":
        echo(rep.table(), fmt)
    else:
        click.echo(rep.summary(), nl=False)


def _existing(store_path: str) -> None:
    if not Path(store_path).exists():
        raise click.BadParameter(f"{store_path!r} does not exist", param_hint="STORE")


@sweep.command("status")
@click.argument("store_path", metavar="STORE", type=NonEmptyPath())
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
@click.argument("store_path", metavar="STORE", type=NonEmptyPath())
@click.option("--to", "fmt", type=click.Choice(["parquet", "csv"]), required=True)
@click.option("--out", "out_path", required=True, type=NonEmptyPath(),
              help="Output file (written whole or not at all; never the store itself).")
def sweep_export(store_path: str, fmt: str, out_path: str) -> None:
    """Export finished points: one row per point and seed, its parameters then its scalar results."""
    from featmech.sweeps.store import export_store

    _existing(store_path)
    click.echo(export_store(store_path, out_path, fmt).summary(), nl=False)
