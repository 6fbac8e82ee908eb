"""Downloads: mirrors in turn, progress bar, atomic writes, pinned checksums.

Only the standard library's ``urllib`` is used. A file is streamed into a temp file in the
destination folder, checked against its pinned hash, and only then renamed into place; on any
failure (network, short transfer, bad checksum, Ctrl-C) the temp file is deleted, so a partial or
unverified file is never left where the loader would find it. A mirror that sends more than the
file's known size (``FileSpec.size``, else its Content-Length) is cut off there. A fetch locks its
download folder (``.numnet-fetch.lock``, see :mod:`numnet._lockfile`) and first removes the
``.<file>.<random>.part`` files a killed fetch left (numnet's own temp names only).
"""

from __future__ import annotations

import gzip
import http.client
import os
import sys
import tarfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from .._atomic import atomic_open, remove_stale_temps
from .._lockfile import FolderLockedError, folder_lock
from .errors import ChecksumError, DataError, DownloadError
from .integrity import verify_dataset, verify_file
from .locations import Location, download_dir, locate
from .registry import DatasetSpec, FileSpec, get_spec

_CHUNK = 1 << 16
#: The lock file a fetch holds in its download folder (two fetches never share a folder).
_LOCK = ".numnet-fetch.lock"
_USER_AGENT = "numnet-data/0.1 (+urllib)"


def _progress_bar(total: int | None, desc: str, progress: bool | None):
    """A tqdm bar when tqdm is installed and wanted (default: stderr is a terminal), else None."""
    if progress is False or (progress is None and not sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is an optional dependency (numnet[cli]); the core works without it
        return None
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False)


def _download_one(url: str, dest: Path, spec: FileSpec, progress, timeout: float) -> None:
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise ValueError(f"mirror URLs must be http:// or https://; got {url!r}")
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})

    def check(tmp):
        verify_file(tmp, spec, label=f"{dest.name} (from {url})")

    with (
        atomic_open(dest, "wb", suffix=".part", check=check) as out,
        urllib.request.urlopen(request, timeout=timeout) as resp,
    ):
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        # A pinned file has its known size: a mirror sending more is wrong, however much it has.
        limit = spec.size if spec.size is not None else total
        if total is not None and limit is not None and total > limit:
            raise DownloadError(f"{url}: announces {total} bytes, more than the expected {limit}")
        bar = _progress_bar(total or spec.size, dest.name, progress)
        got = 0
        try:
            while chunk := resp.read(_CHUNK):
                got += len(chunk)
                if limit is not None and got > limit:
                    raise DownloadError(f"{url}: sent more than the expected {limit} bytes")
                out.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
        # http.client returns b"" (no error) when a server closes before Content-Length.
        if total is not None and got != total:
            raise DownloadError(f"transfer ended early: expected {total} bytes, got {got}")


def download_file(
    urls: Sequence[str],
    dest: str | os.PathLike,
    spec: FileSpec,
    *,
    progress: bool | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download one file, trying ``urls`` in turn, and verify it before it appears at ``dest``.

    Args:
        urls: full URLs of the same file on different mirrors.
        dest: final path (its folder is created).
        spec: pinned checksums of the file.
        progress: True/False force the progress bar on/off; None shows it when stderr is a
            terminal (and tqdm is installed).
        timeout: seconds to wait on a stalled connection.

    Returns:
        ``dest`` as a Path.

    Raises:
        ChecksumError: every mirror delivered a file with the wrong hash (names the file, the
            expected and actual hashes, per mirror).
        DownloadError: no mirror delivered the file (lists each mirror's failure).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: list[Exception] = []
    for url in urls:
        try:
            _download_one(url, dest, spec, progress, timeout)
            return dest
        except (OSError, http.client.HTTPException, DataError) as e:
            failures.append(e if isinstance(e, DataError) else DownloadError(f"{url}: {e}"))
    if not failures:
        raise DownloadError(f"{dest.name}: no mirrors to download from")
    detail = "\n  ".join(str(e) for e in failures)
    cls = ChecksumError if all(isinstance(e, ChecksumError) for e in failures) else DownloadError
    raise cls(f"{dest.name}: no mirror delivered a valid copy:\n  {detail}")


def extract_members(archive: str | os.PathLike, dest: str | os.PathLike, spec: DatasetSpec) -> Path:
    """Extract ``spec.members`` from the tar.gz ``archive`` into ``dest/spec.extract_dir``.

    Only the named members are written, each atomically and to a path numnet builds itself, so a
    hostile archive cannot write elsewhere (no ``extractall``, no member paths trusted).

    Returns:
        The folder holding the extracted members.

    Raises:
        DataError: the archive is corrupt or lacks a member; ChecksumError: a member's hash.
    """
    archive, out_dir = Path(archive), Path(dest) / spec.extract_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = {f"{spec.extract_dir}/{m.name}": m for m in spec.members}
    done = set()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for info in tar:
                key = info.name.removeprefix("./")
                if key not in wanted or key in done:
                    continue
                if not info.isfile():
                    raise DataError(f"{archive}: member {key} is not a regular file")
                src = tar.extractfile(info)
                with src, atomic_open(out_dir / wanted[key].name, "wb") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
                done.add(key)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{archive}: corrupt or truncated archive ({e})") from e
    missing = sorted(set(wanted) - done)
    if missing:
        raise DataError(f"{archive}: missing members {missing}")
    for m in spec.members:
        try:
            verify_file(out_dir / m.name, m)
        except ChecksumError:
            (out_dir / m.name).unlink()
            raise
    return out_dir


def fetch(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    spec: DatasetSpec | None = None,
    progress: bool | None = None,
    timeout: float = 30.0,
) -> Location:
    """Make ``name`` available and verified; download it only if it is nowhere to be found.

    If :func:`~numnet.data.locations.locate` finds it (``root``, else the cache, else the system
    copy) and it verifies, nothing is downloaded. Otherwise each file missing or bad in the
    download folder (``root``, else ``cache_dir()/<name>``) is downloaded from the mirrors in turn,
    and archives are extracted.

    Args:
        name: registry key, e.g. ``"fashion-mnist"``.
        root: explicit folder to look in and download into.
        spec: use this spec instead of ``DATASETS[name]`` (own mirrors or checksums).
        progress: progress bar on/off; None: when stderr is a terminal.
        timeout: seconds to wait on a stalled connection.

    Returns:
        Where the data set now is.

    Raises:
        ChecksumError, DownloadError, DataError: see :func:`download_file`,
            :func:`extract_members`; ChecksumError also for a bad system copy; DataError also
            when another process is fetching into the same folder.
    """
    spec = spec or get_spec(name)
    loc = locate(name, root, spec=spec)
    if loc is not None:
        try:
            verify_dataset(loc.path, spec)
            return loc
        except ChecksumError:
            if loc.source == "system":  # not ours to repair
                raise
    dest = download_dir(name, root, spec=spec)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with folder_lock(dest, _LOCK):
            _download_missing(spec, dest, progress, timeout)
    except FolderLockedError as e:
        raise DataError(f"{e}: it is fetching {spec.name} there; wait for it to finish") from None
    loc = locate(name, root, spec=spec)
    if loc is None:
        raise DataError(f"{spec.name}: downloaded into {dest} but the files are not all there")
    return loc


def _download_missing(spec: DatasetSpec, dest: Path, progress, timeout: float) -> None:
    """Download (and extract) every file of ``spec`` that ``dest`` lacks or holds corrupt.

    Holds ``dest``'s lock: the partial downloads a killed fetch left are removed first.
    """
    remove_stale_temps(dest, [f.name for f in spec.files], suffix=".part")
    for f in spec.files:
        target = dest / f.name
        if target.is_file():
            try:
                verify_file(target, f)
                continue
            except ChecksumError:
                pass  # downloaded again below; the rename replaces it atomically
        urls = [mirror + f.name for mirror in spec.mirrors]
        download_file(urls, target, f, progress=progress, timeout=timeout)
    if spec.extract_dir:
        remove_stale_temps(dest / spec.extract_dir, [m.name for m in spec.members])
        extract_members(dest / spec.files[0].name, dest, spec)
