"""Real event logs: where the data ends, whether the conversion definition finds anyone,
logs that start mid-life, and trials tables without a conversion column."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from pql.errors import SpecError
from pql.features.pipeline import load_dataset, training_features
from pql.features.spec import parse_spec
from pql.training.labels import label_rows

START = pd.Timestamp("2026-01-05", tz="UTC")


def spec(**changes: Any) -> Any:
    raw: dict[str, Any] = {
        "product": "real",
        "data": {"events": {"path": "events.csv"}},
        "label": {"conversion_event": "upgraded", "horizon_days": 7},
        "snapshots_days": [1, 3],
        "actions": {"invite": {"events": ["invited"]}, "pricing": {"events": ["pricing_view"]}},
    }
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if name:
            raw[section] = {**raw.get(section, {}), name: value}
        else:
            raw[section] = value
    return parse_spec(raw)


def log(rows: list[tuple[str, str, pd.Timestamp]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "event", "timestamp"])


def days(n: float) -> pd.Timedelta:
    return pd.Timedelta(days=n)


def small_log() -> pd.DataFrame:
    """u1 converts on day 2 (as 'Upgraded'), u2 and u3 do not; the log spans 20 days."""
    return log(
        [
            ("u1", "invited", START),
            ("u1", "Upgraded", START + days(2)),
            ("u2", "pricing_viewed", START + days(1)),
            ("u3", "invited", START + days(3)),
            ("u3", "invited", START + days(20)),
        ]
    )


# --- the conversion definition -------------------------------------------------------------


def test_a_conversion_event_matching_no_event_is_warned_with_the_closest_names() -> None:
    quality = load_dataset(spec(), small_log()).quality
    assert quality.conversions == 0
    text = "\n".join(quality.warnings)
    assert "label.conversion_event 'upgraded' matches no event" in text
    assert "closest event names: 'Upgraded' (1 event)" in text
    assert "no conversion found" in text and "none of the 3 entities converted" in text
    assert "exit 5" in text
    # the action listing 'pricing_view' is pointed at the name the log uses
    assert "action 'pricing' matches no event" in text and "'pricing_viewed' (1 event)" in text
    assert quality.conversion_source.startswith("the first 'upgraded' event")


def test_a_conversion_event_that_matches_gives_no_warning() -> None:
    events = small_log().replace({"Upgraded": "upgraded"})
    quality = load_dataset(spec(), events).quality
    assert quality.conversions == 1
    assert not [w for w in quality.warnings if "conversion" in w]


# --- left-censored signups ---------------------------------------------------------------


def censored_log(opening: int, weekly: int, weeks: int = 6, seed: int = 1) -> pd.DataFrame:
    """`opening` users first seen in the log's first 2 days, then `weekly` new a week."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(opening):
        rows.append((f"old{i}", "invited", START + days(rng.uniform(0, 2))))
    for week in range(1, weeks):
        for i in range(weekly):
            rows.append((f"w{week}-{i}", "invited", START + days(7 * week + rng.uniform(0, 7))))
    rows.append(("last", "invited", START + days(7 * weeks + 0.5)))
    return log(rows)


def test_many_first_appearances_in_the_first_week_are_warned_as_left_censored() -> None:
    events = censored_log(opening=120, weekly=5)
    quality = load_dataset(spec(), events).quality
    [warning] = [w for w in quality.warnings if w.startswith("left-censored signups")]
    assert "120 of 146 users first appear in the log's first 7 days" in warning
    assert "median of 5 new a week" in warning and "over the 5 full weeks after" in warning


def test_a_steady_log_or_declared_signups_are_not_called_left_censored() -> None:
    steady = load_dataset(spec(), censored_log(opening=6, weekly=5)).quality
    assert not [w for w in steady.warnings if "left-censored" in w]
    events = censored_log(opening=120, weekly=5)
    events["registered"] = events["timestamp"] - days(30)
    declared = spec(data={"events": {"path": "e.csv", "columns": {"signup_at": "registered"}}})
    quality = load_dataset(declared, events).quality
    assert not [w for w in quality.warnings if "left-censored" in w]


# --- the end of the data -------------------------------------------------------------------


def test_labels_run_to_data_end_at_and_the_report_says_why() -> None:
    events = log(
        [
            ("u1", "invited", START),
            ("u2", "invited", START + days(10)),
            ("u2", "invited", START + days(12)),
        ]
    )
    default = load_dataset(spec(), events)
    assert default.data_end == START + days(12)
    assert default.quality.data_end_reason.startswith("the last event")
    # u1's cutoffs (days 1, 3) are labelled; u2's day-1 cutoff (day 11) has a horizon
    # running past day 12, and its day-3 cutoff (day 13) lies past the data
    assert len(label_rows(training_features(default)[0], 7, default.data_end).rows) == 2

    end = START + days(30)
    at_end = spec(data={"events": {"path": "e.csv"}, "end_at": end.isoformat()})
    later = load_dataset(at_end, events)
    assert later.data_end == end and later.events_end == end
    assert later.quality.data_end_reason.startswith("data.end_at in the spec")
    assert any("18.0 days after the last event" in w for w in later.quality.warnings)
    assert len(label_rows(training_features(later)[0], 7, later.data_end).rows) == 4

    early_end = START + days(11)
    before = spec(data={"events": {"path": "e.csv"}, "end_at": str(early_end)})
    early = load_dataset(before, events)
    assert early.data_end == early_end
    [warning] = [w for w in early.quality.warnings if "after data.end_at" in w]
    assert warning.startswith("1 usable event lies after data.end_at")  # u2's day-12 event


def trials_frame(converted: list[Any] | None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"user_id": ["u1", "u2", "u3"], "signup_at": [START, START + days(1), START + days(3)]}
    )
    if converted is not None:
        frame["converted_at"] = converted
    return frame


def test_a_later_trials_conversion_extends_labels_but_not_cutoffs() -> None:
    events = small_log()
    late = START + days(26)
    trials = trials_frame([START + days(2), late, pd.NaT])
    with_trials = spec(data={"events": {"path": "e.csv"}, "trials": {"path": "t.csv"}})
    dataset = load_dataset(with_trials, events, trials)
    assert dataset.data_end == late
    assert dataset.events_end == START + days(20)
    assert dataset.quality.data_end_reason.startswith("the trials table's latest conversion")
    assert "training cutoffs still stop at the last event" in dataset.quality.data_end_reason


# --- trials tables without a conversion column ---------------------------------------------


def test_a_trials_table_without_converted_at_takes_conversions_from_the_events() -> None:
    events = small_log().replace({"Upgraded": "upgraded"})
    with_trials = spec(data={"events": {"path": "e.csv"}, "trials": {"path": "t.csv"}})
    dataset = load_dataset(with_trials, events, trials_frame(None))
    converted = dataset.entities.set_index("entity_id")["converted_at"]
    assert converted["u1"] == START + days(2)
    assert converted[["u2", "u3"]].isna().all()
    assert "the trials table gives no converted_at" in dataset.quality.conversion_source


def test_conversions_from_plans_with_a_trials_table() -> None:
    events = small_log().assign(level=["free", "paid", "free", "free", "free"])
    raw_spec = {
        "data": {
            "events": {"path": "e.csv", "columns": {"plan": "level"}},
            "trials": {"path": "t.csv", "columns": {"converted_at": None}},
        },
        "label": {"paid_plans": ["paid"], "horizon_days": 7},
    }
    dataset = load_dataset(spec(**raw_spec), events, trials_frame([pd.NaT] * 3))
    assert dataset.quality.conversions == 1
    assert "label.paid_plans" in dataset.quality.conversion_source
    # with the column left in use, the trials table and the plans would both define it
    raw_spec["data"]["trials"] = {"path": "t.csv"}
    with pytest.raises(SpecError, match="both define conversion"):
        load_dataset(spec(**raw_spec), events, trials_frame([pd.NaT] * 3))


def test_a_null_converted_at_needs_a_conversion_from_the_events() -> None:
    with pytest.raises(SpecError, match="converted_at' is null"):
        spec(
            data={
                "events": {"path": "e.csv"},
                "trials": {"path": "t.csv", "columns": {"converted_at": None}},
            },
            label={"horizon_days": 7},
        )
