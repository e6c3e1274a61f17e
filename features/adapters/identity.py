"""Who is who: anonymous ids joined to the known users they turned out to be.

Exports say two different things about ids, and they must not be confused:

- **merges** ("these ids are one person"): Segment ``alias``, Mixpanel ``$merge`` /
  ``$create_alias``, PostHog ``$create_alias``, and two anonymous ids of one device
  (Mixpanel ``$device:d1`` and ``d1``). A union-find joins them, and only a merge may
  join two known user ids; each cluster is represented by its first known id (file
  order).
- **sightings** ("user U was seen on anonymous id X at time t"): Segment
  ``identify`` / events with ``userId`` + ``anonymousId``, Amplitude ``user_id`` +
  ``device_id``, Mixpanel ``$identify`` and ``$user_id`` + ``$device_id``, PostHog
  ``$identify``. A laptop or a cookie can be shared, so a sighting never joins two
  users: Alice and Bob logging in on one device stay two people.

An anonymous event goes to the one user its id was seen with. When several users were
seen on the id, it goes to the user seen on it both last before and first after the
event (or the only one on either side: before the first login it is the first user's
pre-login activity, after the last login the last user's); an event between two
different users' sightings, or without a readable time, is ambiguous and is counted,
never guessed.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass

import pandas as pd

from pql.features.timestamps import parse_timestamps

# What `IdentityGraph.attribute` found for an id with no known user of its own.
ONE_USER = "one user"
BY_TIME = "by time"
SHARED = "shared"
NOBODY = "nobody"


@dataclass(frozen=True)
class Sighting:
    user: str
    anonymous: str
    time: object  # the raw time as exported; parsed once, when first needed


class IdentityGraph:
    """Merges (union-find, may join users) and sightings (never join users) of ids."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}
        self._known: dict[str, int] = {}  # id -> order in which it was first marked known
        self._representative: dict[str, str] | None = None
        self._sightings: list[Sighting] = []
        self._pairs: set[tuple[str, str]] = set()
        self._seen_on: dict[str, _Timeline] | None = None
        self.links = 0  # merges that joined two clusters + distinct (user, anonymous id) pairs

    def _find(self, node: str) -> str:
        parent = self._parent.setdefault(node, node)
        root = node
        while parent != root:
            root = parent
            parent = self._parent[root]
        while node != root:  # path compression
            self._parent[node], node = root, self._parent[node]
        return root

    def _changed(self) -> None:
        self._representative = None
        self._seen_on = None

    def merge(self, first: str | None, second: str | None) -> None:
        """`first` and `second` are the same person (either may be missing)."""
        if not first or not second or first == second:
            return
        a, b = self._find(first), self._find(second)
        if a != b:
            self._parent[b] = a
            self.links += 1
            self._changed()

    def sight(self, user: str | None, anonymous: str | None, time: object = None) -> None:
        """`user` was seen using `anonymous` (a device / anonymous id) at `time`."""
        if not user or not anonymous or user == anonymous:
            return
        self._parent.setdefault(user, user)
        self._parent.setdefault(anonymous, anonymous)
        self._sightings.append(Sighting(user, anonymous, time))
        if (user, anonymous) not in self._pairs:
            self._pairs.add((user, anonymous))
            self.links += 1
        self._seen_on = None

    def mark_known(self, node: str | None) -> None:
        """`node` is a real user id (not an anonymous / device id)."""
        if node and node not in self._known:
            self._known[node] = len(self._known)
            self._parent.setdefault(node, node)
            self._changed()

    def resolve(self, node: str | None) -> str | None:
        """The known user id `node` was merged with, or None when its cluster has none."""
        if not node:
            return None
        if self._representative is None:
            self._representative = {}
            for known in sorted(self._known, key=self._known.__getitem__):
                self._representative.setdefault(self._find(known), known)
        if node not in self._parent:
            return None
        return self._representative.get(self._find(node))

    def _user(self, node: str) -> str:
        """A sighting's user as the person it resolves to (itself if merged with none)."""
        return self.resolve(node) or node

    def _index(self) -> dict[str, _Timeline]:
        """Anonymous cluster -> its sightings in time order (times parsed once)."""
        if self._seen_on is None:
            times = parse_timestamps(pd.Series([s.time for s in self._sightings], dtype=object))
            seen: dict[str, list[tuple[pd.Timestamp | None, str]]] = defaultdict(list)
            for sighting, time in zip(self._sightings, times.values, strict=True):
                when = None if pd.isna(time) else time
                seen[self._find(sighting.anonymous)].append((when, self._user(sighting.user)))
            self._seen_on = {root: _Timeline.of(pairs) for root, pairs in seen.items()}
        return self._seen_on

    def users_on(self, node: str) -> int:
        """How many different users were seen on `node`'s anonymous id."""
        timeline = self._index().get(self._find(node))
        return len(timeline.users) if timeline else 0

    def attribute(self, node: str, when: pd.Timestamp | None) -> tuple[str | None, str]:
        """The user an id with no known user of its own belongs to, and how it was found
        (`ONE_USER`, `BY_TIME`, `SHARED` or `NOBODY`); `when` is the event's UTC time."""
        timeline = self._index().get(self._find(node))
        if timeline is None:
            return None, NOBODY
        if len(timeline.users) == 1:
            return next(iter(timeline.users)), ONE_USER
        if when is None or timeline.untimed:
            return None, SHARED
        candidates = timeline.around(when)
        if len(candidates) == 1:
            return next(iter(candidates)), BY_TIME
        return None, SHARED


@dataclass(frozen=True)
class _Timeline:
    """The users seen on one anonymous id, in time order."""

    instants: list[pd.Timestamp]
    users_at: list[str]
    users: frozenset[str]
    untimed: bool  # some sighting has no readable time: its place is unknown

    @classmethod
    def of(cls, pairs: list[tuple[pd.Timestamp | None, str]]) -> _Timeline:
        timed = sorted((t, user) for t, user in pairs if t is not None)
        return cls(
            instants=[t for t, _ in timed],
            users_at=[user for _, user in timed],
            users=frozenset(user for _, user in pairs),
            untimed=len(timed) < len(pairs),
        )

    def around(self, when: pd.Timestamp) -> set[str]:
        """Users of the last sighting at or before `when` and the first at or after it."""
        found: set[str] = set()
        last = bisect.bisect_right(self.instants, when)
        if last:
            at = self.instants[last - 1]
            found |= {u for t, u in zip(self.instants, self.users_at, strict=True) if t == at}
        first = bisect.bisect_left(self.instants, when)
        if first < len(self.instants):
            at = self.instants[first]
            found |= {u for t, u in zip(self.instants, self.users_at, strict=True) if t == at}
        return found
