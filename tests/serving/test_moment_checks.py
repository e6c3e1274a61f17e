"""The scoring moment is checked: past the end of the data, and ages the model never saw."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from pql.features.pipeline import live_features
from pql.serving.moment_checks import moment_warnings, past_data_warning, tenure_warning

END = pd.Timestamp("2026-03-01T12:00:00Z")
REFERENCE = {"tenure_days": tuple(float(v) for v in range(0, 15)) + (14.0,) * 86}


def test_scoring_more_than_a_day_after_the_data_is_warned() -> None:
    assert past_data_warning(END + pd.Timedelta(hours=23), END) is None
    warning = past_data_warning(END + pd.Timedelta(days=180), END)
    assert warning is not None
    assert "is 180.0 days after the end of the data (2026-03-01 12:00 UTC)" in warning
    assert "--as-of 2026-03-01T12:00:00Z" in warning
    assert past_data_warning(END, None) is None


def test_entities_older_than_any_training_row_are_counted() -> None:
    features = pd.DataFrame({"tenure_days": [1.0, 14.0, 14.5, 318.4, 40.0]})
    warning = tenure_warning(features, REFERENCE)
    assert warning is not None
    assert warning.startswith("3 of 5 scored entities are older than any training row")
    assert "tenure_days above 14.0" in warning and "the oldest scored is 318.4 days" in warning
    assert tenure_warning(features.iloc[:2], REFERENCE) is None
    assert tenure_warning(features, {}) is None  # a bundle without the reference: no claim
    single = tenure_warning(features.iloc[[3]], REFERENCE)
    assert single is not None and single.startswith("1 of 1 scored entity is older")


@pytest.mark.slow
def test_a_real_bundle_and_data_give_exact_counts(trained) -> None:
    """Trials scored without their trial end: ages beyond the training snapshots."""
    dataset = trained.dataset
    entities = dataset.entities.drop(columns="trial_end_at")
    open_ended = dataclasses.replace(dataset, entities=entities)
    as_of = dataset.data_end + pd.Timedelta(days=3)
    features, live = live_features(open_ended, as_of, trained.result.bundle.definitions)
    scored = entities.set_index("entity_id").loc[live.rows["entity_id"]]
    oldest = max(dataset.spec.snapshots_days)
    expected = int(((as_of - scored["signup_at"]) > pd.Timedelta(days=oldest)).sum())
    assert expected > 0
    warnings = moment_warnings(as_of, dataset.events_end, features, trained.result.bundle.reference)
    assert len(warnings) == 2
    assert "3.0 days after the end of the data" in warnings[0]
    assert warnings[1].startswith(f"{expected:,} of {len(features):,} scored entities")
