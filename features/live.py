"""Features for one entity's events, as an HTTP request brings them.

Same definitions as batch, minus pandas: `features.single_entity` computes one entity's
row directly (equal to `features.compute` bit for bit, checked by tests), and the batch
core itself answers what that path does not cover (accounts, definitions it does not
know). The result is one plain vector in `FeatureDefinitions.names` order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

from pql.features.compute import NEVER_MS, EventArrays, QueryRows, compute_features
from pql.features.definitions import FeatureDefinitions
from pql.features.ids import id_text
from pql.features.single_entity import event_codes, single_entity_features


@lru_cache(maxsize=64)
def _vocabulary(definitions: FeatureDefinitions) -> np.ndarray:
    return np.array(definitions.vocabulary, dtype=str)


def _event_codes(definitions: FeatureDefinitions, names: Sequence[str]) -> np.ndarray:
    """Codes into the sorted vocabulary by binary search; -1 for names no action counts."""
    vocabulary = _vocabulary(definitions)
    names_array = np.asarray(names, dtype=str)
    if len(vocabulary) == 0 or len(names_array) == 0:
        return np.full(len(names_array), -1, dtype=np.int64)
    position = np.minimum(np.searchsorted(vocabulary, names_array), len(vocabulary) - 1)
    return np.where(vocabulary[position] == names_array, position, -1).astype(np.int64)


def entity_features(
    definitions: FeatureDefinitions,
    *,
    event_names: Sequence[str],
    time_ms: Sequence[int] | np.ndarray,
    signup_ms: int,
    as_of_ms: int,
    converted_ms: int | None = None,
    session_ids: Sequence[object] | None = None,
    user_ids: Sequence[object] | None = None,
    properties: Mapping[str, Sequence[float]] | None = None,
    distinct_values: Mapping[str, Sequence[object]] | None = None,
) -> np.ndarray:
    """One entity's feature vector at `as_of_ms` (UTC epoch milliseconds).

    `distinct_values` holds, per distinct-counted property column, each event's value
    (None when the event has none); ids compare as the event reader compares them."""
    # the single-entity path: same values, a fraction of the set-up
    if user_ids is None and not distinct_values:
        codes = event_codes(definitions, event_names)
        if codes is not None:
            vector = single_entity_features(
                definitions,
                codes=codes,
                time_ms=np.asarray(time_ms, dtype=np.int64),
                signup_ms=signup_ms,
                as_of_ms=as_of_ms,
                stop_ms=converted_ms,
                session_ids=session_ids,
                properties=properties or {},
            )
            if vector is not None:
                return vector
    return entity_features_general(
        definitions,
        event_names=event_names,
        time_ms=time_ms,
        signup_ms=signup_ms,
        as_of_ms=as_of_ms,
        converted_ms=converted_ms,
        session_ids=session_ids,
        user_ids=user_ids,
        properties=properties,
        distinct_values=distinct_values,
    )


def entity_features_general(
    definitions: FeatureDefinitions,
    *,
    event_names: Sequence[str],
    time_ms: Sequence[int] | np.ndarray,
    signup_ms: int,
    as_of_ms: int,
    converted_ms: int | None = None,
    session_ids: Sequence[object] | None = None,
    user_ids: Sequence[object] | None = None,
    properties: Mapping[str, Sequence[float]] | None = None,
    distinct_values: Mapping[str, Sequence[object]] | None = None,
) -> np.ndarray:
    """The same vector through batch's `compute_features` (accounts, and any definitions
    the single-entity path does not know)."""
    n = len(event_names)
    events = EventArrays(
        entity=np.zeros(n, dtype=np.int64),
        time_ms=np.asarray(time_ms, dtype=np.int64),
        event=_event_codes(definitions, event_names),
        session=None if session_ids is None else _factorize(session_ids),
        user=None if user_ids is None else _factorize(user_ids),
        properties={k: np.asarray(v, dtype=np.float64) for k, v in (properties or {}).items()},
        distinct={k: _id_codes(v) for k, v in (distinct_values or {}).items()},
    )
    rows = QueryRows(
        entity=np.zeros(1, dtype=np.int64),
        signup_ms=np.array([signup_ms], dtype=np.int64),
        as_of_ms=np.array([as_of_ms], dtype=np.int64),
        stop_ms=np.array([NEVER_MS if converted_ms is None else converted_ms], dtype=np.int64),
    )
    columns = compute_features(definitions, events, rows, n_entities=1)
    return np.array([values[0] for values in columns.values()], dtype=np.float64)


def _factorize(values: Sequence[object]) -> np.ndarray:
    """Equal values -> equal codes (sessions and users are only compared for equality)."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.asarray(values), return_inverse=True)[1].astype(np.int64).ravel()


def _id_codes(values: Sequence[object]) -> np.ndarray:
    """Equal ids -> equal codes, a missing one -> -1 (as `frames.distinct_codes`)."""
    codes: dict[str, int] = {}
    out = np.full(len(values), -1, dtype=np.int64)
    for position, value in enumerate(values):
        text = id_text(value)
        if text is not None:
            out[position] = codes.setdefault(text, len(codes))
    return out
