"""Downloads against a local HTTP server (127.0.0.1 only).

Covered: fetch, mirror fallback, checksum failure, truncated transfers, atomic writes, cache
reuse, and the search order.
"""

import numpy as np
import pytest
from _data_files import (
    FileServer,
    cifar_dataset,
    cifar_spec,
    idx_files,
    idx_spec,
    sha256,
    tar_gz,
)

from numnet.data import (
    ChecksumError,
    DatasetNotFoundError,
    DownloadError,
    FileSpec,
    cache_dir,
    download_file,
    fetch,
    load_dataset,
    locate,
    locations,
)


@pytest.fixture(scope="module")
def server():
    s = FileServer()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch, server):
    """Empty cache and no system copy, so only what a test puts there is found."""
    monkeypatch.setenv("NUMNET_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(locations, "DEBIAN_FASHION_MNIST", tmp_path / "no-system-copy")
    server.requests.clear()


@pytest.fixture
def tiny_idx(server):
    arrays, files = idx_files(np.random.default_rng(5))
    server.files.update(files)
    return arrays, files


def _leftovers(folder):
    """Temp or partial files a download might have left behind."""
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or "part" in p.name)


def test_fetch_falls_back_through_mirrors(server, tiny_idx, tmp_path):
    arrays, files = tiny_idx
    spec = idx_spec(files, [server.mirror("cut"), server.mirror("bad"), server.mirror("good")])
    loc = fetch("tiny-idx", spec=spec, progress=False)
    assert loc.path == tmp_path / "cache" / "tiny-idx" and loc.source == "cache"
    for name in files:
        assert [r for r in server.requests if r.endswith(name)] == [
            f"/cut/{name}",
            f"/bad/{name}",
            f"/good/{name}",
        ]
        assert (loc.path / name).read_bytes() == files[name]
    assert _leftovers(tmp_path) == []
    ds = load_dataset("tiny-idx", spec=spec)
    assert ds.X_train.shape == (30, 1, 28, 28) and ds.X_train.dtype == np.uint8
    assert ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.X_train[:, 0], arrays["X_train"])
    np.testing.assert_array_equal(ds.y_test, arrays["y_test"])


def test_cache_reuse_makes_no_request(server, tiny_idx):
    spec = idx_spec(tiny_idx[1], [server.mirror("good")])
    first = fetch("tiny-idx", spec=spec, progress=False)
    assert len(server.requests) == 4
    server.requests.clear()
    assert fetch("tiny-idx", spec=spec, progress=False) == first
    ds = load_dataset("tiny-idx", download=True, spec=spec)
    assert server.requests == []
    assert ds.source == first.path


def test_checksum_failure_names_file_expected_actual_and_leaves_nothing(server, tiny_idx, tmp_path):
    files = tiny_idx[1]
    spec = idx_spec(files, [server.mirror("bad")])
    with pytest.raises(ChecksumError) as err:
        fetch("tiny-idx", spec=spec, progress=False)
    msg, name = str(err.value), spec.files[0].name
    bad = files[name][:-1] + bytes([files[name][-1] ^ 0xFF])
    assert name in msg
    assert spec.files[0].sha256[0] in msg  # expected
    assert sha256(bad) in msg  # actual
    assert server.mirror("bad") in msg
    dest = tmp_path / "cache" / "tiny-idx"
    assert sorted(p.name for p in dest.iterdir()) == []  # neither the file nor a temp file


def test_truncated_transfer_is_an_error_and_leaves_nothing(server, tiny_idx, tmp_path):
    files = tiny_idx[1]
    spec = idx_spec(files, [server.mirror("cut"), server.base + "/missing/"])
    name = spec.files[0].name
    with pytest.raises(DownloadError) as err:
        fetch("tiny-idx", spec=spec, progress=False)
    msg = str(err.value)
    assert name in msg and "transfer ended early" in msg
    assert f"expected {len(files[name])} bytes, got {len(files[name]) // 2}" in msg
    assert "404" in msg
    assert list((tmp_path / "cache" / "tiny-idx").iterdir()) == []


def test_corrupt_cached_file_is_replaced_atomically(server, tiny_idx, tmp_path):
    files = tiny_idx[1]
    spec = idx_spec(files, [server.mirror("good")])
    loc = fetch("tiny-idx", spec=spec, progress=False)
    victim = loc.path / spec.files[2].name
    victim.write_bytes(b"garbage")
    server.requests.clear()
    with pytest.raises(ChecksumError, match=spec.files[2].name):
        load_dataset("tiny-idx", spec=spec)  # verify=True catches it on load
    fetch("tiny-idx", spec=spec, progress=False)
    assert server.requests == [f"/good/{spec.files[2].name}"]  # only the bad file again
    assert victim.read_bytes() == files[spec.files[2].name]
    assert _leftovers(tmp_path) == []


def test_failed_redownload_keeps_nothing_half_written(server, tiny_idx, tmp_path):
    files = tiny_idx[1]
    good = idx_spec(files, [server.mirror("good")])
    fetch("tiny-idx", spec=good, progress=False)
    target = tmp_path / "cache" / "tiny-idx" / good.files[0].name
    target.write_bytes(b"old but wrong")
    with pytest.raises(ChecksumError):
        fetch("tiny-idx", spec=idx_spec(files, [server.mirror("bad")]), progress=False)
    # The rename never happened: the old file is untouched, no temp file beside it.
    assert target.read_bytes() == b"old but wrong"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", ["cifar-python", "cifar-binary"])
def test_fetch_cifar_archive(server, tmp_path, fmt):
    arrays, members = cifar_dataset(np.random.default_rng(7), fmt)
    folder = "cifar-10-batches-bin" if fmt == "cifar-binary" else "cifar-10-batches-py"
    archive = tar_gz({f"{folder}/{k}": v for k, v in members.items()})
    spec = cifar_spec(fmt, members, archive, arrays, [server.mirror("cut"), server.mirror("good")])
    server.files[spec.files[0].name] = archive
    root = tmp_path / "explicit"
    loc = fetch("tiny-cifar", root, spec=spec, progress=False)
    assert loc.source == "explicit" and loc.path == root / folder
    assert sorted(p.name for p in loc.path.iterdir()) == sorted(members)
    server.requests.clear()
    ds = load_dataset("tiny-cifar", root, spec=spec)
    assert server.requests == []
    assert ds.X_train.shape == (16, 3, 32, 32) and ds.X_test.shape == (8, 3, 32, 32)
    for key in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(ds, key), arrays[key])
    # The course passes the batches folder itself.
    assert locate("tiny-cifar", loc.path, spec=spec).path == loc.path
    # Members lost but the verified archive kept: re-extracted without a request.
    for p in loc.path.iterdir():
        p.unlink()
    fetch("tiny-cifar", root, spec=spec, progress=False)
    assert server.requests == []
    assert sorted(p.name for p in loc.path.iterdir()) == sorted(members)


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(server, tiny_idx, tmp_path):
    spec = idx_spec(tiny_idx[1], [server.mirror("good")])
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("tiny-idx", spec=spec)
    msg = str(err.value)
    assert str(tmp_path / "cache" / "tiny-idx") in msg
    assert "numnet data fetch tiny-idx" in msg and "download=True" in msg
    assert server.requests == []
    root = tmp_path / "elsewhere"
    with pytest.raises(DatasetNotFoundError, match=str(root)):
        load_dataset("tiny-idx", root, spec=spec)
    ds = load_dataset("tiny-idx", root, download=True, spec=spec, progress=False)
    assert ds.source == root and len(server.requests) == 4


def test_search_order_explicit_cache_system(server, tiny_idx, tmp_path, monkeypatch):
    files = tiny_idx[1]
    spec = idx_spec(files, [server.mirror("good")], name="fashion-mnist")
    system = tmp_path / "usr-share"
    system.mkdir()
    for name, data in files.items():
        (system / name).write_bytes(data)
    monkeypatch.setattr(locations, "DEBIAN_FASHION_MNIST", system)
    assert locate("fashion-mnist", spec=spec).source == "system"
    assert fetch("fashion-mnist", spec=spec, progress=False).path == system
    assert server.requests == []  # the system copy counts: nothing downloaded
    fetch("fashion-mnist", tmp_path / "mine", spec=spec, progress=False)
    cache_copy = fetch("fashion-mnist", cache_dir() / "fashion-mnist", spec=spec, progress=False)
    assert locate("fashion-mnist", spec=spec) == locations.Location(
        "fashion-mnist", cache_copy.path, "cache"
    )
    assert locate("fashion-mnist", tmp_path / "mine", spec=spec).source == "explicit"
    # An explicit folder is searched alone: a wrong one is not rescued by the other copies.
    assert locate("fashion-mnist", tmp_path / "typo", spec=spec) is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"NUMNET_DATA": "/data/nn", "XDG_CACHE_HOME": "/xdg"}, "/data/nn"),
        ({"XDG_CACHE_HOME": "/xdg"}, "/xdg/numnet"),
        ({"HOME": "/home/u"}, "/home/u/.cache/numnet"),
    ],
)
def test_cache_dir_precedence(monkeypatch, env, expected):
    for var in ("NUMNET_DATA", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert str(cache_dir()) == expected


def test_progress_bar_when_asked(server, tiny_idx, capsys):
    pytest.importorskip("tqdm")
    spec = idx_spec(tiny_idx[1], [server.mirror("good")])
    fetch("tiny-idx", spec=spec, progress=True)
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err


def test_no_progress_output_when_not_a_terminal(server, tiny_idx, capsys):
    spec = idx_spec(tiny_idx[1], [server.mirror("good")])
    fetch("tiny-idx", spec=spec)  # stderr is captured, not a TTY
    assert capsys.readouterr().err == ""


def test_only_http_mirrors(tiny_idx, tmp_path):
    with pytest.raises(ValueError, match="mirrors must be http"):
        idx_spec(tiny_idx[1], ["file:///etc/"])
    with pytest.raises(ValueError, match="http:// or https://"):
        download_file(["file:///etc/passwd"], tmp_path / "passwd", FileSpec("passwd"))
    assert list(tmp_path.iterdir()) == []


def test_a_mirror_sending_too_much_is_cut_off_at_the_known_size(server, tiny_idx, tmp_path):
    import dataclasses

    files = tiny_idx[1]
    spec = idx_spec(files, [server.mirror("junk")])
    spec = dataclasses.replace(
        spec, files=tuple(dataclasses.replace(f, size=len(files[f.name])) for f in spec.files)
    )
    server.sent.clear()
    with pytest.raises(DownloadError, match="more than the expected"):
        fetch("tiny-idx", spec=spec, progress=False)
    assert server.sent and max(server.sent) < 8 * 2**20  # not 64 MiB
    assert _leftovers(tmp_path) == []


def test_fetch_removes_the_partial_downloads_a_kill_left(server, tiny_idx, tmp_path):
    files = tiny_idx[1]
    spec = idx_spec(files, [server.mirror("good")])
    dest = tmp_path / "cache" / "tiny-idx"
    dest.mkdir(parents=True)
    name = spec.files[0].name
    stale, mine = dest / f".{name}.x1y2z3_4.part", dest / f".{name}.mine.part"
    stale.write_bytes(b"half")
    mine.write_bytes(b"a file of my own")
    fetch("tiny-idx", spec=spec, progress=False)
    assert not stale.exists() and mine.exists()


def test_data_list_with_a_data_dir_also_shows_the_usual_places(tmp_path, monkeypatch):
    """``numnet data list --data-dir DIR`` means "also look in DIR", not "only in DIR"."""
    from numnet.data import describe, get_spec

    system = tmp_path / "system"
    system.mkdir()
    for f in get_spec("fashion-mnist").local_files:
        (system / f.name).write_bytes(b"")
    monkeypatch.setattr(locations, "DEBIAN_FASHION_MNIST", system)
    extra = tmp_path / "extra"
    (extra / "mnist").mkdir(parents=True)
    for f in get_spec("mnist").local_files:
        (extra / "mnist" / f.name).write_bytes(b"")
    lines = {ln.split()[0]: ln for ln in describe(extra).splitlines()[1:]}
    assert f"{system} (system)" in lines["fashion-mnist"]
    assert f"{extra / 'mnist'} (explicit)" in lines["mnist"]
    assert "missing" in lines["cifar10"]
