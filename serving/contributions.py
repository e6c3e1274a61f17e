"""Exact TreeSHAP contributions for many rows: looked up, not recomputed per row.

LightGBM's `pred_contrib` runs TreeSHAP for every row and tree: about 170 us a row on
this project's models, 66x the probability alone, which made a million leads with
reasons take minutes. Yet a tree's contributions depend on a row only through the
side it takes at each of the tree's splits (path-dependent TreeSHAP reads nothing
else of the row), and a tree of a few splits has few such patterns. So the rows' split
patterns are found with vectorised comparisons, LightGBM computes the contributions
once for one row of each pattern not seen before, and every row gets its pattern's
values. The numbers are LightGBM's own; only their sum over trees is taken in another
order (differences of about 1e-15 in log-odds).

Only numerical splits are decided here; a model with another kind of split (categorical,
linear trees, several classes) is left to LightGBM (`for_booster` returns None).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

#: LightGBM reads |value| <= this as zero (its kZeroThreshold, 1e-35 as a float32).
ZERO_THRESHOLD = float(np.float32(1e-35))
#: A tree with more splits than this is left to LightGBM (its patterns rarely repeat).
MAX_SPLITS = 48
#: Up to this many splits, a tree's seen patterns are a direct table of 2**splits rows.
DIRECT_SPLITS = 12


@dataclass(frozen=True)
class _FeatureSplits:
    """The splits of every tree on one feature, and the pattern bits they set."""

    feature: int
    threshold: np.ndarray  # a row goes left when its value <= threshold
    slot: np.ndarray  # the bit of each split in the model's bit matrix
    default_left: np.ndarray  # bool: where a missing value goes
    missing_is_nan: np.ndarray  # bool: missing means NaN (else NaN reads as 0)
    missing_is_zero: np.ndarray  # bool: missing means zero (NaN included)

    def set_bits(self, columns: np.ndarray, bits: np.ndarray) -> None:
        """Which way every row goes at these splits (LightGBM's numerical decision)."""
        value = columns[self.feature]
        nan = np.isnan(value)
        # LightGBM reads |value| <= 1e-35 (a float32 bound) as 0, and NaN as 0 unless the
        # split's missing values are NaN
        plain = np.where(nan | (np.abs(value) <= ZERO_THRESHOLD), 0.0, value)
        left = plain[None, :] <= self.threshold[:, None]
        for kind, missing in ((self.missing_is_nan, nan), (self.missing_is_zero, plain == 0)):
            if kind.any():
                left[kind] = np.where(missing[None, :], self.default_left[kind, None], left[kind])
        bits[self.slot] = left


@dataclass(frozen=True)
class _Splits:
    """Every numerical split of the model, grouped by feature; tree t owns the bits
    [t * width, (t + 1) * width) of the bit matrix, its k-th split bit k."""

    by_feature: list[_FeatureSplits]
    trees: int
    width: int  # bits per tree: 8, 16, 32 or 64 (an unsigned integer type)

    def codes(self, matrix: np.ndarray) -> np.ndarray:
        """(trees, n) pattern codes: bit k = the row goes left at the tree's k-th split."""
        columns = np.ascontiguousarray(matrix.T)
        bits = np.zeros((self.trees * self.width, len(matrix)), dtype=bool)
        for splits in self.by_feature:
            splits.set_bits(columns, bits)
        by_tree = bits.reshape(self.trees, self.width, -1).view(np.uint8)
        codes = np.zeros((self.trees, len(matrix)), dtype=f"uint{self.width}")
        for bit in range(self.width):
            codes |= by_tree[:, bit].astype(codes.dtype) << bit
        return codes.astype(np.int64)


class _Seen:
    """One tree's contributions computed so far, found by pattern code."""

    def __init__(self, splits: int, columns: np.ndarray) -> None:
        self.columns = columns  # contribution columns the tree can touch (features + base)
        self.direct = splits <= DIRECT_SPLITS
        self.index = np.full(2**splits if self.direct else 0, -1, dtype=np.int64)
        self.codes = np.zeros(0, dtype=np.int64)  # sorted, when not direct
        self.values = np.zeros((0, len(columns)))

    def find(self, codes: np.ndarray) -> np.ndarray:
        """Row of `values` for each code, -1 where not computed yet."""
        if self.direct:
            return self.index[codes]
        at = np.searchsorted(self.codes, codes)
        inside = at < len(self.codes)
        found = np.zeros(len(codes), dtype=bool)
        found[inside] = self.codes[at[inside]] == codes[inside]
        return np.where(found, at, -1)

    def grown(self, codes: np.ndarray, values: np.ndarray) -> _Seen:
        """A copy that also knows `codes` (new, distinct) -> `values`."""
        seen = _Seen.__new__(_Seen)
        seen.columns, seen.direct = self.columns, self.direct
        seen.values = np.concatenate([self.values, values])
        if self.direct:
            seen.index = self.index.copy()
            seen.index[codes] = np.arange(len(self.values), len(seen.values))
            seen.codes = self.codes
        else:
            all_codes = np.concatenate([self.codes, codes])
            order = np.argsort(all_codes, kind="stable")
            seen.codes, seen.values, seen.index = all_codes[order], seen.values[order], self.index
        return seen


class TreeContributions:
    """`pred_contrib` of a binary LightGBM model, computed once per split pattern."""

    def __init__(self, booster: lgb.Booster, splits: _Splits, seen: list[_Seen]) -> None:
        self.booster = booster
        self.splits = splits
        self.width = booster.num_feature() + 1
        self._seen = seen
        self._lock = threading.Lock()

    @classmethod
    def for_booster(cls, booster: lgb.Booster) -> TreeContributions | None:
        """None when the model has splits this does not decide (LightGBM scores it)."""
        model = booster.dump_model()
        if model.get("num_class", 1) != 1:
            return None
        width = booster.num_feature() + 1
        trees = [_tree_splits(info["tree_structure"]) for info in model["tree_info"]]
        if any(tree is None or len(tree) > MAX_SPLITS for tree in trees):
            return None
        splits = _model_splits([tree or [] for tree in trees])
        seen = []
        for tree in trees:
            features = [int(node["split_feature"]) for node in tree or []]
            seen.append(_Seen(len(tree or []), np.unique(np.append(features, width - 1))))
        return cls(booster, splits, seen)

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        """(n, features + 1) contributions, the base value last, as `pred_contrib`."""
        matrix = np.asarray(matrix, dtype=np.float64)
        n = len(matrix)
        tree_codes = self.splits.codes(matrix)
        out = np.zeros((self.width, n))  # one contiguous row per column: cheap to add to
        for tree in range(len(self._seen)):
            codes = tree_codes[tree]
            seen = self._seen[tree]
            rows = seen.find(codes)
            if (rows < 0).any():
                seen = self._learn(tree, matrix, codes, rows < 0)
                rows = seen.find(codes)
            out[seen.columns] += seen.values[rows].T
        return out.T

    def _learn(self, tree: int, matrix: np.ndarray, codes: np.ndarray, new: np.ndarray) -> _Seen:
        """Ask LightGBM for the tree's contributions of the patterns first seen here."""
        fresh, first = np.unique(codes[new], return_index=True)
        computed = self.booster.predict(
            matrix[np.flatnonzero(new)[first]],
            pred_contrib=True,
            start_iteration=tree,
            num_iteration=1,
            num_threads=1,
        )
        with self._lock:  # concurrent callers may learn the same patterns: keep one
            seen = self._seen[tree]
            still = seen.find(fresh) < 0
            grown = seen.grown(fresh[still], np.asarray(computed)[still][:, seen.columns])
            self._seen[tree] = grown
        return grown


def _tree_splits(root: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The tree's split nodes in a fixed order; None if one is not numerical."""
    splits: list[dict[str, Any]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if "leaf_value" in node:
            if node.get("leaf_coeff"):  # a linear tree: its leaves read the row too
                return None
            continue
        if node.get("decision_type") != "<=":
            return None
        splits.append(node)
        stack += [node["right_child"], node["left_child"]]
    return splits


def _model_splits(trees: list[list[dict[str, Any]]]) -> _Splits:
    most = max((len(tree) for tree in trees), default=0)
    width = next(bits for bits in (8, 16, 32, 64) if most <= bits)
    rows = [
        (int(node["split_feature"]), tree * width + bit, node)
        for tree, nodes in enumerate(trees)
        for bit, node in enumerate(nodes)
    ]
    by_feature = []
    for feature in sorted({row[0] for row in rows}):
        nodes = [(slot, node) for f, slot, node in rows if f == feature]
        missing = np.array([str(node["missing_type"]) for _, node in nodes])
        by_feature.append(
            _FeatureSplits(
                feature=feature,
                threshold=np.array([float(node["threshold"]) for _, node in nodes]),
                slot=np.array([slot for slot, _ in nodes], dtype=np.int64),
                default_left=np.array([bool(node["default_left"]) for _, node in nodes]),
                missing_is_nan=missing == "NaN",
                missing_is_zero=missing == "Zero",
            )
        )
    return _Splits(by_feature=by_feature, trees=len(trees), width=width)
