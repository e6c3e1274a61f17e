"""Hand-computed feature values on a small fixed log, one family at a time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pql.features.definitions import FeatureDefinitions
from pql.features.frames import build_features
from tests.conftest import small_spec

SIGNUP = "2026-01-05 09:00"


def ts(value: str) -> pd.Timestamp:
    return pd.Timestamp(value, tz="UTC")


def log(rows: list[tuple]) -> pd.DataFrame:
    """(user, event, time, session, bytes[, account]) tuples -> canonical events frame."""
    frame = pd.DataFrame(
        [(*r, "acc")[:6] for r in rows],
        columns=["user_id", "event", "timestamp", "session_id", "bytes", "account_id"],
    )
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    for column in ("user_id", "event", "account_id"):
        frame[column] = frame[column].astype("category")
    return frame


FIXED_LOG = log(
    [
        ("a", "login", "2026-01-05 09:00", 1, np.nan),
        ("a", "invite", "2026-01-05 09:10", 1, np.nan),
        ("a", "upload", "2026-01-05 09:20", 1, 10.0),
        ("a", "project", "2026-01-06 14:00", 2, np.nan),
        ("a", "upload", "2026-01-06 14:05", 2, 30.0),
        ("a", "invite", "2026-01-07 10:00", 3, np.nan),
        ("a", "pricing", "2026-01-09 08:00", 4, np.nan),
        ("a", "pricing", "2026-01-09 08:30", 4, np.nan),
        ("a", "login", "2026-01-13 12:00", 5, np.nan),
        ("a", "noise", "2026-01-04 23:00", 0, np.nan),  # before signup: clock skew
        ("a", "invite", "2026-01-15 10:00", 6, np.nan),
        ("b", "pricing", "2026-01-06 10:00", 1, np.nan),
        ("b", "paid", "2026-01-08 00:00", 2, np.nan),
        ("b", "invite", "2026-01-09 10:00", 3, np.nan),  # after conversion
    ]
)


def rows_for(*rows: tuple[str, str, str, str | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity_id": [r[0] for r in rows],
            "as_of": [ts(r[1]) for r in rows],
            "signup_at": [ts(r[2]) for r in rows],
            "converted_at": [ts(r[3]) if r[3] else pd.NaT for r in rows],
        }
    )


@pytest.fixture
def features(definitions: FeatureDefinitions) -> pd.DataFrame:
    rows = rows_for(
        ("a", "2026-01-12 09:00", SIGNUP, None),
        ("a", "2026-01-19 09:00", SIGNUP, None),
        ("b", "2026-01-12 09:00", "2026-01-06 09:00", "2026-01-08 00:00"),
        ("nobody", "2026-01-12 09:00", "2026-01-06 09:00", None),
    )
    return build_features(definitions, FIXED_LOG, rows)


def test_activity_family(features: pd.DataFrame) -> None:
    week, fortnight = features.iloc[0], features.iloc[1]
    assert week["tenure_days"] == 7.0
    assert week["events_count"] == 8  # the pre-signup and post-as_of events never count
    assert week["events_count_7d"] == 8
    assert week["active_days"] == 4  # Jan 5, 6, 7, 9
    assert week["active_days_7d"] == 4
    assert week["sessions_count"] == 4
    assert week["actions_breadth"] == 4
    assert week["longest_streak_days"] == 3
    assert week["activity_trend_7d"] == 1.0  # nothing in the week before (before signup)
    assert week["hours_since_last_event"] == pytest.approx(72.5)

    assert fortnight["events_count"] == 10
    assert fortnight["events_count_7d"] == 2  # Jan 13 login, Jan 15 invite
    assert fortnight["active_days"] == 6
    assert fortnight["active_days_7d"] == 2
    assert fortnight["sessions_count"] == 6
    assert fortnight["activity_trend_7d"] == pytest.approx((2 - 8) / 10)
    assert fortnight["longest_streak_days"] == 3


def test_action_family(features: pd.DataFrame) -> None:
    week, fortnight = features.iloc[0], features.iloc[1]
    assert week["invite_teammate_count"] == 2
    assert week["invite_teammate_count_7d"] == 2
    assert week["invite_teammate_active_days"] == 2
    assert week["invite_teammate_hours_to_first"] == pytest.approx(10 / 60)
    assert week["invite_teammate_hours_since_last"] == pytest.approx(119)
    assert week["create_project_hours_to_first"] == pytest.approx(29)
    assert week["create_project_hours_since_last"] == pytest.approx(139)
    assert week["view_pricing_count"] == 2
    assert week["view_pricing_active_days"] == 1
    assert week["view_pricing_hours_to_first"] == pytest.approx(95)
    assert week["upload_file_count"] == 2
    assert week["upload_file_hours_to_first"] == pytest.approx(20 / 60)
    assert week["upload_file_hours_since_last"] == pytest.approx(138 + 55 / 60)
    assert week["upload_file_bytes_sum"] == 40.0
    assert fortnight["invite_teammate_count"] == 3
    assert fortnight["invite_teammate_count_7d"] == 1


def test_property_max(definitions: FeatureDefinitions) -> None:
    maximum = FeatureDefinitions.from_spec(small_spec(aggregate="max"))
    rows = rows_for(
        ("a", "2026-01-06 00:00", SIGNUP, None), ("a", "2026-01-12 09:00", SIGNUP, None)
    )
    frame = build_features(maximum, FIXED_LOG, rows)
    assert frame["upload_file_bytes_max"].tolist() == [10.0, 30.0]


def test_no_events_after_conversion(features: pd.DataFrame) -> None:
    converted = features.iloc[2]
    assert converted["events_count"] == 1  # pricing only: 'paid' and the later invite are out
    assert converted["invite_teammate_count"] == 0
    assert converted["hours_since_last_event"] == pytest.approx(6 * 24 - 1)


def test_entity_without_events_gets_explicit_row(features: pd.DataFrame) -> None:
    nobody = features.iloc[3]
    counts = [c for c in features.columns if c.endswith(("_count", "_count_7d", "_days"))]
    counts.remove("tenure_days")
    assert (nobody[counts] == 0).all()
    assert nobody["tenure_days"] == pytest.approx(6.0)
    assert np.isnan(nobody["hours_since_last_event"])
    assert np.isnan(nobody["invite_teammate_hours_to_first"])
    assert nobody["upload_file_bytes_sum"] == 0.0


def test_event_exactly_at_as_of_is_excluded(definitions: FeatureDefinitions) -> None:
    rows = rows_for(("a", "2026-01-05 09:10", SIGNUP, None))
    frame = build_features(definitions, FIXED_LOG, rows)
    assert frame.loc[0, "events_count"] == 1
    assert frame.loc[0, "invite_teammate_count"] == 0


def test_sessions_cut_at_inactivity_gaps_without_session_ids(
    definitions: FeatureDefinitions,
) -> None:
    events = FIXED_LOG.drop(columns="session_id")
    rows = rows_for(("a", "2026-01-12 09:00", SIGNUP, None))
    frame = build_features(definitions, events, rows)
    # 09:00-09:20 one session, 14:00-14:05, Jan 7 10:00, Jan 9 08:00-08:30 (30 min: same)
    assert frame.loc[0, "sessions_count"] == 4


def test_account_features_count_active_users() -> None:
    definitions = FeatureDefinitions.from_spec(small_spec(entity="account"))
    events = log(
        [
            ("u1", "invite", "2026-01-05 10:00", 1, np.nan, "acme"),
            ("u2", "login", "2026-01-06 10:00", 1, np.nan, "acme"),
            ("u1", "invite", "2026-01-06 11:00", 2, np.nan, "acme"),
            ("u3", "login", "2026-01-09 10:00", 1, np.nan, "acme"),
            ("u9", "login", "2026-01-06 10:00", 1, np.nan, "other"),
        ]
    )
    rows = rows_for(("acme", "2026-01-08 00:00", SIGNUP, None))
    frame = build_features(definitions, events, rows)
    assert frame.loc[0, "active_users"] == 2
    assert frame.loc[0, "invite_teammate_count"] == 2
    assert frame.loc[0, "events_count"] == 3


def test_feature_names_follow_the_naming_rule(definitions: FeatureDefinitions) -> None:
    assert "invite_teammate_count_7d" in definitions.names
    assert "upload_file_bytes_sum" in definitions.names
    assert len(definitions.names) == len(set(definitions.names))


def test_no_rows_gives_an_empty_frame_with_every_feature(definitions: FeatureDefinitions) -> None:
    """A live run in which nobody can be scored (all sign up later) is empty, not a crash."""
    frame = build_features(definitions, FIXED_LOG, rows_for())
    assert len(frame) == 0
    assert set(definitions.names) <= set(frame.columns)
