"""Commands on one configuration of the linear network: ``trajectory``, ``simulate``, ``explain``, ``canonical``."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import click

from featmech.analysis.canonical import run_canonical
from featmech.analysis.regimes import Thresholds, classify_solution, classify_trajectory
from featmech.analysis.regimes import explain as explain_classification
from featmech.analysis.solving import exact_solution
from featmech.cli.options import (
    compose,
    format_option,
    hyper_options,
    init_options,
    optimizer_options,
    out_option,
    parse_times,
    pick,
    threshold_options,
    time_options,
)
from featmech.cli.output import echo, figures, make_dir, write
from featmech.errors import InputError
from featmech.params import GROUPS, PARAMETERS
from featmech.tables import Table
from featmech.theory.config import Gram, Hyper, Init
from featmech.theory.inits import load_npz, sample_gram
from featmech.theory.simulate import run_defaults, simulate_gram

__all__ = ["trajectory", "simulate", "explain", "canonical", "TRAJ_FIELDS", "read_init", "initial", "gram"]

#: the observables of a trajectory, in the order of the columns
TRAJ_FIELDS = ("output", "loss", "ntk", "alignment", "norm_u", "norm_w")

_NPY_MAGIC = b"\x93NUMPY"


def read_init(path: str) -> Init:
    """The init stored in ``path`` (an ``.npz`` with arrays ``u0``, ``w0``).

    Arguments:
        path: the file given to ``--init``.

    Returns:
        The init ``(u0, w0)``.

    Raises:
        InputError: the file is missing or a directory, is a single ``.npy`` array, is not a zip archive, lacks
            ``u0``/``w0`` or holds invalid vectors.
    """
    if os.path.isdir(path):
        raise InputError(f"init file {path!r} is a directory; expected an .npz with arrays u0 and w0")
    if os.path.isfile(path) and not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            head = fh.read(len(_NPY_MAGIC))
        if head == _NPY_MAGIC:
            raise InputError(f"init file {path!r} is a single .npy array; expected an .npz with arrays u0 and w0 "
                             "(numpy.savez(path, u0=..., w0=...))")
        raise InputError(f"init file {path!r} is not a valid .npz file (expected a zip archive with arrays u0 and w0)")
    u0, w0 = load_npz(path)
    return Init(u0, w0)


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
        InputError: an unreadable init file.
    """
    given = [PARAMETERS[n].flag for n in GROUPS["init"] if values.get(n) is not None]
    if values.get("init") is not None:
        if given:
            raise click.UsageError(f"--init FILE replaces the random init; do not combine it with {', '.join(given)}")
        init = read_init(values["init"])
        return init, {"init": values["init"], "width": init.width}
    cfg = {n: PARAMETERS[n].default if values.get(n) is None else values[n] for n in GROUPS["init"]}
    g = sample_gram(cfg["width"], cfg["sigma_u"], cfg["sigma_w"], rho=cfg["rho"], seed=cfg["seed"])
    return g, cfg


def gram(init: Gram | Init) -> Gram:
    """The Gram statistics of an init."""
    return init.gram if isinstance(init, Init) else init


@click.command()
@compose(init_options, hyper_options, format_option(), time_options, threshold_options)
def trajectory(**kw: Any) -> None:
    """Exact gradient-flow trajectory, with its regime and mechanism.

    \b
    Examples:
      featmech trajectory --width 100000 --eta-u 1e5 --eta-w 1e5 --kappa 1e-5   # mean-field
      featmech trajectory --width 1000 --rho 0.9 --kappa 1e-3 --target 0.05 --format json
      featmech trajectory --init my_init.npz --times 0,0.5,1,2,inf
    """
    th = Thresholds(**pick(kw, "thresholds"))
    init, cfg = initial(kw)
    sol = exact_solution(init, Hyper(**pick(kw, "hyper")))
    st = sol(parse_times(kw["times"], kw["t_max"], kw["points"], float(sol.rate)))
    cl = classify_solution(sol, th)
    cfg.update(pick(kw, "hyper"))
    echo(Table({"t": st.t, **{n: getattr(st, n) for n in TRAJ_FIELDS}},
               scalars={"regime": cl.regime, "mechanism": cl.mechanism, "ntk_ratio": float(sol.ntk_ratio),
                        "rate": float(sol.rate)},
               extra={"classification": cl.as_dict(), "config": cfg, "conserved": float(st.conserved.ravel()[0]),
                      "branch": sol.branch}), kw["fmt"])


@click.command()
@compose(init_options, hyper_options, format_option(), optimizer_options, threshold_options)
def simulate(**kw: Any) -> None:
    """Discrete-time GD / SGD / momentum / weight decay, exact at any width in O(1) per step.

    \b
    Examples:
      featmech simulate --width 1000000 --kappa 1e-3 --lr 0.3 --steps 2000
      featmech simulate --width 1000 --sigma-u 0.0707 --sigma-w 0.0707 --lr 0.3 --steps 300 --every 1  # catapult
      featmech simulate --batch-size 32 --noise 0.1 --momentum 0.9 --lr 1e-4 --steps 10000
    """
    th = Thresholds(**pick(kw, "thresholds"))
    init, cfg = initial(kw)
    g = gram(init)
    hyper = pick(kw, "hyper")
    steps = kw["steps"]
    K0, lr, every = run_defaults(g, steps=steps, lr=kw["lr"], every=kw["every"], eta_u=hyper["eta_u"],
                                 eta_w=hyper["eta_w"], kappa=hyper["kappa"], data_var=hyper["data_var"])
    opt = {**pick(kw, "optimizer"), "lr": lr, "every": every}
    res = simulate_gram(g.uu, g.ww, g.uw, area=g.area, **hyper, **opt, seed=cfg.get("seed", 0))
    data = res.truncated()
    cl = classify_trajectory(res.ntk, res.alignment, res.norm_u, res.norm_w, eta_u=hyper["eta_u"],
                             eta_w=hyper["eta_w"], diverged=bool(res.diverged), output=res.output, thresholds=th)
    cfg.update(hyper, **opt)
    echo(Table({"step": data["step"], **{n: data[n] for n in TRAJ_FIELDS}},
               scalars={"diverged": data["diverged"], "diverged_at": data["diverged_at"], "regime": cl.regime,
                        "mechanism": cl.mechanism, "lr": lr, "lr_times_ntk0": lr * K0},
               extra={"classification": cl.as_dict(), "config": cfg}), kw["fmt"])


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
    sol = exact_solution(init, Hyper(**pick(kw, "hyper")))
    cl = classify_solution(sol, th)
    text = explain_classification(cl, rate=float(sol.rate))
    if kw["fmt"] == "table":
        click.echo(text)
        return
    cfg.update(pick(kw, "hyper"))
    echo(Table({}, scalars={"regime": cl.regime, "mechanism": cl.mechanism, "explanation": text,
                            "rate": float(sol.rate)},
               extra={"classification": cl.as_dict(), "config": cfg}), kw["fmt"])


#: the columns of the canonical cases shown to people (JSON and CSV have them all)
_CANONICAL_TEXT = ("case", "expected", "regime", "mechanism", "ntk_max_deviation", "alignment_start", "alignment_end",
                   "balance_change")


@click.command()
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the random inits.")
@compose(format_option(), threshold_options,
         out_option("Write a figure per case (exact flow as lines, simulated GD as points) and canonical.json."))
def canonical(seed: int, fmt: str, eps: float, delta: float, factor: float, out_dir: str | None) -> None:
    """The five canonical cases of docs/theory.md §5, solved exactly and classified.

    \b
    Examples:
      featmech canonical --format json
      featmech canonical --out out/canonical
    """
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
    click.echo(f"all cases as docs/theory.md states: {report.all_agree}")
    for f in files:
        click.echo(f"wrote {f}")
