"""Batch scoring with reasons on each partition of entities: `pql score --engine spark`
and `--engine buckets`.

Each partition is scored by `serving.batch.score_dataset`, the local batch scorer
itself (features, TreeSHAP contributions, tiers, reason texts), so a lead scored on
Spark is the lead scored locally. The model bundle travels once per executor inside
the job's closure (Spark ships a task's function once per executor and caches the
broadcast of it), not once per row. Every entity of the log comes out once, scored or
with the reason it was not: the rows written are counted back against the entities
pass 1 found, before the output is put in place.

Serving never imports this module: scoring does not know where it runs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pql.engines.partition import LogSummary, Window, partition_dataset
from pql.features.spec import Spec
from pql.serving.batch import LEAD_COLUMNS, score_dataset
from pql.serving.bundle import ModelBundle
from pql.serving.scoring import Scorer

if TYPE_CHECKING:
    from pql.engines.spark import SparkLog

#: Spark SQL type of each leads column (the local leads file's columns, same names).
LEAD_TYPES = {
    "entity_id": "string",
    "account_id": "string",
    "status": "string",
    "not_scored_reason": "string",
    "probability": "double",
    "score": "double",
    "tier": "string",
    "is_pql": "boolean",
    "reason_1": "string",
    "reason_2": "string",
    "reason_3": "string",
    "negative_reason_1": "string",
    "context": "string",
    "last_active_at": "timestamp",
    "model_version": "string",
    "model_status": "string",
    "as_of": "timestamp",
    "scored_at": "timestamp",
}
assert tuple(LEAD_TYPES) == LEAD_COLUMNS


@dataclass(frozen=True)
class Run:
    """What every partition of one scoring run shares."""

    bundle: ModelBundle
    spec: Spec
    window: Window
    as_of: pd.Timestamp
    scored_at: pd.Timestamp
    model_version: str | None
    model_status: str


def partition_leads(run: Run, events: pd.DataFrame, trials: pd.DataFrame | None) -> pd.DataFrame:
    """The leads of one partition, as the local leads file has them."""
    dataset = partition_dataset(run.spec, events, trials, run.window)
    batch = score_dataset(
        Scorer(run.bundle),
        dataset,
        run.as_of,
        model_version=run.model_version,
        model_status=run.model_status,
    )
    return arrow_ready(batch.leads.assign(scored_at=run.scored_at))


def arrow_ready(leads: pd.DataFrame) -> pd.DataFrame:
    """Nullable pandas types as plain values Arrow maps onto the Spark schema."""
    out = leads.copy()
    out["score"] = out["score"].astype("float64")
    out["is_pql"] = out["is_pql"].astype(object).where(out["is_pql"].notna(), None)
    for name in ("probability",):
        out[name] = pd.to_numeric(out[name], errors="coerce").astype(np.float64)
    for name, kind in LEAD_TYPES.items():
        if kind == "string":
            values = out[name].astype(object)
            out[name] = values.where(values.notna(), None).map(lambda v: v if v is None else str(v))
        elif kind == "timestamp":
            out[name] = pd.to_datetime(out[name], utc=True)
    return out


def spark_leads(log: SparkLog, summary: LogSummary, run: Run):
    """Leads of every partition (a Spark DataFrame, not collected)."""

    def job(events: pd.DataFrame, trials: pd.DataFrame | None) -> pd.DataFrame:
        return partition_leads(run, events, trials)

    schema = ", ".join(f"`{name}` {kind}" for name, kind in LEAD_TYPES.items())
    return log.apply(job, schema)


@dataclass(frozen=True)
class LeadsRun:
    summary: LogSummary
    rows_written: int
    by_status: dict[str, int]  # "scored" / "not scored: <reason>" -> rows
    by_tier: dict[str, int]
    pqls: int
    scored_at: pd.Timestamp


def leads_run(
    spark,
    spec: Spec,
    bundle: ModelBundle,
    as_of: pd.Timestamp,
    out: str | None,
    table: str | None,
    *,
    model_version: str | None,
    model_status: str,
    partitions: int | None = None,
) -> LeadsRun:
    """`pql score --engine spark`: both passes, leads written, rows in = rows out checked."""
    from pyspark.sql import functions as F

    from pql.engines.spark import (
        read_output,
        source_location,
        spark_log,
        summarize_log,
        write_output,
    )

    log = spark_log(spark, spec, partitions)
    summary = summarize_log(log)
    summary.check(source_location(spec.data.events) or str(spec.data.events.table))
    scored_at = pd.Timestamp.now(tz="UTC")
    run = Run(bundle, spec, summary.window, as_of, scored_at, model_version, model_status)
    written = write_output(spark_leads(log, summary, run), out, table, expected=summary.entities)
    counts: pd.DataFrame = (
        read_output(spark, out, table)
        .groupBy("status", "not_scored_reason", "tier")
        .agg(F.count(F.lit(1)).alias("rows"), F.sum(F.col("is_pql").cast("int")).alias("pqls"))
        .toPandas()
    )
    by_status: dict[str, int] = {}
    by_tier: dict[str, int] = {}
    for row in counts.itertuples(index=False):
        status = row.status if row.status == "scored" else f"not scored: {row.not_scored_reason}"
        by_status[status] = by_status.get(status, 0) + int(row.rows)
        if row.status == "scored":
            by_tier[str(row.tier)] = by_tier.get(str(row.tier), 0) + int(row.rows)
    pqls = int(counts["pqls"].fillna(0).sum())
    return LeadsRun(summary, written, by_status, by_tier, pqls, scored_at)


def bucket_leads_run(
    spec: Spec,
    bundle: ModelBundle,
    as_of: pd.Timestamp,
    out: Path,
    *,
    model_version: str | None,
    model_status: str,
    buckets: int,
    folder: Path | None = None,
) -> LeadsRun:
    """`pql score --engine buckets`: split once, both passes, one bucket's leads at a
    time appended to `out`; rows written must equal the entities pass 1 found."""
    from pql.engines.buckets import (
        arrow_schema,
        bucket_log,
        check_local_output,
        summarize_buckets,
        write_frames,
    )

    check_local_output(out)
    by_status: Counter[str] = Counter()
    by_tier: Counter[str] = Counter()
    pqls = 0

    def counted(leads: pd.DataFrame) -> pd.DataFrame:
        nonlocal pqls
        scored = leads["status"] == "scored"
        by_status["scored"] += int(scored.sum())
        by_status.update(f"not scored: {r}" for r in leads.loc[~scored, "not_scored_reason"])
        by_tier.update(str(t) for t in leads.loc[scored, "tier"])
        pqls += int(leads["is_pql"].astype("boolean").fillna(False).sum())
        return leads

    with bucket_log(spec, buckets, folder) as log:
        summary = summarize_buckets(log)
        summary.check(str(spec.data.events.location))
        scored_at = pd.Timestamp.now(tz="UTC")
        run = Run(bundle, spec, summary.window, as_of, scored_at, model_version, model_status)
        frames = log.apply(lambda events, trials: counted(partition_leads(run, events, trials)))
        schema = arrow_schema(list(LEAD_TYPES.items()))
        written = write_frames(frames, out, schema, expected=summary.entities)
    if not by_status["scored"]:
        del by_status["scored"]
    return LeadsRun(summary, written, dict(by_status), dict(by_tier), pqls, scored_at)
