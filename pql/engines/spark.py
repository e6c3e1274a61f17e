"""`--engine spark`: pql's feature core on each hash partition of entities, on Spark.

The session is the active one when there is one (a Databricks job or notebook,
spark-submit), else a Spark Connect remote or a master URL the user gives, else
`local[*]`. The spec's sources are read by Spark (Parquet, CSV, JSON lines, local or
cloud paths the cluster can read, or a catalog table), rows are keyed by a hash of
the normalised entity id, and every partition runs `engines.partition` (pql's own
ingestion, entities and feature core) through `groupBy(...).applyInPandas` (with the
trials table: `cogroup`). Times cross the Arrow boundary as epoch microseconds, so no
session time zone can shift them.

PySpark is an optional extra: it is imported inside the functions, and its absence is
a `UsageError` saying how to install it.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pql.engines.partition import (
    ORDER_COLUMN,
    PARTITION_COLUMN,
    SUMMARY_FIELDS,
    LogSummary,
    Window,
    combine,
    decode,
    feature_columns,
    partition_features,
    summarize,
)
from pql.errors import DataError, PqlError, UsageError
from pql.features.definitions import FeatureDefinitions
from pql.features.spec import Spec, TrialColumns
from pql.settings import local_spark_python

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

INSTALL_HINT = "pip install 'pql-leads[spark]'"
_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "json",
    ".json": "json",
    ".ndjson": "json",
}
#: A whole-float id ("42.0") is the integer id "42", as in `features.ingest`.
_WHOLE_FLOAT = r"^([+-]?[0-9]+)\.0+$"


def require_pyspark() -> None:
    """A clear message (exit 2) instead of an ImportError when the extra is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise UsageError(
            f"--engine spark needs PySpark, which is not installed: {INSTALL_HINT}"
        ) from None


def spark_session(master: str | None = None, remote: str | None = None) -> SparkSession:
    """The active session, else one at `remote` (Spark Connect) or `master`, else local[*]."""
    require_pyspark()
    from pyspark.sql import SparkSession

    if remote:
        try:
            return SparkSession.builder.remote(remote).getOrCreate()
        except ImportError as exc:
            raise UsageError(
                f"Spark Connect ({remote}) needs PySpark's connect extra: "
                f"pip install 'pyspark[connect]' ({exc})"
            ) from None
    active = SparkSession.getActiveSession()
    if active is not None and not master:
        return active
    where = master or "local[*]"
    builder = SparkSession.builder.appName("pql").master(where)
    builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
    if where.startswith("local"):
        # local workers run this very interpreter (its pql, pandas, numpy), not the
        # first `python3` on PATH; a cluster's workers use the cluster's Python
        local_spark_python(sys.executable)
    return builder.getOrCreate()


# --- reading the spec's sources -------------------------------------------------------------


def _format(location: str, declared: str, key: str) -> str:
    if declared in ("csv", "parquet"):
        return declared
    if declared == "jsonl":
        return "json"
    if declared != "auto":
        raise UsageError(
            f"{key}.format {declared!r}: --engine spark reads csv, parquet and jsonl; "
            "convert the export with the local engine first"
        )
    name = location.rstrip("/").lower()
    for compression in (".gz", ".bz2"):
        name = name.removesuffix(compression)
    for suffix, fmt in _FORMATS.items():
        if name.endswith(suffix):
            return fmt
    return "parquet"  # a folder of part files, as Spark and lakehouse tables write them


def read_source(
    spark: SparkSession, location: str | None, table: str | None, declared: str, key: str
) -> DataFrame:
    """A spec source as a Spark DataFrame: a catalog table, or files Spark reads."""
    from pyspark.errors import AnalysisException

    try:
        if table:
            return spark.table(table)
        if not location:
            raise UsageError(f"{key}: give a path or a table")
        fmt = _format(location, declared, key)
        reader = spark.read.format(fmt)
        if fmt == "csv":
            reader = reader.option("header", "true").option("inferSchema", "false")
        return reader.load(location)
    except AnalysisException as exc:
        what = f"table {table!r}" if table else f"'{location}'"
        hint = ""
        if "TIMESTAMP(NANOS" in str(exc):
            hint = (
                " (Spark reads no nanosecond Parquet timestamps, pandas' default: write "
                "them in microseconds, e.g. to_parquet(..., coerce_timestamps='us', "
                "allow_truncated_timestamps=True))"
            )
        raise DataError(f"{key}: Spark cannot read {what}: {_first_line(exc)}{hint}") from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _normalised_id(column: Column) -> Column:
    """The id text `features.ingest` makes of a value: trimmed, "42.0" -> "42"."""
    from pyspark.sql import functions as F

    text = F.trim(column.cast("string"))
    return F.regexp_replace(text, _WHOLE_FLOAT, "$1")


def _prepared(
    frame: DataFrame, columns: dict[str, str], key_column: str, partitions: int, what: str
) -> tuple[DataFrame, list[str]]:
    """The mapped columns in source order, times as epoch micros, and the partition key."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    missing = [key for source, key in columns.items() if source not in frame.columns]
    if missing:
        raise DataError(
            f"{what}: no column for {', '.join(missing)}; columns are: "
            + ", ".join(frame.columns[:30])
        )
    frame = frame.withColumn(ORDER_COLUMN, F.monotonically_increasing_id())
    instants: list[str] = []
    selected: list[Column] = []
    for source in columns:
        data_type = frame.schema[source].dataType
        column = F.col(f"`{source}`")
        if isinstance(data_type, T.TimestampType):
            selected.append(F.unix_micros(column).alias(source))
            instants.append(source)
        elif isinstance(data_type, T.TimestampNTZType | T.DateType):
            # naive times: the local reader takes them as UTC, so send their UTC text
            selected.append(F.date_format(column, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS").alias(source))
        else:
            selected.append(column)
    partition = F.pmod(F.xxhash64(_normalised_id(F.col(f"`{key_column}`"))), F.lit(partitions))
    prepared = frame.select(
        *selected, F.col(ORDER_COLUMN), partition.cast("int").alias(PARTITION_COLUMN)
    )
    return prepared, instants


def _event_columns(spec: Spec) -> dict[str, str]:
    """Source column -> the spec key that names it (the columns the local reader reads)."""
    mapped = spec.data.events.columns
    out: dict[str, str] = {}
    for name in ("user_id", "event", "timestamp", "account_id", "session_id", "plan", "signup_at"):
        source = getattr(mapped, name)
        if source is not None:
            out.setdefault(source, f"data.events.columns.{name}")
    for prop in spec.property_columns:
        out.setdefault(prop, f"actions.*.property {prop!r}")
    return out


def _trial_columns(spec: Spec) -> dict[str, str]:
    mapped = spec.data.trials.columns if spec.data.trials else TrialColumns()
    return {
        getattr(mapped, name): f"data.trials.columns.{name}"
        for name in ("user_id", "account_id", "signup_at", "converted_at", "trial_end_at", "plan")
        if getattr(mapped, name) is not None
    }


@dataclass(frozen=True)
class SparkLog:
    """A spec's events (and trials) on Spark, keyed by partition, ready for the passes."""

    spec: Spec
    events: DataFrame
    trials: DataFrame | None
    event_instants: tuple[str, ...]
    trial_instants: tuple[str, ...]
    partitions: int

    def apply(self, job: Callable[[pd.DataFrame, pd.DataFrame | None], pd.DataFrame], schema: str):
        """`job(events, trials)` on every partition (pandas frames as the local reader's)."""
        event_instants, trial_instants = self.event_instants, self.trial_instants
        grouped = self.events.groupBy(PARTITION_COLUMN)
        if self.trials is None:

            def on_events(events: pd.DataFrame) -> pd.DataFrame:
                return job(decode(events, event_instants), None)

            return grouped.applyInPandas(on_events, schema)

        def on_both(events: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
            return job(
                decode(events, event_instants),
                decode(trials, trial_instants),
            )

        return grouped.cogroup(self.trials.groupBy(PARTITION_COLUMN)).applyInPandas(on_both, schema)


def _partitions(spark: SparkSession, partitions: int | None) -> int:
    if partitions is not None:
        if partitions < 1:
            raise UsageError(f"--partitions must be at least 1, got {partitions}")
        return partitions
    return int(spark.conf.get("spark.sql.shuffle.partitions") or 200)


def spark_log(spark: SparkSession, spec: Spec, partitions: int | None = None) -> SparkLog:
    """Read the spec's sources on Spark and key every row by its entity's partition."""
    source = spec.data.events
    if source.is_vendor:
        raise UsageError(
            f"data.events.format {source.format!r}: --engine spark reads csv, parquet and "
            "jsonl; a vendor export goes through the local engine"
        )
    count = _partitions(spark, partitions)
    event_columns = _event_columns(spec)
    mapped = source.columns
    key = mapped.account_id if spec.entity == "account" else mapped.user_id
    if key is None:
        raise UsageError("entity 'account' needs data.events.columns.account_id")
    raw_events = read_source(
        spark, source_location(source), source.table, source.format, "data.events"
    )
    # every column rides along: an exact duplicate is identical in every source column
    event_columns.update({name: name for name in raw_events.columns if name not in event_columns})
    events, event_instants = _prepared(
        raw_events,
        event_columns,
        key,
        count,
        "data.events",
    )
    trials = None
    trial_instants: list[str] = []
    if spec.data.trials is not None:
        trial_source = spec.data.trials
        trial_key = (
            trial_source.columns.account_id
            if spec.entity == "account"
            else trial_source.columns.user_id
        )
        if trial_key is None:
            raise UsageError(
                "--engine spark with entity 'account' and a trials table needs "
                "data.trials.columns.account_id (each trial row's account), so that an "
                "account's trials and events land in one partition"
            )
        raw_trials = read_source(
            spark,
            source_location(trial_source),
            trial_source.table,
            trial_source.format,
            "data.trials",
        )
        columns = _trial_columns(spec)
        # the trials reader keeps every column of the file (extras ride along)
        columns.update({name: name for name in raw_trials.columns if name not in columns})
        trials, trial_instants = _prepared(raw_trials, columns, trial_key, count, "data.trials")
    return SparkLog(spec, events, trials, tuple(event_instants), tuple(trial_instants), count)


def source_location(source: Any) -> str | None:
    """A source's path or URI as Spark wants it (None for a catalog table)."""
    uri = getattr(source, "uri", None)
    if uri:
        return str(uri)
    path = getattr(source, "path", None)
    return None if path is None else str(path)


# --- the two passes -------------------------------------------------------------------------


def _schema(fields: list[tuple[str, str]]) -> str:
    return ", ".join(f"`{name}` {kind}" for name, kind in fields)


def summarize_log(log: SparkLog) -> LogSummary:
    """Pass 1: every partition's counts and first/last event, added up on the driver."""
    spec = log.spec

    def job(events: pd.DataFrame, trials: pd.DataFrame | None) -> pd.DataFrame:
        return summarize(spec, events, trials)

    rows = log.apply(job, _schema(list(SUMMARY_FIELDS))).toPandas()
    return combine(rows)


def features_frame(log: SparkLog, window: Window, as_of: pd.Timestamp | None) -> DataFrame:
    """Pass 2: feature rows of every partition (a Spark DataFrame, not collected)."""
    spec = log.spec
    definitions = FeatureDefinitions.from_spec(spec)

    def job(events: pd.DataFrame, trials: pd.DataFrame | None) -> pd.DataFrame:
        return partition_features(spec, events, trials, window, as_of)

    return log.apply(job, _schema(feature_columns(definitions)))


# --- writing --------------------------------------------------------------------------------


def _is_local(location: str) -> bool:
    return "://" not in location or location.startswith("file://")


@contextmanager
def replaced_output(location: str) -> Iterator[str]:
    """Where Spark writes: beside a local output, moved into place only when complete.

    A failed or killed job leaves the previous output whole. A cloud URI is written in
    place (object stores have no rename); Spark's own commit protocol applies there.
    """
    if not _is_local(location):
        yield location
        return
    target = Path(location.removeprefix("file://"))
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield str(temporary)
        if target.is_dir():
            old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
            target.rename(old)
            temporary.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if target.exists():
                target.unlink()
            temporary.rename(target)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)


def read_output(spark: SparkSession, location: str | None, table: str | None) -> DataFrame:
    """What `write_output` wrote, read back by Spark."""
    if table:
        return spark.table(table)
    assert location is not None
    if location.rstrip("/").lower().endswith(".csv"):
        return spark.read.option("header", "true").csv(location)
    return spark.read.parquet(location)


def _check_rows(written: int, expected: int | None, where: str) -> None:
    if expected is not None and written != expected:
        raise PqlError(
            f"{where}: {written:,} rows written for {expected:,} expected (rows in must equal "
            "rows out); the output was not put in place"
        )


@contextmanager
def _utc_parquet_times(spark: SparkSession) -> Iterator[None]:
    """Parquet times as UTC-adjusted microseconds (Spark's default, INT96, reads back
    as naive times elsewhere); the session's own setting is restored afterwards."""
    key = "spark.sql.parquet.outputTimestampType"
    before = spark.conf.get(key)
    spark.conf.set(key, "TIMESTAMP_MICROS")
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def write_output(
    frame: DataFrame, location: str | None, table: str | None, expected: int | None = None
) -> int:
    """Write Parquet (or CSV, by suffix) part files, or a catalog table; rows written.

    With `expected`, the rows written are counted back and a difference is an error
    (for a local path, before the output replaces the previous one).
    """
    spark = frame.sparkSession
    if table:
        frame.write.mode("overwrite").saveAsTable(table)
        written = int(spark.table(table).count())
        _check_rows(written, expected, f"table {table}")
        return written
    if location is None:
        raise UsageError("give an output path or table")
    csv = location.rstrip("/").lower().endswith(".csv")
    with replaced_output(location) as where, _utc_parquet_times(spark):
        writer = frame.write.mode("overwrite")
        if csv:
            writer.option("header", "true").csv(where)
            written = int(spark.read.option("header", "true").csv(where).count())
        else:
            writer.parquet(where)
            written = int(spark.read.parquet(where).count())
        _check_rows(written, expected, location)
    return written


# --- the runs behind the commands -----------------------------------------------------------


@dataclass(frozen=True)
class SparkRun:
    """What a command prints after a Spark job: the log's report and the rows written."""

    summary: LogSummary
    rows_written: int
    partitions: int


def session_for(settings: Any) -> SparkSession:
    """The session a command uses (see `spark_session`), from pql's settings."""
    return spark_session(settings.spark_master, settings.spark_remote)


def features_run(
    spark: SparkSession,
    spec: Spec,
    out: str | None,
    table: str | None,
    as_of: pd.Timestamp | None = None,
    partitions: int | None = None,
) -> SparkRun:
    """`pql features --engine spark`: both passes, written as Parquet/CSV parts or a table."""
    log = spark_log(spark, spec, partitions)
    summary = summarize_log(log)
    summary.check(source_location(spec.data.events) or str(spec.data.events.table))
    frame = features_frame(log, summary.window, as_of)
    written = write_output(frame, out, table)
    return SparkRun(summary, written, log.partitions)
