"""`pql simulate`, `pql validate`, `pql features`: the sub-commands this package owns."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from pql.clikit import SpecOption, check_output, console, parse_as_of, write_frame
from pql.errors import ExitCode
from pql.features.pipeline import Dataset, live_features, load_dataset, training_features
from pql.features.spec import load_spec


def load_checked(spec_path: Path, *, strict: bool = True) -> Dataset:
    spec = load_spec(spec_path)
    with console.status(f"Reading {spec.data.events.path.name} ..."):
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
    app.command("validate")(validate_command)
    app.command("features")(features_command)
