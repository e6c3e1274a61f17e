"""The HTTP edge of the service: typed answers, error shapes, the bearer-token / size /
media-type gate in front of BentoML, and the OpenAPI document it serves.

Kept apart from `service.py` so the service class holds only the endpoints.
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from starlette.responses import Response

from pql.errors import InvalidInput
from pql.serving.entity import to_epoch_ms
from pql.serving.http_models import (
    MAX_BODY_BYTES,
    SCORE_EXAMPLE,
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    ReasonOut,
    ScoreRequest,
    ScoreResponse,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Paths anyone may call even when PQL_API_TOKEN is set (health, metrics, API docs).
OPEN_PATHS = frozenset(
    {"/livez", "/readyz", "/healthz", "/metrics", "/docs.json", "/schema.json", "/"}
)
OPEN_PREFIXES = ("/static_content/",)
SCORING_PATHS = frozenset({"/score", "/score_batch"})
#: Every path the service answers; any other one is labelled OTHER_PATHS in /metrics.
KNOWN_PATHS = OPEN_PATHS | SCORING_PATHS | {"/model"}
OTHER_PATHS = "other"
STATIC_PATHS = "/static_content/*"
#: Where `MetricPathLabels` keeps a request's real path while BentoML sees its label.
REAL_PATH = "pql.real_path"

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
    names = ("as_of", "signup_at", "converted_at", "trial_end_at")
    fields = [(name, getattr(request, name)) for name in names]
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

    def __init__(self, app: ASGIApp, service: Any, token: str | None = None) -> None:
        self.app = app
        self.service = service
        self.token = token.encode() if token else None
        self._docs: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        real_path = scope.get(REAL_PATH)
        if real_path is not None:  # labelled for BentoML's metrics: route the real one
            scope["path"] = real_path
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
        if media is None or media.split(b";", 1)[0].strip().lower() != b"application/json":
            return await _reply(send, 415, "send the body as application/json", "body")
        if length is not None and not length.isdigit():
            return await _reply(send, 400, "unreadable Content-Length header", "body")
        if length is not None and int(length) > MAX_BODY_BYTES:
            return await _reply(send, 413, f"body over {MAX_BODY_BYTES} bytes", "body")
        # Read the body here (bounded when chunked) and replay it to BentoML. A body that
        # never ended (the client left, or was cut off at the body deadline) is answered
        # 408 here: BentoML would log a traceback and count a 500. The answer goes
        # nowhere (the connection is gone), but it must be sent: BentoML's timeout
        # middleware holds a request that answers nothing for its whole timeout (60 s).
        try:
            body = await _read_bounded(receive)
        except _ClientGone:
            return await _reply(send, 408, "the request body did not arrive", "body")
        if body is None:
            return await _reply(send, 413, f"body over {MAX_BODY_BYTES} bytes", "body")
        await self.app(scope, _replay(body), _ErrorShaper(send))

    def _authorized(self, header: bytes | None) -> bool:
        if header is None or self.token is None:
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


class MetricPathLabels:
    """Runs outside BentoML's HTTP metrics, which label each request with its raw path.

    Each label value is a Prometheus series kept for the life of the worker: 2,000
    random paths (401s and 404s alike) grew /metrics from 15 kB to 16 MB and a scrape
    from 0.03 s to 5.6 s. Here a path the service does not answer reaches BentoML as
    "other" (and /static_content/ files as one label); `HttpGate`, inside BentoML's
    middleware, puts the real path back before routing, so answers are unchanged.
    Installed by `http_protocol.use_limited_protocol` (nothing in BentoML wraps its app
    from outside).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path not in KNOWN_PATHS:
            label = STATIC_PATHS if path.startswith(OPEN_PREFIXES) else OTHER_PATHS
            scope = {**scope, "path": label, REAL_PATH: path}
        await self.app(scope, receive, send)


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


class _ClientGone(Exception):
    """The connection closed before the request body ended."""


async def _read_bounded(receive: Receive) -> bytes | None:
    """The whole body, or None once it passes MAX_BODY_BYTES."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientGone
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
