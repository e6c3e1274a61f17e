"""Local calendar days of instants, in the product's time zone, without pandas.

Why: "active on 3 days" and "a 5-day streak" are about the days a user lives in. A
product in Shanghai whose users work at 07:30 local time would see that morning split
across two UTC dates. Instants (cutoffs, windows) stay exact; only the question "which
calendar day is this event on" depends on the zone (`spec.timezone`).

How: a zone's UTC offset changes only at its transitions (DST, law changes), a few a
year. The offsets over the span of the times asked are found once (sampled per day,
each change located to the second by bisection) and cached per zone and 64-day block,
so a million events cost one `searchsorted`, and a live request a cache hit. Two
transitions within one day (none in the tz database's recent history) would be seen
as one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

DAY_MS = 24 * 3600 * 1000
UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu", "Universal"})
_BLOCK_DAYS = 64


def _offset_ms(zone: ZoneInfo, at_ms: int) -> int:
    moment = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(zone)
    offset = moment.utcoffset()
    return 0 if offset is None else int(offset.total_seconds() * 1000)


def _transition(zone: ZoneInfo, before_ms: int, after_ms: int) -> int:
    """The first second in (before, after] whose offset differs from `before`'s."""
    start = _offset_ms(zone, before_ms)
    low, high = before_ms // 1000, -(-after_ms // 1000)  # seconds
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_ms(zone, middle * 1000) == start:
            low = middle
        else:
            high = middle
    return high * 1000


@lru_cache(maxsize=256)
def _offsets(name: str, first_block: int, last_block: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts_ms, offsets_ms): the zone's offset from each start on, over the blocks."""
    zone = ZoneInfo(name)
    first_ms = first_block * _BLOCK_DAYS * DAY_MS
    last_ms = (last_block + 1) * _BLOCK_DAYS * DAY_MS
    starts = [np.iinfo(np.int64).min // 2]
    offsets = [_offset_ms(zone, first_ms)]
    previous = first_ms
    for at in range(first_ms + DAY_MS, last_ms + DAY_MS, DAY_MS):
        offset = _offset_ms(zone, at)
        if offset != offsets[-1]:
            starts.append(_transition(zone, previous, at))
            offsets.append(offset)
        previous = at
    return np.array(starts, dtype=np.int64), np.array(offsets, dtype=np.int64)


def local_days(time_ms: np.ndarray, zone: str = "UTC") -> np.ndarray:
    """Day number (days since 1970-01-01 in the zone's calendar) of each instant."""
    time_ms = np.asarray(time_ms, dtype=np.int64)
    if zone in UTC_NAMES or len(time_ms) == 0:
        return time_ms // DAY_MS
    first = int(time_ms.min()) // DAY_MS // _BLOCK_DAYS
    last = int(time_ms.max()) // DAY_MS // _BLOCK_DAYS
    starts, offsets = _offsets(zone, first, last)
    if len(offsets) == 1:  # no transition in the span: one fixed offset
        return (time_ms + offsets[0]) // DAY_MS
    at = np.searchsorted(starts, time_ms, side="right") - 1
    return (time_ms + offsets[at]) // DAY_MS
