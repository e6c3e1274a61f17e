"""/score and /score_batch read every timestamp form a file column reads, and refuse a
value with the same words as a file warning and --as-of (one parser; real HTTP)."""

from __future__ import annotations

import pandas as pd
import pytest

from pql.features.time_text import why_not_a_time
from tests.serving import test_service

# test_service's module fixtures, one server for this module too
registry, server, http, entity = (
    test_service.registry,
    test_service.server,
    test_service.http,
    test_service.entity,
)


def _spell(iso: str, form: str) -> object:
    """One instant (whole seconds) in another accepted form."""
    moment = pd.Timestamp(iso)
    seconds = int(moment.value // 10**9)
    return {
        "iso": moment.isoformat(),
        "epoch_s": seconds,
        "epoch_ms": seconds * 10**3,
        "epoch_us": seconds * 10**6,  # /score refused these before (read as milliseconds)
        "epoch_ns_text": str(seconds * 10**9),
        "rfc_2822": moment.strftime("%a, %d %b %Y %H:%M:%S +0000"),
    }[form]


def _whole_seconds(body: dict) -> dict:
    def floor(text: str) -> str:
        return pd.Timestamp(text).floor("s").isoformat()

    events = [{**e, "timestamp": floor(e["timestamp"])} for e in body["events"]]
    return {
        **body,
        "events": events,
        "as_of": floor(body["as_of"]),
        "signup_at": floor(body["signup_at"]),
    }


@pytest.mark.server
@pytest.mark.parametrize("form", ["epoch_s", "epoch_ms", "epoch_us", "epoch_ns_text", "rfc_2822"])
def test_every_form_scores_as_iso(http, entity, form) -> None:
    plain = _whole_seconds(entity)
    expected = http.post("/score", json=plain)
    assert expected.status_code == 200, expected.text
    spelled = {
        **plain,
        "events": [{**e, "timestamp": _spell(e["timestamp"], form)} for e in plain["events"]],
        "as_of": _spell(plain["as_of"], form),
        "signup_at": _spell(plain["signup_at"], form),
    }
    reply = http.post("/score", json=spelled)
    assert reply.status_code == 200, reply.text
    assert reply.json() == expected.json()
    batch = http.post("/score_batch", json={"items": [plain, spelled]})
    assert batch.status_code == 200, batch.text
    assert batch.json()["items"][1] == expected.json()


@pytest.mark.server
@pytest.mark.parametrize("bad", ["03/04/2026", "2026-02-30T10:00:00Z", "next tuesday", 10**30])
def test_a_bad_time_is_a_422_with_the_words_files_and_as_of_use(http, entity, bad) -> None:
    events = [*entity["events"][:2], {"event": "project_created", "timestamp": bad}]
    reply = http.post("/score", json={**entity, "events": events})
    assert reply.status_code == 422, reply.text
    assert reply.json() == {
        "error": f"events[2].timestamp: {why_not_a_time(bad)}",
        "field": "events[2].timestamp",
    }
    reply = http.post("/score", json={**entity, "as_of": bad})
    assert (reply.status_code, reply.json()["error"]) == (422, f"as_of: {why_not_a_time(bad)}")
    batch = http.post("/score_batch", json={"items": [entity, {**entity, "events": events}]})
    assert batch.status_code == 422, batch.text
    assert batch.json()["error"] == f"items[1].events[2].timestamp: {why_not_a_time(bad)}"
