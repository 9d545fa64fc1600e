"""Commands on one configuration of the linear network: ``trajectory``, ``simulate``, ``explain``, ``canonical``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import click

from featmech.analysis.canonical import run_canonical
from featmech.analysis.regimes import Thresholds
from featmech.analysis.runs import exact_run, iid_init, simulated_run
from featmech.cli.options import (
    check_cost,
    compose,
    force_option,
    format_option,
    hyper_options,
    init_options,
    optimizer_options,
    option,
    out_option,
    parse_times,
    pick,
    threshold_options,
    time_options,
)
from featmech.cli.output import check_out_dir, echo, figures, make_dir, write
from featmech.params import GROUPS, PARAMETERS
from featmech.tables import Table
from featmech.theory.config import Gram, Hyper, Init
from featmech.theory.inits import load_npz

__all__ = ["trajectory", "simulate", "explain", "canonical", "initial", "STEP_SECONDS", "ROW_SECONDS", "ROW_BYTES"]

#: the size guard's estimates (measured on 2 busy cores, rounded up): seconds per simulated step,
#: and seconds and bytes per printed row of a trajectory (the evaluation and its rendering)
STEP_SECONDS = 1.5e-5
ROW_SECONDS = 3e-5
ROW_BYTES = 1000.0


def initial(values: Mapping[str, Any]) -> tuple[Gram | Init, dict[str, Any]]:
    """The init of a command: the vectors of ``--init FILE``, or an exact Gram sample of the random init.

    Arguments:
        values: the command's option values (``init`` and the parameters of the ``init`` group,
            ``None`` where not given).

    Returns:
        The init (:class:`Init` from a file, :class:`Gram` statistics of a random init) and the
        configuration that made it (for the JSON ``config``).

    Raises:
        click.UsageError: ``--init`` together with options of the random init.
        InputError: an unreadable init file (:func:`featmech.theory.inits.load_npz`).
    """
    given = [PARAMETERS[n].flag for n in GROUPS["init"] if values.get(n) is not None]
    if values.get("init") is not None:
        if given:
            raise click.UsageError(f"--init FILE replaces the random init; do not combine it with {', '.join(given)}")
        init = load_npz(values["init"])
        return init, {"init": values["init"], "width": init.width}
    cfg = {n: PARAMETERS[n].default if values.get(n) is None else values[n] for n in GROUPS["init"]}
    return iid_init(cfg), cfg


@click.command()
@compose(init_options, hyper_options, format_option(), time_options, threshold_options,
         force_option("Allow --points over about 2e6 (the size guard: time and memory of the output)."))
def trajectory(**kw: Any) -> None:
    """Exact gradient-flow trajectory, with its regime and mechanism.

    \b
    Examples:
      featmech trajectory --width 100000 --eta-u 1e5 --eta-w 1e5 --kappa 1e-5   # mean-field
      featmech trajectory --width 1000 --rho 0.9 --kappa 1e-3 --target 0.05 --format json
      featmech trajectory --init my_init.npz --times 0,0.5,1,2,inf
    """
    th = Thresholds(**pick(kw, "thresholds"))
    times = parse_times(kw["times"], kw["t_max"])
    if times is None:
        n = kw["points"]
        check_cost(kw["force"], f"--points {n}", seconds=n * ROW_SECONDS, memory=n * ROW_BYTES)
    init, cfg = initial(kw)
    hyper = pick(kw, "hyper")
    run = exact_run(init, Hyper(**hyper), times, t_max=kw["t_max"], points=kw["points"], thresholds=th)
    echo(run.table({**cfg, **hyper}), kw["fmt"])


@click.command()
@compose(init_options, hyper_options, format_option(), optimizer_options, threshold_options,
         force_option("Allow runs estimated over 10 minutes or 2 GB (--steps over about 4e7, or too many records)."))
def simulate(**kw: Any) -> None:
    """Discrete-time GD / SGD / momentum / weight decay, exact at any width in O(1) per step.

    \b
    Examples:
      featmech simulate --width 1000000 --kappa 1e-3 --lr 0.3 --steps 2000
      featmech simulate --width 1000 --sigma-u 0.0707 --sigma-w 0.0707 --lr 0.3 --steps 300 --every 1  # catapult
      featmech simulate --batch-size 32 --noise 0.1 --momentum 0.9 --lr 1e-4 --steps 10000
    """
    th = Thresholds(**pick(kw, "thresholds"))
    steps, every = kw["steps"], kw["every"]
    records = steps // (every or max(1, steps // 100)) + 1
    check_cost(kw["force"], f"--steps {steps}" + (f" --every {every}" if every else ""), seconds=steps * STEP_SECONDS,
               memory=records * ROW_BYTES, detail=f" (about {STEP_SECONDS:g} s per step, {records:,} records)")
    init, cfg = initial(kw)
    hyper = pick(kw, "hyper")
    run = simulated_run(init, Hyper(**hyper), **pick(kw, "optimizer"), seed=cfg.get("seed", 0), thresholds=th)
    echo(run.table({**cfg, **hyper, **run.settings}), kw["fmt"])


@click.command()
@compose(init_options, hyper_options, format_option(("table", "json")), threshold_options)
def explain(**kw: Any) -> None:
    """Regime and mechanism of one configuration, with a short account of why.

    \b
    Examples:
      featmech explain --width 100000 --eta-u 1e5 --eta-w 1e5 --kappa 1e-5
      featmech explain --width 1000 --rho 0.9 --kappa 1e-3 --target 0.05 --format json
    """
    th = Thresholds(**pick(kw, "thresholds"))
    init, cfg = initial(kw)
    hyper = pick(kw, "hyper")
    run = exact_run(init, Hyper(**hyper), thresholds=th)
    text = run.explanation
    if kw["fmt"] == "table":
        click.echo(text)
        return
    cl = run.classification
    echo(Table({}, scalars={"regime": cl.regime, "mechanism": cl.mechanism, "explanation": text, "rate": run.rate},
               extra={"classification": cl.as_dict(), "config": {**cfg, **hyper}}), kw["fmt"])


#: the columns of the canonical cases shown to people (JSON and CSV have them all)
_CANONICAL_TEXT = ("case", "expected", "regime", "mechanism", "ntk_max_deviation", "alignment_start", "alignment_end",
                   "balance_change")


@click.command()
@option("seed", help="Seed of the random inits.")
@compose(format_option(), threshold_options,
         out_option("Write a figure per case (exact flow as lines, simulated GD as points) and canonical.json."))
def canonical(seed: int, fmt: str, eps: float, delta: float, factor: float, out_dir: str | None) -> None:
    """The five canonical cases of the theory (§5; `featmech docs theory`), solved exactly and classified.

    \b
    Examples:
      featmech canonical --format json
      featmech canonical --out out/canonical
    """
    check_out_dir(out_dir)
    report = run_canonical(seed, Thresholds(eps, delta, factor))
    table = report.table()
    files: list[Path] = []
    if out_dir is not None:
        out = make_dir(out_dir)
        from featmech.report.html import canonical_figures

        files += figures(lambda: canonical_figures(out, report=report)[0])
        files.append(write(table, out / "canonical.json"))
    if fmt != "table":
        echo(table, fmt)
        return
    click.echo(Table({k: table.columns[k] for k in _CANONICAL_TEXT}).to_text(), nl=False)
    click.echo(f"all cases as the theory (§5) states: {report.all_agree}")
    for f in files:
        click.echo(f"wrote {f}")
