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
    console.print(f"[{style}]{decision.summary}[/]", highlight=False)
    console.print(alias_outcome(registered, auto_promote), highlight=False)
    if registered.abandoned:
        console.print(
            f"marked {len(registered.abandoned):,} earlier run(s) FAILED: their pql train "
            f"was killed before finishing ({', '.join(registered.abandoned)})",
            highlight=False,
        )
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    console.print(f"trained in {time.perf_counter() - started:.1f}s ({timings})")
    return registered


def alias_outcome(registered: RegisteredRun, auto_promote: bool) -> str:
    """Exactly what happened to the registry aliases."""
    name, version = registered.model_name, registered.version
    champion = registered.decision.champion_version
    before = f"champion stays v{champion}" if champion else "there is no champion"
    if registered.decision.promote and auto_promote:
        return f"{name} v{version}: alias champion (and challenger) now point to it"
    why = "--no-promote" if registered.decision.promote else "the gate refused it"
    return f"{name} v{version}: alias challenger only; {before} ({why})"


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
    console.print(decision.summary, highlight=False)
    was = f"v{decision.champion_version}" if decision.champion_version else "none"
    if decision.promote:
        console.print(f"{name} v{decision.version}: alias champion now points to it (was {was})")
    else:
        console.print(f"{name} v{decision.version}: not promoted; champion stays {was}")
        raise typer.Exit(code=ExitCode.GATE_REFUSED)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("promote")(promote_command)
