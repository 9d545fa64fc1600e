"""``featmech experiment``: the networks layer (needs the torch extra).

The experiments run for minutes: each run is reported on stderr as it finishes (with its outcome
and an ETA; ``--quiet`` for none), and ``init-scale`` / ``lr-ratio`` estimate their time first,
asking for ``--force`` above an hour (:data:`STEP_SECONDS`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import click

from featmech.analysis.regimes import Thresholds
from featmech.cli.options import (
    check_cost,
    compose,
    format_option,
    network_options,
    option,
    out_option,
    parse_floats,
    pick,
)
from featmech.cli.output import (
    check_out_dir,
    echo,
    figures,
    make_dir,
    write,
    write_json,
)
from featmech.sweeps.progress import Progress
from featmech.tables import Table

__all__ = ["experiment", "experiments_module", "progress_reporter", "STEP_SECONDS", "LONG_EXPERIMENT"]

#: the size guard's seconds per SGD step of one network run (measured on 2 busy cores with the
#: bundled digits, rounded up; MNIST and CIFAR-10 count twice): (arch, quick) -> seconds
STEP_SECONDS = {("mlp", True): 4e-3, ("mlp", False): 2e-2, ("cnn", True): 1e-2, ("cnn", False): 5e-2}
#: the estimated seconds above which ``init-scale`` / ``lr-ratio`` ask for ``--force`` (the
#: default full runs take 6 to 9 minutes)
LONG_EXPERIMENT = 3600.0


def progress_reporter(label: str, enabled: bool = True) -> Callable[[int, int, str], None] | None:
    """The ``progress(done, total, what)`` callback of the experiments, drawn on stderr.

    A line per finished run (its outcome and the ETA); on a terminal the run that begins is shown
    too. ``None`` when not ``enabled`` (``--quiet``).
    """
    if not enabled:
        return None
    state: dict[str, Progress] = {}

    def report(done: int, total: int, what: str) -> None:
        prog = state.get("p")
        if prog is None:
            prog = state["p"] = Progress(total, label=label, unit="runs", every=0.0)
        if done > prog.done:
            prog.update(done - prog.done, note=what)
        else:
            prog.start(what)

    return report


def _check_time(kw: Mapping[str, Any], values: Sequence[float], flag: str) -> None:
    """The size guard of a network sweep: values × seeds × steps × seconds per step; over
    :data:`LONG_EXPERIMENT` needs --force."""
    steps = kw["steps"] if kw["steps"] is not None else (150 if kw["quick"] else 1500)
    per = STEP_SECONDS[(kw["arch"], bool(kw["quick"]))] * (1 if kw["dataset"] == "digits" else 2)
    runs = len(values) * kw["n_seeds"]
    check_cost(kw["force"], f"{len(values)} {flag} values × --seeds {kw['n_seeds']} × --steps {steps}",
               seconds=runs * steps * per, limit=LONG_EXPERIMENT, detail=f" (about {per:g} s per step)")


def experiments_module() -> Any:
    """:mod:`featmech.nets.experiments`, imported when a command needs it (it imports PyTorch).

    Raises:
        ImportError: the torch extra is not installed (``main`` prints its one line, exit 1).
    """
    import featmech.nets.experiments as ex

    return ex


@click.group()
def experiment() -> None:
    """Experiments on nonlinear and deep networks (needs the torch extra: pip install 'featmech[torch]')."""


def _write_outputs(out_dir: str | None, name: str, result: Any, plot: Callable[[Path], list[Path]]) -> list[Path]:
    """``NAME.json`` (``result.as_dict()``), ``NAME.csv`` (``result.summary()``: one row of scalars
    per run) and the figures."""
    if out_dir is None:
        return []
    out = make_dir(out_dir)
    files = [write_json(result.as_dict(), out / f"{name}.json"), write(result.summary(), out / f"{name}.csv")]
    files += figures(lambda: plot(out))
    return files


def _present(result: Any, json_obj: Mapping[str, Any], fmt: str, files: list[Path]) -> None:
    if fmt == "json":
        echo(Table({}, extra=json_obj), "json")
        return
    echo(result.table(), "table")
    for f in files:
        click.echo(f"wrote {f}")


@experiment.command("activations")
@click.option("--case", type=click.Choice(["alignment", "disalignment"]), default="alignment", show_default=True)
@click.option("--activation", "acts", multiple=True, default=None,
              help="linear, relu, leaky_relu, tanh, sigmoid, silu (swish); repeatable; default: all.")
@option("seed")
@option("quick")
@compose(out_option("Write JSON, CSV and figures here."), format_option(("table", "json")))
@compose(*(option(n) for n in ("eps", "delta", "factor")))
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def experiment_activations(case: str, acts: Sequence[str], seed: int, quick: bool, out_dir: str | None, fmt: str,
                           eps: float, delta: float, factor: float, quiet: bool) -> None:
    """ζ(t) of the two-layer net f(x) = κ Σ u_i σ(w_i x) for each activation, exact theory for linear.

    \b
    Examples:
      featmech experiment activations --case alignment --out out/act
      featmech experiment activations --case disalignment --activation linear --format json
    """
    check_out_dir(out_dir)
    ex = experiments_module()
    result = ex.activations_experiment(case, list(acts) or list(ex.ALL_ACTIVATIONS), seed=seed, quick=quick,
                                       thresholds=Thresholds(eps, delta, factor),
                                       progress=progress_reporter("experiment activations", not quiet))

    def plot(out: Path) -> list[Path]:
        from featmech.report.plots import plot_activations

        return plot_activations([r.as_dict() for r in result], out / f"activations_{case}")

    files = _write_outputs(out_dir, f"activations_{case}", result, plot)
    _present(result, result.as_dict(), fmt, files)


def _network_sweep(result: Any, name: str, out_dir: str | None, fmt: str, xlabel: str) -> None:
    rows = result.as_dict(history=False)["rows"]

    def plot(out: Path) -> list[Path]:
        from featmech.report.plots import plot_sweep

        return plot_sweep(rows, result.parameter, out / name, xlabel)

    files = _write_outputs(out_dir, name, result, plot)
    _present(result, {"rows": rows}, fmt, files)


def _seeds(n: int) -> list[int]:
    return list(range(n))


@experiment.command("init-scale")
@click.option("--scales", type=str, default="0.1,0.3,1,3,10", show_default=True, help="Init scales, comma-separated.")
@option("lr", default=0.05, help="SGD step size.")
@network_options
def experiment_init_scale(scales: str, lr: float, **kw: Any) -> None:
    """Train an MLP (or CNN) per init scale: accuracy, NTK change and per-pair mechanism.

    \b
    Examples:
      featmech experiment init-scale --dataset digits --scales 0.1,0.3,1,3,10 --out out/scale
      featmech experiment init-scale --dataset mnist --data-dir ~/data/mnist --max-train 5000
    """
    _run_network_experiment("init-scale", "init_scale", parse_floats(scales, "--scales"), "--scales", lr, kw,
                            "init scale (weights ~ N(0, scale²/fan-in))")


@experiment.command("lr-ratio")
@click.option("--ratios", type=str, default="0.01,0.1,1,10,100", show_default=True,
              help="Ratios η_out/η_hidden, comma-separated.")
@option("lr", default=0.02, help="SGD step size of the hidden layers.")
@network_options
def experiment_lr_ratio(ratios: str, lr: float, **kw: Any) -> None:
    """Train over the output-to-hidden learning-rate ratio η_out/η_hidden, where rescaling is expected.

    \b
    Example:
      featmech experiment lr-ratio --dataset digits --out out/lr
    """
    _run_network_experiment("lr-ratio", "lr_ratio", parse_floats(ratios, "--ratios"), "--ratios", lr, kw,
                            "learning-rate ratio η_out / η_hidden")


def _run_network_experiment(command: str, name: str, values: list[float], option_name: str, lr: float,
                            kw: dict[str, Any], xlabel: str) -> None:
    """Check the size and the output directory, run ``<name>_experiment`` with progress, present it."""
    _check_time(kw, values, option_name)
    check_out_dir(kw["out_dir"])
    run = getattr(experiments_module(), f"{name}_experiment")
    result = run(values, seeds=_seeds(kw["n_seeds"]), lr=lr, thresholds=Thresholds(**pick(kw, "thresholds")),
                 **_network_kwargs(kw), progress=progress_reporter(f"experiment {command}", not kw["quiet"]))
    _network_sweep(result, name, kw["out_dir"], kw["fmt"], xlabel)


def _network_kwargs(kw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: kw[k] for k in ("dataset", "data_dir", "arch", "loss", "quick", "steps", "max_train")}


@experiment.command("evidence")
@click.option("--combo", "combos", multiple=True, default=None, metavar="DATASET/ARCH",
              help="digits/mlp, mnist1d/mlp, mnist1d/conv1d, digits/conv1d; repeatable; default: the first three.")
@click.option("--axis", "axes", multiple=True, type=click.Choice(["init_scale", "lr_ratio", "width"]), default=None,
              help="The axes to vary (repeatable; default: all three, at the default values).")
@click.option("--seeds", type=click.IntRange(1, 100), default=3, show_default=True, help="Seeds 0 … N−1.")
@click.option("--steps", type=click.IntRange(1), default=300, show_default=True, help="SGD steps per run.")
@click.option("--n-train", type=click.IntRange(16), default=1000, show_default=True, help="Training examples.")
@compose(out_option("Write evidence_runs.csv, evidence_verdicts.csv, evidence.json and the figures here."),
         format_option(("table", "json", "csv")))
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def experiment_evidence(combos: Sequence[str], axes: Sequence[str], seeds: int, steps: int, n_train: int,
                        out_dir: str | None, fmt: str, quiet: bool) -> None:
    """Verdicts of diagnose on digits and MNIST-1D: MLP and 1-D CNN over init scale, η_out/η_hidden, width.

    Prints one row per point (majority verdict over the seeds and its agreement, test accuracy,
    NTK change, largest linearization gap, Δζ per pair); --format csv/json give the same rows.
    The default grid (81 runs) took 18 minutes on one thread of a shared 2-core machine.

    \b
    Examples:
      featmech experiment evidence --combo mnist1d/mlp --axis init_scale --seeds 1 --steps 200
      featmech experiment evidence --out out/evidence
    """
    check_out_dir(out_dir)
    from featmech.errors import InputError
    from featmech.nets.evidence import EvidenceConfig, run_evidence

    kw: dict[str, Any] = {"seeds": tuple(range(seeds)), "steps": steps, "n_train": n_train}
    if combos:
        pairs = [tuple(c.split("/", 1)) for c in combos]
        if any(len(p) != 2 for p in pairs):
            raise InputError(f"--combo must be DATASET/ARCH, got {', '.join(combos)}")
        kw["combos"] = tuple(pairs)
    if axes:
        kw["axes"] = {a: EvidenceConfig().axes[a] for a in dict.fromkeys(axes)}
    kw["batch_size"] = min(128, n_train)
    kw["probe"] = min(32, n_train)
    result = run_evidence(EvidenceConfig(**kw), progress=progress_reporter("experiment evidence", not quiet))
    files: list[Path] = []
    if out_dir is not None:
        out = make_dir(out_dir)
        files = [write(result.table(), out / "evidence_runs.csv"), write(result.verdicts(), out / "evidence_verdicts.csv"),
                 write_json(result.as_dict(), out / "evidence.json")]

        def plot() -> list[Path]:
            from featmech.report.evidence_plots import plot_evidence

            return [p for png, _ in plot_evidence(result.as_dict(), out) for p in (png, png.with_suffix(".svg"))]

        files += figures(plot)
    if fmt == "json":
        echo(Table({}, extra=result.as_dict()), "json")
        return
    echo(result.verdicts(), fmt)
    if fmt == "table":
        for f in files:
            click.echo(f"wrote {f}")
