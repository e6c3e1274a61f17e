"""The CLI toolkit every `pql` sub-command shares: the console, common options, time
arguments, output checks and the progress bar.

It lives in the kernel so that features, training and serving each mount their own
commands without importing one another's command modules.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pql.errors import DataError
from pql.files import atomic_output

# Piped output (CI logs, files) gets a readable width instead of the 80-column default.
console = Console(width=None if sys.stdout.isatty() else 120)
SpecOption = Annotated[Path, typer.Option("--spec", help="The product spec (pql.yaml).")]


class Engine(StrEnum):
    """Where features are built: this process's memory, entity buckets on disk, or Spark."""

    auto = "auto"
    local = "local"
    buckets = "buckets"
    spark = "spark"


EngineOption = Annotated[
    Engine,
    typer.Option(
        help="auto: local, or buckets when the log's estimated working set exceeds "
        "PQL_MEMORY_BUDGET (default half the memory); local: in this process; buckets: "
        "split once into hash buckets of entities on disk, one bucket at a time (bounded "
        "memory); spark: each hash partition of entities on Spark (the active session, "
        "PQL_SPARK_REMOTE / PQL_SPARK_MASTER, else local[*]; needs pip install "
        "'pql-leads[spark]').",
    ),
]
PartitionsOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="--engine spark: entity partitions (default: spark.sql.shuffle.partitions); "
        "--engine buckets: buckets (default: from the estimated working set and the budget).",
    ),
]
TableOption = Annotated[
    str | None,
    typer.Option(help="--engine spark: write a catalog table instead of --out files."),
]


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
    with atomic_output(out) as temporary:  # a killed job leaves the old file whole
        if out.suffix.lower() == ".parquet":
            frame.to_parquet(temporary, index=False)
        else:
            frame.to_csv(temporary, index=False)


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
