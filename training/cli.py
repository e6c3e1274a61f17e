"""`pql train` and `pql promote`: the sub-commands this package owns."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pql.clikit import SpecOption, console
from pql.errors import ExitCode
from pql.features.cli import load_checked
from pql.features.spec import load_spec
from pql.settings import Settings

if TYPE_CHECKING:
    from pql.training.tracking import RegisteredRun

# MLflow, LightGBM and scikit-learn load inside the commands: `pql validate` and
# `pql --help` should not pay seconds of imports they do not use.


def run_training(spec_path: Path, *, tracking_uri: str, auto_promote: bool = True) -> RegisteredRun:
    """Open the store first (fail fast), then train, log, register and gate."""
    from pql.training.report import render_result
    from pql.training.tracking import log_and_register, open_tracking
    from pql.training.train import train_model

    client = open_tracking(tracking_uri)
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
    settings = Settings.from_env()
    run_training(spec, tracking_uri=settings.tracking_uri, auto_promote=not no_promote)
    console.print(f"Browse runs: mlflow ui --backend-store-uri {settings.tracking_uri}")


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
    from pql.training.tracking import open_tracking, promote

    name = load_spec(spec).registered_model_name
    decision = promote(open_tracking(Settings.from_env().tracking_uri), name, version, force)
    console.print(decision.summary)
    if not decision.promote:
        raise typer.Exit(code=ExitCode.GATE_REFUSED)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("promote")(promote_command)
