"""Split a local log once into entity buckets on disk, in bounded memory.

The source is streamed in Arrow record batches (Parquet row groups, CSV blocks, JSON
lines chunks); each row gets its position in the source (`ORDER_COLUMN`) and the bucket
of a hash of its normalised entity id, and pyarrow's dataset writer appends it to that
bucket's Parquet files. Nothing holds more than a few batches per bucket, whatever the
size of the log. Reading a bucket back gives the rows the local reader would have given
for those entities (same columns, same Arrow types), in source order.

Why a hash of the *normalised* id: `features.ingest` makes "42", 42, 42.0 and " 42 " one
id, so the events and the trials of one entity must land in one bucket whichever way
each file writes it.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.dataset as ds

from pql.engines.partition import ORDER_COLUMN, PARTITION_COLUMN
from pql.errors import DataError, UsageError

#: Rows per record batch while splitting.
BATCH_ROWS = 131_072
#: Rows the dataset writer holds back for all buckets together before writing row groups.
_BUFFERED_ROWS = 2_000_000
#: A whole-float id ("42.0") is the integer id "42", as in `features.ingest`.
_WHOLE_FLOAT = r"^([+-]?[0-9]+)\.0+$"
_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl"}
_SUFFIXES.update({".json": "jsonl", ".ndjson": "jsonl"})


@dataclass(frozen=True)
class SplitSource:
    """One local table to split: where, how to read it, and which column keys the entity."""

    path: Path
    format: str  # auto, csv, parquet, jsonl
    encoding: str
    key: str  # the id column that decides the bucket
    # columns that must exist; every column is split (a duplicate event is identical in
    # every column, and the trials reader keeps them all), as the local readers read them
    required: Sequence[str]
    text_columns: Sequence[str]  # read as text where the format has no types (CSV)
    what: str  # "events" or "trials", for messages

    @property
    def setting(self) -> str:
        return f"data.{self.what}"


@dataclass(frozen=True)
class SplitTable:
    """A table split into buckets: `folder/_pql_partition=<n>/*.parquet`."""

    folder: Path
    schema: pa.Schema  # of the source columns, with ORDER_COLUMN
    rows: int

    def bucket(self, number: int, arrow_strings: bool) -> pd.DataFrame:
        """Bucket `number`'s rows as a pandas frame (empty, with the columns, if none)."""
        part = self.folder / f"{PARTITION_COLUMN}={number}"
        if part.is_dir():
            table = ds.dataset(part, format="parquet", schema=self.schema).to_table()
        else:
            table = self.schema.empty_table()
        mapper = _arrow_string if arrow_strings else None
        return table.to_pandas(types_mapper=mapper, split_blocks=True, self_destruct=True)


def _arrow_string(arrow_type: pa.DataType) -> pd.ArrowDtype | None:
    """Plain text stays Arrow-backed, as `features.ingest` reads the events."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.ArrowDtype(arrow_type)
    return None


def source_format(source: SplitSource) -> str:
    if source.format in ("csv", "parquet", "jsonl"):
        return source.format
    if source.format != "auto":
        raise UsageError(
            f"{source.setting}.format {source.format!r}: --engine buckets reads csv, parquet "
            "and jsonl; a vendor export goes through the local engine"
        )
    if source.path.is_dir():
        return "parquet"
    suffixes = [s.lower() for s in source.path.suffixes if s.lower() not in (".gz", ".bz2")]
    found = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if found is None:
        raise DataError(
            f"{source.what} file '{source.path}' has a name whose format cannot be told "
            f"from its suffix; set {source.setting}.format"
        )
    return found


def _batches(source: SplitSource) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The source's schema (wanted columns) and its rows as record batches, in order."""
    fmt = source_format(source)
    if not source.path.exists():
        raise DataError(
            f"{source.what} file '{source.path}' not found (set {source.setting}.path in the spec)"
        )
    try:
        if fmt == "parquet":
            dataset = ds.dataset(source.path, format="parquet")
            _check_columns(source, dataset.schema.names)
            scanner = ds.Scanner.from_dataset(
                dataset, columns=list(dataset.schema.names), batch_size=BATCH_ROWS
            )
            return scanner.projected_schema, scanner.to_batches()
        if fmt == "csv":
            encoding = codecs.lookup(source.encoding).name
            read = pcsv.ReadOptions(encoding="utf8" if encoding == "utf-8" else source.encoding)
            parse = pcsv.ParseOptions(newlines_in_values=True)  # as features.ingest reads CSV
            with pcsv.open_csv(source.path, read_options=read, parse_options=parse) as probe:
                header = probe.schema.names
            _check_columns(source, header)
            convert = pcsv.ConvertOptions(
                include_columns=list(header),
                column_types={c: pa.string() for c in source.text_columns if c in header},
                strings_can_be_null=True,
            )
            reader = pcsv.open_csv(
                source.path, read_options=read, parse_options=parse, convert_options=convert
            )
            return reader.schema, iter(reader)
        return _jsonl_batches(source)
    except (pa.ArrowException, OSError, LookupError, UnicodeDecodeError) as exc:
        raise DataError(f"{source.what} file '{source.path}' cannot be read: {exc}") from None


def _jsonl_batches(source: SplitSource) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """JSON lines in chunks, read as `features.ingest` reads them (no type guessing of
    dates, exact floats); every chunk gets the first chunk's schema."""
    chunks = pd.read_json(
        source.path,
        lines=True,
        orient="records",
        dtype=False,
        convert_dates=False,
        keep_default_dates=False,
        precise_float=True,
        chunksize=BATCH_ROWS,
        encoding=source.encoding,
    )
    iterator = iter(chunks)
    first = next(iterator, None)
    if first is None:
        return pa.schema([]), iter(())
    _check_columns(source, [str(c) for c in first.columns])
    wanted = [str(c) for c in first.columns]
    schema = pa.Schema.from_pandas(first[wanted], preserve_index=False)

    def batches() -> Iterator[pa.RecordBatch]:
        for chunk in (first, *iterator):
            table = pa.Table.from_pandas(chunk.reindex(columns=wanted), preserve_index=False)
            yield from table.cast(schema).to_batches()

    return schema, batches()


def _check_columns(source: SplitSource, present: Sequence[str]) -> None:
    wanted = [source.key, *source.required]
    missing = [c for c in dict.fromkeys(wanted) if c not in set(present)]
    if missing:
        raise DataError(
            f"{source.what} file '{source.path}' has no column "
            + ", ".join(f"'{c}'" for c in missing)
            + f"; its columns are: {', '.join(map(str, present)) or '(none)'}"
        )


def bucket_numbers(keys: pa.Array | pa.ChunkedArray, buckets: int) -> np.ndarray:
    """The bucket of each id: a fixed hash of its normalised text (missing ids: 0)."""
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    if pa.types.is_dictionary(keys.type):
        keys = keys.dictionary_decode()
    text = pc.utf8_trim_whitespace(keys.cast(pa.string()))
    text = pc.replace_substring_regex(text, _WHOLE_FLOAT, r"\1")
    encoded = pc.dictionary_encode(text)
    uniques = np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    # pandas' hash_array has a fixed key: the same id is in the same bucket in every run
    of_unique = (pd.util.hash_array(uniques) % np.uint64(buckets)).astype(np.int32)
    indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    return np.where(indices >= 0, of_unique[np.maximum(indices, 0)], 0).astype(np.int32)


def split(source: SplitSource, buckets: int, folder: Path) -> SplitTable:
    """Write `source` into `buckets` hash buckets under `folder`, streaming."""
    schema, batches = _batches(source)
    rows = 0

    def keyed() -> Iterator[pa.RecordBatch]:
        nonlocal rows
        for batch in batches:
            if batch.num_rows == 0:
                continue
            order = pa.array(np.arange(rows, rows + batch.num_rows, dtype=np.int64))
            numbers = pa.array(bucket_numbers(batch.column(source.key), buckets))
            rows += batch.num_rows
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, order, numbers],
                names=[*batch.schema.names, ORDER_COLUMN, PARTITION_COLUMN],
            )

    full = schema.append(pa.field(ORDER_COLUMN, pa.int64()))
    written = full.append(pa.field(PARTITION_COLUMN, pa.int32()))
    try:
        ds.write_dataset(
            keyed(),
            folder,
            schema=written,
            format="parquet",
            partitioning=ds.partitioning(
                pa.schema([(PARTITION_COLUMN, pa.int32())]), flavor="hive"
            ),
            existing_data_behavior="error",
            min_rows_per_group=max(8_192, _BUFFERED_ROWS // buckets),
            max_rows_per_group=max(32_768, 4 * _BUFFERED_ROWS // buckets),
            use_threads=False,  # keep each bucket's rows in source order within a file
        )
    except (pa.ArrowException, UnicodeDecodeError) as exc:
        raise DataError(f"{source.what} file '{source.path}' cannot be read: {exc}") from None
    if rows == 0:
        raise DataError(f"{source.what} file '{source.path}' has no rows")
    return SplitTable(folder, full, rows)
