"""Evaluation metrics for conversion scores: ranking, calibration and the PQL cut.

Why these and not just AUC: sales acts on the top of the list (precision and lift in
the top few percent, what a threshold flags and captures) and reads the probability as
a probability (log loss, Brier, calibration error). Everything here is a pure function
of labels and scores so a LightGBM model and a rule baseline are measured the same way.

Ties matter for rule baselines: a 0/1 rule puts 30% of rows on one score, and "the top
10%" of it is then a random tenth of that group. Ranking cuts therefore use the
*expected* value under a random order of tied rows (the tied group counts fractionally),
never an order that happens to come out of a sort.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

#: Probabilities are clipped to [CLIP, 1 - CLIP] for log loss so one confident miss is a
#: large finite penalty rather than infinity.
LOG_LOSS_CLIP = 1e-15
#: The top-of-list fractions `evaluate` reports precision and lift for.
TOP_FRACTIONS = {"5pct": 0.05, "10pct": 0.10, "20pct": 0.20}
#: Default top percents of `threshold_table`.
TABLE_TOP_PERCENTS = (1, 2, 5, 10, 15, 20, 30, 50)
#: Every key `evaluate` returns, in order (stable names for MLflow).
METRIC_KEYS = (
    "rows",
    "positives",
    "base_rate",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
    "ece",
    *(f"{kind}_top_{name}" for name in TOP_FRACTIONS for kind in ("precision", "lift")),
    "pql_volume",
    "pql_precision",
    "captured_at_threshold",
)


# --- input checks -------------------------------------------------------------------


def _labels(y_true: Any) -> np.ndarray:
    y = np.asarray(y_true, dtype=np.float64).ravel()
    if len(y) == 0:
        raise ValueError("no rows to evaluate")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must contain only 0 and 1")
    return y


def _scores(score: Any, n: int, *, name: str = "score", unit: bool = False) -> np.ndarray:
    s = np.asarray(score, dtype=np.float64).ravel()
    if len(s) != n:
        raise ValueError(f"{name} has {len(s)} values for {n} labels")
    if np.isnan(s).any():
        raise ValueError(f"{name} contains NaN")
    if unit and ((s < 0) | (s > 1)).any():
        raise ValueError(f"{name} must lie in [0, 1]")
    return s


def _pair(y_true: Any, score: Any, name: str, unit: bool) -> tuple[np.ndarray, np.ndarray]:
    y = _labels(y_true)
    return y, _scores(score, len(y), name=name, unit=unit)


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else float("nan")


# --- ranking with ties ---------------------------------------------------------------


def _cumulative_gain(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and positives above each distinct score, from the highest score down.

    Returned with a leading (0, 0): the knots of the gain curve. Between knots the
    curve is a straight line, which is exactly the expected number of positives when a
    tied group is taken in random order.
    """
    distinct, inverse = np.unique(-score, return_inverse=True)
    rows = np.bincount(inverse, minlength=len(distinct))
    positives = np.bincount(inverse, weights=y, minlength=len(distinct))
    return np.concatenate([[0], np.cumsum(rows)]), np.concatenate([[0.0], np.cumsum(positives)])


def _expected_positives(y: np.ndarray, score: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Expected positives among the top `k` rows (k may be fractional), ties in random order."""
    rows, positives = _cumulative_gain(y, score)
    return np.interp(k, rows, positives)


def top_fraction_stats(y_true: Any, score: Any, fraction: float) -> tuple[float, float]:
    """(precision, lift) among the top `fraction` of rows by `score`.

    The top is `fraction * rows` rows, fractional if need be, and the group tied at the
    cut is included in proportion (expected value over random orders of tied rows), so
    a binary rule that flags 30% gets its flagged-group rate as top-10% precision.
    Lift is precision over the base rate (NaN when there are no positives).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    y, s = _pair(y_true, score, "score", unit=False)
    k = fraction * len(y)
    precision = float(_expected_positives(y, s, np.array([k]))[0] / k)
    return precision, _ratio(precision, y.mean())


# --- calibration ---------------------------------------------------------------------


def _bin_index(proba: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bins on [0, 1]: [0, 1/b), [1/b, 2/b), ..., [(b-1)/b, 1]."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    return np.clip(np.floor(proba * bins).astype(np.int64), 0, bins - 1)


def calibration_curve(y_true: Any, proba: Any, bins: int = 10) -> pd.DataFrame:
    """Mean predicted probability against observed conversion rate per equal-width bin.

    Only bins that hold rows are returned (an empty bin has no observed rate); `rows`
    says how much each point can be trusted.
    """
    y, p = _pair(y_true, proba, "proba", unit=True)
    index = _bin_index(p, bins)
    rows = np.bincount(index, minlength=bins)
    used = rows > 0
    predicted = np.bincount(index, weights=p, minlength=bins)[used] / rows[used]
    observed = np.bincount(index, weights=y, minlength=bins)[used] / rows[used]
    low = np.arange(bins)[used] / bins
    return pd.DataFrame(
        {
            "bin_low": low,
            "bin_high": low + 1 / bins,
            "mean_predicted": predicted,
            "observed_rate": observed,
            "rows": rows[used].astype(np.int64),
        }
    )


def expected_calibration_error(y_true: Any, proba: Any, bins: int = 10) -> float:
    """Row-weighted mean of |mean predicted - observed rate| over equal-width bins."""
    curve = calibration_curve(y_true, proba, bins)
    gaps = (curve["mean_predicted"] - curve["observed_rate"]).abs()
    return float((gaps * curve["rows"]).sum() / curve["rows"].sum())


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    clipped = np.clip(p, LOG_LOSS_CLIP, 1 - LOG_LOSS_CLIP)
    return float(-np.mean(y * np.log(clipped) + (1 - y) * np.log1p(-clipped)))


# --- the PQL cut ---------------------------------------------------------------------


def threshold_for_top_percent(proba: Any, top_percent: float) -> float:
    """The probability cut that flags about the top `top_percent` % with `proba >= cut`.

    The cut is an observed probability (quantile, method "higher"), so the flagged share
    is exact up to ties; rows tied at the cut are all flagged, which can flag more.
    """
    if not 0 < top_percent <= 100:
        raise ValueError(f"top_percent must be in (0, 100], got {top_percent}")
    p = np.asarray(proba, dtype=np.float64).ravel()
    if len(p) == 0 or np.isnan(p).any():
        raise ValueError("proba must be non-empty and free of NaN")
    return float(np.quantile(p, 1 - top_percent / 100, method="higher"))


def cut_for_top_percent(score: Any, top_percent: float) -> tuple[float, float]:
    """(cut, realised share): of the observed score values, the cut whose flagged share
    (`score >= cut`) is closest to `top_percent` %.

    Rows tied on one value cannot be split by a cut; choosing among all observed values
    (not only the quantile) moves the cut off a plateau when a neighbour comes closer.
    """
    if not 0 < top_percent <= 100:
        raise ValueError(f"top_percent must be in (0, 100], got {top_percent}")
    s = np.asarray(score, dtype=np.float64).ravel()
    if len(s) == 0 or np.isnan(s).any():
        raise ValueError("score must be non-empty and free of NaN")
    values, counts = np.unique(s, return_counts=True)
    at_or_above = np.cumsum(counts[::-1])[::-1]  # rows flagged by each value as the cut
    target = top_percent / 100 * len(s)
    best = int(np.argmin(np.abs(at_or_above - target) + 1e-9 * at_or_above))
    return float(values[best]), float(at_or_above[best] / len(s))


def wilson_interval(successes: int, trials: int, z: float = 1.959963984540054):
    """95% Wilson score interval for a proportion; (nan, nan) without trials.

    Wilson rather than the normal approximation: it stays inside [0, 1] and is honest
    for small groups and rates near zero.
    """
    if trials <= 0:
        return (math.nan, math.nan)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def reliability_table(y_true: Any, proba: Any, bins: int = 10) -> pd.DataFrame:
    """Held-out reliability: per bin of predicted probability (equal-count bins), the
    mean prediction, the observed conversion rate and its 95% Wilson interval."""
    y, p = _pair(y_true, proba, "proba", unit=True)
    order = np.argsort(p, kind="stable")
    records = []
    for part in np.array_split(order, min(bins, len(order))):
        if len(part) == 0:
            continue
        hits = int(y[part].sum())
        low, high = wilson_interval(hits, len(part))
        predicted = float(p[part].mean())
        records.append(
            {
                "rows": len(part),
                "predicted": predicted,
                "observed": hits / len(part),
                "observed_low": low,
                "observed_high": high,
                "inside": bool(low <= predicted <= high),
            }
        )
    return pd.DataFrame.from_records(records)


def _cut_stats(
    y: np.ndarray, p: np.ndarray, cut: float, flagged: np.ndarray | None = None
) -> dict[str, float]:
    flagged = p >= cut if flagged is None else flagged
    hits = float(y[flagged].sum())
    return {
        "flagged_share": float(flagged.mean()),
        "precision": _ratio(hits, flagged.sum()),
        "recall": _ratio(hits, y.sum()),
    }


def threshold_table(y_true: Any, proba: Any, cuts: Any = None) -> pd.DataFrame:
    """What each candidate cut (`proba >= cut`) would flag, how precisely, how much it catches.

    Default cuts are the probabilities that flag the top 1, 2, 5, 10, 15, 20, 30 and 50%.
    Rows are sorted by descending cut (the strictest first) and duplicate cuts, which
    ties produce, are listed once. Here ties are not averaged: a threshold flags the
    whole tied group, and the table shows what that threshold really does.
    """
    y, p = _pair(y_true, proba, "proba", unit=False)
    if cuts is None:
        cuts = [threshold_for_top_percent(p, percent) for percent in TABLE_TOP_PERCENTS]
    unique_cuts = sorted({float(c) for c in cuts}, reverse=True)
    base = y.mean()
    records = []
    for cut in unique_cuts:
        stats = _cut_stats(y, p, cut)
        lift = _ratio(stats["precision"], base)
        records.append({"score_cut": cut, **stats, "lift": lift})
    columns = ["score_cut", "flagged_share", "precision", "recall", "lift"]
    return pd.DataFrame.from_records(records, columns=columns)


def gain_curve(y_true: Any, score: Any, points: int = 100) -> pd.DataFrame:
    """Cumulative gain: share of conversions captured when flagging the top share by score.

    `points + 1` rows at flagged shares 0, 1/points, ..., 1; the curve starts at (0, 0)
    and ends at (1, 1). Ties are taken in expected random order. `lift` is captured over
    flagged share; at share 0 it is the limit, the lift of the top-scored tied group.
    Captured share and lift are NaN when there are no conversions.
    """
    if points < 1:
        raise ValueError(f"points must be at least 1, got {points}")
    y, s = _pair(y_true, score, "score", unit=False)
    rows, positives = _cumulative_gain(y, s)
    share = np.linspace(0.0, 1.0, points + 1)
    total = positives[-1]
    captured = np.interp(share * len(y), rows, positives) / total if total > 0 else share * np.nan
    lift = np.empty_like(share)
    lift[1:] = captured[1:] / share[1:]
    lift[0] = (positives[1] / rows[1]) / y.mean() if total > 0 else np.nan
    return pd.DataFrame({"flagged_share": share, "captured_share": captured, "lift": lift})


# --- everything at once --------------------------------------------------------------


def _ranking_metrics(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    """AUCs need both classes: NaN (not an exception) when y holds only one."""
    if len(np.unique(y)) < 2:
        return {"roc_auc": float("nan"), "pr_auc": float("nan")}
    return {
        "roc_auc": float(roc_auc_score(y, s)),
        "pr_auc": float(average_precision_score(y, s)),
    }


def evaluate(
    y_true: Any, proba: Any, *, threshold: float, score: Any = None, flagged: Any = None
) -> dict[str, float]:
    """All headline metrics as one flat, JSON-safe dict keyed by `METRIC_KEYS`.

    `proba` is judged as a probability (log loss, Brier, ECE, the PQL `threshold`);
    `score`, when given, ranks rows instead of `proba` (a points rule ranks by points
    but states calibrated probabilities). Undefined values are NaN, never errors:
    AUCs with one class, lifts and capture without positives, precision with nothing
    flagged.
    """
    y, p = _pair(y_true, proba, "proba", unit=True)
    s = p if score is None else _scores(score, len(y))
    positives = int(y.sum())
    metrics: dict[str, float] = {
        "rows": len(y),
        "positives": positives,
        "base_rate": float(y.mean()),
        **_ranking_metrics(y, s),
        "log_loss": _log_loss(y, p),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": expected_calibration_error(y, p),
    }
    for name, fraction in TOP_FRACTIONS.items():
        precision, lift = top_fraction_stats(y, s, fraction)
        metrics[f"precision_top_{name}"] = precision
        metrics[f"lift_top_{name}"] = lift
    # `flagged`, when given, is the PQL set itself (a raw-score cut that splits ties)
    at_threshold = _cut_stats(
        y, p, threshold, None if flagged is None else np.asarray(flagged, dtype=bool)
    )
    metrics["pql_volume"] = at_threshold["flagged_share"]
    metrics["pql_precision"] = at_threshold["precision"]
    metrics["captured_at_threshold"] = at_threshold["recall"]
    return {key: metrics[key] for key in METRIC_KEYS}


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """PR-AUC as average precision (scikit-learn's definition, ties grouped), in numpy
    so a bootstrap can call it thousands of times."""
    positives = y.sum()
    if positives == 0:
        return math.nan
    order = np.argsort(-score, kind="stable")
    s, t = score[order], y[order]
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    hits = np.cumsum(t)[last_of_tie]
    flagged = (np.arange(1, len(t) + 1))[last_of_tie]
    recall = hits / positives
    precision = hits / flagged
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def paired_bootstrap_pr_auc(
    y_true: Any, model_score: Any, other_score: Any, *, resamples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """PR-AUC(model) - PR-AUC(other) on the same rows, and its 95% percentile interval
    from resampling the rows (both scores resampled together: a paired comparison)."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    a = np.asarray(model_score, dtype=np.float64).ravel()
    b = np.asarray(other_score, dtype=np.float64).ravel()
    difference = average_precision(y, a) - average_precision(y, b)
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    for i in range(resamples):
        pick = rng.integers(0, len(y), len(y))
        draws[i] = average_precision(y[pick], a[pick]) - average_precision(y[pick], b[pick])
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0:
        return difference, math.nan, math.nan
    low, high = np.quantile(draws, [0.025, 0.975])
    return float(difference), float(low), float(high)
