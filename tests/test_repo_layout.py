"""The repository's layout rules: every file under numnet/ stays under the length budget.

A file is one concept; when one grows past the budget, split it by what a reader looks for (see
DEVELOPERS.md), not by cutting it in half.
"""

from pathlib import Path

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
