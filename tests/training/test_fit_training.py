"""Training with fit attributes: native categoricals, fair baselines, segment metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from pql.features.definitions import FeatureDefinitions
from pql.serving.bundle import ModelBundle
from pql.serving.scoring import Scorer
from pql.training.baselines import LogisticBaseline, PointsScore, SingleThresholdRule
from pql.training.segments import MAX_SEGMENTS, segment_lines


def _categorical_splits(booster) -> set[str]:
    """Features some tree splits on as a category (decision type '==')."""
    names = booster.feature_name()
    found: set[str] = set()

    def walk(node):
        if "split_feature" in node:
            if node.get("decision_type") == "==":
                found.add(names[node["split_feature"]])
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return found


def test_attributes_are_model_columns_after_the_behaviour_features(trained_fit):
    bundle = trained_fit.result.bundle
    behaviour = FeatureDefinitions.from_spec(trained_fit.dataset.spec).names
    fit = ["email_kind", "role", "company_size", "industry", "country"]
    assert list(bundle.feature_names) == [*behaviour, *fit]
    assert bundle.encoding.kinds["email_kind"] == "email_kind"
    # the rare simulated countries are pooled, the common ones kept, on training rows only
    assert "US" in bundle.encoding.levels["country"]
    assert set(bundle.encoding.pooled["country"]) & {"JP", "MX"}
    assert _categorical_splits(bundle.booster) & set(fit)


def test_a_saved_bundle_scores_the_test_rows_as_training_did(trained_fit, tmp_path):
    result = trained_fit.result
    loaded = ModelBundle.load(result.bundle.save(tmp_path / "bundle"))
    assert loaded.attributes == json.loads(json.dumps(result.bundle.attributes))
    scores = Scorer(loaded).score_frame(result.test, with_reasons=False)
    assert np.allclose(scores["probability"], result.test["probability"])


def test_segment_metrics_cover_every_test_row(trained_fit):
    result = trained_fit.result
    table = result.segments
    test_rows = len(result.test)
    for _, part in table.groupby("attribute"):
        assert part["rows"].sum() == test_rows
        assert len(part) <= MAX_SEGMENTS
        assert part["positives"].sum() == result.test["label"].sum()
    assert set(table["attribute"]) >= {"email_kind", "company_size", "industry"}
    row = table[(table["attribute"] == "email_kind") & (table["level"] == "work")].iloc[0]
    work = result.test["email_kind"] == result.bundle.encoding.levels["email_kind"].index("work")
    assert row["rows"] == work.sum()
    assert np.isclose(row["base_rate"], result.test.loc[work, "label"].mean())
    assert np.isclose(row["predicted"], result.test.loc[work, "probability"].mean())
    assert result.metrics["segment_email_kind_work_rows"] == row["rows"]
    assert any(line.startswith("test rows by company_size") for line in segment_lines(table))


def test_baselines_may_use_fit_attributes(definitions):
    """A planted level effect earns the points score a point, and can be the rule."""
    rng = np.random.default_rng(0)
    n = 4000
    frame = pd.DataFrame({name: np.zeros(n) for name in definitions.names})
    industry = rng.integers(0, 4, n).astype(float)  # level 2 converts far more often
    frame["industry"] = industry
    y = (rng.random(n) < np.where(industry == 2, 0.5, 0.05)).astype(int)
    attributes = {"industry": ("a", "b", "saas", "d")}
    points = PointsScore(definitions, attributes=attributes).fit(frame, y)
    assert "industry is saas" in points.description_
    rule = SingleThresholdRule(definitions, attributes=attributes).fit(frame, y)
    assert rule.description_ == "industry is saas"
    logistic = LogisticBaseline(categorical=("industry",)).fit(frame, y)
    p = logistic.predict_proba(frame)[:, 1]
    assert p[industry == 2].mean() > 3 * p[industry != 2].mean()
    unseen = frame.assign(industry=9.0)  # a code training never saw: no one-hot column
    assert np.isfinite(logistic.predict_proba(unseen)).all()


def test_without_attributes_the_model_is_behaviour_only(trained):
    assert trained.result.bundle.attributes == {}
    assert trained.result.segments.empty
    assert not any(k.startswith("segment_") for k in trained.result.metrics)
