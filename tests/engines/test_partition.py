"""One partition of entities through pql's own pipeline = the whole log's rows for them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pql.engines.partition import (
    ORDER_COLUMN,
    Window,
    combine,
    decode,
    partition_features,
    summarize,
)
from pql.errors import DataError
from pql.features.pipeline import load_dataset, training_features
from pql.features.spec import load_spec


def same_rows(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Value for value, in any row order (ids and snapshot day identify a row)."""
    key = ["entity_id", "snapshot_day"] if "snapshot_day" in left else ["entity_id"]

    def tidy(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.sort_values(key, kind="stable").reset_index(drop=True)
        for name in out.columns:
            if pd.api.types.is_datetime64_any_dtype(out[name]):
                out[name] = pd.to_datetime(out[name], utc=True).astype("datetime64[us, UTC]")
            elif out[name].dtype == object or isinstance(out[name].dtype, pd.StringDtype):
                values = out[name].astype(object)
                out[name] = values.where(values.notna(), None)
            elif isinstance(out[name].dtype, pd.BooleanDtype):
                out[name] = out[name].astype(object).where(out[name].notna(), None)
            elif pd.api.types.is_extension_array_dtype(out[name].dtype):
                out[name] = out[name].astype("float64")
        return out

    assert list(left.columns) == list(right.columns)
    assert len(left) == len(right)
    pd.testing.assert_frame_equal(tidy(left), tidy(right), check_exact=True, check_dtype=False)


def buckets(frame: pd.DataFrame, key: str, count: int) -> np.ndarray:
    return pd.util.hash_array(frame[key].astype(str).to_numpy()) % count


def test_partitions_rebuild_the_whole_logs_features(skewed_folder: Path) -> None:
    spec = load_spec(skewed_folder / "pql.yaml")
    events = pd.read_parquet(skewed_folder / "events.parquet")
    trials = pd.read_parquet(skewed_folder / "trials.parquet")
    whole = load_dataset(spec)
    expected, _ = training_features(whole)
    count = 5
    event_part, trial_part = buckets(events, "user_id", count), buckets(trials, "user_id", count)
    summaries, parts = [], []
    window = Window(whole.data_start, whole.data_end)
    for part in range(count):
        # shuffled, as a cluster hands rows over: the order column restores source order
        ev = events[event_part == part].assign(**{ORDER_COLUMN: lambda f: f.index})
        ev = decode(ev.sample(frac=1.0, random_state=part))
        tr = decode(trials[trial_part == part])
        summaries.append(summarize(spec, ev, tr))
        parts.append(partition_features(spec, ev, tr, window))
    # an empty partition (no events, no trials) adds nothing and breaks nothing
    empty_events, empty_trials = events.iloc[:0], trials.iloc[:0]
    summaries.append(summarize(spec, empty_events, empty_trials))
    parts.append(partition_features(spec, empty_events, empty_trials, window))
    summary = combine(pd.concat(summaries, ignore_index=True))
    assert summary.window == window
    assert (summary.rows_read, summary.entities) == (whole.quality.rows_read, len(whole.entities))
    assert summary.conversions == whole.quality.conversions
    assert summary.not_used == whole.quality.not_used_in_features
    same_rows(pd.concat(parts, ignore_index=True), expected)


def test_a_partitions_error_is_raised_as_pqls_error(skewed_folder: Path) -> None:
    spec = load_spec(skewed_folder / "pql.yaml")
    trials = pd.read_parquet(skewed_folder / "trials.parquet")
    twice = pd.concat([trials.iloc[:1], trials.iloc[:1].assign(plan="other")])
    row = summarize(spec, pd.read_parquet(skewed_folder / "events.parquet").iloc[:0], twice)
    with pytest.raises(DataError, match="more than one row"):
        combine(row)


def test_partitions_take_the_shape_from_the_spec_never_from_their_own_rows(
    skewed_folder: Path,
) -> None:
    """A partition sees a slice of the entities, so inferring the shape there could cut
    one partition as a trial and another as freemium: engines need the spec to say."""
    from pql.engines.partition import partition_dataset
    from pql.errors import UsageError

    spec = load_spec(skewed_folder / "pql.yaml")
    events = pd.read_parquet(skewed_folder / "events.parquet")
    trials = pd.read_parquet(skewed_folder / "trials.parquet")
    pinned = partition_dataset(spec, events, trials)  # trial ends in the trials table
    assert pinned.product_shape.shape == "trial" and not pinned.product_shape.inferred
    freemium = spec.model_copy(update={"shape": "freemium"})
    assert partition_dataset(freemium, events, None).product_shape.shape == "freemium"
    no_trials = spec.model_copy(
        update={
            "data": spec.data.model_copy(update={"trials": None}),
            "label": spec.label.model_copy(update={"conversion_event": "subscribe"}),
        }
    )
    with pytest.raises(UsageError, match="key 'shape'"):
        partition_dataset(no_trials, events, None)
