"""`pql simulate`: write a simulated product (events, trials and its specs)."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from pql.clikit import console, progress_bar
from pql.errors import UsageError


class Shape(StrEnum):
    trial = "trial"
    freemium = "freemium"


def simulate_command(
    users: Annotated[int, typer.Option(help="Number of trial users to simulate.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 7,
    out: Annotated[Path, typer.Option(help="Folder for events, trials and pql.yaml.")] = Path(
        "pql-data"
    ),
    shape: Annotated[
        Shape,
        typer.Option(
            help="trial: 14-day trials with a trials table; freemium: free users over a "
            "year who convert at any age (events, oracle.parquet and pql.yaml)."
        ),
    ] = Shape.trial,
    fit: Annotated[
        bool,
        typer.Option(
            "--fit/--no-fit",
            help="Also simulate who the users are (company size, industry, country, role, "
            "e-mail kind) with known effects on conversion, and put them in the specs.",
        ),
    ] = False,
) -> None:
    """Write a simulated SaaS data set with a known conversion model."""
    from pql.simulator import simulate

    if shape is Shape.freemium:
        if fit:
            raise UsageError("--fit: fit attributes are simulated for the trial shape only")
        _freemium(users, seed, out)
        return
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


def _freemium(users: int, seed: int, out: Path) -> None:
    from pql.simulator.freemium import simulate_freemium

    started = time.perf_counter()
    with progress_bar("simulating") as progress:
        task = progress.add_task("users", total=users)
        summary = simulate_freemium(
            users, seed, out, progress=lambda done: progress.update(task, completed=done)
        )
    console.print(
        f"Simulated {summary.users:,} free users from {summary.start:%Y-%m-%d} to "
        f"{summary.end:%Y-%m-%d}: {summary.events:,} events, {summary.conversions:,} "
        f"conversions at any age in {time.perf_counter() - started:.1f}s -> {out}"
    )


def register(app: typer.Typer) -> None:
    """Mount `pql simulate` on the `pql` application."""
    app.command("simulate")(simulate_command)
