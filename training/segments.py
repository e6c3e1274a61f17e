"""Metrics by segment: is the model as good, and as well calibrated, for every kind of lead?

Why: sales routes leads by company size, vertical and country; a model that ranks well
overall can still be miscalibrated for one segment (its "40%" leads in retail convert at
10%), and a rep there would learn to ignore it. For each categorical fit attribute with
few levels, the held-out (test) rows are split by level: rows, base rate, PR-AUC (NaN
when a segment has only one outcome), and calibration as the mean predicted probability
against the observed rate with its 95% Wilson interval.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from pql.features.attributes import OTHER, AttributeEncoding
from pql.training.metrics import average_precision, wilson_interval

#: An attribute with more levels (pooled "other" and unknown included) is not segmented:
#: a table of 40 countries is not read, and small segments only show noise.
MAX_SEGMENTS = 12
UNKNOWN = "unknown"
SEGMENT_COLUMNS = (
    "attribute",
    "level",
    "rows",
    "positives",
    "base_rate",
    "pr_auc",
    "predicted",
    "observed_low",
    "observed_high",
    "calibrated",
)


def segment_levels(encoding: AttributeEncoding, name: str, codes: np.ndarray) -> np.ndarray:
    """Each row's level name: the kept level, "other" (pooled or unseen), or "unknown"."""
    known = encoding.levels.get(name, ())
    names = np.array([*known, OTHER, UNKNOWN], dtype=object)
    finite = np.isfinite(codes)
    position = np.where(finite, np.clip(np.nan_to_num(codes), 0, len(known)), len(known) + 1)
    return names[position.astype(np.int64)]


def segment_table(
    encoding: AttributeEncoding, test: pd.DataFrame, probability: np.ndarray
) -> pd.DataFrame:
    """One row per (attribute, level) of the test rows; `test` holds the encoded
    attribute columns and `label`."""
    y = test["label"].to_numpy(np.float64)
    p = np.asarray(probability, dtype=np.float64)
    records = []
    for name in encoding.categorical_names:
        levels = segment_levels(encoding, name, test[name].to_numpy(np.float64))
        distinct = pd.unique(levels)
        if len(distinct) > MAX_SEGMENTS:
            continue
        for level in sorted(distinct, key=lambda v: (-(levels == v).sum(), str(v))):
            rows = levels == level
            n, hits = int(rows.sum()), int(y[rows].sum())
            low, high = wilson_interval(hits, n)
            predicted = float(p[rows].mean())
            records.append(
                {
                    "attribute": name,
                    "level": str(level),
                    "rows": n,
                    "positives": hits,
                    "base_rate": hits / n,
                    "pr_auc": average_precision(y[rows], p[rows]) if 0 < hits < n else math.nan,
                    "predicted": predicted,
                    "observed_low": low,
                    "observed_high": high,
                    "calibrated": bool(low <= predicted <= high),
                }
            )
    return pd.DataFrame.from_records(records, columns=list(SEGMENT_COLUMNS))


def _metric_name(text: str) -> str:
    """MLflow metric names allow letters, digits, _ - . / and space: keep those."""
    return re.sub(r"[^0-9A-Za-z_.-]+", "_", text).strip("_") or "level"


def segment_metrics(table: pd.DataFrame) -> dict[str, float]:
    """Flat MLflow metrics: `segment_<attribute>_<level>_<measure>` on the test rows."""
    metrics: dict[str, float] = {}
    for row in table.itertuples(index=False):
        prefix = f"segment_{row.attribute}_{_metric_name(row.level)}"
        metrics[f"{prefix}_rows"] = float(row.rows)
        metrics[f"{prefix}_base_rate"] = float(row.base_rate)
        metrics[f"{prefix}_pr_auc"] = float(row.pr_auc)
        metrics[f"{prefix}_predicted"] = float(row.predicted)
    return metrics


def segment_lines(table: pd.DataFrame) -> list[str]:
    """The table as lines a person reads in the training output."""
    lines = []
    for attribute, part in table.groupby("attribute", sort=False):
        lines.append(f"test rows by {attribute}:")
        for row in part.itertuples(index=False):
            pr_auc = "n/a (one outcome)" if not math.isfinite(row.pr_auc) else f"{row.pr_auc:.3f}"
            verdict = "calibrated" if row.calibrated else "OFF: outside the interval"
            lines.append(
                f"  {row.level}: {row.rows:,} rows, base rate {row.base_rate:.1%}, PR-AUC "
                f"{pr_auc}, predicted {row.predicted:.1%} vs observed {row.base_rate:.1%} "
                f"(95% CI {row.observed_low:.1%}-{row.observed_high:.1%}): {verdict}"
            )
    return lines
