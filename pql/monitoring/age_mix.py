"""Drift that is only the age mix of who was scored (freemium products).

Why: a freemium model is trained on cutoffs across the whole free life, so its training
rows hold many young ages (every user has them) and fewer old ones; a scoring run holds
every free user at their age today. Totals such as `events_count` grow with age, so
their distribution moves with the age mix alone, and retraining on the same cutoffs
cannot change that. The check: weight the run's rows so their ages (`tenure_days`, in
the training reference's bins) are distributed as training's, and measure PSI again.
If behaviour at each age is as in training, the weighted PSI is small: the shift is the
age mix, not behaviour. Rows older than any training row get no weight (the moment
check of `pql score` counts them). Only marginal bins are stored, so the check needs a
run that holds users across the training ages (a run of every free user does); a run
of only old users stays drifted, and the advice says so as before.
"""

from __future__ import annotations

import numpy as np

from pql.training.drift import bin_proportions, psi

TENURE = "tenure_days"


def _bin_index(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Bin of each value as `bin_proportions` counts it (the last bin: missing)."""
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")
    return np.where(np.isfinite(values), index, len(edges) + 1)


def age_weights(reference: dict[str, list[float]], tenure: np.ndarray) -> np.ndarray | None:
    """Per scored row, the weight that gives the run training's age distribution."""
    tenure = np.asarray(tenure, dtype=np.float64)
    if not len(tenure):
        return None
    expected = np.asarray(reference["proportions"], dtype=np.float64)
    actual = bin_proportions(tenure, reference["edges"])
    per_bin = np.divide(expected, actual, out=np.zeros_like(expected), where=actual > 0)
    weights = per_bin[_bin_index(tenure, reference["edges"])]
    return weights / weights.sum() if weights.sum() > 0 else None


def weighted_psi(
    reference: dict[str, list[float]], values: np.ndarray, weights: np.ndarray
) -> float:
    """PSI of weighted values against one feature's reference bins."""
    values = np.asarray(values, dtype=np.float64)
    index = _bin_index(values, reference["edges"])
    actual = np.bincount(index, weights=weights, minlength=len(reference["edges"]) + 2)
    return psi(reference["proportions"], actual / actual.sum())


def age_adjusted_psi(
    reference: dict[str, dict[str, list[float]]], frame, names: list[str]
) -> dict[str, float]:
    """Feature -> PSI once the run's ages are weighted like training's ({} if unknown)."""
    if TENURE not in reference or TENURE not in frame:
        return {}
    weights = age_weights(reference[TENURE], frame[TENURE].to_numpy(np.float64))
    if weights is None:
        return {}
    return {
        name: weighted_psi(reference[name], frame[name].to_numpy(np.float64), weights)
        for name in names
        if name in reference and name in frame and name != TENURE
    }
