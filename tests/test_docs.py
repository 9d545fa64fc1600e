"""Every python block in the README and docs runs as written (in a fresh namespace per page,
blocks of one page in order, in a temporary working directory)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _pages_with_code() -> list[Path]:
    return [p for p in PAGES if BLOCK.search(p.read_text())]


@pytest.mark.parametrize("page", _pages_with_code(), ids=lambda p: p.name)
def test_python_blocks_run(page: Path, tmp_path: Path) -> None:
    if "featmech.nets" in page.read_text():
        pytest.importorskip("torch")
    ns: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        import matplotlib

        matplotlib.use("Agg")
        for i, m in enumerate(BLOCK.finditer(page.read_text())):
            code = m.group(1)
            line = page.read_text()[: m.start()].count("\n") + 2
            try:
                exec(compile(code, f"{page.name}:{line}", "exec"), ns)
            except Exception as exc:  # pragma: no cover - the failure message is the point
                raise AssertionError(f"{page.name}, python block {i + 1} (line {line}) fails: "
                                     f"{type(exc).__name__}: {exc}") from exc
    finally:
        os.chdir(cwd)
