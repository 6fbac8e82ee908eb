"""benchmarks/gpu_check.py: without a GPU it fails loudly (exit 2), and it writes its section."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402

from numnet import backend  # noqa: E402


def test_without_cupy_it_fails_loudly_and_writes_nothing(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(backend, "_cupy", lambda: None)
    monkeypatch.setattr(gpu_check, "RESULTS_MD", tmp_path / "RESULTS.md")
    monkeypatch.setattr(gpu_check, "GPU_MD", tmp_path / "GPU.md")
    assert gpu_check.main([]) == 2
    err = capsys.readouterr().err
    assert "gpu_check: FAILED, no GPU to check on" in err and "needs CuPy" in err
    assert not list(tmp_path.iterdir())


def test_unknown_sections_are_refused(capsys):
    assert gpu_check.main(["--sections", "suite,nope"]) == 2
    assert "unknown section(s) ['nope']" in capsys.readouterr().err


def test_the_section_replaces_its_old_text_or_is_appended(tmp_path):
    results, gpu = tmp_path / "RESULTS.md", tmp_path / "GPU.md"
    results.write_text("# numnet benchmarks\n\ntables\n")
    first = gpu_check.render(None, {})
    assert gpu_check.NOT_MEASURED in first
    gpu_check.write_section(first, results, gpu)
    assert results.read_text() == "# numnet benchmarks\n\ntables\n\n" + first
    second = first.replace(gpu_check.NOT_MEASURED, "measured")
    gpu_check.write_section(second, results, gpu)
    text = results.read_text()
    assert text.count(gpu_check.BEGIN) == 1 and "measured" in text
    assert gpu_check.NOT_MEASURED not in text and gpu.read_text() == second


@pytest.mark.parametrize("name", ["suite", "parity", "epoch", "timing"])
def test_every_section_renders(name):
    results = {
        "suite": {"ok": False, "exit_code": 1, "counts": {"passed": 3, "failed": 1},
                  "failed": ["tests/x.py::t[cupy]"], "seconds": 1.0, "tail": []},
        "parity": {"ok": True, "rows": [{"layer": "relu", "parity": 0.0, "parity_ok": True,
                                         "grad": 1e-12, "grad_ok": True}]},
        "epoch": {"ok": True, "data": "a stand-in", "steps": 860, "speedup": 12.0},
        "timing": {"ok": True, "rows": [{"net": "n", "batch": 64, "numnet_ms": 9.0,
                                         "torch_ms": 2.0, "ratio": 4.5, "target": 3.0}]},
    }  # fmt: skip
    text = gpu_check.render({"gpu": "G"}, {name: results[name]})
    assert text.startswith(gpu_check.BEGIN) and text.rstrip().endswith(gpu_check.END)
    assert {"suite": "FAIL", "parity": "| relu |", "epoch": "a stand-in", "timing": "4.5 ✗"}[
        name
    ] in text
