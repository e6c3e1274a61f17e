"""The cutoff-time split: later cutoffs held out, no label window reaching a later part."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pql.errors import PqlError
from pql.training.time_split import GAP, assign_time_splits

T0 = pd.Timestamp("2025-01-01", tz="UTC")


def _rows(n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    days = np.sort(rng.uniform(0, 365, n))
    return pd.DataFrame(
        {
            "entity_id": [f"u{i % 50}" for i in range(n)],
            "as_of": T0 + pd.to_timedelta(days, unit="D"),
        }
    )


def test_parts_follow_cutoff_time_and_labels_never_reach_a_later_part() -> None:
    rows = _rows()
    horizon = pd.Timedelta(days=28)
    split = assign_time_splits(rows, 0.2, 0.2, 28)
    parts = {name: rows.loc[split == name, "as_of"] for name in ("train", "validation", "test")}
    assert parts["train"].max() < parts["validation"].min() < parts["test"].min()
    assert (parts["train"] + horizon).max() <= parts["validation"].min()
    assert (parts["validation"] + horizon).max() <= parts["test"].min()
    assert (split == "test").sum() == 80  # the latest fifth of the rows
    gap = rows.loc[split == GAP, "as_of"]
    assert len(gap) > 0 and gap.min() > parts["train"].max()


def test_a_longer_horizon_purges_more() -> None:
    rows = _rows()
    short = (assign_time_splits(rows, 0.2, 0.2, 7) == GAP).sum()
    long = (assign_time_splits(rows, 0.2, 0.2, 60) == GAP).sum()
    assert 0 < short < long


def test_too_few_rows_to_split() -> None:
    with pytest.raises(PqlError, match="too few to split"):
        assign_time_splits(_rows(2), 0.2, 0.2, 28)
