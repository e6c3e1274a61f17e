"""Point-in-time features from sorted arrays: one code path for batch and live scoring.

Why this shape: a per-cutoff pandas group-by re-reads the whole log once per snapshot.
Here the log is sorted once by (entity, time); each entity's events are then one
contiguous run, and every measure over "events of entity e in [lo, hi)" becomes two
binary searches plus prefix sums. All snapshot cutoffs of all entities are answered from
the same arrays, and one user's 500 events in an HTTP request go through the very same
functions.

Semantics (DESIGN section 3): an event counts for a row when
``signup_at <= timestamp < min(as_of, converted_at)``. Times are compared at millisecond
precision, both sides floored, so an event at or after ``as_of`` can never leak in.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from pql.features.calendar import local_days
from pql.features.definitions import (
    MIN_ACTIVE_DAYS_WINDOW,
    WEEK_MS,
    FeatureDefinitions,
    window_activity_features,
)

DAY_MS = 24 * 3600 * 1000
HOUR_MS = 3600 * 1000
#: Sentinel "never" for a missing conversion time (far beyond any real timestamp).
NEVER_MS = np.iinfo(np.int64).max // 4
_INT64_MAX = int(np.iinfo(np.int64).max)


@dataclass(frozen=True)
class EventArrays:
    """An event log as aligned arrays; `entity` codes index the rows' entity list.

    `event` holds codes into `FeatureDefinitions.vocabulary` (-1: an event no action
    counts). `session` is None when the log has no session ids (sessions are then cut at
    inactivity gaps); `user` is only needed for account-level features.
    """

    entity: np.ndarray
    time_ms: np.ndarray
    event: np.ndarray
    session: np.ndarray | None = None
    user: np.ndarray | None = None
    properties: dict[str, np.ndarray] | None = None
    #: per distinct-counted property column, integer codes of its values (-1: missing)
    distinct: dict[str, np.ndarray] | None = None


@dataclass(frozen=True)
class QueryRows:
    """Scoring units `(entity, as_of)` with each entity's signup and conversion time."""

    entity: np.ndarray
    signup_ms: np.ndarray
    as_of_ms: np.ndarray
    stop_ms: np.ndarray  # conversion time, NEVER_MS when not converted


class _SortedLog:
    """Events of the rows' entities inside their [signup, conversion) span, sorted.

    The composite key ``entity * span + (time - t0)`` is globally sorted, so a single
    `searchsorted` answers "first event of entity e at or after time t" for many rows.
    """

    def __init__(
        self, events: EventArrays, rows: QueryRows, n_entities: int, timezone: str = "UTC"
    ) -> None:
        # Per entity: events count from signup up to the earlier of conversion and its
        # latest cutoff (later events can never be read). All rows of one entity share
        # its signup and conversion time.
        # Unknown entities (code -1) are looked up at slot 0 and then dropped, so slot 0
        # must exist even when no row is asked for (a live run nobody can be scored in).
        slots = max(n_entities, 1)
        signup = np.full(slots, NEVER_MS, dtype=np.int64)
        signup[rows.entity] = rows.signup_ms
        until = np.full(slots, -NEVER_MS, dtype=np.int64)
        np.maximum.at(until, rows.entity, rows.as_of_ms)
        until[rows.entity] = np.minimum(until[rows.entity], rows.stop_ms)

        self.t0 = int(rows.signup_ms.min()) if len(rows.entity) else 0
        self.span = (int(rows.as_of_ms.max()) if len(rows.entity) else 0) - self.t0 + 2
        if n_entities and self.span > _INT64_MAX // (n_entities + 1):
            raise OverflowError("time range x entities too large for one pass")

        # Memory matters here (10M+ events): build the key in place, sort it once, and
        # derive entity and time back from the sorted key instead of gathering copies.
        key = events.entity.astype(np.int64)
        keep = key >= 0
        np.maximum(key, 0, out=key)
        keep &= events.time_ms >= signup[key]
        keep &= events.time_ms < until[key]
        key *= self.span
        key += events.time_ms
        key -= self.t0
        key[~keep] = _INT64_MAX
        del keep
        order = np.argsort(key, kind="stable")
        key = key[order]
        kept = int(np.searchsorted(key, _INT64_MAX))
        order = order[:kept]
        self.key = key[:kept]
        self.entity = self.key // self.span
        self.time_ms = self.key % self.span
        self.time_ms += self.t0
        self.event = events.event[order]
        self.session = None if events.session is None else events.session[order]
        self.user = None if events.user is None else events.user[order]
        self.properties = {
            name: values[order] for name, values in (events.properties or {}).items()
        }
        self.distinct = {name: values[order] for name, values in (events.distinct or {}).items()}
        # calendar day in the product's zone; int32 (days since 1970) keeps it small
        self.day = local_days(self.time_ms, timezone).astype(np.int32)

    def bound_keys(self, entity: np.ndarray, time_ms: np.ndarray) -> np.ndarray:
        """Search keys for bounds; callers pass times in [signup, as_of], inside the span."""
        return entity * self.span + (time_ms - self.t0)


@dataclass(frozen=True)
class _Group:
    """One subset of the sorted log (all events, or one action's) with prefix sums."""

    key: np.ndarray
    time_ms: np.ndarray
    day_starts: np.ndarray  # prefix sum of "first event of an entity-day" flags
    day_flag: np.ndarray


def _new_run_flags(entity: np.ndarray, value: np.ndarray) -> np.ndarray:
    """True where an entity's run of equal `value` starts (sorted by entity, time)."""
    flag = np.ones(len(entity), dtype=bool)
    if len(entity) > 1:
        flag[1:] = (entity[1:] != entity[:-1]) | (value[1:] != value[:-1])
    return flag


def _prefix(flag_or_values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(flag_or_values) + 1, dtype=np.result_type(flag_or_values.dtype, np.int64))
    np.cumsum(flag_or_values, out=out[1:])
    return out


def _group(key: np.ndarray, entity: np.ndarray, time_ms: np.ndarray, day: np.ndarray) -> _Group:
    day_flag = _new_run_flags(entity, day)
    return _Group(key=key, time_ms=time_ms, day_starts=_prefix(day_flag), day_flag=day_flag)


def _distinct_days(group: _Group, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Distinct calendar days (in the product's zone) among events [lo, hi): day starts
    inside plus a day cut at lo."""
    inside = group.day_starts[hi] - group.day_starts[lo]
    has_any = hi > lo
    cut = np.zeros(len(lo), dtype=bool)
    cut[has_any] = ~group.day_flag[lo[has_any]]
    return inside + cut


class _Bounds:
    """Per-row time bounds and their binary-search positions in one group."""

    def __init__(
        self,
        log: _SortedLog,
        group: _Group,
        rows: QueryRows,
        hi_ms: np.ndarray,
        extra_windows: tuple[int, ...] = (),
    ) -> None:
        self._log, self._key, self._entity = log, group.key, rows.entity
        self._signup, self._hi_ms = rows.signup_ms, hi_ms
        self.lo = self._find(rows.signup_ms)
        self.hi = self._find(hi_ms)
        self.week = self.since(WEEK_MS)
        self.count = self.hi - self.lo
        self.count_7d = self.hi - self.week
        #: first position inside each extra window (the last N days before the cutoff)
        self.window = {days: self.since(days * DAY_MS) for days in extra_windows}

    def _find(self, time_ms: np.ndarray) -> np.ndarray:
        keys = self._log.bound_keys(self._entity, time_ms)
        return np.searchsorted(self._key, keys, side="left")

    def since(self, span_ms: int) -> np.ndarray:
        """Position of the first event in the `span_ms` before each row's cutoff."""
        return self._find(np.maximum(self._signup, self._hi_ms - span_ms))


def _hours(delta_ms: np.ndarray, present: np.ndarray) -> np.ndarray:
    return np.where(present, delta_ms / HOUR_MS, np.nan)


def _first_and_last_hours(
    group: _Group, bounds: _Bounds, rows: QueryRows
) -> tuple[np.ndarray, np.ndarray]:
    present = bounds.count > 0
    if len(group.time_ms) == 0:
        nothing = np.full(len(rows.entity), np.nan)
        return nothing, nothing.copy()
    first = group.time_ms[np.minimum(bounds.lo, len(group.time_ms) - 1)]
    last = group.time_ms[np.maximum(bounds.hi - 1, 0)]
    return _hours(first - rows.signup_ms, present), _hours(rows.as_of_ms - last, present)


def _longest_streak(
    log: _SortedLog, group: _Group, rows: QueryRows, hi_ms: np.ndarray
) -> np.ndarray:
    """Longest run of consecutive active calendar days before each row's cutoff.

    For every entity-day we know the streak length ending there and, by a running max,
    the longest streak so far; a row reads it at its last active day before the cutoff.
    """
    starts = np.flatnonzero(group.day_flag)
    if len(starts) == 0:
        return np.zeros(len(rows.entity), dtype=np.int64)
    entity = log.entity[starts]
    day = log.day[starts]
    follows = np.zeros(len(starts), dtype=bool)
    follows[1:] = (entity[1:] == entity[:-1]) & (day[1:] == day[:-1] + 1)
    run_start = np.maximum.accumulate(np.where(follows, 0, np.arange(len(starts))))
    run_length = np.arange(len(starts)) - run_start + 1
    offset = entity * (len(starts) + 1)  # entities sorted: per-entity running max
    longest = np.maximum.accumulate(offset + run_length) - offset
    days_before = np.searchsorted(
        group.key[starts], log.bound_keys(rows.entity, hi_ms), side="left"
    )
    first_day = np.searchsorted(group.key[starts], log.bound_keys(rows.entity, rows.signup_ms))
    has_day = days_before > first_day
    return np.where(has_day, longest[np.maximum(days_before - 1, 0)], 0)


def _first_occurrences(entity: np.ndarray, value: np.ndarray) -> np.ndarray:
    """True at the first event of each (entity, value) pair, in time order.

    A first occurrence always starts a run of equal values, so only run starts need the
    (sorting) uniqueness check; logs where sessions rarely interleave stay cheap.
    """
    flag = _new_run_flags(entity, value)
    starts = np.flatnonzero(flag)
    if len(starts) == 0:
        return flag
    _, compact = np.unique(value[starts], return_inverse=True)  # any ids -> 0..k-1
    pair = entity[starts] * (int(compact.max()) + 1) + compact.ravel()
    _, first = np.unique(pair, return_index=True)
    flag[:] = False
    flag[starts[first]] = True
    return flag


def _session_starts(log: _SortedLog, gap_minutes: float) -> np.ndarray:
    """Sessions by id when the log has them (interleaving allowed), else by idle gaps."""
    if log.session is not None:
        return _first_occurrences(log.entity, log.session)
    flag = np.ones(len(log.entity), dtype=bool)
    if len(flag) > 1:
        gap = np.diff(log.time_ms) > gap_minutes * 60_000
        flag[1:] = (log.entity[1:] != log.entity[:-1]) | gap
    return flag


def _distinct_values(codes: np.ndarray, entity: np.ndarray, bounds: _Bounds) -> np.ndarray:
    """Distinct values (codes >= 0) among each row's events [lo, hi) of one action.

    `lo` is the entity's first event in the log (nothing before signup is in it), so a
    value is new to the row exactly when its first occurrence is in [lo, hi): a prefix
    sum of first-occurrence flags answers every cutoff at once (point in time)."""
    known = np.flatnonzero(codes >= 0)
    first = np.zeros(len(codes), dtype=bool)
    first[known[_first_occurrences(entity[known], codes[known])]] = True
    prefix = _prefix(first)
    return prefix[bounds.hi] - prefix[bounds.lo]


def _activity_trend(last_week: np.ndarray, week_before: np.ndarray) -> np.ndarray:
    """(last N d - the N d before) / both: -1 = stopped, +1 = only recent, 0 = flat/none."""
    total = last_week + week_before
    return np.where(total > 0, (last_week - week_before) / np.maximum(total, 1), 0.0)


def _property_aggregate(
    values: np.ndarray, entity: np.ndarray, aggregate: str, bounds: _Bounds
) -> np.ndarray:
    present = bounds.count > 0
    if aggregate == "sum":
        # Sum each row's own slice (not differences of a global running sum, which
        # would lose precision far into a large log and differ between batch and live).
        padded = np.append(np.nan_to_num(values, nan=0.0), 0.0)
        edges = np.column_stack([bounds.lo, bounds.hi]).ravel()
        sums = np.add.reduceat(padded, edges)[::2] if len(edges) else np.zeros(0)
        return np.where(present, sums, 0.0)
    # Per-entity running max without a loop: rank the values, lift each entity's ranks
    # above all earlier entities' by an offset, accumulate, and map ranks back.
    finite = ~np.isnan(values)
    distinct, rank = np.unique(np.where(finite, values, -np.inf), return_inverse=True)
    offset = entity * (len(distinct) + 1)
    running_rank = np.maximum.accumulate(offset + rank) - offset if len(rank) else rank
    best = (
        distinct[running_rank[np.maximum(bounds.hi - 1, 0)]]
        if len(rank)
        else np.full(len(bounds.hi), -np.inf)
    )
    return np.where(present & np.isfinite(best), best, np.nan)


class _Members:
    """Per-member activity of accounts: every (row, member of the row's account) pair.

    Account features need per-user counts before each row's cutoff ("how many members
    were active this week", "the most engaged member's events"). The events are re-sorted
    once by (entity, user, time); each row is paired with every user ever seen in its
    account, and counts come from binary searches, as for whole entities. The pairs number
    (rows per entity) x (users per entity), i.e. a few times the user count.
    """

    def __init__(self, log: _SortedLog, rows: QueryRows, hi_ms: np.ndarray) -> None:
        user = log.user if log.user is not None else np.zeros(len(log.entity), np.int64)
        user = user.astype(np.int64)
        n_user_codes = int(user.max()) + 1 if len(user) else 1
        pair_of_event = log.entity * n_user_codes + user
        self.order = np.argsort(pair_of_event, kind="stable")  # keeps time order per pair
        pair_keys, pair_code = np.unique(pair_of_event[self.order], return_inverse=True)
        self.pair_code = pair_code.ravel().astype(np.int64)
        self.span = log.span
        if len(pair_keys) and self.span > _INT64_MAX // (len(pair_keys) + 1):
            raise OverflowError("time range x account members too large for one pass")
        self.key = self.pair_code * self.span + (log.time_ms[self.order] - log.t0)
        self.t0 = log.t0
        # Pairs are sorted by entity: each row takes the contiguous pairs of its entity.
        pair_entity = pair_keys // n_user_codes
        first = np.searchsorted(pair_entity, rows.entity, side="left")
        last = np.searchsorted(pair_entity, rows.entity, side="right")
        per_row = last - first
        self.row = np.repeat(np.arange(len(rows.entity)), per_row)
        starts = np.repeat(first - (np.cumsum(per_row) - per_row), per_row)
        self.pair = starts + np.arange(len(self.row))
        self.n_rows = len(rows.entity)
        self.signup = rows.signup_ms[self.row]
        self.hi = hi_ms[self.row]
        self.week = np.maximum(self.signup, self.hi - WEEK_MS)

    def _bounds(self, key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        def position(time_ms: np.ndarray) -> np.ndarray:
            return np.searchsorted(key, self.pair * self.span + (time_ms - self.t0), side="left")

        return position(self.signup), position(self.week), position(self.hi)

    def _per_row(self, flags: np.ndarray) -> np.ndarray:
        return np.bincount(self.row, weights=flags, minlength=self.n_rows).astype(np.int64)

    def account_features(self, events_count: np.ndarray) -> dict[str, np.ndarray]:
        lo, week, hi = self._bounds(self.key)
        count, count_7d = hi - lo, hi - week
        active = self._per_row(count > 0)
        active_7d = self._per_row(count_7d > 0)
        top = np.zeros(self.n_rows, dtype=np.int64)
        np.maximum.at(top, self.row, count)
        return {
            "active_users": active,
            "active_users_7d": active_7d,
            "active_users_share_7d": np.where(active > 0, active_7d / np.maximum(active, 1), 0.0),
            # A member is new this week when all their events so far fall in it.
            "new_users_7d": self._per_row((count > 0) & (count == count_7d)),
            "top_user_events_count": top,
            "top_user_events_share": np.where(
                events_count > 0, top / np.maximum(events_count, 1), 0.0
            ),
        }

    def users_doing(self, log_positions: np.ndarray) -> np.ndarray:
        """Distinct members with at least one of the given events (log positions)."""
        member = np.zeros(len(self.order), dtype=bool)
        member[log_positions] = True
        lo, _, hi = self._bounds(self.key[member[self.order]])
        return self._per_row(hi > lo)


def compute_features(
    definitions: FeatureDefinitions, events: EventArrays, rows: QueryRows, n_entities: int
) -> dict[str, np.ndarray]:
    """Features for every row, from events of any number of entities (columnar).

    Pure function: no I/O, no pandas. Returns one array per name in
    `definitions.names`, aligned with `rows`.
    """
    log = _SortedLog(events, rows, n_entities, definitions.timezone)
    hi_ms = np.maximum(np.minimum(rows.as_of_ms, rows.stop_ms), rows.signup_ms)
    out: dict[str, np.ndarray] = {}
    windows = definitions.extra_windows

    everything = _group(log.key, log.entity, log.time_ms, log.day)
    all_bounds = _Bounds(log, everything, rows, hi_ms, windows)
    prior_week = np.searchsorted(
        everything.key,
        log.bound_keys(rows.entity, np.maximum(rows.signup_ms, hi_ms - 2 * WEEK_MS)),
    )
    _, since_last = _first_and_last_hours(everything, all_bounds, rows)
    sessions = _prefix(_session_starts(log, definitions.session_gap_minutes))

    out["tenure_days"] = (rows.as_of_ms - rows.signup_ms) / DAY_MS
    out["events_count"] = all_bounds.count
    out["events_count_7d"] = all_bounds.count_7d
    out["active_days"] = _distinct_days(everything, all_bounds.lo, all_bounds.hi)
    out["active_days_7d"] = _distinct_days(everything, all_bounds.week, all_bounds.hi)
    out["sessions_count"] = sessions[all_bounds.hi] - sessions[all_bounds.lo]
    out["actions_breadth"] = np.zeros(len(rows.entity), dtype=np.int64)  # filled below
    out["longest_streak_days"] = _longest_streak(log, everything, rows, hi_ms)
    out["activity_trend_7d"] = _activity_trend(all_bounds.count_7d, all_bounds.week - prior_week)
    out["hours_since_last_event"] = since_last
    for days in windows:
        start = all_bounds.window[days]
        names = window_activity_features(days)
        out[names[0]] = all_bounds.hi - start
        if days >= MIN_ACTIVE_DAYS_WINDOW:
            out[names[1]] = _distinct_days(everything, start, all_bounds.hi)
        out[names[-1]] = _activity_trend(
            all_bounds.hi - start, start - all_bounds.since(2 * days * DAY_MS)
        )
    members = _Members(log, rows, hi_ms) if definitions.account_level else None
    if members is not None:
        out.update(members.account_features(out["events_count"]))

    vocabulary = definitions.vocabulary
    for action in definitions.actions:
        member = np.zeros(len(vocabulary) + 1, dtype=bool)  # last slot: code -1
        member[[vocabulary.index(name) for name in action.events]] = True
        idx = np.flatnonzero(member[log.event])
        group = _group(log.key[idx], log.entity[idx], log.time_ms[idx], log.day[idx])
        bounds = _Bounds(log, group, rows, hi_ms, windows)
        first, last = _first_and_last_hours(group, bounds, rows)
        prefix = action.name
        out[f"{prefix}_count"] = bounds.count
        out[f"{prefix}_count_7d"] = bounds.count_7d
        out[f"{prefix}_active_days"] = _distinct_days(group, bounds.lo, bounds.hi)
        out[f"{prefix}_hours_to_first"] = first
        out[f"{prefix}_hours_since_last"] = last
        for days in windows:
            out[f"{prefix}_count_{days}d"] = bounds.hi - bounds.window[days]
        if action.aggregate == "distinct" and action.property_feature is not None:
            codes = (log.distinct or {}).get(action.property_column or "")
            out[action.property_feature] = (
                np.zeros(len(rows.entity), dtype=np.int64)
                if codes is None
                else _distinct_values(codes[idx], log.entity[idx], bounds)
            )
        elif (
            action.property_feature is not None
            and action.property_column is not None
            and action.aggregate is not None
        ):
            values = log.properties.get(action.property_column)
            if values is None:
                values = np.full(len(log.entity), np.nan)
            out[action.property_feature] = _property_aggregate(
                values[idx].astype(np.float64), log.entity[idx], action.aggregate, bounds
            )
        out["actions_breadth"] += bounds.count > 0
        if members is not None:
            out[f"{prefix}_users"] = members.users_doing(idx)

    return {name: out[name] for name in definitions.names}


def feature_matrix(
    definitions: FeatureDefinitions,
    events: EventArrays,
    rows: QueryRows,
    n_entities: int,
    *,
    max_chunk_events: int = 250_000,
) -> np.ndarray:
    """All features as one (n_features, n_rows) float64 matrix, entity chunk by chunk.

    Entities never share events, so disjoint ranges of entity codes are independent
    problems: chunking bounds the working memory (sort keys, prefix sums) to a chunk
    while the results land in one preallocated matrix that a DataFrame wraps uncopied.
    """
    names = definitions.names
    out = np.empty((len(names), len(rows.entity)), dtype=np.float64)
    chunks = max(1, -(-len(events.entity) // max_chunk_events))
    if chunks == 1:
        columns = compute_features(definitions, events, rows, n_entities)
        for position, name in enumerate(names):
            out[position] = columns[name]
        return out
    # One O(n) radix sort by chunk number makes every chunk a contiguous slice, instead
    # of scanning the whole log once per chunk.
    edges = np.linspace(0, n_entities, chunks + 1).round().astype(np.int64)
    event_order, event_starts = _group_by_chunk(events.entity, edges)
    row_order, row_starts = _group_by_chunk(rows.entity, edges)
    for chunk, (lo, hi) in enumerate(itertools.pairwise(edges)):
        row_idx = row_order[row_starts[chunk] : row_starts[chunk + 1]]
        if len(row_idx) == 0:
            continue
        sub_events = _take_events(
            events, event_order[event_starts[chunk] : event_starts[chunk + 1]], int(lo)
        )
        sub_rows = QueryRows(
            entity=rows.entity[row_idx] - lo,
            signup_ms=rows.signup_ms[row_idx],
            as_of_ms=rows.as_of_ms[row_idx],
            stop_ms=rows.stop_ms[row_idx],
        )
        columns = compute_features(definitions, sub_events, sub_rows, int(hi - lo))
        for position, name in enumerate(names):
            out[position, row_idx] = columns[name]
    return out


def _group_by_chunk(entity: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions ordered by entity chunk, and where each chunk starts (codes -1: chunk 0)."""
    chunk = np.searchsorted(edges[1:], entity, side="right").astype(np.int16)
    order = np.argsort(chunk, kind="stable")  # radix sort for 16-bit keys
    starts = np.zeros(len(edges), dtype=np.int64)
    np.cumsum(np.bincount(chunk, minlength=len(edges) - 1), out=starts[1:])
    return order, starts


def _take_events(events: EventArrays, idx: np.ndarray, entity_offset: int) -> EventArrays:
    def take(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else values[idx]

    return EventArrays(
        entity=events.entity[idx] - entity_offset,
        time_ms=events.time_ms[idx],
        event=events.event[idx],
        session=take(events.session),
        user=take(events.user),
        properties={name: values[idx] for name, values in (events.properties or {}).items()},
        distinct={name: values[idx] for name, values in (events.distinct or {}).items()},
    )
