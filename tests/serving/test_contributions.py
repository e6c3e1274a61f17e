"""Contributions looked up per split pattern equal LightGBM's own `pred_contrib`."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from pql.serving.contributions import TreeContributions


def _data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts with many zeros, a continuous column and missing values."""
    rng = np.random.default_rng(seed)
    matrix = np.column_stack(
        [
            rng.poisson(1.0, rows).astype(float),
            rng.poisson(4.0, rows).astype(float),
            rng.normal(0, 1, rows),
            np.where(rng.random(rows) < 0.3, np.nan, rng.exponential(30, rows)),
            rng.integers(0, 3, rows).astype(float),
        ]
    )
    logit = matrix[:, 0] - 0.3 * matrix[:, 1] + np.nan_to_num(matrix[:, 3], nan=-20) / 30
    return matrix, (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)


def _booster(matrix: np.ndarray, label: np.ndarray, **params: object) -> lgb.Booster:
    base = {"objective": "binary", "verbose": -1, "num_leaves": 7, "min_data_in_leaf": 5}
    return lgb.train({**base, **params}, lgb.Dataset(matrix, label), num_boost_round=40)


def _edge_rows(booster: lgb.Booster, width: int) -> np.ndarray:
    """Rows exactly on the model's thresholds, at zero, tiny and missing."""
    thresholds = [
        node["threshold"]
        for tree in booster.dump_model()["tree_info"]
        for node in _nodes(tree["tree_structure"])
    ]
    values = np.array([*thresholds, 0.0, -0.0, 1e-40, -1e-40, np.nan, np.inf, -np.inf])
    rng = np.random.default_rng(3)
    return rng.choice(values, size=(400, width))


def _nodes(node: dict) -> list[dict]:
    if "leaf_value" in node:
        return []
    return [node, *_nodes(node["left_child"]), *_nodes(node["right_child"])]


@pytest.mark.parametrize(
    "params",
    [
        {},  # missing values as NaN
        {"zero_as_missing": True},  # missing type "Zero": 0 and NaN go the default way
        {"use_missing": False},  # missing type "None": NaN reads as 0
        {"num_leaves": 31, "max_depth": -1},  # deeper trees: codes beyond a direct table
    ],
)
def test_equal_to_lightgbm_on_every_kind_of_split(params: dict) -> None:
    matrix, label = _data(3000, 1)
    booster = _booster(matrix, label, **params)
    fast = TreeContributions.for_booster(booster)
    assert fast is not None
    rows = np.vstack([_data(2000, 2)[0], _edge_rows(booster, matrix.shape[1])])
    expected = booster.predict(rows, pred_contrib=True)
    # twice: the first call learns the patterns, the second only looks them up
    for _ in range(2):
        got = fast(rows)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_rows_of_a_pattern_seen_earlier_are_not_sent_to_lightgbm() -> None:
    matrix, label = _data(3000, 1)
    fast = TreeContributions.for_booster(_booster(matrix, label))
    assert fast is not None
    fast(matrix[:1000])
    calls = []
    original = fast.booster.predict
    fast.booster.predict = lambda *a, **k: calls.append(1) or original(*a, **k)  # type: ignore[method-assign]
    fast(matrix[:1000])
    assert calls == []


def test_a_model_with_categorical_splits_is_left_to_lightgbm() -> None:
    matrix, _ = _data(3000, 1)
    label = (matrix[:, 4] == 1).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7},
        lgb.Dataset(matrix, label, categorical_feature=[4]),
        num_boost_round=20,
    )
    kinds = {
        node["decision_type"]
        for t in booster.dump_model()["tree_info"]
        for node in _nodes(t["tree_structure"])
    }
    assert "==" in kinds
    assert TreeContributions.for_booster(booster) is None
