"""Metrics files: one row per line, appended and flushed as training goes (CSV or JSON Lines).

A metrics file is only ever appended to while training, never rewritten, so a long run costs
O(rows) and a crash or kill loses at most the line being written (each row is one ``write`` of a
complete line, flushed at once). A resumed run first cuts the file back to the rows its
checkpoint has seen (:func:`truncate_rows`), which also drops a torn last line: the file then
reads, row for row, as if the run had never stopped. Cutting is one ``truncate`` of the file, so
it is as safe to repeat after a second crash as it is cheap.

The suffix picks the format: ``.csv`` (a header line, then values; numbers read back as int or
float) or ``.jsonl`` (one JSON object a line).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["MetricsFileError", "MetricsWriter", "read_rows", "truncate_rows"]

FORMATS = (".csv", ".jsonl")


class MetricsFileError(ValueError):
    """A metrics file that cannot be read or appended to: the message names the file and why."""


def _format_of(path: Path) -> str:
    if path.suffix not in FORMATS:
        raise ValueError(f'path must end in ".csv" or ".jsonl", got {str(path)!r}')
    return path.suffix


def _number(text: str, path: Path, column: str):
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise MetricsFileError(f"{path}: column {column!r} holds {text!r}, not a number") from None


def _parse_lines(path: Path, data: bytes):
    """Yield (byte offset of the line, row or None for a header) for each complete line.

    A last line without its newline is torn (a write cut short) and is not yielded.
    """
    suffix = _format_of(path)
    header = None
    offset = 0
    while True:
        end = data.find(b"\n", offset)
        if end < 0:
            return
        line = data[offset : end + 1]
        try:
            text = line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise MetricsFileError(f"{path}: line at byte {offset} is not UTF-8") from None
        if suffix == ".jsonl":
            try:
                row = json.loads(text)
            except json.JSONDecodeError as e:
                raise MetricsFileError(f"{path}: line at byte {offset}: {e}") from None
            if not isinstance(row, dict):
                raise MetricsFileError(f"{path}: line at byte {offset} is not a JSON object")
            yield offset, row
        elif header is None:
            header = next(csv.reader([text]), [])
            yield offset, None
        else:
            values = next(csv.reader([text]), [])
            if len(values) != len(header):
                raise MetricsFileError(
                    f"{path}: line at byte {offset} has {len(values)} values for "
                    f"{len(header)} columns"
                )
            yield offset, {c: _number(v, path, c) for c, v in zip(header, values)}
        offset = end + 1


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MetricsFileError(f"{path} not found") from None
    except OSError as e:
        raise MetricsFileError(f"cannot read {path}: {e.strerror or e}") from None


def read_rows(path: str | os.PathLike) -> list[dict]:
    """Every complete row of a metrics file, in order (a torn last line is left out).

    Raises:
        MetricsFileError: the file is missing, unreadable, or a complete line does not parse.
    """
    path = Path(path)
    return [row for _, row in _parse_lines(path, _read_bytes(path)) if row is not None]


def read_header(path: str | os.PathLike) -> list[str] | None:
    """A CSV file's columns (None while the file has no complete first line)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            first = f.readline()
    except OSError as e:
        raise MetricsFileError(f"cannot read {path}: {e.strerror or e}") from None
    if not first.endswith(b"\n"):
        return None
    return next(csv.reader([first.decode("utf-8", "replace").rstrip("\r\n")]), [])


def truncate_rows(path: str | os.PathLike, last: int, key: str = "iteration") -> list[dict]:
    """Cut a metrics file after its last row with ``row[key] <= last``; return the rows kept.

    Rows are in increasing ``key`` order, so everything from the first row past ``last`` (and a
    torn last line) goes. This is what a run resumed from the checkpoint at step ``last`` calls
    before it appends again.

    Args:
        path: the file.
        last: the checkpoint's step.
        key: the column holding the step.

    Raises:
        MetricsFileError: as :func:`read_rows`, or a row without ``key``.
    """
    path = Path(path)
    data = _read_bytes(path)
    kept, cut = [], 0
    for offset, row in _parse_lines(path, data):
        if row is not None:
            if key not in row:
                raise MetricsFileError(f"{path}: a row has no {key!r} column")
            if row[key] > last:
                break
            kept.append(row)
        cut = data.index(b"\n", offset) + 1  # keep up to the end of this line
    if cut < len(data):
        try:
            os.truncate(path, cut)
        except OSError as e:
            raise MetricsFileError(f"cannot truncate {path}: {e.strerror or e}") from None
    return kept


def _drop_torn_line(path: Path) -> None:
    """Cut a last line that lacks its newline, so an appended row never continues it."""
    try:
        with open(path, "rb") as f:
            if f.seek(0, os.SEEK_END) == 0:
                return
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            data = f.read()
        os.truncate(path, data.rfind(b"\n") + 1)
    except OSError as e:
        raise MetricsFileError(f"cannot repair {path}: {e.strerror or e}") from None


class MetricsWriter:
    """Appends rows to a metrics file, one complete line per row, flushed as it is written.

    Args:
        path: the file; ``.csv`` or ``.jsonl``.
        columns: CSV columns, in order. None: those of an existing file's header, else the first
            row's keys. Keys of a row that are not columns are left out.

    Use ``open()``, ``write(row)`` for each row, ``close()`` (or ``with writer.open(): ...``).
    """

    def __init__(self, path: str | os.PathLike, columns: Sequence[str] | None = None):
        self.path = Path(path)
        self.format = _format_of(self.path)
        self.columns = list(columns) if columns is not None else None
        self._file = None

    def open(self, append: bool = False) -> MetricsWriter:
        """Start writing: a new file (``append=False``), or after the rows already there.

        Appending first cuts a torn last line (a write cut short). A CSV header is written when
        the file is empty. Appending to a CSV whose header is not
        ``columns`` raises :class:`MetricsFileError` (the rows would land in the wrong columns).
        """
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if append and self.path.is_file():
            _drop_torn_line(self.path)
        if append and self.format == ".csv" and self.path.is_file():
            header = read_header(self.path)
            if header is not None and self.columns is None:
                self.columns = header
            elif header is not None and header != self.columns:
                raise MetricsFileError(
                    f"{self.path} has columns {header}, expected {self.columns}: "
                    "not a file this writer can continue"
                )
        try:
            self._file = open(self.path, "ab" if append else "wb")
        except OSError as e:
            raise MetricsFileError(f"cannot write {self.path}: {e.strerror or e}") from None
        if self.format == ".csv" and self.columns is not None and self._file.tell() == 0:
            self._write_line(self.columns)
        return self

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write_line(self, values) -> None:
        if self.format == ".jsonl":
            text = json.dumps(values) + "\n"
        else:
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerow(values)
            text = buf.getvalue()
        self._file.write(text.encode("utf-8"))
        self._file.flush()

    def write(self, row: Mapping) -> None:
        """Append one row (a mapping holding at least the columns) as one flushed line."""
        if self._file is None:
            raise ValueError(f"MetricsWriter for {self.path} is not open; call open() first")
        if self.format == ".jsonl":
            self._write_line(dict(row))
            return
        if self.columns is None:
            self.columns = list(row)
            if self._file.tell() == 0:
                self._write_line(self.columns)
        missing = [c for c in self.columns if c not in row]
        if missing:
            raise ValueError(f"row for {self.path} lacks the columns {missing}")
        self._write_line([row[c] for c in self.columns])

    def sync(self) -> None:
        """Flush to disk (fsync), staying open: the rows so far survive a power cut."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Flush to disk (fsync) and close; nothing happens when not open."""
        if self._file is not None:
            f, self._file = self._file, None
            try:
                f.flush()
                os.fsync(f.fileno())
            finally:
                f.close()
