"""Labels for snapshot rows: did the entity convert within the horizon after `as_of`?

DESIGN section 3: label = converted in ``[as_of, as_of + horizon)``. A row whose horizon
runs past the end of the observed data cannot be labelled either way (a conversion
may still come), so it is excluded from training and counted, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class LabeledRows:
    rows: pd.DataFrame  # labelled rows only, with a 0/1 `label` column
    unlabeled: int  # rows whose horizon runs past the end of the data


def label_rows(rows: pd.DataFrame, horizon_days: float, data_end: pd.Timestamp) -> LabeledRows:
    """Attach labels to snapshot rows (entity_id, as_of, converted_at, ...)."""
    horizon = pd.Timedelta(days=horizon_days)
    window_end = rows["as_of"] + horizon
    observable = window_end <= data_end
    converted = rows["converted_at"]
    label = converted.notna() & (converted >= rows["as_of"]) & (converted < window_end)
    labeled = rows[observable].assign(label=label[observable].astype("int8"))
    return LabeledRows(rows=labeled.reset_index(drop=True), unlabeled=int((~observable).sum()))
