"""How long an entity has been around, in the words of the product's shape.

A trial user is "Day 9 of a 14-day trial"; a freemium user is "Free user for 10
months" and never "in a trial" (a free user has no trial to be in). A trial product
whose length the spec does not give keeps "Signed up 9 days ago": pql cannot know which
day of which trial that is. The same module reads the texts back
(`tenure_problems`) so the reason audit checks what was said against `tenure_days`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np

#: Durations in the largest unit a person would say: under 14 days in days, under 8
#: weeks in weeks, under 2 years in months, then years. (unit name, days per unit, below)
UNITS: tuple[tuple[str, float, float], ...] = (
    ("day", 1.0, 14.0),
    ("week", 7.0, 56.0),
    ("month", 365.25 / 12, 730.5),
    ("year", 365.25, math.inf),
)
TRIAL_WORD = re.compile(r"\btrials?\b", re.I)
FREE_FOR = re.compile(r"^Free (user|account) for (less than a day|(\d+) (day|week|month|year)s?)$")
TRIAL_DAY = re.compile(r"^Day (\d+) of a ([\d.]+)-day trial$")


def duration_words(days: float) -> str:
    """'less than a day', '3 days', '5 weeks', '10 months', '2 years' (rounded)."""
    if days < 1:
        return "less than a day"
    for name, size, below in UNITS:
        if days < below:
            count = max(round(days / size), 1)
            return f"{count} {name}{'s' * (count != 1)}"
    raise AssertionError("the last unit has no upper bound")


def trial_day(tenure_days: float) -> int:
    """The day of the trial an age falls on: the first 24 hours are day 1."""
    return math.floor(tenure_days) + 1


def _worded(keys: np.ndarray, word: Callable[[float], str | None]) -> np.ndarray:
    """`word` of each key, formatting each distinct key once (a million rows hold few)."""
    out = np.full(len(keys), None, dtype=object)
    known = np.isfinite(keys)
    if known.any():
        distinct, index = np.unique(keys[known], return_inverse=True)
        words = np.array([word(float(k)) for k in distinct], dtype=object)
        out[known] = words[np.asarray(index).reshape(-1)]
    return out


#: `_duration_key` packs a unit's position and a count into one number.
_UNIT_STRIDE = 1e6


def _duration_key(days: np.ndarray) -> np.ndarray:
    """One number per row that fixes `duration_words`: unit position x stride + count."""
    key = np.full(len(days), np.nan)
    key[days < 1] = 0.0  # less than a day
    lower = 1.0
    for position, (_, size, below) in enumerate(UNITS):
        inside = (days >= lower) & (days < below)
        count = np.maximum(np.round(days[inside] / size), 1)
        key[inside] = (position + 1) * _UNIT_STRIDE + count
        lower = below
    return key


def _key_words(key: float) -> str:
    position, count = divmod(int(key), int(_UNIT_STRIDE))
    if position == 0:
        return "less than a day"
    name = UNITS[position - 1][0]
    return f"{count} {name}{'s' * (count != 1)}"


def tenure_texts(
    tenure_days: np.ndarray, shape: str | None, trial_days: float | None, entity: str
) -> np.ndarray | None:
    """The tenure context per row in the shape's words; None: keep "Signed up ... ago"
    (a trial whose length is not known). NaN tenure gives None for that row."""
    days = np.asarray(tenure_days, dtype=np.float64)
    if shape == "freemium":
        return _worded(_duration_key(days), lambda k: _free_for(entity, _key_words(k)))
    if trial_days is None:
        return None
    # a trial of known length: its day while it runs, the plain signup age after it
    running = np.where(days < trial_days, np.floor(days) + 1, np.nan)
    return _worded(running, lambda d: _trial_day_words(int(d), trial_days))


def _free_for(entity: str, duration: str) -> str:
    return f"Free {'account' if entity == 'account' else 'user'} for {duration}"


def _trial_day_words(day: int, trial_days: float) -> str:
    return f"Day {day} of a {trial_days:g}-day trial"


def tenure_text(
    tenure_days: float, shape: str | None, trial_days: float | None, entity: str
) -> str | None:
    """`tenure_texts` of one row, on a plain float (a request's entity)."""
    if not math.isfinite(tenure_days):
        return None
    if shape == "freemium":
        return _free_for(entity, duration_words(tenure_days))
    if trial_days is None or tenure_days >= trial_days:
        return None
    return _trial_day_words(trial_day(tenure_days), trial_days)


def _duration_holds(words: str, count: str | None, unit: str | None, days: float) -> bool:
    """Re-read on its own terms: the stated count is the age in that unit, rounded."""
    if not math.isfinite(days):
        return False
    if count is None or unit is None:
        return words == "less than a day" and days < 1
    size = {name: size for name, size, _ in UNITS}[unit]
    return days >= 1 and abs(days / size - int(count)) <= 0.5 + 1e-9


def tenure_problems(
    text: str, tenure_days: float, shape: str | None, trial_days: float | None
) -> list[str]:
    """What is untrue in a tenure text ("Free user for ...", "Day ... of a ...-day trial")."""
    problems = []
    if shape == "freemium" and TRIAL_WORD.search(text):
        problems.append("describes a free user as in a trial")
    free = FREE_FOR.match(text)
    if free:
        if shape != "freemium":
            problems.append("says 'free user' for a trial product")
        if not _duration_holds(free.group(2), free.group(3), free.group(4), tenure_days):
            problems.append(f"says {free.group(2)}; tenure_days is {tenure_days:g}")
    day = TRIAL_DAY.match(text)
    if day:
        length = float(day.group(2))
        if trial_days is None or not math.isclose(length, trial_days):
            problems.append(
                f"says a {day.group(2)}-day trial; the spec's trial_days is {trial_days}"
            )
        if not tenure_days < length or int(day.group(1)) != trial_day(tenure_days):
            problems.append(f"says day {day.group(1)}; tenure_days is {tenure_days:g}")
    return problems
