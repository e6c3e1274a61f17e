"""pql's whole flow as one Spark job: features, training and batch scoring with reasons.

Runs on the active SparkSession (a Databricks job or notebook, `spark-submit`), so the
cluster's master, executors and credentials are the job's own:

    spark-submit --master 'local[2]' examples/spark_job.py \\
        --spec pql-data/pql.yaml --out pql-job --tracking-uri sqlite:///mlflow.db

On Databricks: a Python script task (or wheel task) with `pql-leads[spark]` installed on
the cluster, the same arguments, `--out dbfs:/...` or `--leads-table main.sales.pql_leads`,
and the spec on a path the driver reads (a workspace file or a /Volumes path).

1. `pql features --engine spark`: training snapshot rows, written as Parquet parts.
2. `pql train --engine spark`: the same rows built per partition, gathered on the
   driver, trained there (LightGBM, calibration, baselines), logged to MLflow and gated.
3. `pql score --engine spark`: every entity scored with reasons by the new version
   (whether or not the gate made it champion), rows in = rows out checked.

Training is the one step on the driver: its rows x features must fit there
(docs/reference/training-scale.md; `--negative-sample` shrinks what LightGBM fits on).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd


def run_flow(
    spark: Any,
    spec_path: Path,
    out: str,
    tracking_uri: str,
    *,
    partitions: int | None = None,
    negative_sample: float | None = None,
    leads_table: str | None = None,
    as_of: str | None = None,
) -> dict[str, Any]:
    """Features, training and scoring on `spark`; what each step produced."""
    from pql.engines.leads import leads_run
    from pql.engines.spark import features_run
    from pql.engines.training_rows import spark_training_rows
    from pql.features.spec import load_spec
    from pql.serving.registry import load_model
    from pql.training.cli import with_negative_sample
    from pql.training.rows import from_gathered
    from pql.training.tracking import log_and_register, open_tracking
    from pql.training.train import train_rows

    spec = with_negative_sample(load_spec(spec_path), negative_sample)
    client = open_tracking(tracking_uri)  # fail before any work when the store is wrong

    features = features_run(spark, spec, f"{out}/features.parquet", None, None, partitions)
    print(f"features: {features.rows_written:,} snapshot rows -> {out}/features.parquet")

    source = from_gathered(spec, spark_training_rows(spark, spec, partitions), "spark")
    result = train_rows(source)
    registered = log_and_register(client, source, result)
    print(f"train: {result.verdict}")
    print(f"train: {registered.model_name} v{registered.version}; {registered.decision.summary}")

    model = load_model(f"models:/{registered.model_name}/{registered.version}", tracking_uri)
    moment = pd.Timestamp(as_of) if as_of else source.data_end
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    leads = leads_run(
        spark,
        spec,
        model.bundle,
        moment,
        None if leads_table else f"{out}/leads.parquet",
        leads_table,
        model_version=model.version,
        model_status=model.status,
        partitions=partitions,
    )
    where = leads_table or f"{out}/leads.parquet"
    print(
        f"score: {leads.summary.entities:,} entities in, {leads.rows_written:,} rows out, "
        f"{leads.pqls:,} PQLs at {moment} -> {where}"
    )
    return {
        "features": features,
        "rows": source,
        "result": result,
        "registered": registered,
        "leads": leads,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True, help="the product's pql.yaml")
    parser.add_argument("--out", required=True, help="folder (local or URI) for the outputs")
    parser.add_argument("--tracking-uri", required=True, help="MLflow tracking store")
    parser.add_argument("--partitions", type=int, default=None, help="entity partitions")
    parser.add_argument("--negative-sample", type=float, default=None)
    parser.add_argument("--leads-table", default=None, help="write the leads to this table")
    parser.add_argument("--as-of", default=None, help="score at this time (default: data end)")
    args = parser.parse_args(argv)

    from pyspark.sql import SparkSession

    # the job's own session: spark-submit's or the Databricks cluster's
    builder = SparkSession.builder.appName("pql")
    spark = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate()
    run_flow(
        spark,
        args.spec,
        args.out.rstrip("/"),
        args.tracking_uri,
        partitions=args.partitions,
        negative_sample=args.negative_sample,
        leads_table=args.leads_table,
        as_of=args.as_of,
    )


if __name__ == "__main__":
    main()
