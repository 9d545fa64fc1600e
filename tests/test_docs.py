"""The documents tell the truth and run as written.

- every ```python block of the README and docs/ runs (a fresh namespace per page, the page's
  blocks in order, in a scratch directory);
- every command of their ```bash blocks exists and accepts the options shown: cheap ``featmech``
  commands run as written (small sizes, in a scratch directory holding a copy of ``examples/``),
  the expensive ones (experiments, the full report, the explorer's server, Dask clusters) get ``--help`` appended, ``make``
  targets exist in the Makefile, ``python`` scripts run;
- every example in the commands' own ``--help`` names existing commands and options;
- every ```toml block is a valid sweep spec, and so is ``examples/spec.toml``;
- ``examples/my_init.npz`` is what ``examples/make_init.py`` writes;
- ``featmech docs`` lists every page and prints it; a wheel built from the tree ships the pages
  and ``featmech docs`` reads them there;
- nothing points to a document outside the repository.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import click
import numpy as np
import pytest

from featmech.cli.docs import TOPICS, page_title
from featmech.cli.main import cli, main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
BASH = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
TOML = re.compile(r"^```toml\n(.*?)^```", re.S | re.M)


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _pages_with(pattern: re.Pattern[str]) -> list[Path]:
    return [p for p in PAGES if pattern.search(_text(p))]


# --------------------------------------------------------------------------------------------------
# python blocks


@pytest.mark.parametrize("page", _pages_with(BLOCK), ids=lambda p: p.name)
def test_python_blocks_run(page: Path, tmp_path: Path) -> None:
    if "featmech.nets" in _text(page):
        pytest.importorskip("torch")
    ns: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        import matplotlib

        matplotlib.use("Agg")
        for i, m in enumerate(BLOCK.finditer(_text(page))):
            code = m.group(1)
            line = _text(page)[: m.start()].count("\n") + 2
            try:
                exec(compile(code, f"{page.name}:{line}", "exec"), ns)
            except Exception as exc:  # pragma: no cover - the failure message is the point
                raise AssertionError(f"{page.name}, python block {i + 1} (line {line}) fails: "
                                     f"{type(exc).__name__}: {exc}") from exc
    finally:
        os.chdir(cwd)


# --------------------------------------------------------------------------------------------------
# bash blocks

#: commands too long or needing services to run in the suite: checked with ``--help`` appended
#: (the command and every option shown must exist). Everything else runs as written.
EXPENSIVE = (re.compile(r"^featmech (experiment|reproduce|explore)\b"), re.compile(r"--dask-local|--scheduler"))


def _commands(page: Path) -> list[tuple[int, str]]:
    """(line number, command) of every command in the page's bash blocks, comments stripped."""
    text = _text(page)
    out: list[tuple[int, str]] = []
    for m in BASH.finditer(text):
        first = text[: m.start()].count("\n") + 2
        joined = m.group(1).replace("\\\n", " ")
        for k, raw in enumerate(joined.splitlines()):
            words = shlex.split(raw, comments=True)
            if words:
                out.append((first + k, shlex.join(words)))
    return out


def _pages_with_commands() -> list[Path]:
    return [p for p in PAGES if _commands(p)]


def _makefile_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))


def _run_featmech(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


@pytest.mark.parametrize("page", _pages_with_commands(), ids=lambda p: p.name)
def test_bash_blocks_run(page: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Each page's commands, in order, in one scratch directory with ``examples/`` (and the example
    spec as ``spec.toml``, the generic name the pages use for "your spec")."""
    import matplotlib

    matplotlib.use("Agg")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copyfile(ROOT / "examples" / "spec.toml", tmp_path / "spec.toml")
    monkeypatch.chdir(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    for line, command in _commands(page):
        where = f"{page.name}:{line}: {command}"
        words = shlex.split(command)
        if words[0] == "featmech":
            expensive = any(p.search(command) for p in EXPENSIVE)
            argv = words[1:] + (["--help"] if expensive else [])
            rc, out = _run_featmech(argv, capsys)
            assert rc == 0, f"{where} exits {rc}: {out[-800:]}"
        elif words[0] == "make":
            missing = set(words[1:]) - _makefile_targets()
            assert not missing, f"{where}: no Makefile target {missing}"
        elif words[0] == "python":
            proc = subprocess.run([sys.executable, *words[1:]], env=env, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, f"{where} exits {proc.returncode}: {proc.stderr[-800:]}"
        else:
            pytest.fail(f"{where}: a command this test does not know how to check; teach it")


def _leaf_commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out: list[tuple[tuple[str, ...], click.Command]] = []
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            out += _leaf_commands(cmd, path + (name,))
        else:
            out.append((path + (name,), cmd))
    return out


@pytest.mark.parametrize("path", [p for p, _ in _leaf_commands()], ids=" ".join)
def test_help_examples_exist(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    """The examples in a command's ``--help`` name existing commands and options."""
    rc, out = _run_featmech([*path, "--help"], capsys)
    assert rc == 0
    examples = [shlex.split(line.strip(), comments=True) for line in out.splitlines()
                if line.strip().startswith("featmech ")]
    for words in examples:
        rc, err = _run_featmech(words[1:] + ["--help"], capsys)
        assert rc == 0, f"featmech {' '.join(path)} --help shows `{shlex.join(words)}`, which fails: {err[-400:]}"


# --------------------------------------------------------------------------------------------------
# sweep specs and example files


@pytest.mark.parametrize("page", _pages_with(TOML), ids=lambda p: p.name)
def test_toml_blocks_are_valid_specs(page: Path) -> None:
    from featmech.sweeps.sweep import parse_spec

    for m in TOML.finditer(_text(page)):
        parse_spec(tomllib.loads(m.group(1)))


def test_example_spec_is_valid_and_cheap() -> None:
    from featmech.sweeps.registry import get
    from featmech.sweeps.sweep import load_spec, points

    spec = load_spec(ROOT / "examples" / "spec.toml")
    assert get(spec.computation).cheap and len(points(spec)) <= 1000


def test_example_init_is_what_make_init_writes(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "fresh.npz"
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_init.py"), str(out)], env=env, check=True,
                   timeout=120)
    with np.load(ROOT / "examples" / "my_init.npz", allow_pickle=False) as shipped, \
            np.load(out, allow_pickle=False) as fresh:
        assert sorted(shipped.files) == sorted(fresh.files) == ["u0", "w0"]
        for name in ("u0", "w0"):
            np.testing.assert_array_equal(shipped[name], fresh[name])


# --------------------------------------------------------------------------------------------------
# featmech docs, and the docs inside a wheel

SHIPPED_PAGES = sorted(["README.md", "BENCHMARKS.md", *(p.name for p in (ROOT / "docs").glob("*.md"))])


def test_every_page_is_a_topic() -> None:
    assert sorted(TOPICS.values()) == SHIPPED_PAGES


def test_docs_command(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _run_featmech(["docs", "--format", "csv"], capsys)
    assert rc == 0
    assert [row.split(",")[0] for row in out.strip().splitlines()[1:]] == list(TOPICS)
    for topic, name in TOPICS.items():
        rc, out = _run_featmech(["docs", topic], capsys)
        source = ROOT / name if name in ("README.md", "BENCHMARKS.md") else ROOT / "docs" / name
        assert rc == 0 and out == source.read_text(encoding="utf-8"), topic
    assert page_title(_text(ROOT / "docs" / "theory.md")).startswith("Theory")
    rc, out = _run_featmech(["docs", "THEORY.MD"], capsys)
    assert rc == 0 and out.startswith("# Theory")
    rc, out = _run_featmech(["docs", "--path"], capsys)
    assert rc == 0 and (Path(out.strip()) / "theory.md").is_file()
    rc, out = _run_featmech(["docs", "nonsense"], capsys)
    assert rc == 2 and out.count("\n") == 1 and "TOPIC must be one of readme, theory" in out
    rc, out = _run_featmech(["docs", "theory", "--format", "json"], capsys)
    assert rc == 2 and "--format" in out


def test_top_level_help_says_how_to_read_the_docs(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _run_featmech(["--help"], capsys)
    assert rc == 0 and "featmech docs theory" in out and "featmech docs --path" in out
    assert "docs/" not in out.split("Options:")[0]  # no pointer to a folder a pip user lacks


def _setuptools_can_build_wheels() -> bool:
    try:
        major, minor = (int(x) for x in importlib.metadata.version("setuptools").split(".")[:2])
    except importlib.metadata.PackageNotFoundError:
        return False
    return (major, minor) >= (77, 0)


@pytest.mark.skipif(not _setuptools_can_build_wheels(),
                    reason="building the wheel needs setuptools >= 77 (the test extra installs it)")
def test_wheel_ships_the_docs(tmp_path: Path) -> None:
    """``pip wheel`` on a copy of the tree: the pages, figures and examples are in the wheel, and
    ``featmech docs`` run from the unpacked wheel (no checkout on the path) prints them."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "BENCHMARKS.md", "constraints.txt"):
        shutil.copyfile(ROOT / name, tree / name)
    for name in ("src", "docs", "examples"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist")], cwd=tree, check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("featmech-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for page in SHIPPED_PAGES:
            assert f"featmech/docs/{page}" in names, page
        for fig in (ROOT / "docs" / "figures").glob("*.png"):
            assert f"featmech/docs/figures/{fig.name}" in names, fig.name
        for ex in ("spec.toml", "my_init.npz", "make_init.py"):
            assert f"featmech/docs/examples/{ex}" in names, ex
        readme = zf.read("featmech/docs/README.md").decode()
        assert "](docs/" not in readme and "](theory.md)" in readme
        zf.extractall(tmp_path / "site")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(tmp_path / "site")
    proc = subprocess.run([sys.executable, "-m", "featmech", "docs", "theory"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == _text(ROOT / "docs" / "theory.md")
    proc = subprocess.run([sys.executable, "-m", "featmech", "docs", "--path"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert Path(proc.stdout.strip()) == tmp_path / "site" / "featmech" / "docs"


# --------------------------------------------------------------------------------------------------
# no pointers outside the repository

OUTSIDE = re.compile(r"THEORY\.md|\.\./shared|/work/shared")


def _tracked_text_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        files = [ROOT / name for name in listed.splitlines()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: every file of the tree
        files = [p for p in ROOT.rglob("*") if ".git" not in p.parts and ".venv" not in p.parts]
    files += [ROOT / "examples" / n for n in ("spec.toml", "make_init.py")]
    return sorted({p for p in files if p.is_file() and p.suffix in {".py", ".md", ".toml", ".txt", ".cfg", ".in", ""}
                   and p != Path(__file__).resolve()})


def test_nothing_points_outside_the_repository() -> None:
    hits = [f"{p.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}: {m.group(0)}"
            for p in _tracked_text_files() for text in [p.read_text(encoding="utf-8", errors="replace")]
            for m in OUTSIDE.finditer(text)]
    assert not hits, "references to documents outside the repository:\n" + "\n".join(hits)
