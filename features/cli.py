"""`pql simulate`, `pql validate`, `pql features`: the sub-commands this package owns."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer

from pql.clikit import (
    Engine,
    EngineOption,
    PartitionsOption,
    SpecOption,
    TableOption,
    check_output,
    check_writable,
    console,
    write_frame,
)
from pql.errors import DataError, ExitCode, UsageError
from pql.features.definitions import FeatureDefinitions
from pql.features.pipeline import Dataset, live_features, load_dataset, training_features
from pql.features.spec import Spec, load_spec
from pql.features.timestamps import parse_as_of
from pql.settings import Settings

if TYPE_CHECKING:
    from pql.engines.partition import LogSummary


def load_checked(spec_path: Path, *, strict: bool = True) -> Dataset:
    spec = load_spec(spec_path)
    with console.status(f"Reading {Path(spec.data.events.location).name} ..."):
        return load_dataset(spec, strict=strict)


def validate_command(
    spec: SpecOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check a spec and its data; print the data-quality report (exit 4 when fatal)."""
    dataset = load_checked(spec, strict=False)
    if as_json:
        typer.echo(json.dumps(dataset.quality.to_dict(), indent=2, default=str))
    else:
        dataset.quality.render(console)
    if dataset.quality.is_fatal:
        raise typer.Exit(code=ExitCode.DATA_QUALITY)


def features_command(
    spec: SpecOption,
    out: Annotated[
        str,
        typer.Option(
            help="Output .parquet or .csv (with --engine spark: a folder of part files, "
            "local or a cloud URI the cluster writes)."
        ),
    ] = "features.parquet",
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Live features at this time ('now', ISO 8601, an epoch ...: "
            "docs/reference/timestamps.md); "
            "without it: training snapshots at the spec's snapshot days.",
        ),
    ] = None,
    engine: EngineOption = Engine.auto,
    partitions: PartitionsOption = None,
    table: TableOption = None,
) -> None:
    """Build point-in-time features: training snapshots, or live rows at --as-of."""
    moment = None if as_of is None else parse_as_of(as_of)
    if engine is Engine.spark:
        _spark_features(load_spec(spec), out, table, moment, partitions)
        return
    engine, buckets = resolve_engine(engine, load_spec(spec), partitions, Settings.from_env())
    if engine is Engine.buckets:
        if table is not None:
            raise UsageError("--table needs --engine spark")
        _bucket_features(load_spec(spec), Path(out), moment, buckets)
        return
    if table is not None:
        raise UsageError("--table needs --engine spark")
    target = Path(out)
    check_output(target)
    dataset = load_checked(spec)
    started = time.perf_counter()
    if moment is None:
        frame, snapshots = training_features(dataset)
        console.print(
            f"{len(frame):,} snapshot rows from {snapshots.candidates:,} candidates "
            f"({snapshots.converted_before:,} converted before the cutoff, "
            f"{snapshots.beyond_data:,} past the end of the data, "
            f"{snapshots.before_data:,} at or before its start)"
        )
    else:
        frame, live = live_features(dataset, moment)
        console.print(
            f"{len(frame):,} entities scored at {frame['as_of'].iloc[0] if len(frame) else as_of}"
        )
        for reason, count in live.not_scored["reason"].value_counts().items():
            console.print(f"  not scored: {reason}: {count:,}")
    write_frame(frame, target)
    console.print(
        f"{len(dataset.definitions.names)} features in {time.perf_counter() - started:.1f}s "
        f"-> {target}"
    )


def resolve_engine(
    engine: Engine, spec: Spec, partitions: int | None, settings: Settings
) -> tuple[Engine, int]:
    """`auto` made concrete: buckets when the log's estimated working set exceeds the
    memory budget, else local; with the number of buckets (`--partitions` wins)."""
    from pql.engines.buckets import plan

    if engine not in (Engine.auto, Engine.buckets):
        return engine, 1
    sizing = plan(spec, settings.memory_budget)
    if engine is Engine.auto:
        if not sizing.out_of_core:
            return Engine.local, 1
        console.print(
            f"out of core: {sizing.line()} (PQL_MEMORY_BUDGET); --engine local to keep "
            "the whole log in memory",
            highlight=False,
        )
    return Engine.buckets, partitions or sizing.buckets


def _bucket_features(spec: Spec, out: Path, moment: pd.Timestamp | None, buckets: int) -> None:
    from pql.engines.buckets import features_run

    check_output(out)
    started = time.perf_counter()
    with console.status(f"Splitting into {buckets} entity buckets and building features ..."):
        run = features_run(spec, out, moment, buckets, Settings.from_env().bucket_dir)
    where = f"in {run.buckets} buckets"
    _print_run(spec, run.summary, run.rows_written, moment, started, out, "buckets", where)


def check_spark_output(out: str, table: str | None) -> None:
    """Fail before the work: a known suffix, and a writable folder for a local output."""
    if table is not None:
        return
    if not out.rstrip("/").lower().endswith((".parquet", ".csv")):
        raise DataError(f"{out}: output must end in .parquet or .csv")
    if "://" not in out:
        check_writable(Path(out).parent, folder=True)


def _spark_features(
    spec: Spec, out: str, table: str | None, moment: pd.Timestamp | None, partitions: int | None
) -> None:
    from pql.engines.spark import features_run, session_for

    check_spark_output(out, table)
    started = time.perf_counter()
    spark = session_for(Settings.from_env())
    with console.status("Spark: reading and summarising the partitions ..."):
        run = features_run(spark, spec, out, table, moment, partitions)
    summary, written = run.summary, run.rows_written
    _print_run(spec, summary, written, moment, started, table or out, "partitions", "on Spark")


def _print_run(
    spec: Spec,
    summary: LogSummary,
    rows_written: int,
    moment: pd.Timestamp | None,
    started: float,
    out: object,
    unit: str,
    where: str,
) -> None:
    """An engine run's report and what it wrote (buckets and Spark say the same)."""
    for line in summary.lines(unit):
        console.print(line, highlight=False)
    what = "live rows at " + str(moment) if moment is not None else "snapshot rows"
    not_live = f" ({summary.entities - rows_written:,} entities not scorable then)"
    console.print(
        f"{rows_written:,} {what}"
        + (not_live if moment is not None else "")
        + f", {len(FeatureDefinitions.from_spec(spec).names)} features, {where} in "
        f"{time.perf_counter() - started:.1f}s -> {out}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Mount this package's commands on the `pql` application."""
    app.command("validate")(validate_command)
    app.command("features")(features_command)
