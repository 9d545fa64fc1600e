"""``featmech docs [TOPIC]``: the documentation, readable wherever featmech is installed.

The pages are the repository's ``README.md``, ``docs/*.md`` and ``BENCHMARKS.md``. A wheel ships
them as package data in ``featmech/docs/`` (with the figures and ``examples/``), copied there at
build time by ``setup.py``; a source checkout (an editable install, or ``PYTHONPATH=src``) reads
them from the checkout. Either way the repository's files are the only copies.

    featmech docs                 # the topics, one line each
    featmech docs theory          # print a page (markdown)
    featmech docs --path          # the folder holding the pages, figures and examples
"""

from __future__ import annotations

import re
from pathlib import Path

import click

import featmech
from featmech.cli.options import format_option
from featmech.cli.output import echo
from featmech.errors import InputError
from featmech.tables import Table

__all__ = ["docs", "TOPICS", "docs_dir", "page_path", "page_title", "read_page"]

#: topic -> file name, in reading order (``readme`` first, ``architecture`` for contributors)
TOPICS = {
    "readme": "README.md",
    "theory": "theory.md",
    "exact": "exact.md",
    "simulate": "simulate.md",
    "linear": "linear.md",
    "regimes": "regimes.md",
    "phase": "phase.md",
    "explore": "explore.md",
    "networks": "networks.md",
    "diagnose": "diagnose.md",
    "parametrizations": "parametrizations.md",
    "widths": "widths.md",
    "linear-results": "linear_results.md",
    "sweeps": "sweeps.md",
    "cli": "cli.md",
    "architecture": "architecture.md",
    "benchmarks": "BENCHMARKS.md",
}


def docs_dir() -> Path:
    """The folder holding the pages: ``featmech/docs`` of an installed wheel, else the checkout's ``docs/``.

    Returns:
        The folder; in a checkout the README, BENCHMARKS.md and ``examples/`` lie one level up.

    Raises:
        InputError: neither exists (a build without its documentation).
    """
    package = Path(featmech.__file__).resolve().parent
    shipped = package / "docs"
    if (shipped / "theory.md").is_file():
        return shipped
    checkout = package.parent.parent / "docs"  # src/featmech -> the repository
    if (checkout / "theory.md").is_file():
        return checkout
    raise InputError(f"the documentation is missing from this installation ({shipped}); "
                     "reinstall featmech from a wheel or a source checkout")


def _find(name: str) -> Path:
    """A page or folder shipped beside the pages, or (in a checkout) at the repository root."""
    here = docs_dir()
    return here / name if (here / name).exists() else here.parent / name


def page_path(topic: str) -> Path:
    """The file of ``topic`` (a name of :data:`TOPICS`, case-insensitive, ``.md`` allowed).

    Raises:
        InputError: an unknown topic (the message lists the topics).

    >>> page_path("Theory.md").name
    'theory.md'
    """
    key = topic.strip().lower().removesuffix(".md")
    if key not in TOPICS:
        raise InputError(f"TOPIC must be one of {', '.join(TOPICS)}; got {topic!r}")
    return _find(TOPICS[key])


def read_page(topic: str) -> str:
    """The markdown text of ``topic`` (see :func:`page_path`)."""
    return page_path(topic).read_text(encoding="utf-8")


def page_title(text: str) -> str:
    """The first ``# `` heading of a markdown page (empty when it has none).

    >>> page_title("intro\\n# The exact solution\\n## More")
    'The exact solution'
    """
    m = re.search(r"^# (.+)$", text, re.M)
    return m.group(1).strip() if m else ""


def topics_table() -> Table:
    """The topics with their titles and files, and where they live (scalars ``docs``, ``examples``)."""
    names = list(TOPICS)
    paths = [page_path(t) for t in names]
    titles = [page_title(p.read_text(encoding="utf-8")) for p in paths]
    titles[0] = "overview: install, quick start, the commands"  # the README's heading is the name
    return Table({"topic": names, "title": titles, "file": [p.name for p in paths]},
                 scalars={"docs": str(docs_dir()), "examples": str(_find("examples"))})


@click.command()
@click.argument("topic", required=False)
@click.option("--path", "show_path", is_flag=True,
              help="Print the folder holding the pages, the figures and examples/ (spec.toml, my_init.npz).")
@format_option()
def docs(topic: str | None, show_path: bool, fmt: str) -> None:
    """Read the documentation: list the topics, or print one page (markdown).

    \b
    Examples:
      featmech docs                  # the topics
      featmech docs theory           # the model, its exact solution, regimes and mechanisms
      featmech docs cli | less       # the command-line contract
      featmech docs --path           # where the pages, figures and examples are
    """
    if show_path:
        if topic is not None:
            raise InputError("give a TOPIC or --path, not both")
        click.echo(str(docs_dir()))
    elif topic is None:
        echo(topics_table(), fmt)
    elif fmt != "table":
        raise InputError("--format applies to the list of topics; a page is printed as markdown")
    else:
        click.echo(read_page(topic), nl=False)
