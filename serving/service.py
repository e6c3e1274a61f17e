"""The HTTP scoring service: BentoML 1.4, one model per process, typed JSON in and out.

Endpoints (DESIGN section 5):

- POST /score        one entity, from raw events or a ready feature dict
- POST /score_batch  up to `MAX_BATCH_ITEMS` entities; all or nothing (see `score_batch`)
- GET  /model        what is served: registry name, version, run, metrics, threshold ...
- GET  /livez /readyz /healthz /metrics  BentoML's own, never behind the token
- GET  /docs.json    OpenAPI, generated from the same pydantic models that validate

At the connection (`http_protocol`, installed in each worker before uvicorn starts):
request heads bounded in size (431) and heads and bodies in time (408), and the
outermost wrapper that labels unknown paths as one in BentoML's metrics. The model's
own metrics (`service_metrics`) are recorded per answered entity in `_score`.

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
import logging
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import TYPE_CHECKING, Any

import bentoml
from fastapi import FastAPI

from pql.errors import InvalidInput
from pql.serving.entity import EntityScore, EntityScorer
from pql.serving.http_gate import (
    HttpGate,
    MetricPathLabels,
    _reasons,
    answer,
    invalid,
    out_of_range_time,
)
from pql.serving.http_models import (
    BatchRequest,
    BatchResponse,
    FitReasonOut,
    ModelInfo,
    ScoreRequest,
    ScoreResponse,
    TiersOut,
)
from pql.serving.http_protocol import HttpLimits, use_limited_protocol
from pql.serving.scoring import Scorer
from pql.serving.served_model import PACKED_ALIAS, ModelSource, pack_champion
from pql.serving.service_metrics import ModelMetrics, count_refusal
from pql.settings import Settings

if TYPE_CHECKING:
    from bentoml._internal.bento.bento import BentoModelInfo

logger = logging.getLogger("pql.service")


def _read_settings() -> Settings:
    """The worker's settings, read once: the environment, overridden by the service
    arguments `pql serve` passes (`bentoml.serve(..., args=settings.service_args())`)."""
    given = vars(bentoml.use_arguments())
    return Settings.from_mapping(given) if given else Settings.from_env()


SETTINGS = _read_settings()

if bentoml.server_context.worker_index is not None:
    # a BentoML worker: its uvicorn server is configured after this import
    use_limited_protocol(
        HttpLimits.from_settings(SETTINGS), wrap_app=MetricPathLabels, count_refusal=count_refusal
    )


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

        return BentoModelInfo.from_bento_model(pack_champion(SETTINGS), alias or PACKED_ALIAS)

    def resolve(self, base_path: Any = None) -> ModelSource:
        if SETTINGS.model_uri or PqlService.bento is None:  # type: ignore[attr-defined]
            return ModelSource("registry", SETTINGS, SETTINGS.configured_model_uri)
        return ModelSource("bento", SETTINGS)


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

TRACE_SCORING = SETTINGS.tracing


@bentoml.service(
    name="pql",
    workers=SETTINGS.workers,
    traffic={"timeout": 60},
    logging={"access": {"enabled": SETTINGS.access_log}},
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
        self.metrics = ModelMetrics(served)
        bundle = served.bundle
        self.info = ModelInfo(
            name=served.name,
            version=served.version,
            run_id=served.run_id,
            uri=served.uri,
            source=served.source,
            status=served.status,
            product=bundle.spec.product,
            entity=bundle.spec.entity,
            trained_at=bundle.trained_at,
            metrics={k: float(v) for k, v in bundle.metrics.items()},
            threshold=bundle.threshold,
            tiers=TiersOut(hot=bundle.tiers.hot, warm=bundle.tiers.warm),
            features=list(bundle.feature_names),
            attributes=dict(bundle.encoding.kinds),
        )
        self._warm_up()
        self._keep_api_wrappers()
        _quiet_validation_tracebacks()
        # Everything loaded so far lives as long as the process: take it out of the
        # collector's sight, or each full collection walks it (150-220 ms stalls).
        gc.collect()
        gc.freeze()
        logger.info("serving %s (version %s, %s)", served.uri, served.version, served.source)
        if served.status != "champion":
            logger.warning("the served model is not the champion: %s", served.status)

    def _warm_up(self) -> None:
        """One call through every path, so the first request does not pay set-up."""
        now = datetime.now(tz=UTC)
        events = [
            {"event": name, "timestamp": (now - timedelta(hours=i + 1)).isoformat()}
            for i, name in enumerate(sorted(self.scorer.known_events))
        ]
        signup = (now - timedelta(days=3)).isoformat()
        self.scorer.score_events("warm-up", events, as_of=now.isoformat(), signup_at=signup)
        names = self.served.bundle.definitions.names  # behaviour; fit attributes unknown
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
            status=result.status,  # type: ignore[arg-type]  # "scored" | "not scored"
            not_scored_reason=result.not_scored_reason,
            probability=result.probability,
            score=result.score,
            tier=result.tier,  # type: ignore[arg-type]  # a bundle's tiers are hot/warm/cold
            is_pql=result.is_pql,
            model_version=self.version,
            model_status=self.info.status,
            as_of=result.as_of,
            reasons=_reasons(result.reasons),
            negative_reasons=_reasons(result.negative_reasons),
            context=result.context,
            unknown_events=result.unknown_events,
            fit_reasons=_fit_reasons(result.fit_reasons),
            negative_fit_reasons=_fit_reasons(result.negative_fit_reasons),
            unseen_attributes=result.unseen_attributes,
        )

    def _score(self, request: ScoreRequest) -> ScoreResponse:
        try:
            started = perf_counter()
            result = self._entity_score(request)
            self.metrics.record(result, perf_counter() - started, request.features is not None)
            return self._respond(result)
        except (ValueError, OverflowError, OSError) as error:
            # a time the parser reads but no calendar holds ("-2026-01-01", "1e308"):
            # find which field, on this slow path only, and answer 422 naming it
            located = out_of_range_time(request)
            if located is None:
                raise
            raise located from error

    def _entity_score(self, request: ScoreRequest) -> EntityScore:
        if request.features is not None:
            for name in ("events", "as_of", "signup_at", "converted_at", "trial_end_at"):
                if getattr(request, name) is not None:
                    raise InvalidInput(name, "give either features or events (and times)")
            return self.scorer.score_features(
                request.entity_id, request.features, request.attributes
            )
        return self.scorer.score_events(
            request.entity_id,
            request.events or (),
            as_of=request.as_of,
            signup_at=request.signup_at,
            converted_at=request.converted_at,
            trial_end_at=request.trial_end_at,
            attributes=request.attributes,
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


def _fit_reasons(reasons: list[Any]) -> list[FitReasonOut]:
    return [FitReasonOut(**reason.as_dict()) for reason in reasons]


# @bentoml.service returns a Service object; its typing still says the class
PqlService.add_asgi_middleware(  # type: ignore[attr-defined]
    HttpGate, service=PqlService, token=SETTINGS.api_token
)
