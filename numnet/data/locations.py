"""Where numnet finds data sets.

Search order for ``locate(name, root)``:

1. ``root``, when given: the folder itself or ``root/<name>`` (and nothing else, so a mistyped
   folder fails loudly instead of silently picking up another copy);
2. otherwise numnet's cache directory, ``cache_dir()/<name>``: ``$NUMNET_DATA`` if set, else
   ``$XDG_CACHE_HOME/numnet``, else ``~/.cache/numnet``;
3. then the system copy: Debian's ``dataset-fashion-mnist`` installs Fashion-MNIST under
   ``DEBIAN_FASHION_MNIST`` (a module constant, so tests can point it elsewhere).

Archive data sets (CIFAR-10) count as present once their extracted folder holds every member
file; a folder may also *be* the extracted folder (the course passes ``.../cifar-10-batches-py``).
Nothing here downloads; see :func:`numnet.data.fetch`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import DatasetNotFoundError
from .registry import DATASETS, DatasetSpec, get_spec

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def cache_dir() -> Path:
    """Numnet's data cache: ``$NUMNET_DATA``, else ``$XDG_CACHE_HOME/numnet``, else ~/.cache/numnet.

    Data sets live in sub-folders named after them (``cache_dir()/"fashion-mnist"``).
    """
    env = os.environ.get("NUMNET_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "numnet"


def system_dirs(name: str) -> list[Path]:
    """Folders where a distribution package installs ``name`` (read at call time)."""
    return [DEBIAN_FASHION_MNIST] if name == "fashion-mnist" else []


@dataclass(frozen=True)
class Location:
    """Where a data set was found.

    Attributes:
        name: the data set.
        path: the folder holding the files the loader reads.
        source: ``"explicit"`` (the ``root`` argument), ``"cache"`` or ``"system"``.
    """

    name: str
    path: Path
    source: str


def _candidates(spec: DatasetSpec, root) -> list[tuple[str, Path]]:
    if root is not None:
        root = Path(root).expanduser()
        return [("explicit", root), ("explicit", root / spec.name)]
    return [("cache", cache_dir() / spec.name)] + [("system", d) for d in system_dirs(spec.name)]


def _holder(spec: DatasetSpec, folder: Path) -> Path | None:
    """The folder under ``folder`` that holds every file the loader reads, if any."""
    options = [folder / spec.extract_dir, folder] if spec.extract_dir else [folder]
    for d in options:
        if all((d / f.name).is_file() for f in spec.local_files):
            return d
    return None


def searched_dirs(name: str, root=None, *, spec: DatasetSpec | None = None) -> list[Path]:
    """The folders :func:`locate` looks in, in order."""
    spec = spec or get_spec(name)
    return [p for _, p in _candidates(spec, root)]


def locate(name: str, root=None, *, spec: DatasetSpec | None = None) -> Location | None:
    """The first place in the search order holding ``name``, or None.

    Args:
        name: a registry key (``"fashion-mnist"``, ``"mnist"``, ``"cifar10"``, ...).
        root: an explicit folder; when given, only it (and ``root/<name>``) is searched.
        spec: use this spec instead of ``DATASETS[name]``.
    """
    spec = spec or get_spec(name)
    for source, folder in _candidates(spec, root):
        held = _holder(spec, folder)
        if held is not None:
            return Location(spec.name, held, source)
    return None


def download_dir(name: str, root=None, *, spec: DatasetSpec | None = None) -> Path:
    """Where a download of ``name`` goes: ``root`` itself if given, else ``cache_dir()/<name>``."""
    spec = spec or get_spec(name)
    return Path(root).expanduser() if root is not None else cache_dir() / spec.name


def not_found(name: str, root=None, *, spec: DatasetSpec | None = None) -> DatasetNotFoundError:
    """The error for a missing data set: where numnet looked and how to get it."""
    spec = spec or get_spec(name)
    looked = ", ".join(str(p) for p in searched_dirs(name, root, spec=spec))
    files = ", ".join(f.name for f in spec.local_files)
    ways = [f"`numnet data fetch {spec.name}`", "load_dataset(..., download=True)"]
    if spec.hint:
        ways.insert(0, spec.hint)
    return DatasetNotFoundError(
        f"{spec.name} not found: looked for {files} in {looked}. Get it with: " + "; or ".join(ways)
    )


def find_all(root=None) -> dict[str, Location | None]:
    """Every registered data set and where it was found (None: not found).

    ``root`` is looked in first, then the usual places (cache, system copy): unlike ``locate``,
    this is "also look in ``root``".
    """
    out = {}
    for name in DATASETS:
        found = locate(name, root) if root is not None else None
        out[name] = found or locate(name)
    return out


def describe(root=None) -> str:
    """A plain-text table of the registered data sets and where each was found.

    For ``numnet data list``: one line per data set with its classes, image shape and location
    (or how to fetch it); ``root`` is an extra folder to look in first (see ``find_all``).
    """
    lines = [f"{'dataset':<15} {'images':<10} {'train/test':<12} location"]
    for name, loc in find_all(root).items():
        spec = DATASETS[name]
        shape = "x".join(str(s) for s in spec.image_shape)
        counts = f"{spec.num_train}/{spec.num_test}"
        where = f"{loc.path} ({loc.source})" if loc else f"missing: numnet data fetch {name}"
        lines.append(f"{name:<15} {shape:<10} {counts:<12} {where}")
    return "\n".join(lines)
