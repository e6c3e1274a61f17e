"""The properties that make features safe to train on: no future leaks, one code path."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pql.features.compute import feature_matrix
from pql.features.definitions import FeatureDefinitions
from pql.features.frames import build_features, encode_events, encode_rows, epoch_ms
from pql.features.live import entity_features
from tests.conftest import EVENT_NAMES, random_log, small_spec

DEFINITIONS = FeatureDefinitions.from_spec(small_spec())
ACCOUNT_DEFINITIONS = FeatureDefinitions.from_spec(small_spec(entity="account"))


def _extra_events(rows: pd.DataFrame, picks: list[tuple[int, int, float, bool]]) -> pd.DataFrame:
    """Events at or after each picked row's cutoff (as_of, or conversion when earlier)."""
    out = []
    for row_index, event_index, hours_after, at_conversion in picks:
        row = rows.iloc[row_index % len(rows)]
        cutoff = row["as_of"]
        if at_conversion and pd.notna(row["converted_at"]):
            cutoff = row["converted_at"]
        out.append(
            {
                "user_id": row["entity_id"],
                "account_id": "a-new",
                "event": EVENT_NAMES[event_index % len(EVENT_NAMES)],
                "timestamp": cutoff + pd.Timedelta(hours=hours_after),
                "session_id": 99,
                "bytes": 1e9,
            }
        )
    return pd.DataFrame(out)


def _combined(events: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    both = pd.concat(
        [events.astype({c: object for c in ("user_id", "account_id", "event")}), extra]
    )
    return both.reset_index(drop=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    picks=st.lists(
        st.tuples(
            st.integers(0, 10_000),
            st.integers(0, 100),
            st.floats(0, 24 * 30, allow_nan=False),
            st.booleans(),
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_events_at_or_after_cutoff_never_change_a_row(seed: int, picks) -> None:
    events, rows = random_log(seed, n_users=12, n_events=300)
    before = build_features(DEFINITIONS, events, rows)
    after = build_features(DEFINITIONS, _combined(events, _extra_events(rows, picks)), rows)
    pd.testing.assert_frame_equal(before, after, check_dtype=False)


def _one_row_per_entity(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.drop_duplicates("entity_id").reset_index(drop=True)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_batch_equals_single_user(seed: int) -> None:
    events, rows = random_log(seed, n_users=30, n_events=1500)
    snapshots = pd.concat(
        [rows, rows.assign(as_of=rows["signup_at"] + pd.Timedelta(days=3))], ignore_index=True
    )
    batch = build_features(DEFINITIONS, events, snapshots)
    rng = np.random.default_rng(seed)
    for user in rng.choice(rows["entity_id"].unique(), 5, replace=False):
        own_events = events[events["user_id"] == user].copy()
        own_events["user_id"] = own_events["user_id"].astype(str)  # fresh encoding
        own_rows = snapshots[snapshots["entity_id"] == user]
        single = build_features(DEFINITIONS, own_events, own_rows)
        pd.testing.assert_frame_equal(batch.loc[own_rows.index], single, check_dtype=False)


def test_account_batch_equals_single_account() -> None:
    events, _rows = random_log(3, n_users=30, n_events=1500)
    accounts = events.groupby("account_id", observed=True)["timestamp"].min()
    account_rows = pd.DataFrame(
        {
            "entity_id": accounts.index.astype(str),
            "as_of": accounts.to_numpy() + pd.Timedelta(days=5),
            "signup_at": accounts.to_numpy(),
            "converted_at": pd.NaT,
        }
    )
    batch = build_features(ACCOUNT_DEFINITIONS, events, account_rows)
    for position, account in enumerate(account_rows["entity_id"]):
        own = events[events["account_id"] == account]
        single = build_features(ACCOUNT_DEFINITIONS, own, account_rows.iloc[[position]])
        pd.testing.assert_frame_equal(batch.iloc[[position]], single, check_dtype=False)
    assert (batch["active_users"] > 0).all()


def test_row_order_does_not_matter() -> None:
    events, rows = random_log(11)
    shuffled = rows.sample(frac=1.0, random_state=1)
    straight = build_features(DEFINITIONS, events, rows)
    again = build_features(DEFINITIONS, events.sample(frac=1.0, random_state=2), shuffled)
    pd.testing.assert_frame_equal(straight.loc[shuffled.index], again, check_dtype=False)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_live_vector_equals_batch_row(seed: int) -> None:
    """The HTTP path (plain lists, no pandas) gives the batch numbers exactly."""
    events, rows = random_log(seed, n_users=8, n_events=600)
    batch = build_features(DEFINITIONS, events, rows)
    for position in range(len(rows)):
        row = rows.iloc[position]
        own = events[events["user_id"] == row["entity_id"]]
        vector = entity_features(
            DEFINITIONS,
            event_names=own["event"].astype(str).tolist(),
            time_ms=epoch_ms(own["timestamp"]),
            signup_ms=int(epoch_ms(rows["signup_at"])[position]),
            as_of_ms=int(epoch_ms(rows["as_of"])[position]),
            converted_ms=None
            if pd.isna(row["converted_at"])
            else int(epoch_ms(rows["converted_at"])[position]),
            session_ids=own["session_id"].tolist(),
            properties={"bytes": own["bytes"].tolist()},
        )
        np.testing.assert_allclose(vector, batch.iloc[position].to_numpy(float), equal_nan=True)


def test_entity_chunks_give_the_same_matrix() -> None:
    events, rows = random_log(5, n_users=40, n_events=3000)
    entities = pd.Index(rows["entity_id"].unique())
    encoded = encode_events(DEFINITIONS, events, entities), encode_rows(rows, entities)
    whole = feature_matrix(DEFINITIONS, *encoded, n_entities=len(entities))
    chunked = feature_matrix(DEFINITIONS, *encoded, len(entities), max_chunk_events=250)
    np.testing.assert_array_equal(whole, chunked)
