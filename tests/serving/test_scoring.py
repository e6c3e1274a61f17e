"""Scores and reasons: exact TreeSHAP arithmetic and readable text."""

from __future__ import annotations

import numpy as np
import pytest

from pql.serving.bundle import ModelBundle
from pql.serving.scoring import Scorer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scorer(trained) -> Scorer:
    return Scorer(trained.result.bundle)


@pytest.fixture(scope="module")
def rows(trained):
    return trained.result.test[list(trained.result.bundle.feature_names)].head(300)


def test_contributions_plus_base_value_reproduce_the_raw_score(scorer, rows) -> None:
    scores = scorer.predict(rows)
    booster_raw = scorer.bundle.booster.predict(rows.to_numpy(float), raw_score=True)
    np.testing.assert_allclose(scores.contributions.sum(axis=1), booster_raw, rtol=0, atol=1e-9)
    grouped = scorer.writer.grouped(scores.contributions[:, :-1])
    base = scores.contributions[:, -1]
    np.testing.assert_allclose(grouped.sum(axis=1) + base, booster_raw, rtol=0, atol=1e-9)


def test_reasons_are_grouped_sorted_and_readable(scorer, rows) -> None:
    scores = scorer.predict(rows)
    explained = scorer.reasons(rows.to_numpy(float), scores)
    groups = set(scorer.writer.group_names)
    hot = int(np.argmax(scores.probability))
    positive, negative = explained[hot]
    assert 1 <= len(positive) <= 3 and len(negative) <= 2
    assert [r.contribution for r in positive] == sorted(
        (r.contribution for r in positive), reverse=True
    )
    assert all(r.contribution > 0 for r in positive)
    assert all(r.contribution < 0 for r in negative)
    for reason in positive + negative:
        assert reason.action in groups
        assert reason.text and "{" not in reason.text and "nan" not in reason.text.lower()


def test_scores_tiers_and_flags_agree(scorer, rows) -> None:
    scores = scorer.predict(rows)
    assert ((scores.score >= 0) & (scores.score <= 100)).all()
    assert (scores.is_pql == (scores.tier == "hot")).all()
    order = np.argsort(scores.probability)
    assert (np.diff(scores.score[order]) >= 0).all()  # the 0-100 score keeps the ranking


def test_bundle_round_trips_through_a_folder(trained, tmp_path, rows) -> None:
    bundle = trained.result.bundle
    loaded = ModelBundle.load(bundle.save(tmp_path / "bundle"))
    np.testing.assert_array_equal(
        Scorer(loaded).predict(rows).probability, Scorer(bundle).predict(rows).probability
    )
    assert loaded.tiers == bundle.tiers and loaded.feature_names == bundle.feature_names


def test_drift_reference_round_trips_and_older_bundles_still_load(trained, tmp_path) -> None:
    import json

    bundle = trained.result.bundle
    folder = bundle.save(tmp_path / "bundle")
    assert ModelBundle.load(folder).drift_reference == bundle.drift_reference
    meta = json.loads((folder / "bundle.json").read_text())
    del meta["drift_reference"]  # a bundle written before monitoring existed
    (folder / "bundle.json").write_text(json.dumps(meta))
    older = ModelBundle.load(folder)
    assert older.drift_reference == {} and older.feature_names == bundle.feature_names
