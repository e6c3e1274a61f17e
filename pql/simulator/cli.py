"""`pql simulate`: write a simulated product (events, trials and its specs)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from pql.clikit import console, progress_bar


def simulate_command(
    users: Annotated[int, typer.Option(help="Number of trial users to simulate.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 7,
    out: Annotated[Path, typer.Option(help="Folder for events, trials and pql.yaml.")] = Path(
        "pql-data"
    ),
    fit: Annotated[
        bool,
        typer.Option(
            "--fit/--no-fit",
            help="Also simulate who the users are (company size, industry, country, role, "
            "e-mail kind) with known effects on conversion, and put them in the specs.",
        ),
    ] = False,
) -> None:
    """Write a simulated SaaS trial data set with a known conversion model."""
    from pql.simulator import simulate

    started = time.perf_counter()
    with progress_bar("simulating") as progress:
        task = progress.add_task("users", total=users)
        summary = simulate(
            users,
            seed,
            out,
            progress=lambda done: progress.update(task, completed=done),
            fit=fit,
        )
    console.print(
        f"Simulated {summary.users:,} users in {summary.accounts:,} accounts: "
        f"{summary.events:,} events, {summary.conversions:,} conversions "
        f"in {time.perf_counter() - started:.1f}s -> {out}"
    )


def register(app: typer.Typer) -> None:
    """Mount `pql simulate` on the `pql` application."""
    app.command("simulate")(simulate_command)
