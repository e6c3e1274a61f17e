"""The part every vendor adapter shares: records -> canonical event rows, counted.

A vendor module only says what one record means (`Parsed`): an event or an identity
statement, its ids, time, account, de-duplication key and properties. `assemble` then
does the same work for every vendor, in two passes so that a login later in the file
still claims the anonymous events before it:

1. collect identity statements (merges of ids, and sightings of a user on an anonymous
   id, see `features.adapters.identity`) and known ids; drop identity-only records and
   re-sent copies (same insert id), counting both;
2. resolve every event's id to its user; events whose anonymous id never met a known
   user, or met several users with no way to tell which one it was, are dropped and
   counted (they cannot be attributed to anyone for sure).

The result is a frame with the canonical column names (``user_id``, ``event``,
``timestamp``, ``account_id``, ``session_id``) plus one column per flattened property,
which `features.ingest.load_events` validates like any other event table. Rows read =
rows returned + every dropped reason, so the data-quality report still adds up.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pql.errors import DataError
from pql.features.adapters.identity import BY_TIME, SHARED, IdentityGraph
from pql.features.timestamps import parse_timestamps

# Reasons a record yields no event row, in report order.
IDENTITY_RECORD = "identity record (links ids, not an action)"
DUPLICATE_INSERT = "duplicate insert id (re-sent or late-arriving copy)"
ANONYMOUS = "anonymous id never identified"
SHARED_ANONYMOUS = "anonymous id shared by several users"
REASONS = (IDENTITY_RECORD, DUPLICATE_INSERT, ANONYMOUS, SHARED_ANONYMOUS)

CANONICAL = ("user_id", "event", "timestamp", "account_id", "session_id")


@dataclass
class Parsed:
    """What one export record says, in vendor-neutral terms."""

    is_event: bool = True
    event: Any = None
    timestamp: Any = None  # also on identity records: when the sighting happened
    known: str | None = None  # a real (logged-in) user id
    alias: str | None = None  # an id that may be anonymous (device, anonymous id);
    # with `known` set it is a sighting: this user used this anonymous id at `timestamp`
    alias_is_anonymous: bool = True  # False: an unresolved alias may be a user id
    account: str | None = None
    session: Any = None
    dedupe: Hashable | None = None  # insert id key; None = no de-duplication
    properties: Mapping[str, Any] = field(default_factory=dict)
    # explicit merges ("one person", may join two user ids): alias / $merge records
    links: list[tuple[str | None, str | None]] = field(default_factory=list)
    # (user, anonymous id) sightings besides `known` + `alias`; never join two users
    sightings: list[tuple[str | None, str | None]] = field(default_factory=list)
    known_ids: list[str | None] = field(default_factory=list)
    memberships: list[tuple[str | None, str | None]] = field(default_factory=list)


@dataclass(frozen=True)
class AdaptedEvents:
    """Canonical rows of a vendor export, with everything that did not become a row."""

    frame: pd.DataFrame
    records: int
    dropped: dict[str, int]  # reason -> records, every reason (0 included), in order
    details: dict[str, int]  # identity and account resolution, for the report
    warnings: tuple[str, ...] = ()


def text_id(value: Any) -> str | None:
    """An id as stripped text; numbers as their integer text; blanks are missing."""
    if type(value) is str:  # the common case first: this runs several times per record
        return value.strip() or None
    if value is None or isinstance(value, bool | dict | list):
        return None
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value).strip()
    return text or None


def flatten(properties: Any, prefix: str = "") -> dict[str, Any]:
    """Nested objects become dotted columns: {"plan": {"seats": 3}} -> plan.seats = 3.

    Iterative, not recursive: a record nested hundreds of levels deep (which JSON
    allows) must not exhaust Python's stack."""
    if type(properties) is not dict:  # JSON objects are dicts; anything else has none
        return {}
    flat: dict[str, Any] = {}
    stack: list[tuple[str, Iterator[tuple[Any, Any]]]] = [(prefix, iter(properties.items()))]
    while stack:
        base, items = stack[-1]
        for key, value in items:
            if type(value) is dict:
                stack.append((f"{base}{key}.", iter(value.items())))
                break
            flat[f"{base}{key}" if base else key] = value
        else:
            stack.pop()
    return flat


def first_value(value: Any) -> str | None:
    """A group field: a scalar, a list of ids, or a mapping of group type -> id(s); the
    first id found depth-first (iteratively, so deep nesting cannot exhaust the stack)."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
        else:
            found = text_id(item)
            if found:
                return found
    return None


def assemble(
    records: list[dict[str, Any]],
    parse: Callable[[dict[str, Any]], Parsed],
    *,
    path: Path,
    vendor: str,
    expected: str,
) -> AdaptedEvents:
    """Records -> `AdaptedEvents` (see the module docstring for the two passes)."""
    graph = IdentityGraph()
    dropped = dict.fromkeys(REASONS, 0)
    seen: set[Hashable] = set()
    events: list[Parsed] = []
    members: list[tuple[str, str]] = []
    named = 0
    for record in records:
        parsed = parse(record)
        for first, second in parsed.links:
            graph.merge(first, second)
        for known in parsed.known_ids:
            graph.mark_known(known)
        for user, anonymous in parsed.sightings:
            graph.sight(user, anonymous, parsed.timestamp)
        if parsed.known:
            graph.mark_known(parsed.known)
            graph.sight(parsed.known, parsed.alias, parsed.timestamp)
        members += [(who, group) for who, group in parsed.memberships if who and group]
        if not parsed.is_event:
            dropped[IDENTITY_RECORD] += 1
            continue
        named += parsed.event is not None
        if parsed.dedupe is not None:
            if parsed.dedupe in seen:
                dropped[DUPLICATE_INSERT] += 1
                continue
            seen.add(parsed.dedupe)
        events.append(parsed)
    if named == 0 and dropped[IDENTITY_RECORD] == 0:
        keys = ", ".join(sorted(map(str, records[0]))[:12]) or "(none)"
        raise DataError(
            f"events file '{path}' does not look like a {vendor} export "
            f"(data.events.format = '{vendor}'): no record has {expected}; "
            f"the first record's fields are: {keys}"
        )
    account_of = {}
    for who, group in members:  # the latest group call wins
        account_of[graph.resolve(who) or who] = group

    rows: list[dict[str, Any]] = []
    attributed = by_time = merged = from_membership = 0
    shared_ids: set[str] = set()
    times: list[pd.Timestamp | None] = []
    for position, parsed in enumerate(events):
        if parsed.known:
            user = graph.resolve(parsed.known) or parsed.known
            merged += user != parsed.known
        elif parsed.alias:
            user = graph.resolve(parsed.alias)
            if user is not None:
                attributed += user != parsed.alias
            else:
                if graph.users_on(parsed.alias) > 1 and not times:
                    times = _instants(events)  # parsed once, only when an id is shared
                user, how = graph.attribute(parsed.alias, times[position] if times else None)
                if how == SHARED:
                    dropped[SHARED_ANONYMOUS] += 1
                    shared_ids.add(parsed.alias)
                    continue
                if user is not None:
                    attributed += 1
                    by_time += how == BY_TIME
                elif parsed.alias_is_anonymous:
                    dropped[ANONYMOUS] += 1
                    continue
                else:
                    user = parsed.alias
        else:
            user = None  # no id at all: counted as "missing user id" by ingestion
        account = parsed.account
        if account is None and user in account_of:
            account = account_of[user]
            from_membership += 1
        row = {
            "user_id": user,
            "event": parsed.event,
            "timestamp": parsed.timestamp,
            "account_id": account,
            "session_id": parsed.session,
        }
        for name, value in parsed.properties.items():
            row[f"properties.{name}" if name in CANONICAL else name] = value
        rows.append(row)
    frame = pd.DataFrame.from_records(rows, columns=_columns(rows))
    details = {
        "records read": len(records),
        "identity links": graph.links,
        "anonymous events attributed to a known user": attributed,
        "anonymous events placed by time on a shared id": by_time,
        "shared anonymous ids with ambiguous events": len(shared_ids),
        "events of a user id merged into another": merged,
        "events given an account by a group call": from_membership,
    }
    return AdaptedEvents(frame=frame, records=len(records), dropped=dropped, details=details)


def _instants(events: list[Parsed]) -> list[pd.Timestamp | None]:
    """Every event's time as a UTC instant (None when unreadable), to place it between
    the logins of the users who shared its anonymous id."""
    parsed = parse_timestamps(pd.Series([e.timestamp for e in events], dtype=object)).values
    return [None if pd.isna(t) else t for t in parsed]


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    names: dict[str, None] = dict.fromkeys(CANONICAL)
    for row in rows:
        for name in row:
            names.setdefault(name)
    return list(names)
