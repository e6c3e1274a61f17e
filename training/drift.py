"""Population stability (PSI): how far a scoring run's distribution moved from training.

Why PSI on reference bins: it needs only a few numbers per feature from training (the
bin edges and the share of training rows in each bin), so the model bundle can carry
them and monitoring never has to re-read the training data. Bins are the training
deciles; a feature that is mostly zero gets fewer, wider bins (duplicate edges are
merged) and "missing" (NaN: never happened) is a bin of its own, because a shift from
"never did it" to "did it" is exactly the drift that matters here.

PSI = sum over bins of (actual - expected) * ln(actual / expected), with empty bins
floored at `FLOOR` so one empty bin is a large finite penalty, not infinity. The usual
reading: below 0.1 stable, 0.1 to 0.25 a moderate shift worth watching, 0.25 and above a
major shift.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Proportions below this are raised to it before the logarithm.
FLOOR = 1e-4
#: Quantiles of the training rows used as inner bin edges (deciles).
QUANTILES = np.linspace(0.1, 0.9, 9)
MODERATE, MAJOR = 0.1, 0.25


def reference_bins(values: Any) -> dict[str, list[float]]:
    """Decile edges and the share of rows per bin (last entry: the missing bin).

    Bins are (-inf, e1], (e1, e2], ..., (ek, +inf) on the finite values, then NaN.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if len(x) == 0:
        raise ValueError("reference_bins needs at least one value")
    finite = x[np.isfinite(x)]
    edges = np.unique(np.quantile(finite, QUANTILES)) if len(finite) else np.array([])
    return {
        "edges": [float(e) for e in edges],
        "proportions": [float(p) for p in bin_proportions(x, edges)],
    }


def bin_proportions(values: Any, edges: Any) -> np.ndarray:
    """Share of `values` in each bin of `edges` (len(edges) + 1 bins, then missing)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    edges = np.asarray(edges, dtype=np.float64)
    if len(x) == 0:
        raise ValueError("no values to bin")
    missing = ~np.isfinite(x)
    index = np.searchsorted(edges, x[~missing], side="left")
    counts = np.bincount(index, minlength=len(edges) + 1).astype(np.float64)
    return np.append(counts, missing.sum()) / len(x)


def psi(expected: Any, actual: Any, floor: float = FLOOR) -> float:
    """Population stability index between two vectors of bin proportions."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape or e.ndim != 1 or len(e) == 0:
        raise ValueError(f"expected and actual proportions differ in shape: {e.shape}, {a.shape}")
    if (e < 0).any() or (a < 0).any():
        raise ValueError("proportions must not be negative")
    e, a = np.maximum(e, floor), np.maximum(a, floor)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_against(reference: dict[str, list[float]], values: Any) -> float:
    """PSI of `values` against one feature's stored reference bins."""
    actual = bin_proportions(values, reference["edges"])
    return psi(reference["proportions"], actual)


def band(value: float) -> str:
    """'stable' below 0.1, 'moderate' below 0.25, else 'major'."""
    if not np.isfinite(value):
        return "unknown"
    return "stable" if value < MODERATE else "moderate" if value < MAJOR else "major"
