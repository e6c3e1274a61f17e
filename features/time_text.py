"""Dates written for people (RFC 2822, US and written-out forms) and why a value is no time.

`features.timestamps` reads machine forms (epochs, ISO 8601) vectorised; what is left
after them is read here, value by value, because these forms are rare in logs and need
calendar checks that no vectorised parser makes:

- RFC 2822 (e-mail and HTTP dates): ``[Sun, ]01 Mar 2026 09:30[:00] +0000`` with a zone
  (``+hhmm``, ``UT``/``UTC``/``GMT``/``Z`` or the RFC's US zones EST..PDT); a weekday
  that does not match the date is refused;
- slash dates ``03/31/2026`` or ``31/03/2026`` with an optional time (``14:05``,
  ``2:05:09 PM``): read only when exactly one reading, month first (US) or day first,
  is a real date, or both readings are the same day. ``03/04/2026`` (March 4 or
  3 April) is refused with a message that says so: guessing would shift rows by months;
- written-out dates ``March 31, 2026`` / ``Mar 31 2026`` / ``31 March 2026``, with an
  optional time as above.

Forms without a zone are taken as UTC. `why_not_a_time` gives the one sentence every
entry point (file columns, HTTP fields, command-line options) shows for a value that is
not a time, so the same value gets the same words everywhere.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re

#: The span of instants pql holds (datetime64[ns]), as a message shows it.
SPAN_TEXT = "1677-09-21 to 2262-04-11, UTC"
#: The forms, for messages: the docs' table of accepted forms says the same at length.
ACCEPTED_HINT = (
    "accepted: ISO 8601 (2026-03-01T09:30:00Z), epoch seconds/ms/us/ns (1772357400), "
    "RFC 2822 (Sun, 01 Mar 2026 09:30:00 +0000) or an unambiguous US date "
    "(03/31/2026, March 31, 2026)"
)

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: RFC 2822 section 4.3 zone names, in minutes east of UTC.
_ZONES = {
    "ut": 0, "utc": 0, "gmt": 0, "z": 0,
    "est": -300, "edt": -240, "cst": -360, "cdt": -300,
    "mst": -420, "mdt": -360, "pst": -480, "pdt": -420,
}  # fmt: skip

_TIME = r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?"
_MERIDIEM = r"(?:\s*(?P<meridiem>[ap]\.?m\.?))?"
_RFC_RE = re.compile(
    r"(?:(?P<weekday>[a-z]{3})[a-z]*,?\s+)?(?P<day>\d{1,2})\s+(?P<month>[a-z]{3,9})\.?\s+"
    rf"(?P<year>\d{{4}})\s+{_TIME}\s*(?P<zone>[+-]\d{{2}}:?\d{{2}}|(?![ap]\.?m\.?$)[a-z]{{1,3}})",
    re.IGNORECASE,
)
_SLASH_RE = re.compile(
    r"(?P<first>\d{1,2})/(?P<second_part>\d{1,2})/(?P<year>\d{4})"
    rf"(?:[ T,]+{_TIME}{_MERIDIEM})?",
    re.IGNORECASE,
)
_WORDS_RE = re.compile(
    r"(?:(?P<weekday>[a-z]{3})[a-z]*,?\s+)?"
    r"(?:(?P<month>[a-z]{3,9})\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?|"
    r"(?P<day2>\d{1,2})(?:st|nd|rd|th)?\s+(?P<month2>[a-z]{3,9})\.?)"
    rf",?\s+(?P<year>\d{{4}})(?:(?:,?\s+|T)(?:at\s+)?{_TIME}{_MERIDIEM})?",
    re.IGNORECASE,
)
#: A cheap first look (run vectorised by Arrow) for values worth the per-value parse.
CANDIDATE_RE = (
    r"(?i)(^\s*\d{1,2}/\d{1,2}/\d{4})|"
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?[\s,]"
)
_ISO_SHAPE_RE = re.compile(r"[+-]?\d{4,}-\d{1,2}-\d{1,2}")
_NUMBER_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class NotATime(ValueError):
    """A value no accepted form reads; the message says why (see `why_not_a_time`)."""


def _clock(match: re.Match[str]) -> tuple[int, int, int, int] | str:
    """(hour, minute, second, nanoseconds) of the match's time, or why it is not one."""
    if match.group("hour") is None:
        return (0, 0, 0, 0)
    hour, minute = int(match.group("hour")), int(match.group("minute"))
    second = int(match.group("second") or 0)
    fraction = match.groupdict().get("fraction") or ""
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    meridiem = (match.groupdict().get("meridiem") or "").replace(".", "").lower()
    if meridiem:
        if not 1 <= hour <= 12:
            return f"hour {hour} with {meridiem.upper()}"
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return f"{hour:02d}:{minute:02d}:{second:02d} is not a time of day"
    return (hour, minute, second, nanos)


def _instant(
    year: int, month: int, day: int, clock: tuple[int, int, int, int], offset_minutes: int
) -> int:
    """Nanoseconds since the epoch (UTC) of a checked calendar date and time of day."""
    hour, minute, second, nanos = clock
    moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    seconds = (moment - EPOCH) // dt.timedelta(seconds=1) - offset_minutes * 60
    return seconds * 1_000_000_000 + nanos


def _real_date(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def _weekday_mismatch(match: re.Match[str], year: int, month: int, day: int) -> str | None:
    named = (match.group("weekday") or "").lower()[:3]
    if not named:
        return None
    if named not in _WEEKDAYS:
        return f"'{match.group('weekday')}' is not a weekday"
    actual = dt.date(year, month, day).weekday()
    if _WEEKDAYS.index(named) != actual:
        date = f"{year:04d}-{month:02d}-{day:02d}"
        return f"{match.group('weekday')} does not match {date}, a {_WEEKDAY_NAMES[actual]}"
    return None


def _zone_minutes(zone: str) -> int | None:
    if zone[0] in "+-":
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            return None
        return (1 if zone[0] == "+" else -1) * (hours * 60 + minutes)
    return _ZONES.get(zone.lower())


def parse_text_date(text: str) -> tuple[int, bool]:
    """(ns since the epoch, whether the text named a zone) of an RFC 2822, slash or
    written-out date; raises `NotATime` saying why when it is none of them."""
    text = text.strip()
    rfc = _RFC_RE.fullmatch(text)
    if rfc is not None:
        return _from_words(rfc, rfc.group("month"), rfc.group("day"), rfc.group("zone")), True
    slash = _SLASH_RE.fullmatch(text)
    if slash is not None:
        return _from_slashes(slash), False
    words = _WORDS_RE.fullmatch(text)
    if words is not None:
        month = words.group("month") or words.group("month2")
        day = words.group("day") or words.group("day2")
        return _from_words(words, month, day, None), False
    raise NotATime(f"cannot read {text!r} as a time; {ACCEPTED_HINT}")


def _from_words(match: re.Match[str], month_name: str, day_text: str, zone: str | None) -> int:
    text = match.string
    month = _MONTHS.get(month_name.lower())
    if month is None:
        raise NotATime(f"{text!r}: '{month_name}' is not a month")
    year, day = int(match.group("year")), int(day_text)
    if not _real_date(year, month, day):
        raise NotATime(f"{text!r} is not a real date")
    mismatch = _weekday_mismatch(match, year, month, day)
    if mismatch is not None:
        raise NotATime(f"{text!r}: {mismatch}")
    clock = _clock(match)
    if isinstance(clock, str):
        raise NotATime(f"{text!r}: {clock}")
    offset = 0
    if zone is not None:
        minutes = _zone_minutes(zone)
        if minutes is None:
            raise NotATime(f"{text!r}: '{zone}' is not a time zone (use +hhmm, UTC or GMT)")
        offset = minutes
    return _checked(_instant(year, month, day, clock, offset), text)


def _from_slashes(match: re.Match[str]) -> int:
    text = match.string
    first, second, year = (int(match.group(g)) for g in ("first", "second_part", "year"))
    us = _real_date(year, first, second)  # month first
    day_first = _real_date(year, second, first)
    if us and day_first and first != second:
        raise NotATime(
            f"{text!r} is ambiguous: month first (US) it is {year:04d}-{first:02d}-{second:02d}, "
            f"day first {year:04d}-{second:02d}-{first:02d}; write it as ISO 8601 "
            f"(YYYY-MM-DD)"
        )
    if not (us or day_first):
        raise NotATime(f"{text!r} is not a real date, month first or day first")
    month, day = (first, second) if us else (second, first)
    clock = _clock(match)
    if isinstance(clock, str):
        raise NotATime(f"{text!r}: {clock}")
    return _checked(_instant(year, month, day, clock, 0), text)


#: Nanosecond epochs datetime64[ns] holds (its minimum is NaT).
NS_MIN, NS_MAX = -(2**63) + 1, 2**63 - 1


def _checked(ns: int, text: str) -> int:
    if not NS_MIN <= ns <= NS_MAX:
        raise NotATime(f"{text!r} is outside the times pql can hold ({SPAN_TEXT})")
    return ns


# --- why a value is not a time -----------------------------------------------------------

_UNIT_NAMES = ("seconds", "milliseconds", "microseconds", "nanoseconds")
_UNIT_BOUNDS = (1e11, 1e14, 1e17)


def epoch_unit(magnitude: float) -> int:
    """0 seconds, 1 milliseconds, 2 microseconds, 3 nanoseconds (module doc of timestamps)."""
    return sum(magnitude >= bound for bound in _UNIT_BOUNDS)


def _number_reason(value: float | int, shown: str) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{shown} is not a time"
    unit = _UNIT_NAMES[epoch_unit(abs(value))]
    return f"{shown} read as epoch {unit} is outside the times pql can hold ({SPAN_TEXT})"


def why_not_a_time(value: object) -> str:
    """The sentence shown for a value no accepted form reads (same for every entry point).

    Call it for values the parsers refused; for a readable value it still returns a
    sentence (the parsers are the judge of what reads, this only explains).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "a time is required"
    if isinstance(value, bool):
        return f"{str(value).lower()} is not a time"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        as_number = int(value) if isinstance(value, numbers.Integral) else float(value)
        return _number_reason(as_number, repr(as_number))
    if not isinstance(value, str):
        return f"expected a time (text or a number), got {type(value).__name__}"
    text = value.strip()
    if not text:
        return "a time is required"
    if _NUMBER_RE.fullmatch(text):
        number: float | int = int(text) if text.lstrip("+-").isdigit() else float(text)
        return _number_reason(number, repr(text))
    if _ISO_SHAPE_RE.match(text):
        return _iso_reason(text)
    try:
        parse_text_date(text)
    except NotATime as error:
        return str(error)
    return f"cannot read {text!r} as a time; {ACCEPTED_HINT}"


def _iso_reason(text: str) -> str:
    """An ISO-shaped text that did not read: a wrong date/time, or a year out of span."""
    normal = re.sub(r"(?i)\s*(z|utc|gmt)$", "+00:00", text)
    try:
        dt.datetime.fromisoformat(normal)
    except ValueError:
        return f"{text!r} is not a valid ISO 8601 date and time (e.g. 2026-03-01T09:30:00Z)"
    return f"{text!r} is outside the times pql can hold ({SPAN_TEXT})"
