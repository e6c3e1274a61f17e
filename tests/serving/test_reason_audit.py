"""The reason audit: zero contradictions on real populations, and it catches false texts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pql.features.pipeline import live_features, training_features
from pql.serving.reason_audit import ReasonAuditor, audit_scores
from pql.serving.reasons import Reason
from pql.serving.scoring import Scorer


@pytest.fixture(params=["trained", "trained_accounts"])
def any_trained(request: pytest.FixtureRequest):
    return request.getfixturevalue(request.param)


def _summary(report) -> str:
    return "\n".join(f"{c.entity_id}: {c.text!r}: {c.problem}" for c in report.contradictions[:20])


@pytest.mark.slow
def test_no_contradiction_over_the_whole_population(any_trained) -> None:
    """Every live entity at the data end and every training snapshot row."""
    scorer = Scorer(any_trained.result.bundle)
    live, _ = live_features(any_trained.dataset, any_trained.dataset.data_end)
    snapshots, _ = training_features(any_trained.dataset)
    for frame in (live, snapshots.sample(min(4000, len(snapshots)), random_state=0)):
        report = audit_scores(scorer, frame)
        assert report.checked_reasons > len(frame)  # reasons were really written
        assert report.ok, _summary(report)


def _auditor(trained) -> tuple[ReasonAuditor, dict[str, float]]:
    scorer = Scorer(trained.result.bundle)
    names = list(scorer.bundle.feature_names)
    row = dict.fromkeys(names, 0.0)
    row.update(
        {
            "events_count_7d": 45.0,
            "activity_trend_7d": (45 - 39) / (45 + 39),
            "invite_teammate_count": 0.0,
            "view_pricing_count": 3.0,
            "view_pricing_count_7d": 0.0,
            "hours_since_last_event": float("nan"),
        }
    )
    return ReasonAuditor.for_scorer(scorer), row


@pytest.mark.parametrize(
    ("action", "measure", "value", "text", "positive"),
    [
        # what the first round's writer said, each false of the entity's data
        (
            "momentum",
            "activity_trend_7d",
            0.07,
            "Activity down: 45 events this week vs 39 before",
            False,
        ),
        (
            "momentum",
            None,
            None,
            "Activity down: 45 events in the last 7 days vs 39 the 7 before",
            False,
        ),
        ("view_pricing", "view_pricing_count_7d", 0.0, "Viewed pricing 0x this week", True),
        ("recency", "hours_since_last_event", None, "Active never", True),
        ("invite_teammate", "invite_teammate_count", 0.0, "Invited 2 teammates", True),
        ("view_pricing", "view_pricing_count", 3.0, "Has not viewed pricing yet", False),
        (
            "view_pricing",
            "view_pricing_count",
            3.0,
            "Viewed pricing 3 times - fewer than converting users typically",
            False,
        ),
        ("view_pricing", "view_pricing_count", 3.0, "Viewed pricing 7 times", True),
        (
            "view_pricing",
            "view_pricing_count",
            3.0,
            "Viewed pricing 3 times - more than 99% of users",
            True,
        ),
    ],
)
def test_false_texts_are_caught(trained, action, measure, value, text, positive) -> None:
    auditor, row = _auditor(trained)
    reason = Reason(action=action, value=value, contribution=0.5, text=text, measure=measure)
    assert auditor.check("u1", row, reason, positive), text


def test_true_texts_pass(trained) -> None:
    auditor, row = _auditor(trained)
    fine = [
        (
            Reason(
                "momentum",
                45.0,
                0.3,
                "Activity up: 45 events in the last 7 days vs 39 the 7 before",
                "events_count_7d",
            ),
            True,
        ),
        (Reason("view_pricing", 3.0, 0.3, "Viewed pricing 3 times", "view_pricing_count"), True),
        (
            Reason(
                "invite_teammate",
                0.0,
                -0.3,
                "Has not invited a teammate yet",
                "invite_teammate_count",
            ),
            False,
        ),
    ]
    for reason, positive in fine:
        assert not auditor.check("u1", row, reason, positive), reason.text


@pytest.mark.slow
def test_non_monotone_model_on_a_random_population(trained) -> None:
    """A model free of monotone constraints, trained on labels unrelated to the plain
    reading of the data, still gets only true texts (disagreements are left out)."""
    import lightgbm as lgb

    bundle = trained.result.bundle
    names = list(bundle.feature_names)
    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame(
        {name: np.where(rng.random(n) < 0.4, 0.0, rng.gamma(1.5, 4.0, n).round()) for name in names}
    )
    frame["activity_trend_7d"] = rng.uniform(-1, 1, n)
    frame["hours_since_last_event"] = rng.uniform(0, 400, n)
    frame["tenure_days"] = rng.uniform(0, 14, n)
    # non-monotone truth: the middle of each count converts, both ends do not
    middle = sum(((frame[c] > 2) & (frame[c] < 6)).astype(int) for c in names[:8])
    label = (rng.random(n) < 1 / (1 + np.exp(-(middle - 3)))).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 15, "seed": 1},
        lgb.Dataset(frame[names].to_numpy(), label),
        num_boost_round=60,
    )
    from dataclasses import replace

    free = replace(bundle, booster_text=booster.model_to_string())
    frame.insert(0, "entity_id", [f"r{i}" for i in range(n)])
    report = audit_scores(Scorer(free), frame)
    assert report.checked_reasons > n
    assert report.ok, _summary(report)


@pytest.mark.slow
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_property_any_feature_row_gets_only_true_texts(trained, data) -> None:
    """Property: for any feature row (counts, trends, hours drawn at random, zeros and
    missing values included), the writer's texts pass the audit."""
    scorer = Scorer(trained.result.bundle)
    names = list(scorer.bundle.feature_names)
    row = {}
    for name in names:
        if name == "activity_trend_7d":
            row[name] = data.draw(st.floats(-1, 1))
        elif "hours" in name:
            row[name] = data.draw(st.one_of(st.just(float("nan")), st.floats(0, 5000)))
        elif name.endswith("_share_7d") or name.endswith("_share"):
            row[name] = data.draw(st.floats(0, 1))
        else:
            row[name] = float(data.draw(st.integers(0, 300)))
    frame = pd.DataFrame([{"entity_id": "p", **row}])
    report = audit_scores(scorer, frame)
    assert report.ok, _summary(report)


def test_a_run_that_scored_nobody_has_nothing_to_audit(trained) -> None:
    scorer = Scorer(trained.result.bundle)
    empty = pd.DataFrame(columns=["entity_id", *scorer.bundle.feature_names])
    report = audit_scores(scorer, empty)
    assert report.ok and report.checked_reasons == 0
