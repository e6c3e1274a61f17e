"""Negative down-sampling with weight correction (`model.negative_sample`).

Why: with many millions of snapshot rows, most of them negatives, LightGBM's binned copy
of the rows and its training time grow with every row, while the information is in the
rare positives. Keeping every positive and a fixed share `rate` of the negatives, and
weighting each kept negative by 1 / rate, leaves the expected loss of every model the
same as on all rows: the booster and the calibrator (both fitted with these weights)
still estimate the true conversion probability, not the sampled rows' inflated rate.

Which negatives are kept is a hash of (entity, snapshot day, seed), not a random draw
over the frame: the same row is kept whatever order the rows arrive in (the local,
bucket and Spark engines gather them in different orders), and a run is repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Sampled:
    """The rows a model is fitted on, with their weights (None: every row, weight 1)."""

    rows: pd.DataFrame
    weight: np.ndarray | None
    rate: float
    negatives: int  # negative rows before sampling
    negatives_kept: int


def _uniform(rows: pd.DataFrame, seed: int) -> np.ndarray:
    """A number in [0, 1) per row, fixed by its entity, snapshot day and the seed."""
    keys = pd.DataFrame(
        {
            "entity_id": rows["entity_id"].astype(str).to_numpy(),
            "snapshot_day": rows["snapshot_day"].to_numpy(np.float64),
        }
    )
    key = f"{seed % 10**16:016d}"  # hash_pandas_object takes a 16-character key
    hashed = pd.util.hash_pandas_object(keys, index=False, hash_key=key).to_numpy(np.uint64)
    return (hashed >> np.uint64(11)).astype(np.float64) / float(2**53)


def keep_negatives(rows: pd.DataFrame, rate: float, seed: int) -> Sampled:
    """Every positive row, negatives at `rate`; kept negatives weigh 1 / rate."""
    negative = rows["label"].to_numpy() == 0
    if rate >= 1:
        count = int(negative.sum())
        return Sampled(rows, None, 1.0, count, count)
    kept = ~negative | (_uniform(rows, seed) < rate)
    out = rows[kept]
    weight = np.where(negative[kept], 1.0 / rate, 1.0)
    return Sampled(out, weight, rate, int(negative.sum()), int((negative & kept).sum()))
