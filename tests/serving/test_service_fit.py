"""The HTTP service with a model of behaviour and fit: attributes sent with the events,
fit reasons apart in the answer, unseen levels reported, bad values a 4xx naming them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pandas as pd
import pytest

from pql.serving.entity import EntityScorer
from pql.serving.scoring import Scorer
from tests.serving.test_service import AUTH, PQL_SERVE, Server, events_of, register, server_env

FIT = {"company_size": "201-500", "industry": "software", "country": "US", "role": "founder"}


@pytest.fixture(scope="module")
def http(trained_fit, tmp_path_factory) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp("service-fit")
    assert register(trained_fit, tmp).version == "1"
    env = server_env(tmp, PQL_MODEL_NAME="pql-simulated")
    running = Server(PQL_SERVE, env).start()
    try:
        with httpx.Client(base_url=running.url, headers=AUTH, timeout=30) as client:
            yield client
    finally:
        running.stop()


@pytest.fixture(scope="module")
def body(trained_fit) -> dict:
    user = trained_fit.dataset.events["user_id"].value_counts().index[0]
    events = events_of(trained_fit, user)
    signup = trained_fit.dataset.entities.set_index("entity_id").loc[user, "signup_at"]
    return {
        "entity_id": user,
        "events": events,
        "signup_at": signup.isoformat(),
        "as_of": (signup + pd.Timedelta(days=6)).isoformat(),
        "attributes": {**FIT, "email_kind": "ann@acme.io"},
    }


@pytest.mark.slow
@pytest.mark.server
def test_attributes_with_events_give_fit_reasons_apart(http, body, trained_fit) -> None:
    reply = http.post("/score", json=body)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    fit = answer["fit_reasons"] + answer["negative_fit_reasons"]
    assert fit and answer["unseen_attributes"] == []
    expected = {**FIT, "email_kind": "work"}
    assert all(reason["value"] == expected[reason["attribute"]] for reason in fit)
    assert not any(r["action"] in expected for r in answer["reasons"])  # behaviour apart
    local = EntityScorer(Scorer(trained_fit.result.bundle)).score_events(
        body["entity_id"],
        body["events"],
        as_of=body["as_of"],
        signup_at=body["signup_at"],
        attributes=body["attributes"],
    )
    assert answer["probability"] == pytest.approx(local.probability)
    assert [r["text"] for r in answer["fit_reasons"]] == [r.text for r in local.fit_reasons]
    info = http.get("/model").json()
    assert info["attributes"]["company_size"] == "categorical"


@pytest.mark.slow
@pytest.mark.server
def test_an_unseen_level_is_scored_and_reported(http, body) -> None:
    reply = http.post("/score", json={**body, "attributes": {"country": "Atlantis"}})
    assert reply.status_code == 200, reply.text
    assert reply.json()["unseen_attributes"] == ["country"]


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize(
    ("attributes", "status", "field"),
    [
        ({"company_size": ["1-10"]}, 400, "attributes.company_size"),
        ({"company_size": True}, 422, "attributes.company_size"),
        ({"company_sise": "1-10"}, 422, "attributes.company_sise"),
        ({"email_kind": "not an address"}, 422, "attributes.email_kind"),
        ({"role": 2.5}, 422, "attributes.role"),
    ],
)
def test_bad_attribute_values_are_a_4xx_naming_the_field(
    http, body, attributes, status, field
) -> None:
    reply = http.post("/score", json={**body, "attributes": attributes})
    assert reply.status_code == status, reply.text
    assert reply.json()["field"] == field
