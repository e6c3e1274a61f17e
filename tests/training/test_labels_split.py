"""Labels follow the horizon window exactly; splits keep entities apart and in time order."""

from __future__ import annotations

import pandas as pd
import pytest

from pql.errors import PqlError
from pql.training.labels import label_rows
from pql.training.split import assign_splits

T = pd.Timestamp


def _rows() -> pd.DataFrame:
    as_of = T("2026-03-01", tz="UTC")
    return pd.DataFrame(
        {
            "entity_id": ["a", "b", "c", "d", "e"],
            "as_of": [as_of] * 4 + [T("2026-03-25", tz="UTC")],
            "converted_at": [
                as_of,  # at the cutoff: inside [as_of, as_of + h)
                as_of + pd.Timedelta(days=14),  # exactly at the window end: outside
                as_of + pd.Timedelta(days=13, hours=23),
                pd.NaT,
                pd.NaT,  # horizon runs past the data end
            ],
        }
    )


def test_label_window_is_half_open() -> None:
    labeled = label_rows(_rows(), 14, T("2026-04-01", tz="UTC"))
    assert labeled.rows.set_index("entity_id")["label"].to_dict() == {
        "a": 1,
        "b": 0,
        "c": 1,
        "d": 0,
    }
    assert labeled.unlabeled == 1


def test_split_by_entity_and_signup_time() -> None:
    signup = pd.date_range("2026-01-01", periods=50, freq="D", tz="UTC")
    rows = pd.DataFrame(
        {"entity_id": [f"u{i}" for i in range(50)] * 2, "signup_at": list(signup) * 2}
    )
    split = assign_splits(rows, 0.2, 0.2)
    per_entity = split.groupby(rows["entity_id"]).nunique()
    assert (per_entity == 1).all()  # one entity never sits on both sides
    last_train = rows.loc[split == "train", "signup_at"].max()
    assert rows.loc[split == "validation", "signup_at"].min() > last_train
    assert (
        rows.loc[split == "test", "signup_at"].min()
        > rows.loc[split == "validation", "signup_at"].max()
    )
    assert (split == "test").sum() == 20


def test_too_few_entities_to_split() -> None:
    rows = pd.DataFrame({"entity_id": ["a", "b"], "signup_at": pd.Timestamp("2026-01-01")})
    with pytest.raises(PqlError, match="too few to split"):
        assign_splits(rows, 0.2, 0.2)
