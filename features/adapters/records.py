"""Read a vendor export into plain records (dicts), one per exported line or row.

Exports come as JSON lines, one JSON array, or (PostHog) CSV whose ``properties`` column
holds JSON text; any of them may be gzip- or bz2-compressed. Every problem with the file
itself is a `DataError` naming the file and the line, so `pql` exits 3 with a message a
user can act on instead of a traceback.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from features.errors import DataError

_COMPRESSIONS = {".gz": gzip.open, ".bz2": bz2.open}
_UNREADABLE = (OSError, EOFError, zlib.error)


def _where(path: Path, vendor: str) -> str:
    return f"events file '{path}' ({vendor} export, data.events.format = '{vendor}')"


def _open_text(path: Path, encoding: str) -> io.TextIOWrapper:
    opener = _COMPRESSIONS.get(path.suffix.lower())
    binary: IO[bytes] = opener(path, "rb") if opener else open(path, "rb")  # noqa: SIM115
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"
    return io.TextIOWrapper(binary, encoding=encoding, newline="")


def _is_csv(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] == ".csv"


def read_records(path: Path, vendor: str, encoding: str = "utf-8") -> list[dict[str, Any]]:
    """All records of the export, in file order; `DataError` for an unusable file."""
    path = Path(path)
    where = _where(path, vendor)
    if not path.exists():
        raise DataError(f"{where} not found (set data.events.path in the spec)")
    if path.is_dir():
        raise DataError(f"{where} is a folder; point data.events.path at the export file")
    if path.stat().st_size == 0:
        raise DataError(f"{where} has no rows (the file is empty: 0 bytes)")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(
            f"{where} cannot be read: unknown encoding '{encoding}' (data.events.encoding)"
        ) from None
    try:
        records = list(
            _csv_records(path, encoding) if _is_csv(path) else _json_records(path, where, encoding)
        )
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{where} is not valid {encoding} (byte 0x{exc.object[exc.start]:02x}); "
            "set data.events.encoding in the spec to the file's encoding"
        ) from None
    except _UNREADABLE as exc:
        raise DataError(f"{where} cannot be read: {exc}") from None
    if not records:
        raise DataError(f"{where} has no records")
    return records


def _json_records(path: Path, where: str, encoding: str) -> Iterator[dict[str, Any]]:
    """JSON lines, or one JSON array of objects when the file starts with '['."""
    with _open_text(path, encoding) as handle:
        text_start = ""
        for line in handle:
            if line.strip():
                text_start = line.lstrip()[:1]
                break
    if text_start == "[":
        with _open_text(path, encoding) as handle:
            try:
                values = json.load(handle)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
                ) from None
        for position, value in enumerate(values):
            if not isinstance(value, dict):
                raise DataError(f"{where}: item {position} of the JSON array is not an object")
            yield value
        return
    with _open_text(path, encoding) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{where} is not valid JSON lines: line {number} is not valid JSON "
                    f"({exc.msg}, column {exc.colno})"
                ) from None
            if not isinstance(value, dict):
                raise DataError(f"{where}: line {number} is not a JSON object")
            yield value


def _csv_records(path: Path, encoding: str) -> Iterator[dict[str, Any]]:
    """CSV rows as dicts of text; empty cells are missing. JSON cells are decoded by the
    vendor's parser (it knows which columns hold JSON)."""
    with _open_text(path, encoding) as handle:
        for row in csv.DictReader(handle):
            yield {k: (v if v != "" else None) for k, v in row.items() if k is not None}
