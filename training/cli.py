"""`pql train` and `pql promote`: the sub-commands this package owns."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from features.cli import SpecOption, check_writable, console, load_checked
from features.errors import UsageError
from features.spec import load_spec

if TYPE_CHECKING:
    from training.tracking import RegisteredRun

# MLflow, LightGBM and scikit-learn load inside the commands: `pql validate` and
# `pql --help` should not pay seconds of imports they do not use.


def run_training(spec_path: Path, *, auto_promote: bool = True) -> RegisteredRun:
    """Open the store first (fail fast), then train, log, register and gate."""
    from training.report import render_result
    from training.tracking import log_and_register, open_tracking
    from training.train import train_model

    client = open_tracking()
    dataset = load_checked(spec_path)
    started = time.perf_counter()
    with console.status("Training: features, labels, LightGBM, calibration, baselines ..."):
        result = train_model(dataset)
    render_result(result, console)
    with console.status("Logging to MLflow and registering the model ..."):
        registered = log_and_register(client, dataset, result, auto_promote=auto_promote)
    decision = registered.decision
    style = "green" if decision.promote else "yellow"
    console.print(
        f"registered {registered.model_name} v{registered.version} (alias challenger); "
        f"[{style}]{decision.summary}[/]"
    )
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    console.print(f"trained in {time.perf_counter() - started:.1f}s ({timings})")
    return registered


def train_command(
    spec: SpecOption,
    no_promote: Annotated[
        bool, typer.Option("--no-promote", help="Register as challenger only; never move champion.")
    ] = False,
) -> None:
    """Train, calibrate and evaluate a model; log it to MLflow and apply the champion gate."""
    run_training(spec, auto_promote=not no_promote)
    console.print("Browse runs: mlflow ui --backend-store-uri sqlite:///mlflow.db")


def promote_command(
    spec: SpecOption,
    version: Annotated[
        str | None, typer.Option(help="Version to promote (default: challenger).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Skip the gate: a decision by hand.")
    ] = False,
) -> None:
    """Move the champion alias to a version, through the gate unless --force."""
    from training.tracking import open_tracking, promote

    name = load_spec(spec).registered_model_name
    decision = promote(open_tracking(), name, version, force)
    console.print(decision.summary)
    if not decision.promote:
        raise typer.Exit(code=7)


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
    from serving.registry import champion_uri, load_model
    from serving.score_history import history_folder, list_runs
    from training.monitor import NoScoresError, build_report, latest_scored_run
    from training.monitor_report import log_report, write_report
    from training.tracking import open_tracking

    product = load_spec(spec).product
    check_writable(out, folder=True)
    folder = history_folder(product, history)
    runs = list_runs(folder)
    if not runs:
        raise NoScoresError(
            f"no scoring runs recorded for '{product}' in {folder}: run `pql score --spec "
            f"{spec}` first (monitoring compares what was scored with training)"
        )
    latest = latest_scored_run(runs)
    open_tracking()
    if model is None:
        model = (
            f"models:/{latest.model_name}/{latest.model_version}"
            if latest.model_name and latest.model_version
            else champion_uri(product)
        )
    loaded = load_model(model)
    dataset = load_checked(spec)
    label = f"{loaded.name or 'model'} v{loaded.version or '?'}"
    with console.status("Monitoring: PSI, realised conversion, calibration ..."):
        report = build_report(runs, dataset, loaded.bundle, label)
    target = out / product / f"{latest.scored_at:%Y%m%dT%H%M%S}"
    written = write_report(report, target)
    run_id = log_report(report, target)
    drift = report.drift
    console.print(
        f"latest run: as_of {latest.as_of:%Y-%m-%d %H:%M}, {latest.scored:,} scored with {label}; "
        f"score PSI {drift['psi'].iloc[0]:.3f}; "
        f"{int((drift['band'].iloc[1:] == 'major').sum())} feature(s) with major drift; "
        f"{len(report.matured)} matured run(s) ({len(report.matured_rows):,} rows)"
    )
    style = "red" if report.advice.retrain else "green"
    console.print(f"[{style}]{report.advice.summary}[/]", highlight=False)
    console.print(f"report: {written} (MLflow run {run_id}, tag pql.kind=monitoring)")


def triggers_command(
    spec: SpecOption,
    day: Annotated[
        float | None,
        typer.Option(help="Trial day to look at (default: the snapshot nearest 7)."),
    ] = None,
    min_support: Annotated[
        int, typer.Option(min=1, help="Trials needed on each side of a threshold.")
    ] = 30,
    max_conditions: Annotated[
        int, typer.Option(min=1, max=5, help="Conditions in the proposed rules, in all.")
    ] = 5,
    out: Annotated[
        Path, typer.Option(help="Folder for triggers.csv, actions.csv and triggers.md.")
    ] = Path("pql-triggers"),
    write_rules: Annotated[
        bool,
        typer.Option("--write-rules", help="Write the proposed rules into the spec's 'rules'."),
    ] = False,
) -> None:
    """Find the actions that separate converters and propose a short rule-based PQL."""
    from training.trigger_report import render_triggers, write_trigger_files
    from training.triggers import MAX_DAY, TriggerError, discover_triggers

    if day is not None and not 0 < day <= MAX_DAY:
        raise UsageError(f"--day: must be a number of days in (0, {MAX_DAY}], got {day:g}")
    check_writable(out, folder=True)
    dataset = load_checked(spec)
    with console.status("Measuring triggers ..."):
        report = discover_triggers(
            dataset, day=day, min_support=min_support, max_conditions=max_conditions
        )
    render_triggers(report, console)
    written = write_trigger_files(report, dataset.spec.product, out)
    console.print("wrote " + ", ".join(str(path) for path in written))
    if not write_rules:
        return
    rules = report.proposal.spec_rules()
    if not rules:
        raise TriggerError(f"{spec}: no rules written: {report.proposal.why_none}")
    write_rules_into_spec(spec, rules, f"proposed by `pql triggers` at day {report.day:g}")
    console.print(f"wrote {len(rules)} rule(s) into {spec} (key 'rules'); try: pql score --rules")


def write_rules_into_spec(path: Path, rules: list[dict[str, str]], header: str) -> None:
    """Replace the spec's rules, proving nothing else changes before the file does.

    A symlinked spec is edited where it points, keeping its permissions; the write is
    atomic, so the spec is either the old one or the new one.
    """
    import os
    import stat

    import yaml

    from features.errors import SpecError
    from features.spec import parse_spec
    from features.spec_rules import SpecLayoutError, rules_written

    target = path.resolve()
    original = target.read_bytes().decode("utf-8")  # bytes: keep CRLF line endings as they are
    try:
        text = rules_written(original, rules, header)
    except SpecLayoutError as exc:
        block = yaml.safe_dump({"rules": rules}, sort_keys=False, width=1000)
        raise SpecError(
            f"{path}: rules not written: {exc}. Add them by hand:\n{block}"
        ) from None
    parse_spec(yaml.safe_load(text), source=str(path), base_dir=path.parent)
    staging = target.with_name(f".{target.name}.pql-tmp")
    staging.write_bytes(text.encode("utf-8"))
    os.chmod(staging, stat.S_IMODE(target.stat().st_mode))
    staging.replace(target)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("promote")(promote_command)
    app.command("triggers")(triggers_command)
    app.command("monitor")(monitor_command)
