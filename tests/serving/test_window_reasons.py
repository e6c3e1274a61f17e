"""Reasons for the extra windows and distinct counts: true wording, and an audit that
catches a false window, distinct or days claim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pql.features.definitions import FeatureDefinitions
from pql.features.frames import epoch_ms
from pql.features.pipeline import live_features, load_dataset, training_features
from pql.features.spec import load_spec, parse_spec
from pql.serving.batch import score_dataset
from pql.serving.entity import EntityScorer
from pql.serving.reason_audit import ReasonAuditor, audit_scores
from pql.serving.reasons import Reason, ReasonWriter, feature_groups
from pql.serving.scoring import Scorer
from pql.serving.wording import action_words, plural, property_noun
from pql.training.train import train_model


def _spec():
    return parse_spec(
        {
            "product": "tiny",
            "data": {"events": {"path": "events.csv"}},
            "label": {"conversion_event": "paid"},
            "features": {"windows_days": [1, 7, 28]},
            "actions": {
                "view_pricing": {"events": ["pricing"], "kind": "intent"},
                "create_project": {"events": ["project"]},
                "view_item": {"events": ["view"], "property": "item_id", "aggregate": "distinct"},
                "open_ticket": {"events": ["ticket"], "kind": "negative"},
            },
        }
    )


SPEC = _spec()
DEFINITIONS = FeatureDefinitions.from_spec(SPEC)


def _row(**values: float) -> np.ndarray:
    row = dict.fromkeys(DEFINITIONS.names, 0.0)
    row.update(values)
    return np.array([row[name] for name in DEFINITIONS.names], dtype=np.float64)


def _as_dict(values: np.ndarray) -> dict[str, float]:
    return dict(zip(DEFINITIONS.names, values.tolist(), strict=True))


WRITER = ReasonWriter(SPEC, DEFINITIONS, reference={})
AUDITOR = ReasonAuditor(SPEC, DEFINITIONS.names, feature_groups(DEFINITIONS), reference={})


def _audited(group: str, values: np.ndarray, carrier: str, positive: bool = True) -> str:
    found = WRITER.statement(group, values, carrier, positive)
    assert found is not None
    measure, text = found
    reason = Reason(group, float(values[DEFINITIONS.names.index(measure)]), 0.5, text, measure)
    assert not AUDITOR.check("e", _as_dict(values), reason, positive), text
    return text


def test_wording_of_days_windows_and_distinct_values() -> None:
    words = action_words("create_project")
    assert words.on_days(3) == "Created a project on 3 different days"
    assert words.on_days(1) == "Created a project on 1 day"
    assert words.times_in(4, 28) == "Created a project 4 times in the last 28 days"
    assert words.times_in(1, 1) == "Created a project once in the last 24 hours"
    assert words.not_in(28) == "Has not created a project in the last 28 days"
    assert action_words("view_item").distinct(12, "item_id") == "Viewed 12 distinct items"
    assert action_words("view_item").distinct(1, "item_id") == "Viewed 1 distinct item"
    assert (
        action_words("view_dashboard").distinct(4, "projectId")
        == "Viewed a dashboard (4 distinct projects)"
    )
    assert property_noun("$document_id") == "document" and plural("class") == "classes"


def test_window_reasons_are_written_and_pass_the_audit() -> None:
    values = _row(
        view_pricing_count=9, view_pricing_count_7d=2, view_pricing_count_28d=5,
        view_pricing_count_1d=1, view_pricing_active_days=4,
    )  # fmt: skip
    assert _audited("view_pricing", values, "view_pricing_count_28d") == (
        "Viewed pricing 5 times in the last 28 days"
    )
    assert _audited("view_pricing", values, "view_pricing_count_1d") == (
        "Viewed pricing once in the last 24 hours"
    )
    assert _audited("view_pricing", values, "view_pricing_active_days") == (
        "Viewed pricing on 4 different days"
    )
    quiet = _row(view_pricing_count=3, view_pricing_count_28d=0)
    assert _audited("view_pricing", quiet, "view_pricing_count_28d", positive=False) == (
        "Has not viewed pricing in the last 28 days"
    )


def test_distinct_reason_is_written_and_audited() -> None:
    values = _row(view_item_count=30, view_item_item_id_distinct=12)
    assert _audited("view_item", values, "view_item_item_id_distinct") == (
        "Viewed 12 distinct items"
    )


def test_activity_and_momentum_reasons_of_the_extra_windows() -> None:
    values = _row(
        events_count_28d=40, active_days_28d=11, events_count_7d=12,
        activity_trend_28d=(40 - 20) / 60, events_count=60,
    )  # fmt: skip
    assert _audited("activity", values, "events_count_28d") == "40 events in the last 28 days"
    assert _audited("activity", values, "active_days_28d") == "Active on 11 of the last 28 days"
    assert _audited("momentum", values, "activity_trend_28d") == (
        "Activity up: 40 events in the last 28 days vs 20 the 28 before"
    )


def test_a_trend_that_rounds_to_a_tie_never_shows_the_tied_counts() -> None:
    """A trend a hair above 0 with 1 event: the count before rounds to 1, and "up: 1 vs 1"
    would contradict itself; the sentence keeps the direction and drops the count."""
    values = _row(events_count_7d=1, activity_trend_7d=0.0078125, events_count=5)
    assert _audited("momentum", values, "activity_trend_7d") == (
        "Activity up: 1 event in the last 7 days, more than the 7 before"
    )


def test_a_window_of_eight_calendar_days_is_not_eight_of_seven() -> None:
    """7 x 24 hours cut mid-day touch 8 calendar days: never "8 of the last 7 days"."""
    values = _row(active_days_7d=8, events_count_7d=20)
    assert _audited("activity", values, "active_days_7d") == "Active every day of the last 7 days"


@pytest.mark.parametrize(
    ("group", "measure", "text"),
    [
        ("view_pricing", "view_pricing_count_28d", "Viewed pricing 6 times in the last 28 days"),
        ("view_pricing", "view_pricing_count_28d", "Viewed pricing 5 times in the last 7 days"),
        ("view_pricing", "view_pricing_count_1d", "Viewed pricing once in the last 28 days"),
        ("view_pricing", "view_pricing_count_28d", "Has not viewed pricing in the last 28 days"),
        ("view_pricing", "view_pricing_active_days", "Viewed pricing on 5 different days"),
        ("view_item", "view_item_item_id_distinct", "Viewed 13 distinct items"),
        ("view_item", "view_item_item_id_distinct", "Viewed 31 distinct items"),
        ("activity", "events_count_28d", "41 events in the last 28 days"),
        ("activity", "active_days_28d", "Active on 12 of the last 28 days"),
        ("activity", "active_days_7d", "Active on 8 of the last 7 days"),
        ("activity", "active_days_7d", "Active every day of the last 7 days"),
        ("activity", "events_count_28d", "No events in the last 28 days"),
        ("momentum", None, "Activity up: 40 events in the last 28 days vs 35 the 28 before"),
        ("momentum", None, "Activity down: 40 events in the last 28 days vs 20 the 28 before"),
    ],
)
def test_false_window_distinct_and_days_claims_are_caught(group, measure, text) -> None:
    values = _row(
        view_pricing_count=9, view_pricing_count_7d=2, view_pricing_count_28d=5,
        view_pricing_count_1d=1, view_pricing_active_days=4,
        view_item_count=30, view_item_item_id_distinct=12,
        events_count_28d=40, active_days_28d=11, active_days_7d=7, events_count_7d=12,
        activity_trend_28d=(40 - 20) / 60, events_count=60,
    )  # fmt: skip
    row = _as_dict(values)
    value = row.get(measure or "", None)
    reason = Reason(group, value, 0.5, text, measure)
    assert AUDITOR.check("e", row, reason, True), text


# --- end to end: a spec with windows [1, 7, 28], a distinct count and a time zone ---------


@pytest.fixture(scope="module")
def windowed(simulated_folder: Path, tmp_path_factory: pytest.TempPathFactory):
    """The simulated product with dashboards that have ids, scored in Shanghai days."""
    folder = tmp_path_factory.mktemp("windowed")
    spec = load_spec(simulated_folder / "pql.yaml")
    assert spec.data.events.path is not None and spec.data.trials is not None
    events = pd.read_parquet(spec.data.events.path)
    rng = np.random.default_rng(3)
    viewed = events["event"] == "dashboard_viewed"
    ids = pd.Series(pd.NA, index=events.index, dtype=object)
    ids[viewed] = [f"d{n}" for n in rng.integers(0, 25, int(viewed.sum()))]
    events["dashboard_id"] = ids
    events.to_parquet(folder / "events.parquet")
    raw = spec.model_dump(mode="json", exclude_none=True)
    raw["data"]["events"]["path"] = str(folder / "events.parquet")
    raw["data"]["trials"]["path"] = str(spec.data.trials.path)
    raw["features"]["windows_days"] = [1, 7, 28]
    raw["timezone"] = "Asia/Shanghai"
    raw["actions"]["view_dashboard"].update(property="dashboard_id", aggregate="distinct")
    raw["rules"] = [{"name": "busy month", "when": "events_count_28d >= 30"}]
    dataset = load_dataset(parse_spec(raw))
    return dataset, train_model(dataset)


@pytest.mark.slow
def test_a_windowed_spec_trains_scores_and_explains_truthfully(windowed) -> None:
    dataset, result = windowed
    names = result.bundle.feature_names
    for name in (
        "events_count_28d",
        "view_pricing_count_1d",
        "view_dashboard_dashboard_id_distinct",
    ):
        assert name in names
    scorer = Scorer(result.bundle)
    as_of = dataset.entities["signup_at"].quantile(0.8).ceil("D")
    live, _ = live_features(dataset, as_of)
    snapshots, _ = training_features(dataset)
    assert snapshots["view_dashboard_dashboard_id_distinct"].max() > 1
    for frame in (live, snapshots.sample(min(3000, len(snapshots)), random_state=0)):
        report = audit_scores(scorer, frame)
        assert report.checked_reasons > len(frame)
        assert report.ok, [(c.text, c.problem) for c in report.contradictions[:10]]
    leads = score_dataset(scorer, dataset, as_of, model_version="1").scored
    assert len(leads) > 0


@pytest.mark.slow
def test_a_windowed_entity_scores_alike_from_raw_events(windowed) -> None:
    dataset, result = windowed
    scorer = Scorer(result.bundle)
    as_of = dataset.entities["signup_at"].quantile(0.8).ceil("D")
    frame, _ = live_features(dataset, as_of)
    batch = scorer.score_frame(frame, with_reasons=False).set_index("entity_id")
    single = EntityScorer(scorer)
    events = dataset.events
    for entity_id, signup in frame[["entity_id", "signup_at"]].head(12).itertuples(index=False):
        own = events[events["user_id"] == entity_id]
        request = [
            {
                "event": str(name),
                "timestamp": int(moment),
                "session_id": int(session),
                "properties": {
                    "bytes": None if pd.isna(size) else float(size),
                    "dashboard_id": None if pd.isna(item) else str(item),
                },
            }
            for name, moment, session, size, item in zip(
                own["event"], epoch_ms(own["timestamp"]), own["session_id"], own["bytes"],
                own["dashboard_id"], strict=True,
            )
        ]  # fmt: skip
        result_one = single.score_events(
            entity_id, request, as_of=as_of.isoformat(), signup_at=signup.isoformat()
        )
        assert result_one.probability == pytest.approx(
            batch.loc[entity_id, "probability"], abs=1e-12
        )
