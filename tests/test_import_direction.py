"""Imports go one way: no library module imports the command's package ``numnet.cli``.

Read from the source with ``ast``, so imports inside functions (the lazy ones) count too, and so do
``importlib.import_module("...")`` calls with a literal name.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "numnet"
# The command: its package, and ``python -m numnet`` (numnet/__main__.py), which starts it.
COMMAND = {"cli", "__main__.py"}
LIBRARY = sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in COMMAND)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import statement in the file, at any depth."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from numnet import cli`` names the package in the alias, not in the module.
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((node.lineno, arg.value))
    return found


def _is_dynamic_import(func) -> bool:
    """``importlib.import_module(...)``, ``import_module(...)`` or ``__import__(...)``."""
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name in ("import_module", "__import__")


def test_the_walk_sees_the_library_and_resolves_imports():
    names = {module_name(p) for p in LIBRARY}
    assert {"numnet.plots", "numnet.solver", "numnet.data.batches", "numnet.ops.conv"} <= names
    assert not any(n.startswith("numnet.cli") for n in names)
    imports = {m for _, m in imported_modules(PACKAGE / "data" / "batches.py")}
    assert "numnet._checks.check_ndim" in imports  # ``from .._checks import check_ndim``


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: module_name(p))
def test_library_module_does_not_import_the_cli(path):
    bad = [
        f"line {line}: {mod}"
        for line, mod in imported_modules(path)
        if mod == "numnet.cli" or mod.startswith("numnet.cli.")
    ]
    assert not bad, f"{module_name(path)} imports the command's package: {bad}"
