"""The benchmark's pandas peer and the feature core must agree to the last number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.pandas_peer import pandas_features
from pql.features.definitions import FeatureDefinitions
from pql.features.frames import build_features
from tests.conftest import random_log, small_spec


@pytest.mark.parametrize("aggregate", ["sum", "max"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_peer_matches_feature_core(seed: int, aggregate: str) -> None:
    definitions = FeatureDefinitions.from_spec(small_spec(aggregate=aggregate))
    events, rows = random_log(seed, n_users=50, n_events=4000)
    days = np.random.default_rng(seed).choice([1.0, 3.0, 7.0, 14.0], len(rows))
    rows = rows.assign(snapshot_day=days, as_of=rows["signup_at"] + pd.to_timedelta(days, unit="D"))
    # the peer counts distinct session ids; make sessions contiguous as real logs are
    events = events.sort_values(["user_id", "timestamp"])
    events["session_id"] = events["timestamp"].dt.floor("6h").astype("int64")
    ours = build_features(definitions, events, rows)
    peer = pandas_features(definitions, events, rows)
    pd.testing.assert_frame_equal(ours, peer, check_dtype=False, atol=1e-9)
