"""Scoring units `(entity, as_of)` for training snapshots and for live scoring.

DESIGN section 3: a training row sits at `signup_at + d days` for each snapshot day `d`,
kept only if the entity had not converted before `as_of` and `as_of` is not after the
end of the observed data. When the log starts after some signups (a registration
column or a trials table older than the event export), a cutoff at or before the first
event would see no events at all: such rows are dropped and counted too. A live row
sits at one `as_of` for every entity that had signed up and not yet converted; the
others are listed with the reason, not dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ROW_ID_COLUMNS = ("entity_id", "account_id", "snapshot_day", "as_of", "signup_at", "converted_at")


@dataclass(frozen=True)
class SnapshotRows:
    rows: pd.DataFrame
    candidates: int  # entities x snapshot days before any filter
    converted_before: int  # dropped: converted before as_of
    beyond_data: int  # dropped: as_of after the end of the observed data
    before_data: int = 0  # dropped: as_of at or before the first observed event


def snapshot_rows(
    entities: pd.DataFrame,
    snapshots_days: list[float],
    data_end: pd.Timestamp,
    data_start: pd.Timestamp | None = None,
) -> SnapshotRows:
    """All training cutoffs at once (one vectorised cross join, no per-entity loop)."""
    days = np.asarray(snapshots_days, dtype=float)
    repeated = entities.loc[entities.index.repeat(len(days))].reset_index(drop=True)
    repeated.insert(2, "snapshot_day", np.tile(days, len(entities)))
    offsets = pd.to_timedelta(repeated["snapshot_day"], unit="D")
    repeated.insert(3, "as_of", repeated["signup_at"] + offsets)
    converted_before = repeated["converted_at"].notna() & (
        repeated["converted_at"] < repeated["as_of"]
    )
    beyond = ~converted_before & (repeated["as_of"] > data_end)
    before = ~converted_before & ~beyond
    before &= (repeated["as_of"] <= data_start) if data_start is not None else False
    kept = repeated[~converted_before & ~beyond & ~before].reset_index(drop=True)
    return SnapshotRows(
        rows=kept,
        candidates=len(repeated),
        converted_before=int(converted_before.sum()),
        beyond_data=int(beyond.sum()),
        before_data=int(before.sum()),
    )


@dataclass(frozen=True)
class LiveRows:
    rows: pd.DataFrame
    not_scored: pd.DataFrame  # entity_id, account_id, reason


#: Why an entity is not scored at `as_of`: the same words in the leads file and over HTTP.
SIGNED_UP_AFTER = "signed up after as_of"
ALREADY_CONVERTED = "already converted before as_of"
TRIAL_ENDED = "trial ended before as_of"


def not_scored_reason(
    signup_ms: int, as_of_ms: int, converted_ms: int | None = None, trial_end_ms: int | None = None
) -> str | None:
    """One entity's reason not to be scored at `as_of` (None: it is scored).

    The single rule behind batch scoring (`live_rows`) and POST /score; the first that
    applies wins: not signed up yet, then converted, then a trial that ended.
    """
    if signup_ms > as_of_ms:
        return SIGNED_UP_AFTER
    if converted_ms is not None and converted_ms < as_of_ms:
        return ALREADY_CONVERTED
    if trial_end_ms is not None and trial_end_ms < as_of_ms:
        return TRIAL_ENDED
    return None


def live_rows(entities: pd.DataFrame, as_of: pd.Timestamp) -> LiveRows:
    """Every entity that can be scored at `as_of`; the rest with the reason why not."""
    table = entities.copy()
    table.insert(2, "snapshot_day", np.nan)
    table.insert(3, "as_of", as_of)
    not_signed_up = table["signup_at"] > as_of
    converted = table["converted_at"].notna() & (table["converted_at"] < as_of)
    reason = pd.Series(pd.NA, index=table.index, dtype="string")
    if "trial_end_at" in table.columns:  # a lapsed trial is no lead; the model never saw one
        ended = table["trial_end_at"].notna() & (table["trial_end_at"] < as_of)
        reason[ended] = TRIAL_ENDED
    reason[converted] = ALREADY_CONVERTED
    reason[not_signed_up] = SIGNED_UP_AFTER
    scored = reason.isna()
    not_scored = table.loc[~scored, ["entity_id", "account_id"]].assign(reason=reason[~scored])
    return LiveRows(
        rows=table[scored].reset_index(drop=True), not_scored=not_scored.reset_index(drop=True)
    )
