"""`pql monitor`: the latest scoring run against training, and whether to retrain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pql.clikit import SpecOption, check_writable, console
from pql.features.cli import load_checked
from pql.features.spec import load_spec
from pql.settings import Settings


def monitor_command(
    spec: SpecOption,
    history: Annotated[
        Path | None,
        typer.Option(
            envvar="PQL_SCORE_HISTORY",
            help="Score-history folder pql score wrote (default: pql-scores/).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Report folder (Markdown + PNG plots).")] = Path(
        "pql-monitor"
    ),
    model: Annotated[
        str | None,
        typer.Option(help="MLflow model URI (default: the model that scored the latest run)."),
    ] = None,
) -> None:
    """Drift (PSI) of the latest scoring run vs training, realised conversion, retrain advice."""
    from pql.errors import NoScoresError
    from pql.monitoring.monitor import build_report, latest_scored_run
    from pql.monitoring.report import log_report, write_report
    from pql.serving.registry import champion_uri, load_model
    from pql.serving.score_history import history_folder, read_runs
    from pql.training.tracking import open_tracking

    product = load_spec(spec).product
    check_writable(out, folder=True)
    folder = history_folder(product, history)
    listing = read_runs(folder)
    runs = listing.runs
    if listing.damaged and not runs:
        raise listing.damaged[0]  # nothing readable: exit 3 naming the file
    for problem in listing.damaged:  # one damaged old run must not stop monitoring
        console.print(f"[yellow]warning:[/] skipped: {problem.message}", highlight=False)
    if not runs:
        raise NoScoresError(
            f"no scoring runs recorded for '{product}' in {folder}: run `pql score --spec "
            f"{spec}` first (monitoring compares what was scored with training)"
        )
    latest = latest_scored_run(runs)
    tracking_uri = Settings.from_env().tracking_uri
    open_tracking(tracking_uri)
    if model is None:
        model = (
            f"models:/{latest.model_name}/{latest.model_version}"
            if latest.model_name and latest.model_version
            else champion_uri(product)
        )
    loaded = load_model(model, tracking_uri)
    dataset = load_checked(spec)
    label = f"{loaded.name or 'model'} v{loaded.version or '?'}"
    with console.status("Monitoring: PSI, realised conversion, calibration ..."):
        report = build_report(
            runs, dataset, loaded.bundle, label, skipped=[p.message for p in listing.damaged]
        )
    target = out / product / f"{latest.scored_at:%Y%m%dT%H%M%S}"
    written = write_report(report, target)
    run_id = log_report(report, target)
    drift = report.drift
    major = drift.iloc[1:][drift["band"].iloc[1:] == "major"]
    from_moment = int((major["set_by"] == "scoring moment").sum())
    console.print(
        f"latest run: as_of {latest.as_of:%Y-%m-%d %H:%M}, {latest.scored:,} scored with {label}; "
        f"score PSI {drift['psi'].iloc[0]:.3f}; "
        f"{len(major)} feature(s) with major drift"
        + (f" ({from_moment} set by the scoring moment)" if from_moment else "")
        + "; "
        f"{len(report.matured)} matured run(s) ({len(report.matured_rows):,} rows)"
        + (
            f"; {len(report.superseded)} run(s) superseded by a newer run at the same as_of "
            "and model (counted once)"
            if report.superseded
            else ""
        )
    )
    style = "red" if report.advice.retrain else "green"
    console.print(f"[{style}]{report.advice.summary}[/]", highlight=False)
    console.print(f"report: {written} (MLflow run {run_id}, tag pql.kind=monitoring)")


def register(app: typer.Typer) -> None:
    """Mount `pql monitor` on the `pql` application."""
    app.command("monitor")(monitor_command)
