"""The HTTP scoring service, over real HTTP on loopback.

One server per module, started the way a user starts it (`pql serve`, through
`serving.cli.register`) against a real MLflow store in a temp folder, with a bearer
token: scores by events and by features, batches, /model, the token, every kind of bad
input (a 4xx naming the field, never a 5xx), the same answers as `EntityScorer`
in-process, a restart after a promotion, and `bentoml build` packing the champion.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import bentoml
import httpx
import pandas as pd
import pytest

from pql.features.frames import epoch_ms
from pql.serving.entity import EntityScorer
from pql.serving.http_models import MAX_BATCH_ITEMS, MAX_BODY_BYTES, MAX_EVENTS_PER_ENTITY
from pql.serving.scoring import Scorer

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
START_TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A server process on loopback; its own process group, so stopping it stops all."""

    command: list[str]
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.log = Path(tempfile.mkstemp(prefix="pql-server-", suffix=".log")[1])
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [*self.command, "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        output = self.output()
        self.stop()
        raise AssertionError(f"server did not start: {self.command}\n{output[-4000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    def stop(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            process.terminate()  # the BentoML supervisor stops its workers
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(ProcessLookupError):  # leftovers in the group we made
            os.killpg(process.pid, signal.SIGKILL)
        if self.log is not None:
            self.log.unlink(missing_ok=True)
            self.log = None

    def restart(self) -> None:
        self.stop()
        self.start()


def server_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PQL_", "BENTOML_"))}
    env.update(
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}",
        BENTOML_HOME=str(tmp / "bentoml"),
        BENTOML_DO_NOT_TRACK="true",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def register(trained, tmp: Path):
    """Log and register the trained model in the sqlite store in `tmp` (real MLflow)."""
    from pql.training.tracking import log_and_register, open_tracking

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp)  # MLflow puts artifacts under the working folder
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlflow.db'}")
        return log_and_register(open_tracking(), trained.dataset, trained.result)


@pytest.fixture(scope="module")
def registry(trained, tmp_path_factory) -> Path:
    """A real sqlite MLflow store with the trained model registered as champion (v1)."""
    tmp = tmp_path_factory.mktemp("service-registry")
    assert register(trained, tmp).version == "1"
    return tmp


def champion_version(registry: Path) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{registry / 'mlflow.db'}")
    return str(client.get_model_version_by_alias("pql-simulated", "champion").version)


# `pql serve` as the owner mounts it (a second command keeps `serve` a sub-command).
PQL_SERVE = [
    sys.executable,
    "-c",
    "import sys, typer; from serving.cli import register; app = typer.Typer(); "
    "register(app); app.command('version')(lambda: None); sys.exit(app())",
    "serve",
]


@pytest.fixture(scope="module")
def server(registry) -> Iterator[Server]:
    """`pql serve` (as the owner mounts it) with a bearer token, name from the env."""
    env = server_env(registry, PQL_MODEL_NAME="pql-simulated", PQL_API_TOKEN=TOKEN)
    running = Server(PQL_SERVE, env).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def http(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def local(trained) -> EntityScorer:
    return EntityScorer(Scorer(trained.result.bundle))


def events_of(trained, entity_id: str) -> list[dict]:
    """One user's events as a client sends them: ISO text, session ids, numeric bytes."""
    events = trained.dataset.events
    own = events[events["user_id"] == entity_id]
    body = []
    for name, moment, session, size in zip(
        own["event"], epoch_ms(own["timestamp"]), own["session_id"], own["bytes"], strict=True
    ):
        event = {
            "event": str(name),
            "timestamp": pd.Timestamp(int(moment), unit="ms", tz="UTC").isoformat(),
            "session_id": str(session),
        }
        if not pd.isna(size):
            event["properties"] = {"bytes": float(size)}
        body.append(event)
    return body


@pytest.fixture(scope="module")
def entity(trained) -> dict:
    """A busy user, scored at a fixed time in the middle of the data."""
    counts = trained.dataset.events["user_id"].value_counts()
    user = str(counts.index[len(counts) // 10])
    events = events_of(trained, user)
    as_of = pd.Timestamp(events[len(events) // 2]["timestamp"]) + pd.Timedelta(minutes=1)
    kept = [e for e in events if pd.Timestamp(e["timestamp"]) < as_of]
    signup = trained.dataset.entities.set_index("entity_id").loc[user, "signup_at"]
    return {
        "entity_id": user,
        "events": kept,
        "as_of": as_of.isoformat(),
        "signup_at": pd.Timestamp(signup).isoformat(),
    }


def feature_row(trained) -> dict:
    names = trained.result.bundle.feature_names
    row = trained.result.test[list(names)].iloc[3]
    return {n: (None if pd.isna(v) else float(v)) for n, v in row.items()}


def same_as_local(answer: dict, expected) -> None:
    assert answer["entity_id"] == expected.entity_id
    assert answer["probability"] == pytest.approx(expected.probability, abs=1e-12)
    assert answer["score"] == expected.score
    assert answer["tier"] == expected.tier
    assert answer["is_pql"] == expected.is_pql
    assert answer["reasons"] == [r.as_dict() for r in expected.reasons]
    assert answer["negative_reasons"] == [r.as_dict() for r in expected.negative_reasons]
    assert answer["unknown_events"] == expected.unknown_events


# ------------------------------------------------------------------ happy paths


@pytest.mark.server
def test_score_by_events_over_http_equals_in_process(server, registry, entity, local) -> None:
    with bentoml.SyncHTTPClient(server.url, token=TOKEN, server_ready_timeout=10) as client:
        answer = client.score(entity)
    expected = local.score_events(
        entity["entity_id"],
        entity["events"],
        as_of=entity["as_of"],
        signup_at=entity["signup_at"],
    )
    same_as_local(answer, expected)
    assert answer["as_of"] == expected.as_of
    assert answer["model_version"] == champion_version(registry)
    assert answer["model_status"] == "champion" and answer["status"] == "scored"
    assert 1 <= len(answer["reasons"]) <= 3 and len(answer["negative_reasons"]) <= 2
    assert all(r["text"] and "{" not in r["text"] for r in answer["reasons"])


@pytest.mark.server
def test_http_and_batch_agree_on_every_status(http, trained, local) -> None:
    """The same entities through batch scoring and POST /score: same status and reason."""
    from pql.serving.batch import score_dataset

    dataset = trained.dataset
    as_of = dataset.data_end - pd.Timedelta(days=20)
    leads = score_dataset(local.scorer, dataset, as_of).leads.set_index("entity_id")
    table = dataset.entities.set_index("entity_id")
    picked = []
    for reason in leads["not_scored_reason"].dropna().unique():
        picked += list(leads.index[leads["not_scored_reason"] == reason][:3])
    picked += list(leads.index[leads["status"] == "scored"][:3])
    assert len(leads["not_scored_reason"].dropna().unique()) >= 2
    for entity_id in picked:
        row = table.loc[entity_id]
        body = {
            "entity_id": str(entity_id),
            "events": events_of(trained, str(entity_id)),
            "as_of": as_of.isoformat(),
            "signup_at": row["signup_at"].isoformat(),
        }
        for name in ("converted_at", "trial_end_at"):
            if name in row and not pd.isna(row[name]):
                body[name] = pd.Timestamp(row[name]).isoformat()
        if not body["events"]:
            del body["events"]
        reply = http.post("/score", json=body)
        assert reply.status_code == 200, reply.text
        answer, lead = reply.json(), leads.loc[entity_id]
        assert answer["status"] == lead["status"], entity_id
        expected_reason = None if pd.isna(lead["not_scored_reason"]) else lead["not_scored_reason"]
        assert answer["not_scored_reason"] == expected_reason, entity_id
        if answer["status"] == "not scored":
            assert answer["probability"] is None and answer["tier"] is None
        else:
            assert answer["probability"] == pytest.approx(lead["probability"], abs=1e-9)
            assert answer["tier"] == lead["tier"]


@pytest.mark.server
def test_score_by_features_equals_in_process(http, trained, local) -> None:
    features = feature_row(trained)
    reply = http.post("/score", json={"entity_id": "f1", "features": features})
    assert reply.status_code == 200, reply.text
    same_as_local(reply.json(), local.score_features("f1", features))


@pytest.mark.server
def test_unknown_events_are_ignored_and_listed(http, entity) -> None:
    extra = {"event": "made_up_event", "timestamp": entity["events"][0]["timestamp"]}
    plain = http.post("/score", json=entity).json()
    mixed = http.post("/score", json={**entity, "events": [*entity["events"], extra]}).json()
    assert "made_up_event" in mixed["unknown_events"]
    assert "made_up_event" not in plain["unknown_events"]
    assert mixed["probability"] == plain["probability"]


@pytest.mark.server
def test_batch_answers_in_order_and_equals_single_calls(
    server, http, registry, trained, entity
) -> None:
    items = [
        entity,
        {"entity_id": "f1", "features": feature_row(trained)},
        {**entity, "entity_id": "same-events-again"},
    ]
    with bentoml.SyncHTTPClient(server.url, token=TOKEN, server_ready_timeout=10) as client:
        batch = client.score_batch({"items": items})
    assert [a["entity_id"] for a in batch["items"]] == [
        entity["entity_id"],
        "f1",
        "same-events-again",
    ]
    assert batch["model_version"] == champion_version(registry)
    single = http.post("/score", json=entity).json()
    assert batch["items"][0] == single
    assert batch["items"][2]["probability"] == single["probability"]


@pytest.mark.server
def test_model_endpoint_says_what_is_served(http, registry, trained) -> None:
    info = http.get("/model").json()
    bundle = trained.result.bundle
    version = champion_version(registry)
    assert info["name"] == "pql-simulated" and info["version"] == version
    assert info["uri"] == f"models:/pql-simulated/{version}"  # `pql serve` pinned it
    assert info["source"] == "registry" and len(info["run_id"]) == 32
    assert info["status"] == "champion"
    assert info["threshold"] == pytest.approx(bundle.threshold)
    assert info["tiers"] == {"hot": bundle.tiers.hot, "warm": bundle.tiers.warm}
    assert info["features"] == list(bundle.feature_names)
    assert info["trained_at"] == bundle.trained_at
    assert info["metrics"]["test_roc_auc"] == pytest.approx(bundle.metrics["test_roc_auc"])
    assert info["limits"]["max_batch_items"] == MAX_BATCH_ITEMS


@pytest.mark.server
def test_openapi_documents_the_real_schemas(server) -> None:
    spec = httpx.get(f"{server.url}/docs.json").json()  # open: no token needed
    score = spec["paths"]["/score"]["post"]
    assert score["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ScoreRequest"
    )
    assert {"200", "400", "401", "413", "415", "422"} <= set(score["responses"])
    assert spec["paths"]["/model"]["get"]["security"] == [{"bearer": []}]
    assert "ScoreResponse" in spec["components"]["schemas"]


# ------------------------------------------------------------------ the token


@pytest.mark.server
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/score", {"entity_id": "x"}), ("POST", "/score_batch", {}), ("GET", "/model", None)],
)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}, {"Authorization": ""}],
)
def test_scoring_and_model_need_the_token(server, method, path, body, headers) -> None:
    reply = httpx.request(method, f"{server.url}{path}", json=body, headers=headers)
    assert reply.status_code == 401
    assert reply.headers["www-authenticate"] == "Bearer"
    assert "token" in reply.json()["error"]


@pytest.mark.server
def test_health_metrics_and_docs_stay_open(server, http) -> None:
    http.get("/model")  # at least one request counted
    for path in ("/livez", "/readyz", "/healthz", "/metrics", "/docs.json"):
        assert httpx.get(f"{server.url}{path}").status_code == 200, path
    assert "bentoml_service_request_total" in httpx.get(f"{server.url}/metrics").text


# ------------------------------------------------------------------ bad input: 4xx, field named

NOW = pd.Timestamp.now(tz="UTC")
LATER = (NOW + pd.Timedelta(days=30)).isoformat()
EARLIER = (NOW - pd.Timedelta(days=2)).isoformat()


def event(**overrides) -> dict:
    return {"event": "project_created", "timestamp": EARLIER, **overrides}


BAD_BODIES = [
    # (request body, status, field named)
    ({"events": [event()]}, 400, "entity_id"),
    ({"entity_id": "", "events": [event()]}, 400, "entity_id"),
    ({"entity_id": 12, "events": [event()]}, 400, "entity_id"),
    ({"entity_id": "u", "events": {"event": "x"}}, 400, "events"),
    ({"entity_id": "u", "events": [event(event=5)]}, 400, "events[0].event"),
    ({"entity_id": "u", "events": [event(timestamp=True)]}, 400, "events[0].timestamp"),
    ({"entity_id": "u", "events": [event(timestamp=None)]}, 400, "events[0].timestamp"),
    ({"entity_id": "u", "events": [event(timestamp=[2026])]}, 400, "events[0].timestamp"),
    ({"entity_id": "u", "events": [event(session_id=1.5)]}, 400, "events[0].session_id"),
    ({"entity_id": "u", "events": [event(colour="red")]}, 400, "events[0].colour"),
    ({"entity_id": "u", "evnets": []}, 400, "evnets"),
    ({"entity_id": "u", "features": {"events_count": "3"}}, 400, "features.events_count"),
    ({"entity_id": "u", "events": [event(timestamp="next tuesday")]}, 422, "events[0].timestamp"),
    ({"entity_id": "u", "events": [event(timestamp=LATER)]}, 422, "events[0].timestamp"),
    ({"entity_id": "u", "events": [event()], "as_of": LATER}, 422, "as_of"),
    ({"entity_id": "u", "events": [event()], "as_of": "yesterday"}, 422, "as_of"),
    ({"entity_id": "u", "events": []}, 422, "signup_at"),
    (
        {"entity_id": "u", "events": [event(event="file_uploaded", properties={"bytes": "big"})]},
        422,
        "events[0].properties.bytes",
    ),
    (  # an integer no float holds: a 422 naming it, never a 500
        {"entity_id": "u", "events": [event(event="file_uploaded", properties={"bytes": 2**1024})]},
        422,
        "events[0].properties.bytes",
    ),
    ({"entity_id": "u", "features": {"no_such_feature": 1.0}}, 422, "features.no_such_feature"),
    ({"entity_id": "u", "features": {}}, 422, "features.tenure_days"),
    ({"entity_id": "u", "features": {}, "events": [event()]}, 422, "events"),
    ({"entity_id": "u", "features": {}, "as_of": EARLIER}, 422, "as_of"),
]


@pytest.mark.server
@pytest.mark.parametrize(("body", "status", "field"), BAD_BODIES)
def test_bad_input_is_a_4xx_naming_the_field(http, body, status, field) -> None:
    reply = http.post("/score", json=body)
    assert reply.status_code == status, reply.text
    answer = reply.json()
    assert answer["field"] == field
    assert answer["error"].startswith(field)


RAW_BODIES = [
    # (raw bytes, status, field): what a JSON library would refuse to write
    (b'{"entity_id": "u", "events": [', 400, "body"),
    (b"", 400, "entity_id"),
    (b"[]", 400, "body"),
    (b"\xff\xfe", 400, "body"),
    (b'{"entity_id": "u", "features": {"events_count": NaN}}', 400, "features.events_count"),
    (b'{"entity_id": "u", "features": {"events_count": Infinity}}', 400, "features.events_count"),
    (b'{"entity_id": "u", "features": {"events_count": 1e999}}', 400, "features.events_count"),
    (
        b'{"entity_id": "u", "events": [{"event": "x", "timestamp": NaN}]}',
        400,
        "events[0].timestamp",
    ),
    (
        b'{"entity_id": "u", "events": [{"event": "x", "timestamp": 1, '
        b'"properties": {"bytes": -Infinity}}]}',
        400,
        "events[0].properties.bytes",
    ),
]


@pytest.mark.server
@pytest.mark.parametrize(("raw", "status", "field"), RAW_BODIES)
def test_malformed_json_and_non_finite_numbers(http, raw, status, field) -> None:
    reply = http.post("/score", content=raw, headers={"Content-Type": "application/json"})
    assert reply.status_code == status, reply.text
    assert reply.json()["field"] == field


@pytest.mark.server
def test_size_limits(http, server) -> None:
    many = {"entity_id": "u", "events": [event()] * (MAX_EVENTS_PER_ENTITY + 1)}
    reply = http.post("/score", json=many)
    assert (reply.status_code, reply.json()["field"]) == (400, "events")

    items = [{"entity_id": f"u{i}", "features": {}} for i in range(MAX_BATCH_ITEMS + 1)]
    reply = http.post("/score_batch", json={"items": items})
    assert (reply.status_code, reply.json()["field"]) == (400, "items")
    assert http.post("/score_batch", json={"items": []}).json()["field"] == "items"

    # answered before the body is read: the server then closes the connection
    padding = b" " * (MAX_BODY_BYTES + 1)
    headers = {**AUTH, "Content-Type": "application/json"}
    post = lambda content: httpx.post(f"{server.url}/score", content=content, headers=headers)  # noqa: E731
    reply = post(b'{"entity_id": "u"}' + padding)
    assert (reply.status_code, reply.json()["field"]) == (413, "body")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"entity_id": "u", "pad": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    reply = post(chunks())
    assert (reply.status_code, reply.json()["field"]) == (413, "body")
    reply = post(iter([json.dumps({"entity_id": "u"}).encode()]))
    assert (reply.status_code, reply.json()["field"]) == (422, "signup_at")  # small: read


@pytest.mark.server
def test_media_type_must_be_json(http) -> None:
    for media in ("text/plain", "multipart/form-data", "application/vnd.bentoml+pickle"):
        reply = http.post("/score", content=b"{}", headers={"Content-Type": media})
        assert (reply.status_code, reply.json()["field"]) == (415, "body"), media
    bare = http.post("/score", content=b'{"entity_id": "u", "events": []}')  # no Content-Type
    assert "content-type" not in bare.request.headers
    assert (bare.status_code, bare.json()["field"]) == (415, "body")


@pytest.mark.server
@pytest.mark.parametrize(
    ("feature", "value"),
    [("events_count", -1e6), ("events_count", 1e300), ("activity_trend_7d", 3.0)],
)
def test_feature_values_outside_their_range_are_named(http, trained, feature, value) -> None:
    features = {**feature_row(trained), feature: value}
    reply = http.post("/score", json={"entity_id": "f1", "features": features})
    assert (reply.status_code, reply.json()["field"]) == (422, f"features.{feature}"), reply.text


@pytest.mark.server
def test_bad_batch_item_fails_the_batch_naming_the_item(http, entity) -> None:
    bad = {"entity_id": "u", "events": [event(timestamp=LATER)]}
    reply = http.post("/score_batch", json={"items": [entity, entity, entity, bad]})
    assert reply.status_code == 422
    assert reply.json()["field"] == "items[3].events[0].timestamp"
    reply = http.post("/score_batch", json={"items": [entity, {"entity_id": 7}]})
    assert (reply.status_code, reply.json()["field"]) == (400, "items[1].entity_id")


@pytest.mark.server
def test_bad_requests_leave_no_traceback_in_the_log(server, http) -> None:
    http.post("/score", content=b"{", headers={"Content-Type": "application/json"})
    http.post("/score", json={"entity_id": "u"})
    assert http.get("/model").status_code == 200
    assert "Traceback" not in server.output()


# ------------------------------------------------------------------ model lifecycle


@pytest.mark.server
def test_restart_serves_the_new_champion(server, http, registry, trained) -> None:
    before = champion_version(registry)
    again = register(trained, registry)  # the gate promotes an equal challenger
    assert again.decision.promote and champion_version(registry) == again.version != before
    assert http.get("/model").json()["version"] == before  # loaded once, at start
    server.restart()
    with httpx.Client(base_url=server.url, headers=AUTH) as client:
        assert client.get("/model").json()["version"] == again.version
        score = client.post("/score", json={"entity_id": "f", "features": feature_row(trained)})
        assert score.json()["model_version"] == again.version


@pytest.mark.server
@pytest.mark.slow
def test_bentoml_build_packs_the_champion(registry, trained, entity, local) -> None:
    """`bentoml build` imports the champion; the Bento serves it without the MLflow store."""
    env = server_env(registry, PQL_MODEL_NAME="pql-simulated")
    build = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", "--output", "tag"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    tag = build.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    bento = Path(env["BENTOML_HOME"], "bentos", *tag.split(":"))
    info = (bento / "bento.yaml").read_text()
    assert "alias: pql-champion" in info and "pql-simulated:v" in info

    elsewhere = server_env(registry / "nowhere")  # no MLflow store there at all
    elsewhere["BENTOML_HOME"] = env["BENTOML_HOME"]
    command = [sys.executable, "-m", "bentoml", "serve", tag, "--host", "127.0.0.1"]
    served = Server(command, elsewhere).start()
    try:
        model = httpx.get(f"{served.url}/model").json()
        assert model["source"] == "bento" and model["name"] == "pql-simulated"
        version = champion_version(registry)
        assert model["version"] == version
        assert model["uri"].startswith(f"pql-simulated:v{version}-")
        answer = httpx.post(f"{served.url}/score", json=entity).json()
    finally:
        served.stop()
    expected = local.score_events(
        entity["entity_id"], entity["events"], as_of=entity["as_of"], signup_at=entity["signup_at"]
    )
    same_as_local(answer, expected)


# ------------------------------------------------------------------ no server needed


def test_error_shapes_and_uri_display() -> None:
    from pql.serving.http_gate import _field_path, _shape_400
    from pql.serving.registry import shown_uri

    assert _field_path(["items", 3, "events", 0, "timestamp"]) == "items[3].events[0].timestamp"
    assert _field_path([]) == "body"
    shaped = json.loads(
        _shape_400(b'{"error": "x", "detail": [{"loc": ["as_of"], "msg": "bad", "type": "t"}]}')
    )
    assert shaped == {
        "error": "as_of: bad",
        "field": "as_of",
        "detail": [{"loc": ["as_of"], "msg": "bad", "type": "t"}],
    }
    assert json.loads(_shape_400(b"not json")) == {"error": "bad request"}
    assert shown_uri("postgresql://me:secret@db:5432/mlflow") == "postgresql://db:5432/mlflow"
    assert shown_uri("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_missing_store_is_reported_not_created(tmp_path, monkeypatch) -> None:
    from pql.errors import ExitCode, ModelLoadError
    from pql.serving.registry import pin_version, registry_uri
    from pql.settings import Settings

    store = f"sqlite:///{tmp_path / 'absent.db'}"
    with pytest.raises(ModelLoadError, match="no MLflow store") as refused:
        registry_uri(Settings(tracking_uri=store))
    assert refused.value.exit_code == ExitCode.MODEL_STORE
    with pytest.raises(ModelLoadError, match="no MLflow store"):
        pin_version("models:/pql-simulated@champion", store)
    assert not (tmp_path / "absent.db").exists()


def test_model_choice_from_the_environment(monkeypatch) -> None:
    from pql.settings import Settings

    def configured_uri() -> str | None:
        return Settings.from_env().configured_model_uri

    for name in ("PQL_MODEL_URI", "PQL_MODEL_NAME", "PQL_MODEL_ALIAS"):
        monkeypatch.delenv(name, raising=False)
    assert configured_uri() is None
    monkeypatch.setenv("PQL_MODEL_NAME", "pql-acme")
    assert configured_uri() == "models:/pql-acme@champion"
    monkeypatch.setenv("PQL_MODEL_ALIAS", "challenger")
    assert configured_uri() == "models:/pql-acme@challenger"
    monkeypatch.setenv("PQL_MODEL_URI", "runs:/abc/model")
    assert configured_uri() == "runs:/abc/model"


def test_request_models_are_strict() -> None:
    from pydantic import ValidationError

    from pql.serving.http_models import BatchRequest, ScoreRequest

    raw = b'{"entity_id": "u", "events": [{"event": "a", "timestamp": 17e8, "session_id": 3}]}'
    assert ScoreRequest.model_validate_json(raw).events[0]["timestamp"] == 1.7e9
    for bad in (
        b'"as_of": true',
        b'"as_of": "1", "x": 1',
        b'"features": {"a": "1"}',
        b'"events": [{"event": "a", "timestamp": 1, "extra": 1}]',
        b'"events": [{"event": "a", "timestamp": 1, "properties": {"n": [1]}}]',
    ):
        with pytest.raises(ValidationError) as error:
            ScoreRequest.model_validate_json(b'{"entity_id": "u", ' + bad + b"}")
        assert len(error.value.errors()) == 1  # one error per bad value, not one per type
    events = [{"event": "a", "timestamp": 1}] * 6_000
    items = [{"entity_id": f"u{i}", "events": events} for i in range(9)]
    with pytest.raises(ValidationError, match="per batch"):
        BatchRequest.model_validate({"items": items})
