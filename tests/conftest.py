"""Shared fixtures: small generated logs, never the real data sets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pql.features.definitions import FeatureDefinitions
from pql.features.pipeline import Dataset, load_dataset
from pql.features.spec import Spec, load_spec, parse_spec
from pql.simulator import ACCOUNT_SPEC, simulate
from pql.training.train import TrainingResult, train_model

EVENT_NAMES = ["invite", "project", "pricing", "upload", "login", "noise"]


def small_spec(entity: str = "user", aggregate: str = "sum") -> Spec:
    return parse_spec(
        {
            "product": "tiny",
            "entity": entity,
            "data": {
                "events": {
                    "path": "events.csv",
                    "columns": {"account_id": "account_id", "session_id": "session_id"},
                }
            },
            "label": {"conversion_event": "paid", "horizon_days": 14},
            "actions": {
                "invite_teammate": {"events": ["invite"], "kind": "collaboration"},
                "create_project": {"events": ["project"]},
                "view_pricing": {"events": ["pricing"], "kind": "intent"},
                "upload_file": {"events": ["upload"], "property": "bytes", "aggregate": aggregate},
            },
        }
    )


@pytest.fixture
def definitions() -> FeatureDefinitions:
    return FeatureDefinitions.from_spec(small_spec())


def random_log(
    seed: int, n_users: int = 40, n_events: int = 2000
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random event log and matching rows (entity_id, as_of, signup_at, converted_at)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-02-01", tz="UTC")
    users = np.array([f"u{i}" for i in range(n_users)])
    signup = start + pd.to_timedelta(rng.uniform(0, 20, n_users), unit="D")
    who = rng.integers(0, n_users, n_events)
    offset = pd.to_timedelta(rng.uniform(-1, 25, n_events) * 86_400_000, unit="ms").round("ms")
    events = pd.DataFrame(
        {
            "user_id": pd.Categorical(users[who]),
            "account_id": pd.Categorical([f"a{i % 7}" for i in who]),
            "event": pd.Categorical(rng.choice(EVENT_NAMES, n_events)),
            "timestamp": signup[who] + offset,
            "session_id": rng.integers(0, 5, n_events),
            "bytes": np.where(rng.random(n_events) < 0.7, rng.uniform(1, 100, n_events), np.nan),
        }
    )
    converted = pd.Series(signup + pd.to_timedelta(rng.uniform(2, 30, n_users), unit="D"))
    converted[rng.random(n_users) < 0.6] = pd.NaT
    day = rng.choice([1, 3, 7, 14], n_users)
    rows = pd.DataFrame(
        {
            "entity_id": users,
            "as_of": signup + pd.to_timedelta(day, unit="D"),
            "signup_at": signup,
            "converted_at": converted.to_numpy(),
        }
    )
    return events, rows


PLANTED_START = pd.Timestamp("2026-01-01", tz="UTC")


def planted_spec() -> dict:
    return {
        "product": "planted",
        "data": {"events": {"path": "events.csv"}, "trials": {"path": "trials.csv"}},
        "label": {"horizon_days": 14},
        "snapshots_days": [7],
        "actions": {
            "magic": {"events": ["magic"]},
            "login": {"events": ["login"]},
            "tooltip": {"events": ["tooltip"]},
        },
    }


def planted_log(
    n_users: int = 1500, seed: int = 3, effect: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Users who do `magic` 3+ times convert at 50%, the rest at 5% (when `effect`).

    Everybody logs in (no separation possible) and 40% see a tooltip at random (no lift).
    """
    rng = np.random.default_rng(seed)
    users = [f"u{i:04d}" for i in range(n_users)]
    signup = PLANTED_START + pd.to_timedelta(np.sort(rng.uniform(0, 90, n_users)), unit="D")
    engaged = rng.random(n_users) < 0.3
    rows = []

    def add(user: int, event: str, times: int) -> None:
        for offset in rng.uniform(0.01, 6.0, times):
            rows.append((users[user], event, signup[user] + pd.Timedelta(days=float(offset))))

    for i in range(n_users):
        add(i, "magic", int(rng.integers(3, 7)) if engaged[i] else int(rng.integers(0, 3)))
        add(i, "login", int(rng.integers(2, 6)))
        if rng.random() < 0.4:
            add(i, "tooltip", int(rng.integers(1, 4)))
    rate = np.where(engaged, 0.5, 0.05) if effect else np.full(n_users, 0.185)
    converts = rng.random(n_users) < rate
    converted_at = [
        signup[i] + pd.Timedelta(days=float(rng.uniform(8, 13))) if converts[i] else pd.NaT
        for i in range(n_users)
    ]
    events = pd.DataFrame(rows, columns=["user_id", "event", "timestamp"])
    trials = pd.DataFrame({"user_id": users, "signup_at": signup, "converted_at": converted_at})
    return events, trials


@dataclass(frozen=True)
class Trained:
    folder: Path
    dataset: Dataset
    result: TrainingResult


@pytest.fixture(scope="session")
def simulated_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("simulated")
    simulate(4000, 11, folder)
    return folder


@pytest.fixture(scope="session")
def trained(simulated_folder: Path) -> Trained:
    dataset = load_dataset(load_spec(simulated_folder / "pql.yaml"))
    return Trained(simulated_folder, dataset, train_model(dataset))


@pytest.fixture(scope="session")
def trained_accounts(simulated_folder: Path) -> Trained:
    """The same simulated product scored per account (team)."""
    dataset = load_dataset(load_spec(simulated_folder / ACCOUNT_SPEC))
    return Trained(simulated_folder, dataset, train_model(dataset))


@pytest.fixture(scope="session")
def simulated_fit_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulated product with fit: users.parquet, accounts.parquet, data.attributes."""
    folder = tmp_path_factory.mktemp("simulated_fit")
    simulate(4000, 11, folder, fit=True)
    return folder


@pytest.fixture(scope="session")
def trained_fit(simulated_fit_folder: Path) -> Trained:
    """A model of behaviour and fit (categorical attributes) on the simulated product."""
    dataset = load_dataset(load_spec(simulated_fit_folder / "pql.yaml"))
    return Trained(simulated_fit_folder, dataset, train_model(dataset))
