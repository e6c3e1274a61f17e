"""Batch scoring: every entity of a data set at one point in time, CRM-ready.

Rows in equal rows out: every entity appears once, scored or with the reason it was
not (already converted, not yet signed up). Features come from the same code path as
training; scores and reasons are computed in chunks so a progress bar can follow a
million entities and memory stays bounded by the chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from pql.errors import PqlError, SpecError
from pql.features.pipeline import Dataset, live_features
from pql.features.rules import parse_rule
from pql.serving.attribute_input import model_frame
from pql.serving.fit_reasons import FIT_REASON_COLUMNS
from pql.serving.scoring import Scorer

CHUNK_ROWS = 20_000
LEAD_COLUMNS = (
    "entity_id",
    "account_id",
    "status",
    "not_scored_reason",
    "probability",
    "score",
    "tier",
    "is_pql",
    "reason_1",
    "reason_2",
    "reason_3",
    "negative_reason_1",
    "context",
    "last_active_at",
    "model_version",
    "model_status",
    "as_of",
    "scored_at",
)


@dataclass(frozen=True)
class BatchScores:
    leads: pd.DataFrame  # LEAD_COLUMNS; scored entities first, best first
    as_of: pd.Timestamp
    scored_at: pd.Timestamp
    # the feature rows that were scored (entity_id, ..., features): the score history
    # keeps them so monitoring can compare what the model saw with training
    features: pd.DataFrame | None = None
    #: fit attributes: rows per attribute whose level training never saw (scored "other")
    unseen_levels: dict[str, int] = field(default_factory=dict)

    @property
    def scored(self) -> pd.DataFrame:
        return self.leads[self.leads["status"] == "scored"]


def _score_chunk(scorer: Scorer, features: np.ndarray) -> dict[str, object]:
    scores = scorer.predict(features)
    writer = scorer.writer
    contributions = scores.contributions[:, :-1]
    width = scorer.behaviour_width  # behaviour reasons from behaviour columns only
    fit = scorer.fit_writer.texts(features, contributions) if scorer.fit_writer else {}
    contributions = contributions[:, :width]
    positive, negative = writer.select(writer.grouped(contributions), 3, 1)
    positive_texts = writer.texts(features[:, :width], contributions, positive, True, 3)
    negative_texts = writer.texts(features[:, :width], contributions, negative, False, 1)
    return {
        **fit,
        "probability": scores.probability,
        "_raw": scores.raw,  # the ranking itself (ties in probability are not ties here)
        "score": scores.score,
        "tier": scores.tier,
        "is_pql": scores.is_pql,
        "reason_1": positive_texts[:, 0],
        "reason_2": positive_texts[:, 1],
        "reason_3": positive_texts[:, 2],
        "negative_reason_1": negative_texts[:, 0],
        "context": writer.context_texts(features),
    }


def score_feature_rows(
    scorer: Scorer,
    frame: pd.DataFrame,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Scores and reason texts for feature rows, chunk by chunk, best first."""
    features = frame[list(scorer.bundle.feature_names)].to_numpy(np.float64)
    parts = []
    for start in range(0, len(frame), CHUNK_ROWS):
        parts.append(pd.DataFrame(_score_chunk(scorer, features[start : start + CHUNK_ROWS])))
        if progress is not None:
            progress(min(start + CHUNK_ROWS, len(frame)), len(frame))
    empty = pd.DataFrame({"probability": [], "_raw": []})
    scored = pd.concat(parts, ignore_index=True) if parts else empty
    scored.insert(0, "entity_id", frame["entity_id"].to_numpy())
    scored.insert(1, "account_id", frame["account_id"].to_numpy())
    scored.insert(2, "status", "scored")
    scored["last_active_at"] = last_active_at(frame)
    ranked = scored.sort_values("_raw", ascending=False, kind="stable")
    return ranked.drop(columns="_raw")


def last_active_at(frame: pd.DataFrame) -> pd.api.extensions.ExtensionArray:
    """When each entity was last seen, from the features it was scored with.

    Derived from `hours_since_last_event` at the row's `as_of` (the same point-in-time
    features), so it needs no second pass over the events; missing = never active.
    """
    hours = pd.to_timedelta(frame["hours_since_last_event"].to_numpy(np.float64), unit="h")
    return (pd.DatetimeIndex(frame["as_of"]) - hours).round("s").array


def score_dataset(
    scorer: Scorer,
    dataset: Dataset,
    as_of: pd.Timestamp,
    *,
    model_version: str | None = None,
    model_status: str = "not registered",
    progress: Callable[[int, int], None] | None = None,
) -> BatchScores:
    """Score all entities at `as_of`; `progress(done, total)` after each chunk."""
    bundle = scorer.bundle
    if bundle.spec.entity != dataset.spec.entity:
        raise PqlError(
            f"the model scores {bundle.spec.entity}s but the spec's entity is "
            f"{dataset.spec.entity!r}: use a model trained with this spec"
        )
    frame, live = live_features(dataset, as_of, bundle.definitions)
    lacking = [n for n in bundle.encoding.names if n not in frame.columns]
    if lacking:
        raise PqlError(
            f"the model uses fit attribute(s) {lacking} that the spec's data.attributes does "
            "not give: use the spec the model was trained with"
        )
    routing = [n for n in dataset.spec.output.attributes if n in frame.columns]
    raw = frame[["entity_id", *routing]].copy()  # as known at as_of, before any encoding
    frame, unseen = model_frame(bundle.encoding, frame)
    scored = score_feature_rows(scorer, frame, progress)
    if routing:
        scored = scored.merge(raw, on="entity_id", how="left", validate="1:1")
    extra = (list(FIT_REASON_COLUMNS) if bundle.encoding else []) + routing
    leads = _leads(scored, live.not_scored, as_of, model_version, model_status, extra)
    return replace(leads, features=frame, unseen_levels=unseen)


def _leads(
    scored: pd.DataFrame,
    not_scored: pd.DataFrame,
    as_of: pd.Timestamp,
    version: str | None,
    status: str = "not registered",
    extra_columns: list[str] | None = None,
) -> BatchScores:
    """Scored rows (best first) then the unscored ones with their reason: rows in = out."""
    unscored = not_scored.rename(columns={"reason": "not_scored_reason"}).assign(
        status="not scored"
    )
    leads = pd.concat([scored, unscored], ignore_index=True)
    leads["model_version"] = version
    leads["model_status"] = status
    leads["as_of"] = as_of
    scored_at = pd.Timestamp(datetime.now(tz=UTC))
    leads["scored_at"] = scored_at
    columns = [*LEAD_COLUMNS, *(extra_columns or [])]  # fit reasons, routing attributes
    for column in columns:
        if column not in leads.columns:
            leads[column] = None
    # nullable types: unscored rows stay empty instead of turning scores into floats
    leads["score"] = leads["score"].astype("Float64")
    leads["is_pql"] = leads["is_pql"].astype("boolean")
    return BatchScores(leads=leads[columns], as_of=as_of, scored_at=scored_at)


def score_dataset_with_rules(dataset: Dataset, as_of: pd.Timestamp) -> BatchScores:
    """PQLs from the spec's rules alone, no model: same columns, reasons = rules met.

    A PQL meets at least one rule (tier hot, else cold); the 0-100 score is the share of
    rules met; there is no probability without a model, so that column stays empty.
    """
    rules = dataset.spec.rules
    if not rules:
        raise SpecError(
            "key 'rules': the spec defines no rules (add a 'rules' list, or run "
            "pql triggers --write-rules)"
        )
    names = dataset.definitions.names
    parsed = [parse_rule(rule.when, names) for rule in rules]
    frame, live = live_features(dataset, as_of)
    columns = {name: frame[name].to_numpy() for name in names}
    met = np.column_stack([rule(columns) for rule in parsed]) if len(frame) else np.zeros((0, 1))
    labels = [rule.reason or f"{rule.name}: {rule.when}" for rule in rules]
    texts = [[labels[i] for i in np.flatnonzero(row)] for row in met]
    scored = pd.DataFrame(
        {
            "entity_id": frame["entity_id"].to_numpy(),
            "account_id": frame["account_id"].to_numpy(),
            "status": "scored",
            "probability": np.nan,
            "score": np.round(100 * met.sum(axis=1) / len(rules)).astype(np.int64),
            "tier": np.where(met.any(axis=1), "hot", "cold"),
            "is_pql": met.any(axis=1),
            "reason_1": [t[0] if t else None for t in texts],
            "reason_2": [t[1] if len(t) > 1 else None for t in texts],
            "reason_3": [t[2] if len(t) > 2 else None for t in texts],
            "last_active_at": last_active_at(frame),
        }
    ).sort_values("score", ascending=False, kind="stable")
    return _leads(scored, live.not_scored, as_of, "rules", "rules (no model)")
