"""The service under hostile input and in an operator's eyes, over real HTTP on loopback.

One `pql serve` (with a token, short read deadlines) for the module: /metrics stays
bounded whatever paths clients send; each server counts in a metrics folder of its own;
request heads over the size limit are answered 431, heads and bodies that do not arrive
in time 408; and /metrics carries the model's own figures (info, tiers, probabilities,
not-scored reasons, unknown events, scoring time).
"""

from __future__ import annotations

import contextlib
import secrets
import select
import socket
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pql.serving.http_gate import KNOWN_PATHS, OTHER_PATHS, STATIC_PATHS
from pql.settings import DEFAULT_MAX_HEADER_BYTES
from tests.serving.test_service import (
    AUTH,
    PQL_SERVE,
    TOKEN,
    Server,
    events_of,
    feature_row,
    register,
    server_env,
)

HEADER_TIMEOUT = 3  # seconds, short for the test (the default is 10)
BODY_TIMEOUT = 3
SLACK = 2.5  # a shared 2-core machine: how late a deadline may fire and still pass


@pytest.fixture(scope="module")
def home(trained, tmp_path_factory) -> Path:
    """A registry with the champion, a BentoML home and a temp folder, all in one place."""
    tmp = tmp_path_factory.mktemp("hardening")
    register(trained, tmp)
    (tmp / "tmp").mkdir()
    return tmp


def env_for(home: Path) -> dict[str, str]:
    return server_env(
        home,
        PQL_MODEL_NAME="pql-simulated",
        PQL_API_TOKEN=TOKEN,
        PQL_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        PQL_BODY_TIMEOUT=str(BODY_TIMEOUT),
        TMPDIR=str(home / "tmp"),  # where `pql serve` makes its metrics folder
    )


@pytest.fixture(scope="module")
def server(home) -> Iterator[Server]:
    running = Server(PQL_SERVE, env_for(home)).start()
    yield running
    running.stop()


def metrics(server: Server) -> dict[str, dict[tuple, float]]:
    """/metrics as {sample name: {sorted label items: value}}."""
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    samples: dict[str, dict[tuple, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def total(samples: dict[tuple, float], **labels: str) -> float:
    return sum(v for k, v in samples.items() if set(labels.items()) <= set(k))


def refusals(server: Server, reason: str) -> float:
    return total(metrics(server)["pql_connection_refusals_total"], reason=reason)


def raw_exchange(server: Server, *parts: bytes, pause: float = 0.0, wait: float = 20) -> bytes:
    """Send `parts` (pausing between them) on one connection, until the server answers;
    then read its answer (up to a whole one, or until it closes)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=wait) as sock:
        with contextlib.suppress(OSError):  # the server may refuse while we still send
            for part in parts:
                if select.select([sock], [], [], 0)[0]:
                    break  # answered (or closed): stop sending
                sock.sendall(part)
                time.sleep(pause)
        received = b""
        with contextlib.suppress(ConnectionResetError):
            while not answered(received) and (chunk := sock.recv(65536)):
                received += chunk
        return received


def answered(received: bytes) -> bool:
    """One whole answer received (the connection may stay open: keep-alive)."""
    head, gap, body = received.partition(b"\r\n\r\n")
    if not gap:
        return False
    length = next(
        (
            int(line[15:])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        None,
    )
    return length is not None and len(body) >= length


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


# ------------------------------------------------------------------ /metrics stays bounded


@pytest.mark.server
def test_unknown_paths_are_one_metrics_label(server) -> None:
    random_paths = [f"/{secrets.token_hex(6)}" for _ in range(150)]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i, path in enumerate(random_paths):  # 401s without the token, 404s with it
            client.get(path, headers=AUTH if i % 2 else {})
        client.get(f"/static_content/{secrets.token_hex(6)}.js")
        assert client.get("/model", headers=AUTH).status_code == 200  # routing unchanged
        assert client.get("/no-such-route", headers=AUTH).status_code == 404
    text = httpx.get(f"{server.url}/metrics").text
    assert not any(path in text for path in random_paths)
    samples = metrics(server)
    counted = samples["bentoml_service_request_total"]
    endpoints = {dict(labels)["endpoint"] for labels in counted}
    assert endpoints <= KNOWN_PATHS | {OTHER_PATHS, STATIC_PATHS}, endpoints
    assert total(counted, endpoint=OTHER_PATHS, http_response_code="401") >= 75
    assert total(counted, endpoint=OTHER_PATHS, http_response_code="404") >= 76
    assert total(counted, endpoint=STATIC_PATHS) >= 1

    # a WebSocket upgrade would reach the app through another uvicorn protocol
    websocket_path = f"/{secrets.token_hex(6)}"
    upgrade = (
        f"GET {websocket_path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
        "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    ).encode()
    assert status_of(raw_exchange(server, upgrade, wait=5)) == 401

    assert websocket_path not in httpx.get(f"{server.url}/metrics").text


@pytest.mark.server
def test_each_server_counts_in_a_metrics_folder_of_its_own(server, home) -> None:
    """A second `pql serve` of the same user used to empty the first one's counters."""
    temp = home / "tmp"
    first_folders = set(temp.glob("pql-metrics-*"))
    assert len(first_folders) == 1
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
        for _ in range(3):
            client.get("/model")
    counted = lambda: total(  # noqa: E731
        metrics(server)["bentoml_service_request_total"], endpoint="/model"
    )
    before = counted()
    assert before >= 3

    second = Server(PQL_SERVE, env_for(home)).start()  # same BENTOML_HOME, same user
    try:
        folders = set(temp.glob("pql-metrics-*"))
        assert len(folders) == 2 and first_folders < folders
        assert counted() >= before
        assert total(metrics(second)["bentoml_service_request_total"], endpoint="/model") == 0
    finally:
        second.stop()
    assert set(temp.glob("pql-metrics-*")) == first_folders  # removed at exit


# ------------------------------------------------------------------ request heads and bodies


def head(path: str = "/livez", pad: int = 0) -> bytes:
    padding = f"X-Pad: {'a' * pad}\r\n" if pad else ""
    return f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{padding}\r\n".encode()


@pytest.mark.server
def test_a_head_over_the_size_limit_is_answered_431(server) -> None:
    fits = raw_exchange(server, head(pad=DEFAULT_MAX_HEADER_BYTES - 200))
    assert status_of(fits) == 200

    refused = raw_exchange(server, head(pad=DEFAULT_MAX_HEADER_BYTES + 1))
    assert status_of(refused) == 431
    assert b'"field": "headers"' in refused and b"connection: close" in refused

    # an unfinished head is refused once over the limit, not held until it ends
    started = time.monotonic()
    chunk = b"a" * 65536
    unfinished = raw_exchange(server, b"GET /livez HTTP/1.1\r\nX-Pad: ", *[chunk] * 64)
    assert status_of(unfinished) in (431, 0)  # 0: reset while we were still sending
    assert time.monotonic() - started < HEADER_TIMEOUT  # the size limit, not the deadline
    assert httpx.get(f"{server.url}/livez").status_code == 200
    assert refusals(server, "head_too_large") == 2


@pytest.mark.server
def test_slow_heads_and_silent_connections_are_closed(server) -> None:
    started = time.monotonic()
    slow = [b"GET /livez HTTP/1.1\r\n", *[b"X-Slow: 1\r\n"] * 40]  # 0.25 s apart: 10 s
    reply = raw_exchange(server, *slow, pause=0.25)
    elapsed = time.monotonic() - started
    assert status_of(reply) == 408, reply
    assert b'"field": "headers"' in reply
    assert HEADER_TIMEOUT - 0.5 < elapsed < HEADER_TIMEOUT + SLACK

    # many at once (slowloris), and one that never sends a byte: all closed in time
    started = time.monotonic()
    sockets = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(40)]
    try:
        for sock in sockets[1:]:
            sock.sendall(b"GET /livez HTTP/1.1\r\nX-Slow: 1\r\n")
        assert httpx.get(f"{server.url}/livez").status_code == 200  # others still served
        for sock in sockets:
            sock.settimeout(HEADER_TIMEOUT + SLACK)
            answer = sock.recv(65536)
            while more := sock.recv(65536):
                answer += more
            assert status_of(answer) == (0 if sock is sockets[0] else 408)
    finally:
        for sock in sockets:
            sock.close()
    assert time.monotonic() - started < HEADER_TIMEOUT + SLACK
    assert refusals(server, "head_timeout") == 40
    assert refusals(server, "silent_connection") >= 1


@pytest.mark.server
def test_a_slow_body_is_answered_408(server) -> None:
    started = time.monotonic()
    request = (
        f"POST /score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    reply = raw_exchange(server, request, b'{"entity_id": ', *[b" "] * 40, pause=0.25)
    elapsed = time.monotonic() - started
    assert status_of(reply) == 408, reply
    assert b'"field": "body"' in reply
    assert BODY_TIMEOUT - 0.5 < elapsed < BODY_TIMEOUT + SLACK
    body = {"entity_id": "u", "features": {}}
    assert httpx.post(f"{server.url}/score", json=body, headers=AUTH).status_code == 422
    assert "Traceback" not in server.output()
    assert refusals(server, "body_timeout") == 1
    samples = metrics(server)
    counted = samples["bentoml_service_request_total"]
    assert total(counted, endpoint="/score", http_response_code="500") == 0
    assert total(counted, endpoint="/score", http_response_code="408") == 1
    # the request is over, not held by BentoML until its 60 s timeout
    assert total(samples["bentoml_service_request_in_progress"], endpoint="/score") == 0


# ------------------------------------------------------------------ the model's own metrics


@pytest.mark.server
def test_model_metrics_follow_the_answers(server, trained, entity_body) -> None:
    before = metrics(server)
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
        info = client.get("/model").json()
        extra = {"event": "made_up_event", "timestamp": entity_body["events"][0]["timestamp"]}
        with_unknown = {**entity_body, "events": [*entity_body["events"], extra]}
        first = entity_body["events"][0]["timestamp"]
        too_early = {**entity_body, "signup_at": entity_body["as_of"], "as_of": first}
        answers = [
            client.post("/score", json=with_unknown).json(),
            client.post("/score", json={"entity_id": "f", "features": feature_row(trained)}).json(),
            client.post("/score", json=too_early).json(),
        ]
        batch = client.post("/score_batch", json={"items": [entity_body, entity_body]}).json()
        answers += batch["items"]
        assert client.post("/score", json={"entity_id": "u", "features": {}}).status_code == 422
    after = metrics(server)

    def delta(name: str, **labels: str) -> float:
        return total(after[name], **labels) - total(before.get(name, {}), **labels)

    scored = [a for a in answers if a["status"] == "scored"]
    assert len(scored) == 4 and answers[2]["status"] == "not scored"
    for tier in ("hot", "warm", "cold"):
        assert delta("pql_scored_total", tier=tier) == sum(a["tier"] == tier for a in scored)
    reason = answers[2]["not_scored_reason"]
    assert delta("pql_not_scored_total", reason=reason) == 1
    assert delta("pql_probability_count") == 4
    assert delta("pql_probability_sum") == pytest.approx(sum(a["probability"] for a in scored))
    assert "made_up_event" in answers[0]["unknown_events"]
    names = sum(len(a["unknown_events"]) for a in answers)
    assert delta("pql_unknown_event_names_total") == names
    assert delta("pql_entities_with_unknown_events_total") == sum(
        bool(a["unknown_events"]) for a in answers
    )
    assert delta("pql_scoring_seconds_count", input="events") == 4
    assert delta("pql_scoring_seconds_count", input="features") == 1  # the 422 is not counted
    assert 0 < delta("pql_scoring_seconds_sum") < 5

    model_info = after["pql_model_info"]
    assert len(model_info) == 1
    ((labels, value),) = model_info.items()
    assert value == 1
    assert dict(labels) == {
        "name": info["name"],
        "version": info["version"],
        "run_id": info["run_id"],
        "status": info["status"],
        "source": info["source"],
    }


@pytest.fixture(scope="module")
def entity_body(trained) -> dict:
    """A busy user's events, scored just after its tenth event."""
    counts = trained.dataset.events["user_id"].value_counts()
    user = str(counts.index[len(counts) // 10])
    events = events_of(trained, user)[:10]
    return {"entity_id": user, "events": events, "as_of": events[-1]["timestamp"]}
