"""Batch scoring accounts for every entity; one-entity scoring validates and agrees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pql.errors import InvalidInput
from pql.features.frames import epoch_ms
from pql.features.pipeline import live_features
from pql.serving.batch import LEAD_COLUMNS, score_dataset
from pql.serving.entity import EntityScorer
from pql.serving.scoring import Scorer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scorer(trained) -> Scorer:
    return Scorer(trained.result.bundle)


def _mid_data(trained) -> pd.Timestamp:
    entities = trained.dataset.entities
    return entities["signup_at"].quantile(0.8).ceil("D")


def test_rows_in_equal_rows_out_with_reasons(trained, scorer) -> None:
    as_of = _mid_data(trained)
    batch = score_dataset(scorer, trained.dataset, as_of, model_version="7")
    leads = batch.leads
    assert list(leads.columns) == list(LEAD_COLUMNS)
    assert len(leads) == len(trained.dataset.entities)
    assert set(leads["entity_id"]) == set(trained.dataset.entities["entity_id"])
    scored = batch.scored
    assert len(scored) > 0
    assert scored.loc[scored["is_pql"].astype(bool), "reason_1"].notna().all()
    assert (np.diff(scored["probability"].to_numpy()) <= 0).all()
    unscored = leads[leads["status"] != "scored"]
    assert unscored["not_scored_reason"].notna().all()
    assert set(unscored["not_scored_reason"]) <= {
        "already converted before as_of",
        "signed up after as_of",
        "trial ended before as_of",
    }
    assert (leads["model_version"] == "7").all()


def _events_of(trained, entity_id: str) -> list[dict]:
    """One user's events as an HTTP request carries them (epoch ms, nulls as None)."""
    events = trained.dataset.events
    own = events[events["user_id"] == entity_id]
    return [
        {
            "event": str(name),
            "timestamp": int(moment),
            "session_id": int(session),
            "properties": {"bytes": None if pd.isna(size) else float(size)},
        }
        for name, moment, session, size in zip(
            own["event"], epoch_ms(own["timestamp"]), own["session_id"], own["bytes"], strict=True
        )
    ]


def test_single_entity_from_raw_events_equals_batch(trained, scorer) -> None:
    as_of = _mid_data(trained)
    frame, _ = live_features(trained.dataset, as_of)
    batch = scorer.score_frame(frame, with_reasons=False).set_index("entity_id")
    single = EntityScorer(scorer)
    for entity_id, signup in frame[["entity_id", "signup_at"]].head(15).itertuples(index=False):
        events = _events_of(trained, entity_id)
        result = single.score_events(
            entity_id, events, as_of=as_of.isoformat(), signup_at=signup.isoformat()
        )
        assert result.probability == pytest.approx(batch.loc[entity_id, "probability"], abs=1e-12)
        assert result.tier == batch.loc[entity_id, "tier"]


def test_unknown_events_are_ignored_and_listed(scorer) -> None:
    single = EntityScorer(scorer)
    known = single.score_events(
        "u",
        [{"event": "pricing_viewed", "timestamp": "2026-03-01T10:00:00Z"}],
        as_of="2026-03-02T10:00:00Z",
    )
    mixed = single.score_events(
        "u",
        [
            {"event": "pricing_viewed", "timestamp": "2026-03-01T10:00:00Z"},
            {"event": "made_up_event", "timestamp": "2026-03-01T11:00:00Z"},
        ],
        as_of="2026-03-02T10:00:00Z",
    )
    assert mixed.unknown_events == ["made_up_event"]
    assert known.unknown_events == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"events": [{"event": "x", "timestamp": "soon"}]}, "events[0].timestamp"),
        ({"events": [{"event": "", "timestamp": 1}]}, "events[0].event"),
        ({"events": [{"event": "x", "timestamp": "2999-01-01T00:00:00Z"}]}, "events[0].timestamp"),
        ({"events": [{"event": "x", "timestamp": float("nan")}]}, "events[0].timestamp"),
        ({"events": [], "as_of": "2999-01-01"}, "as_of"),
        ({"events": []}, "signup_at"),
        (
            {
                "events": [
                    {"event": "file_uploaded", "timestamp": 1, "properties": {"bytes": "big"}}
                ]
            },
            "events[0].properties.bytes",
        ),
        # the Python API takes what a caller passes: never an AttributeError
        ({"events": "file_uploaded"}, "events"),
        ({"events": None}, "events"),
        ({"events": [{"event": "x", "timestamp": 1}, ("x", 1)]}, "events[1]"),
        (
            {"events": [{"event": "x", "timestamp": 1, "properties": "bytes"}]},
            "events[0].properties",
        ),
        (
            {"events": [{"event": "file_uploaded", "timestamp": 1, "properties": {"bytes": True}}]},
            "events[0].properties.bytes",
        ),
        (
            {"events": [{"event": "x", "timestamp": 1, "properties": {"bytes": 2**1100}}]},
            "events[0].properties.bytes",
        ),
    ],
)
def test_bad_input_names_the_field(scorer, kwargs, field) -> None:
    with pytest.raises(InvalidInput) as error:
        EntityScorer(scorer).score_events("u1", **kwargs)
    assert error.value.field == field


def test_feature_dict_validation(scorer) -> None:
    single = EntityScorer(scorer)
    names = scorer.bundle.feature_names
    features = {n: 0.0 for n in names if "hours" not in n}
    assert 0 <= single.score_features("u", features).probability <= 1
    with pytest.raises(InvalidInput, match="not a feature"):
        single.score_features("u", {**features, "bogus": 1})
    with pytest.raises(InvalidInput) as error:
        single.score_features("u", {**features, "events_count": float("inf")})
    assert error.value.field == "features.events_count"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("-2026-01-01", "is not a valid ISO 8601 date and time"),
        ("1e308", "read as epoch nanoseconds is outside the times pql can hold"),
        ("99999999999999999999", "read as epoch nanoseconds is outside the times pql can hold"),
        (2.05e16, "read as epoch microseconds is outside the times pql can hold"),
    ],
)
def test_times_outside_the_calendar_are_invalid_input(value, words) -> None:
    """The parser's words (the same as for a file column or --as-of), naming the field."""
    from pql.serving.entity import to_epoch_ms

    with pytest.raises(InvalidInput, match=words) as error:
        to_epoch_ms(value, "events[0].timestamp")
    assert error.value.field == "events[0].timestamp"


def test_an_epoch_before_1970_reads_as_in_a_file() -> None:
    from pql.serving.entity import to_epoch_ms

    assert to_epoch_ms(-5, "as_of") == -5_000  # 1969-12-31T23:59:55Z, as batch reads it


def test_accounts_score_in_batch_and_one_by_one_alike(trained_accounts) -> None:
    """The account model goes through the same batch and single-entity paths."""
    scorer = Scorer(trained_accounts.result.bundle)
    as_of = _mid_data(trained_accounts)
    batch = score_dataset(scorer, trained_accounts.dataset, as_of, model_version="1")
    assert len(batch.leads) == len(trained_accounts.dataset.entities)
    scored = batch.scored.set_index("entity_id")
    events = trained_accounts.dataset.events
    single = EntityScorer(scorer)
    teams = trained_accounts.dataset.entities.set_index("entity_id").loc[scored.index]
    for account, signup in teams["signup_at"][teams["users"] >= 2].head(8).items():
        own = events[events["account_id"] == account]
        request = [
            {
                "event": str(e),
                "timestamp": int(t),
                "session_id": int(s),
                "user_id": str(u),
                "properties": {"bytes": None if pd.isna(b) else float(b)},
            }
            for e, t, s, u, b in zip(
                own["event"],
                epoch_ms(own["timestamp"]),
                own["session_id"],
                own["user_id"],
                own["bytes"],
                strict=True,
            )
        ]
        result = single.score_events(
            account, request, as_of=as_of.isoformat(), signup_at=signup.isoformat()
        )
        assert result.probability == pytest.approx(scored.loc[account, "probability"], abs=1e-12)
    with pytest.raises(InvalidInput) as missing:
        single.score_events("a1", [{"event": "project_created", "timestamp": 1_700_000_000_000}])
    assert missing.value.field == "events[0].user_id"
