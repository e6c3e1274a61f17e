"""Schemathesis against the live service's /docs.json: no 5xx, no answer off its schema.

Derandomized and bounded (at most `MAX_EXAMPLES` per operation) so CI runs the same
cases every time. The server is the plain BentoML entry point (`bentoml serve
serving.service:PqlService`), without a token.

Schema-breaking requests must be refused with 400, 413, 415 or 422. One Schemathesis
check is left out, `positive_data_acceptance` ("anything the schema
allows must be accepted"): the schema says what a request looks like, not what it
means, and some well-formed requests are refused with a 422 on purpose: a time that
cannot be read or lies in the future, a feature the model does not know, events and
features together. Every other check runs, including that each answer's status code
is documented and its body matches the documented schema.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from tests.serving.test_service import Server, register, server_env

MAX_EXAMPLES = 50
#: What counts as "rejected" for schema-breaking requests: ours are 400, 413 (a body over
#: the size limit is refused before it is read) and 415; 422 for values.
CONFIG = {"checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 413, 415, 422]}}}


@pytest.fixture(scope="module")
def api_schema(trained, tmp_path_factory) -> Iterator[schemathesis.BaseSchema]:
    tmp = tmp_path_factory.mktemp("schema-registry")
    register(trained, tmp)
    command = [sys.executable, "-m", "bentoml", "serve", "pql.serving.service:PqlService"]
    server = Server([*command, "--host", "127.0.0.1"], server_env(tmp)).start()
    try:
        config = schemathesis.Config.from_dict(CONFIG)
        yield schemathesis.openapi.from_url(f"{server.url}/docs.json", config=config)
    finally:
        server.stop()


# Every operation of the document; a test below fails when the document grows, so a new
# endpoint cannot go unfuzzed.
OPERATIONS = ["POST /score", "POST /score_batch", "GET /model"]
INFRA = ["GET /livez", "GET /readyz", "GET /healthz", "GET /metrics"]


@pytest.mark.server
def test_every_documented_operation_is_fuzzed(api_schema) -> None:
    labels = {result.ok().label for result in api_schema.get_all_operations()}
    assert labels == set(OPERATIONS + INFRA)


@pytest.mark.server
@pytest.mark.parametrize(
    ("label", "mode"),
    [(label, GenerationMode.POSITIVE) for label in OPERATIONS + INFRA]
    + [(label, GenerationMode.NEGATIVE) for label in OPERATIONS if label.startswith("POST")],
)
def test_answers_stay_within_the_schema(api_schema, label: str, mode: GenerationMode) -> None:
    """Schema-valid (positive) and schema-breaking (negative) requests, checked answers."""
    operation = api_schema.find_operation_by_label(label)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    check()
