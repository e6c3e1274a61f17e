"""Scoring with fit attributes: fit reasons apart and true, unseen levels, routing columns,
attributes sent with one entity's events (the HTTP path, in process)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pql.errors import InvalidInput
from pql.features.frames import epoch_ms
from pql.features.pipeline import load_dataset
from pql.features.spec import load_spec
from pql.serving.batch import score_dataset
from pql.serving.entity import EntityScorer
from pql.serving.reason_audit import audit_scores
from pql.serving.scoring import Scorer


@pytest.fixture(scope="module")
def as_of(trained_fit) -> pd.Timestamp:
    return trained_fit.dataset.events_end - pd.Timedelta(days=20)


@pytest.fixture(scope="module")
def batch(trained_fit, as_of):
    return score_dataset(Scorer(trained_fit.result.bundle), trained_fit.dataset, as_of)


def test_leads_carry_fit_reasons_apart_and_the_routing_columns(batch, trained_fit, as_of):
    leads = batch.leads
    tail = ["fit_reason_1", "fit_reason_2", "negative_fit_reason_1"]
    assert list(leads.columns[-6:]) == [*tail, "company_size", "industry", "country"]
    scored = batch.scored
    assert scored["fit_reason_1"].notna().mean() > 0.5
    fit_texts = pd.concat([scored[c] for c in tail]).dropna()
    prefixes = ("Company of", "Industry:", "Based in", "Role:", "Signed up with")
    assert fit_texts.str.startswith(prefixes).all()
    # behaviour reasons never speak of fit
    behaviour = pd.concat([scored["reason_1"], scored["reason_2"], scored["reason_3"]]).dropna()
    assert not behaviour.str.contains("employees|e-mail|Industry|Based in").any()
    # routing values are the ones known before as_of (the point-in-time table)
    accounts = pd.read_parquet(trained_fit.folder / "accounts.parquet")
    known = accounts[accounts["updated_at"] < as_of].sort_values("updated_at")
    latest = known.groupby("account_id")["company_size"].last()
    expected = scored["account_id"].astype(str).map(latest)
    assert (scored["company_size"].to_numpy() == expected.to_numpy()).all()
    # a text states the entity's own level
    sized = scored[scored["fit_reason_1"].str.startswith("Company of", na=False)]
    assert len(sized)
    for lead in sized.head(50).itertuples():
        assert lead.fit_reason_1 == f"Company of {lead.company_size} employees"


def test_the_reason_audit_covers_fit_reasons_and_finds_no_contradiction(batch, trained_fit):
    report = audit_scores(Scorer(trained_fit.result.bundle), batch.features)
    assert report.ok, report.contradictions[:5]
    plain = audit_scores(Scorer(trained_fit.result.bundle), batch.features.head(0))
    assert plain.checked_reasons == 0
    fit_count = batch.scored[["fit_reason_1", "fit_reason_2", "negative_fit_reason_1"]]
    assert report.checked_reasons > fit_count.notna().to_numpy().sum()


def test_the_audit_catches_a_fit_reason_that_states_another_level(trained_fit, batch):
    from pql.serving.fit_reasons import FitReason, FitReasonAuditor

    scorer = Scorer(trained_fit.result.bundle)
    auditor = FitReasonAuditor(scorer.fit_writer)
    levels = trained_fit.result.bundle.encoding.levels["company_size"]
    row = {"company_size": 0.0}
    true = FitReason("company_size", levels[0], 0.3, f"Company of {levels[0]} employees")
    false = FitReason("company_size", levels[1], 0.3, f"Company of {levels[1]} employees")
    assert auditor.check(row, true) == []
    assert auditor.check(row, false)
    pooled = {"company_size": float(len(levels))}  # "other": no single value to state
    assert auditor.check(pooled, true)


def test_unseen_levels_are_scored_as_other_and_counted(trained_fit, as_of, batch):
    folder = trained_fit.folder
    accounts = pd.read_parquet(folder / "accounts.parquet")
    first = batch.scored["account_id"].astype(str).iloc[:25]
    accounts.loc[accounts["account_id"].isin(first), "country"] = "Atlantis"
    spec = load_spec(folder / "pql.yaml")
    users = pd.read_parquet(folder / "users.parquet")
    dataset = load_dataset(spec, attributes=[users, accounts])
    batch = score_dataset(Scorer(trained_fit.result.bundle), dataset, as_of)
    atlantis = batch.scored["country"] == "Atlantis"
    assert atlantis.any()
    assert batch.unseen_levels["country"] == int(atlantis.sum())
    assert batch.scored.loc[atlantis, "probability"].notna().all()
    texts = batch.scored.loc[atlantis, ["fit_reason_1", "fit_reason_2", "negative_fit_reason_1"]]
    assert not texts.stack().str.contains("Atlantis").any()  # "other" is not named


def _events(trained_fit, user: str) -> list[dict]:
    events = trained_fit.dataset.events
    own = events[events["user_id"] == user]
    return [
        {"event": str(name), "timestamp": pd.Timestamp(int(ms), unit="ms", tz="UTC").isoformat()}
        for name, ms in zip(own["event"], epoch_ms(own["timestamp"]), strict=True)
    ]


def test_one_entity_may_send_its_attributes_with_its_events(trained_fit):
    scorer = EntityScorer(Scorer(trained_fit.result.bundle))
    user = trained_fit.dataset.events["user_id"].value_counts().index[0]
    events = _events(trained_fit, user)
    signup = events[0]["timestamp"]
    as_of = (pd.Timestamp(signup) + pd.Timedelta(days=5)).isoformat()
    big = scorer.score_events(
        user,
        events,
        as_of=as_of,
        signup_at=signup,
        attributes={"company_size": "201-500", "email_kind": "ann@acme.io", "role": "founder"},
    )
    small = scorer.score_events(
        user,
        events,
        as_of=as_of,
        signup_at=signup,
        attributes={"company_size": "1-10", "email_kind": "personal", "role": "student"},
    )
    assert big.probability > small.probability  # the simulated effects, learned
    stated = {r.attribute: r.value for r in big.fit_reasons + big.negative_fit_reasons}
    assert stated and all(
        v == {"company_size": "201-500", "email_kind": "work", "role": "founder"}[k]
        for k, v in stated.items()
    )
    unseen = scorer.score_events(
        user, events, as_of=as_of, signup_at=signup, attributes={"country": "Atlantis"}
    )
    assert unseen.unseen_attributes == ["country"]
    none = scorer.score_events(user, events, as_of=as_of, signup_at=signup)
    assert none.status == "scored" and none.unseen_attributes == []


@pytest.mark.parametrize(
    "attributes, field",
    [
        ({"company_sizes": "1-10"}, "attributes.company_sizes"),
        ({"company_size": True}, "attributes.company_size"),
        ({"company_size": ""}, "attributes.company_size"),
        ({"email_kind": "not mail"}, "attributes.email_kind"),
        ({"role": 1.5}, "attributes.role"),
    ],
)
def test_bad_attribute_values_name_the_field(trained_fit, attributes, field):
    scorer = EntityScorer(Scorer(trained_fit.result.bundle))
    with pytest.raises(InvalidInput) as caught:
        scorer.score_events("u1", [], signup_at="2026-01-05T00:00:00Z", attributes=attributes)
    assert caught.value.field == field


def test_a_behaviour_only_model_refuses_attributes(trained):
    scorer = EntityScorer(Scorer(trained.result.bundle))
    with pytest.raises(InvalidInput) as caught:
        scorer.score_events("u1", [], signup_at="2026-01-05T00:00:00Z", attributes={"x": "y"})
    assert caught.value.field == "attributes.x"


def test_scoring_by_features_takes_attributes_too(trained_fit):
    scorer = EntityScorer(Scorer(trained_fit.result.bundle))
    names = trained_fit.result.bundle.definitions.names
    features = {n: 1.0 for n in names if "hours" not in n}
    result = scorer.score_features("u1", features, {"company_size": "51-200"})
    assert np.isfinite(result.probability)
