"""Score every eligible entity of a data set at one point in time."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.pipeline import Dataset, live_features
from serving.scoring import Scorer


@dataclass(frozen=True)
class BatchScores:
    leads: pd.DataFrame  # one row per scored entity, best first
    not_scored: pd.DataFrame  # entity_id, account_id, reason
    as_of: pd.Timestamp


def score_dataset(scorer: Scorer, dataset: Dataset, as_of: pd.Timestamp) -> BatchScores:
    """Live features at `as_of` through the training code path, then scores and reasons."""
    frame, live = live_features(dataset, as_of)
    leads = scorer.score_frame(frame)
    leads = leads.sort_values("probability", ascending=False, kind="stable")
    return BatchScores(leads=leads.reset_index(drop=True), not_scored=live.not_scored, as_of=as_of)
