"""The HTTP scoring service: BentoML 1.4, one model per process, typed JSON in and out.

Endpoints (DESIGN section 5):

- POST /score        one entity, from raw events or a ready feature dict
- POST /score_batch  up to `MAX_BATCH_ITEMS` entities; all or nothing (see `score_batch`)
- GET  /model        what is served: registry name, version, run, metrics, threshold ...
- GET  /livez /readyz /healthz /metrics  BentoML's own, never behind the token
- GET  /docs.json    OpenAPI, generated from the same pydantic models that validate

Which model: `PQL_MODEL_URI` if set; else, inside a built Bento, the champion packed
into it at `bentoml build`; else `models:/$PQL_MODEL_NAME@$PQL_MODEL_ALIAS` (alias
default `champion`) from `MLFLOW_TRACKING_URI`. The model is loaded once per worker at
start, so a restart is what picks up a newly promoted champion.

Speed (benchmarks/bench_serving.py): an untuned BentoML service spent its time building
JSON schemas for untyped I/O, in OpenTelemetry spans, in the pure-Python h11 parser and
in 150-220 ms full garbage collections over the ~300k objects MLflow and friends leave
behind. Here: typed pydantic I/O (events parse as TypedDicts, answers go out
pre-serialised in one message), an `async` /score (no thread hop for ~1.5 ms of CPU
work), tracing off for the API routes unless PQL_TRACING=1, no access log unless
PQL_ACCESS_LOG=1, httptools/uvloop when installed, API wrappers built once, a warm-up
call and `gc.freeze()` after loading.
"""

from __future__ import annotations

import gc
import hmac
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import bentoml
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.responses import Response

from features.errors import PqlError
from serving.bundle import ModelBundle
from serving.entity import EntityScore, EntityScorer, InvalidInput, to_epoch_ms
from serving.http_models import (
    MAX_BODY_BYTES,
    SCORE_EXAMPLE,
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    ModelInfo,
    ReasonOut,
    ScoreRequest,
    ScoreResponse,
    TiersOut,
)
from serving.scoring import Scorer

if TYPE_CHECKING:
    from bentoml._internal.bento.bento import BentoModelInfo
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("pql.service")

DEFAULT_ALIAS = "champion"
#: Alias of the packed model inside a Bento (bentoml.models.get resolves it there).
PACKED_ALIAS = "pql-champion"
MLFLOW_MODEL_FOLDER = "mlflow_model"  # where bentoml.mlflow.import_model puts the model
#: Paths anyone may call even when PQL_API_TOKEN is set (health, metrics, API docs).
OPEN_PATHS = frozenset(
    {"/livez", "/readyz", "/healthz", "/metrics", "/docs.json", "/schema.json", "/"}
)
OPEN_PREFIXES = ("/static_content/",)
SCORING_PATHS = frozenset({"/score", "/score_batch"})


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class ServedModel:
    """A loaded bundle plus where it came from (reported by GET /model)."""

    bundle: ModelBundle
    uri: str
    source: Literal["registry", "bento"]
    name: str | None
    version: str | None
    run_id: str | None


def configured_uri() -> str | None:
    """The model the environment names, or None when it names none."""
    if uri := os.environ.get("PQL_MODEL_URI"):
        return uri
    if name := os.environ.get("PQL_MODEL_NAME"):
        return f"models:/{name}@{os.environ.get('PQL_MODEL_ALIAS') or DEFAULT_ALIAS}"
    return None


def shown_uri(uri: str) -> str:
    """A URI fit for messages and logs: user and password (if any) left out."""
    parts = urlsplit(uri)
    if parts.password is None and parts.username is None:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def check_store() -> None:
    """A sqlite store that is not there is a mistake to report, not a file to create.

    (MLflow would create an empty database and then report that no model is in it.)
    """
    from serving.registry import tracking_uri

    uri = tracking_uri()
    if uri.startswith("sqlite:///") and uri != "sqlite:///:memory:":
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.exists():
            raise PqlError(
                f"no MLflow store at {path.resolve()} (MLFLOW_TRACKING_URI={uri}); "
                "point MLFLOW_TRACKING_URI at the store `pql train` wrote"
            )


def registry_uri() -> str:
    """The configured URI, or the champion of the only `pql-*` model in the registry."""
    if uri := configured_uri():
        return uri
    import mlflow

    from serving.registry import tracking_uri

    check_store()
    where = f"MLFLOW_TRACKING_URI={shown_uri(tracking_uri())}"
    try:
        found = mlflow.MlflowClient(tracking_uri()).search_registered_models("name LIKE 'pql-%'")
    except Exception as exc:  # MLflow raises many types; the user needs one message
        raise PqlError(f"cannot open the MLflow registry ({where}): {exc}") from None
    names = sorted(model.name for model in found)
    if len(names) != 1:
        hint = f"registered: {', '.join(names)}" if names else "none is registered there"
        raise PqlError(
            f"set PQL_MODEL_NAME (e.g. pql-simulated) or PQL_MODEL_URI; {hint} ({where})"
        )
    return f"models:/{names[0]}@{os.environ.get('PQL_MODEL_ALIAS') or DEFAULT_ALIAS}"


def pin_version(uri: str) -> str:
    """`models:/name@alias` -> `models:/name/<version the alias names now>`.

    `pql serve` pins once before the workers start, so every worker serves the same
    version even if a promotion lands while they start; a restart picks up the next one.
    """
    if not uri.startswith("models:/") or "@" not in uri:
        return uri
    import mlflow

    from serving.registry import tracking_uri

    check_store()
    name, _, alias = uri.removeprefix("models:/").partition("@")
    try:
        version = mlflow.MlflowClient(tracking_uri()).get_model_version_by_alias(name, alias)
    except Exception as exc:  # MLflow raises many types; the user needs one message
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PqlError(
            f"no model {uri} (MLFLOW_TRACKING_URI={shown_uri(tracking_uri())}): {first}. "
            "Train one with `pql train`, or promote one with `pql promote`."
        ) from None
    return f"models:/{name}/{version.version}"


def load_registry_model(uri: str | None = None) -> ServedModel:
    from serving.registry import load_model

    check_store()
    loaded = load_model(uri or registry_uri())
    return ServedModel(
        loaded.bundle, loaded.uri, "registry", loaded.name, loaded.version, loaded.run_id
    )


def load_packed_model(tag: str = PACKED_ALIAS) -> ServedModel:
    """The model packed into this Bento: read the bundle straight from the MLflow folder.

    No MLflow import: the bundle is plain files (`artifacts/bundle` per the MLmodel file).
    """
    import yaml

    stored = bentoml.models.get(tag)
    folder = Path(stored.path_of(MLFLOW_MODEL_FOLDER))
    meta = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
    bundle_path = meta["flavors"]["python_function"]["artifacts"]["bundle"]["path"]
    info = stored.info.metadata
    return ServedModel(
        bundle=ModelBundle.load(folder / bundle_path),
        uri=str(stored.tag),
        source="bento",
        name=info.get("registered_name"),
        version=info.get("registered_version"),
        run_id=info.get("run_id"),
    )


def pack_champion() -> bentoml.Model:
    """Import the configured registry model into the BentoML store (once per version).

    `bentoml build` calls this (through `ChampionModel.to_info`), so the Bento carries
    the exact champion of build time. The tag holds version and run id: a re-created
    registry that reuses a version number cannot hand back a stale copy.
    """
    import mlflow

    from serving.registry import load_model, tracking_uri

    check_store()
    uri = pin_version(registry_uri())  # the version the alias names now, once
    identity = load_model(uri)  # also proves the model loads before it is packed
    name = identity.name or "pql-model"
    tag = f"{name}:v{identity.version or 0}-{identity.run_id or 'local'}".lower()
    try:
        return bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        pass
    mlflow.set_tracking_uri(tracking_uri())
    model = bentoml.mlflow.import_model(
        tag,
        model_uri=uri,
        labels={"registered_name": name, "registered_version": str(identity.version)},
        metadata={
            "registered_name": name,
            "registered_version": identity.version,
            "run_id": identity.run_id,
            "source_uri": uri,
        },
    )
    logger.info("packed %s (%s) as BentoML model %s", uri, identity.version, model.tag)
    return model


@dataclass(frozen=True)
class ModelSource:
    """Where this worker will load its model from; cheap to make, loads on demand."""

    kind: Literal["registry", "bento"]
    uri: str | None = None

    def load(self) -> ServedModel:
        if self.kind == "bento":
            return load_packed_model()
        return load_registry_model(self.uri)


class ChampionModel(bentoml.models.BentoModel):
    """The registry champion as a BentoML model reference, declared at class scope.

    `bentoml build` asks it for its info: it then packs the champion into the BentoML
    model store and the Bento lists it (alias `pql-champion`). Serving resolves it to a
    `ModelSource`: the packed model inside a Bento, the registry otherwise. Resolving is
    cheap on purpose: BentoML also resolves in the supervisor process before workers
    start, and loading there would only double the start-up time.
    """

    def to_info(self, alias: str | None = None) -> BentoModelInfo:
        from bentoml._internal.bento.bento import BentoModelInfo

        return BentoModelInfo.from_bento_model(pack_champion(), alias or PACKED_ALIAS)

    def resolve(self, base_path: Any = None) -> ModelSource:  # type: ignore[override]
        if os.environ.get("PQL_MODEL_URI") or PqlService.bento is None:
            return ModelSource("registry", configured_uri())
        return ModelSource("bento")


# ------------------------------------------------------------------ HTTP answers


def answer(body: BaseModel, status: int = 200, *, exclude_none: bool = False) -> Response:
    """A typed body, serialised by pydantic, as one HTTP answer.

    BentoML passes a returned starlette Response through unchanged. Its own path for a
    model return value sends the same JSON as two body messages, each one through every
    middleware's `send` (measured: ~20 us more per /score request).
    """
    json_bytes = body.__pydantic_serializer__.to_json(body, exclude_none=exclude_none)
    return Response(json_bytes, status_code=status, media_type="application/json")


def error_response(status: int, message: str, field: str | None = None) -> Response:
    return answer(ErrorResponse(error=message, field=field), status, exclude_none=True)


def invalid(error: InvalidInput, prefix: str = "") -> Response:
    """InvalidInput -> 422 naming the field (`items[3].events[0].timestamp` in a batch)."""
    field = f"{prefix}{error.field}"
    message = error.message.removeprefix(f"{error.field}: ")
    return error_response(422, f"{field}: {message}", field)


def _field_path(loc: list[Any] | tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def out_of_range_time(request: ScoreRequest) -> InvalidInput | None:
    """The first time field that parses but lies outside what a datetime can hold."""
    fields = [(name, getattr(request, name)) for name in ("as_of", "signup_at", "converted_at")]
    fields += [
        (f"events[{i}].timestamp", e["timestamp"]) for i, e in enumerate(request.events or ())
    ]
    for name, value in fields:
        if value is None:
            continue
        try:
            moment = to_epoch_ms(value, name)
            datetime.fromtimestamp(moment / 1000, tz=UTC)  # years 1 to 9999, as answers need
        except InvalidInput as error:
            return error
        except (ValueError, OverflowError, OSError):
            return InvalidInput(name, f"{value!r} is outside the range of times (years 1-9999)")
    return None


def _reasons(reasons: list[Any]) -> list[ReasonOut]:
    return [ReasonOut(**reason.as_dict()) for reason in reasons]


# ------------------------------------------------------------------ ASGI middleware


class HttpGate:
    """Bearer token, body size and media type checks, before BentoML parses anything.

    A plain ASGI middleware (not Starlette's BaseHTTPMiddleware, which costs a task and a
    stream per request): one pass over the headers, and the request goes through.
    It also gives BentoML's 400 answers for schema errors the same shape as ours
    (`error`, `field`, `detail`), and serves /docs.json with the schemas the endpoints
    really use (BentoML's generated spec flattens nullable fields and documents error
    bodies that differ from what it sends).
    """

    def __init__(self, app: ASGIApp, service: Any) -> None:
        self.app = app
        self.service = service
        token = os.environ.get("PQL_API_TOKEN") or ""
        self.token = token.encode() if token else None
        self._docs: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path: str = scope["path"]
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            if path == "/docs.json" and scope["method"] == "GET":
                return await self._send_docs(send)
            return await self.app(scope, receive, send)
        length = media = authorization = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value
            elif key == b"content-length":
                length = value
            elif key == b"content-type":
                media = value
        if self.token is not None and not self._authorized(authorization):
            return await _reply(send, 401, "missing or wrong bearer token", None, bearer=True)
        if path not in SCORING_PATHS or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        if media is not None and media.split(b";", 1)[0].strip().lower() != b"application/json":
            return await _reply(send, 415, "send the body as application/json", "body")
        if length is None:  # chunked: read it here, bounded, then replay it
            body = await _read_bounded(receive)
            if body is None:
                return await _reply(send, 413, f"body over {MAX_BODY_BYTES} bytes", "body")
            receive = _replay(body)
        elif not length.isdigit():
            return await _reply(send, 400, "unreadable Content-Length header", "body")
        elif int(length) > MAX_BODY_BYTES:
            return await _reply(send, 413, f"body over {MAX_BODY_BYTES} bytes", "body")
        await self.app(scope, receive, _ErrorShaper(send))

    def _authorized(self, header: bytes | None) -> bool:
        if header is None:
            return False
        scheme, _, credentials = header.partition(b" ")
        # compare_digest runs in time independent of where the tokens differ
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token)

    async def _send_docs(self, send: Send) -> None:
        if self._docs is None:
            spec = openapi_spec(self.service, bearer=self.token is not None)
            self._docs = json.dumps(spec, separators=(",", ":")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self._docs)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self._docs})


class _ErrorShaper:
    """Rewrites BentoML's 400 body `{"error", "detail": [pydantic errors]}` into ours."""

    __slots__ = ("_chunks", "_send", "_start")

    def __init__(self, send: Send) -> None:
        self._send = send
        self._start: Message | None = None
        self._chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 400:
            self._start = message
            return
        if self._start is None or message["type"] != "http.response.body":
            return await self._send(message)
        self._chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = _shape_400(b"".join(self._chunks))
        headers = [(k, v) for k, v in self._start["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self._send({**self._start, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})


def _shape_400(raw: bytes) -> bytes:
    try:
        data = json.loads(raw)
        details = data["detail"]
        first = details[0]
        field = _field_path(first["loc"])
        message = f"{field}: {first['msg']}"
        if len(details) > 1:
            message += f" (and {len(details) - 1} more)"
        shaped = [
            {"loc": list(d.get("loc", [])), "msg": str(d.get("msg", "")), "type": d.get("type")}
            for d in details
        ]
        return _json({"error": message, "field": field, "detail": shaped})
    except (ValueError, KeyError, IndexError, TypeError):
        return raw if raw.startswith(b"{") else _json({"error": "bad request"})


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


async def _reply(
    send: Send, status: int, message: str, field: str | None, bearer: bool = False
) -> None:
    body = _json({"error": message, **({"field": field} if field else {})})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if bearer:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_bounded(receive: Receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def openapi_spec(service: Any, *, bearer: bool) -> dict[str, Any]:
    """BentoML's spec with the request/response/error schemas pydantic really uses."""
    from pydantic.json_schema import models_json_schema

    spec = service.openapi_spec.asdict()
    ref = "#/components/schemas/{model}"
    _, schema = models_json_schema(
        [
            (ScoreRequest, "validation"),
            (BatchRequest, "validation"),
            (ScoreResponse, "serialization"),
            (BatchResponse, "serialization"),
            (ErrorResponse, "serialization"),
        ],
        ref_template=ref,
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(schema.get("$defs", {}))

    def body(model: str, **example: Any) -> dict[str, Any]:
        return {"application/json": {"schema": {"$ref": ref.format(model=model)}, **example}}

    errors = {
        "400": "Malformed JSON, wrong type, missing or unknown field, over a size limit",
        "401": "Missing or wrong bearer token (only when PQL_API_TOKEN is set)",
        "413": f"Body over {MAX_BODY_BYTES} bytes",
        "415": "Body not sent as application/json",
        "422": "Well-formed but unusable: unreadable or future time, unknown feature ...",
    }
    error_docs = {
        code: {"description": text, "content": body("ErrorResponse")}
        for code, text in errors.items()
    }
    for path, request, response, example in (
        ("/score", "ScoreRequest", "ScoreResponse", SCORE_EXAMPLE),
        ("/score_batch", "BatchRequest", "BatchResponse", {"items": [SCORE_EXAMPLE]}),
    ):
        operation = spec["paths"][path]["post"]
        operation["requestBody"] = {"required": True, "content": body(request, example=example)}
        operation["responses"] = {
            "200": {"description": "Scored", "content": body(response)},
            **error_docs,
        }
    model_get = spec["paths"].get("/model", {}).get("get")
    if model_get is not None:
        model_get.setdefault("responses", {})["401"] = error_docs["401"]
    if bearer:
        spec["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        for path in ("/score", "/score_batch", "/model"):
            for operation in spec["paths"].get(path, {}).values():
                operation["security"] = [{"bearer": []}]
    spec["openapi"] = "3.1.0"  # pydantic's schemas are JSON Schema 2020-12, as in 3.1
    _drop_unreferenced(spec["components"]["schemas"], spec)
    return spec


def _drop_unreferenced(schemas: dict[str, Any], spec: dict[str, Any]) -> None:
    """Remove the schemas BentoML generated for its own (now replaced) descriptions."""
    while True:
        text = json.dumps(spec)
        unused = [name for name in schemas if f'"#/components/schemas/{name}"' not in text]
        if not unused:
            return
        for name in unused:
            del schemas[name]


# ------------------------------------------------------------------ the service


def _drop_validation_errors(record: logging.LogRecord) -> bool:
    from pydantic import ValidationError

    return not (record.exc_info and isinstance(record.exc_info[1], ValidationError))


def _quiet_validation_tracebacks() -> None:
    """BentoML logs a full traceback for every request that fails validation.

    A client's bad request is answered 400 with the field named; a traceback per bad
    request in the server log would only bury real errors (and lets anyone flood it).
    """
    log = logging.getLogger("bentoml._internal.server.http_app")
    if _drop_validation_errors not in log.filters:
        log.addFilter(_drop_validation_errors)


model_app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

TRACE_SCORING = os.environ.get("PQL_TRACING", "").lower() in {"1", "true", "yes"}


@bentoml.service(
    name="pql",
    workers=int(os.environ.get("PQL_WORKERS") or 1),
    traffic={"timeout": 60},
    logging={"access": {"enabled": os.environ.get("PQL_ACCESS_LOG", "") == "1"}},
    tracing={} if TRACE_SCORING else {"excluded_urls": ["/score", "/score_batch", "/model"]},
)
@bentoml.asgi_app(model_app, path="/")
class PqlService:
    """Product-qualified lead scores with plain-language reasons."""

    champion = ChampionModel(PACKED_ALIAS)

    def __init__(self) -> None:
        served = self.champion.load()
        self.served = served
        self.scorer = EntityScorer(Scorer(served.bundle))
        self.version = served.version
        bundle = served.bundle
        self.info = ModelInfo(
            name=served.name,
            version=served.version,
            run_id=served.run_id,
            uri=served.uri,
            source=served.source,
            product=bundle.spec.product,
            entity=bundle.spec.entity,
            trained_at=bundle.trained_at,
            metrics={k: float(v) for k, v in bundle.metrics.items()},
            threshold=bundle.threshold,
            tiers=TiersOut(hot=bundle.tiers.hot, warm=bundle.tiers.warm),
            features=list(bundle.feature_names),
        )
        self._warm_up()
        self._keep_api_wrappers()
        _quiet_validation_tracebacks()
        # Everything loaded so far lives as long as the process: take it out of the
        # collector's sight, or each full collection walks it (150-220 ms stalls).
        gc.collect()
        gc.freeze()
        logger.info("serving %s (version %s, %s)", served.uri, served.version, served.source)

    def _warm_up(self) -> None:
        """One call through every path, so the first request does not pay set-up."""
        now = datetime.now(tz=UTC)
        events = [
            {"event": name, "timestamp": (now - timedelta(hours=i + 1)).isoformat()}
            for i, name in enumerate(sorted(self.scorer.known_events))
        ]
        signup = (now - timedelta(days=3)).isoformat()
        self.scorer.score_events("warm-up", events, as_of=now.isoformat(), signup_at=signup)
        names = self.served.bundle.feature_names
        self.scorer.score_features("warm-up", {n: 0.0 for n in names if "hours" not in n})

    def _keep_api_wrappers(self) -> None:
        """Look the API methods up once instead of once per request.

        BentoML fetches `getattr(instance, name).local` for every request, and its API
        descriptor builds a fresh wrapper (with `inspect.signature`) on each lookup, some
        20 us a request. A descriptor without `__set__` yields to the instance's own
        attribute, so the first wrapper, kept here, serves every later request.
        """
        for name in ("score", "score_batch"):
            self.__dict__[name] = getattr(type(self), name).__get__(self, type(self))

    def _respond(self, result: EntityScore) -> ScoreResponse:
        return ScoreResponse(
            entity_id=result.entity_id,
            probability=result.probability,
            score=result.score,
            tier=result.tier,
            is_pql=result.is_pql,
            model_version=self.version,
            as_of=result.as_of,
            reasons=_reasons(result.reasons),
            negative_reasons=_reasons(result.negative_reasons),
            unknown_events=result.unknown_events,
        )

    def _score(self, request: ScoreRequest) -> ScoreResponse:
        try:
            return self._respond(self._entity_score(request))
        except (ValueError, OverflowError, OSError) as error:
            # a time the parser reads but no calendar holds ("-2026-01-01", "1e308"):
            # find which field, on this slow path only, and answer 422 naming it
            located = out_of_range_time(request)
            if located is None:
                raise
            raise located from error

    def _entity_score(self, request: ScoreRequest) -> EntityScore:
        if request.features is not None:
            for name in ("events", "as_of", "signup_at", "converted_at"):
                if getattr(request, name) is not None:
                    raise InvalidInput(name, "give either features or events (and times)")
            return self.scorer.score_features(request.entity_id, request.features)
        return self.scorer.score_events(
            request.entity_id,
            request.events or (),
            as_of=request.as_of,
            signup_at=request.signup_at,
            converted_at=request.converted_at,
        )

    # The docstrings of the two endpoints are their descriptions in /docs.json.
    # /score is `async` on purpose: ~1.5 ms of CPU work runs on the event loop, cheaper
    # than a hop to a worker thread and back. Both answer the annotated model through
    # `answer` (pre-serialised; BentoML documents the annotation and passes the
    # Response through); `invalid` answers 422 naming the field.

    @bentoml.api(route="/score")
    async def score(self, request: ScoreRequest, /) -> ScoreResponse:
        """Score one entity from its raw events, or from a ready feature dict.

        Answers the calibrated probability, 0-100 score, tier, PQL flag and the
        reasons. A malformed request answers 400; a value that cannot be used (an
        unreadable or future time, an unknown feature) answers 422; `field` names it.
        """
        try:
            return answer(self._score(request))  # type: ignore[return-value]
        except InvalidInput as error:
            return invalid(error)  # type: ignore[return-value]

    @bentoml.api(route="/score_batch")
    def score_batch(self, request: BatchRequest, /) -> BatchResponse:
        """Score up to 100 entities, answered in request order; all or nothing.

        One unusable item fails the whole request (422) and `field` says which, e.g.
        `items[3].events[0].timestamp`: fix that item and resend; answers never have to
        be matched back to partial requests.
        """
        # a plain `def`: BentoML runs it in a worker thread, so a large batch does not
        # hold up the event loop (health checks, /score)
        scores = []
        for position, item in enumerate(request.items):
            try:
                scores.append(self._score(item))
            except InvalidInput as error:
                return invalid(error, f"items[{position}].")  # type: ignore[return-value]
        return answer(BatchResponse(items=scores, model_version=self.version))  # type: ignore[return-value]

    @model_app.get("/model", response_model=ModelInfo, tags=["Service APIs"])
    async def model(self) -> ModelInfo:
        """The served model: registry name, version, run, metrics, threshold, features."""
        return self.info


PqlService.add_asgi_middleware(HttpGate, service=PqlService)
