"""Negative down-sampling with weight correction keeps probabilities calibrated.

The model fitted on every positive and a tenth of the negatives (weighted 10) must state
the held-out conversion rate about as well as the model fitted on every row (within the
rate's 95% interval width of the full model's gap); the same sampled rows calibrated
WITHOUT the weights overstate it more than twice, so the check below is one that fails
when the weights are missing.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from pql.training.calibration import choose_calibrator
from pql.training.labels import label_rows
from pql.training.metrics import expected_calibration_error, wilson_interval
from pql.training.model import raw_scores
from pql.training.rows import from_dataset
from pql.training.sampling import keep_negatives
from pql.training.split import assign_splits
from pql.training.train import train_rows

RATE = 0.1


def _rows(n: int = 4000) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "entity_id": [f"u{i}" for i in range(n)],
            "snapshot_day": rng.choice([1.0, 3.0, 7.0], n),
            "label": (rng.random(n) < 0.05).astype("int8"),
        }
    )


def test_every_positive_is_kept_and_negatives_at_the_rate_whatever_the_order() -> None:
    rows = _rows()
    sampled = keep_negatives(rows, RATE, seed=42)
    positives = int(rows["label"].sum())
    assert int(sampled.rows["label"].sum()) == positives
    negatives = len(rows) - positives
    assert sampled.negatives == negatives
    low, high = wilson_interval(sampled.negatives_kept, negatives)
    assert low <= RATE <= high
    assert sampled.weight is not None
    assert set(np.unique(sampled.weight)) == {1.0, 1 / RATE}
    assert (sampled.weight[sampled.rows["label"].to_numpy() == 1] == 1.0).all()
    # the same rows are kept in any order (engines gather rows in different orders)
    shuffled = keep_negatives(rows.sample(frac=1.0, random_state=3), RATE, seed=42)
    assert set(shuffled.rows.index) == set(sampled.rows.index)
    # another seed keeps other negatives
    other = keep_negatives(rows, RATE, seed=43)
    assert set(other.rows.index) != set(sampled.rows.index)
    # rate 1: every row, no weights (training is exactly as without sampling)
    every = keep_negatives(rows, 1.0, seed=42)
    assert every.weight is None and every.rows is rows


def _gap(y: np.ndarray, probability: np.ndarray) -> float:
    """How far the mean stated probability is from the observed conversion rate."""
    return abs(float(probability.mean()) - float(y.mean()))


@pytest.mark.slow
def test_downsampled_model_stays_calibrated_on_unsampled_test_rows(trained) -> None:
    source = from_dataset(trained.dataset)
    spec = source.spec
    sampled_spec = spec.model_copy(
        update={"model": spec.model.model_copy(update={"negative_sample": RATE})}
    )
    full = trained.result
    sampled = train_rows(replace(source, spec=sampled_spec))

    # test rows are never sampled: the same rows as the full model's
    assert len(sampled.test) == len(full.test)
    assert sampled.metrics["test_positives"] == full.metrics["test_positives"]
    assert sampled.sampling["rate"] == RATE and sampled.sampling["negative_weight"] == 10
    kept = sampled.sampling["train_negatives_kept"] / sampled.sampling["train_negatives"]
    assert 0.07 < kept < 0.13
    assert sampled.bundle.info["negative_sample"] == RATE

    y = sampled.test["label"].to_numpy()
    # calibrated like the model fitted on every row: its gap to the observed rate (later
    # cohorts drift a little) plus twice the half-width of the rate's 95% interval
    low, high = wilson_interval(int(y.sum()), len(y))
    allowed = _gap(y, full.test["probability"].to_numpy()) + (high - low)
    gap = _gap(y, sampled.test["probability"].to_numpy())
    assert gap <= allowed, (gap, allowed)
    assert sampled.metrics["test_ece"] <= full.metrics["test_ece"] + 0.01
    assert sampled.metrics["test_roc_auc"] > full.metrics["test_roc_auc"] - 0.02

    # the counterfactual: the same sampled validation rows, calibrated without weights
    labeled = label_rows(source.rows, spec.label.horizon_days, source.data_end).rows
    split = assign_splits(
        labeled, spec.model.split.validation_fraction, spec.model.split.test_fraction
    )
    validation = keep_negatives(labeled[split == "validation"], RATE, spec.model.seed)
    names = list(sampled.bundle.feature_names)
    booster = sampled.bundle.booster
    validation_raw = raw_scores(booster, validation.rows[names])
    validation_y = validation.rows["label"].to_numpy()
    test_raw = raw_scores(booster, sampled.test[names])
    unweighted = choose_calibrator(validation_raw, validation_y, spec.model.seed).calibrator
    weighted = choose_calibrator(
        validation_raw, validation_y, spec.model.seed, weight=validation.weight
    ).calibrator
    overstated = unweighted(test_raw)
    assert _gap(y, overstated) > allowed, (_gap(y, overstated), allowed)
    assert overstated.mean() > 2 * y.mean()
    assert expected_calibration_error(y, overstated) > 3 * sampled.metrics["test_ece"]
    # and the weights are what puts it right (this is what train_rows does)
    assert _gap(y, weighted(test_raw)) <= allowed
