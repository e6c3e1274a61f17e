"""Is the scoring moment one the model can speak about?

Two ways a batch score goes quietly wrong without any error:

- scoring after the data ends (the default `as_of` is now, and exports lag): features
  see no activity after the last event, so every entity looks idle and older than it
  is, and nobody qualifies;
- scoring entities far older than any training row (a freemium log scored with
  trial-age snapshots): the model never saw such tenures and extrapolates. A freemium
  model's rows run to `freemium.max_age_days`, so its long-lived users are inside.

`moment_warnings` turns both into sentences with exact counts; `pql score` prints them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Scoring this long after the end of the data is warned about (exports lag a little).
PAST_DATA_TOLERANCE = pd.Timedelta(days=1)
TENURE = "tenure_days"


def _when(stamp: pd.Timestamp) -> str:
    return f"{stamp:%Y-%m-%d %H:%M} UTC"


def past_data_warning(as_of: pd.Timestamp, data_end: pd.Timestamp | None) -> str | None:
    """A sentence when `as_of` lies more than a day after the end of the data."""
    if data_end is None or as_of - data_end <= PAST_DATA_TOLERANCE:
        return None
    gap = (as_of - data_end) / pd.Timedelta(days=1)
    return (
        f"as_of {_when(as_of)} is {gap:,.1f} days after the end of the data "
        f"({_when(data_end)}): features see no activity after it, so every entity looks "
        f"idle for those {gap:,.1f} days and older than it was; score at --as-of "
        f"{data_end:%Y-%m-%dT%H:%M:%SZ} (the end of the data) or refresh the data"
    )


def tenure_warning(
    features: pd.DataFrame | None,
    reference: dict[str, tuple[float, ...]],
    shape: str | None = None,
) -> str | None:
    """A sentence counting scored entities older than every training row.

    `reference["tenure_days"]` holds the training rows' percentiles 0..100 (model
    bundle); its last value is the oldest training cutoff's tenure.
    """
    percentiles = reference.get(TENURE)
    if features is None or not len(features) or not percentiles or TENURE not in features:
        return None
    oldest_trained = float(percentiles[-1])
    tenure = features[TENURE].to_numpy(np.float64)
    beyond = tenure > oldest_trained
    count = int(beyond.sum())
    if not count:
        return None
    noun = "entity is" if count == 1 else "entities are"
    remedy = (
        "raise freemium.max_age_days (up to the ages you score) and retrain"
        if shape == "freemium"
        else "add later snapshots_days (up to the ages you score) and retrain"
    )
    return (
        f"{count:,} of {len(tenure):,} scored {noun} older than any training row "
        f"(tenure_days above {oldest_trained:,.1f}, the oldest training cutoff; the oldest "
        f"scored is {float(tenure[beyond].max()):,.1f} days): the model never saw such ages, "
        f"so their scores extrapolate; score them at an age the model knows, or {remedy}"
    )


def moment_warnings(
    as_of: pd.Timestamp,
    data_end: pd.Timestamp | None,
    features: pd.DataFrame | None = None,
    reference: dict[str, tuple[float, ...]] | None = None,
    shape: str | None = None,
) -> list[str]:
    """Every warning about the scoring moment, in the order a person should read them.

    `shape` is the model's (its bundle spec): a freemium model trained on cutoffs up to
    `freemium.max_age_days` knows users of every age up to there, so only older ones
    are outside (the reference's oldest training tenure says where that is)."""
    found = [
        past_data_warning(as_of, data_end),
        tenure_warning(features, reference or {}, shape),
    ]
    return [text for text in found if text]
