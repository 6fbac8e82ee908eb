"""The repository's layout rules: a length budget for numnet/ files, an up-to-date architecture.

A file is one concept; when one grows past the budget, split it by what a reader looks for (see
DEVELOPERS.md), not by cutting it in half.
"""

from pathlib import Path

import pytest
from _repo_testlib import architecture as arch

PACKAGE = Path(__file__).resolve().parents[1] / "numnet"
#: Most lines a file under numnet/ may have.
MAX_LINES = 400


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_walk_sees_every_package_file():
    files = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    assert {"solver.py", "cli/main.py", "data/batches.py", "ops/conv.py"} <= files


def test_line_count_counts_lines(tmp_path):
    f = tmp_path / "f.py"
    f.write_text("a = 1\n\nb = 2\n", encoding="utf-8")
    assert line_count(f) == 3


def test_no_package_file_is_over_the_line_budget():
    over = sorted(
        (f"{p.relative_to(PACKAGE.parent).as_posix()}: {n} lines", n)
        for p in PACKAGE.rglob("*.py")
        if (n := line_count(p)) > MAX_LINES
    )
    assert not over, (
        f"files over the {MAX_LINES}-line budget (split each by concept): "
        + "; ".join(name for name, _ in over)
    )


def test_the_architecture_diagram_in_developers_md_is_current():
    doc = arch.DOC.read_text(encoding="utf-8")
    assert arch.updated(doc, arch.render()) == doc, (
        "DEVELOPERS.md's architecture diagram is stale: run python scripts/architecture.py --write"
    )


def test_the_diagram_has_a_box_per_layer_and_the_imports():
    diagram = arch.render()
    for i, layer in enumerate(arch.LAYERS):
        assert f'subgraph layer{i}["{layer}"]' in diagram
    assert "m_solver --> m_optim" in diagram  # numnet/solver.py imports numnet.optim
    assert "m_layers --> m_ops" in diagram


def test_updating_replaces_only_the_text_between_the_markers():
    doc = f"intro\n{arch.BEGIN}\nold diagram\n{arch.END}\noutro\n"
    assert arch.updated(doc, "new\n") == f"intro\n{arch.BEGIN}\nnew\n{arch.END}\noutro\n"
    with pytest.raises(ValueError, match="needs the lines"):
        arch.updated("no markers", "new\n")
