"""Reason texts read naturally for a count of one."""

from __future__ import annotations

import pytest

from serving.reasons import singular


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
