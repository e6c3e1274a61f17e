"""Baselines: planted rules are found, points stay monotone, the linear model learns."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from pql.features.definitions import ActionDefinition, FeatureDefinitions
from pql.features.spec import Monotone
from pql.training.baselines import (
    LogisticBaseline,
    PointsScore,
    SingleThresholdRule,
    _monotone_rates,
)
from tests.conftest import small_spec


def _definitions(with_negative: bool = False) -> FeatureDefinitions:
    definitions = FeatureDefinitions.from_spec(small_spec())
    if not with_negative:
        return definitions
    error = ActionDefinition(
        name="hit_error", events=frozenset({"error"}), direction=Monotone.decreasing
    )
    return FeatureDefinitions(actions=(*definitions.actions, error))


def _features(definitions: FeatureDefinitions, n: int, seed: int) -> pd.DataFrame:
    """A plausible feature frame: counts, windows within counts, NaN hours when never done."""
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    for action in definitions.actions:
        count = rng.negative_binomial(1, 0.3, n).astype(np.float64)
        done = count > 0
        columns[f"{action.name}_count"] = count
        columns[f"{action.name}_count_7d"] = rng.binomial(count.astype(int), 0.6).astype(float)
        columns[f"{action.name}_active_days"] = np.ceil(count * rng.uniform(0.3, 1.0, n))
        columns[f"{action.name}_hours_to_first"] = np.where(done, rng.uniform(0, 300, n), np.nan)
        columns[f"{action.name}_hours_since_last"] = np.where(done, rng.uniform(0, 300, n), np.nan)
        if action.property_feature:
            columns[action.property_feature] = count * rng.uniform(1e3, 1e6, n)
    columns["tenure_days"] = rng.choice([1.0, 3.0, 7.0, 14.0], n)
    columns["events_count"] = rng.poisson(30, n).astype(float)
    columns["events_count_7d"] = rng.poisson(10, n).astype(float)
    columns["active_days"] = rng.integers(0, 14, n).astype(float)
    columns["active_days_7d"] = rng.integers(0, 7, n).astype(float)
    columns["sessions_count"] = rng.poisson(5, n).astype(float)
    columns["actions_breadth"] = rng.integers(0, len(definitions.actions) + 1, n).astype(float)
    columns["longest_streak_days"] = rng.integers(0, 7, n).astype(float)
    columns["activity_trend_7d"] = rng.uniform(-1, 1, n)
    columns["hours_since_last_event"] = np.where(rng.random(n) < 0.1, np.nan, rng.uniform(0, 99, n))
    return pd.DataFrame({name: columns[name] for name in definitions.names})


def _flip(y: np.ndarray, share: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(len(y)) < share, 1 - y, y).astype(int)


def _planted_rule(
    n: int = 3000, seed: int = 0
) -> tuple[FeatureDefinitions, pd.DataFrame, np.ndarray]:
    definitions = _definitions()
    X = _features(definitions, n, seed)
    y = _flip((X["invite_teammate_count"] >= 3).to_numpy().astype(int), 0.05, seed + 1)
    return definitions, X, y


# --- the single rule -----------------------------------------------------------------


def test_single_rule_finds_the_planted_feature_and_threshold() -> None:
    definitions, X, y = _planted_rule()
    rule = SingleThresholdRule(definitions)
    assert rule.fit(X, y) is rule
    assert (rule.feature_, rule.operator_, rule.threshold_) == ("invite_teammate_count", ">=", 3)
    assert rule.description_ == "invite_teammate_count >= 3"
    flagged = X["invite_teammate_count"].to_numpy() >= 3
    assert rule.rate_flagged_ == pytest.approx(y[flagged].mean())
    assert rule.rate_other_ == pytest.approx(y[~flagged].mean())
    proba = rule.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert set(np.unique(proba[:, 1])) == {rule.rate_flagged_, rule.rate_other_}
    assert np.array_equal(rule.score_samples(X), flagged.astype(float))


def test_single_rule_picks_by_f1_not_precision() -> None:
    # 2-3 invites convert half the time, 4+ almost always: precision alone would pick
    # ">= 4" or higher; F1 weighs the converters it would miss and picks ">= 2"
    definitions = _definitions()
    X = _features(definitions, 3000, seed=30)
    count = X["invite_teammate_count"].to_numpy()
    rate = np.select([count >= 4, count >= 2], [0.95, 0.5], 0.02)
    y = (np.random.default_rng(31).random(len(X)) < rate).astype(int)
    rule = SingleThresholdRule(definitions).fit(X, y)
    assert rule.description_ == "invite_teammate_count >= 2"
    flagged = count >= 2
    assert rule.f1_ == pytest.approx(2 * y[flagged].sum() / (flagged.sum() + y.sum()))


def test_single_rule_uses_less_or_equal_for_decreasing_actions() -> None:
    definitions = _definitions(with_negative=True)
    X = _features(definitions, 3000, seed=5)
    y = _flip((X["hit_error_count"] <= 1).to_numpy().astype(int), 0.03, 6)
    rule = SingleThresholdRule(definitions).fit(X, y)
    assert rule.description_ == "hit_error_count <= 1"
    assert rule.rate_flagged_ > rule.rate_other_


def test_single_rule_respects_min_support() -> None:
    definitions = _definitions()
    X = _features(definitions, 2000, seed=7)
    rare = (X["view_pricing_count"] >= X["view_pricing_count"].quantile(0.995)).to_numpy()
    y = rare.astype(int)  # only a tiny group converts: the best rule would be too small
    rule = SingleThresholdRule(definitions, min_support=0.05).fit(X, y)
    assert rule.score_samples(X).mean() >= 0.05


def test_single_rule_without_usable_features_predicts_the_base_rate() -> None:
    definitions = _definitions()
    X = _features(definitions, 200, seed=8)
    for column in X.columns:
        X[column] = 0.0
    y = np.r_[np.ones(50), np.zeros(150)]
    rule = SingleThresholdRule(definitions).fit(X, y)
    assert rule.feature_ is None
    assert np.allclose(rule.predict_proba(X)[:, 1], 0.25)
    assert not rule.score_samples(X).any()


# --- the points score ----------------------------------------------------------------


def _planted_points(
    n: int = 4000, seed: int = 10
) -> tuple[FeatureDefinitions, pd.DataFrame, np.ndarray]:
    definitions = _definitions(with_negative=True)
    X = _features(definitions, n, seed)
    logit = (
        -2.5
        + 1.5 * (X["invite_teammate_count"] >= 2)
        + 1.0 * (X["view_pricing_count"] >= 1)
        + 0.7 * (X["create_project_count"] >= 4)
    )
    rng = np.random.default_rng(seed + 1)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit.to_numpy()))).astype(int)
    return definitions, X, y


def test_points_probability_never_falls_with_more_points() -> None:
    definitions, X, y = _planted_points()
    points = PointsScore(definitions, max_conditions=3)
    assert points.fit(X, y) is points
    assert len(points.conditions_) == 3
    assert {feature for feature, _ in points.conditions_} == {
        "invite_teammate_count",
        "view_pricing_count",
        "create_project_count",
    }
    assert points.description_.startswith("1 point each: ")
    levels = sorted(points.rate_by_points_)
    assert levels == [0, 1, 2, 3]
    rates = [points.rate_by_points_[level] for level in levels]
    assert (np.diff(rates) >= 0).all()
    assert rates[-1] > 2 * rates[0]
    score = points.score_samples(X)
    proba = points.predict_proba(X)[:, 1]
    order = np.argsort(score, kind="stable")
    assert (np.diff(proba[order]) >= 0).all()
    assert sum(points.rows_by_points_.values()) == len(X)


def test_points_skip_negative_actions_and_useless_conditions() -> None:
    definitions, X, y = _planted_points()
    points = PointsScore(definitions, max_conditions=10).fit(X, y)
    features = [feature for feature, _ in points.conditions_]
    assert "hit_error_count" not in features
    assert all(lift > 1 for lift in points.lifts_)
    assert points.lifts_ == sorted(points.lifts_, reverse=True)


def test_points_give_no_point_for_noise() -> None:
    definitions = _definitions()
    X = _features(definitions, 5000, seed=40)
    y = (np.random.default_rng(41).random(len(X)) < 0.1).astype(int)  # unrelated to X
    points = PointsScore(definitions).fit(X, y)
    assert points.conditions_ == []
    assert points.description_.startswith("no condition")
    assert np.allclose(points.predict_proba(X)[:, 1], y.mean())


def test_more_invites_never_lower_the_points_probability() -> None:
    definitions, X, y = _planted_points()
    points = PointsScore(definitions).fit(X, y)
    more = X.copy()
    more["invite_teammate_count"] += 5
    assert (points.predict_proba(more)[:, 1] >= points.predict_proba(X)[:, 1]).all()


def test_points_rates_are_pooled_and_unseen_levels_borrowed() -> None:
    # raw rates: level 0 -> 1/4, level 1 -> 2/2, level 3 -> 1/2, level 2 unseen
    points = np.array([0, 0, 0, 0, 1, 1, 3, 3])
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0], dtype=float)
    rows, rates = _monotone_rates(points, y, max_points=4)
    assert rows == {0: 4, 1: 2, 2: 0, 3: 2, 4: 0}
    assert rates == pytest.approx({0: 0.25, 1: 0.75, 2: 0.75, 3: 0.75, 4: 0.75})


# --- the logistic regression ---------------------------------------------------------


def _planted_linear(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    definitions = _definitions()
    X = _features(definitions, n, seed)
    X["upload_file_bytes_sum"] = np.nan  # a column with nothing in it must not break the fit
    logit = (
        -2.0
        + 1.2 * np.log1p(X["invite_teammate_count"])
        + 0.8 * np.log1p(X["view_pricing_count"])
        - 0.8 * X["activity_trend_7d"]
    )
    rng = np.random.default_rng(seed + 100)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit.to_numpy()))).astype(int)
    return X, y


def test_logistic_handles_nan_and_learns_a_linear_signal() -> None:
    X, y = _planted_linear(3000, seed=20)
    assert X.isna().any().any()
    model = LogisticBaseline()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. sklearn dropping the all-NaN column
        assert model.fit(X, y) is model
    X_test, y_test = _planted_linear(2000, seed=21)
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(y_test, proba[:, 1]) > 0.7
    assert np.array_equal(model.score_samples(X_test), proba[:, 1])


def test_logistic_selects_columns_by_name() -> None:
    X, y = _planted_linear(1000, seed=22)
    model = LogisticBaseline().fit(X, y)
    shuffled = X[list(reversed(X.columns))]
    assert np.array_equal(model.predict_proba(shuffled), model.predict_proba(X))


# --- manners shared by all -----------------------------------------------------------


def _all_baselines(definitions: FeatureDefinitions) -> list:
    return [SingleThresholdRule(definitions), PointsScore(definitions), LogisticBaseline(seed=3)]


def test_constructors_only_store_arguments_and_clone() -> None:
    definitions = _definitions()
    for model in _all_baselines(definitions):
        assert not [name for name in vars(model) if name.endswith("_")]
        copy = clone(model)
        assert copy.get_params() == model.get_params()


def test_fits_are_deterministic() -> None:
    definitions, X, y = _planted_points()
    X = X[definitions.names]
    for first, second in zip(_all_baselines(definitions), _all_baselines(definitions), strict=True):
        a = first.fit(X, y).predict_proba(X)
        b = second.fit(X.copy(), y.copy()).predict_proba(X)
        assert np.array_equal(a, b), type(first).__name__
        assert np.array_equal(first.score_samples(X), second.score_samples(X))


def test_missing_columns_and_bad_labels_are_refused() -> None:
    definitions, X, y = _planted_rule(n=200)
    with pytest.raises(ValueError, match="lacks feature column"):
        SingleThresholdRule(definitions).fit(X.drop(columns=["invite_teammate_count"]), y)
    with pytest.raises(ValueError, match="only 0 and 1"):
        PointsScore(definitions).fit(X, y * 2)
