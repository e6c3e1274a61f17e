"""Context in the shape's words, and an audit that reads them back (and can fail)."""

from __future__ import annotations

import numpy as np
import pytest

from pql.serving.shape_words import duration_words, tenure_problems, tenure_texts


@pytest.mark.parametrize(
    ("days", "words"),
    [
        (0.2, "less than a day"),
        (1.0, "1 day"),
        (9.4, "9 days"),
        (13.9, "14 days"),
        (20.0, "3 weeks"),
        (60.0, "2 months"),
        (300.0, "10 months"),
        (800.0, "2 years"),
    ],
)
def test_durations_in_the_largest_unit(days: float, words: str) -> None:
    assert duration_words(days) == words
    assert tenure_texts(np.array([days]), "freemium", None, "user")[0] == f"Free user for {words}"
    assert tenure_problems(f"Free user for {words}", days, "freemium", None) == []


def test_each_shape_has_its_words() -> None:
    tenure = np.array([8.5, 300.0, np.nan])
    free = tenure_texts(tenure, "freemium", None, "user")
    assert list(free) == ["Free user for 8 days", "Free user for 10 months", None]
    assert tenure_texts(tenure, "freemium", None, "account")[0] == "Free account for 8 days"
    trial = tenure_texts(tenure, "trial", 14, "user")
    assert list(trial) == ["Day 9 of a 14-day trial", None, None]  # past the trial: plain age
    assert tenure_texts(tenure, "trial", None, "user") is None  # length unknown: "Signed up"
    assert tenure_texts(tenure, None, None, "user") is None


def test_the_audit_catches_untrue_tenure_words() -> None:
    assert tenure_problems("Day 9 of a 14-day trial", 8.5, "trial", 14) == []
    assert tenure_problems("Day 9 of a 14-day trial", 8.5, "freemium", None)
    assert tenure_problems("Day 10 of a 14-day trial", 8.5, "trial", 14)
    assert tenure_problems("Day 9 of a 30-day trial", 8.5, "trial", 14)
    assert tenure_problems("Free user for 10 months", 30.0, "freemium", None)
    assert tenure_problems("Free user for 3 weeks", 20.0, "trial", 14)
    assert tenure_problems("Free user for less than a day", 2.0, "freemium", None)


def test_the_reason_audit_reads_the_context_back() -> None:
    from pql.features.definitions import FeatureDefinitions
    from pql.features.spec import parse_spec
    from pql.serving.reason_audit import ReasonAuditor
    from pql.serving.reasons import feature_groups
    from tests.conftest import small_spec

    raw = small_spec().model_dump(mode="json", exclude_none=True)
    spec = parse_spec({**raw, "shape": "freemium"})
    definitions = FeatureDefinitions.from_spec(spec)
    auditor = ReasonAuditor(spec, list(definitions.names), feature_groups(definitions), {})
    row = {"tenure_days": 300.0, "hours_since_last_event": 50.0}
    fine = ["Free user for 10 months", "Last active 2 days ago"]
    assert auditor.check_context("u", row, fine) == []
    wrong = ["Day 9 of a 14-day trial", "Last active 5 days ago", "Signed up 3 days ago"]
    problems = [c.problem for c in auditor.check_context("u", row, wrong)]
    assert any("trial" in p for p in problems)
    assert any("'5 days ago'" in p for p in problems)
    assert any("'3 days ago'" in p for p in problems)
    assert auditor.check_context("u", {**row, "hours_since_last_event": 3.0}, ["No activity yet"])


def test_the_moment_check_names_the_freemium_remedy() -> None:
    import pandas as pd

    from pql.serving.moment_checks import tenure_warning

    reference = {"tenure_days": tuple(float(v) for v in np.linspace(0, 300, 101))}
    features = pd.DataFrame({"tenure_days": [10.0, 250.0, 299.0, 340.0]})
    text = tenure_warning(features, reference, "freemium")
    assert text is not None and text.startswith("1 of 4 scored entity is older")
    assert "freemium.max_age_days" in text and "snapshots_days" not in text
    assert "snapshots_days" in (tenure_warning(features, reference) or "")
    inside = pd.DataFrame({"tenure_days": [1.0, 150.0, 299.0]})
    assert tenure_warning(inside, reference, "freemium") is None
