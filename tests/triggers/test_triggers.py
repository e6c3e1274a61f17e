"""Trigger discovery: hand-counted statistics, a planted trigger found, a no-lift action
flagged, and the proposed rules judged on later signups."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pql.errors import TriggerError
from pql.features.pipeline import Dataset, load_dataset
from pql.features.spec import parse_spec
from pql.triggers.discovery import (
    Condition,
    discover_triggers,
    propose_rules,
    trigger_statistics,
    wilson_interval,
)
from pql.triggers.report import top_triggers, triggers_markdown
from tests.conftest import planted_log, planted_spec


def planted_dataset(**kwargs) -> Dataset:
    events, trials = planted_log(**kwargs)
    return load_dataset(parse_spec(planted_spec()), events=events, trials=trials)


# --- statistics by hand ---------------------------------------------------------------


def test_wilson_interval_matches_the_published_values() -> None:
    low, high = wilson_interval(4, 5)
    assert low == pytest.approx(0.3755, abs=1e-4)
    assert high == pytest.approx(0.9638, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_statistics_equal_hand_counts() -> None:
    frame = pd.DataFrame({"a_count": [0, 1, 1, 2, 3, 3, 5, 0, 0, 2]})
    label = np.array([0, 0, 1, 0, 1, 1, 1, 0, 0, 1])
    stats = trigger_statistics(frame, label, [("a_count", "a", "so far")], min_support=5)
    # 4 and 5 select the same single row: only the first is kept
    assert stats["threshold"].tolist() == [1.0, 2.0, 3.0, 4.0]
    at2 = stats[stats["threshold"] == 2].iloc[0]
    # at or above 2: rows 3, 4, 5, 6, 9 -> 4 of 5 converted; below: rows 0, 1, 2, 7, 8 -> 1 of 5
    assert (at2.rows_at_or_above, at2.converted_at_or_above) == (5, 4)
    assert (at2.rows_below, at2.converted_below) == (5, 1)
    assert at2.rate_at_or_above == pytest.approx(0.8)
    assert at2.rate_below == pytest.approx(0.2)
    assert at2.lift == pytest.approx(0.8 / 0.5)
    assert at2.rate_ratio == pytest.approx(4.0)
    assert at2.coverage == pytest.approx(0.5)
    assert at2.recall == pytest.approx(0.8)
    assert (at2.rate_at_or_above_low, at2.rate_below_high) == pytest.approx(
        (wilson_interval(4, 5)[0], wilson_interval(1, 5)[1])
    )
    assert bool(at2.supported) and not bool(at2.separated)  # 5 vs 5 rows: intervals overlap
    at4 = stats[stats["threshold"] == 4].iloc[0]
    assert (at4.rows_at_or_above, at4.converted_at_or_above) == (1, 1)
    assert not bool(at4.supported)  # one trial above cannot carry a trigger


def test_greedy_rules_stop_at_the_condition_budget() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"a{i}_count": rng.integers(0, 4, 2000) for i in range(8)})
    label = (frame.sum(axis=1) + rng.normal(0, 2, 2000) > 14).to_numpy()
    candidates = [(f"a{i}_count", f"a{i}", "so far") for i in range(8)]
    stats = trigger_statistics(frame, label, candidates, min_support=30)
    for budget in (1, 2, 5):
        rules = propose_rules(stats, frame, label, min_support=30, max_conditions=budget)
        assert 1 <= sum(len(rule) for rule in rules) <= budget
        for rule in rules:  # one condition per action inside a rule
            assert len({c.action for c in rule}) == len(rule)


def test_condition_text_reads_as_words() -> None:
    assert Condition("invite_count", 3, "invite", "so far").text == "invite 3+ times"
    assert Condition("invite_count", 1, "invite", "so far").text == "invite at least once"
    assert (
        Condition("view_pricing_count_7d", 2, "view_pricing", "in the last 7 days").text
        == "view pricing 2+ times in the last 7 days"
    )
    assert Condition("active_days", 5, "active_days", "active days").text == "5+ active days"
    assert Condition("invite_users", 3, "invite", "members").text == "3+ members invite"


# --- planted data ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def planted() -> Dataset:
    return planted_dataset()


def test_planted_trigger_is_found_and_holds_on_later_signups(planted: Dataset) -> None:
    report = discover_triggers(planted)
    magic = report.actions.set_index("action").loc["magic"]
    assert magic.best_trigger == "magic_count >= 3"
    assert magic["best_lift"] > 2 and magic["flags"] == ""
    best = top_triggers(report).iloc[0]
    assert (best.feature, best.threshold) == ("magic_count", 3.0)
    rules = report.proposal.spec_rules()
    assert rules and "magic_count >= 3" in rules[0]["when"]
    held = report.proposal.held_out
    assert held is not None and held.lift > 2 and held.recall > 0.6
    # chosen on earlier signups, judged on later ones; every row is on one side
    counts = report.counts
    labelled = counts["snapshot_rows"] - counts["unlabeled_horizon_past_data_end"]
    assert counts["train_rows"] + counts["held_out_rows"] == labelled
    assert report.split["train_signups"] < report.split["held_out_signups"]


def test_actions_without_lift_are_flagged(planted: Dataset) -> None:
    flags = discover_triggers(planted).actions.set_index("action")["flags"]
    assert "nearly everybody does it" in flags["login"]
    assert "no reliable lift" in flags["tooltip"]
    assert flags["magic"] == ""


def test_no_signal_proposes_nothing_and_says_why() -> None:
    report = discover_triggers(planted_dataset(effect=False, seed=5))
    assert "no reliable lift" in report.actions.set_index("action").loc["magic", "flags"]
    assert report.proposal.rules == []
    assert "no rule is proposed" in report.proposal.why_none
    assert report.warnings[0].startswith("Triggers are correlations, not causes")


def test_too_few_conversions_is_said_plainly() -> None:
    events, trials = planted_log(n_users=200, seed=9)
    five = np.arange(len(trials)) < 5
    trials["converted_at"] = trials["signup_at"].where(five) + pd.Timedelta(days=9)
    dataset = load_dataset(parse_spec(planted_spec()), events=events, trials=trials)
    report = discover_triggers(dataset)
    assert report.proposal.rules == [] and report.proposal.train is None
    assert "conversions among the training trials" in report.proposal.why_none
    assert "no rule is proposed" in triggers_markdown(report, "planted").lower()


def test_no_labelled_rows_is_an_error_with_the_reason(planted: Dataset) -> None:
    with pytest.raises(TriggerError, match="no labelled rows at day 200"):
        discover_triggers(planted, day=200)


def test_extra_windows_become_trigger_candidates_once_shorter_than_the_age() -> None:
    from pql.triggers.discovery import _candidates
    from tests.features.test_windows import definitions_for

    found = definitions_for([1, 7, 28])
    frame = pd.DataFrame(columns=found.names)
    at_day_14 = {feature: window for feature, _, window in _candidates(found, frame, 14)}
    assert at_day_14["view_pricing_count_1d"] == "in the last 24 hours"
    assert at_day_14["view_pricing_count_7d"] == "in the last 7 days"
    assert "view_pricing_count_28d" not in at_day_14  # 28 days cover the whole life so far
    at_day_30 = {feature for feature, _, _ in _candidates(found, frame, 30)}
    assert "view_pricing_count_28d" in at_day_30
