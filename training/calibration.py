"""Calibrate raw log-odds on validation: isotonic or Platt, whichever generalises better.

Choosing by validation log loss of a calibrator fitted on that same validation set
would always pick isotonic (it memorises). The choice is therefore made by 5-fold
cross-validated log loss within validation; the winner is then refitted on all of it.

Bounded by what the data can support: with fewer than `MIN_ISOTONIC_ROWS` rows (or
`MIN_ISOTONIC_POSITIVES` conversions) isotonic is not a candidate (scikit-learn advises
against it well under ~1,000 rows: it overfits); isotonic is fitted on bins of at least
`min_block_rows` rows, so every step rests on that many rows, interpolated between bin
centres, and never says 0 or 1: a bin with no conversion maps to about half a
conversion in its rows (0.5 / (rows + 1)), inside the interval its data gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from pql.serving.bundle import Calibrator

EPSILON = 1e-4
MIN_ISOTONIC_ROWS = 1_000
MIN_ISOTONIC_POSITIVES = 50


def min_block_rows(n: int) -> int:
    """Rows each isotonic step rests on: 1% of the set, at least 50."""
    return max(50, n // 100)


@dataclass(frozen=True)
class CalibrationChoice:
    calibrator: Calibrator
    cv_log_loss: dict[str, float]


def _isotonic(raw: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Calibrator:
    order = np.argsort(raw, kind="stable")
    size = min_block_rows(len(raw))
    bins = [part for part in np.array_split(order, max(1, len(raw) // size)) if len(part)]
    centres = np.array([raw[part].mean() for part in bins])
    if w is None:
        rates = np.array([y[part].mean() for part in bins])
        weights = np.array([len(part) for part in bins], dtype=np.float64)
    else:  # down-sampled rows: each bin's rate as the rows it stands for would give it
        rates = np.array([np.average(y[part], weights=w[part]) for part in bins])
        weights = np.array([w[part].sum() for part in bins], dtype=np.float64)
    floor = 0.5 / (size + 1)
    model = IsotonicRegression(y_min=floor, y_max=1 - floor, out_of_bounds="clip")
    fitted = model.fit(centres, rates, sample_weight=weights).predict(centres)
    return Calibrator(
        kind="isotonic",
        x=tuple(float(v) for v in centres),
        y=tuple(float(v) for v in fitted),
        low=floor,
        high=1 - floor,
    )


def _platt(raw: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Calibrator:
    model = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), y, sample_weight=w)
    floor = 0.5 / (len(y) + 1)
    return Calibrator(
        kind="platt",
        slope=float(model.coef_[0, 0]),
        intercept=float(model.intercept_[0]),
        low=floor,
        high=1 - floor,
    )


FITTERS = {"isotonic": _isotonic, "platt": _platt}


def choose_calibrator(
    raw: np.ndarray, y: np.ndarray, seed: int = 0, weight: np.ndarray | None = None
) -> CalibrationChoice:
    """`weight`: the rows' weights when negatives were down-sampled (kept negatives
    weigh 1 / rate), so the calibrator and its CV loss are those of all the rows."""
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    losses = {}
    fitters = dict(FITTERS)
    if len(y) < MIN_ISOTONIC_ROWS or y.sum() < MIN_ISOTONIC_POSITIVES:
        fitters.pop("isotonic")  # too few rows for steps that generalise
    for name, fit in fitters.items():
        predicted = np.empty(len(y))
        for train_idx, test_idx in folds.split(raw, y):
            fold_weight = None if weight is None else weight[train_idx]
            predicted[test_idx] = fit(raw[train_idx], y[train_idx], fold_weight)(raw[test_idx])
        clipped = np.clip(predicted, EPSILON, 1 - EPSILON)
        losses[name] = float(log_loss(y, clipped, sample_weight=weight))
    best = min(losses, key=lambda name: losses[name])
    return CalibrationChoice(calibrator=FITTERS[best](raw, y, weight), cv_log_loss=losses)
