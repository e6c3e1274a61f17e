"""What an operator watches on /metrics beside BentoML's HTTP counters: the model.

- `pql_model_info{name, version, run_id, status, source}` 1: the model served
- `pql_scored_total{tier}`: entities scored, by tier (hot, warm, cold)
- `pql_not_scored_total{reason}`: entities answered "not scored", by reason
- `pql_probability`: histogram of the calibrated probabilities answered
- `pql_unknown_event_names_total`, `pql_entities_with_unknown_events_total`: event
  names no action counts (summed, never one series per name: clients choose the names)
- `pql_scoring_seconds{input}`: featurising + scoring one entity (events or features),
  without HTTP, JSON parsing or serialising
- `pql_connection_refusals_total{reason}`: requests refused at the connection, before
  BentoML sees them (so absent from its request counts): see `http_protocol.REFUSALS`

Every label takes a few fixed values, so the series count cannot grow with traffic.
The metrics are prometheus_client's (BentoML 1.4 deprecates `bentoml.metrics` in its
favour): BentoML starts each worker with PROMETHEUS_MULTIPROC_DIR set, so they are
written to the worker's multiprocess files and /metrics adds up every worker's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

from pql.features.rows import ALREADY_CONVERTED, SIGNED_UP_AFTER, TRIAL_ENDED
from pql.serving.http_protocol import REFUSALS

if TYPE_CHECKING:
    from pql.serving.entity import EntityScore
    from pql.serving.served_model import ServedModel

TIERS = ("hot", "warm", "cold")
NOT_SCORED_REASONS = (SIGNED_UP_AFTER, ALREADY_CONVERTED, TRIAL_ENDED)
INPUTS = ("events", "features")
OTHER = "other"  # a value outside a label's fixed set (none today)

# Created once per process at import (prometheus_client refuses a name twice).
MODEL_INFO = Gauge(
    "pql_model_info",
    "The model this service serves (value 1)",
    ["name", "version", "run_id", "status", "source"],
    multiprocess_mode="max",
)
SCORED = Counter("pql_scored_total", "Entities scored, by tier", ["tier"])
NOT_SCORED = Counter(
    "pql_not_scored_total", "Entities answered 'not scored', by reason", ["reason"]
)
PROBABILITY = Histogram(
    "pql_probability",
    "Calibrated conversion probability of the entities scored",
    buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
UNKNOWN_NAMES = Counter(
    "pql_unknown_event_names",
    "Distinct event names no action counts, summed over the entities answered",
)
WITH_UNKNOWN = Counter(
    "pql_entities_with_unknown_events",
    "Entities answered whose events had at least one name no action counts",
)
SCORING_SECONDS = Histogram(
    "pql_scoring_seconds",
    "Featurising and scoring one entity, without HTTP, JSON parsing or serialising",
    ["input"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)

REFUSED = Counter(
    "pql_connection_refusals",
    "Requests refused at the connection: head too large (431), head or body late (408), "
    "silent connection closed",
    ["reason"],
)


def count_refusal(reason: str) -> None:
    """Count one refusal of `http_protocol` (its reasons are a fixed set)."""
    REFUSED.labels(reason=reason if reason in REFUSALS else OTHER).inc()


class ModelMetrics:
    """Records each answered entity; children bound once (a label lookup costs ~1 us)."""

    def __init__(self, served: ServedModel) -> None:
        MODEL_INFO.labels(
            name=served.name or "",
            version=served.version or "",
            run_id=served.run_id or "",
            status=served.status,
            source=served.source,
        ).set(1)
        self._scored = {tier: SCORED.labels(tier=tier) for tier in TIERS}
        self._not_scored = {r: NOT_SCORED.labels(reason=r) for r in NOT_SCORED_REASONS}
        self._seconds = {name: SCORING_SECONDS.labels(input=name) for name in INPUTS}

    def record(self, result: EntityScore, seconds: float, from_features: bool) -> None:
        """One entity answered 200 (scored or not), and how long it took to compute."""
        self._seconds[INPUTS[from_features]].observe(seconds)
        if result.unknown_events:
            WITH_UNKNOWN.inc()
            UNKNOWN_NAMES.inc(len(result.unknown_events))
        if result.probability is None:
            reason = result.not_scored_reason
            (self._not_scored.get(reason) or NOT_SCORED.labels(reason=OTHER)).inc()  # type: ignore[arg-type]
            return
        (self._scored.get(result.tier) or SCORED.labels(tier=OTHER)).inc()  # type: ignore[arg-type]
        PROBABILITY.observe(result.probability)
