"""numnet.metrics_log: append-only metrics files, read back exactly, cut back to a checkpoint."""

import math

import pytest

from numnet.metrics_log import MetricsFileError, MetricsWriter, read_rows, truncate_rows

COLUMNS = ("iteration", "epoch", "loss", "lr")


def rows(n, start=1):
    return [
        {"iteration": i, "epoch": 1 + (i - 1) // 3, "loss": 2.0 / i, "lr": 1e-3 * 0.5**i}
        for i in range(start, start + n)
    ]


def write(path, rs, append=False, columns=COLUMNS):
    with MetricsWriter(path, columns).open(append=append) as w:
        for r in rs:
            w.write(r)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_rows_read_back_exactly(tmp_path, suffix):
    path = tmp_path / f"m{suffix}"
    rs = [*rows(7), {"iteration": 8, "epoch": 3, "loss": math.nan, "lr": 0.1 + 0.2}]
    write(path, rs)
    back = read_rows(path)
    assert [r["iteration"] for r in back] == list(range(1, 9))
    assert all(type(r["iteration"]) is int for r in back)
    assert back[:7] == rs[:7]  # floats survive bit for bit
    assert math.isnan(back[7]["loss"]) and back[7]["lr"] == 0.1 + 0.2
    if suffix == ".csv":
        assert path.read_text().splitlines()[0] == "iteration,epoch,loss,lr"


def test_each_row_is_on_disk_as_soon_as_it_is_written(tmp_path):
    path = tmp_path / "m.csv"
    w = MetricsWriter(path, COLUMNS).open()
    for i, r in enumerate(rows(3), 1):
        w.write(r)
        assert len(read_rows(path)) == i  # another reader sees it before close
    w.close()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_truncate_then_append_equals_an_uninterrupted_file(tmp_path, suffix):
    whole = tmp_path / f"whole{suffix}"
    write(whole, rows(12))
    # A run that checkpointed at step 6, wrote rows up to 9, and was killed mid-line.
    part = tmp_path / f"part{suffix}"
    write(part, rows(9))
    with open(part, "ab") as f:
        f.write(whole.read_bytes().splitlines(keepends=True)[-1][:7])  # a torn line
    assert len(read_rows(part)) == 9  # a torn last line is never read as a row
    kept = truncate_rows(part, 6)
    assert kept == rows(6)
    assert truncate_rows(part, 6) == rows(6)  # cutting again changes nothing
    write(part, rows(6, start=7), append=True)
    assert part.read_bytes() == whole.read_bytes()


def test_truncate_keeps_everything_up_to_the_checkpoint(tmp_path):
    path = tmp_path / "m.csv"
    write(path, rows(5))
    before = path.read_bytes()
    assert truncate_rows(path, 5) == rows(5)
    assert truncate_rows(path, 99) == rows(5)
    assert path.read_bytes() == before
    assert truncate_rows(path, 0) == []
    assert path.read_text() == "iteration,epoch,loss,lr\n"


def test_append_to_an_empty_or_header_only_file_writes_one_header(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(b"")
    write(path, rows(2), append=True)
    write(path, rows(1, start=3), append=True)
    assert path.read_text().count("iteration") == 1
    assert read_rows(path) == rows(3)


def test_append_refuses_a_file_with_other_columns(tmp_path):
    path = tmp_path / "m.csv"
    write(path, rows(2))
    with pytest.raises(MetricsFileError, match=r"has columns \['iteration', 'epoch', 'loss'"):
        MetricsWriter(path, ("epoch", "iteration", "loss", "lr")).open(append=True)
    # Without columns of its own, a writer continues with the file's.
    w = MetricsWriter(path).open(append=True)
    w.write({"lr": 0.5, "loss": 0.25, "epoch": 1, "iteration": 3, "extra": "left out"})
    w.close()
    assert read_rows(path)[-1] == {"iteration": 3, "epoch": 1, "loss": 0.25, "lr": 0.5}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("iteration,loss\n1,2.0\n2,abc\n3,1.0\n", "column 'loss' holds 'abc', not a number"),
        ("iteration,loss\n1,2.0,7\n", "has 3 values for 2 columns"),
        ("iteration,loss\n\n1,2.0\n", "has 0 values for 2 columns"),
    ],
)
def test_a_corrupt_complete_line_is_an_error_naming_the_file(tmp_path, text, words):
    path = tmp_path / "m.csv"
    path.write_text(text)
    for fn in (read_rows, lambda p: truncate_rows(p, 10)):
        with pytest.raises(MetricsFileError, match=words) as info:
            fn(path)
        assert str(path) in str(info.value)


def test_writer_validates(tmp_path):
    with pytest.raises(ValueError, match=r'path must end in "\.csv" or "\.jsonl"'):
        MetricsWriter(tmp_path / "m.txt")
    with pytest.raises(MetricsFileError, match=r"m\.csv not found"):
        read_rows(tmp_path / "m.csv")
    w = MetricsWriter(tmp_path / "m.csv", COLUMNS)
    with pytest.raises(ValueError, match="is not open"):
        w.write(rows(1)[0])
    w.open()
    with pytest.raises(ValueError, match=r"lacks the columns \['lr'\]"):
        w.write({"iteration": 1, "epoch": 1, "loss": 1.0})
    w.close()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_append_never_continues_a_torn_line(tmp_path, suffix):
    path = tmp_path / f"m{suffix}"
    write(path, rows(2))
    with open(path, "ab") as f:
        f.write(b"3,1,0.6" if suffix == ".csv" else b'{"iteration": 3, "ep')
    write(path, rows(1, start=3), append=True)
    assert read_rows(path) == rows(3)
    torn_header = tmp_path / "h.csv"
    torn_header.write_bytes(b"itera")
    write(torn_header, rows(1), append=True)
    assert read_rows(torn_header) == rows(1)
