"""Freemium training rows: every still-free entity at calendar cut dates.

Why calendar dates, not ages: a freemium model scores every free user at one moment
(today), whatever their age. Rows cut at calendar dates (every `freemium.every_days`
from the first event) are exactly such moments: at each cut, every entity that had
signed up, had not converted and is at most `freemium.max_age_days` old. So the rows
hold the ages, recencies and totals a scoring run holds, the 3-day-old and the
300-day-old user side by side; monitoring compares like with like, and the label
(converts within the horizon after the cut) is the question a scoring run asks.

Rows per entity are at most `max_age_days / every_days`; a cut is never after the end
of the observed events.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pql.features.rows import SnapshotRows

DAY = pd.Timedelta(days=1)


def cut_dates(
    data_start: pd.Timestamp, data_end: pd.Timestamp, every_days: float
) -> pd.DatetimeIndex:
    """data_start + k * every_days for k = 1, 2, ... up to data_end."""
    every = pd.Timedelta(days=every_days)
    count = int((data_end - data_start) // every)
    return pd.DatetimeIndex([data_start + k * every for k in range(1, count + 1)])


def calendar_rows(
    entities: pd.DataFrame,
    every_days: float,
    max_age_days: float,
    data_end: pd.Timestamp,
    data_start: pd.Timestamp,
) -> SnapshotRows:
    """Every entity at every cut date after its signup, up to its max age (vectorised)."""
    cuts = cut_dates(data_start, data_end, every_days)
    if not len(cuts) or not len(entities):
        empty = entities.iloc[0:0].copy()
        empty.insert(2, "snapshot_day", pd.Series(dtype=float))
        empty.insert(3, "as_of", pd.Series(dtype="datetime64[ns, UTC]"))
        return SnapshotRows(rows=empty, candidates=0, converted_before=0, beyond_data=0)
    every = pd.Timedelta(days=every_days)
    since_start = (entities["signup_at"] - data_start) / every
    oldest = (entities["signup_at"] + pd.Timedelta(days=max_age_days) - data_start) / every
    # cut k (1-based) lies strictly after signup and at most max_age_days after it
    first = np.maximum(np.floor(since_start.to_numpy(float)).astype(np.int64) + 1, 1)
    last = np.minimum(np.floor(oldest.to_numpy(float)).astype(np.int64), len(cuts))
    counts = np.maximum(last - first + 1, 0)
    repeated = entities.loc[entities.index.repeat(counts)].reset_index(drop=True)
    starts = np.repeat(first, counts)
    offsets = np.arange(len(repeated)) - np.repeat(np.cumsum(counts) - counts, counts)
    as_of = pd.Series(cuts[starts + offsets - 1], index=repeated.index)
    repeated.insert(2, "snapshot_day", ((as_of - repeated["signup_at"]) / DAY).to_numpy(float))
    repeated.insert(3, "as_of", as_of)
    converted_before = repeated["converted_at"].notna() & (
        repeated["converted_at"] < repeated["as_of"]
    )
    kept = repeated[~converted_before].reset_index(drop=True)
    return SnapshotRows(
        rows=kept,
        candidates=len(repeated),
        converted_before=int(converted_before.sum()),
        beyond_data=0,
    )
