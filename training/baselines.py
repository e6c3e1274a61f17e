"""Baselines the model must beat: what growth teams do without ML, and a linear model.

Why: a LightGBM score is only worth its machinery if it beats the rule a growth team
would write on a whiteboard ("invited 2+ teammates"), the points score they would build
in a marketing tool, and a plain logistic regression on the same features. All three
follow scikit-learn's manners (constructors store arguments, `fit` returns self,
fitted attributes end in `_`; `BaseEstimator` gives `get_params` and `clone`) and take
the feature frame whose columns are `FeatureDefinitions.names`, so they are evaluated
exactly like the model.
`predict_proba` returns calibrated probabilities (training conversion rates for the
rules); `score_samples` returns the score a team would rank by (the rule flag, the
points), which `training.metrics.evaluate(..., score=...)` uses for ranking metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from pql.features.definitions import COUNT_MEASURES, FeatureDefinitions
from pql.features.spec import Monotone

#: At most this many candidate thresholds per feature (distinct values, else quantiles).
MAX_CANDIDATES = 20
#: A points condition must beat the base rate by this many standard errors (see
#: `_beats_base`); 3 keeps the best of a few hundred noise candidates out.
MIN_LIFT_Z = 3.0
#: Features that may be negative or are already bounded: no log transform.
UNLOGGED_FEATURES = frozenset({"activity_trend_7d"})


# --- shared helpers ------------------------------------------------------------------


def _frame(X: Any, columns: list[str]) -> pd.DataFrame:
    """The columns a baseline uses, by name (never by position), as floats."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a pandas DataFrame with feature columns, got {type(X)}")
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise ValueError(f"X lacks feature column(s) {missing}")
    return X[columns].astype(np.float64)


def _target(y: Any, n_rows: int) -> np.ndarray:
    target = np.asarray(y, dtype=np.float64).ravel()
    if len(target) != n_rows:
        raise ValueError(f"y has {len(target)} values for {n_rows} rows")
    if n_rows == 0:
        raise ValueError("no training rows")
    if not np.isin(target, (0.0, 1.0)).all():
        raise ValueError("y must contain only 0 and 1")
    return target


def _two_columns(positive: np.ndarray) -> np.ndarray:
    """sklearn's predict_proba shape: column 0 = P(no conversion), column 1 = P(conversion)."""
    positive = np.asarray(positive, dtype=np.float64)
    return np.column_stack([1.0 - positive, positive])


def _candidate_thresholds(values: np.ndarray) -> np.ndarray:
    """Every distinct value when there are few, else distinct quantiles (observed values)."""
    finite = values[~np.isnan(values)]
    if len(finite) == 0:
        return np.zeros(0)
    distinct = np.unique(finite)
    if len(distinct) <= MAX_CANDIDATES:
        return distinct
    levels = np.linspace(0.0, 1.0, MAX_CANDIDATES + 1)[1:]
    return np.unique(np.quantile(finite, levels, method="nearest"))


@dataclass(frozen=True)
class _Rule:
    feature: str
    operator: str  # ">=", "<=", or "==" (a level of a categorical attribute)
    threshold: float
    flagged: int  # training rows the rule flags
    hits: int  # conversions among them
    level: str | None = None  # the level name of an "==" rule, for its description

    def flags(self, values: np.ndarray) -> np.ndarray:
        """NaN never meets a condition (comparisons with NaN are False)."""
        with np.errstate(invalid="ignore"):
            if self.operator == "==":
                return values == self.threshold
            return values >= self.threshold if self.operator == ">=" else values <= self.threshold

    @property
    def description(self) -> str:
        if self.operator == "==":
            return f"{self.feature} is {self.level or _number(self.threshold)}"
        return f"{self.feature} {self.operator} {_number(self.threshold)}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def _level_rules(
    feature: str, values: np.ndarray, y: np.ndarray, levels: tuple[str, ...] = ()
) -> Iterator[_Rule]:
    """`feature == level` for every level code seen (a categorical fit attribute)."""
    finite = ~np.isnan(values)
    codes, rows = np.unique(values[finite], return_counts=True)
    at = np.searchsorted(codes, values[finite])
    hits = np.bincount(at, weights=y[finite], minlength=len(codes))
    for code, flagged, hit in zip(codes, rows, hits, strict=True):
        position = int(code)
        name = levels[position] if 0 <= position < len(levels) else "another value"
        yield _Rule(feature, "==", float(code), int(flagged), round(float(hit)), name)


def _attribute_rules(
    attributes: dict[str, tuple[str, ...] | None], frame: pd.DataFrame, y: np.ndarray
) -> Iterator[_Rule]:
    """Candidate conditions on fit attributes: a level of a category, or a number >= / <=."""
    for name, levels in attributes.items():
        values = frame[name].to_numpy()
        if levels is not None:
            yield from _level_rules(name, values, y, levels)
        else:
            yield from _rules(name, values, y, ">=")
            yield from _rules(name, values, y, "<=")


def _rules(feature: str, values: np.ndarray, y: np.ndarray, operator: str) -> Iterator[_Rule]:
    """`feature >= t` (or `<= t`) for every candidate t, counted in one sort."""
    finite = ~np.isnan(values)
    order = np.argsort(values[finite], kind="stable")
    sorted_values = values[finite][order]
    hits_before = np.concatenate([[0.0], np.cumsum(y[finite][order])])
    for t in _candidate_thresholds(values):
        if operator == ">=":
            start = np.searchsorted(sorted_values, t, side="left")
            flagged, hits = len(sorted_values) - start, hits_before[-1] - hits_before[start]
        else:
            stop = np.searchsorted(sorted_values, t, side="right")
            flagged, hits = stop, hits_before[stop]
        yield _Rule(feature, operator, float(t), int(flagged), round(float(hits)))


def _f1(rule: _Rule, positives: int) -> float:
    """F1 of a rule: 2 TP / (flagged + positives)."""
    denominator = rule.flagged + positives
    return 2 * rule.hits / denominator if denominator else 0.0


def _supported(rule: _Rule, n_rows: int, min_support: float) -> bool:
    """A rule must flag at least `min_support` of rows, and not all of them (no rule)."""
    return min_support * n_rows <= rule.flagged < n_rows


# --- 1. one threshold rule -----------------------------------------------------------


class SingleThresholdRule(BaseEstimator):
    """The whiteboard rule: one count-like feature against one threshold.

    Fitting searches every action's `_count`, `_count_7d` and `_active_days` feature and
    up to ~20 candidate thresholds each (distinct values, else quantiles), with `>=` for
    increasing actions, `<=` for decreasing ones (the negative kind) and both for actions
    without a direction. Among rules that flag at least `min_support` of training rows
    (and not all of them), the one with the best F1 on the training rows wins; ties go
    to the earlier feature in definition order, then the lower threshold. F1 because a
    team's rule must both catch converters and stay precise.

    The rule's probabilities are the training conversion rates of its two groups
    (`rate_flagged_`, `rate_other_`), so log loss is fair; `score_samples` is the 0/1
    flag. If no rule qualifies (e.g. constant features), `feature_` is None and every
    row gets the base rate.
    """

    def __init__(
        self,
        definitions: FeatureDefinitions,
        min_support: float = 0.02,
        attributes: dict[str, tuple[str, ...] | None] | None = None,
    ) -> None:
        self.definitions = definitions
        self.min_support = min_support
        #: fit attributes: name -> level names of a category (None: a number); a rule
        #: may be "industry is saas" or "employees >= 200" as well as an action count
        self.attributes = attributes

    def _candidates(self) -> Iterator[tuple[str, str]]:
        operators = {
            Monotone.increasing: (">=",),
            Monotone.decreasing: ("<=",),
            Monotone.none: (">=", "<="),
        }
        for action in self.definitions.actions:
            for measure in COUNT_MEASURES:
                for operator in operators[action.direction]:
                    yield f"{action.name}_{measure}", operator

    def fit(self, X: pd.DataFrame, y: Any) -> SingleThresholdRule:
        features = list(dict.fromkeys(feature for feature, _ in self._candidates()))
        attributes = self.attributes or {}
        frame = _frame(X, features + list(attributes))
        target = _target(y, len(frame))
        n_rows, positives = len(target), int(target.sum())
        best: _Rule | None = None
        best_f1 = -1.0
        candidates = [
            rule
            for feature, operator in self._candidates()
            for rule in _rules(feature, frame[feature].to_numpy(), target, operator)
        ]
        candidates += list(_attribute_rules(attributes, frame, target))
        for rule in candidates:
            if not _supported(rule, n_rows, self.min_support):
                continue
            f1 = _f1(rule, positives)
            if f1 > best_f1:
                best, best_f1 = rule, f1
        self.classes_ = np.array([0, 1])
        self.base_rate_ = float(target.mean())
        self._set_rule(best, n_rows, positives)
        self.f1_ = best_f1 if best is not None else float("nan")
        return self

    def _set_rule(self, rule: _Rule | None, n_rows: int, positives: int) -> None:
        self.rule_ = rule
        if rule is None:
            self.feature_, self.operator_, self.threshold_ = None, None, None
            self.description_ = "no rule: no candidate flags enough (and not all) rows"
            self.rate_flagged_ = self.rate_other_ = self.base_rate_
            return
        self.feature_, self.operator_, self.threshold_ = rule.feature, rule.operator, rule.threshold
        self.description_ = rule.description
        self.rate_flagged_ = rule.hits / rule.flagged
        self.rate_other_ = (positives - rule.hits) / (n_rows - rule.flagged)

    def score_samples(self, X: pd.DataFrame) -> np.ndarray:
        """1.0 where the rule holds, else 0.0."""
        if self.rule_ is None or self.feature_ is None:
            return np.zeros(len(X))
        values = _frame(X, [self.feature_])[self.feature_].to_numpy()
        return self.rule_.flags(values).astype(np.float64)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The rule's verdict as 0/1 ints (a PQL or not)."""
        return self.score_samples(X).astype(np.int64)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        flagged = self.score_samples(X) > 0
        return _two_columns(np.where(flagged, self.rate_flagged_, self.rate_other_))


# --- 2. points score -----------------------------------------------------------------


class PointsScore(BaseEstimator):
    """A points-based lead score as growth teams build one: a point per key action done enough.

    For each action that is not decreasing (i.e. not the `negative` kind), one condition
    `<action>_count >= t`, with t chosen on the training rows to maximise lift among
    thresholds flagging at least `min_support` of rows (ties: the lower threshold, the
    larger group). Only thresholds whose rate beats the base rate by `MIN_LIFT_Z`
    standard errors count, so an action that carries no signal earns no point; the
    `max_conditions` conditions with the highest lift are kept. Score = number of conditions met.
    Negative actions do not subtract points: additive-only scores are what teams start
    with, and they keep "more activity never lowers the score" trivially true.

    Probabilities map each points level to its training conversion rate, pooled
    isotonically (weighted by rows) so more points never mean a lower probability;
    levels not seen in training borrow the nearest seen level.
    """

    def __init__(
        self,
        definitions: FeatureDefinitions,
        max_conditions: int = 5,
        min_support: float = 0.05,
        attributes: dict[str, tuple[str, ...] | None] | None = None,
    ) -> None:
        self.definitions = definitions
        self.max_conditions = max_conditions
        self.min_support = min_support
        #: fit attributes (as in `SingleThresholdRule`): a point for the best level of a
        #: category, or for a number at or above a threshold, when it beats the base rate
        self.attributes = attributes

    def _best_condition(
        self, feature: str, values: np.ndarray, y: np.ndarray, levels: Any = False
    ) -> _Rule | None:
        n_rows, base = len(y), y.mean()
        best, best_lift = None, 1.0  # a condition must beat the base rate to earn a point
        if levels is False or levels is None:  # an action count, or a numeric attribute
            candidates = _rules(feature, values, y, ">=")
        else:
            candidates = _level_rules(feature, values, y, levels)
        for rule in candidates:
            if _supported(rule, n_rows, self.min_support) and _beats_base(rule, base):
                lift = rule.hits / rule.flagged / base
                if lift > best_lift:
                    best, best_lift = rule, lift
        return best

    def fit(self, X: pd.DataFrame, y: Any) -> PointsScore:
        features = [
            f"{action.name}_count"
            for action in self.definitions.actions
            if action.direction is not Monotone.decreasing
        ]
        attributes = self.attributes or {}
        frame = _frame(X, features + list(attributes))
        target = _target(y, len(frame))
        chosen: list[tuple[float, _Rule]] = []
        if target.sum() > 0:
            conditions: list[tuple[str, Any]] = [(f, False) for f in features]
            conditions += list(attributes.items())
            for feature, levels in conditions:
                rule = self._best_condition(feature, frame[feature].to_numpy(), target, levels)
                if rule is not None:
                    chosen.append((rule.hits / rule.flagged / target.mean(), rule))
        chosen.sort(key=lambda pair: -pair[0])  # stable: ties keep definition order
        rules = [rule for _, rule in chosen[: self.max_conditions]]
        self.classes_ = np.array([0, 1])
        self.rules_ = rules
        self.conditions_ = [(rule.feature, rule.threshold) for rule in rules]
        self.lifts_ = [lift for lift, _ in chosen[: self.max_conditions]]
        self.description_ = (
            "1 point each: " + "; ".join(rule.description for rule in rules)
            if rules
            else "no condition beats the base rate: every row scores 0"
        )
        points = self._points(frame)
        self.rows_by_points_, self.rate_by_points_ = _monotone_rates(points, target, len(rules))
        return self

    def _points(self, frame: pd.DataFrame) -> np.ndarray:
        points = np.zeros(len(frame), dtype=np.int64)
        for rule in self.rules_:
            points += rule.flags(frame[rule.feature].to_numpy())
        return points

    def score_samples(self, X: pd.DataFrame) -> np.ndarray:
        """Points: how many conditions each row meets (0 .. len(conditions_))."""
        frame = _frame(X, [rule.feature for rule in self.rules_])
        return self._points(frame).astype(np.float64)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        points = self.score_samples(X).astype(np.int64)
        rates = np.array([self.rate_by_points_[level] for level in range(len(self.rules_) + 1)])
        return _two_columns(rates[points])


def _beats_base(rule: _Rule, base: float) -> bool:
    """Is the group's rate above the base rate by `MIN_LIFT_Z` binomial standard errors?

    Without it, picking the best of ~20 thresholds per action lets pure noise show a
    lift a little above 1 at the smallest allowed group, and noise would earn points.
    """
    if not 0 < base < 1:
        return False
    standard_error = np.sqrt(base * (1 - base) / rule.flagged)
    return (rule.hits / rule.flagged - base) / standard_error >= MIN_LIFT_Z


def _monotone_rates(
    points: np.ndarray, y: np.ndarray, max_points: int
) -> tuple[dict[int, int], dict[int, float]]:
    """Rows and isotonic conversion rate for every level 0..max_points (unseen: nearest)."""
    rows = np.bincount(points, minlength=max_points + 1)
    hits = np.bincount(points, weights=y, minlength=max_points + 1)
    seen = np.flatnonzero(rows)
    raw = hits[seen] / rows[seen]
    pooled = IsotonicRegression(increasing=True).fit_transform(
        seen.astype(np.float64), raw, sample_weight=rows[seen]
    )
    rates = {}
    for level in range(max_points + 1):
        nearest = int(np.argmin(np.abs(seen - level)))  # ties: the lower level
        rates[level] = float(pooled[nearest])
    return {level: int(rows[level]) for level in range(max_points + 1)}, rates


# --- 3. logistic regression ----------------------------------------------------------


def _signed_log1p(values: np.ndarray) -> np.ndarray:
    """log1p for non-negative counts and hours; sign-preserving if a value is negative."""
    return np.sign(values) * np.log1p(np.abs(values))


class LogisticBaseline(BaseEstimator):
    """Logistic regression on the same feature frame: the linear model to beat.

    Steps, and why: log1p on counts, hours and sums (heavy tails would let a few power
    users dominate a linear fit; signed so a negative value cannot give NaN), then
    median imputation with missing indicators (`hours_*` are NaN when the action never
    happened: the indicator carries "never", the median keeps the hours column usable),
    then standardisation and an L2-regularised `LogisticRegression` (lbfgs, which is
    deterministic). `activity_trend_7d` is already in [-1, 1] and is not logged.
    """

    def __init__(self, seed: int = 0, C: float = 1.0, categorical: tuple[str, ...] = ()) -> None:
        self.seed = seed
        self.C = C
        #: level-code columns (categorical fit attributes): one-hot, never a slope on codes
        self.categorical = categorical

    def _pipeline(self, features: list[str]) -> Pipeline:
        categorical = [c for c in features if c in self.categorical]
        # every window's trend (activity_trend_28d, ...) is in [-1, 1] like the 7-day one
        unlogged = {
            c for c in features if c in UNLOGGED_FEATURES or c.startswith("activity_trend_")
        }
        logged = [c for c in features if c not in unlogged and c not in categorical]
        kept = [c for c in features if c in unlogged]
        steps: list[tuple[str, Any, list[str]]] = [
            ("log", FunctionTransformer(_signed_log1p), logged),
            ("keep", "passthrough", kept),
        ]
        if categorical:  # unknown (NaN) is a level of its own; unseen levels: all zeros
            one_hot = Pipeline(
                [
                    ("unknown", SimpleImputer(strategy="constant", fill_value=-1.0)),
                    ("one_hot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                ]
            )
            steps.append(("categories", one_hot, categorical))
        transform = ColumnTransformer(steps)
        # keep_empty_features: a column with no value in training (a property nobody
        # sent) stays, as zeros, so the fitted column layout never depends on the data
        impute = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
        model = LogisticRegression(C=self.C, max_iter=2000, random_state=self.seed)
        return Pipeline(
            [
                ("transform", transform),
                ("impute", impute),
                ("scale", StandardScaler()),
                ("model", model),
            ]
        )

    def fit(self, X: pd.DataFrame, y: Any) -> LogisticBaseline:
        """Fit on every column of `X` (the feature frame); `y` needs both classes."""
        features = list(X.columns) if isinstance(X, pd.DataFrame) else []
        frame = _frame(X, features)
        target = _target(y, len(frame))
        self.pipeline_ = self._pipeline(features).fit(frame, target.astype(np.int64))
        self.features_ = features
        self.classes_ = np.array([0, 1])
        self.description_ = f"logistic regression (C={self.C:g}) on {len(features)} features"
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict_proba(_frame(X, self.features_))

    def score_samples(self, X: pd.DataFrame) -> np.ndarray:
        """The conversion probability (ranking by it is ranking by the linear score)."""
        return self.predict_proba(X)[:, 1]
