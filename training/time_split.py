"""Train / validation / test by cutoff time, for freemium products.

Why not by signup (`training.split`): a freemium model scores the same long-lived free
users month after month, and its rows cover every age. Holding out the latest signups
would test it only on users a few weeks old, never on the 300-day-old users it must
also rank. So freemium rows are ordered by their cutoff (`as_of`): the earliest rows
train, the next validate, the latest test, as time would have it in production.

No leakage: a row's label looks `horizon_days` past its cutoff, so a training row whose
label window runs into the validation period (or a validation row's into the test
period) would learn from outcomes that lie in the held-out future. Such rows sit in a
purge gap and are left out, counted. An entity may appear in several parts, at
different ages (its earlier life trains, its later life is tested), as it will be when
the model scores it; features are behaviour, never identity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pql.errors import PqlError

GAP = "gap"


def assign_time_splits(
    rows: pd.DataFrame, validation_fraction: float, test_fraction: float, horizon_days: float
) -> pd.Series:
    """Split name per row by cutoff time; rows whose label reaches a later part: "gap"."""
    as_of = rows["as_of"]
    ordered = np.sort(as_of.to_numpy())
    n = len(ordered)
    n_test = round(n * test_fraction)
    n_validation = round(n * validation_fraction)
    if min(n - n_test - n_validation, n_validation, n_test) < 1:
        raise PqlError(
            f"only {n} labelled rows: too few to split into train, validation and test "
            "by cutoff time"
        )
    test_start = ordered[n - n_test]
    validation_start = ordered[n - n_test - n_validation]
    horizon = pd.Timedelta(days=horizon_days)
    label_end = as_of + horizon
    names = np.where(
        as_of >= test_start, "test", np.where(as_of >= validation_start, "validation", "train")
    ).astype(object)
    names[(names == "train") & (label_end > validation_start).to_numpy()] = GAP
    names[(names == "validation") & (label_end > test_start).to_numpy()] = GAP
    return pd.Series(names, index=rows.index)
