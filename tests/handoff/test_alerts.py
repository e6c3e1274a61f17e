"""Alerts: qualification bookkeeping, and delivery to a real receiver on loopback that
fails with 500, times out, refuses the payload, and is down then restarts."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pql.errors import DataError, UsageError
from pql.handoff.alerts import (
    AlertConfig,
    AlertState,
    alert_scope,
    idempotency_key,
    post_alert,
    redact,
)
from pql.handoff.alerts import deliver as deliver_scope
from pql.serving.batch import LEAD_COLUMNS
from tests.webhook import Receiver, free_port

AS_OF = pd.Timestamp("2026-03-10", tz="UTC")


def leads(pqls: dict[str, bool], unscored: tuple[str, ...] = ()) -> pd.DataFrame:
    """A leads frame as `serving.batch` writes it: scored rows, then unscored ones."""
    rows = [
        {
            "entity_id": entity_id,
            "account_id": f"acct-{entity_id}",
            "status": "scored",
            "probability": 0.8 if is_pql else 0.05,
            "score": 95 if is_pql else 20,
            "tier": "hot" if is_pql else "cold",
            "is_pql": is_pql,
            "reason_1": f"Invited 5 teammates ({entity_id})",
            "negative_reason_1": "Has not connected an integration yet",
            "last_active_at": AS_OF - pd.Timedelta(hours=3),
        }
        for entity_id, is_pql in pqls.items()
    ]
    rows += [
        {"entity_id": e, "status": "not scored", "not_scored_reason": "already converted"}
        for e in unscored
    ]
    frame = pd.DataFrame(rows).reindex(columns=list(LEAD_COLUMNS))
    return frame.assign(model_version="3", as_of=AS_OF, scored_at=AS_OF)


SCOPE = alert_scope("acme", "user")


def deliver(state: AlertState, cfg: AlertConfig, **options):
    """Deliver the scope the `record` helper below writes to."""
    return deliver_scope(state, cfg, SCOPE, **options)


def config(url: str, **overrides) -> AlertConfig:
    settings = {"attempts": 4, "timeout_s": 2.0, "backoff_s": 0.01} | overrides
    return AlertConfig(url, **settings)


@pytest.fixture
def state(tmp_path: Path):
    with AlertState(tmp_path / "alerts.sqlite") as opened:
        yield opened


def record(state: AlertState, frame: pd.DataFrame):
    return state.record(frame, product="acme", entity="user")


def test_each_qualification_alerts_once_and_requalifying_is_new(state):
    first = record(state, leads({"a": True, "b": True, "c": False}))
    assert (first.qualified, first.dropped) == (2, 0)
    assert record(state, leads({"a": True, "b": True, "c": False})).qualified == 0
    # a drops below the threshold, c qualifies; b is not scored this run: state kept
    second = record(state, leads({"a": False, "c": True}, unscored=("b",)))
    assert (second.qualified, second.dropped) == (1, 1)
    assert record(state, leads({"b": True})).qualified == 0  # b never dropped
    third = record(state, leads({"a": True}))
    assert third.qualified == 1
    pending = state.pending(SCOPE)
    assert [p.entity_id for p in pending] == ["a", "b", "c", "a"]
    assert [p.event["qualification"] for p in pending] == [1, 1, 1, 2]
    assert len({p.key for p in pending}) == 4
    assert pending[-1].key == idempotency_key("acme/user", "a", 2)
    event = pending[0].event
    assert event["type"] == "pql.qualified" and event["idempotency_key"] == pending[0].key
    assert event["score"] == 95 and event["tier"] == "hot" and event["model_version"] == "3"
    assert event["reasons"] == ["Invited 5 teammates (a)"]
    assert event["last_active_at"] == "2026-03-09T21:00:00Z"
    # another product in the same file has its own qualifications
    assert state.record(leads({"a": True}), product="other", entity="user").qualified == 1


def test_failing_receiver_is_retried_with_backoff(state):
    record(state, leads({"a": True}))
    waits: list[float] = []
    with Receiver(script=[500, 503]) as receiver:
        result = deliver(state, config(receiver.url), sleep=waits.append)
    assert (result.sent, result.pending, result.error) == (1, 0, None)
    assert [r.answered for r in receiver.received] == [500, 503, 200]
    assert len({r.key for r in receiver.received}) == 1  # one idempotency key throughout
    assert receiver.received[0].body["idempotency_key"] == receiver.received[0].key
    assert waits == [0.01, 0.02]  # exponential
    assert state.counts() == {"pending": 0, "sent": 1}


def test_timeout_is_retried(state):
    record(state, leads({"a": True, "b": True}))
    with Receiver(script=[("sleep", 1.5)]) as receiver:
        result = deliver(state, config(receiver.url, timeout_s=0.4))
    assert (result.sent, result.pending) == (2, 0)
    # the timed-out request reached the receiver: the retry repeats its key (at least once)
    keys = [r.key for r in receiver.received]
    assert len(keys) == 3 and keys[0] == keys[1] and keys[2] != keys[0]


def test_a_trickling_receiver_is_cut_off_at_the_deadline_of_each_attempt(state):
    """One byte every 0.1 s: every socket read is quick, the answer takes 6 s. The
    attempt's deadline (0.5 s) ends it, and the retry gets the same deadline."""
    record(state, leads({"a": True}))
    with Receiver(script=[("trickle", 0.1), ("trickle", 0.1)]) as receiver:
        started = time.monotonic()
        result = deliver(state, config(receiver.url, timeout_s=0.5, attempts=2))
        elapsed = time.monotonic() - started
    assert elapsed < 2.5, elapsed  # two attempts of 0.5 s and a 0.01 s backoff, not 12 s
    assert (result.sent, result.pending) == (0, 1)
    assert "no complete answer within 0.5s after 2 attempts" in result.error
    assert [r.answered for r in receiver.received] == ["trickle", "trickle"]


def test_a_refused_alert_does_not_hold_back_the_others(state):
    record(state, leads({"a": True, "b": True, "c": True}))
    with Receiver(script=[422, 200, 200]) as receiver:
        result = deliver(state, config(receiver.url))
    assert (result.sent, result.pending) == (2, 1)
    assert "refused 1 of 3 alerts (e.g. 'a': HTTP 422" in result.error
    assert "every other alert was sent" in result.error
    assert [p.entity_id for p in state.pending(SCOPE)] == ["a"]
    with Receiver() as receiver:  # the next run offers the refused alert again
        assert deliver(state, config(receiver.url)).sent == 1
    assert [r.body["entity_id"] for r in receiver.received] == ["a"]


@pytest.mark.parametrize("status", [401, 404])
def test_an_endpoint_error_stops_the_run(state, status):
    record(state, leads({"a": True, "b": True, "c": True}))
    with Receiver(script=[status]) as receiver:
        result = deliver(state, config(receiver.url))
    assert len(receiver.received) == 1  # every other alert would get the same answer
    assert (result.sent, result.pending) == (0, 3)
    assert f"HTTP {status}" in result.error and "2 later alerts not tried" in result.error


def damage(path: Path) -> None:
    """Overwrite the middle of every page after the first two (the schema survives), and
    bump the file change counter so an open connection reads the pages again."""
    data = bytearray(path.read_bytes())
    for offset in range(8192, len(data), 4096):
        data[offset + 100 : offset + 600] = bytes(range(250)) * 2
    counter = int.from_bytes(data[24:28], "big") + 1
    data[24:28] = counter.to_bytes(4, "big")
    path.write_bytes(bytes(data))


def filled_state(path: Path) -> None:
    with AlertState(path) as state:
        record(state, leads({f"user-{i}": True for i in range(400)}))


def test_a_damaged_state_file_is_refused_when_opened(tmp_path):
    path = tmp_path / "alerts.sqlite"
    filled_state(path)
    damage(path)
    with pytest.raises(DataError, match="alert state file is damaged"):
        AlertState(path)


def test_damage_found_while_in_use_is_a_data_error(tmp_path):
    path = tmp_path / "alerts.sqlite"
    filled_state(path)
    with AlertState(path) as state:
        damage(path)  # under the open connection, as another writer of garbage would
        with pytest.raises(DataError, match="alert state file is damaged"):
            state.pending(SCOPE)
        with pytest.raises(DataError, match="alert state file is damaged"):
            record(state, leads({"new": True}))


def test_receiver_down_then_restarted_loses_and_doubles_nothing(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    with AlertState(tmp_path / "alerts.sqlite") as state:
        record(state, leads({"a": True, "b": True}))
        result = deliver(state, config(url, attempts=3))
    assert (result.sent, result.pending) == (0, 2)
    assert "cannot connect" in result.error and "after 3 attempts" in result.error
    with AlertState(tmp_path / "alerts.sqlite") as state, Receiver(port=port) as receiver:
        assert record(state, leads({"a": True, "b": True})).qualified == 0  # still pending
        result = deliver(state, config(url))
        assert (result.sent, result.pending) == (2, 0)
        assert deliver(state, config(url)).sent == 0
        record(state, leads({"a": True, "b": True}))
        assert deliver(state, config(url)).sent == 0
    assert sorted(r.body["entity_id"] for r in receiver.received) == ["a", "b"]
    with sqlite3.connect(tmp_path / "alerts.sqlite") as db:
        attempts = dict(db.execute("SELECT entity_id, attempts FROM alert").fetchall())
    assert attempts == {"a": 4, "b": 1}  # 3 refused + 1 delivered; b waited untried


def test_refused_payload_is_not_retried_and_stays_pending(state):
    record(state, leads({"a": True}))
    with Receiver(script=[400]) as receiver:
        result = deliver(state, config(receiver.url))
    assert len(receiver.received) == 1
    assert result.pending == 1 and "HTTP 400" in result.error and "not retried" in result.error
    assert state.pending(SCOPE)[0].entity_id == "a"


def test_other_products_pending_alerts_stay_pending_and_are_not_sent_here(tmp_path):
    port = free_port()
    with AlertState(tmp_path / "shared.sqlite") as state:
        state.record(leads({"s1": True, "s2": True}), product="simb", entity="user")
        state.record(leads({"x1": True}), product="acme", entity="account")
        record(state, leads({"a": True}))
        with Receiver(port=port) as receiver:
            result = deliver(state, config(receiver.url))
        assert [r.body["entity_id"] for r in receiver.received] == ["a"]
        assert {r.body["product"] for r in receiver.received} == {"acme"}
        assert (result.sent, result.pending) == (1, 0)
        assert result.other_scopes == {"acme/account": 1, "simb/user": 2}
        assert state.counts() == {"pending": 3, "sent": 1}
        # simb's own run, with its own webhook, sends simb's alerts and nothing else
        with Receiver() as simb:
            other = deliver_scope(state, config(simb.url), alert_scope("simb", "user"))
        assert sorted(r.body["entity_id"] for r in simb.received) == ["s1", "s2"]
        assert other.other_scopes == {"acme/account": 1}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_delivered_and_names_where_it_points(state, status):
    record(state, leads({"a": True, "b": True}))
    target = "https://hooks.example.org/hooks/pql"
    with Receiver(script=[("redirect", status, target)]) as receiver:
        result = deliver(state, config(receiver.url))
    assert receiver.gets == []  # never re-sent as a body-less GET
    assert len(receiver.received) == 1  # not retried: the URL needs fixing
    assert (result.sent, result.pending) == (0, 2)
    assert f"HTTP {status}" in result.error and "https://hooks.example.org/..." in result.error
    assert "(same path)" in result.error and "not retried" in result.error
    assert [p.entity_id for p in state.pending(SCOPE)] == ["a", "b"]


def test_numeric_options_are_bounded():
    for timeout in (float("inf"), 1e300, float("nan"), 0.0, 301.0):
        with pytest.raises(UsageError, match="--alert-timeout"):
            AlertConfig("http://127.0.0.1:9/h", timeout_s=timeout)
    for attempts in (0, 21):
        with pytest.raises(UsageError, match="--alert-attempts"):
            AlertConfig("http://127.0.0.1:9/h", attempts=attempts)
    assert AlertConfig("http://127.0.0.1:9/h", timeout_s=300, attempts=20).timeout_s == 300


class Crash(BaseException):
    """Stands for the process dying: not an Exception anyone catches."""


def test_crash_between_send_and_record_resends_with_the_same_key(tmp_path):
    path = tmp_path / "alerts.sqlite"
    with Receiver() as receiver:
        url = receiver.url

        def send_then_die(cfg, body, key):
            post_alert(cfg, body, key)  # the receiver has it ...
            raise Crash  # ... and the process dies before recording it

        with AlertState(path) as state:
            record(state, leads({"a": True, "b": True}))
            with pytest.raises(Crash):
                deliver(state, config(url), send=send_then_die)
        with AlertState(path) as state:  # the next run
            assert record(state, leads({"a": True, "b": True})).qualified == 0
            assert deliver(state, config(url)).sent == 2
            assert state.counts() == {"pending": 0, "sent": 2}
    keys = [r.key for r in receiver.received]
    assert len(keys) == 3 and keys[0] == keys[1]  # a twice (same key), b once


def test_slack_payload_is_escaped_text_and_blocks(state):
    record(state, leads({"<@channel> & co": True}))
    with Receiver() as receiver:
        deliver(state, config(receiver.url, format="slack"))
    body = receiver.received[0].body
    assert set(body) == {"text", "blocks"}
    assert "&lt;@channel&gt; &amp; co" in body["text"] and "<@channel>" not in body["text"]
    assert "Invited 5 teammates" in body["blocks"][1]["text"]["text"]
    assert receiver.received[0].key.startswith("pql-")


def test_bad_url_and_unusable_state_file(tmp_path):
    for url in ("ftp://example.org/hook", "not a url", "http://:80/x", "http://h:99999/"):
        with pytest.raises(UsageError, match="--alert-webhook"):
            AlertConfig(url)
    corrupt = tmp_path / "alerts.sqlite"
    corrupt.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DataError, match="alert state file"):
        AlertState(corrupt)
    assert redact("https://hooks.example.com/services/T000/B000/SECRET") == (
        "https://hooks.example.com/..."
    )


def test_real_scores_open_one_alert_per_pql(trained, state):
    from pql.serving.batch import score_dataset
    from pql.serving.scoring import Scorer

    as_of = trained.dataset.entities["signup_at"].quantile(0.7)
    batch = score_dataset(Scorer(trained.result.bundle), trained.dataset, as_of, model_version="2")
    pqls = batch.leads[batch.leads["is_pql"].fillna(False).astype(bool)]
    assert 0 < len(pqls) < len(batch.scored)
    assert record(state, batch.leads).qualified == len(pqls)
    events = [alert.event for alert in state.pending(SCOPE)]
    assert sorted(e["entity_id"] for e in events) == sorted(pqls["entity_id"])
    first = next(e for e in events if e["entity_id"] == pqls["entity_id"].iloc[0])
    row = pqls.iloc[0]
    assert first["score"] == float(row["score"]) and first["tier"] == "hot"
    assert first["reasons"][0] == row["reason_1"] and first["model_version"] == "2"
    assert record(state, batch.leads).qualified == 0
    # a frame read back from a leads CSV holds numpy numbers where strings were
    reread = batch.leads.assign(model_version=np.int64(2), score=batch.leads["score"].astype(float))
    assert state.record(reread, product="again", entity="user").qualified == len(pqls)
    again = [a.event for a in state.pending(alert_scope("again", "user"))]
    assert again[0]["model_version"] == "2" and isinstance(again[0]["score"], float)
