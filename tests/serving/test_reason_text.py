"""Reason texts read naturally for a count of one."""

from __future__ import annotations

import pytest

from pql.serving.reasons import singular


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Invited 1 teammates", "Invited 1 teammate"),
        ("Opened 1 support tickets", "Opened 1 support ticket"),
        ("Active on 1 days (43 events so far)", "Active on 1 day (43 events so far)"),
        ("Created 2 projects (1 of 3 members)", "Created 2 projects (1 of 3 members)"),
        ("Used 21 times", "Used 21 times"),
        ("2.1 days into the trial", "2.1 days into the trial"),
        ("1 class", "1 class"),
        ("Viewed pricing 1x this week", "Viewed pricing 1x this week"),
    ],
)
def test_one_takes_the_singular(text: str, expected: str) -> None:
    assert singular(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, ""),
        (10.0, ""),  # the median trial user: no comparison worth saying
        (80.5, " - more than 80% of users"),
        (100.0, " - more than 95% of users"),  # the largest value seen in training
        (1e6, " - more than 95% of users"),  # beyond it: never "more than 100%"
    ],
)
def test_comparison_with_trial_users_stays_within_what_is_known(value, expected) -> None:
    from pql.features.definitions import FeatureDefinitions
    from pql.serving.reasons import ReasonWriter
    from tests.conftest import small_spec

    spec = small_spec()
    reference = {"invite_teammate_count": tuple(float(p) for p in range(101))}
    writer = ReasonWriter(spec, FeatureDefinitions.from_spec(spec), reference)
    assert writer._context_text("invite_teammate_count", value) == expected
