"""Configurable recent windows: names, hand-computed values, a brute-force reference,
point in time, and live == batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pql.errors import SpecError
from pql.features.definitions import FeatureDefinitions
from pql.features.frames import build_features, epoch_ms
from pql.features.live import entity_features
from pql.features.spec import parse_spec
from tests.conftest import random_log, small_spec
from tests.features.test_compute import FIXED_LOG, SIGNUP, rows_for

WINDOWS = [1, 7, 28]


def windowed_spec(windows: list[int] | None = WINDOWS, **extra: object):
    raw = small_spec().model_dump(mode="json", exclude_none=True)
    raw["data"]["events"].pop("uri", None)
    raw["data"]["events"].pop("table", None)
    if windows is not None:
        raw["features"] = {**raw.get("features", {}), "windows_days": windows}
    raw.update(extra)
    return parse_spec(raw)


def definitions_for(windows: list[int] | None = WINDOWS, **extra: object) -> FeatureDefinitions:
    return FeatureDefinitions.from_spec(windowed_spec(windows, **extra))


def test_the_default_is_exactly_the_seven_day_features() -> None:
    default = FeatureDefinitions.from_spec(small_spec())
    assert definitions_for(None).names == default.names
    assert definitions_for([7]).names == default.names
    assert not any(name.endswith(("_1d", "_28d")) for name in default.names)


def test_extra_windows_add_named_features() -> None:
    names = definitions_for().names
    for days in (1, 28):
        assert f"events_count_{days}d" in names
        assert f"activity_trend_{days}d" in names
        assert f"view_pricing_count_{days}d" in names
    assert "active_days_28d" in names
    assert "active_days_1d" not in names  # 24 hours: only whether it crossed midnight
    assert "view_pricing_active_days_28d" not in names  # per action, counts only
    default = FeatureDefinitions.from_spec(small_spec()).names
    assert names[:10] == default[:10]  # the 7-day entity features keep their places
    assert len(names) == len(default) + 2 * 4 + 3 + 2  # 4 actions x 2, 28d x 3, 1d x 2


def test_window_counts_are_monotone_features() -> None:
    directions = definitions_for().monotone_directions()
    assert directions["view_pricing_count_28d"] == 1
    assert directions["view_pricing_count_1d"] == 1


def test_hand_computed_window_values() -> None:
    rows = rows_for(
        ("a", "2026-01-12 09:00", SIGNUP, None), ("a", "2026-01-19 09:00", SIGNUP, None)
    )
    frame = build_features(definitions_for(), FIXED_LOG, rows)
    week, fortnight = frame.iloc[0], frame.iloc[1]
    # last 24 hours before Jan 12 09:00: nothing; before Jan 19 09:00: nothing either
    assert week["events_count_1d"] == 0 and fortnight["events_count_1d"] == 0
    # 28 days reach back past signup: the whole life so far
    assert week["events_count_28d"] == week["events_count"] == 8
    assert fortnight["events_count_28d"] == 10
    assert fortnight["active_days_28d"] == fortnight["active_days"] == 6
    assert fortnight["view_pricing_count_28d"] == 2
    assert fortnight["invite_teammate_count_28d"] == 3
    # nothing before signup to compare with: only recent activity -> +1
    assert fortnight["activity_trend_28d"] == 1.0
    assert week["activity_trend_1d"] == 0.0  # no events in either day


def _brute_force(events: pd.DataFrame, rows: pd.DataFrame, days: int) -> pd.DataFrame:
    """Per row, by plain filtering: events, local days and pricing views in the window."""
    out = []
    for row in rows.itertuples():
        stop = row.as_of if pd.isna(row.converted_at) else min(row.as_of, row.converted_at)
        stop = max(stop, row.signup_at)
        mine = events[(events["user_id"] == row.entity_id) & (events["timestamp"] >= row.signup_at)]
        mine = mine[mine["timestamp"] < stop]
        window = pd.Timedelta(days=days)
        recent = mine[mine["timestamp"] >= max(row.signup_at, stop - window)]
        before = mine[mine["timestamp"] >= max(row.signup_at, stop - 2 * window)]
        before = len(before) - len(recent)
        total = len(recent) + before
        out.append(
            {
                "events": len(recent),
                "days": recent["timestamp"].dt.floor("D").nunique(),
                "pricing": int((recent["event"] == "pricing").sum()),
                "trend": (len(recent) - before) / total if total else 0.0,
            }
        )
    return pd.DataFrame(out, index=rows.index)


@pytest.mark.parametrize("seed", [1, 2])
def test_windows_match_a_brute_force_reference(seed: int) -> None:
    events, rows = random_log(seed)
    frame = build_features(definitions_for([3, 7, 28]), events, rows)
    for days in (3, 28):
        expected = _brute_force(events, rows, days)
        assert (frame[f"events_count_{days}d"] == expected["events"]).all()
        assert (frame[f"active_days_{days}d"] == expected["days"]).all()
        assert (frame[f"view_pricing_count_{days}d"] == expected["pricing"]).all()
        np.testing.assert_allclose(frame[f"activity_trend_{days}d"], expected["trend"])


def test_events_at_or_after_the_cutoff_change_no_window_feature() -> None:
    events, rows = random_log(5)
    definitions = definitions_for()
    before = build_features(definitions, events, rows)
    late = events.sample(300, random_state=0).copy()
    cutoff = rows.set_index("entity_id")["as_of"]
    late["timestamp"] = late["user_id"].astype(str).map(cutoff) + pd.to_timedelta(
        np.arange(len(late)) % 5, unit="h"
    )
    after = build_features(definitions, pd.concat([events, late], ignore_index=True), rows)
    pd.testing.assert_frame_equal(before, after)


def test_live_equals_batch_with_windows() -> None:
    events, rows = random_log(9)
    definitions = definitions_for()
    batch = build_features(definitions, events, rows)
    for position, row in enumerate(rows.itertuples()):
        mine = events[events["user_id"] == row.entity_id]
        vector = entity_features(
            definitions,
            event_names=mine["event"].astype(str).tolist(),
            time_ms=epoch_ms(mine["timestamp"]),
            signup_ms=int(epoch_ms(pd.Series([row.signup_at]))[0]),
            as_of_ms=int(epoch_ms(pd.Series([row.as_of]))[0]),
            converted_ms=None
            if pd.isna(row.converted_at)
            else int(epoch_ms(pd.Series([row.converted_at]))[0]),
            session_ids=mine["session_id"].tolist(),
            properties={"bytes": mine["bytes"].tolist()},
        )
        np.testing.assert_array_equal(vector, batch.iloc[position].to_numpy(np.float64))


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ([1, 28], "must include 7"),
        ([7, 7], "distinct"),
        ([7, 400], "less than or equal to 365"),
        ([0, 7], "greater than or equal to 1"),
        ([7, 1.5], "integer"),
    ],
)
def test_bad_windows_are_spec_errors_naming_the_key(windows, message) -> None:
    with pytest.raises(SpecError) as caught:
        windowed_spec(windows)
    assert "features.windows_days" in str(caught.value)
    assert message in str(caught.value)


def test_a_template_may_state_a_configured_window_only() -> None:
    raw = windowed_spec().model_dump(mode="json", exclude_none=True)
    raw["actions"]["view_pricing"]["reason"] = "Viewed pricing {count_28d} times lately"
    assert parse_spec(raw).actions["view_pricing"].reason
    raw["actions"]["view_pricing"]["reason"] = "Viewed pricing {count_14d} times lately"
    with pytest.raises(SpecError, match=r"count_14d.*features\.windows_days"):
        parse_spec(raw)


def test_rules_may_name_window_features() -> None:
    spec = windowed_spec(rules=[{"name": "busy", "when": "view_pricing_count_28d >= 2"}])
    assert spec.rules[0].when == "view_pricing_count_28d >= 2"
    with pytest.raises(SpecError, match=r"rules\.0\.when"):
        windowed_spec([7], rules=[{"name": "busy", "when": "view_pricing_count_28d >= 2"}])
