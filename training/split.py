"""Train / validation / test by entity and by signup time.

Why: a model is used on users who sign up after it was trained. Splitting rows at
random would let the same user's earlier snapshot train the model that is tested on
their later one, and would mix future cohorts into training. Here every entity sits on
exactly one side and later signups are held out (DESIGN section 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pql.errors import PqlError

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SplitSummary:
    name: str
    entities: int
    rows: int
    positives: int
    first_signup: str
    last_signup: str

    @property
    def positive_rate(self) -> float:
        return self.positives / self.rows if self.rows else float("nan")


def assign_splits(
    rows: pd.DataFrame, validation_fraction: float, test_fraction: float
) -> pd.Series:
    """Split name per row: entities ordered by signup, the latest ones held out."""
    entities = (
        rows[["entity_id", "signup_at"]]
        .drop_duplicates("entity_id")
        .sort_values(["signup_at", "entity_id"], kind="stable")
    )
    n = len(entities)
    n_test = round(n * test_fraction)
    n_validation = round(n * validation_fraction)
    n_train = n - n_test - n_validation
    if min(n_train, n_validation, n_test) < 1:
        raise PqlError(
            f"only {n} entities with labelled rows: too few to split into train, "
            "validation and test by signup time"
        )
    names = np.repeat(np.array(SPLITS), [n_train, n_validation, n_test])
    split_of = pd.Series(names, index=entities["entity_id"].to_numpy())
    return pd.Series(split_of.reindex(rows["entity_id"]).to_numpy(), index=rows.index)


def summarize_splits(rows: pd.DataFrame, split: pd.Series) -> list[SplitSummary]:
    summaries = []
    for name in SPLITS:
        part = rows[split == name]
        summaries.append(
            SplitSummary(
                name=name,
                entities=int(part["entity_id"].nunique()),
                rows=len(part),
                positives=int(part["label"].sum()),
                first_signup=str(part["signup_at"].min()),
                last_signup=str(part["signup_at"].max()),
            )
        )
    return summaries
