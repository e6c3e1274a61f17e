"""`pql simulate`, `pql validate`, `pql features`: the sub-commands this package owns."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from features.errors import DataError, UsageError
from features.pipeline import Dataset, live_features, load_dataset, training_features
from features.spec import load_spec

# Piped output (CI logs, files) gets a readable width instead of the 80-column default.
console = Console(width=None if sys.stdout.isatty() else 120)
SpecOption = Annotated[Path, typer.Option("--spec", help="The product spec (pql.yaml).")]


def parse_as_of(value: str | None) -> pd.Timestamp:
    """'now', an ISO time with a zone, or a naive ISO time taken as UTC."""
    if value is None or value.strip().lower() == "now":
        return pd.Timestamp.now(tz="UTC")
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise UsageError(
            f"--as-of: cannot read {value!r} as a time; use ISO 8601 such as 2026-03-01T00:00:00Z"
        ) from None
    if pd.isna(stamp):
        raise UsageError(f"--as-of: {value!r} is not a time")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def check_writable(target: Path, *, folder: bool = False) -> None:
    """Fail before the work, not after it: the output's folder exists (or is created)
    and can be written to. `folder` says `target` is itself the output folder."""
    directory = target if folder else target.parent
    if not folder and target.is_dir():
        raise DataError(f"{target}: is a folder; give a file name for this output")
    if folder and target.exists() and not target.is_dir():
        raise DataError(f"{target}: is a file; give a folder for this output")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"{target}: cannot create the output folder {directory} ({exc.strerror})"
        ) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise DataError(f"{target}: the output folder {directory} is not writable")


def check_output(out: Path) -> None:
    """Fail before the work, not after it: .parquet or .csv only, in a writable folder."""
    if out.suffix.lower() not in {".parquet", ".csv"}:
        raise DataError(f"{out}: output must end in .parquet or .csv")
    check_writable(out)


def write_frame(frame: pd.DataFrame, out: Path) -> None:
    check_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)


def load_checked(spec_path: Path, *, strict: bool = True) -> Dataset:
    spec = load_spec(spec_path)
    with console.status(f"Reading {spec.data.events.path.name} ..."):
        return load_dataset(spec, strict=strict)


def progress_bar(label: str) -> Progress:
    """The one progress bar style of every long-running command."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def simulate_command(
    users: Annotated[int, typer.Option(help="Number of trial users to simulate.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 7,
    out: Annotated[Path, typer.Option(help="Folder for events, trials and pql.yaml.")] = Path(
        "pql-data"
    ),
) -> None:
    """Write a simulated SaaS trial data set with a known conversion model."""
    from features.simulator import simulate

    started = time.perf_counter()
    with progress_bar("simulating") as progress:
        task = progress.add_task("users", total=users)
        summary = simulate(
            users, seed, out, progress=lambda done: progress.update(task, completed=done)
        )
    console.print(
        f"Simulated {summary.users:,} users in {summary.accounts:,} accounts: "
        f"{summary.events:,} events, {summary.conversions:,} conversions "
        f"in {time.perf_counter() - started:.1f}s -> {out}"
    )


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
        raise typer.Exit(code=4)


def features_command(
    spec: SpecOption,
    out: Annotated[Path, typer.Option(help="Output .parquet or .csv.")] = Path("features.parquet"),
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Live features at this time ('now' or ISO 8601); "
            "without it: training snapshots at the spec's snapshot days.",
        ),
    ] = None,
) -> None:
    """Build point-in-time features: training snapshots, or live rows at --as-of."""
    check_output(out)
    moment = None if as_of is None else parse_as_of(as_of)
    dataset = load_checked(spec)
    started = time.perf_counter()
    if as_of is None:
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
    write_frame(frame, out)
    console.print(
        f"{len(dataset.definitions.names)} features in {time.perf_counter() - started:.1f}s "
        f"-> {out}"
    )


def register(app: typer.Typer) -> None:
    """Mount this package's commands on the `pql` application."""
    app.command("simulate")(simulate_command)
    app.command("validate")(validate_command)
    app.command("features")(features_command)
