"""`--engine buckets`: a log larger than memory, on one machine, one entity bucket at a time.

The spec's events (and trials) are split once into N hash buckets of entities on disk
(`engines.split`, streaming, bounded memory); then every bucket goes through
`engines.partition` (pql's own ingestion, entities and feature core), exactly as a
Spark partition does, in two passes: pass 1 summarises every bucket (report counts and
the whole log's first and last event, which decide the snapshot cutoffs), pass 2 builds
each bucket's features with that window and appends them to the output. Peak memory is
the split's buffers or the largest bucket's working set, whichever is larger, instead of
the whole log's.

`pql features` and `pql score` choose this engine themselves (`--engine auto`, the
default) when the log's estimated working set exceeds the memory budget
(`PQL_MEMORY_BUDGET`, default half of this machine's memory).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pql.engines.partition import (
    LogSummary,
    combine,
    decode,
    feature_columns,
    partition_features,
    summarize,
)
from pql.engines.split import SplitSource, SplitTable, source_format, split
from pql.errors import DataError, PqlError, UsageError
from pql.features.definitions import FeatureDefinitions
from pql.features.spec import Spec, TrialColumns
from pql.files import atomic_output

#: Working set of the local engine per event row of a Parquet log. benchmarks/bench_scale.py
#: measured a peak of 1.57 GiB for 10.5M simulated events (~160 bytes an event, training
#: features, 51 columns); scoring adds the model and its contributions, hence the margin.
#: A CSV or JSON log is estimated from its bytes on disk instead.
BYTES_PER_EVENT = 250
#: Working set per byte of a CSV / JSON lines file (text is larger on disk than in Arrow,
#: the feature core's frames come on top).
BYTES_PER_TEXT_BYTE = 3
_ARROW_TYPES = {
    "string": pa.string(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("ns", tz="UTC"),
}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)


# --- how much memory, how many buckets ------------------------------------------------------


def parse_size(text: str, what: str = "PQL_MEMORY_BUDGET") -> int:
    """'8GiB', '8G', '500MB', '123456' -> bytes (k, M, G, T count as powers of 1024)."""
    found = _SIZE.match(text)
    if not found or float(found.group(1)) <= 0:
        raise UsageError(f"{what}: {text!r} is not a size; write e.g. 8GiB, 500MiB or 2000000000")
    power = " kmgt".index(found.group(2).lower() or " ")
    return int(float(found.group(1)) * 1024**power)


def physical_memory() -> int:
    """This machine's memory in bytes."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def memory_budget(setting: str | None) -> int:
    """The budget the settings give, else half of this machine's memory."""
    return parse_size(setting) if setting else physical_memory() // 2


def estimated_bytes(spec: Spec) -> int | None:
    """The local engine's working set for the spec's events (None: not a local file)."""
    source = spec.data.events
    if source.path is None or not source.path.exists() or source.is_vendor:
        return None
    try:
        fmt = source_format(_events_source(spec))
        if fmt == "parquet":
            return ds.dataset(source.path, format="parquet").count_rows() * BYTES_PER_EVENT
    except (PqlError, pa.ArrowException, OSError):
        return None  # the local engine reports what is wrong with the file
    files = source.path.rglob("*") if source.path.is_dir() else [source.path]
    return sum(f.stat().st_size for f in files if f.is_file()) * BYTES_PER_TEXT_BYTE


@dataclass(frozen=True)
class Plan:
    """Whether the log fits the budget, and into how many buckets it splits if not."""

    estimate: int | None
    budget: int

    @property
    def out_of_core(self) -> bool:
        return self.estimate is not None and self.estimate > self.budget

    @property
    def buckets(self) -> int:
        """Buckets of about half the budget each (room for an uneven split and the
        output), and never fewer than two."""
        if self.estimate is None:
            return 2
        return max(2, math.ceil(2 * self.estimate / self.budget))

    def line(self) -> str:
        size = "unknown" if self.estimate is None else f"~{_size(self.estimate)}"
        return f"working set {size} for a memory budget of {_size(self.budget)}"


def _size(count: int) -> str:
    for unit, power in (("GiB", 3), ("MiB", 2), ("KiB", 1)):
        if count >= 1024**power:
            return f"{count / 1024**power:.1f} {unit}"
    return f"{count} bytes"


def plan(spec: Spec, budget_setting: str | None) -> Plan:
    return Plan(estimated_bytes(spec), memory_budget(budget_setting))


# --- the log, split ---------------------------------------------------------------------------


def _events_source(spec: Spec) -> SplitSource:
    source = spec.data.events
    if source.is_vendor:
        raise UsageError(
            f"data.events.format {source.format!r}: --engine buckets reads csv, parquet and "
            "jsonl; a vendor export goes through the local engine"
        )
    mapped = source.columns
    key = mapped.account_id if spec.entity == "account" else mapped.user_id
    if key is None:
        raise UsageError("entity 'account' needs data.events.columns.account_id")
    names = ("user_id", "event", "timestamp", "account_id", "session_id", "plan", "signup_at")
    columns = [getattr(mapped, name) for name in names if getattr(mapped, name) is not None]
    text = [
        getattr(mapped, name)
        for name in ("user_id", "account_id", "event", "timestamp", "plan")
        if getattr(mapped, name) is not None
    ]
    text += spec.distinct_columns  # ids ("007" is not 7), as the local reader reads them
    return SplitSource(
        path=source.local_path("data.events"),
        format=source.format,
        encoding=source.encoding,
        key=key,
        required=[*columns, *spec.property_columns],
        text_columns=text,
        what="events",
    )


def _trials_source(spec: Spec) -> SplitSource | None:
    source = spec.data.trials
    if source is None:
        return None
    mapped = source.columns if source.columns else TrialColumns()
    key = mapped.account_id if spec.entity == "account" else mapped.user_id
    if key is None:
        raise UsageError(
            "--engine buckets with entity 'account' and a trials table needs "
            "data.trials.columns.account_id (each trial row's account), so that an "
            "account's trials and events land in one bucket"
        )
    text = [
        getattr(mapped, name)
        for name in ("user_id", "account_id", "signup_at", "converted_at", "trial_end_at")
        if getattr(mapped, name) is not None
    ]
    return SplitSource(
        path=source.local_path("data.trials"),
        format=source.format,
        encoding=source.encoding,
        key=key,
        required=[],  # the trials reader checks its own columns
        text_columns=text,
        what="trials",
    )


@dataclass(frozen=True)
class BucketLog:
    """A spec's events (and trials) split into buckets on disk."""

    spec: Spec
    events: SplitTable
    trials: SplitTable | None
    buckets: int

    def frames(self, number: int) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """Bucket `number` as the local reader would give its rows, in source order."""
        events = decode(self.events.bucket(number, arrow_strings=True))
        trials = None if self.trials is None else self.trials.bucket(number, arrow_strings=False)
        assert events is not None
        return events, decode(trials)

    def apply(
        self, job: Callable[[pd.DataFrame, pd.DataFrame | None], pd.DataFrame]
    ) -> Iterator[pd.DataFrame]:
        """`job(events, trials)` on every bucket, one at a time."""
        for number in range(self.buckets):
            events, trials = self.frames(number)
            yield job(events, trials)
            del events, trials


@contextmanager
def bucket_log(spec: Spec, buckets: int, folder: Path | None = None) -> Iterator[BucketLog]:
    """Split the spec's sources into `buckets` under a temporary folder (in `folder`,
    else the system's), removed afterwards whatever happens."""
    if buckets < 1:
        raise UsageError(f"--partitions must be at least 1, got {buckets}")
    events_source, trials_source = _events_source(spec), _trials_source(spec)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pql-buckets-", dir=folder))
    try:
        events = split(events_source, buckets, work / "events")
        trials = None if trials_source is None else split(trials_source, buckets, work / "trials")
        yield BucketLog(spec, events, trials, buckets)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def summarize_buckets(log: BucketLog) -> LogSummary:
    """Pass 1: every bucket's counts and first/last event, added up."""
    spec = log.spec
    rows = list(log.apply(lambda events, trials: summarize(spec, events, trials)))
    return combine(pd.concat(rows, ignore_index=True))


# --- writing, one bucket after another ------------------------------------------------------


def arrow_schema(columns: list[tuple[str, str]]) -> pa.Schema:
    """The output's schema from the engines' column types (the Spark schema's names)."""
    return pa.schema([(name, _ARROW_TYPES[kind]) for name, kind in columns])


class FrameSink:
    """Frames appended to one Parquet or CSV file, put in place only when complete."""

    def __init__(self, temporary: Path, schema: pa.Schema, csv: bool) -> None:
        self.temporary, self.schema, self.csv = temporary, schema, csv
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None

    def append(self, frame: pd.DataFrame) -> None:
        frame = frame[self.schema.names]
        if self.csv:
            frame.to_csv(self.temporary, mode="a", header=self.rows == 0, index=False)
        else:
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.temporary, self.schema)
            self._writer.write_table(
                pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
            )
        self.rows += len(frame)

    def close(self) -> int:
        """Rows in the finished file, counted back from it (CSV: as written)."""
        if self.csv:
            if self.rows == 0:
                pd.DataFrame(columns=self.schema.names).to_csv(self.temporary, index=False)
            return self.rows
        if self._writer is None:
            pq.write_table(self.schema.empty_table(), self.temporary)
        else:
            self._writer.close()
        return int(pq.ParquetFile(self.temporary).metadata.num_rows)


def write_frames(
    frames: Iterator[pd.DataFrame], out: Path, schema: pa.Schema, expected: int | None = None
) -> int:
    """Write every frame to `out` (.parquet or .csv) atomically; rows written.

    With `expected`, a different number of rows is an error and `out` is left as it was.
    """
    csv = out.suffix.lower() == ".csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as temporary:
        sink = FrameSink(temporary, schema, csv)
        for frame in frames:
            sink.append(frame)
        written = sink.close()
        if written != sink.rows or (expected is not None and written != expected):
            raise PqlError(
                f"{out}: {written:,} rows written for {expected or sink.rows:,} expected (rows "
                "in must equal rows out); the output was not put in place"
            )
    return written


# --- the run behind `pql features --engine buckets` -----------------------------------------


@dataclass(frozen=True)
class BucketRun:
    summary: LogSummary
    rows_written: int
    buckets: int


def check_local_output(out: Path) -> None:
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise DataError(f"{out}: output must end in .parquet or .csv")


def features_run(
    spec: Spec,
    out: Path,
    as_of: pd.Timestamp | None,
    buckets: int,
    folder: Path | None = None,
) -> BucketRun:
    """`pql features --engine buckets`: split once, both passes, rows appended to `out`."""
    check_local_output(out)
    definitions = FeatureDefinitions.from_spec(spec)
    with bucket_log(spec, buckets, folder) as log:
        summary = summarize_buckets(log)
        summary.check(str(spec.data.events.location))
        window = summary.window
        frames = log.apply(
            lambda events, trials: partition_features(spec, events, trials, window, as_of)
        )
        written = write_frames(frames, out, arrow_schema(feature_columns(definitions)))
    return BucketRun(summary, written, buckets)
