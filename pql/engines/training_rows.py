"""`pql train --engine buckets|spark`: the training snapshot rows built per partition of
entities, gathered on the driver.

Training fits one model on all labelled snapshot rows, so they must end in one process;
what scales out is building them. Every partition runs `engines.partition` (pql's own
ingestion, entity table and feature core, with the whole log's window from pass 1),
exactly as `pql features` does, and hands back its feature rows plus one row of counts
(the snapshot candidates it dropped, by reason) so the training report adds up to the
local engine's. The gathered rows are put in the local engine's order (entities by
signup, then snapshot day), so the model trained on them is the local engine's model.

No model library here: labels, split and LightGBM stay in `training`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pql.engines.partition import (
    LogSummary,
    Window,
    decode,
    feature_columns,
    partition_dataset,
    typed_ids,
)
from pql.features.definitions import FeatureDefinitions
from pql.features.entities import ORACLE_COLUMN
from pql.features.pipeline import training_features
from pql.features.spec import Spec

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: One row per partition carries the partition's snapshot counts (JSON); feature rows
#: have it empty. Spark's applyInPandas returns one frame per group, so the counts ride
#: in the same frame instead of a second job over the log.
COUNTS_COLUMN = "_pql_snapshot_counts"
COUNT_NAMES = ("candidates", "converted_before", "beyond_data", "before_data")
#: The local engine's row order: `build_entities` sorts by signup then id, and
#: `snapshot_rows` repeats each entity over the (ascending) snapshot days.
LOCAL_ORDER = ["signup_at", "entity_id", "snapshot_day"]


def training_columns(definitions: FeatureDefinitions) -> list[tuple[str, str]]:
    """The columns `partition_training_rows` returns, with their Spark SQL types."""
    return [*feature_columns(definitions), (ORACLE_COLUMN, "double"), (COUNTS_COLUMN, "string")]


def partition_training_rows(
    spec: Spec, events: pd.DataFrame, trials: pd.DataFrame | None, window: Window
) -> pd.DataFrame:
    """A partition's snapshot rows with features (and the simulator's oracle when the
    data has one), then one row holding the partition's snapshot counts."""
    definitions = FeatureDefinitions.from_spec(spec)
    names = [name for name, _ in training_columns(definitions)]
    dataset = partition_dataset(spec, events, trials, window)
    counts = dict.fromkeys(COUNT_NAMES, 0)
    if window.data_end is None or dataset.events_end is None:
        frame = pd.DataFrame({name: [] for name, _ in feature_columns(definitions)})
    else:
        frame, snapshots = training_features(dataset)
        counts = {name: int(getattr(snapshots, name)) for name in COUNT_NAMES}
    frame = typed_ids(frame)
    if ORACLE_COLUMN in dataset.entities.columns and len(frame):
        oracle = dataset.entities.set_index("entity_id")[ORACLE_COLUMN].astype(float)
        frame[ORACLE_COLUMN] = frame["entity_id"].map(oracle).astype(np.float64)
    else:
        frame[ORACLE_COLUMN] = np.nan
    frame[COUNTS_COLUMN] = None
    marker = pd.DataFrame({COUNTS_COLUMN: [json.dumps(counts)]})
    return pd.concat([frame, marker], ignore_index=True)[names]


@dataclass(frozen=True)
class GatheredRows:
    """Every partition's snapshot rows in one frame, in the local engine's order."""

    summary: LogSummary
    rows: pd.DataFrame  # ids and features, as `training_features` gives them
    counts: dict[str, int]  # COUNT_NAMES, added up over the partitions
    oracle: pd.Series | None  # entity_id -> the simulator's probability, when known
    parts: int
    unit: str  # "buckets" or "partitions", as the report names them


def gathered(
    frames: pd.DataFrame,
    summary: LogSummary,
    definitions: FeatureDefinitions,
    parts: int,
    unit: str,
) -> GatheredRows:
    """Split the partitions' output into rows, counts and the oracle; local order."""
    marker = frames[COUNTS_COLUMN].notna()
    counts: Counter[str] = Counter()
    for text in frames.loc[marker, COUNTS_COLUMN]:
        counts.update(json.loads(text))
    rows = frames.loc[~marker]
    rows = rows.sort_values(LOCAL_ORDER, kind="stable").reset_index(drop=True)
    oracle = None
    if rows[ORACLE_COLUMN].notna().any():
        oracle = rows.drop_duplicates("entity_id").set_index("entity_id")[ORACLE_COLUMN]
    columns = [name for name, _ in feature_columns(definitions)]
    return GatheredRows(
        summary=summary,
        rows=rows[columns],
        counts={name: int(counts.get(name, 0)) for name in COUNT_NAMES},
        oracle=oracle,
        parts=parts,
        unit=unit,
    )


def bucket_training_rows(spec: Spec, buckets: int, folder: Path | None = None) -> GatheredRows:
    """`pql train --engine buckets`: split once, both passes, rows gathered in memory."""
    from pql.engines.buckets import bucket_log, summarize_buckets

    definitions = FeatureDefinitions.from_spec(spec)
    with bucket_log(spec, buckets, folder) as log:
        summary = summarize_buckets(log)
        summary.check(str(spec.data.events.location))
        window = summary.window
        parts = list(
            log.apply(lambda events, trials: partition_training_rows(spec, events, trials, window))
        )
    return gathered(pd.concat(parts, ignore_index=True), summary, definitions, buckets, "buckets")


def spark_training_rows(
    spark: SparkSession, spec: Spec, partitions: int | None = None
) -> GatheredRows:
    """`pql train --engine spark`: both passes on Spark, rows collected to the driver."""
    from pyspark.sql import functions as F

    from pql.engines.spark import source_location, spark_log, summarize_log

    definitions = FeatureDefinitions.from_spec(spec)
    log = spark_log(spark, spec, partitions)
    summary = summarize_log(log)
    summary.check(source_location(spec.data.events) or str(spec.data.events.table))
    window = summary.window

    def job(events: pd.DataFrame, trials: pd.DataFrame | None) -> pd.DataFrame:
        return partition_training_rows(spec, events, trials, window)

    schema = ", ".join(f"`{name}` {kind}" for name, kind in training_columns(definitions))
    built = log.apply(job, schema)
    # times cross back as epoch microseconds: toPandas would give the session time
    # zone's wall clock instead of instants
    instants = ("as_of", "signup_at", "converted_at")
    micros = [
        F.unix_micros(F.col(name)).alias(name) if name in instants else F.col(f"`{name}`")
        for name in built.columns
    ]
    frames = decode(built.select(*micros).toPandas(), instants)
    assert frames is not None
    return gathered(frames, summary, definitions, log.partitions, "partitions")
