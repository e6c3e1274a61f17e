"""One entity at one `as_of`: the features of `features.compute`, without its group-by set-up.

`compute_features` answers many rows of many entities from one sorted log (composite
keys, prefix sums, per-group bounds); for the HTTP request's single entity and single
row, most of that set-up is the cost. Here the same definitions reduce to a few numpy
calls on one time-sorted array: every bound is one `searchsorted` on the times, every
count a difference of positions, and the per-action subsets are boolean masks over
per-spec lookup tables cached once per `FeatureDefinitions`.

The values are those of `compute_features`, bit for bit (same stable sort, same float
operations in the same order); tests/features/test_single_entity.py checks it on random
entities. Definitions this module does not know all of (account-level features, or any
field or feature added to the definitions later) return None, and the caller uses
`compute_features`: a new feature can never be silently left out or computed otherwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat

import numpy as np

from pql.features.compute import DAY_MS, HOUR_MS, NEVER_MS
from pql.features.definitions import (
    ACTION_MEASURES,
    ACTIVITY_FEATURES,
    WEEK_MS,
    ActionDefinition,
    FeatureDefinitions,
)

# The definition fields the computation below knows; any other field may change what a
# feature means (a window, a time zone ...), so its presence sends the caller back to
# `compute_features`.
_KNOWN_DEFINITION_FIELDS = frozenset({"actions", "account_level", "session_gap_minutes"})
_KNOWN_ACTION_FIELDS = frozenset(
    {"name", "events", "property_column", "aggregate", "direction", "account_level"}
)
# Fields this path handles only at their default (no extra windows, UTC calendar days):
# any other value sends the caller back to `compute_features`.
_DEFAULT_ONLY_DEFINITION_FIELDS: dict[str, object] = {"extra_windows": (), "timezone": "UTC"}
_DEFAULT_ONLY_ACTION_FIELDS: dict[str, object] = {"extra_windows": ()}


def _known(item: object, known: frozenset[str], default_only: dict[str, object]) -> bool:
    """Every field of `item` is one this path computes, or sits at its default."""
    for field in dataclasses.fields(item):  # type: ignore[arg-type]
        if field.name in known:
            continue
        if field.name not in default_only or getattr(item, field.name) != default_only[field.name]:
            return False
    return True


@dataclass(frozen=True)
class _Plan:
    """Per-spec arrays and positions, built once per definitions object."""

    names: tuple[str, ...]
    codes: dict[str, int]  # event name -> code in the vocabulary
    n_activity: int  # the entity-wide features come first, in `names` order
    members: np.ndarray  # (actions, codes + 1): event code -> in the action (last: -1)
    slots: np.ndarray  # per action: where its first measure goes in the vector
    properties: tuple[tuple[int, str, str, int], ...]  # (action, column, aggregate, slot)


# The vector's layout is the batch core's: the same names in the same order.
_ACTIVITY = ACTIVITY_FEATURES
_MEASURES = ACTION_MEASURES


def _supported(definitions: FeatureDefinitions) -> bool:
    if definitions.account_level or not _known(
        definitions, _KNOWN_DEFINITION_FIELDS, _DEFAULT_ONLY_DEFINITION_FIELDS
    ):
        return False
    for action in definitions.actions:
        if not _known(action, _KNOWN_ACTION_FIELDS, _DEFAULT_ONLY_ACTION_FIELDS):
            return False
        if action.property_column is not None and action.aggregate not in (None, "sum", "max"):
            return False
    return True


def _action_names(action: ActionDefinition) -> tuple[str, ...]:
    names = tuple(f"{action.name}_{measure}" for measure in _MEASURES)
    extra = (
        action.property_feature
        if action.property_column is not None and action.aggregate is not None
        else None
    )
    return (*names, extra) if extra else names


@lru_cache(maxsize=64)
def plan_for(definitions: FeatureDefinitions) -> _Plan | None:
    """The cached plan, or None when `compute_features` must answer (see module doc)."""
    if not _supported(definitions):
        return None
    names: list[str] = list(_ACTIVITY)
    vocabulary = definitions.vocabulary
    members = np.zeros((len(definitions.actions), len(vocabulary) + 1), dtype=bool)
    slots: list[int] = []
    properties: list[tuple[int, str, str, int]] = []
    for position, action in enumerate(definitions.actions):
        members[position, [vocabulary.index(name) for name in action.events]] = True
        slots.append(len(names))
        own = _action_names(action)
        if len(own) > len(_MEASURES):
            assert action.property_column is not None and action.aggregate is not None
            column, aggregate = action.property_column, action.aggregate
            properties.append((position, column, aggregate, len(names) + len(_MEASURES)))
        names += own
    if tuple(names) != tuple(definitions.names):  # a feature this module does not make
        return None
    return _Plan(
        names=tuple(names),
        codes={name: code for code, name in enumerate(vocabulary)},
        n_activity=len(_ACTIVITY),
        members=members,
        slots=np.array(slots, dtype=np.int64),
        properties=tuple(properties),
    )


def _distinct_days(days: np.ndarray, start: int) -> int:
    """Distinct days among sorted `days[start:]` (as `_distinct_days` of compute)."""
    if start >= len(days):
        return 0
    tail = days[start:]
    return int(np.count_nonzero(tail[1:] != tail[:-1])) + 1


def _longest_streak(distinct: np.ndarray) -> int:
    """The longest run of consecutive days among sorted distinct `days`."""
    if len(distinct) == 0:
        return 0
    breaks = np.flatnonzero(np.diff(distinct) != 1)
    edges = np.concatenate(([-1], breaks, [len(distinct) - 1]))
    return int(np.diff(edges).max())


def _sessions(
    session_ids: Sequence[object] | None, kept: np.ndarray, times: np.ndarray, gap_minutes: float
) -> int:
    """Distinct session ids among the kept events, else runs split at idle gaps."""
    if len(times) == 0:
        return 0
    if session_ids is not None:
        return len({session_ids[i] for i in kept.tolist()})
    return int(np.count_nonzero(np.diff(times) > gap_minutes * 60_000)) + 1


def single_entity_features(
    definitions: FeatureDefinitions,
    *,
    codes: np.ndarray,
    time_ms: np.ndarray,
    signup_ms: int,
    as_of_ms: int,
    stop_ms: int | None,
    session_ids: Sequence[object] | None,
    properties: Mapping[str, Sequence[float]],
) -> np.ndarray | None:
    """The feature vector in `definitions.names` order, or None (use `compute_features`).

    `codes` index `definitions.vocabulary` (-1: no action counts the event); equal
    `session_ids` are one session (None: sessions cut at idle gaps).
    """
    plan = plan_for(definitions)
    if plan is None:
        return None
    stop = NEVER_MS if stop_ms is None else stop_ms
    until = min(as_of_ms, stop)
    hi_ms = max(until, signup_ms)
    keep = (time_ms >= signup_ms) & (time_ms < until)
    kept = np.flatnonzero(keep)
    order = kept[np.argsort(time_ms[kept], kind="stable")]
    times = time_ms[order]
    days = times // DAY_MS
    event = codes[order]
    n = len(times)

    out = np.empty(len(plan.names), dtype=np.float64)
    week_bound = max(signup_ms, hi_ms - WEEK_MS)
    week = int(np.searchsorted(times, week_bound, side="left"))
    prior = int(np.searchsorted(times, max(signup_ms, hi_ms - 2 * WEEK_MS), side="left"))
    last_week, week_before = n - week, week - prior
    total = last_week + week_before
    out[0] = (as_of_ms - signup_ms) / DAY_MS
    out[1] = n
    out[2] = last_week
    # where each calendar day starts among the sorted events
    day_starts = np.flatnonzero(np.diff(days, prepend=days[0] - 1)) if n else np.zeros(0, int)
    out[3] = len(day_starts)
    out[4] = _distinct_days(days, week)
    out[5] = _sessions(session_ids, kept, times, definitions.session_gap_minutes)
    out[7] = _longest_streak(days[day_starts])
    out[8] = (last_week - week_before) / max(total, 1) if total > 0 else 0.0
    out[9] = (as_of_ms - int(times[-1])) / HOUR_MS if n else np.nan

    _action_measures(plan, out, event, times, day_starts, week, signup_ms, as_of_ms)
    for action, column, aggregate, at in plan.properties:
        idx = np.flatnonzero(plan.members[action, event])
        raw = properties.get(column)
        values = (
            np.full(len(idx), np.nan)
            if raw is None
            else np.asarray(raw, dtype=np.float64)[order][idx]
        )
        out[at] = _aggregate(values, aggregate, len(idx))
    return out


def _action_measures(
    plan: _Plan,
    out: np.ndarray,
    event: np.ndarray,
    times: np.ndarray,
    day_starts: np.ndarray,
    week: int,
    signup_ms: int,
    as_of_ms: int,
) -> None:
    """Every action's count, last-week count, active days and hours to first / since last
    event, all actions at once from one (actions x events) membership matrix, and the
    breadth (actions done at least once)."""
    member = plan.members[:, event]  # events are time-sorted
    counts = member.sum(axis=1)
    slots = plan.slots
    out[slots] = counts
    out[slots + 1] = member[:, week:].sum(axis=1)
    out[6] = np.count_nonzero(counts)
    if not len(times):
        out[slots + 2] = 0
        out[slots + 3] = out[slots + 4] = np.nan
        return
    out[slots + 2] = np.logical_or.reduceat(member, day_starts, axis=1).sum(axis=1)
    first = times[member.argmax(axis=1)]
    last = times[len(times) - 1 - member[:, ::-1].argmax(axis=1)]
    done = counts > 0
    out[slots + 3] = np.where(done, (first - signup_ms) / HOUR_MS, np.nan)
    out[slots + 4] = np.where(done, (as_of_ms - last) / HOUR_MS, np.nan)


def _aggregate(values: np.ndarray, aggregate: str, count: int) -> float:
    """As `_property_aggregate` of compute for one row (same summation order)."""
    if aggregate == "sum":
        if not count:
            return 0.0
        padded = np.append(np.nan_to_num(values, nan=0.0), 0.0)
        return float(np.add.reduceat(padded, np.array([0, count]))[0])
    if not count:
        return np.nan
    best = float(np.where(np.isnan(values), -np.inf, values).max())
    return best if np.isfinite(best) else np.nan


def event_codes(definitions: FeatureDefinitions, names: Sequence[str]) -> np.ndarray | None:
    """Codes into the vocabulary by one dict look-up per name (-1: no action counts it);
    None when the plan does not apply."""
    plan = plan_for(definitions)
    if plan is None:
        return None
    return np.fromiter(map(plan.codes.get, names, repeat(-1)), dtype=np.int64, count=len(names))
