"""`pql train` and `pql promote`: the sub-commands this package owns."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pql.clikit import Engine, EngineOption, PartitionsOption, SpecOption, console
from pql.errors import ExitCode, UsageError
from pql.features.spec import Spec, load_spec
from pql.settings import Settings

if TYPE_CHECKING:
    from pql.training.rows import TrainingRows
    from pql.training.tracking import RegisteredRun

# MLflow, LightGBM and scikit-learn load inside the commands: `pql validate` and
# `pql --help` should not pay seconds of imports they do not use.


def with_negative_sample(spec: Spec, rate: float | None) -> Spec:
    """The spec with `model.negative_sample` set by `--negative-sample` (None: as is)."""
    if rate is None:
        return spec
    if not 0 < rate <= 1:
        raise UsageError(f"--negative-sample must be above 0 and at most 1, got {rate:g}")
    model = spec.model.model_copy(update={"negative_sample": rate})
    return spec.model_copy(update={"model": model})


def training_rows(
    spec: Spec, engine: Engine, partitions: int | None, settings: Settings
) -> TrainingRows:
    """The snapshot rows, built by the engine asked for (or the one `auto` picks)."""
    from pql.features.cli import resolve_engine
    from pql.features.pipeline import load_dataset
    from pql.training.rows import from_dataset, from_gathered

    if engine is Engine.spark:
        from pql.engines.spark import session_for
        from pql.engines.training_rows import spark_training_rows

        spark = session_for(settings)
        with console.status("Spark: building the snapshot rows per partition ..."):
            gathered = spark_training_rows(spark, spec, partitions)
    else:
        engine, buckets = resolve_engine(engine, spec, partitions, settings)
        if engine is Engine.local:
            with console.status(f"Reading {Path(spec.data.events.location).name} ..."):
                dataset = load_dataset(spec)
            with console.status("Building the snapshot rows ..."):
                return from_dataset(dataset)
        from pql.engines.training_rows import bucket_training_rows

        with console.status(f"Splitting into {buckets} entity buckets, building rows ..."):
            gathered = bucket_training_rows(spec, buckets, settings.bucket_dir)
    for line in gathered.summary.lines(gathered.unit):
        console.print(line, highlight=False)
    console.print(
        f"{len(gathered.rows):,} snapshot rows gathered from {gathered.parts} "
        f"{gathered.unit} (--engine {engine.value})",
        highlight=False,
    )
    return from_gathered(spec, gathered, engine.value)


def run_training(
    spec_path: Path,
    *,
    tracking_uri: str,
    auto_promote: bool = True,
    engine: Engine = Engine.local,
    partitions: int | None = None,
    negative_sample: float | None = None,
) -> RegisteredRun:
    """Open the store first (fail fast), then build the rows, train, log, register, gate."""
    from pql.training.report import render_result
    from pql.training.tracking import log_and_register, open_tracking
    from pql.training.train import train_rows

    client = open_tracking(tracking_uri)
    spec = with_negative_sample(load_spec(spec_path), negative_sample)
    started = time.perf_counter()
    source = training_rows(spec, engine, partitions, Settings.from_env())
    with console.status("Training: labels, LightGBM, calibration, baselines ..."):
        result = train_rows(source, started=started)
    render_result(result, console)
    with console.status("Logging to MLflow and registering the model ..."):
        registered = log_and_register(client, source, result, auto_promote=auto_promote)
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
    engine: EngineOption = Engine.auto,
    partitions: PartitionsOption = None,
    negative_sample: Annotated[
        float | None,
        typer.Option(
            "--negative-sample",
            help="Fit on every positive and this share of the negative train/validation "
            "rows, weighted 1/share (overrides model.negative_sample; test rows are never "
            "sampled).",
        ),
    ] = None,
) -> None:
    """Train, calibrate and evaluate a model; log it to MLflow and apply the champion gate.

    The snapshot rows are built by the engine (buckets or Spark: per partition of
    entities) and gathered in this process, where the model is trained."""
    settings = Settings.from_env()
    run_training(
        spec,
        tracking_uri=settings.tracking_uri,
        auto_promote=not no_promote,
        engine=engine,
        partitions=partitions,
        negative_sample=negative_sample,
    )
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
