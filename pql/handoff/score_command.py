"""`pql score`: batch-score every entity of a spec's data into a CRM-ready file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from pql.clikit import (
    SpecOption,
    check_output,
    check_writable,
    console,
    parse_as_of,
    progress_bar,
    write_frame,
)
from pql.features.cli import load_checked
from pql.handoff.alerts import DEFAULT_STATE_FILE, MAX_ATTEMPTS, MAX_TIMEOUT_S, MIN_TIMEOUT_S
from pql.handoff.lead_report import DEFAULT_ROW_LIMIT
from pql.handoff.run import AlertFormatOption, HandOff


def score_command(
    spec: SpecOption,
    out: Annotated[Path, typer.Option(help="Leads file: .csv or .parquet.")] = Path("leads.csv"),
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Score at this time ('now' or ISO 8601).")
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
) -> None:
    """Score every entity with probability, tier, PQL flag and reasons (rows in = rows out)."""
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
    _warn(moment_warnings(moment, dataset.events_end, batch.features, loaded.bundle.reference))
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
