"""Imports go one way: down the layers of scripts/architecture.py, and never into ``numnet.cli``.

Read from the source with ``ast`` (scripts/architecture.py), so imports inside functions (the lazy
ones) count too, and so do ``importlib.import_module("...")`` calls with a literal name.
"""

from pathlib import Path

import pytest
from _repo_testlib import architecture as arch

PACKAGE = arch.PACKAGE
MODULES = arch.package_modules()
# The command: its package, and ``python -m numnet`` (numnet/__main__.py), which starts it.
COMMAND = {"cli", "__main__.py"}
LIBRARY = sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in COMMAND)


def module_name(path: Path) -> str:
    return arch.module_name(path)


def write(root: Path, files: dict) -> Path:
    """A package ``numnet`` under ``root`` with ``files`` (relative path -> source)."""
    for rel, text in files.items():
        f = root / "numnet" / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text, encoding="utf-8")
    return root / "numnet"


def test_the_walk_sees_the_library_and_resolves_imports():
    names = {module_name(p) for p in LIBRARY}
    assert {"numnet.plots", "numnet.solver", "numnet.data.batches", "numnet.ops.conv"} <= names
    assert not any(n.startswith("numnet.cli") for n in names)
    imports = {m for _, m in arch.imported_modules(PACKAGE / "data" / "batches.py")}
    assert "numnet._checks.check_ndim" in imports  # ``from .._checks import check_ndim``


def test_imports_are_read_at_any_depth_but_not_for_type_checking(tmp_path):
    pkg = write(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from numnet import b\nelse:\n    import numnet.c\n"
                "def f():\n    from . import d\n"
                "    return importlib.import_module('numnet.e')\n"
            ),
        },
    )
    found = sorted(m for _, m in arch.imported_modules(pkg / "a.py", pkg))
    assert found == ["numnet.c", "numnet.d", "numnet.e", "typing.TYPE_CHECKING"]


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: module_name(p))
def test_library_module_does_not_import_the_cli(path):
    bad = [
        f"line {line}: {mod}"
        for line, mod in arch.imported_modules(path)
        if mod == "numnet.cli" or mod.startswith("numnet.cli.")
    ]
    assert not bad, f"{module_name(path)} imports the command's package: {bad}"


def test_every_module_has_a_layer():
    problems = arch.unplaced(MODULES)
    assert not problems, "\n".join(problems)


def test_imports_go_down_the_layers():
    bad = arch.upward_imports(arch.dependencies(MODULES))
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_an_upward_import_is_reported_with_its_line():
    deps = {"numnet.ops.affine": [(7, "numnet.solver")], "numnet.solver": [(3, "numnet.ops")]}
    assert arch.upward_imports(deps) == [
        "numnet.ops.affine (layer functional core), line 7: imports numnet.solver "
        "(layer training, above)"
    ]


def test_a_new_module_falls_into_its_package_layer_and_a_new_top_level_one_is_named():
    assert arch.layer_of("numnet.ops.new_op") == "functional core"
    assert arch.layer_of("numnet.search.space") == "tools"
    with pytest.raises(arch.LayerError, match=r'add "numnet\.novel": "<layer>" to LAYER_OF'):
        arch.layer_of("numnet.novel.inner")
