"""The peer for bench_features.py: the same features in plain vectorised pandas.

Written the way a competent data scientist would: no per-user loops, one pass over the
log per snapshot cutoff (join the cutoffs, filter, group-by). It is also an independent
oracle: tests check it gives the same numbers as `features.compute` on random logs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pql.features.definitions import FeatureDefinitions

HOUR = pd.Timedelta(hours=1)
WEEK = pd.Timedelta(days=7)


def _longest_streak(events: pd.DataFrame, key: str) -> pd.Series:
    days = events[[key, "day"]].drop_duplicates().sort_values([key, "day"])
    new_run = (days[key] != days[key].shift()) | (
        days["day"] - days["day"].shift() != pd.Timedelta(days=1)
    )
    run = new_run.cumsum()
    lengths = days.groupby(run).agg(entity=(key, "first"), length=("day", "size"))
    return lengths.groupby("entity")["length"].max()


def _action_features(
    definitions: FeatureDefinitions, events: pd.DataFrame, key: str, bounds: pd.DataFrame
) -> pd.DataFrame:
    acted = events[events["action"].notna()]
    group = acted.groupby([key, "action"], observed=True)
    recent = acted[acted["timestamp"] >= acted["hi"] - WEEK]
    wide = pd.DataFrame(
        {
            "count": group.size(),
            "count_7d": recent.groupby([key, "action"], observed=True).size(),
            "active_days": group["day"].nunique(),
            "first": group["timestamp"].min(),
            "last": group["timestamp"].max(),
        }
    ).unstack("action")
    wide = wide.reindex(bounds.index)
    out = {}
    for action in definitions.actions:

        def column(measure: str, name: str = action.name) -> pd.Series:
            if (measure, name) in wide.columns:
                return wide[(measure, name)]
            return pd.Series(np.nan, index=wide.index)

        out[f"{action.name}_count"] = column("count")
        out[f"{action.name}_count_7d"] = column("count_7d")
        out[f"{action.name}_active_days"] = column("active_days")
        out[f"{action.name}_hours_to_first"] = (column("first") - bounds["signup_at"]) / HOUR
        out[f"{action.name}_hours_since_last"] = (bounds["as_of"] - column("last")) / HOUR
        if action.property_feature:
            own = acted[acted["action"] == action.name]
            aggregated = own.groupby(key, observed=True)[action.property_column].agg(
                action.aggregate
            )
            out[action.property_feature] = aggregated.reindex(bounds.index)
    return pd.DataFrame(out, index=bounds.index)


def _one_cutoff(
    definitions: FeatureDefinitions, events: pd.DataFrame, rows: pd.DataFrame, key: str
) -> pd.DataFrame:
    bounds = rows.set_index("entity_id")[["as_of", "signup_at", "converted_at"]]
    joined = events.merge(bounds, left_on=key, right_index=True, how="inner")
    stop = joined["converted_at"].fillna(joined["as_of"])
    hi = joined["as_of"].where(joined["as_of"] < stop, stop)
    hi = hi.where(hi > joined["signup_at"], joined["signup_at"])
    joined = joined[(joined["timestamp"] >= joined["signup_at"]) & (joined["timestamp"] < hi)]
    joined = joined.assign(hi=hi[joined.index])
    group = joined.groupby(key, observed=True)
    recent = joined[joined["timestamp"] >= joined["hi"] - WEEK]
    before = joined[
        (joined["timestamp"] >= joined["hi"] - 2 * WEEK)
        & (joined["timestamp"] < joined["hi"] - WEEK)
    ]
    last7 = recent.groupby(key, observed=True).size()
    prev7 = before.groupby(key, observed=True).size()
    activity = pd.DataFrame(
        {
            "events_count": group.size(),
            "events_count_7d": last7,
            "active_days": group["day"].nunique(),
            "active_days_7d": recent.groupby(key, observed=True)["day"].nunique(),
            "sessions_count": group["session_id"].nunique(),
            "longest_streak_days": _longest_streak(joined, key),
            "last": group["timestamp"].max(),
        }
    )
    activity["prev7"] = prev7
    out = bounds[["as_of", "signup_at"]].join(activity)
    out = out.join(_action_features(definitions, joined, key, bounds))
    out["tenure_days"] = (out["as_of"] - out["signup_at"]) / pd.Timedelta(days=1)
    last7, prev7 = out["events_count_7d"].fillna(0), out["prev7"].fillna(0)
    total = last7 + prev7
    out["activity_trend_7d"] = np.where(total > 0, (last7 - prev7) / total.clip(lower=1), 0.0)
    out["hours_since_last_event"] = (out["as_of"] - out["last"]) / HOUR
    counts = [f"{a.name}_count" for a in definitions.actions]
    out["actions_breadth"] = (out[counts].fillna(0) > 0).sum(axis=1)
    out.index = rows.index
    return out


def pandas_features(
    definitions: FeatureDefinitions, events: pd.DataFrame, rows: pd.DataFrame
) -> pd.DataFrame:
    """Same columns as `features.frames.build_features`, one pass per snapshot day."""
    if definitions.account_level:
        raise NotImplementedError("the peer covers user-level features")
    key = "user_id"
    action_of = {name: a.name for a in definitions.actions for name in a.events}
    columns = [key, "event", "timestamp", "session_id", *definitions.property_columns]
    events = events[columns].assign(
        action=events["event"].map(action_of).astype("category"),
        day=events["timestamp"].dt.floor("D"),
    )
    parts = [
        _one_cutoff(definitions, events, cutoff_rows, key)
        for _, cutoff_rows in rows.groupby("snapshot_day")
    ]
    frame = pd.concat(parts).loc[rows.index]
    filled = {}
    for name in definitions.names:
        values = frame[name] if name in frame.columns else pd.Series(np.nan, index=frame.index)
        never_nan = not name.endswith(("hours_to_first", "hours_since_last", "_max")) and (
            name != "hours_since_last_event"
        )
        filled[name] = values.fillna(0) if never_nan else values
    return pd.DataFrame(filled, index=rows.index)
