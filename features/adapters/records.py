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
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from pql.errors import DataError
from pql.features.jsonlines import TOO_DEEP, JsonLineError, json_line_objects
from pql.features.textlines import LineTooLong, bounded_lines, first_visible_char

_COMPRESSIONS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open}
_UNREADABLE = (OSError, EOFError, zlib.error)
# PostHog's properties cell holds a whole JSON object: csv's default 128 KiB per field
# is far below what real events carry, so the reader allows up to 1 GiB per field.
_CSV_FIELD_LIMIT = min(sys.maxsize, 2**30)


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
        reader = _csv_records if _is_csv(path) else _json_records
        records = list(reader(path, where, encoding))
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
        text_start = first_visible_char(handle)
    if text_start == "[":
        with _open_text(path, encoding) as handle:
            try:
                values = json.load(handle)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
                ) from None
            except RecursionError:
                deep = _deep_line(path, encoding)
                raise DataError(f"{where}: the JSON array {TOO_DEEP}, at line {deep}") from None
        for position, value in enumerate(values):
            if not isinstance(value, dict):
                raise DataError(f"{where}: item {position} of the JSON array is not an object")
            yield value
        return
    with _open_text(path, encoding) as handle:
        try:
            yield from json_line_objects(bounded_lines(handle))
        except (JsonLineError, LineTooLong) as exc:
            raise DataError(f"{where} is not valid JSON lines: {exc}") from None


def _deep_line(path: Path, encoding: str, limit: int = 500) -> int:
    """The line where brackets (outside strings) first nest deeper than `limit`: only
    read after the JSON parser gave up, to tell the user where to look."""
    depth, in_string, escaped = 0, False, False
    with _open_text(path, encoding) as handle:
        for number, line in enumerate(handle, start=1):
            for char in line:
                if in_string:
                    if escaped:
                        escaped = False
                    elif char == "\\":
                        escaped = True
                    elif char == '"':
                        in_string = False
                elif char == '"':
                    in_string = True
                elif char in "[{":
                    depth += 1
                    if depth > limit:
                        return number
                elif char in "]}":
                    depth -= 1
    return 1


def _csv_records(path: Path, where: str, encoding: str) -> Iterator[dict[str, Any]]:
    """CSV rows as dicts of text; empty cells are missing. JSON cells are decoded by the
    vendor's parser (it knows which columns hold JSON). A header naming one column twice
    (which cell would win?) and a row with more cells than the header (columns shifted by
    an unquoted comma) make the file unusable: guessing would put values under the wrong
    names."""
    previous = csv.field_size_limit(_CSV_FIELD_LIMIT)
    try:
        with _open_text(path, encoding) as handle:
            reader = csv.reader(bounded_lines(handle))
            try:
                header = next(reader, None)
                if header is None:
                    return
                repeated = sorted({name for name in header if header.count(name) > 1})
                if repeated:
                    raise DataError(
                        f"{where}: the header (line 1) names column(s) "
                        f"{', '.join(repr(n) for n in repeated)} more than once; "
                        "rename or remove the copies"
                    )
                for row in reader:
                    if not row:  # a blank line, as csv.DictReader skips it
                        continue
                    if len(row) > len(header):
                        raise DataError(
                            f"{where}: line {reader.line_num} has {len(row)} cells but the "
                            f"header has {len(header)} columns (an unquoted comma in a "
                            "value? quote cells that contain commas)"
                        )
                    yield {
                        name: (cell if cell != "" else None)
                        for name, cell in zip(header, row, strict=False)
                    }
            except csv.Error as exc:
                raise DataError(
                    f"{where} is not valid CSV: line {reader.line_num}: {exc}"
                ) from None
            except LineTooLong as exc:
                raise DataError(f"{where} is not valid CSV: {exc}") from None
    finally:
        csv.field_size_limit(previous)
