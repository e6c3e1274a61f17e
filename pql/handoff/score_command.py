"""`pql score`: batch-score every entity of a spec's data into a CRM-ready file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

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
    progress_bar,
    write_frame,
)
from pql.errors import UsageError
from pql.features.cli import load_checked
from pql.features.timestamps import parse_as_of
from pql.handoff.alerts import DEFAULT_STATE_FILE, MAX_ATTEMPTS, MAX_TIMEOUT_S, MIN_TIMEOUT_S
from pql.handoff.lead_report import DEFAULT_ROW_LIMIT
from pql.handoff.run import AlertFormatOption, HandOff


def score_command(
    spec: SpecOption,
    out: Annotated[
        str,
        typer.Option(
            help="Leads file: .csv or .parquet (with --engine spark: a folder of part files, "
            "local or a cloud URI the cluster writes)."
        ),
    ] = "leads.csv",
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Score at this time ('now', ISO 8601, an epoch ...: reference/timestamps.md).",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="MLflow model URI (default: models:/pql-<product>@champion)."),
    ] = None,
    rules: Annotated[
        bool, typer.Option("--rules", help="Score with the spec's rules only, no model.")
    ] = False,
    audit_reasons: Annotated[
        bool,
        typer.Option(
            "--audit-reasons",
            help="Check every reason text against the entity's features and report any "
            "contradiction (number, direction word, absent action named as done).",
        ),
    ] = False,
    history: Annotated[
        Path | None,
        typer.Option(
            envvar="PQL_SCORE_HISTORY",
            help="Score-history folder for pql monitor (default: pql-scores/).",
        ),
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the lead report: one HTML file.")
    ] = None,
    html_rows: Annotated[
        int, typer.Option(min=1, help="Scored leads shown in the HTML report (best first).")
    ] = DEFAULT_ROW_LIMIT,
    alert_webhook: Annotated[
        str | None,
        typer.Option("--alert-webhook", help="POST each newly qualified PQL to this URL."),
    ] = None,
    alert_format: Annotated[
        AlertFormatOption, typer.Option(help="Alert body: json, or slack (incoming webhook).")
    ] = AlertFormatOption.json,
    alert_state: Annotated[
        Path, typer.Option(help="SQLite file remembering qualifications and pending alerts.")
    ] = DEFAULT_STATE_FILE,
    alert_attempts: Annotated[
        int,
        typer.Option(
            min=1, max=MAX_ATTEMPTS, help="Tries per alert (5xx, timeouts, no connection)."
        ),
    ] = 4,
    alert_timeout: Annotated[
        float,
        typer.Option(
            min=MIN_TIMEOUT_S, max=MAX_TIMEOUT_S, help="Seconds to wait for the webhook per try."
        ),
    ] = 10.0,
    engine: EngineOption = Engine.auto,
    partitions: PartitionsOption = None,
    table: TableOption = None,
) -> None:
    """Score every entity with probability, tier, PQL flag and reasons (rows in = rows out)."""
    if engine is Engine.spark:
        _check_spark_options(rules, audit_reasons, html, alert_webhook)
        _spark_score(spec, out, table, as_of, model, partitions)
        return
    if table is not None:
        raise UsageError("--table needs --engine spark")
    if engine is not Engine.local:
        from pql.features.cli import resolve_engine
        from pql.features.spec import load_spec
        from pql.settings import Settings

        chosen, buckets = resolve_engine(engine, load_spec(spec), partitions, Settings.from_env())
        if chosen is Engine.buckets:
            why = "" if engine is Engine.buckets else " (chosen by --engine auto)"
            _check_spark_options(rules, audit_reasons, html, alert_webhook, f"buckets{why}")
            _bucket_score(spec, Path(out), as_of, model, buckets)
            return
    return _local_score(
        spec,
        Path(out),
        as_of,
        model,
        rules,
        audit_reasons,
        history,
        html,
        html_rows,
        alert_webhook,
        alert_format,
        alert_state,
        alert_attempts,
        alert_timeout,
    )


def _check_spark_options(
    rules: bool,
    audit_reasons: bool,
    html: Path | None,
    alert_webhook: str | None,
    engine: str = "spark",
) -> None:
    """What the Spark and bucket engines do not do (yet), refused before any work."""
    refused = [
        name
        for name, given in (
            ("--rules", rules),
            ("--audit-reasons", audit_reasons),
            ("--html", html is not None),
            ("--alert-webhook", alert_webhook is not None),
        )
        if given
    ]
    if refused:
        raise UsageError(
            f"{', '.join(refused)}: not available with --engine {engine}, which writes the "
            "leads only (run --engine local for the report, alerts and the reason audit)"
        )


def _loaded_model(spec, model: str | None, tracking_uri: str):
    """The model to score with, checked against the spec's entity."""
    from pql.serving.registry import champion_uri, load_model

    loaded = load_model(model or champion_uri(spec.product), tracking_uri)
    if spec.data.attributes or loaded.bundle.attributes:
        raise UsageError(
            "key 'data.attributes': fit attributes are joined and scored by --engine local "
            "only (the Spark and bucket engines do not read attribute tables yet)"
        )
    if loaded.bundle.spec.entity != spec.entity:
        raise UsageError(
            f"the model scores {loaded.bundle.spec.entity}s but the spec's entity is "
            f"{spec.entity!r}: use a model trained with this spec"
        )
    return loaded


def _print_leads_run(
    run, unit: str, where: str, started: float, version: str | None, out: str
) -> None:
    """What a Spark or bucket scoring run prints: the log's report and the leads' counts."""
    for line in run.summary.lines(unit):
        console.print(line, highlight=False)
    scored = run.by_status.get("scored", 0)
    console.print(
        f"{run.summary.entities:,} entities in, {run.rows_written:,} rows out: {scored:,} "
        f"scored ({run.pqls:,} PQLs, tiers "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(run.by_tier.items()))
        + f") {where} in {time.perf_counter() - started:.1f}s with model "
        f"v{version} -> {out}",
        highlight=False,
    )
    for status, count in sorted(run.by_status.items()):
        if status != "scored":
            console.print(f"  {status}: {count:,}", highlight=False)


def _bucket_score(
    spec_path: Path, out: Path, as_of: str | None, model: str | None, buckets: int
) -> None:
    from pql.engines.leads import bucket_leads_run
    from pql.features.spec import load_spec
    from pql.settings import Settings

    settings = Settings.from_env()
    check_output(out)
    moment = parse_as_of(as_of)
    spec = load_spec(spec_path)
    loaded = _loaded_model(spec, model, settings.tracking_uri)
    started = time.perf_counter()
    with console.status(f"Splitting into {buckets} entity buckets and scoring ..."):
        run = bucket_leads_run(
            spec,
            loaded.bundle,
            moment,
            out,
            model_version=loaded.version,
            model_status=loaded.status,
            buckets=buckets,
            folder=settings.bucket_dir,
        )
    _print_leads_run(run, "buckets", f"in {buckets} buckets", started, loaded.version, str(out))
    console.print(
        "score history: not recorded by --engine buckets (pql monitor reads runs of the "
        "local engine)",
        highlight=False,
    )


def _spark_score(
    spec_path: Path,
    out: str,
    table: str | None,
    as_of: str | None,
    model: str | None,
    partitions: int | None,
) -> None:
    from pql.engines.leads import leads_run
    from pql.engines.spark import session_for
    from pql.features.cli import check_spark_output
    from pql.features.spec import load_spec
    from pql.settings import Settings

    settings = Settings.from_env()
    check_spark_output(out, table)
    moment = parse_as_of(as_of)
    spec = load_spec(spec_path)
    loaded = _loaded_model(spec, model, settings.tracking_uri)
    started = time.perf_counter()
    spark = session_for(settings)
    with console.status("Spark: reading, summarising and scoring the partitions ..."):
        run = leads_run(
            spark,
            spec,
            loaded.bundle,
            moment,
            out,
            table,
            model_version=loaded.version,
            model_status=loaded.status,
            partitions=partitions,
        )
    _print_leads_run(run, "partitions", "on Spark", started, loaded.version, table or out)
    console.print(
        "score history: not recorded by --engine spark (pql monitor reads runs of the "
        "local engine)",
        highlight=False,
    )


def _local_score(
    spec: Path,
    out: Path,
    as_of: str | None,
    model: str | None,
    rules: bool,
    audit_reasons: bool,
    history: Path | None,
    html: Path | None,
    html_rows: int,
    alert_webhook: str | None,
    alert_format: AlertFormatOption,
    alert_state: Path,
    alert_attempts: int,
    alert_timeout: float,
) -> None:
    from pql.errors import ModelLoadError
    from pql.serving.batch import score_dataset, score_dataset_with_rules
    from pql.serving.moment_checks import moment_warnings
    from pql.serving.registry import champion_uri, load_model
    from pql.serving.score_history import history_folder, record_batch
    from pql.serving.scoring import Scorer
    from pql.settings import Settings

    settings = Settings.from_env()
    check_output(out)
    handoff = HandOff.checked(
        html, html_rows, alert_webhook, alert_format, alert_state, alert_attempts, alert_timeout
    )
    moment = parse_as_of(as_of)
    dataset = load_checked(spec)
    _say_moment(moment, as_of)
    started = time.perf_counter()
    if rules:
        batch = score_dataset_with_rules(dataset, moment)
        write_frame(batch.leads, out)
        _summary(batch, "the spec's rules", out, started)
        _warn(moment_warnings(moment, dataset.events_end))
        handoff.run(batch, dataset.spec, "rules", out)
        return
    history_root = history or settings.score_history
    check_writable(history_folder(dataset.spec.product, history_root), folder=True)
    try:
        loaded = load_model(model or champion_uri(dataset.spec.product), settings.tracking_uri)
    except ModelLoadError as exc:
        if model is not None:
            raise
        # No champion usually means no model could be trained (e.g. too few
        # conversions): say what still works instead of only that the model is missing.
        hint = (
            "score with the spec's rules instead: pql score --rules"
            if dataset.spec.rules
            else "add 'rules' to the spec and run pql score --rules"
        )
        raise ModelLoadError(
            f"{exc.message}\nno champion model for {dataset.spec.product!r}: train one with "
            f"pql train, or {hint}"
        ) from None
    with progress_bar("scoring") as bar:
        task = bar.add_task("entities", total=None)
        batch = score_dataset(
            Scorer(loaded.bundle),
            dataset,
            moment,
            model_version=loaded.version,
            model_status=loaded.status,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if not loaded.is_champion:
        console.print(
            f"[yellow]warning:[/] {loaded.name or loaded.uri} v{loaded.version or '?'} is not "
            f"the champion ({loaded.status}); the leads file's model_status column, the "
            "HTML report and alerts say so",
            highlight=False,
        )
    write_frame(batch.leads, out)
    _summary(batch, f"model v{loaded.version}", out, started)
    _warn(
        moment_warnings(
            moment,
            dataset.events_end,
            batch.features,
            loaded.bundle.reference,
            shape=loaded.bundle.spec.shape,
        )
    )
    for name, count in batch.unseen_levels.items():
        console.print(
            f"  {name}: {count:,} scored row(s) have a level training never saw; scored as "
            "the pooled 'other' level (retrain to learn it)",
            highlight=False,
        )
    if audit_reasons and batch.features is not None:
        _audit(Scorer(loaded.bundle), batch.features)
    console.print(f"score history: {record_batch(batch, loaded, dataset.spec, history_root).path}")
    handoff.run(batch, dataset.spec, loaded.version, out)


def _say_moment(moment: pd.Timestamp, given: str | None) -> None:
    """Which time the run scores at: a default of "now" must never go unnoticed."""
    when = f"{moment:%Y-%m-%d %H:%M:%S} UTC"
    if given is None:
        console.print(f"scoring at {when} (now: no --as-of given)", highlight=False)
    else:
        console.print(f"scoring at {when} (--as-of {given})", highlight=False)


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def _summary(batch, scorer_name: str, out: Path, started: float) -> None:
    leads, scored = batch.leads, batch.scored
    console.print(
        f"{len(leads):,} entities in, {len(leads):,} rows out: {len(scored):,} scored "
        f"({int(scored['is_pql'].sum()):,} PQLs, tiers "
        + ", ".join(f"{k} {v:,}" for k, v in scored["tier"].value_counts().items())
        + f") in {time.perf_counter() - started:.1f}s with {scorer_name} -> {out}"
    )
    if len(scored):
        hot = float((scored["tier"] == "hot").mean())
        console.print(
            f"  hot: {100 * hot:.1f}% of the scored entities (the spec's pql.top_percent is a "
            "share of the training cutoffs; a scoring run's share follows who is in it)"
        )
    for reason, count in leads["not_scored_reason"].dropna().value_counts().items():
        console.print(f"  not scored: {reason}: {count:,}")


def _audit(scorer, features) -> None:
    """`--audit-reasons`: every contradiction is printed (the expected count is zero)."""
    from pql.serving.reason_audit import audit_scores

    report = audit_scores(scorer, features)
    style = "green" if report.ok else "red"
    console.print(
        f"[{style}]reason audit: {len(report.contradictions):,} contradiction(s)[/] in "
        f"{report.checked_reasons:,} reasons of {report.checked_entities:,} entities",
        highlight=False,
    )
    for item in report.contradictions:
        console.print(f"  {item.entity_id}: {item.text!r}: {item.problem}", highlight=False)
