"""Tiers mean what the spec says, and calibration says only what its data supports."""

from __future__ import annotations

import numpy as np
import pytest

from pql.features.pipeline import load_dataset
from pql.features.spec import load_spec
from pql.simulator import simulate
from pql.training.calibration import MIN_ISOTONIC_ROWS, choose_calibrator
from pql.training.metrics import cut_for_top_percent, reliability_table
from pql.training.train import share_tolerance, train_model


def test_a_cut_moves_off_a_plateau_to_the_nearest_share() -> None:
    # 78% of rows on one value: the quantile lands on it and would flag 83%
    score = np.concatenate([np.full(780, 0.2), np.linspace(0.3, 0.9, 170), np.full(50, 0.1)])
    cut, share = cut_for_top_percent(score, 10)
    assert cut > 0.2 and abs(share - 0.10) < 0.005
    assert np.mean(score >= cut) == pytest.approx(share)


def test_a_plateau_that_cannot_be_split_is_reported_as_it_is() -> None:
    score = np.concatenate([np.full(900, 0.5), np.full(100, 0.1)])
    _, share = cut_for_top_percent(score, 10)
    assert share in (0.9, 1.0)  # honest: no cut flags 10%


def test_small_calibration_sets_never_get_isotonic_and_never_say_zero() -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(size=400)
    y = (rng.random(400) < 1 / (1 + np.exp(-raw))).astype(int)
    assert len(raw) < MIN_ISOTONIC_ROWS
    assert choose_calibrator(raw, y).calibrator.kind == "platt"
    big = rng.normal(size=20_000)
    labels = (rng.random(20_000) < 1 / (1 + np.exp(-3 * big))).astype(int)
    calibrator = choose_calibrator(big, labels).calibrator
    extreme = calibrator(np.array([-50.0, 50.0]))
    assert extreme[0] > 0 and extreme[1] < 1


def test_reliability_table_flags_a_bin_outside_its_interval() -> None:
    y = np.array([0] * 90 + [1] * 10 + [0] * 50 + [1] * 50)
    p = np.array([0.1] * 100 + [0.9] * 100)  # the second bin is really 0.5
    table = reliability_table(y, p, bins=2)
    assert list(table["inside"]) == [True, False]


@pytest.mark.slow
def test_twenty_thousand_users_hot_share_and_reliability(tmp_path) -> None:
    simulate(20_000, 11, tmp_path)
    dataset = load_dataset(load_spec(tmp_path / "pql.yaml"))
    result = train_model(dataset)
    target = dataset.spec.pql.top_percent
    for part in ("validation", "test"):
        share = 100 * result.metrics[f"{part}_hot_share"]
        assert abs(share - target) <= share_tolerance(target), (part, share)
    table = result.reliability
    assert len(table) == 10 and table["rows"].sum() == len(result.test)
    outside = table[~table["inside"]]
    assert outside.empty, table.to_string()
    assert result.metrics["test_reliability_bins_outside"] == 0
    assert "hot flags" in result.tier_note
