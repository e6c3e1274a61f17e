"""One partition of entities, end to end: the unit every scale-out engine runs.

A partition holds all source rows (events, and trial rows when the spec has a trials
table) of a set of entities, chosen by a hash of the entity's id. pql's own
`load_dataset` and feature functions run on it unchanged, so its rows are the whole
log's rows for those entities, except for two facts that belong to the whole log: the
first and last usable event (`Window`). They decide which snapshot cutoffs exist, so
the engines make two passes: `summarize` every partition (report counts and the
window), then build features (or leads) with the global window set.

Pure pandas: no Spark, no model library (scoring a partition is `engines.leads`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from pql.errors import DataError, DataQualityError, PqlError, SpecError, UsageError
from pql.features.definitions import FeatureDefinitions
from pql.features.pipeline import Dataset, live_features, load_dataset, training_features
from pql.features.rows import ROW_ID_COLUMNS
from pql.features.shape import pinned_for_engines
from pql.features.spec import Spec

#: Position of a row in its source: partitions restore source order with it, so ties
#: (same entity, same millisecond) and "first account seen" resolve as in one pass.
ORDER_COLUMN = "_pql_order"
#: The partition a row belongs to (hash of its normalised entity id).
PARTITION_COLUMN = "_pql_partition"
_ENGINE_COLUMNS = (ORDER_COLUMN, PARTITION_COLUMN)

_ERRORS: dict[str, type[PqlError]] = {
    cls.__name__: cls for cls in (DataError, DataQualityError, SpecError, UsageError, PqlError)
}


@dataclass(frozen=True)
class Window:
    """The whole log's first usable event and where its labels and events end (None
    when it has none), as `load_dataset` finds them on the whole log."""

    data_start: pd.Timestamp | None
    data_end: pd.Timestamp | None  # labels run to here (`Dataset.data_end`)
    observed_until: pd.Timestamp | None = None  # events end here, when earlier

    @property
    def events_end(self) -> pd.Timestamp | None:
        return self.observed_until if self.observed_until is not None else self.data_end


def decode(frame: pd.DataFrame | None, instants: Sequence[str] = ()) -> pd.DataFrame | None:
    """A partition's rows as the local reader would give them, in source order.

    `instants` are columns an engine shipped as epoch microseconds (exact and free of
    any session time zone); they become UTC timestamps again. Engine columns go.
    """
    if frame is None:
        return None
    if ORDER_COLUMN in frame.columns and len(frame) > 1:
        frame = frame.sort_values(ORDER_COLUMN, kind="stable")
    frame = frame.drop(columns=[c for c in _ENGINE_COLUMNS if c in frame.columns])
    for name in instants:
        if name in frame.columns:
            # whole microseconds (nulls make Arrow hand over floats): exact as int64
            micros = pd.to_numeric(frame[name], errors="coerce")
            missing = micros.isna().to_numpy()
            whole = micros.fillna(0).astype(np.int64).to_numpy().astype("datetime64[us]")
            whole[missing] = np.datetime64("NaT")
            frame[name] = pd.Series(whole, index=frame.index).dt.tz_localize("UTC")
    return frame.reset_index(drop=True)


def partition_dataset(
    spec: Spec,
    events: pd.DataFrame,
    trials: pd.DataFrame | None,
    window: Window | None = None,
) -> Dataset:
    """pql's own `load_dataset` on one partition, with the whole log's window and the
    shape the spec fixes (`features.shape.engine_shape`: never inferred per partition)."""
    if spec.data.attributes:
        raise UsageError(
            "key 'data.attributes': fit attributes are joined by --engine local only (the "
            "Spark and bucket engines do not read attribute tables yet)"
        )
    dataset = load_dataset(pinned_for_engines(spec), events=events, trials=trials, strict=False)
    if window is None:
        return dataset
    return replace(
        dataset,
        data_start=window.data_start,
        data_end=window.data_end,
        observed_until=window.observed_until,
    )


# --- pass 1: what each partition holds ------------------------------------------------------

SUMMARY_FIELDS = (
    ("rows_read", "long"),
    ("usable", "long"),
    ("unusable", "string"),  # JSON {reason: rows}
    ("not_used", "string"),  # JSON {reason: usable events no feature reads}
    ("trial_rows", "long"),
    ("trial_unusable", "string"),  # JSON {reason: rows}
    ("entities", "long"),
    ("conversions", "long"),
    ("first_event_us", "long"),
    ("last_event_us", "long"),
    ("labels_until_us", "long"),
    ("error_kind", "string"),
    ("error", "string"),
)


def _micros(stamp: pd.Timestamp | None) -> int | None:
    return None if stamp is None or pd.isna(stamp) else int(stamp.value // 1_000)


def summarize(spec: Spec, events: pd.DataFrame, trials: pd.DataFrame | None) -> pd.DataFrame:
    """One row: the partition's report counts and first/last event, or its error.

    An error is returned, not raised: a Spark executor's traceback would reach the user
    as a Java stack trace instead of pql's message and exit code.
    """
    row: dict[str, object] = {name: None for name, _ in SUMMARY_FIELDS}
    try:
        dataset = partition_dataset(spec, events, trials)
    except PqlError as exc:
        row.update(error_kind=type(exc).__name__, error=exc.message)
        return pd.DataFrame([row])
    quality = dataset.quality
    trial_unusable = {
        key.removeprefix("unusable: "): value
        for key, value in quality.trials.items()
        if key.startswith("unusable: ")
    }
    row.update(
        rows_read=quality.rows_read,
        usable=quality.usable_rows,
        unusable=json.dumps(quality.unusable),
        not_used=json.dumps(quality.not_used_in_features),
        trial_rows=quality.trials.get("rows read", 0),
        trial_unusable=json.dumps(trial_unusable),
        entities=quality.entities,
        conversions=quality.conversions,
        first_event_us=_micros(dataset.data_start),
        last_event_us=_micros(dataset.events_end),
        labels_until_us=_micros(dataset.data_end),
    )
    return pd.DataFrame([row])


@dataclass(frozen=True)
class LogSummary:
    """The partitions' counts added up: the run's report and its window."""

    partitions: int
    rows_read: int
    usable: int
    unusable: dict[str, int]
    not_used: dict[str, int]
    trial_rows: int
    trial_unusable: dict[str, int]
    entities: int
    conversions: int
    window: Window
    errors: list[str] = field(default_factory=list)

    def check(self, source: str) -> None:
        """The errors `load_dataset(strict=True)` raises, for the whole log."""
        if self.usable == 0:
            raise DataQualityError(f"{source}: no usable event rows ({self.rows_read:,} read)")
        if self.entities == 0:
            raise DataQualityError("no entities to score: no signups found")

    def lines(self, unit: str = "partitions") -> list[str]:
        """The report, as the console prints it (`unit`: what the engine calls a part)."""
        start = self.window.data_start
        end = self.window.events_end
        out = [
            f"{self.rows_read:,} event rows read in {self.partitions:,} {unit}: "
            f"{self.usable:,} usable, {self.entities:,} entities, "
            f"{self.conversions:,} conversions; events {start} to {end}"
        ]
        out += [f"  unusable: {reason}: {n:,}" for reason, n in self.unusable.items() if n]
        out += [f"  not used in features: {reason}: {n:,}" for reason, n in self.not_used.items()]
        if self.trial_rows:
            out.append(f"{self.trial_rows:,} trial rows read")
            out += [f"  unusable: {r}: {n:,}" for r, n in self.trial_unusable.items() if n]
        return out


def _added(values: Iterable[object]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for value in values:
        if isinstance(value, str) and value:
            total.update(json.loads(value))
    return dict(total)


def _stamp(micros: float | None) -> pd.Timestamp | None:
    if micros is None or pd.isna(micros):
        return None
    return pd.Timestamp(int(micros), unit="us", tz="UTC")


def combine(summaries: pd.DataFrame) -> LogSummary:
    """Add up `summarize` rows; the first partition error is raised as pql's error."""
    failed = summaries[summaries["error"].notna()]
    if len(failed):
        first = failed.iloc[0]
        raise _ERRORS.get(str(first["error_kind"]), PqlError)(str(first["error"]))

    def total(name: str) -> int:
        return int(summaries[name].fillna(0).sum())

    first_us = summaries["first_event_us"].dropna()
    last_us = summaries["last_event_us"].dropna()
    # a partition's label end is the later of its last event and its latest trials
    # conversion (or data.end_at), so the whole log's is the latest of them
    labels_us = summaries["labels_until_us"].dropna()
    events_end = _stamp(last_us.max()) if len(last_us) else None
    labels_end = _stamp(labels_us.max()) if len(labels_us) else None
    return LogSummary(
        partitions=len(summaries),
        rows_read=total("rows_read"),
        usable=total("usable"),
        unusable=_added(summaries["unusable"]),
        not_used=_added(summaries["not_used"]),
        trial_rows=total("trial_rows"),
        trial_unusable=_added(summaries["trial_unusable"]),
        entities=total("entities"),
        conversions=total("conversions"),
        window=Window(
            _stamp(first_us.min()) if len(first_us) else None,
            labels_end,
            events_end if events_end != labels_end else None,
        ),
    )


# --- pass 2: the features of each partition -------------------------------------------------


def feature_columns(definitions: FeatureDefinitions) -> list[tuple[str, str]]:
    """The columns `partition_features` returns, with their Spark SQL types."""
    ids = [
        ("entity_id", "string"),
        ("account_id", "string"),
        ("snapshot_day", "double"),
        ("as_of", "timestamp"),
        ("signup_at", "timestamp"),
        ("converted_at", "timestamp"),
    ]
    assert [name for name, _ in ids] == list(ROW_ID_COLUMNS)
    return ids + [(name, "double") for name in definitions.names]


def partition_features(
    spec: Spec,
    events: pd.DataFrame,
    trials: pd.DataFrame | None,
    window: Window,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Training snapshot rows (no `as_of`) or live rows at `as_of`, with features."""
    dataset = partition_dataset(spec, events, trials, window)
    if as_of is not None:
        frame, _ = live_features(dataset, as_of)
    elif window.data_end is None:
        frame = pd.DataFrame({name: [] for name, _ in feature_columns(dataset.definitions)})
    else:
        frame, _ = training_features(dataset)
    return typed_ids(frame)


def typed_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Ids as text (missing stays missing) and times as UTC, as Arrow hands them on."""
    out = frame.copy()
    for name in ("entity_id", "account_id"):
        values = out[name].astype(object)
        out[name] = np.where(pd.isna(values), None, values.astype(str))
    for name in ("as_of", "signup_at", "converted_at"):
        out[name] = pd.to_datetime(out[name], utc=True)
    return out
