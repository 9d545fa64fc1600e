"""The layers of the package: a lower layer never imports a higher one; torch only under nets.

Checked statically on every module's import statements (including imports inside functions), so
a lazy import cannot hide an upward arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "featmech"

#: rank of each layer; a module may import only from layers of equal or lower rank
LAYERS = {"base": 0, "theory": 1, "analysis": 2, "nets": 3, "sweeps": 4, "report": 5, "cli": 6}


def _layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "featmech":
        raise ValueError(module)
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return "base"


#: the package's front doors re-export the public API of every layer; they are nobody's dependency
#: (``featmech.diagnose`` and ``featmech.linear`` gather one capability across layers)
FACADES = {ROOT / "__init__.py", ROOT / "__main__.py", ROOT / "diagnose.py", ROOT / "linear.py"}


def _modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if p not in FACADES)


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names: list[str] = []
    pkg = _module_name(path).split(".")
    if path.name != "__init__.py":
        pkg = pkg[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                names.append(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                names.append(node.module)
    return names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_upward_imports(path: Path) -> None:
    mine = _layer(_module_name(path))
    for name in _imports(path):
        if name.split(".")[0] != "featmech" or name == "featmech":
            continue
        theirs = _layer(name)
        assert LAYERS[theirs] <= LAYERS[mine], f"{path.relative_to(ROOT)} ({mine}) imports {name} ({theirs})"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_torch_only_under_nets(path: Path) -> None:
    if _layer(_module_name(path)) == "nets":
        return
    for name in _imports(path):
        assert name.split(".")[0] != "torch", f"{path.relative_to(ROOT)} imports torch outside featmech.nets"


@pytest.mark.parametrize("path", sorted(p for p in FACADES if p.name not in ("__init__.py", "__main__.py")),
                         ids=lambda p: p.name)
def test_capability_facades_only_re_export(path: Path) -> None:
    """A capability facade holds a docstring, imports and ``__all__``: no code of its own to hide an arrow in."""
    if not path.exists():
        pytest.skip(f"{path.name} not written yet")
    tree = ast.parse(path.read_text())
    for node in tree.body:
        ok = isinstance(node, (ast.Import, ast.ImportFrom)) or (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) or (
            isinstance(node, (ast.Assign, ast.AnnAssign)) and "__all__" in ast.unparse(node))
        assert ok, f"{path.name} may only re-export, found: {ast.unparse(node)[:80]}"
    for name in _imports(path):
        assert name.split(".")[0] in ("featmech", "__future__"), f"{path.name} re-exports featmech only, imports {name}"
