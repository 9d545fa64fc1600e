"""Build step: ship the documentation inside the package.

All metadata lives in pyproject.toml; this file only extends ``build_py`` so that a wheel carries
the repository's documentation as package data under ``featmech/docs/``:

- ``README.md``, ``BENCHMARKS.md`` and ``docs/*.md`` (the pages ``featmech docs TOPIC`` prints),
- ``docs/figures/`` (the images the pages show),
- ``examples/`` (the sweep spec and the init file the README's commands use).

The repository's files are the only copies (one source of truth): they are copied at build time,
never committed twice. In the packaged README the links ``docs/PAGE.md`` become ``PAGE.md``, since
the pages lie side by side there. An editable install reads them from the checkout instead
(``featmech.cli.docs.docs_dir``). A build without the pages (a tree missing ``docs/``) fails.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: the directories copied whole, source -> destination under featmech/docs
TREES = {"docs/figures": "figures", "examples": "examples"}
#: file suffixes of the copied trees (no caches, no stray files)
SUFFIXES = {".png", ".svg", ".toml", ".npz", ".py", ".md"}


def copy_docs(dest: Path) -> list[Path]:
    """Copy the documentation into ``dest`` (created); returns the files written.

    Raises:
        FileNotFoundError: the tree has no ``docs/theory.md`` or no ``README.md``.
    """
    pages = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]
    for required in (ROOT / "README.md", ROOT / "docs" / "theory.md"):
        if not required.is_file():
            raise FileNotFoundError(f"{required}: the documentation must be shipped with the package")
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for page in pages:
        if not page.is_file():
            continue
        text = page.read_text(encoding="utf-8")
        if page.name == "README.md":
            text = text.replace("](docs/", "](")
        target = dest / page.name
        target.write_text(text, encoding="utf-8")
        written.append(target)
    for source, name in TREES.items():
        for file in sorted((ROOT / source).rglob("*")):
            if file.is_file() and file.suffix in SUFFIXES and "__pycache__" not in file.parts:
                target = dest / name / file.relative_to(ROOT / source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, target)
                written.append(target)
    return written


class BuildWithDocs(build_py):
    """``build_py`` that also copies the documentation into ``featmech/docs`` of the build."""

    def run(self) -> None:
        super().run()
        if not getattr(self, "editable_mode", False):  # an editable install reads the checkout
            copy_docs(Path(self.build_lib) / "featmech" / "docs")


setup(cmdclass={"build_py": BuildWithDocs})
