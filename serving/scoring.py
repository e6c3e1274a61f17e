"""Feature rows -> calibrated probability, 0-100 score, tier, PQL flag and reasons.

One TreeSHAP pass (`pred_contrib`) gives both the raw score (contributions plus the
base value sum to it exactly) and the reasons, so explaining costs no second model
evaluation. Many rows at once take LightGBM's contributions per split pattern
(`pql.serving.contributions`); a request's few rows ask LightGBM directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from pql.serving.attribute_input import model_frame
from pql.serving.bundle import ModelBundle
from pql.serving.contributions import TreeContributions
from pql.serving.fit_reasons import FitReason, FitReasonWriter
from pql.serving.reasons import Reason, ReasonWriter

#: Reference key holding percentiles of training-row probabilities (drift, old scores).
PROBABILITY_REFERENCE = "__probability__"
#: Reference key holding (lowest, median, highest) raw score of the training rows.
RAW_REFERENCE = "__raw__"
SMALL_BATCH = 256


@dataclass(frozen=True)
class Scores:
    """Columnar scores for n rows; `contributions` has the base value as last column."""

    raw: np.ndarray
    probability: np.ndarray
    score: np.ndarray
    tier: np.ndarray
    is_pql: np.ndarray
    contributions: np.ndarray


class Scorer:
    """A loaded bundle ready to score; build once per process, reuse per request."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle

    @cached_property
    def _contributions(self) -> TreeContributions | None:
        """LightGBM's contributions looked up per split pattern: the same numbers, an
        order of magnitude faster for many rows (see `pql.serving.contributions`)."""
        return TreeContributions.for_booster(self.bundle.booster)

    @cached_property
    def writer(self) -> ReasonWriter:
        return ReasonWriter(self.bundle.spec, self.bundle.definitions, self.bundle.reference)

    @cached_property
    def behaviour_width(self) -> int:
        """Model columns that are behaviour features; fit attributes follow them."""
        return len(self.bundle.definitions.names)

    @cached_property
    def fit_writer(self) -> FitReasonWriter:
        """Fit reasons (empty for a behaviour-only model)."""
        return FitReasonWriter(self.bundle.spec, self.bundle.encoding, self.behaviour_width)

    def score_0_100(self, probability: np.ndarray, raw: np.ndarray | None = None) -> np.ndarray:
        """The model's log-odds on a 0-100 scale set by the training rows: 50 = the median
        training row, 100 = the highest seen in training (0 the lowest), linear in between
        on each side; one decimal. It ranks: the top leads do not pile up at 99.

        Bundles from before the raw reference keep their percentile-of-probability score.
        """
        bounds = self.bundle.reference.get(RAW_REFERENCE)
        if raw is None or not bounds:
            percentiles = np.asarray(self.bundle.reference[PROBABILITY_REFERENCE])
            ranks = np.interp(probability, percentiles, np.linspace(0, 100, len(percentiles)))
            return np.clip(np.floor(ranks), 0, 100)
        low, middle, high = bounds
        points = np.interp(np.asarray(raw), [low, middle, high], [0.0, 50.0, 100.0])
        return np.round(points, 1)

    def predict(self, features: np.ndarray | pd.DataFrame) -> Scores:
        matrix = np.asarray(features, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix.reshape(1, -1)
        # One thread for small batches: OpenMP start-up and spin-waiting cost more than
        # the trees themselves for a request-sized input, worst on a busy 2-core machine.
        if len(matrix) >= SMALL_BATCH and self._contributions is not None:
            contributions = self._contributions(matrix)
        elif len(matrix) == 1 and self.bundle.single_row is not None:
            contributions = self.bundle.single_row(matrix[0])
        else:
            threads = 1 if len(matrix) < SMALL_BATCH else 0
            contributions = np.asarray(
                self.bundle.booster.predict(matrix, pred_contrib=True, num_threads=threads)
            )
        raw = contributions.sum(axis=1)
        probability = self.bundle.calibrator(raw)
        return Scores(
            raw=raw,
            probability=probability,
            score=self.score_0_100(probability, raw),
            tier=self.bundle.tiers.name(probability, raw),
            is_pql=self.bundle.tiers.is_hot(probability, raw),
            contributions=contributions,
        )

    def reasons(
        self, features: np.ndarray, scores: Scores
    ) -> list[tuple[list[Reason], list[Reason]]]:
        """(positive, negative) reasons per row."""
        matrix = np.asarray(features, dtype=np.float64).reshape(len(scores.raw), -1)
        contributions = scores.contributions[:, : self.behaviour_width]
        return self.writer.explain(matrix[:, : self.behaviour_width], contributions)

    def fit_reasons(
        self, features: np.ndarray, scores: Scores
    ) -> list[tuple[list[FitReason], list[FitReason]]]:
        """(positive, negative) fit reasons per row (empty lists without attributes)."""
        matrix = np.asarray(features, dtype=np.float64).reshape(len(scores.raw), -1)
        if not self.fit_writer:
            return [([], []) for _ in range(len(matrix))]
        return self.fit_writer.explain(matrix, scores.contributions[:, :-1])

    def context(self, features: np.ndarray) -> list[list[str]]:
        """Time facts per row (signed up, last active), shown beside the reasons."""
        matrix = np.asarray(features, dtype=np.float64)
        return self.writer.contexts(matrix.reshape(len(matrix), -1))

    def score_frame(self, frame: pd.DataFrame, *, with_reasons: bool = True) -> pd.DataFrame:
        """Leads table for feature rows (id columns are carried through)."""
        names = list(self.bundle.feature_names)
        frame, _ = model_frame(self.bundle.encoding, frame)  # raw fit attributes -> codes
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise ValueError(f"feature frame lacks {len(missing)} model feature(s): {missing[:5]}")
        features = frame[names].to_numpy(np.float64)
        scores = self.predict(features)
        ids = [c for c in ("entity_id", "account_id", "as_of") if c in frame.columns]
        out = frame[ids].copy()
        out["probability"] = scores.probability
        out["score"] = scores.score
        out["tier"] = scores.tier
        out["is_pql"] = scores.is_pql
        if with_reasons:
            explained = self.reasons(features, scores)
            out["reasons"] = [[r.as_dict() for r in pos] for pos, _ in explained]
            out["negative_reasons"] = [[r.as_dict() for r in neg] for _, neg in explained]
            out["context"] = self.context(features)
            if self.fit_writer:
                fit = self.fit_reasons(features, scores)
                out["fit_reasons"] = [[r.as_dict() for r in pos] for pos, _ in fit]
                out["negative_fit_reasons"] = [[r.as_dict() for r in neg] for _, neg in fit]
        return out
