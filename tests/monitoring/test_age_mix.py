"""Drift that is only the age mix of who was scored is told apart from behaviour drift."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pql.monitoring.age_mix import age_adjusted_psi
from pql.training.drift import psi_against, reference_bins


def _population(rng: np.random.Generator, ages: np.ndarray, per_day: float) -> pd.DataFrame:
    """Totals grow with age: events_count ~ Poisson(per_day * age)."""
    return pd.DataFrame({"tenure_days": ages, "events_count": rng.poisson(per_day * ages)})


def test_age_mix_alone_is_explained_and_behaviour_is_not() -> None:
    rng = np.random.default_rng(1)
    train = _population(rng, rng.uniform(0, 360, 20_000) * rng.uniform(0.2, 1, 20_000), 2)
    reference = {name: reference_bins(train[name]) for name in train}
    # same behaviour, every age, but older on the whole (a run of all free users today)
    older = _population(rng, rng.uniform(0, 360, 5_000), 2)
    raw = psi_against(reference["events_count"], older["events_count"])
    adjusted = age_adjusted_psi(reference, older, ["events_count"])["events_count"]
    assert raw > 0.25 and adjusted < 0.1
    busier = _population(rng, older["tenure_days"].to_numpy(), 4)  # twice the activity
    moved = age_adjusted_psi(reference, busier, ["events_count"])["events_count"]
    assert moved > 0.25


def test_no_tenure_no_adjustment() -> None:
    frame = pd.DataFrame({"events_count": [1.0, 2.0]})
    reference = {"events_count": reference_bins([1.0, 2.0, 3.0])}
    assert age_adjusted_psi(reference, frame, ["events_count"]) == {}
