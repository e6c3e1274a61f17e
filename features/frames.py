"""pandas in, pandas out: the frame-level face of `features.compute`.

Encoding a canonical events frame into integer arrays is the only pandas-heavy step;
the computation itself is the shared columnar core, so batch snapshots and one user's
events in an HTTP request go through exactly the same code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pql.features.compute import NEVER_MS, EventArrays, QueryRows, feature_matrix
from pql.features.definitions import FeatureDefinitions

ROW_COLUMNS = ("entity_id", "as_of", "signup_at", "converted_at")


def epoch_ms(values: pd.Series | pd.Index) -> np.ndarray:
    """UTC epoch milliseconds, floored; NaT becomes NEVER_MS ("never happened")."""
    index = pd.DatetimeIndex(values)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    ms = index.as_unit("ms").asi8  # floors (the values are after 1970)
    return np.where(index.isna(), NEVER_MS, ms) if index.hasnans else ms


def _codes(values: pd.Series, index: pd.Index, dtype: type = np.int32) -> np.ndarray:
    """Position of each value in `index` (-1 when absent), cheap for categoricals."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        lookup: np.ndarray = np.append(index.get_indexer(values.cat.categories), -1).astype(dtype)
        return lookup[values.cat.codes.to_numpy()]
    return index.get_indexer(values.astype(object)).astype(dtype)


def _session_codes(values: pd.Series) -> np.ndarray:
    """Integer session ids are used as they are (no copy); others are factorised."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.to_numpy()
    return pd.factorize(values)[0].astype(np.int32)


def entity_column(definitions: FeatureDefinitions) -> str:
    return "account_id" if definitions.account_level else "user_id"


def encode_events(
    definitions: FeatureDefinitions, events: pd.DataFrame, entities: pd.Index
) -> EventArrays:
    """Canonical events frame -> arrays keyed by position in `entities`."""
    session = _session_codes(events["session_id"]) if "session_id" in events.columns else None
    user = None
    if definitions.account_level:
        user = pd.factorize(events["user_id"])[0].astype(np.int32)
    properties = {
        name: _numeric(events[name])
        for name in definitions.property_columns
        if name in events.columns
    }
    distinct = {
        name: distinct_codes(events[name])
        for name in definitions.distinct_columns
        if name in events.columns
    }
    return EventArrays(
        entity=_codes(events[entity_column(definitions)], entities),
        time_ms=epoch_ms(events["timestamp"]),
        event=_codes(events["event"], pd.Index(definitions.vocabulary), np.int16),
        session=session,
        user=user,
        properties=properties,
        distinct=distinct,
    )


def _numeric(values: pd.Series) -> np.ndarray:
    """A summed or maxed property as float64 (text read as ids, e.g. also counted
    distinct by another action, is converted value by value; non-numbers are NaN)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    return pd.to_numeric(values, errors="coerce").to_numpy(np.float64)


def distinct_codes(values: pd.Series) -> np.ndarray:
    """Equal values -> equal codes, missing -> -1: a distinct count compares equality only."""
    return pd.factorize(values, use_na_sentinel=True)[0].astype(np.int64)


def encode_rows(rows: pd.DataFrame, entities: pd.Index) -> QueryRows:
    return QueryRows(
        entity=entities.get_indexer(rows["entity_id"]).astype(np.int64),
        signup_ms=epoch_ms(rows["signup_at"]),
        as_of_ms=epoch_ms(rows["as_of"]),
        stop_ms=epoch_ms(rows["converted_at"]),
    )


def build_features(
    definitions: FeatureDefinitions, events: pd.DataFrame, rows: pd.DataFrame
) -> pd.DataFrame:
    """Feature frame aligned with `rows` (entity_id, as_of, signup_at, converted_at).

    Works the same for a million entities x several cutoffs and for one entity's
    events: that equality is tested, not assumed.
    """
    missing = [c for c in ROW_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"rows lack column(s) {missing}; expected {list(ROW_COLUMNS)}")
    entities = pd.Index(pd.unique(rows["entity_id"]))
    matrix = feature_matrix(
        definitions,
        encode_events(definitions, events, entities),
        encode_rows(rows, entities),
        n_entities=len(entities),
    )
    return pd.DataFrame(matrix.T, index=rows.index, columns=definitions.names, copy=False)
