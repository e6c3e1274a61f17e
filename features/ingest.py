"""Read an event log (and the optional trials table) into canonical frames.

DESIGN section 2: loading normalises to UTC and drops nothing silently. Every row read is
either returned or counted under the first reason it cannot be used, so
``rows_read == len(events) + sum(unusable.values())`` always holds, and the counts go
to the data-quality report. Problems with the file itself (missing, empty, wrong
columns, wrong encoding, corrupt) are `DataError`s that name the file, the column and
the spec key to change: a user must be able to fix the spec without a traceback.

Speed: Parquet and CSV are read by pyarrow, text kept in Arrow; ids are normalised once
per distinct value and become pandas categoricals; exact duplicates (identical in every
source column: the columns the spec does not map are read too, one factorisation each)
are found by sorting row hashes (`benchmarks/bench_ingest.py`: 10M events with two
unmapped columns in about 8-10 s on two cores). JSON lines go through pandas, which
tolerates a column whose values mix numbers and strings (common in exports, and exactly
what `parse_timestamps` handles).

Canonical events (usable rows only, fresh RangeIndex, not sorted):
``user_id``, ``account_id``, ``event`` (categoricals of str; ``account_id`` all missing
when the spec maps none), ``timestamp`` (datetime64[ns, UTC]), ``session_id`` (only when
mapped: int64 if the source holds integers, CSV included, else a categorical of str) and
each of `Spec.property_columns` as float64 (a column an action counts distinct values of,
`Spec.distinct_columns`, as a categorical of id text instead). Ids are stripped; blank
ids are missing; a number id (a Parquet or JSON number) is its integer text ("42", also
from 42.0); a text id is kept as written: CSV ids are read as text, so "007" stays
"007", "42.0" stays "42.0" and a CSV id "NULL" or "nan" is an id (`features.ids`; a
warning names them).

Canonical trials: ``user_id`` (str), ``account_id`` (str or NaN), ``signup_at``,
``converted_at`` (NaT = not converted), ``trial_end_at`` (NaT when unmapped),
``plan`` (as given, NaN when unmapped), then any other columns of the file as they are.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from pql.errors import DataError, SpecError
from pql.features.adapters import adapt_file
from pql.features.ids import NULL_LIKE, repeated_numbers
from pql.features.ids import id_text as _id_text
from pql.features.jsonlines import JsonLineError, json_line_objects
from pql.features.spec import Spec, TrialColumns
from pql.features.textlines import (
    LineTooLong,
    bounded_lines,
    first_visible_char,
    line_blocks,
)
from pql.features.time_text import why_not_a_time
from pql.features.timestamps import ASSUMED_UTC, ParsedTimestamps, parse_timestamps

# Reasons a row cannot be used, in the order rows are checked (a row counts once, under
# its first reason). Duplicates are checked last, among rows that passed every other
# check, so a copy of an unusable row is counted under that row's own reason.
MISSING_USER = "missing user id"
MISSING_ACCOUNT = "missing account id"
MISSING_EVENT = "missing event name"
BAD_TIMESTAMP = "unparseable timestamp"
BAD_SIGNUP = "unparseable signup_at"
BAD_CONVERSION = "unparseable converted_at"
DUPLICATE = "exact duplicate"

DATAFRAME_SOURCE = "<DataFrame>"
#: canonical columns holding ids: text as written, missing only when blank (features.ids)
ID_COLUMNS = ("user_id", "account_id")
FORMATS = ("csv", "parquet", "jsonl")
_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
}
_COMPRESSIONS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open}
# What reading a damaged or inaccessible file raises, besides the parsers' own errors.
_UNREADABLE = (OSError, EOFError, zlib.error, pa.ArrowException)
_EXAMPLES = 3  # example values quoted in a warning
# Product event logs live in this range; times outside it usually mean a wrong epoch
# unit or a placeholder (0 = 1970), worth a warning though they are kept.
_PLAUSIBLE = (pd.Timestamp("1990-01-01", tz="UTC"), pd.Timestamp("2101-01-01", tz="UTC"))
_NUMBER_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


@dataclass(frozen=True)
class IngestReport:
    """What loading saw; rendered into the data-quality report by `features.quality`."""

    source: str  # file path, or "<DataFrame>"
    rows_read: int
    unusable: dict[str, int]  # reason -> rows, every reason checked (0 included), in order
    timestamp_formats: dict[str, int]  # see features.timestamps.FORMATS
    warnings: tuple[str, ...]
    details: dict[str, int] = field(default_factory=dict)  # a vendor adapter's counts

    @property
    def rows_unusable(self) -> int:
        return sum(self.unusable.values())

    @property
    def rows_usable(self) -> int:
        return self.rows_read - self.rows_unusable

    def counts(self) -> dict[str, int]:
        """Rows read, per unusable reason and usable, flat (for a report's table)."""
        return {"rows read": self.rows_read, **self.unusable, "usable": self.rows_usable}


@dataclass(frozen=True)
class LoadedEvents:
    events: pd.DataFrame  # canonical columns, usable rows only
    report: IngestReport


@dataclass(frozen=True)
class LoadedTrials:
    """Trials plus the count of rows that could not be used (a dropped trial is a lost
    entity, so it must show in the report like a dropped event)."""

    trials: pd.DataFrame
    report: IngestReport
    #: the source column conversions came from; None: the table has none (conversions
    #: come from the events or plans, `label.conversion_event` / `label.paid_plans`)
    conversion_column: str | None = "converted_at"


# --- reading files -------------------------------------------------------------------------


@dataclass(frozen=True)
class _File:
    """A file being read, and how to word a problem with it."""

    path: Path
    what: str  # "events" / "trials": names the spec section in messages
    encoding: str

    def error(self, problem: str) -> DataError:
        return DataError(f"{self.what} file '{self.path}' {problem}")

    @property
    def key(self) -> str:
        return f"data.{self.what}"


def read_table(
    path: Path,
    *,
    format: str = "auto",
    encoding: str = "utf-8",
    what: str = "events",
    columns: Sequence[str] | None = None,
    text_columns: Collection[str] = (),
    column_keys: Mapping[str, str] | None = None,
    id_columns: Collection[str] = (),
) -> pd.DataFrame:
    """Read a CSV, Parquet or JSON-lines file (optionally .gz/.bz2) into a DataFrame.

    `columns` limits what is read (all when None) and must all exist. `text_columns` are
    read as text where the format has no types (CSV), so an id "007" keeps its zeros;
    `id_columns` (CSV, text too) are missing only when blank: "NULL" there is an id.
    `column_keys` maps a column to the spec key that names it, for the missing-column
    message. Strings come back as object columns, Parquet dictionaries as categoricals.
    Every problem with the file is a `DataError` naming it; so is a file without rows.
    """
    file = _File(Path(path), what, encoding)
    keys = column_keys or {}
    return _read(file, format, columns, list(columns or ()), text_columns, keys, id_columns)


def _read(
    file: _File,
    format: str,
    columns: Sequence[str] | None,
    required: Sequence[str],
    text_columns: Collection[str],
    keys: Mapping[str, str],
    id_columns: Collection[str] = (),
    *,
    arrow_strings: bool = False,
) -> pd.DataFrame:
    """Read `columns` (None: all), checking `required` exist. `arrow_strings` keeps
    plain text columns Arrow-backed, which the timestamp parser reads without copying."""
    if not file.path.exists():
        raise file.error(f"not found (set {file.key}.path in the spec)")
    fmt = _resolve_format(file, format)
    _check_file(file, fmt)
    columns = None if columns is None else list(dict.fromkeys(columns))
    try:
        if fmt == "parquet":
            table = _read_parquet(file, columns, required, keys)
            frame = _arrow_to_pandas(table, arrow_strings)
        elif fmt == "csv":
            table = _read_csv(file, columns, required, text_columns, keys, id_columns)
            frame = _arrow_to_pandas(table, arrow_strings)
        else:
            frame = _read_jsonl(file)
            if len(frame) > 0:
                _check_columns(file, [str(c) for c in frame.columns], required, keys)
                if columns is not None:
                    frame = frame[columns]
    except _UNREADABLE as exc:  # permissions, a corrupt .gz, ...
        raise file.error(f"cannot be read: {exc}") from None
    if len(frame) == 0:
        raise file.error("has no rows" + (" (only a header)" if fmt == "csv" else ""))
    return frame


def _resolve_format(file: _File, format: str) -> str:
    if format in FORMATS:
        return format
    if format != "auto":
        raise file.error(
            f"has unknown format '{format}' ({file.key}.format); "
            f"use one of: auto, {', '.join(FORMATS)}"
        )
    suffixes = [s.lower() for s in file.path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        suffixes = suffixes[:-1]
    found = _SUFFIX_FORMATS.get(suffixes[-1]) if suffixes else None
    if found is None and file.path.is_dir():
        found = "parquet"  # a folder of Parquet parts, as Spark and pandas write them
    if found is None:
        raise file.error(
            f"has a name whose format cannot be told from its suffix; name it .csv, "
            f".parquet or .jsonl (optionally .gz), or set {file.key}.format "
            f"to one of: {', '.join(FORMATS)}"
        )
    return found


def _check_file(file: _File, fmt: str) -> None:
    if file.path.is_dir():
        if fmt != "parquet":
            raise file.error(f"is a folder; point {file.key}.path at a {fmt} file")
        return
    if file.path.stat().st_size == 0:
        raise file.error("has no rows (the file is empty: 0 bytes)")
    if fmt != "parquet":
        try:
            codecs.lookup(file.encoding)
        except LookupError:
            raise file.error(
                f"cannot be read: unknown encoding '{file.encoding}' ({file.key}.encoding)"
            ) from None


def _check_columns(
    file: _File | None, present: Sequence[str], required: Sequence[str], keys: Mapping[str, str]
) -> None:
    missing = [c for c in dict.fromkeys(required) if c not in set(present)]
    if not missing:
        return
    described = ", ".join(f"'{c}' ({keys[c]})" if c in keys else f"'{c}'" for c in missing)
    noun = "column" if len(missing) == 1 else "columns"
    there = ", ".join(map(str, present)) or "(none)"
    problem = f"has no {noun} {described}; its columns are: {there}"
    if file is None:
        raise DataError(f"{DATAFRAME_SOURCE} {problem}")
    raise file.error(problem)


def _arrow_to_pandas(table: pa.Table, arrow_strings: bool) -> pd.DataFrame:
    """Dictionary columns become categoricals; plain strings stay in Arrow if asked."""
    mapper = _arrow_string_dtype if arrow_strings else None
    return table.to_pandas(types_mapper=mapper, split_blocks=True, self_destruct=True)


def _arrow_string_dtype(arrow_type: pa.DataType) -> pd.ArrowDtype | None:
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.ArrowDtype(arrow_type)
    return None


def _read_parquet(
    file: _File,
    columns: list[str] | None,
    required: Sequence[str],
    keys: Mapping[str, str],
) -> pa.Table:
    """Only the wanted columns. Strings stay plain: `read_dictionary` is slower than
    factorizing afterwards when row groups carry different dictionaries."""
    try:
        if file.path.is_dir():
            schema = pq.ParquetDataset(file.path).schema
        else:
            schema = pq.read_schema(file.path)
        _check_columns(file, schema.names, required, keys)
        return pq.read_table(file.path, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise file.error(f"is not a readable Parquet file: {exc}") from None


# CSV -------------------------------------------------------------------------------------


def _csv_options(file: _File) -> tuple[pcsv.ReadOptions, pcsv.ParseOptions]:
    encoding = "utf8" if codecs.lookup(file.encoding).name == "utf-8" else file.encoding
    return (
        pcsv.ReadOptions(encoding=encoding),
        pcsv.ParseOptions(newlines_in_values=True),
    )


def _read_csv(
    file: _File,
    columns: list[str] | None,
    required: Sequence[str],
    text_columns: Collection[str],
    keys: Mapping[str, str],
    id_columns: Collection[str] = (),
) -> pa.Table:
    """Only the wanted columns, `text_columns` as text. Text matching pyarrow's null
    markers (NULL, NA, nan, ...) reads as missing, except in `id_columns`: those are
    read again, only when they have a missing cell, with nothing but a blank missing."""
    read_options, parse_options = _csv_options(file)
    _sniff_csv(file)
    try:
        with pcsv.open_csv(
            file.path, read_options=read_options, parse_options=parse_options
        ) as reader:
            header = reader.schema.names
        _check_columns(file, header, required, keys)
        convert = pcsv.ConvertOptions(
            include_columns=columns or [],
            column_types={name: pa.string() for name in text_columns if name in header},
            strings_can_be_null=True,
        )
        table = pcsv.read_csv(
            file.path,
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert,
        )
        ids = [name for name in id_columns if name in table.column_names]
        if any(table[name].null_count for name in ids):
            as_written = pcsv.read_csv(
                file.path,
                read_options=read_options,
                parse_options=parse_options,
                convert_options=pcsv.ConvertOptions(
                    include_columns=ids,
                    column_types=dict.fromkeys(ids, pa.string()),
                    strings_can_be_null=False,
                ),
            )
            for name in ids:
                table = table.set_column(table.column_names.index(name), name, as_written[name])
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _csv_problem(file, exc) from None
    return table


def _csv_problem(file: _File, exc: Exception) -> DataError:
    """pyarrow's complaint as a message naming the file and the line to look at.

    Every diagnosis reads the file in bounded memory (a 2 GiB line of NULs costs one
    block), and only on this error path."""
    text = str(exc)
    if isinstance(exc, UnicodeDecodeError) or "UTF8" in text or "decode" in text:
        return _encoding_problem(file)
    if "Empty CSV file" in text:
        return file.error("has no rows (the file is empty)")
    for find in (_csv_damage, _ragged_line):
        found = _diagnose(find, file)
        if found is not None:
            return file.error(f"is not valid CSV: {found}")
    if "straddl" in text:  # pyarrow: a record larger than its read block
        return file.error(
            f"is not valid CSV: a record is longer than {_CSV_BLOCK:,} bytes (pql reads CSV "
            "records up to that size); look for an unclosed '\"' quote"
        )
    return file.error(f"is not valid CSV: {text}")


#: pyarrow's CSV block size: one record (line, or quoted lines) must fit in it.
_CSV_BLOCK = 1 << 20


def _ascii_text(encoding: str) -> bool:
    """Whether bytes 0x00 and '\\n' mean NUL and a line break in this encoding (not
    so in UTF-16 / UTF-32, where a NUL byte is half of most characters)."""
    return "\n".encode(encoding) == b"\n" and "\0".encode(encoding) == b"\0"


def _sniff_csv(file: _File) -> None:
    """Refuse a file whose first block holds a NUL byte before pyarrow reads it: text
    never does, so it is binary or damaged (pyarrow would report a 'straddling object')."""
    if not _ascii_text(file.encoding):
        return
    with _open_binary(file.path) as handle:
        head = handle.read(_CSV_BLOCK)
    if (nul := head.find(b"\0")) >= 0:
        line = head[:nul].count(b"\n") + 1
        raise file.error(f"is not CSV text: {_nul_at(nul, line)}")


def _nul_at(offset: int, line: int) -> str:
    return (
        f"byte 0x00 (NUL) at offset {offset:,} (line {line:,}); a text file holds none, "
        "so the file is binary or damaged"
    )


def _csv_damage(file: _File) -> str | None:
    """The first NUL byte, or the first line longer than a read block, scanning the raw
    bytes one chunk at a time (error path only)."""
    if not _ascii_text(file.encoding):
        return None
    offset, line, open_line = 0, 1, 0  # open_line: bytes of the line not yet ended
    with _open_binary(file.path) as handle:
        for chunk in _chunks(handle, _CSV_BLOCK):
            if (nul := chunk.find(b"\0")) >= 0:
                return _nul_at(offset + nul, line + chunk[:nul].count(b"\n"))
            first = chunk.find(b"\n")
            # a line inside one chunk is at most a chunk long: only the one that spans
            # chunk boundaries can be longer than a block
            if open_line + (len(chunk) if first < 0 else first) > _CSV_BLOCK:
                return _long_line(line)
            if first < 0:
                open_line += len(chunk)
            else:
                line += chunk.count(b"\n")
                open_line = len(chunk) - chunk.rfind(b"\n") - 1
            offset += len(chunk)
    return None


def _long_line(line: int) -> str:
    return (
        f"line {line:,} has no line break in its first {_CSV_BLOCK:,} bytes; the file "
        "may be binary or damaged (pql reads CSV lines up to that size)"
    )


def _diagnose(find: Callable[[_File], str | None], file: _File) -> str | None:
    """Run an error-path diagnosis; if the file cannot even be scanned, say nothing."""
    try:
        return find(file)
    except (*_UNREADABLE, UnicodeDecodeError, csv.Error, LineTooLong):
        return None


def _ragged_line(file: _File) -> str | None:
    """First record whose field count differs from the header's, or one with a quoted
    value too long to be real (error path only; lines read in bounded memory)."""
    with _open_text(file) as handle:
        reader = csv.reader(bounded_lines(handle, _CSV_BLOCK))
        header = next(reader, [])
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader, None)
            except csv.Error as exc:
                return f"the record starting on line {start:,}: {exc} (an unclosed '\"' quote?)"
            if record is None:
                return None
            if record and len(record) != len(header):
                return (
                    f"line {reader.line_num} has {len(record)} fields, the header has {len(header)}"
                )


# JSON lines -------------------------------------------------------------------------------


def _read_jsonl(file: _File) -> pd.DataFrame:
    """JSON lines (or, if the file starts with '[', one JSON array of objects).

    The text is gathered a block of whole lines at a time: a line without a line break
    within `textlines.MAX_LINE_CHARS` (2 GiB of zeros, a binary file) stops the read
    there, and the lines of its first 64 KiB must be JSON objects before pandas parses
    the rest, so a file that is not JSON lines fails early, in the memory of a block,
    naming its first bad line. pandas then parses all of it in one call (the fastest
    way it has; parsing block by block costs about a fifth more time).
    """
    try:
        with _open_text(file) as handle:
            array = first_visible_char(handle) == "["
        with _open_text(file) as handle:
            if array:
                return pd.read_json(handle, lines=False, **_JSON_OPTIONS)
            blocks = []
            for first, block in line_blocks(handle):
                if first == 1:  # fail early on a file that does not start as JSON lines
                    _check_json_lines(file, _leading_lines(block, _CHECKED_START))
                blocks.append(block)
    except UnicodeDecodeError:
        raise _encoding_problem(file) from None
    except LineTooLong as exc:
        raise file.error(f"is not valid JSON lines: {exc}") from None
    except ValueError as exc:  # the JSON array
        raise file.error(f"is not valid JSON: {exc}") from None
    text = "".join(blocks)
    del blocks
    if not text or text.isspace():
        return pd.DataFrame()
    try:
        return pd.read_json(io.StringIO(text), lines=True, **_JSON_OPTIONS)
    except ValueError as exc:
        _check_json_lines(file, io.StringIO(text))  # names the first bad line
        raise file.error(f"is not valid JSON lines: {exc}") from None


def _leading_lines(text: str, size: int) -> list[str]:
    """The whole lines within the first `size` characters (at least the first line)."""
    end = text.rfind("\n", 0, size)
    if end < 0:
        end = text.find("\n")
    return (text if end < 0 else text[:end]).split("\n")


def _check_json_lines(file: _File, lines: Iterable[str]) -> None:
    """Every non-blank line is a JSON object (lines numbered from 1)."""
    try:
        for _ in json_line_objects(lines):
            pass
    except JsonLineError as bad:
        raise file.error(f"is not valid JSON lines: {bad}") from None


#: Characters at the start of a JSON-lines file checked line by line before the bulk parse
#: (a few hundred records: milliseconds).
_CHECKED_START = 1 << 16
_JSON_OPTIONS: dict[str, Any] = {
    "orient": "records",
    "dtype": False,
    "convert_dates": False,
    "keep_default_dates": False,
    "precise_float": True,
}


# Encodings --------------------------------------------------------------------------------


def _open_binary(path: Path) -> IO[bytes]:
    opener = _COMPRESSIONS.get(path.suffix.lower())
    return opener(path, "rb") if opener else open(path, "rb")


def _open_text(file: _File) -> io.TextIOWrapper:
    encoding = "utf-8-sig" if codecs.lookup(file.encoding).name == "utf-8" else file.encoding
    return io.TextIOWrapper(_open_binary(file.path), encoding=encoding, newline="")


def _encoding_problem(file: _File) -> DataError:
    try:
        where = _first_undecodable(file)
    except _UNREADABLE:
        where = None
    hint = (
        f"set {file.key}.encoding in the spec to the file's encoding "
        "(for example latin-1 or cp1252)"
    )
    if where is None:
        return file.error(f"is not valid {file.encoding}; {hint}")
    offset, line, byte = where
    return file.error(
        f"is not valid {file.encoding}: byte 0x{byte:02x} at offset {offset:,} "
        f"(line {line}) cannot be decoded; {hint}"
    )


def _first_undecodable(file: _File) -> tuple[int, int, int] | None:
    """(byte offset, line, byte) of the first byte `encoding` cannot decode.

    Offsets count bytes of the decompressed content, as a user's editor shows them.
    """
    decoder = codecs.getincrementaldecoder(file.encoding)()
    offset, line = 0, 1
    with _open_binary(file.path) as handle:
        for chunk in _chunks(handle):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                data = exc.object
                start = offset - pending + exc.start
                return start, line + bytes(data[: exc.start]).count(b"\n"), data[exc.start]
            line += chunk.count(b"\n")
            offset += len(chunk)
    return None


def _chunks(handle: IO[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    while chunk := handle.read(size):
        yield chunk
    yield b""  # lets the decoder flag a truncated sequence at the very end


# --- canonical values ----------------------------------------------------------------------


def _ids(values: pd.Series) -> pd.Categorical:
    """Ids as a categorical of str: the numbers 42 and 42.0 become "42", text stays as
    written (stripped: "42.0" stays "42.0", see `features.ids`), blanks become missing.

    Works on the distinct values only, so a 10M-row column with 100k users is cheap.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes, uniques = values.cat.codes.to_numpy(), values.cat.categories
    elif isinstance(dtype, pd.ArrowDtype) and pa.types.is_dictionary(dtype.pyarrow_dtype):
        return _ids(values.astype(pd.CategoricalDtype()))
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    texts = _id_texts(pd.Index(uniques))
    final_codes, final = pd.factorize(texts, use_na_sentinel=True)
    lookup = np.append(final_codes, -1)
    categories = pd.Index(np.asarray(final, dtype=object), dtype=object)
    return pd.Categorical.from_codes(lookup[codes], categories=categories)


def _id_texts(uniques: pd.Index) -> np.ndarray:
    """Distinct id values -> object array of stripped str, None for blank."""
    dtype = uniques.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return np.asarray([str(bool(v)) for v in uniques], dtype=object)
    if pd.api.types.is_integer_dtype(dtype):
        return np.asarray(uniques.to_numpy()).astype(str).astype(object)
    if pd.api.types.is_float_dtype(dtype):
        return _float_id_texts(uniques.to_numpy(dtype=np.float64, na_value=np.nan))
    if pd.api.types.infer_dtype(uniques, skipna=True) in ("string", "empty"):
        text = pc.utf8_trim_whitespace(pa.array(uniques.to_numpy(dtype=object), type=pa.string()))
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    return np.asarray([_id_text(v) for v in uniques], dtype=object)


def _float_id_texts(values: np.ndarray) -> np.ndarray:
    """42.0 -> "42" (ids read through a float column because of missing values)."""
    whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**63)
    texts = np.empty(len(values), dtype=object)
    texts[whole] = values[whole].astype(np.int64).astype(str)
    texts[~whole] = [_id_text(float(v)) for v in values[~whole]]
    return texts


@dataclass(frozen=True)
class _IdColumns:
    """Reads id-like columns of one source, naming the column when a cell is no id."""

    raw: pd.DataFrame
    what: str
    label: str
    keys: Mapping[str, str]

    def ids(self, column: str, read: Callable[[pd.Series], Any] | None = None) -> Any:
        try:
            return (read or _ids)(self.raw[column])
        except TypeError:  # unhashable cells: lists or mappings (Parquet list/struct, JSON)
            values = self.raw[column]
            nested = next(
                (i for i, v in enumerate(values) if isinstance(v, list | dict | np.ndarray)), 0
            )
            key = f" ({self.keys[column]})" if column in self.keys else ""
            raise DataError(
                f"{_source(self.what, self.label)} column '{column}'{key} holds lists or "
                f"objects, not ids (e.g. row {nested + 1:,}: {_shown(values.iloc[nested])}); "
                "ids, event names and sessions must be text or numbers"
            ) from None


def _shown(value: Any, width: int = 60) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _null_like_ids(column: str, ids: pd.Categorical) -> list[str]:
    """Say when ids spell what a CSV reader would call missing ("NULL", "nan"): they
    are read as ids, and the user may have meant no id."""
    categories = ids.categories
    marked = [i for i, name in enumerate(categories) if name in NULL_LIKE]
    if not marked:
        return []
    rows = int(np.isin(ids.codes, marked).sum())
    names = ", ".join(repr(categories[i]) for i in marked[:_EXAMPLES])
    return [
        f"column '{column}' has {_count(rows, 'row')} whose id is {names}: read as an id "
        "(only a blank cell is a missing id); blank those cells if they mean no id"
    ]


def _number_spellings(trials: pd.DataFrame, column: str) -> list[str]:
    """Trial ids that are one number spelled two ways ("7", "7.0"): two users here."""
    pairs = repeated_numbers(trials["user_id"].unique())
    if not pairs:
        return []
    first, second = pairs[0]
    return [
        f"column '{column}' has {_count(len(pairs), 'pair')} of user ids that spell the same "
        f"number differently (e.g. '{first}' and '{second}'); ids are text, so they are "
        "different users: write each id one way"
    ]


def _session_ids(values: pd.Series) -> np.ndarray | pd.Categorical:
    """Integers stay int64 (cheap to group); anything else becomes a str categorical."""
    dtype = values.dtype
    if pd.api.types.is_integer_dtype(dtype) and not values.isna().any():
        return values.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(dtype):
        numbers_ = values.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isfinite(numbers_).all() and (numbers_ == np.round(numbers_)).all():
            return numbers_.astype(np.int64)
    return _ids(values)


def _blank(values: pd.Series) -> np.ndarray:
    """Missing or whitespace-only: "no value" rather than a bad value."""
    dtype = values.dtype
    missing = values.isna().to_numpy()
    if isinstance(dtype, pd.CategoricalDtype):
        blank_categories = _blank(pd.Series(values.cat.categories))
        return missing | np.append(blank_categories, True)[values.cat.codes.to_numpy()]
    if _is_text(dtype):
        trimmed = pc.utf8_trim_whitespace(pa.array(values.array))
        return missing | _true(pc.fill_null(pc.equal(trimmed, ""), True))
    if pd.api.types.is_object_dtype(dtype):
        return missing | np.fromiter(
            (isinstance(v, str) and not v.strip() for v in values.to_numpy()),
            dtype=bool,
            count=len(values),
        )
    return missing


def _is_text(dtype: Any) -> bool:
    """pandas string dtypes, Arrow-backed or not."""
    if isinstance(dtype, pd.StringDtype):
        return True
    if isinstance(dtype, pd.ArrowDtype):
        arrow = dtype.pyarrow_dtype
        return pa.types.is_string(arrow) or pa.types.is_large_string(arrow)
    return False


def _true(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """float64 values, and which present values were not numbers (now NaN)."""
    dtype = values.dtype
    numeric = pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)
    if numeric:  # numbers and booleans
        result = values.to_numpy(dtype=np.float64, na_value=np.nan)
    elif _is_text(dtype):  # a CSV column with some text in it: stay in Arrow
        text = pc.utf8_trim_whitespace(pa.array(values.array))
        number = _true(pc.fill_null(pc.match_substring_regex(text, _NUMBER_RE), False))
        result = np.full(len(values), np.nan)
        if number.any():
            numbers = pc.cast(pc.filter(text, pa.array(number)), pa.float64())
            result[number] = np.asarray(numbers.to_numpy(zero_copy_only=False))
    else:
        as_objects = values.astype(object) if not pd.api.types.is_object_dtype(dtype) else values
        try:
            coerced = pd.to_numeric(as_objects, errors="coerce")
        except (TypeError, ValueError):  # e.g. lists or dicts from JSON
            coerced = pd.Series([_number(v) for v in as_objects], index=values.index)
        result = np.asarray(coerced, dtype=np.float64)
    # One NaN bit pattern and no -0.0, so row hashes of equal rows are equal.
    missing = np.isnan(result)
    result = np.where(missing, np.nan, result + 0.0)
    bad = np.zeros(len(result), dtype=bool)
    if not numeric:
        rows = np.flatnonzero(missing)
        bad[rows] = ~_blank(values.iloc[rows])
    return result, bad


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 value', '2,000 values'."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def _examples(values: pd.Series, mask: np.ndarray) -> str:
    shown = values.iloc[np.flatnonzero(mask)[:_EXAMPLES]]
    return ", ".join(repr(v) if isinstance(v, str) else repr(str(v)) for v in shown)


def _timestamp_warnings(column: str, raw: pd.Series, parsed: ParsedTimestamps) -> list[str]:
    """Say how times were read when it is not one unambiguous format."""
    warnings = []
    if parsed.mixed:
        warnings.append(
            f"column '{column}' mixes formats: {parsed.describe()}; "
            "each value was parsed by its own format, all as UTC"
        )
    naive = sum(n for name, n in parsed.formats.items() if name in ASSUMED_UTC)
    if naive and not parsed.mixed:
        warnings.append(
            f"column '{column}' has {_count(naive, 'time')} without a time zone; taken as UTC"
        )
    garbage = np.zeros(len(raw), dtype=bool)
    if parsed.unparseable:
        unparsed = np.flatnonzero(parsed.values.isna().to_numpy())
        garbage[unparsed] = ~_blank(raw.iloc[unparsed])
    if garbage.any():
        warnings.append(_unreadable_times(column, raw, garbage))
    implausible = ((parsed.values < _PLAUSIBLE[0]) | (parsed.values >= _PLAUSIBLE[1])).to_numpy()
    if implausible.any():
        warnings.append(
            f"column '{column}' has {_count(int(implausible.sum()), 'time')} before "
            f"{_PLAUSIBLE[0].year} or after {_PLAUSIBLE[1].year - 1} (e.g. "
            f"{_examples(raw, implausible)}); check the unit, or placeholder values such as 0"
        )
    return warnings


def _unreadable_times(column: str, raw: pd.Series, garbage: np.ndarray) -> str:
    """Where (rows count from 1, the header not counted) and why: the first bad value gets
    the parser's sentence, the same an HTTP field or --as-of gets for that value."""
    rows = np.flatnonzero(garbage)
    first = int(rows[0])
    text = (
        f"column '{column}' has {_count(len(rows), 'unreadable time')} (rows not used): "
        f"row {first + 1}: {why_not_a_time(raw.iloc[first])}"
    )
    if len(rows) > 1:
        more = ", ".join(
            f"{int(row) + 1} ({_examples(raw, np.arange(len(raw)) == row)})"
            for row in rows[1:_EXAMPLES]
        )
        text += f"; also row{'s' if len(rows) > 2 else ''} {more}"
        text += " ..." if len(rows) > _EXAMPLES else ""
    return text


# --- unusable rows -------------------------------------------------------------------------


class _Tally:
    """Counts each row once, under the first reason it fails."""

    def __init__(self, n: int) -> None:
        self.usable = np.ones(n, dtype=bool)
        self.unusable: dict[str, int] = {}

    def drop(self, reason: str, bad: np.ndarray) -> None:
        newly = self.usable & bad
        self.unusable[reason] = int(newly.sum())
        self.usable &= ~bad


def _duplicates(frame: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Rows (among `rows`) identical to an earlier one in every column.

    `DataFrame.duplicated` on 10M rows takes ~10 s. Hashing rows and sorting the hashes
    takes ~1 s and narrows the exact comparison to rows whose hash repeats (the true
    duplicates plus rare hash collisions), so the result is still exact.
    """
    positions = np.flatnonzero(rows)
    result = np.zeros(len(frame), dtype=bool)
    if len(positions) < 2:
        return result
    subset = frame if len(positions) == len(frame) else frame.iloc[positions]
    hashes = _row_hashes(subset)
    ordered = np.sort(hashes)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    if len(repeated) == 0:
        return result
    slot = np.minimum(np.searchsorted(repeated, hashes), len(repeated) - 1)
    candidates = np.flatnonzero(repeated[slot] == hashes)
    exact = subset.iloc[candidates].duplicated(keep="first").to_numpy()
    result[positions[candidates[exact]]] = True
    return result


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One uint64 per row such that equal rows get equal values.

    Only equality matters (the values are sorted, not used as a hash table), so numeric
    columns are folded in with an xor-multiply per column, ~10x cheaper than
    `hash_pandas_object`; categoricals by code, which is exact within one column.
    Collisions only add candidates to the exact check.
    """
    combined = np.zeros(len(frame), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for position, name in enumerate(frame.columns):
            multiplier = np.uint64((0x9E3779B97F4A7C15 * (2 * position + 3)) % 2**64 | 1)
            combined = (combined ^ _column_bits(frame[name])) * multiplier
    return combined


def _column_bits(column: pd.Series) -> np.ndarray:
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy().astype(np.int64).view(np.uint64)
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        return column.array.asi8.view(np.uint64)
    if isinstance(dtype, np.dtype) and dtype.kind in "iufb":
        if dtype.kind != "f":
            return column.to_numpy().astype(np.int64, copy=False).view(np.uint64)
        values = column.to_numpy().astype(np.float64, copy=False)
        # One NaN bit pattern, and -0.0 like 0.0: the exact check treats them as equal.
        return np.where(np.isnan(values), np.nan, values + 0.0).view(np.uint64)
    return pd.util.hash_pandas_object(column, index=False).to_numpy()


def _other_columns(raw: pd.DataFrame, used: Iterable[str]) -> dict[str, np.ndarray]:
    """The source columns the spec does not map, each as int codes (equal values, equal
    codes; missing values share one), for the duplicate check.

    Two views of different items in the same second differ only in such a column
    (`item_id`); they are two events, not a re-sent copy. Codes keep the check exact
    and cost a factorization per column (cheaper than hashing the values). Values
    pandas cannot factorize (lists, dicts from JSON) are compared by their text.
    """
    used = set(used)
    codes = {}
    for position, name in enumerate(c for c in raw.columns if c not in used):
        column = raw[name]
        try:
            found, _ = pd.factorize(column, use_na_sentinel=True)
        except TypeError:  # unhashable values
            found, _ = pd.factorize(column.map(repr), use_na_sentinel=True)
        codes[f"__other_column_{position}__"] = found.astype(np.int64, copy=False)
    return codes


def _with_columns(frame: pd.DataFrame, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """`frame` plus `columns`, without copying `frame`'s data (`assign` would)."""
    if not columns:
        return frame
    return pd.DataFrame({**{name: frame[name] for name in frame.columns}, **columns}, copy=False)


# --- events --------------------------------------------------------------------------------


def _event_columns(spec: Spec) -> tuple[dict[str, str], dict[str, str]]:
    """canonical name -> source column, and source column -> spec key (for messages)."""
    mapped = spec.data.events.columns
    canonical: dict[str, str] = {}
    keys: dict[str, str] = {}
    for name in ("user_id", "event", "timestamp", "account_id", "session_id", "plan", "signup_at"):
        source = getattr(mapped, name)
        if source is not None:
            canonical[name] = source
            keys.setdefault(source, f"data.events.columns.{name} = '{source}'")
    for prop in spec.property_columns:
        if prop in canonical:
            raise DataError(
                f"property column '{prop}' has the name of a canonical event column; "
                "rename it in the data and in actions.*.property"
            )
        canonical[prop] = prop
        action = next(n for n, a in spec.actions.items() if a.property == prop)
        keys.setdefault(prop, f"actions.{action}.property = '{prop}'")
    return canonical, keys


def _source_frame(
    frame: pd.DataFrame | None,
    path: Path,
    format: str,
    encoding: str,
    what: str,
    mapping: Mapping[str, str],
    text: Sequence[str],
    keys: Mapping[str, str],
    *,
    all_columns: bool = False,
) -> tuple[pd.DataFrame, str]:
    """The raw frame (read from file, or given) and the report's source name."""
    wanted = list(dict.fromkeys(mapping.values()))
    if frame is None:
        file = _File(Path(path), what, encoding)
        texts = [mapping[c] for c in text if c in mapping]
        ids = [mapping[c] for c in ID_COLUMNS if c in mapping]
        columns = None if all_columns else wanted
        # Events keep plain text Arrow-backed (fast timestamp parsing); trials, small and
        # returned with their extra columns as they are, get ordinary pandas columns.
        raw = _read(file, format, columns, wanted, texts, keys, ids, arrow_strings=what == "events")
        return raw, str(path)
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{what}: expected a pandas DataFrame, got {type(frame).__name__}")
    _check_columns(None, [str(c) for c in frame.columns], wanted, keys)
    return (frame if all_columns else frame[wanted]), DATAFRAME_SOURCE


def load_events(spec: Spec, frame: pd.DataFrame | None = None) -> LoadedEvents:
    """Read the spec's events (or take `frame`, same column mapping) as canonical events.

    A given frame with no rows loads as an empty canonical frame (scoring a user with no
    events is legitimate); a file with no rows is a `DataError`. A file whose rows are all
    unusable still loads: the report says why, the caller decides whether that is fatal.
    A vendor export (`data.events.format` segment, mixpanel, ...) goes through its
    adapter first; the records it turns into no row are counted under its reasons.
    """
    source = spec.data.events
    mapping, keys = _event_columns(spec)
    path = source.local_path("data.events") if frame is None else Path(DATAFRAME_SOURCE)
    if frame is None and source.is_vendor:
        adapted = adapt_file(path, source.format, source.encoding)
        raw, label = _adapted_frame(adapted.frame, path, mapping, keys), str(path)
        rows_read, dropped, details = adapted.records, dict(adapted.dropped), adapted.details
    else:
        raw, label = _source_frame(
            frame,
            path,
            source.format,
            source.encoding,
            "events",
            mapping,
            ("user_id", "account_id", "event", "timestamp", "plan", *spec.distinct_columns),
            keys,
            all_columns=True,  # a duplicate is identical in every column, mapped or not
        )
        rows_read, dropped, details = len(raw), {}, {}
    n = len(raw)
    column = _IdColumns(raw, "events", label, keys)
    columns: dict[str, Any] = {"user_id": column.ids(mapping["user_id"])}
    if "account_id" in mapping:
        columns["account_id"] = column.ids(mapping["account_id"])
    else:
        columns["account_id"] = pd.Categorical.from_codes(
            np.full(n, -1, dtype=np.int8), categories=pd.Index([], dtype=object)
        )
    columns["event"] = column.ids(mapping["event"])
    parsed = parse_timestamps(raw[mapping["timestamp"]])
    columns["timestamp"] = parsed.values.array
    warnings = _timestamp_warnings(mapping["timestamp"], raw[mapping["timestamp"]], parsed)
    for name in ID_COLUMNS:
        if name in mapping:
            warnings += _null_like_ids(mapping[name], columns[name])
    if "session_id" in mapping:
        columns["session_id"] = column.ids(mapping["session_id"], _session_ids)
    if "plan" in mapping:
        columns["plan"] = column.ids(mapping["plan"])
    if "signup_at" in mapping:
        signup = parse_timestamps(raw[mapping["signup_at"]])
        columns["signup_at"] = signup.values.array
        warnings += _timestamp_warnings(mapping["signup_at"], raw[mapping["signup_at"]], signup)
    for prop in spec.property_columns:
        if prop in spec.distinct_columns:  # item ids: text, normalised as every id is
            columns[prop] = column.ids(prop)
            continue
        values, bad = _numbers(raw[prop])
        columns[prop] = values
        if bad.any():
            warnings.append(
                f"column '{prop}' has {_count(int(bad.sum()), 'non-numeric value')} "
                f"(e.g. {_examples(raw[prop], bad)}); read as missing"
            )
    canonical = pd.DataFrame(columns, copy=False)
    others = _other_columns(raw, mapping.values())
    del raw  # only the codes of the unmapped columns are kept, for the duplicate check
    tally = _Tally(n)
    tally.unusable.update(dropped)
    tally.drop(MISSING_USER, canonical["user_id"].isna().to_numpy())
    if spec.entity == "account":
        tally.drop(MISSING_ACCOUNT, canonical["account_id"].isna().to_numpy())
    tally.drop(MISSING_EVENT, canonical["event"].isna().to_numpy())
    tally.drop(BAD_TIMESTAMP, canonical["timestamp"].isna().to_numpy())
    tally.drop(DUPLICATE, _duplicates(_with_columns(canonical, others), tally.usable))
    events = _keep(canonical, tally.usable)
    report = IngestReport(
        source=label,
        rows_read=rows_read,
        unusable=tally.unusable,
        timestamp_formats=parsed.formats,
        warnings=tuple(warnings),
        details=details,
    )
    return LoadedEvents(events=events, report=report)


def _adapted_frame(
    frame: pd.DataFrame, path: Path, mapping: Mapping[str, str], keys: Mapping[str, str]
) -> pd.DataFrame:
    """The mapped columns of an adapter's rows. A column no record has is an error naming
    the spec key, unless no record became a row at all (then every column is empty)."""
    wanted = list(dict.fromkeys(mapping.values()))
    if len(frame) == 0:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in wanted})
    _check_columns(_File(path, "events", "utf-8"), [str(c) for c in frame.columns], wanted, keys)
    return frame  # every column: the unmapped ones take part in the duplicate check


def _keep(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """Usable rows, fresh RangeIndex, categories trimmed to the values still present."""
    if rows.all():
        kept = frame.set_axis(pd.RangeIndex(len(frame)), copy=False)
    else:
        kept = frame.iloc[np.flatnonzero(rows)].reset_index(drop=True)
    for name in kept.columns:
        if isinstance(kept[name].dtype, pd.CategoricalDtype):
            kept[name] = _used_categories(kept[name].array)
    return kept


def _used_categories(values: pd.Categorical) -> pd.Categorical:
    """`remove_unused_categories` without its sort of every code (5 s on 10M rows)."""
    codes = values.codes
    used = np.bincount(codes.astype(np.int64) + 1, minlength=len(values.categories) + 1)[1:] > 0
    if used.all():
        return values
    lookup = np.append(np.cumsum(used) - 1, -1)
    return pd.Categorical.from_codes(lookup[codes], categories=values.categories[used])


# --- trials --------------------------------------------------------------------------------

_TRIAL_TIMES = ("signup_at", "converted_at", "trial_end_at")


def _trial_columns(columns: TrialColumns) -> tuple[dict[str, str], dict[str, str]]:
    canonical: dict[str, str] = {}
    keys: dict[str, str] = {}
    for name in ("user_id", "account_id", "signup_at", "converted_at", "trial_end_at", "plan"):
        source = getattr(columns, name)
        if source is not None:
            canonical[name] = source
            keys.setdefault(source, f"data.trials.columns.{name} = '{source}'")
    return canonical, keys


def load_trials(spec: Spec, frame: pd.DataFrame | None = None) -> LoadedTrials | None:
    """The trials table as canonical trials, or None when there is none.

    Rows without a user id (or, for account scoring, an account id), with an unparseable
    signup time, or with a conversion time that is present but unparseable are dropped
    and counted (a guessed "not converted" would be a wrong label). A user id on two
    different rows is a `DataError`: which row is right cannot be guessed.
    """
    source = spec.data.trials
    if source is None and frame is None:
        return None
    columns = source.columns if source else TrialColumns()
    mapping, keys = _trial_columns(columns)
    # When the label defines conversion from the events or plans, a table may lack the
    # default converted_at column (a column the spec names must be there).
    events_convert = spec.label.conversion_event or spec.label.paid_plans
    named = "converted_at" in columns.model_fields_set
    optional = "converted_at" if events_convert and not named else ""
    raw, label = _source_frame(
        frame,
        source.local_path("data.trials") if source and frame is None else Path(DATAFRAME_SOURCE),
        source.format if source else "auto",
        source.encoding if source else "utf-8",
        "trials",
        {name: column for name, column in mapping.items() if name != optional},
        ("user_id", "account_id", *_TRIAL_TIMES),
        keys,
        all_columns=True,
    )
    if optional in mapping and mapping[optional] not in raw.columns:
        del mapping[optional]
    if "converted_at" in mapping and spec.label.paid_plans:
        raise SpecError(
            f"label.paid_plans and the column '{mapping['converted_at']}' "
            f"(data.trials.columns.converted_at) of {_source('trials', label)} both define "
            "conversion; keep one (set data.trials.columns.converted_at: null to take "
            "conversions from the plans)"
        )
    n = len(raw)
    table = pd.DataFrame(index=pd.RangeIndex(n))
    column = _IdColumns(raw, "trials", label, keys)
    users = column.ids(mapping["user_id"])
    table["user_id"] = np.asarray(users, dtype=object)
    warnings: list[str] = _null_like_ids(mapping["user_id"], users)
    account = mapping.get("account_id")
    if account:
        accounts = column.ids(account)
        table["account_id"] = np.asarray(accounts, dtype=object)
        warnings += _null_like_ids(account, accounts)
    else:
        table["account_id"] = np.full(n, np.nan, object)
    parsed = {}
    for name in _TRIAL_TIMES:
        if name in mapping:
            parsed[name] = parse_timestamps(raw[mapping[name]])
            table[name] = parsed[name].values.array
            warnings += _timestamp_warnings(mapping[name], raw[mapping[name]], parsed[name])
        else:
            table[name] = pd.Series(pd.NaT, index=table.index, dtype="datetime64[ns, UTC]")
    plan = mapping.get("plan")
    table["plan"] = raw[plan].astype(object).to_numpy() if plan else np.full(n, np.nan, object)
    used = set(mapping.values())
    for extra in raw.columns:
        if extra not in used and extra not in table.columns:
            table[extra] = raw[extra].array

    tally = _Tally(n)
    tally.drop(MISSING_USER, table["user_id"].isna().to_numpy())
    if spec.entity == "account" and account:
        tally.drop(MISSING_ACCOUNT, table["account_id"].isna().to_numpy())
    tally.drop(BAD_SIGNUP, table["signup_at"].isna().to_numpy())
    if "converted_at" in mapping:
        conversion = raw[mapping["converted_at"]]
        tally.drop(BAD_CONVERSION, table["converted_at"].isna().to_numpy() & ~_blank(conversion))
    canonical = table[["user_id", "account_id", *_TRIAL_TIMES, "plan"]]
    others = _other_columns(raw, mapping.values())
    tally.drop(DUPLICATE, _duplicates(_with_columns(canonical, others), tally.usable))
    trials = _keep(table, tally.usable)
    _check_unique_users(trials, label, mapping["user_id"])
    warnings += _trial_warnings(trials) + _number_spellings(trials, mapping["user_id"])
    report = IngestReport(
        source=label,
        rows_read=n,
        unusable=tally.unusable,
        timestamp_formats=parsed["signup_at"].formats,
        warnings=tuple(warnings),
    )
    return LoadedTrials(trials, report, mapping.get("converted_at"))


def _check_unique_users(trials: pd.DataFrame, label: str, column: str) -> None:
    repeated = trials["user_id"].duplicated(keep=False)
    if not repeated.any():
        return
    example = trials.loc[repeated, "user_id"].iloc[0]
    count = trials.loc[repeated, "user_id"].nunique()
    raise DataError(
        f"{_source('trials', label)} has {_count(count, 'user id')} on more than one row "
        f"with different values (e.g. '{example}' in column '{column}'); the trials table "
        "needs one row per user"
    )


def _source(what: str, label: str) -> str:
    return f"{what} {label}" if label == DATAFRAME_SOURCE else f"{what} file '{label}'"


def _trial_warnings(trials: pd.DataFrame) -> list[str]:
    early = trials["converted_at"] < trials["signup_at"]
    if early.any():
        return [
            f"{_count(int(early.sum()), 'trial')} converted before signing up "
            f"(e.g. user '{trials.loc[early, 'user_id'].iloc[0]}')"
        ]
    return []
