"""Which shape a product has: a trial with an end, or freemium (free with no end).

Why it matters: a trial product is cut at ages of the trial (`snapshots_days`) and a
user past the trial is out of its world; a freemium user stays free for months and may
convert at any age, so training rows must cover the whole free life and the words must
not speak of a trial. The spec may say (`shape`, or `trial_days` for a trial); when it
does not, the data decides and the report says what was inferred and why:

- a trials table with trial ends, or `trial_days`, means trial;
- otherwise freemium when many conversions come long after signup (later than the last
  snapshot day plus the label horizon), or many never-converted users are still active
  months after signup; else trial, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from pql.errors import UsageError
from pql.features.spec import Spec

Shape = Literal["trial", "freemium"]

#: Inference needs at least this many conversions (or long-lived users) to speak.
MIN_EVIDENCE = 20
#: Freemium when at least this share of conversions come after the trial's world ...
LATE_SHARE = 0.25
#: ... or at least this share of never-converted entities is active this long after signup.
LONG_LIFE_DAYS = 90
LONG_LIFE_SHARE = 0.25


@dataclass(frozen=True)
class ProductShape:
    """The shape used, whether the data chose it, and why (one sentence)."""

    shape: Shape
    inferred: bool
    reason: str

    @property
    def describe(self) -> str:
        how = "inferred" if self.inferred else "given"
        return f"{self.shape} ({how}: {self.reason})"


def trial_world_days(spec: Spec) -> float:
    """How old a trial user gets in the trial shape's world: last snapshot + horizon."""
    return max(spec.snapshots_days) + spec.label.horizon_days


def resolve_shape(
    spec: Spec,
    entities: pd.DataFrame,
    last_seen: pd.Series | None = None,
    has_trial_ends: bool = False,
) -> ProductShape:
    """The spec's shape, or the one the data shows (`last_seen`: entity -> last event)."""
    if spec.shape is not None:
        return ProductShape(spec.shape, False, "shape is set in the spec")
    if spec.trial_days is not None:
        return ProductShape("trial", False, f"trial_days is {spec.trial_days:g}")
    if has_trial_ends:
        return ProductShape("trial", False, "the trials table gives each trial's end")
    return infer_shape(spec, entities, last_seen)


def engine_shape(spec: Spec) -> ProductShape:
    """The shape for an engine run (Spark, buckets), from the spec alone.

    Why: those engines see one partition of entities at a time, and inferring the shape
    per partition could cut one partition's rows as a trial and another's as freemium.
    So the spec must fix it: `shape`, `trial_days`, or a trials table with trial ends."""
    if spec.shape is not None:
        return ProductShape(spec.shape, False, "shape is set in the spec")
    if spec.trial_days is not None:
        return ProductShape("trial", False, f"trial_days is {spec.trial_days:g}")
    trials = spec.data.trials
    if trials is not None and trials.columns.trial_end_at is not None:
        return ProductShape("trial", False, "the trials table gives each trial's end")
    raise UsageError(
        "key 'shape': the Spark and bucket engines read the log one partition of entities "
        "at a time and cannot infer the product shape from it; set 'shape: trial' (or "
        "'trial_days') or 'shape: freemium' in the spec, or use --engine local"
    )


def pinned_for_engines(spec: Spec) -> Spec:
    """The spec with its shape written in, so every partition cuts rows alike."""
    return spec.model_copy(update={"shape": engine_shape(spec).shape})


def infer_shape(
    spec: Spec, entities: pd.DataFrame, last_seen: pd.Series | None = None
) -> ProductShape:
    """Freemium when the data shows conversions or use long after signup, else trial."""
    world = trial_world_days(spec)
    day = pd.Timedelta(days=1)
    converted = entities["converted_at"].notna()
    age = ((entities["converted_at"] - entities["signup_at"]) / day)[converted].to_numpy(float)
    late = int((age > world).sum())
    if len(age) >= MIN_EVIDENCE and late >= MIN_EVIDENCE and late / len(age) >= LATE_SHARE:
        return ProductShape(
            "freemium",
            True,
            f"{late:,} of {len(age):,} conversions ({100 * late / len(age):.0f}%) came more "
            f"than {world:g} days after signup (median {np.median(age):,.0f} days); set "
            "'shape: trial' if every user has a trial",
        )
    if last_seen is not None and len(entities):
        free = entities.loc[~converted.to_numpy()]
        seen = free["entity_id"].astype(str).map(last_seen)
        life = ((seen - free["signup_at"]) / day).to_numpy(float)
        long_lived = int((life > LONG_LIFE_DAYS).sum())
        if long_lived >= MIN_EVIDENCE and long_lived / max(len(free), 1) >= LONG_LIFE_SHARE:
            return ProductShape(
                "freemium",
                True,
                f"{long_lived:,} of {len(free):,} never-converted entities "
                f"({100 * long_lived / len(free):.0f}%) were still active more than "
                f"{LONG_LIFE_DAYS} days after signup; set 'shape: trial' if every user has "
                "a trial",
            )
    total = len(age)
    return ProductShape(
        "trial",
        True,
        f"{late:,} of {total:,} conversions came more than {world:g} days after signup "
        "and few entities stay active for months; set 'shape: freemium' if users stay free "
        "with no end",
    )
