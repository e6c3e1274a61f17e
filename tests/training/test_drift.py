"""PSI and its reference bins, checked against hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pql.training.drift import band, bin_proportions, psi, psi_against, reference_bins


def test_psi_matches_hand_computation() -> None:
    expected = [0.5, 0.3, 0.2]
    actual = [0.4, 0.4, 0.2]
    by_hand = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.4 - 0.3) * math.log(0.4 / 0.3)
    assert psi(expected, actual) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(0.05108, abs=1e-5)
    assert psi(expected, expected) == 0.0


def test_psi_floors_empty_bins_instead_of_infinity() -> None:
    value = psi([0.5, 0.5, 0.0], [0.5, 0.4, 0.1])
    by_hand = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.1 - 1e-4) * math.log(0.1 / 1e-4)
    assert value == pytest.approx(by_hand, rel=1e-12)
    with pytest.raises(ValueError, match="shape"):
        psi([0.5, 0.5], [1.0])


def test_bins_put_edges_left_and_missing_last() -> None:
    proportions = bin_proportions([0.0, 1.0, 1.5, 2.0, 5.0, np.nan, np.nan, 3.0], [1.0, 2.0])
    # (-inf, 1]: 0, 1 | (1, 2]: 1.5, 2 | (2, inf): 5, 3 | missing: 2
    assert proportions.tolist() == [2 / 8, 2 / 8, 2 / 8, 2 / 8]


def test_reference_bins_are_training_deciles_with_duplicates_merged() -> None:
    values = np.arange(1, 101, dtype=float)
    reference = reference_bins(values)
    assert reference["edges"] == pytest.approx(np.quantile(values, np.linspace(0.1, 0.9, 9)))
    assert reference["proportions"] == pytest.approx([0.1] * 10 + [0.0])
    # a mostly-zero count: the zeros share one bin, "never happened" (NaN) its own
    counts = np.array([0.0] * 70 + [1.0] * 20 + [5.0] * 5 + [np.nan] * 5)
    reference = reference_bins(counts)
    # 95 finite values: every decile of them is 0 or 1 -> bins <=0, (0, 1], >1, missing
    assert reference["edges"] == [0.0, 1.0]
    assert reference["proportions"] == pytest.approx([0.70, 0.20, 0.05, 0.05])
    assert psi_against(reference, counts) == 0.0


def test_a_shift_from_never_to_often_is_major() -> None:
    rng = np.random.default_rng(0)
    training = np.where(rng.random(5000) < 0.6, np.nan, rng.poisson(2, 5000))
    same = np.where(rng.random(5000) < 0.6, np.nan, rng.poisson(2, 5000))
    shifted = np.where(rng.random(5000) < 0.2, np.nan, rng.poisson(6, 5000))
    reference = reference_bins(training)
    assert band(psi_against(reference, same)) == "stable"
    assert band(psi_against(reference, shifted)) == "major"
    assert [band(v) for v in (0.05, 0.1, 0.2, 0.25, float("nan"))] == [
        "stable",
        "moderate",
        "moderate",
        "major",
        "unknown",
    ]
