"""The peer for bench_serving.py: a minimal FastAPI + uvicorn server, same model and code.

    python benchmarks/fastapi_peer.py --port 3901     # model as for `pql serve`

Same pydantic request/response models, same `EntityScorer` featurisation and scoring,
same `async` endpoint, same single pydantic serialisation of the answer, same warm-up
and `gc.freeze()` after loading, same uvicorn choices (httptools/uvloop when installed,
no access log, one worker): what differs from the BentoML service is the framework
around the call, which is what the benchmark compares.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from pql.errors import InvalidInput
from pql.serving.entity import EntityScorer
from pql.serving.http_models import ReasonOut, ScoreRequest, ScoreResponse
from pql.serving.registry import load_model, registry_uri
from pql.serving.scoring import Scorer
from pql.settings import Settings

state: dict[str, object] = {}


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    settings = Settings.from_env()
    loaded = load_model(registry_uri(settings), settings.tracking_uri)
    scorer = EntityScorer(Scorer(loaded.bundle))
    now = datetime.now(tz=UTC)
    events = [
        {"event": name, "timestamp": (now - timedelta(hours=i + 1)).isoformat()}
        for i, name in enumerate(sorted(scorer.known_events))
    ]
    signup = (now - timedelta(days=3)).isoformat()
    scorer.score_events("warm-up", events, as_of=now.isoformat(), signup_at=signup)
    state.update(scorer=scorer, version=loaded.version, status=loaded.status)
    gc.collect()
    gc.freeze()
    yield


app = FastAPI(lifespan=lifespan)


@app.post("/score", response_model=ScoreResponse)
async def score(request: ScoreRequest) -> Response:
    scorer: EntityScorer = state["scorer"]  # type: ignore[assignment]
    try:
        result = scorer.score_events(
            request.entity_id,
            request.events or (),
            as_of=request.as_of,
            signup_at=request.signup_at,
            converted_at=request.converted_at,
        )
    except InvalidInput as error:
        return JSONResponse({"error": error.message, "field": error.field}, status_code=422)
    body = ScoreResponse(
        entity_id=result.entity_id,
        status=result.status,  # type: ignore[arg-type]
        not_scored_reason=result.not_scored_reason,
        probability=result.probability,
        score=result.score,
        tier=result.tier,
        is_pql=result.is_pql,
        model_version=state["version"],  # type: ignore[arg-type]
        model_status=state["status"],  # type: ignore[arg-type]
        as_of=result.as_of,
        reasons=[ReasonOut(**r.as_dict()) for r in result.reasons],
        negative_reasons=[ReasonOut(**r.as_dict()) for r in result.negative_reasons],
        context=result.context,
        unknown_events=result.unknown_events,
    )
    # serialised once by pydantic, as the service does (FastAPI would validate it again)
    return Response(body.model_dump_json(), media_type="application/json")


@app.get("/readyz")
async def readyz() -> dict[str, bool]:
    return {"ready": "scorer" in state}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3901)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
