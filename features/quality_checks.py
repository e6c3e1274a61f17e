"""Checks of what a real event log means, beyond whether its rows load.

Three questions the data-quality report answers before `pql train` does:

- Where does the data end? Labels need to know up to when a conversion would have been
  seen (`choose_data_end`): the spec's `data.end_at`, else the later of the last event
  and a trials table's latest conversion. The report says which end and why.
- Does the conversion definition find anyone? A `label.conversion_event` no event
  carries (often a case or spelling slip: "Upgraded" vs "upgraded") gives zero
  conversions, and training would stop much later with "all rows did not convert".
- Did the log start mid-life? When signup is the first event seen, everyone already
  active when the log started "signs up" in its first days (left-censored signups):
  their tenure and early features understate their history.

Pure functions of canonical frames; `features.pipeline` puts their words in the report.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pql.features.spec import Spec

#: More than this much quiet time between the last event and `data.end_at` is warned.
QUIET_TOLERANCE = pd.Timedelta(days=1)
CLOSEST_SHOWN = 3
#: Left-censoring: the first week of the log against the median week after it.
CENSOR_WINDOW = pd.Timedelta(days=7)
CENSOR_RATIO = 2.0
CENSOR_MIN_ENTITIES = 10
CENSOR_MIN_BASELINE_WEEKS = 2


def _when(stamp: pd.Timestamp) -> str:
    return f"{stamp:%Y-%m-%d %H:%M:%S} UTC"


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


# --- the end of the data -----------------------------------------------------------------


@dataclass(frozen=True)
class DataEnd:
    """Up to when labels are observed, up to when events are, and why."""

    labels_until: pd.Timestamp | None
    events_until: pd.Timestamp | None
    reason: str
    warnings: list[str] = field(default_factory=list)


def choose_data_end(
    spec: Spec, events: pd.DataFrame, trial_conversions: pd.Series | None
) -> DataEnd:
    """`data.end_at`, else the last event or, when later, the trials' latest conversion.

    `trial_conversions` are the conversion times of a trials table that defines them
    (None otherwise). A later trials conversion extends the labels only: events after
    the last one were not observed, so training cutoffs still stop at the last event.
    """
    last = events["timestamp"].max() if len(events) else None
    configured = spec.data.end_at
    if configured is not None:
        end = pd.Timestamp(configured)
        warnings = []
        if last is not None and last > end:
            after = int((events["timestamp"] > end).sum())
            warnings.append(
                f"{_count(after, 'usable event')} {'lies' if after == 1 else 'lie'} after "
                f"data.end_at ({_when(end)}); "
                "training cutoffs and labels stop at data.end_at, so training does not use them"
            )
        elif last is not None and end - last > QUIET_TOLERANCE:
            days = (end - last) / pd.Timedelta(days=1)
            warnings.append(
                f"data.end_at ({_when(end)}) is {days:.1f} days after the last event "
                f"({_when(last)}): labels take that quiet time as observed (nobody converted "
                "in it); check that the log really runs to data.end_at"
            )
        return DataEnd(end, end, f"data.end_at in the spec ({_when(end)})", warnings)
    if last is None:
        return DataEnd(None, None, "no usable events")
    latest = trial_conversions.max() if trial_conversions is not None else pd.NaT
    if pd.notna(latest) and latest > last:
        return DataEnd(
            latest,
            last,
            f"the trials table's latest conversion ({_when(latest)}), later than the last "
            f"event ({_when(last)}); training cutoffs still stop at the last event "
            "(set data.end_at to choose another end)",
        )
    return DataEnd(
        last, last, f"the last event ({_when(last)}; set data.end_at to choose another end)"
    )


# --- the conversion definition -------------------------------------------------------------


def closest_names(name: str, counts: pd.Series, shown: int = CLOSEST_SHOWN) -> str:
    """`'Upgraded' (12 events), 'upgrade' (3 events)`: event names nearest `name` in case
    and spelling, with their counts ('' when none is near)."""
    names = [str(n) for n in counts.index]
    folded: dict[str, list[str]] = {}
    for candidate in names:
        folded.setdefault(candidate.casefold(), []).append(candidate)
    near = difflib.get_close_matches(name.casefold(), list(folded), n=shown, cutoff=0.6)
    found = [original for key in near for original in folded[key]][:shown]
    return ", ".join(f"{n!r} ({_count(int(counts[n]), 'event')})" for n in found)


def conversion_source(spec: Spec, conversion_column: str | None, has_trials: bool) -> str:
    """Where conversions come from, in the spec's own keys."""
    if has_trials and conversion_column is not None:
        return f"the trials table's column '{conversion_column}'"
    parts = []
    if spec.label.conversion_event:
        parts.append(f"the first '{spec.label.conversion_event}' event (label.conversion_event)")
    if spec.label.paid_plans:
        parts.append(f"the first event on a plan in {spec.label.paid_plans} (label.paid_plans)")
    source = " or ".join(parts)
    if has_trials:
        source += " (the trials table gives no converted_at)"
    return source


def conversion_warnings(
    spec: Spec,
    events: pd.DataFrame,
    entities: pd.DataFrame,
    source: str,
    from_events: bool,
) -> list[str]:
    """A conversion event no event carries (with the nearest names), and a definition
    that finds no conversion at all: both stop `pql train` later, so say so now."""
    warnings = []
    name = spec.label.conversion_event
    counts = events["event"].astype(str).value_counts() if len(events) else pd.Series()
    if from_events and name and name not in counts.index:
        near = closest_names(name, counts)
        hint = f"; closest event names: {near}" if near else ""
        warnings.append(
            f"label.conversion_event {name!r} matches no event (names are compared exactly)" + hint
        )
    if len(entities) and not entities["converted_at"].notna().any():
        warnings.append(
            f"no conversion found: conversions come from {source}, and none of the "
            f"{_count(len(entities), 'entity', 'entities')} converted; pql train stops "
            "without conversions (exit 5), so fix the conversion definition first"
        )
    return warnings


def unmatched_action_hint(events_listed: Iterable[str], counts: pd.Series) -> str:
    """The nearest event names for an action's listed events ('' when none is near)."""
    hints = [closest_names(name, counts) for name in sorted(events_listed)]
    found = [hint for hint in hints if hint]
    return f"; closest event names: {'; '.join(found)}" if found else ""


# --- signups that are really the log's start -----------------------------------------------


def left_censored_signups(
    events: pd.DataFrame, entities: pd.DataFrame, first_seen: np.ndarray, entity: str
) -> list[str]:
    """Warn when the log's first week holds far more first appearances than any later week.

    `first_seen` marks the entities whose signup is their first event (no trials table,
    no declared signup time). A steady product signs people up at a steady rate; a log
    that started mid-life makes every already-active entity "sign up" in its first days.
    Judged only with at least two full weeks after the first one (else it cannot know).
    """
    if not len(events) or not first_seen.any():
        return []
    start, last = events["timestamp"].min(), events["timestamp"].max()
    weeks = int((last - start) / CENSOR_WINDOW)  # full weeks in the log
    if weeks - 1 < CENSOR_MIN_BASELINE_WEEKS:
        return []
    signup = entities.loc[first_seen, "signup_at"]
    week = ((signup - start) / CENSOR_WINDOW).astype(int)
    per_week = week.value_counts().reindex(range(weeks), fill_value=0)
    first_week, baseline = int(per_week.iloc[0]), float(per_week.iloc[1:].median())
    if first_week < CENSOR_MIN_ENTITIES or first_week <= CENSOR_RATIO * max(baseline, 1.0):
        return []
    end = start + CENSOR_WINDOW
    return [
        f"left-censored signups: {first_week:,} of {len(entities):,} {entity}s first appear in "
        f"the log's first 7 days ({_when(start)} to {_when(end)}), against a median of "
        f"{baseline:g} new a week over the {weeks - 1} full weeks after; their signup is "
        "their first event, but the log likely started while they were already using the "
        "product, so their tenure and early features understate their history (map "
        "data.events.columns.signup_at to a registration time, or give a trials table)"
    ]
