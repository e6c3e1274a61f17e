"""Plans in the event log: conversion by plan, paying users are not trials, flips,
signups from a column, and a report that explains every row it does not use."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pql.errors import SpecError
from pql.features.pipeline import load_dataset, training_features
from pql.features.quality import BEFORE_SIGNUP, PAYING_AT_START
from pql.features.spec import load_spec, parse_spec

# u1: free -> paid (converts), u2: paid from the start (not a trial), u3: free -> paid ->
# free -> paid (flips; converts once), u4: free only; one logged-out event; one event
# of u4 before its registration (clock skew).
CSV = """uid,name,ts,level,registered
u1,listen,2026-01-01T10:00:00Z,free,2026-01-01T09:00:00Z
u1,listen,2026-01-03T10:00:00Z,free,2026-01-01T09:00:00Z
u1,upgrade,2026-01-04T10:00:00Z,free,2026-01-01T09:00:00Z
u1,listen,2026-01-04T11:00:00Z,paid,2026-01-01T09:00:00Z
u2,listen,2026-01-01T12:00:00Z,paid,2025-12-01T00:00:00Z
u2,listen,2026-01-02T12:00:00Z,paid,2025-12-01T00:00:00Z
u3,listen,2026-01-02T10:00:00Z,free,2026-01-02T09:00:00Z
u3,listen,2026-01-05T10:00:00Z,paid,2026-01-02T09:00:00Z
u3,listen,2026-01-06T10:00:00Z,free,2026-01-02T09:00:00Z
u3,listen,2026-01-07T10:00:00Z,paid,2026-01-02T09:00:00Z
u4,listen,2026-01-01T08:00:00Z,free,2026-01-02T00:00:00Z
u4,listen,2026-01-03T10:00:00Z,free,2026-01-02T00:00:00Z
u4,listen,2026-01-20T10:00:00Z,free,2026-01-02T00:00:00Z
,home,2026-01-03T10:00:00Z,free,
"""

SPEC = {
    "product": "plans",
    "data": {
        "events": {
            "path": "events.csv",
            "columns": {
                "user_id": "uid",
                "event": "name",
                "timestamp": "ts",
                "plan": "level",
                "signup_at": "registered",
            },
        }
    },
    "label": {"paid_plans": ["paid"], "horizon_days": 7},
    "snapshots_days": [1, 2],
    "actions": {"listen": {"events": ["listen"]}},
}


@pytest.fixture
def spec_path(tmp_path: Path) -> Path:
    (tmp_path / "events.csv").write_text(CSV)
    path = tmp_path / "pql.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return path


def test_plan_conversion_and_paying_users(spec_path: Path) -> None:
    dataset = load_dataset(load_spec(spec_path))
    entities = dataset.entities.set_index("entity_id")
    assert sorted(entities.index) == ["u1", "u3", "u4"]  # u2 paid from the start
    assert str(entities.loc["u1", "converted_at"]) == "2026-01-04 11:00:00+00:00"
    assert str(entities.loc["u3", "converted_at"]) == "2026-01-05 10:00:00+00:00"  # first only
    assert entities["converted_at"].isna().to_dict() == {"u1": False, "u4": True, "u3": False}
    assert str(entities.loc["u4", "signup_at"]) == "2026-01-02 00:00:00+00:00"  # the column
    quality = dataset.quality
    assert quality.conversions == 2 and quality.entities == 3 and quality.users == 4
    assert quality.plans == {
        "user_ids with a plan": 4,
        "plan changed": 2,
        "plan changed back and forth (2+ changes)": 1,
        PAYING_AT_START: 1,
    }
    not_used = quality.not_used_in_features
    assert not_used[BEFORE_SIGNUP] == 1  # u4 at 08:00, registered the next day
    assert not_used[f"user_id {PAYING_AT_START}"] == 2
    assert not_used["at or after conversion"] == 1 + 3  # u1's paid event; u3 from day 5
    assert quality.unusable["missing user id"] == 1
    for reason in ("missing user id", BEFORE_SIGNUP, f"user_id {PAYING_AT_START}"):
        assert reason in quality.explanations
    assert any(
        "back and forth" in w and "u3: free -> paid -> free -> paid" in w for w in quality.warnings
    )


def test_conversion_event_and_plan_take_the_earlier(spec_path: Path) -> None:
    raw = yaml.safe_load(spec_path.read_text())
    raw["label"]["conversion_event"] = "upgrade"
    spec_path.write_text(yaml.safe_dump(raw))
    entities = load_dataset(load_spec(spec_path)).entities.set_index("entity_id")
    assert str(entities.loc["u1", "converted_at"]) == "2026-01-04 10:00:00+00:00"


def test_paying_users_kept_when_asked(spec_path: Path) -> None:
    raw = yaml.safe_load(spec_path.read_text())
    raw["label"]["exclude_paying_at_start"] = False
    spec_path.write_text(yaml.safe_dump(raw))
    dataset = load_dataset(load_spec(spec_path))
    assert "u2" in set(dataset.entities["entity_id"])


def test_cutoffs_before_the_log_starts_are_dropped_and_counted(spec_path: Path) -> None:
    raw = yaml.safe_load(spec_path.read_text())
    raw["label"]["exclude_paying_at_start"] = False  # u2 registered a month before the log
    spec_path.write_text(yaml.safe_dump(raw))
    dataset = load_dataset(load_spec(spec_path))
    frame, snapshots = training_features(dataset)
    assert snapshots.before_data == 2  # u2 at days 1 and 2 after 2025-12-01
    assert "u2" not in set(frame["entity_id"])
    assert any("before the first event in the log" in w for w in dataset.quality.warnings)


def test_paid_plans_need_a_plan_column() -> None:
    raw = yaml.safe_load(yaml.safe_dump(SPEC))
    del raw["data"]["events"]["columns"]["plan"]
    with pytest.raises(SpecError, match=r"needs 'data\.events\.columns\.plan'"):
        parse_spec(raw)
    raw["label"] = {"horizon_days": 7}
    with pytest.raises(SpecError, match="paid_plans"):
        parse_spec(raw)


def test_a_dumped_spec_loads_again(spec_path: Path) -> None:
    """Model bundles store the spec as `model_dump` YAML; it must parse back the same."""
    spec = load_spec(spec_path)
    again = parse_spec(yaml.safe_load(yaml.safe_dump(spec.model_dump(mode="json"))))
    assert again == spec


def test_paid_plans_matching_no_plan_value_are_warned_about(spec_path: Path) -> None:
    raw = yaml.safe_load(spec_path.read_text())
    raw["label"]["paid_plans"] = ["pro"]
    spec_path.write_text(yaml.safe_dump(raw))
    quality = load_dataset(load_spec(spec_path)).quality
    assert quality.conversions == 0
    [warning] = [w for w in quality.warnings if w.startswith("label.paid_plans")]
    assert "'pro' never occurs" in warning
    [none] = [w for w in quality.warnings if w.startswith("no conversion found")]
    assert "label.paid_plans" in none and "exit 5" in none
    assert "column 'level'" in warning and "'free' (8)" in warning and "'paid' (5)" in warning


def test_a_plan_value_differing_only_in_case_is_pointed_out(spec_path: Path) -> None:
    (spec_path.parent / "events.csv").write_text(
        CSV.replace("u1,listen,2026-01-04T11:00:00Z,paid", "u1,listen,2026-01-04T11:00:00Z,Paid")
    )
    quality = load_dataset(load_spec(spec_path)).quality
    assert quality.conversions == 1  # u1's "Paid" is not "paid": compared exactly
    [warning] = [w for w in quality.warnings if "only in case" in w]
    assert "'Paid' (1 events)" in warning and "entry 'paid'" in warning
    raw = yaml.safe_load(spec_path.read_text())
    raw["label"]["paid_plans"] = ["PAID"]
    spec_path.write_text(yaml.safe_dump(raw))
    warnings = load_dataset(load_spec(spec_path), strict=False).quality.warnings
    assert any("'PAID' never occurs" in w for w in warnings)
    assert sum("only in case" in w for w in warnings) == 2  # 'Paid' and 'paid'
