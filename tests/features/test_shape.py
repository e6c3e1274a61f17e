"""Product shape: the spec decides when it says, else the data, with the reason said."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pql.errors import SpecError
from pql.features.calendar_rows import calendar_rows
from pql.features.pipeline import load_dataset, training_features
from pql.features.rows import snapshot_rows
from pql.features.shape import infer_shape, resolve_shape
from pql.features.spec import parse_spec
from tests.conftest import small_spec

T0 = pd.Timestamp("2025-01-01", tz="UTC")


def _spec(**extra):
    raw = small_spec().model_dump(mode="json", exclude_none=True)
    for key in ("shape", "trial_days", "freemium"):
        raw.pop(key, None)
    return parse_spec({**raw, **extra})


def _entities(conversion_ages: list[float | None]) -> pd.DataFrame:
    signup = [T0 + pd.Timedelta(days=i) for i in range(len(conversion_ages))]
    converted = [
        pd.NaT if age is None else s + pd.Timedelta(days=age)
        for s, age in zip(signup, conversion_ages, strict=True)
    ]
    return pd.DataFrame(
        {
            "entity_id": [f"u{i}" for i in range(len(signup))],
            "account_id": None,
            "signup_at": pd.to_datetime(signup, utc=True),
            "converted_at": pd.to_datetime(converted, utc=True),
        }
    )


def test_the_spec_decides_when_it_says() -> None:
    late = _entities([100.0] * 30)
    assert resolve_shape(_spec(shape="trial"), late).shape == "trial"
    given = resolve_shape(_spec(trial_days=14), late)
    assert (given.shape, given.inferred) == ("trial", False) and "trial_days" in given.reason
    ends = resolve_shape(_spec(), late, has_trial_ends=True)
    assert ends.shape == "trial" and "trial's end" in ends.reason


def test_late_conversions_mean_freemium_and_early_ones_trial() -> None:
    late = infer_shape(_spec(), _entities([5.0] * 10 + [120.0] * 30))
    assert late.shape == "freemium" and late.inferred
    assert "30 of 40 conversions (75%) came more than 28 days after signup" in late.reason
    early = infer_shape(_spec(), _entities([3.0] * 40 + [60.0] * 5 + [None] * 20))
    assert early.shape == "trial" and "5 of 45 conversions" in early.reason


def test_long_lived_free_users_mean_freemium() -> None:
    entities = _entities([None] * 40)
    last_seen = pd.Series(
        (entities["signup_at"] + pd.Timedelta(days=200)).to_numpy(), index=entities["entity_id"]
    )
    found = infer_shape(_spec(), entities, last_seen)
    assert found.shape == "freemium" and "still active more than 90 days" in found.reason
    short = pd.Series(entities["signup_at"].to_numpy(), index=entities["entity_id"].to_numpy())
    assert infer_shape(_spec(), entities, short).shape == "trial"


def test_freemium_rows_are_every_free_entity_at_calendar_cuts() -> None:
    entities = _entities([None] * 30 + [40.0] * 30)  # signups on 60 consecutive days
    start, end = T0, T0 + pd.Timedelta(days=400)
    found = calendar_rows(entities, 30, 200, end, start)
    rows = found.rows
    cuts = start + pd.to_timedelta(np.arange(1, 14) * 30, unit="D")
    assert set(rows["as_of"]) <= set(cuts)
    assert (rows["as_of"] > rows["signup_at"]).all()
    age = (rows["as_of"] - rows["signup_at"]) / pd.Timedelta(days=1)
    assert np.allclose(rows["snapshot_day"], age) and age.max() <= 200
    # by hand: entity i signs up on day i; cuts on days 30k after it and within 200 days
    expected = sum(
        sum(1 for k in range(1, 14) if i < 30 * k <= i + 200 and (i < 30 or 30 * k <= i + 40))
        for i in range(60)
    )
    assert len(rows) == expected
    assert found.candidates - found.converted_before == expected
    assert rows.groupby("entity_id").size().max() <= 200 // 30 + 1
    assert not (rows["converted_at"] < rows["as_of"]).any()
    assert snapshot_rows(entities, [1, 3, 7, 14], end).rows["snapshot_day"].max() == 14


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"shape": "freemium", "trial_days": 14}, "trial_days"),
        ({"shape": "monthly"}, "shape"),
        ({"freemium": {"every_days": 0.5, "max_age_days": 3650}}, "freemium"),
        ({"freemium": {"every_day": 7}}, "freemium.every_day"),
        ({"trial_days": -1}, "trial_days"),
    ],
)
def test_shape_keys_are_checked_by_name(extra: dict, key: str) -> None:
    with pytest.raises(SpecError, match=f"key '{key}"):
        _spec(**extra)


def test_a_freemium_data_set_cuts_rows_across_the_free_life() -> None:
    events = []
    for user in range(60):
        start = T0 + pd.Timedelta(days=user)
        for day in range(0, 300, 5):
            events.append((f"u{user}", "project", start + pd.Timedelta(days=day, hours=1)))
        if user % 2:
            events.append((f"u{user}", "paid", start + pd.Timedelta(days=150 + user)))
    frame = pd.DataFrame(events, columns=["user_id", "event", "timestamp"])
    frame["account_id"] = "a"
    frame["session_id"] = "s"
    frame["bytes"] = 1.0
    dataset = load_dataset(_spec(), frame)
    assert dataset.product_shape.shape == "freemium" and dataset.product_shape.inferred
    assert dataset.quality.product_shape.startswith("freemium (inferred: ")
    features, _ = training_features(dataset)
    assert features["snapshot_day"].max() > 200  # long-lived users are in the world
    assert features["tenure_days"].max() > 200
    assert features["as_of"].nunique() < 40  # calendar cuts, every 14 days
    trial = load_dataset(_spec(shape="trial"), frame)
    assert training_features(trial)[0]["snapshot_day"].max() == 14
