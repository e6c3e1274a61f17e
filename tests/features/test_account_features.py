"""Account features equal an independent aggregation of their members' events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pql.features.definitions import FeatureDefinitions
from pql.features.frames import build_features
from pql.features.live import entity_features
from tests.conftest import random_log, small_spec

ACCOUNTS = FeatureDefinitions.from_spec(small_spec(entity="account"))
WEEK = pd.Timedelta(days=7)


def _account_rows(events: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Several cutoffs per account, some accounts converted between them."""
    rng = np.random.default_rng(seed)
    signup = events.groupby("account_id", observed=True)["timestamp"].min()
    rows = []
    for account, start in signup.items():
        converted = (
            start + pd.Timedelta(days=float(rng.uniform(3, 20))) if rng.random() < 0.4 else pd.NaT
        )
        for day in (1, 3, 7, 14):
            rows.append((str(account), start + pd.Timedelta(days=day), start, converted))
    return pd.DataFrame(rows, columns=["entity_id", "as_of", "signup_at", "converted_at"])


def _by_hand(events: pd.DataFrame, row: pd.Series) -> dict[str, float]:
    """What a person computes: filter the account's events, then group by member."""
    end = row["as_of"] if pd.isna(row["converted_at"]) else min(row["as_of"], row["converted_at"])
    end = max(end, row["signup_at"])
    own = events[
        (events["account_id"].astype(str) == row["entity_id"])
        & (events["timestamp"] >= row["signup_at"])
        & (events["timestamp"].dt.floor("ms") < end.floor("ms"))
    ]
    week_start = max(row["signup_at"], end - WEEK)
    recent = own[own["timestamp"].dt.floor("ms") >= week_start.floor("ms")]
    per_user = own.groupby("user_id", observed=True).size()
    first_seen = own.groupby("user_id", observed=True)["timestamp"].min()
    top = int(per_user.max()) if len(per_user) else 0
    active = own["user_id"].nunique()
    active_7d = recent["user_id"].nunique()
    expected = {
        "events_count": len(own),
        "active_users": active,
        "active_users_7d": active_7d,
        "active_users_share_7d": active_7d / active if active else 0.0,
        "new_users_7d": int((first_seen.dt.floor("ms") >= week_start.floor("ms")).sum()),
        "top_user_events_count": top,
        "top_user_events_share": top / len(own) if len(own) else 0.0,
    }
    for action in ACCOUNTS.actions:
        doing = own[own["event"].astype(str).isin(action.events)]
        expected[f"{action.name}_users"] = doing["user_id"].nunique()
        expected[f"{action.name}_count"] = len(doing)
    return expected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_account_features_equal_aggregation_of_members_events(seed: int) -> None:
    events, _ = random_log(seed, n_users=35, n_events=1500)
    rows = _account_rows(events, seed)
    batch = build_features(ACCOUNTS, events, rows)
    for position, row in rows.iterrows():
        for name, value in _by_hand(events, row).items():
            assert batch.loc[position, name] == pytest.approx(value), (position, name)


def test_account_features_in_batch_equal_live_request() -> None:
    events, _ = random_log(4, n_users=30, n_events=1200)
    rows = _account_rows(events, 4)
    batch = build_features(ACCOUNTS, events, rows)
    for position, row in rows.iloc[::5].iterrows():
        own = events[events["account_id"].astype(str) == row["entity_id"]]
        vector = entity_features(
            ACCOUNTS,
            event_names=own["event"].astype(str).tolist(),
            time_ms=own["timestamp"].astype("int64").to_numpy() // 1_000_000,
            signup_ms=row["signup_at"].value // 1_000_000,
            as_of_ms=row["as_of"].value // 1_000_000,
            converted_ms=None
            if pd.isna(row["converted_at"])
            else row["converted_at"].value // 1_000_000,
            session_ids=own["session_id"].tolist(),
            user_ids=own["user_id"].astype(str).tolist(),
            properties={"bytes": own["bytes"].to_numpy()},
        )
        np.testing.assert_allclose(vector, batch.loc[position, ACCOUNTS.names].to_numpy(float))


def test_member_counts_name_the_people_behind_an_action() -> None:
    """Three of four members created projects; one member carries most of the activity."""
    at = pd.Timestamp("2026-03-02 09:00", tz="UTC")
    log = [("u1", "project", 0), ("u1", "project", 1), ("u1", "invite", 1), ("u1", "login", 2)]
    log += [("u2", "project", 2.5), ("u3", "project", 9), ("u4", "login", 9.5)]
    events = pd.DataFrame(
        {
            "user_id": [u for u, _, _ in log],
            "account_id": "acme",
            "event": [e for _, e, _ in log],
            "timestamp": [at + pd.Timedelta(days=d) for _, _, d in log],
            "session_id": range(len(log)),
            "bytes": np.nan,
        }
    )
    rows = pd.DataFrame(
        {
            "entity_id": ["acme"],
            "as_of": [at + pd.Timedelta(days=10)],
            "signup_at": [at],
            "converted_at": [pd.NaT],
        }
    )
    frame = build_features(ACCOUNTS, events, rows).iloc[0]
    assert frame["create_project_users"] == 3
    assert frame["active_users"] == 4
    assert frame["active_users_7d"] == 2  # u3, u4 in the last 7 days (from day 3)
    assert frame["new_users_7d"] == 2
    assert frame["top_user_events_count"] == 4
    assert frame["top_user_events_share"] == pytest.approx(4 / 7)
