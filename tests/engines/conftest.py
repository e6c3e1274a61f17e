"""A simulated product with one heavy entity (100k events) and trials without events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pql.simulator import simulate

HEAVY_EVENTS = 100_000


def add_heavy_user(folder: Path, seed: int = 5) -> str:
    """Give one trial user 100k events across their trial (a skewed partition), and add
    two trial users who never came back (partitions holding trials but no events)."""
    events = pd.read_parquet(folder / "events.parquet")
    trials = pd.read_parquet(folder / "trials.parquet")
    rng = np.random.default_rng(seed)
    heavy = trials[trials["converted_at"].isna()].iloc[0]
    span_ms = int((heavy["trial_end_at"] - heavy["signup_at"]).total_seconds() * 1000)
    offsets = pd.to_timedelta(np.sort(rng.integers(0, span_ms, HEAVY_EVENTS)), unit="ms")
    extra = pd.DataFrame(
        {
            "user_id": heavy["user_id"],
            "account_id": heavy["account_id"],
            "event": rng.choice(events["event"].astype(str).unique(), HEAVY_EVENTS),
            "timestamp": heavy["signup_at"] + offsets,
            "session_id": 10_000_000 + offsets.total_seconds().astype(np.int64) // 1800,
            "bytes": np.where(rng.random(HEAVY_EVENTS) < 0.5, rng.uniform(1, 1e6, HEAVY_EVENTS), 0),
        }
    )
    events["event"] = events["event"].astype(str)
    both = pd.concat([events, extra], ignore_index=True)
    both["timestamp"] = both["timestamp"].astype("datetime64[ms, UTC]")  # Spark reads no ns
    both.to_parquet(folder / "events.parquet")
    ghosts = trials.iloc[:2].copy()
    ghosts["user_id"] = ["ghost-1", "ghost-2"]
    ghosts["account_id"] = ["ghost-account-1", "ghost-account-2"]
    ghosts["converted_at"] = pd.NaT
    pd.concat([trials, ghosts], ignore_index=True).to_parquet(
        folder / "trials.parquet", coerce_timestamps="ms", allow_truncated_timestamps=True
    )
    return str(heavy["user_id"])


@pytest.fixture(scope="session")
def skewed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("skewed")
    simulate(1200, 5, folder)
    add_heavy_user(folder)
    return folder


@pytest.fixture(scope="session")
def spark():
    """The one local Spark session every Spark test shares (start-up is the slow part)."""
    pytest.importorskip("pyspark")
    from pql.engines.spark import spark_session

    session = spark_session("local[2]")
    session.conf.set("spark.sql.shuffle.partitions", "8")
    session.conf.set("spark.sql.adaptive.enabled", "false")  # keep the empty partitions
    yield session
    session.stop()
