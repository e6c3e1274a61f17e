"""Calibrate raw log-odds on validation: isotonic or Platt, whichever generalises better.

Choosing by validation log loss of a calibrator fitted on that same validation set
would always pick isotonic (it memorises). The choice is therefore made by 5-fold
cross-validated log loss within validation; the winner is then refitted on all of it.
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


@dataclass(frozen=True)
class CalibrationChoice:
    calibrator: Calibrator
    cv_log_loss: dict[str, float]


def _isotonic(raw: np.ndarray, y: np.ndarray) -> Calibrator:
    model = IsotonicRegression(y_min=EPSILON, y_max=1 - EPSILON, out_of_bounds="clip").fit(raw, y)
    return Calibrator(
        kind="isotonic",
        x=tuple(float(v) for v in model.X_thresholds_),
        y=tuple(float(v) for v in model.y_thresholds_),
    )


def _platt(raw: np.ndarray, y: np.ndarray) -> Calibrator:
    model = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), y)
    return Calibrator(
        kind="platt", slope=float(model.coef_[0, 0]), intercept=float(model.intercept_[0])
    )


FITTERS = {"isotonic": _isotonic, "platt": _platt}


def choose_calibrator(raw: np.ndarray, y: np.ndarray, seed: int = 0) -> CalibrationChoice:
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    losses = {}
    for name, fit in FITTERS.items():
        predicted = np.empty(len(y))
        for train_idx, test_idx in folds.split(raw, y):
            predicted[test_idx] = fit(raw[train_idx], y[train_idx])(raw[test_idx])
        losses[name] = float(log_loss(y, np.clip(predicted, EPSILON, 1 - EPSILON)))
    best = min(losses, key=lambda name: losses[name])
    return CalibrationChoice(calibrator=FITTERS[best](raw, y), cv_log_loss=losses)
