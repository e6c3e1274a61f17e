"""`pql demo`: the whole job on built-in simulated data, start to finish."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from features.cli import console, simulate_command
from features.pipeline import load_dataset, training_features
from features.spec import load_spec


def demo_command(
    users: Annotated[int, typer.Option(help="Simulated trial users.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    out: Annotated[Path, typer.Option(help="Working folder for data and outputs.")] = Path(
        "pql-demo"
    ),
) -> None:
    """Simulate a product, validate its data and build point-in-time features."""
    started = time.perf_counter()
    data_dir = out / "data"
    simulate_command(users=users, seed=seed, out=data_dir)
    spec = load_spec(data_dir / "pql.yaml")
    dataset = load_dataset(spec)
    dataset.quality.render(console)
    frame, _snapshots = training_features(dataset)
    features_path = out / "features.parquet"
    frame.to_parquet(features_path, index=False)
    by_day = frame.groupby("snapshot_day").size()
    console.print(
        f"\n{len(frame):,} training snapshot rows x {len(dataset.definitions.names)} features "
        f"-> {features_path}"
    )
    console.print(
        "rows per snapshot day: " + ", ".join(f"day {d:g}: {n:,}" for d, n in by_day.items())
    )
    console.print(f"demo finished in {time.perf_counter() - started:.1f}s")
