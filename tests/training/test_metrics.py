"""Metrics: hand-checked numbers, ties, degenerate labels, curve shapes."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from pql.training.metrics import (
    METRIC_KEYS,
    calibration_curve,
    evaluate,
    expected_calibration_error,
    gain_curve,
    threshold_for_top_percent,
    threshold_table,
    top_fraction_stats,
)


def test_ece_matches_hand_computation() -> None:
    # bin [0.1, 0.2): p 0.1, 0.1 (mean 0.1), y 0, 1 (rate 0.5) -> gap 0.4, 2 rows
    # bin [0.8, 0.9): p 0.8, 0.8, 0.8 (mean 0.8), y 1, 1, 0 (rate 2/3) -> gap 2/15, 3 rows
    # bin [0.9, 1.0]: p 1.0 (mean 1.0), y 1 -> gap 0, 1 row
    y = [0, 1, 1, 1, 0, 1]
    p = [0.1, 0.1, 0.8, 0.8, 0.8, 1.0]
    expected = (2 * 0.4 + 3 * (0.8 - 2 / 3) + 1 * 0.0) / 6
    assert expected_calibration_error(y, p) == pytest.approx(expected)
    assert expected_calibration_error(y, p) == pytest.approx(0.2)


def test_ece_is_zero_when_perfectly_calibrated_and_binning_matters() -> None:
    y = [0, 1, 0, 0, 0]
    p = [0.2] * 5
    assert expected_calibration_error(y, p) == pytest.approx(0.0)
    # one bin pools 0.05 and 0.95: the means match (0.5 vs 0.5) though rows do not
    assert expected_calibration_error([0, 1], [0.05, 0.95], bins=1) == pytest.approx(0.0)
    assert expected_calibration_error([0, 1], [0.05, 0.95], bins=10) == pytest.approx(0.05)


def test_calibration_curve_columns_and_counts() -> None:
    curve = calibration_curve([0, 1, 1, 1, 0, 1], [0.1, 0.1, 0.8, 0.8, 0.8, 1.0])
    assert list(curve.columns) == ["bin_low", "bin_high", "mean_predicted", "observed_rate", "rows"]
    assert curve["rows"].tolist() == [2, 3, 1]
    assert curve["bin_low"].tolist() == pytest.approx([0.1, 0.8, 0.9])
    assert curve["observed_rate"].tolist() == pytest.approx([0.5, 2 / 3, 1.0])


def test_top_fraction_without_ties() -> None:
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    score = np.arange(10, 0, -1)  # row 0 highest
    precision, lift = top_fraction_stats(y, score, 0.2)
    assert precision == pytest.approx(0.5)  # rows 0, 1
    assert lift == pytest.approx(0.5 / 0.2)
    precision, _ = top_fraction_stats(y, score, 0.3)
    assert precision == pytest.approx(2 / 3)


def test_top_fraction_ties_use_the_tied_group_rate() -> None:
    # a binary rule flags 30 of 100 rows; 12 of them convert, 8 of the other 70 do
    y = np.zeros(100)
    y[:12] = 1
    y[30:38] = 1
    flag = np.r_[np.ones(30), np.zeros(70)]
    precision, lift = top_fraction_stats(y, flag, 0.10)
    assert precision == pytest.approx(12 / 30)
    assert lift == pytest.approx((12 / 30) / 0.20)
    # the order rows come in must not matter
    order = np.random.default_rng(0).permutation(100)
    assert top_fraction_stats(y[order], flag[order], 0.10)[0] == pytest.approx(12 / 30)
    # top 50%: all 30 flagged (12 hits) + 20 of the 70 others (expected 20 * 8/70 hits)
    precision, _ = top_fraction_stats(y, flag, 0.5)
    assert precision == pytest.approx((12 + 20 * 8 / 70) / 50)


def test_top_fraction_rejects_bad_fraction() -> None:
    with pytest.raises(ValueError):
        top_fraction_stats([0, 1], [0.1, 0.2], 0.0)


def _planted(seed: int, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    proba = rng.uniform(0.01, 0.6, n)
    y = (rng.random(n) < proba).astype(int)
    return y, proba


def test_evaluate_perfect_and_random_rankings() -> None:
    y = np.r_[np.zeros(90), np.ones(10)]
    perfect = evaluate(y, y * 0.98 + 0.01, threshold=0.5)
    assert perfect["roc_auc"] == pytest.approx(1.0)
    assert perfect["pr_auc"] == pytest.approx(1.0)
    assert perfect["precision_top_10pct"] == pytest.approx(1.0)
    assert perfect["lift_top_10pct"] == pytest.approx(10.0)
    assert perfect["precision_top_20pct"] == pytest.approx(0.5)
    assert perfect["captured_at_threshold"] == pytest.approx(1.0)
    assert perfect["pql_volume"] == pytest.approx(0.1)

    rng = np.random.default_rng(1)
    y = (rng.random(20_000) < 0.2).astype(int)
    noise = evaluate(y, rng.random(20_000), threshold=0.5)
    assert noise["roc_auc"] == pytest.approx(0.5, abs=0.02)
    assert noise["lift_top_10pct"] == pytest.approx(1.0, abs=0.1)


def test_evaluate_keys_values_and_json() -> None:
    y, proba = _planted(2)
    metrics = evaluate(y, proba, threshold=0.4)
    assert tuple(metrics) == METRIC_KEYS
    assert all(type(value) in (int, float) for value in metrics.values())
    json.dumps(metrics)
    assert metrics["rows"] == 2000 and metrics["positives"] == int(y.sum())
    assert metrics["base_rate"] == pytest.approx(y.mean())
    assert metrics["brier"] == pytest.approx(np.mean((proba - y) ** 2))
    expected_ll = -np.mean(y * np.log(proba) + (1 - y) * np.log(1 - proba))
    assert metrics["log_loss"] == pytest.approx(expected_ll)
    flagged = proba >= 0.4
    assert metrics["pql_volume"] == pytest.approx(flagged.mean())
    assert metrics["pql_precision"] == pytest.approx(y[flagged].mean())
    assert metrics["captured_at_threshold"] == pytest.approx(y[flagged].sum() / y.sum())
    assert metrics["ece"] < 0.05  # the labels were drawn from these probabilities
    assert metrics["roc_auc"] > 0.65


def test_evaluate_ranks_by_score_when_given() -> None:
    y = np.array([1, 0, 1, 0])
    proba = np.array([0.5, 0.5, 0.5, 0.5])
    by_proba = evaluate(y, proba, threshold=0.5)
    by_score = evaluate(y, proba, threshold=0.5, score=[3, 1, 2, 0])
    assert by_proba["roc_auc"] == pytest.approx(0.5)
    assert by_score["roc_auc"] == pytest.approx(1.0)
    assert by_score["log_loss"] == pytest.approx(by_proba["log_loss"])


def test_evaluate_single_class_gives_nan_ranking_metrics() -> None:
    for label in (0, 1):
        metrics = evaluate(np.full(50, label), np.linspace(0, 1, 50), threshold=0.5)
        assert math.isnan(metrics["roc_auc"]) and math.isnan(metrics["pr_auc"])
        assert math.isfinite(metrics["log_loss"]) and math.isfinite(metrics["brier"])
        assert math.isfinite(metrics["ece"])
    no_positives = evaluate(np.zeros(50), np.linspace(0, 1, 50), threshold=0.5)
    assert math.isnan(no_positives["lift_top_10pct"])
    assert math.isnan(no_positives["captured_at_threshold"])


def test_log_loss_is_clipped_not_infinite() -> None:
    metrics = evaluate([1, 0], [0.0, 1.0], threshold=0.5)
    assert math.isfinite(metrics["log_loss"]) and metrics["log_loss"] > 30


def test_nothing_flagged_gives_nan_precision() -> None:
    metrics = evaluate([0, 1, 0], [0.1, 0.2, 0.3], threshold=0.9)
    assert metrics["pql_volume"] == 0.0
    assert math.isnan(metrics["pql_precision"])
    assert metrics["captured_at_threshold"] == 0.0


def test_threshold_for_top_percent() -> None:
    proba = np.arange(1000) / 1000
    cut = threshold_for_top_percent(proba, 10)
    assert (proba >= cut).mean() == pytest.approx(0.10)
    assert (proba >= threshold_for_top_percent(proba, 100)).all()
    with pytest.raises(ValueError):
        threshold_for_top_percent(proba, 0)


def test_threshold_table_is_monotone_and_consistent() -> None:
    y, proba = _planted(3)
    table = threshold_table(y, proba)
    assert list(table.columns) == ["score_cut", "flagged_share", "precision", "recall", "lift"]
    assert len(table) == 8
    assert table["score_cut"].is_monotonic_decreasing
    ordered = table.sort_values("score_cut")
    assert (np.diff(ordered["flagged_share"]) < 0).all()  # a higher cut flags fewer
    assert (np.diff(ordered["recall"]) <= 0).all()
    assert table["flagged_share"].to_numpy() == pytest.approx(
        [0.01, 0.02, 0.05, 0.10, 0.15, 0.20, 0.30, 0.50], abs=0.002
    )
    row = table.iloc[3]
    flagged = proba >= row["score_cut"]
    assert row["precision"] == pytest.approx(y[flagged].mean())
    assert row["lift"] == pytest.approx(y[flagged].mean() / y.mean())


def test_threshold_table_explicit_cuts_and_ties() -> None:
    table = threshold_table([1, 0, 1, 0], [0.9, 0.9, 0.2, 0.2], cuts=[0.5, 0.1, 0.5])
    assert table["score_cut"].tolist() == [0.5, 0.1]
    assert table["flagged_share"].tolist() == [0.5, 1.0]
    assert table["precision"].tolist() == [0.5, 0.5]
    assert table["recall"].tolist() == [0.5, 1.0]


def test_gain_curve_shape() -> None:
    y, proba = _planted(4)
    curve = gain_curve(y, proba, points=50)
    assert list(curve.columns) == ["flagged_share", "captured_share", "lift"]
    assert len(curve) == 51
    assert tuple(curve.iloc[0][["flagged_share", "captured_share"]]) == (0.0, 0.0)
    assert curve.iloc[-1]["flagged_share"] == pytest.approx(1.0)
    assert curve.iloc[-1]["captured_share"] == pytest.approx(1.0)
    assert curve.iloc[-1]["lift"] == pytest.approx(1.0)
    assert curve["captured_share"].is_monotonic_increasing
    assert (curve["captured_share"] >= curve["flagged_share"] - 0.03).all()  # better than random


def test_gain_curve_binary_score_is_a_straight_line_inside_the_tie() -> None:
    y = np.zeros(100)
    y[:12] = 1
    y[30:38] = 1
    flag = np.r_[np.ones(30), np.zeros(70)]
    curve = gain_curve(y, flag, points=10)  # rows at shares 0, 0.1, ..., 1
    assert curve["captured_share"].iloc[1] == pytest.approx(12 / 20 / 3)
    assert curve["captured_share"].iloc[3] == pytest.approx(12 / 20)
    assert curve["lift"].iloc[0] == pytest.approx((12 / 30) / 0.2)
    assert curve["lift"].iloc[1] == pytest.approx((12 / 30) / 0.2)


def test_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="0 and 1"):
        evaluate([0, 2], [0.1, 0.2], threshold=0.5)
    with pytest.raises(ValueError, match="NaN"):
        evaluate([0, 1], [0.1, np.nan], threshold=0.5)
    with pytest.raises(ValueError, match="values for"):
        evaluate([0, 1, 1], [0.1, 0.2], threshold=0.5)
    assert isinstance(calibration_curve(pd.Series([0, 1]), pd.Series([0.2, 0.7])), pd.DataFrame)
