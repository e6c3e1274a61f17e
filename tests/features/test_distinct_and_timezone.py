"""Distinct-count property aggregates and calendar days in the product's time zone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pql.errors import SpecError
from pql.features.calendar import local_days
from pql.features.definitions import FeatureDefinitions
from pql.features.frames import build_features, epoch_ms
from pql.features.ingest import load_events
from pql.features.live import entity_features
from pql.features.spec import parse_spec
from tests.conftest import random_log
from tests.features.test_compute import rows_for


def spec_raw(**extra: object) -> dict:
    raw = {
        "product": "tiny",
        "data": {"events": {"path": "events.csv"}},
        "label": {"conversion_event": "paid"},
        "actions": {
            "view_item": {"events": ["view"], "property": "item_id", "aggregate": "distinct"},
            "upload": {"events": ["upload"], "property": "bytes", "aggregate": "sum"},
        },
    }
    raw.update(extra)
    return raw


def definitions(**extra: object) -> FeatureDefinitions:
    return FeatureDefinitions.from_spec(parse_spec(spec_raw(**extra)))


def frame(rows: list[tuple[str, str, str, object]]) -> pd.DataFrame:
    """(user, event, time, item_id) -> canonical events with an item_id and bytes."""
    events = pd.DataFrame(rows, columns=["user_id", "event", "timestamp", "item_id"])
    events["timestamp"] = pd.to_datetime(events["timestamp"], utc=True)
    events["bytes"] = np.nan
    for column in ("user_id", "event"):
        events[column] = events[column].astype("category")
    events["item_id"] = events["item_id"].astype(object)
    return events


ITEMS = frame(
    [
        ("a", "view", "2026-01-04 23:00", "i0"),  # before signup: not counted
        ("a", "view", "2026-01-05 10:00", "i1"),
        ("a", "view", "2026-01-05 11:00", "i1"),  # the same item again
        ("a", "view", "2026-01-06 10:00", "i2"),
        ("a", "view", "2026-01-06 12:00", None),  # no item: a view, no distinct value
        ("a", "upload", "2026-01-07 10:00", "i9"),  # another action's event
        ("a", "view", "2026-01-08 10:00", "i3"),
        ("a", "view", "2026-01-10 10:00", "i1"),
        ("a", "view", "2026-01-12 10:00", "i4"),  # after the first cutoff
        ("b", "view", "2026-01-06 10:00", "i1"),  # another user's items are theirs
    ]
)


def test_distinct_values_up_to_each_cutoff() -> None:
    rows = rows_for(
        ("a", "2026-01-06 11:00", "2026-01-05 09:00", None),
        ("a", "2026-01-11 09:00", "2026-01-05 09:00", None),
        ("a", "2026-01-13 09:00", "2026-01-05 09:00", None),
        ("b", "2026-01-13 09:00", "2026-01-05 09:00", None),
        ("nobody", "2026-01-13 09:00", "2026-01-05 09:00", None),
    )
    values = build_features(definitions(), ITEMS, rows)
    assert values["view_item_item_id_distinct"].tolist() == [2, 3, 4, 1, 0]
    converted = rows_for(("b", "2026-01-13 09:00", "2026-01-05 09:00", "2026-01-06 09:00"))
    after = build_features(definitions(), ITEMS, converted)  # b's view came after converting
    assert after["view_item_item_id_distinct"].tolist() == [0]
    assert values["view_item_count"].tolist()[:3] == [3, 6, 7]


def test_distinct_is_a_count_feature() -> None:
    found = definitions()
    assert "view_item_item_id_distinct" in found.names
    assert found.distinct_columns == ("item_id",)
    assert found.property_columns == ("bytes",)
    assert found.monotone_directions()["view_item_item_id_distinct"] == 1


def test_the_event_reader_keeps_distinct_ids_as_text(tmp_path: Path) -> None:
    """'007' and '7' are two items; a number id 42.0 is the item '42'."""
    (tmp_path / "events.csv").write_text(
        "user_id,event,timestamp,item_id,bytes\n"
        "a,view,2026-01-05T10:00:00Z,007,\n"
        "a,view,2026-01-05T11:00:00Z,7,\n"
        "a,view,2026-01-05T12:00:00Z, 7 ,\n"
        "a,view,2026-01-05T13:00:00Z,,\n",
        encoding="utf-8",
    )
    spec = parse_spec(spec_raw(), base_dir=tmp_path)
    events = load_events(spec).events
    assert events["item_id"].astype(object).tolist()[:3] == ["007", "7", "7"]
    assert pd.isna(events["item_id"].iloc[3])
    rows = rows_for(("a", "2026-01-06 00:00", "2026-01-05 00:00", None))
    assert build_features(FeatureDefinitions.from_spec(spec), events, rows).iloc[0][
        "view_item_item_id_distinct"
    ] == 2


def _live(found: FeatureDefinitions, events: pd.DataFrame, row) -> np.ndarray:
    return entity_features(
        found,
        event_names=events["event"].astype(str).tolist(),
        time_ms=epoch_ms(events["timestamp"]),
        signup_ms=int(epoch_ms(pd.Series([row.signup_at]))[0]),
        as_of_ms=int(epoch_ms(pd.Series([row.as_of]))[0]),
        converted_ms=None
        if pd.isna(row.converted_at)
        else int(epoch_ms(pd.Series([row.converted_at]))[0]),
        session_ids=events["session_id"].tolist() if "session_id" in events else None,
        properties={"bytes": events["bytes"].tolist()},
        distinct_values={"item_id": events["item_id"].tolist()},
    )


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/New_York"])
def test_live_equals_batch_for_distinct_values_windows_and_zones(zone: str) -> None:
    events, rows = random_log(4)
    rng = np.random.default_rng(0)
    events["event"] = events["event"].astype(str).replace({"invite": "view"}).astype("category")
    items = rng.integers(0, 12, len(events)).astype(object)
    items[rng.random(len(events)) < 0.2] = None
    events["item_id"] = items
    found = definitions(timezone=zone, features={"windows_days": [1, 7, 28]})
    batch = build_features(found, events, rows)
    assert batch["view_item_item_id_distinct"].max() > 3
    for position, row in enumerate(rows.itertuples()):
        mine = events[events["user_id"] == row.entity_id]
        live = _live(found, mine, row)
        np.testing.assert_array_equal(live, batch.iloc[position].to_numpy(np.float64))


def test_live_ids_compare_as_batch_ids() -> None:
    """A request may send an item id as 42 or "42": one item, as in the event reader."""
    found = definitions()
    events = frame(
        [
            ("a", "view", "2026-01-05 10:00", 42),
            ("a", "view", "2026-01-05 11:00", "42"),
            ("a", "view", "2026-01-05 12:00", 42.0),
            ("a", "view", "2026-01-05 13:00", " 43 "),
        ]
    )
    row = rows_for(("a", "2026-01-06 00:00", "2026-01-05 00:00", None)).iloc[0]
    live = _live(found, events, row)
    assert live[found.names.index("view_item_item_id_distinct")] == 2


# --- time zone ------------------------------------------------------------------------

MIDNIGHT = frame(
    [
        # Shanghai is UTC+8: 15:30 UTC is 23:30 local on Jan 5, 16:30 UTC 00:30 on Jan 6
        ("a", "view", "2026-01-05 15:30", "x"),
        ("a", "view", "2026-01-05 16:30", "x"),
        ("a", "view", "2026-01-06 15:50", "x"),  # 23:50 local on Jan 6
        ("a", "view", "2026-01-07 17:00", "x"),  # 01:00 local on Jan 8
    ]
)


def test_active_days_count_local_calendar_days() -> None:
    rows = rows_for(("a", "2026-01-09 00:00", "2026-01-05 12:00", None))
    utc = build_features(definitions(), MIDNIGHT, rows).iloc[0]
    local = build_features(definitions(timezone="Asia/Shanghai"), MIDNIGHT, rows).iloc[0]
    assert (utc["active_days"], local["active_days"]) == (3, 3)  # Jan 5,6,7 | Jan 5,6,8
    assert (utc["longest_streak_days"], local["longest_streak_days"]) == (3, 2)
    assert (utc["view_item_active_days"], local["view_item_active_days"]) == (3, 3)
    # cutoffs and windows are instants: the same events count whatever the zone
    for name in ("events_count", "events_count_7d", "view_item_count_7d", "tenure_days"):
        assert utc[name] == local[name]


def test_late_evening_and_early_morning_are_one_local_day() -> None:
    rows = rows_for(("a", "2026-01-06 10:00", "2026-01-05 12:00", None))
    new_york = frame(
        [
            ("a", "view", "2026-01-06 04:00", "x"),  # 23:00 on Jan 5 in New York (UTC-5)
            ("a", "view", "2026-01-06 04:59", "x"),  # 23:59 on Jan 5
            ("a", "view", "2026-01-05 13:00", "x"),  # 08:00 on Jan 5
        ]
    )
    utc = build_features(definitions(), new_york, rows).iloc[0]
    local = build_features(definitions(timezone="America/New_York"), new_york, rows).iloc[0]
    assert utc["active_days"] == 2 and local["active_days"] == 1
    assert utc["active_days_7d"] == 2 and local["active_days_7d"] == 1


@pytest.mark.parametrize(
    "zone", ["UTC", "Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe"]
)
def test_local_days_agree_with_pandas_across_daylight_saving(zone: str) -> None:
    rng = np.random.default_rng(1)
    start = pd.Timestamp("2024-01-01", tz="UTC").value // 1_000_000
    times = start + rng.integers(0, 3 * 365 * 86_400_000, 20_000)
    # and the seconds around every transition of the span
    stamps = pd.DatetimeIndex(times.astype("datetime64[ms]"), tz="UTC")
    offsets = stamps.tz_convert(zone).tz_localize(None) - stamps.tz_localize(None)
    changes = np.flatnonzero(np.diff(offsets.asi8[np.argsort(times)]))
    ordered = np.sort(times)
    edges = np.concatenate([ordered[changes] + d for d in (-1000, 0, 1000)]) if len(changes) else []
    times = np.concatenate([times, np.asarray(edges, dtype=np.int64)])
    expected = (
        pd.DatetimeIndex(times.astype("datetime64[ms]"), tz="UTC")
        .tz_convert(zone)
        .tz_localize(None)
        .as_unit("ms")
        .asi8
        // 86_400_000
    )
    np.testing.assert_array_equal(local_days(times, zone), expected)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "utc+8"])
def test_an_unknown_time_zone_is_a_spec_error_naming_the_key(zone: str) -> None:
    with pytest.raises(SpecError, match=r"key 'timezone'.*not a known IANA time zone"):
        parse_spec(spec_raw(timezone=zone))


def test_the_default_zone_is_utc() -> None:
    assert parse_spec(spec_raw()).timezone == "UTC"
    assert definitions().timezone == "UTC"
