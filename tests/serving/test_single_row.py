"""LightGBM's single-row fast path gives `Booster.predict`'s contributions bit for bit,
from many threads at once too."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import lightgbm as lgb
import numpy as np
import pytest

from pql.serving.single_row import SingleRowContributions


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2_000, 12))
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values take their own branch
    x[:, 11] = rng.integers(0, 6, len(x))  # a native categorical, as fit attributes are
    y = np.nan_to_num(x[:, 0]) + (x[:, 11] == 2) + rng.normal(0, 0.5, len(x)) > 0.5
    data = lgb.Dataset(x, y.astype(int), categorical_feature=[11])
    params = {"objective": "binary", "num_leaves": 15, "verbose": -1, "min_data_in_leaf": 5}
    return lgb.train(params, data, num_boost_round=40)


def _rows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.normal(0, 3, size=(n, 12))
    rows[rng.random(rows.shape) < 0.15] = np.nan
    rows[:, 11] = rng.choice([0, 1, 2, 5, 9, np.nan], n)  # 9: a level never seen
    return rows


def test_equals_booster_predict_bit_for_bit(booster) -> None:
    fast = SingleRowContributions.for_model(booster.model_to_string())
    assert fast is not None  # this LightGBM offers it: the service uses it
    for row in _rows(300, seed=4):
        expected = booster.predict(row.reshape(1, -1), pred_contrib=True, num_threads=1)
        np.testing.assert_array_equal(fast(row), expected)


def test_many_threads_at_once_get_their_own_rows(booster) -> None:
    fast = SingleRowContributions.for_model(booster.model_to_string())
    assert fast is not None
    rows = _rows(400, seed=5)
    expected = booster.predict(rows, pred_contrib=True, num_threads=1)
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = np.vstack(list(pool.map(fast, rows)))
    np.testing.assert_array_equal(got, expected)


def test_a_row_of_the_wrong_width_is_refused(booster) -> None:
    fast = SingleRowContributions.for_model(booster.model_to_string())
    assert fast is not None
    with pytest.raises(ValueError, match="expected 12 features, got 11"):
        fast(np.zeros(11))


def test_other_predictions_on_the_same_booster_change_nothing(booster) -> None:
    """Per-tree predictions (as batch contributions make) on the model's booster leave
    LightGBM's stored iteration range at one tree; the fast path has its own copy."""
    fast = SingleRowContributions.for_model(booster.model_to_string())
    assert fast is not None
    rows = _rows(20, seed=6)
    booster.predict(rows, pred_contrib=True, start_iteration=5, num_iteration=1)
    expected = booster.predict(rows, pred_contrib=True, num_threads=1)
    booster.predict(rows[:1], pred_leaf=True, start_iteration=7, num_iteration=1)
    for row, want in zip(rows, expected, strict=True):
        np.testing.assert_array_equal(fast(row)[0], want)
