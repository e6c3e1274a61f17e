"""Turn whatever an event log calls a time into UTC instants, and say what it saw.

Real exports mix conventions: epoch seconds from one producer, epoch milliseconds from
another, ISO strings with and without offsets, and the occasional ``"n/a"``. Guessing one
format per column silently corrupts the rows that differ (a millisecond epoch read as
seconds lands in the year 50 000), so every value is classified on its own and the
counts per format are returned for the data-quality report.

Rules, per value:

- numbers (or numeric strings) are Unix epochs whose unit follows from the magnitude:
  ``|v| < 1e11`` seconds, ``< 1e14`` milliseconds, ``< 1e17`` microseconds, else
  nanoseconds. Ambiguity only exists for instants before March 1973;
- ISO 8601 strings with an offset (``Z``, ``+02:00``, ``+0200``, ``UTC``) are converted to
  UTC; without one they are taken as UTC and counted separately so the report can say so;
- datetime values: aware ones are converted, naive ones are taken as UTC (counted);
- anything else (missing, empty, garbage, out of the datetime64[ns] range) is NaT and
  counted as ``"unparseable"``.

Everything is vectorised (numpy, pyarrow compute): Python loops appear only for object
columns holding a mix of Python types, where the values are Python objects anyway.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pql.errors import UsageError
from pql.features.iso_texts import utc_iso_ns
from pql.features.time_text import (
    CANDIDATE_RE,
    NotATime,
    epoch_unit,
    parse_text_date,
    why_not_a_time,
)

#: Format names, in the order reports list them; the position is the internal code.
FORMATS: tuple[str, ...] = (
    "unparseable",
    "epoch_seconds",
    "epoch_milliseconds",
    "epoch_microseconds",
    "epoch_nanoseconds",
    "iso_with_zone",
    "iso_without_zone_assumed_utc",
    "datetime_aware",
    "datetime_naive_assumed_utc",
    "rfc_2822",
    "text_date_assumed_utc",
)
UNPARSEABLE, EPOCH_S, EPOCH_MS, EPOCH_US, EPOCH_NS, ISO_ZONE, ISO_NAIVE, DT_AWARE, DT_NAIVE = range(
    9
)
RFC_2822, TEXT_DATE = 9, 10

#: How a format reads in a sentence ("1,200 epoch milliseconds, 30 ISO strings ...").
FORMAT_LABELS: dict[str, str] = {
    "unparseable": "unparseable values",
    "epoch_seconds": "epoch seconds",
    "epoch_milliseconds": "epoch milliseconds",
    "epoch_microseconds": "epoch microseconds",
    "epoch_nanoseconds": "epoch nanoseconds",
    "iso_with_zone": "ISO strings with a time zone",
    "iso_without_zone_assumed_utc": "ISO strings without a time zone (taken as UTC)",
    "datetime_aware": "time-zone-aware datetimes",
    "datetime_naive_assumed_utc": "naive datetimes (taken as UTC)",
    "rfc_2822": "RFC 2822 dates",
    "text_date_assumed_utc": "US-style or written-out dates (taken as UTC)",
}

#: Formats whose values carried no zone and were taken as UTC.
ASSUMED_UTC: frozenset[str] = frozenset(
    {"iso_without_zone_assumed_utc", "datetime_naive_assumed_utc", "text_date_assumed_utc"}
)

NAT = np.iinfo(np.int64).min  # numpy's NaT as int64
_INT64_MAX = np.iinfo(np.int64).max
# Magnitude thresholds between epoch units and the nanoseconds per unit.
_UNIT_BOUNDS = np.array([1e11, 1e14, 1e17])
_NS_PER_UNIT = np.array([10**9, 10**6, 10**3, 1], dtype=np.int64)
_NS_PER_DT_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}

# Numeric strings: integers are cast exactly (nanosecond epochs exceed float precision).
_INT_RE = r"^[+-]?\d+$"
_FLOAT_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
# A zone suffix after a time of day, once "Z"/"UTC"/"GMT" became "+00:00".
_ZONE_RE = r"[T ]\d{1,2}(:?\d{2}){0,2}([.,]\d+)?[+-]\d{2}(:?\d{2})?$"
# Shapes Arrow's ISO 8601 cast understands; others go to pandas' (slower) ISO parser.
_ISO_ZONED_RE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}(:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}(:?\d{2})?)$"
_ISO_NAIVE_RE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d{1,9})?)?)?)?$"
# Below this size a failing Arrow cast is handed to pandas instead of being bisected.
_BISECT_MIN = 4096

_Parsed = tuple[np.ndarray, np.ndarray]  # (int64 ns since epoch, NAT when unparseable; uint8 code)
_StringParser = Callable[[pa.ChunkedArray | pa.Array], _Parsed]


@dataclass(frozen=True)
class ParsedTimestamps:
    """UTC instants (same index as the input, NaT where unparseable) and format counts."""

    values: pd.Series
    formats: dict[str, int]

    @property
    def unparseable(self) -> int:
        return self.formats.get("unparseable", 0)

    @property
    def detected(self) -> dict[str, int]:
        """Counts of the formats that parsed (without "unparseable")."""
        return {name: n for name, n in self.formats.items() if name != "unparseable"}

    @property
    def mixed(self) -> bool:
        """More than one format parsed: worth a warning, each value was read by its own."""
        return len(self.detected) > 1

    def describe(self) -> str:
        """'1,200 epoch milliseconds, 30 ISO strings with a time zone' (parsed formats)."""
        return ", ".join(f"{n:,} {FORMAT_LABELS[name]}" for name, n in self.detected.items())


def parse_timestamps(values: pd.Series) -> ParsedTimestamps:
    """Parse each value by its own format into ``datetime64[ns, UTC]``; see module doc."""
    if not isinstance(values, pd.Series):
        values = pd.Series(values)
    ns, kinds = _parse_series(values)
    counts = np.bincount(kinds, minlength=len(FORMATS))
    formats = {name: int(counts[code]) for code, name in enumerate(FORMATS) if counts[code]}
    return ParsedTimestamps(values=_utc_series(ns, values.index), formats=formats)


def _utc_series(ns: np.ndarray, index: pd.Index) -> pd.Series:
    array = pd.array(ns.view("M8[ns]"), dtype=pd.DatetimeTZDtype("ns", "UTC"))
    return pd.Series(array, index=index, copy=False)


def _empty(n: int) -> _Parsed:
    return np.full(n, NAT, dtype=np.int64), np.zeros(n, dtype=np.uint8)


def _parse_series(values: pd.Series) -> _Parsed:
    """Dispatch on the dtype: each branch is vectorised for its kind of column."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cat_ns, cat_kinds = _parse_series(pd.Series(values.cat.categories))
        return _take(cat_ns, cat_kinds, values.cat.codes.to_numpy())
    if isinstance(dtype, pd.ArrowDtype | pd.StringDtype):
        return _parse_arrow(_chunked(pa.array(values.array)))
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _parse_datetime64(values)
    if pd.api.types.is_bool_dtype(dtype):
        return _empty(len(values))
    if pd.api.types.is_numeric_dtype(dtype):
        return _parse_numeric_series(values)
    if pd.api.types.is_object_dtype(dtype):
        return _parse_objects(values.to_numpy())
    return _empty(len(values))  # timedelta, period, interval...: not a point in time


def _parse_numeric_series(values: pd.Series) -> _Parsed:
    """numpy or nullable numbers; integers stay integers (nanosecond epochs need 64 bits)."""
    if isinstance(values.dtype, np.dtype):
        return _parse_numbers(values.to_numpy())
    valid = values.notna().to_numpy()
    if pd.api.types.is_integer_dtype(values.dtype):
        return _parse_numbers(values.to_numpy(dtype=np.int64, na_value=0), valid)
    return _parse_numbers(values.to_numpy(dtype=np.float64, na_value=np.nan), valid)


def _take(ns: np.ndarray, kinds: np.ndarray, codes: np.ndarray) -> _Parsed:
    """Expand per-category results to rows; code -1 (missing) picks the appended NaT."""
    ns = np.append(ns, NAT)
    kinds = np.append(kinds, np.uint8(UNPARSEABLE))
    return ns[codes], kinds[codes]


def _parse_datetime64(values: pd.Series) -> _Parsed:
    """datetime64 of any unit: naive is taken as UTC, aware is converted."""
    aware = getattr(values.dtype, "tz", None) is not None
    naive = values.dt.tz_convert(None) if aware else values
    raw = naive.to_numpy()
    unit = np.datetime_data(raw.dtype)[0]
    return _scale(raw.view(np.int64), unit, DT_AWARE if aware else DT_NAIVE)


def _scale(i8: np.ndarray, unit: str, kind: int) -> _Parsed:
    """int64 counts of `unit` -> ns; NaT and values outside datetime64[ns] are unparseable."""
    per = _NS_PER_DT_UNIT.get(unit)
    if per is None:  # days, minutes...: rare, let numpy convert
        i8 = i8.view(f"M8[{unit}]").astype("M8[s]").view(np.int64)
        per = _NS_PER_DT_UNIT["s"]
    ok = (i8 != NAT) & (np.abs(i8) <= _INT64_MAX // per)
    ns = np.where(ok, i8 * per, NAT)
    return ns, np.where(ok, kind, UNPARSEABLE).astype(np.uint8)


def _parse_numbers(values: np.ndarray, valid: np.ndarray | None = None) -> _Parsed:
    """Epochs in int64 (exact) or float64 (fractions kept to the nanosecond float allows)."""
    valid = np.ones(len(values), dtype=bool) if valid is None else valid.copy()
    if values.dtype.kind == "u":
        valid &= values <= _INT64_MAX
        values = np.where(valid, values, 0).astype(np.int64)
    if values.dtype.kind == "i":
        ns, unit = _int_epochs(values.astype(np.int64, copy=False), valid)
    else:
        ns, unit = _float_epochs(values.astype(np.float64, copy=False), valid)
    valid = ns != NAT
    return ns, np.where(valid, EPOCH_S + unit, UNPARSEABLE).astype(np.uint8)


def _int_epochs(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, Any]:
    valid = valid & (values != NAT)  # the one int64 whose magnitude does not fit
    magnitude = np.abs(np.where(valid, values, 0))
    unit = _units(magnitude, valid)
    per = _NS_PER_UNIT[unit]
    valid &= magnitude <= _INT64_MAX // per
    return np.where(valid, values * per, NAT), unit


def _float_epochs(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, Any]:
    """Whole units exactly, the fraction rounded to the microsecond: a float64 epoch of
    today holds no finer (1772616600.25 s is 09:30:00.250, not 09:30:00.249999872)."""
    valid = valid & np.isfinite(values)
    magnitude = np.abs(np.where(valid, values, 0.0))
    unit = _units(magnitude, valid)
    per = _NS_PER_UNIT[unit]
    finite = np.where(valid, values, 0.0)
    valid &= np.abs(finite * per) < 9.2e18  # inside datetime64[ns]
    whole = np.trunc(np.where(valid, finite, 0.0))
    micros = np.rint((np.where(valid, finite, 0.0) - whole) * per / 1000)
    ns = whole.astype(np.int64) * per + micros.astype(np.int64) * 1000
    ns[~valid] = NAT
    return ns, unit


def _units(magnitude: np.ndarray, valid: np.ndarray) -> np.ndarray | np.intp:
    """Epoch unit per value by magnitude (0 s, 1 ms, 2 us, 3 ns); a scalar when uniform."""
    if not valid.any():
        return np.intp(0)
    low, high = np.searchsorted(_UNIT_BOUNDS, [magnitude.min(), magnitude.max()], side="right")
    if low == high:
        return low
    return np.searchsorted(_UNIT_BOUNDS, magnitude, side="right")


# --- strings -----------------------------------------------------------------------------


def _mask(array: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Boolean Arrow result -> numpy bool, nulls as False."""
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _to_ns(array: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Arrow timestamp[ns] -> int64 with NAT for nulls."""
    as_int = pc.cast(array, pa.int64())
    return np.asarray(pc.fill_null(as_int, NAT).to_numpy(zero_copy_only=False), dtype=np.int64)


def _parse_arrow(array: pa.ChunkedArray) -> _Parsed:
    """An Arrow column: strings, numbers, timestamps, dates or dictionary-encoded ones."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        chunks = list(array.chunks) or [pa.array([], type=kind)]
        dictionary = chunks[0].dictionary
        if all(c.dictionary.equals(dictionary) for c in chunks):
            cat_ns, cat_kinds = _parse_arrow(pa.chunked_array([dictionary]))
            codes = pc.fill_null(pa.chunked_array([c.indices for c in chunks]), -1)
            return _take(cat_ns, cat_kinds, np.asarray(codes.to_numpy(), dtype=np.int64))
        array = pc.cast(array, kind.value_type)
        kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _parse_strings(array)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        valid = _mask(pc.is_valid(array))
        target = pa.float64() if pa.types.is_floating(kind) else pa.int64()
        if pa.types.is_unsigned_integer(kind) and kind.bit_width == 64:
            target = pa.float64()  # beyond int64 it is not a datetime64[ns] anyway
        filled = pc.fill_null(pc.cast(array, target), 0)
        return _parse_numbers(np.asarray(filled.to_numpy(zero_copy_only=False)), valid)
    if pa.types.is_date(kind):
        array = pc.cast(array, pa.timestamp("ms"))
        kind = array.type
    if pa.types.is_timestamp(kind):
        code = DT_AWARE if kind.tz is not None else DT_NAIVE
        raw = pc.fill_null(pc.cast(array, pa.int64()), NAT).to_numpy(zero_copy_only=False)
        return _scale(np.asarray(raw, dtype=np.int64), kind.unit, code)
    return _empty(len(array))


def _chunked(array: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    return array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])


def _parse_strings(array: pa.ChunkedArray | pa.Array) -> _Parsed:
    """Strings, each by its shape: integer, decimal, ISO with zone, ISO without, other.

    Every shape is checked with a regex before Arrow casts it: a cast is all or nothing,
    and a failing one can cost far more than the regex.
    """
    text = pc.utf8_trim_whitespace(array)
    ns, kinds = _empty(len(text))
    todo = _mask(pc.not_equal(text, ""))
    for pattern, parse in _string_steps(text):
        if not todo.any():
            break
        hit = _matches(text, todo, pattern)
        if hit.any():
            ns[hit], kinds[hit] = parse(_subset(text, hit))
            todo &= ~hit
    if todo.any():
        ns[todo], kinds[todo] = _parse_other_iso(_subset(text, todo))
        left = todo & (kinds == UNPARSEABLE)
        if left.any():
            hit = _matches(text, left, CANDIDATE_RE)
            if hit.any():
                ns[hit], kinds[hit] = _parse_text_dates(_subset(text, hit))
    return ns, kinds


def _parse_text_dates(text: pa.ChunkedArray | pa.Array) -> _Parsed:
    """RFC 2822, unambiguous slash and written-out dates, value by value (rare forms)."""
    values = text.to_pylist()
    ns, kinds = _empty(len(values))
    for position, value in enumerate(values):
        try:
            instant, zoned = parse_text_date(value)
        except NotATime:
            continue
        ns[position] = instant
        kinds[position] = RFC_2822 if zoned else TEXT_DATE
    return ns, kinds


def _string_steps(text: pa.ChunkedArray | pa.Array) -> list[tuple[str, _StringParser]]:
    """Regex + parser per shape; the first value's shape goes first (one pass if uniform)."""
    numeric: list[tuple[str, _StringParser]] = [
        (_INT_RE, _parse_int_strings),
        (_FLOAT_RE, _parse_float_strings),
    ]
    iso: list[tuple[str, _StringParser]] = [
        (_ISO_ZONED_RE, partial(_parse_castable, target=pa.timestamp("ns", "UTC"), code=ISO_ZONE)),
        (_ISO_NAIVE_RE, partial(_parse_castable, target=pa.timestamp("ns"), code=ISO_NAIVE)),
    ]
    first = (_first_value(text) or "").lstrip("+-")
    looks_numeric = first[:1].isdigit() and "-" not in first and ":" not in first
    return numeric + iso if looks_numeric else iso + numeric


def _first_value(text: pa.ChunkedArray | pa.Array) -> str | None:
    for chunk in text.chunks if isinstance(text, pa.ChunkedArray) else [text]:
        valid = chunk.drop_null()
        if len(valid):
            return valid[0].as_py()
    return None


def _matches(text: pa.ChunkedArray | pa.Array, todo: np.ndarray, pattern: str) -> np.ndarray:
    """Which of the `todo` rows match `pattern` (regex run on those rows only)."""
    if todo.all():
        return _mask(pc.match_substring_regex(text, pattern))
    hit = np.zeros(len(text), dtype=bool)
    hit[todo] = _mask(pc.match_substring_regex(_subset(text, todo), pattern))
    return hit


def _subset(text: pa.ChunkedArray | pa.Array, mask: np.ndarray) -> pa.ChunkedArray | pa.Array:
    return text if mask.all() else pc.filter(text, pa.array(mask))


def _parse_int_strings(text: pa.ChunkedArray | pa.Array) -> _Parsed:
    try:
        return _parse_numbers(np.asarray(pc.cast(text, pa.int64()).to_numpy()))
    except pa.ArrowInvalid:  # more than 19 digits: not a datetime64[ns] epoch in any unit
        return _parse_float_strings(text)


def _parse_float_strings(text: pa.ChunkedArray | pa.Array) -> _Parsed:
    return _parse_numbers(np.asarray(pc.cast(text, pa.float64()).to_numpy()))


def _parse_castable(text: pa.ChunkedArray | pa.Array, target: pa.DataType, code: int) -> _Parsed:
    ns = _cast_or_bisect(text, target)
    return ns, np.where(ns != NAT, code, UNPARSEABLE).astype(np.uint8)


def _parse_other_iso(text: pa.ChunkedArray | pa.Array) -> _Parsed:
    """Leftovers: other zone spellings ("UTC", " +02:00", "z"), then pandas' ISO parser."""
    text = pc.replace_substring_regex(text, r"(?i)\s*(z|utc|gmt)$", "+00:00")
    text = pc.replace_substring_regex(text, r"\s+([+-]\d{2}(:?\d{2})?)$", r"\1")
    zoned = _mask(pc.match_substring_regex(text, _ZONE_RE))
    ns = np.full(len(text), NAT, dtype=np.int64)
    rest = np.ones(len(text), dtype=bool)
    for pattern, target in (
        (_ISO_ZONED_RE, pa.timestamp("ns", "UTC")),
        (_ISO_NAIVE_RE, pa.timestamp("ns")),
    ):
        hit = _matches(text, rest, pattern)
        if hit.any():
            ns[hit] = _cast_or_bisect(_subset(text, hit), target)
            rest &= ~hit
    if rest.any():
        ns[rest] = _pandas_iso(_subset(text, rest))
    kinds = np.where(zoned, ISO_ZONE, ISO_NAIVE)
    return ns, np.where(ns != NAT, kinds, UNPARSEABLE).astype(np.uint8)


def _cast_or_bisect(text: pa.ChunkedArray | pa.Array, target: pa.DataType) -> np.ndarray:
    """Arrow casts all or nothing; halve around bad values (e.g. Feb 30) to stay fast."""
    try:
        return _to_ns(pc.cast(text, target))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    if len(text) <= _BISECT_MIN:
        return _pandas_iso(text)
    half = len(text) // 2
    return np.concatenate(
        [_cast_or_bisect(text.slice(0, half), target), _cast_or_bisect(text.slice(half), target)]
    )


def _pandas_iso(text: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """pandas' ISO 8601 parser, value by value tolerant (NaT on failure)."""
    strings = pd.Series(text.to_pandas())
    parsed = pd.to_datetime(strings, format="ISO8601", utc=True, errors="coerce")
    return np.asarray(parsed.dt.tz_convert(None).to_numpy().astype("M8[ns]").view(np.int64))


# --- Python objects ----------------------------------------------------------------------

_OTHER, _STR, _NUMBER, _DATETIME = range(4)


def _classify(value: object) -> int:
    if isinstance(value, str):
        return _STR
    if isinstance(value, bool | np.bool_):
        return _OTHER
    if isinstance(value, numbers.Real):
        return _NUMBER
    if isinstance(value, dt.date | np.datetime64):
        return _DATETIME
    return _OTHER


def _parse_objects(values: np.ndarray) -> _Parsed:
    """Object columns (CSV/JSON via pandas, user frames): split by Python type."""
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred in ("string", "empty"):
        return _parse_strings(pa.array(values, type=pa.string(), from_pandas=True))
    if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
        return _parse_number_objects(values)
    if inferred in ("datetime", "datetime64", "date"):
        return _parse_datetime_objects(values)
    classes = np.fromiter((_classify(v) for v in values), dtype=np.int8, count=len(values))
    ns, kinds = _empty(len(values))
    parsers = (
        (_STR, lambda v: _parse_strings(pa.array(v, type=pa.string()))),
        (_NUMBER, _parse_number_objects),
        (_DATETIME, _parse_datetime_objects),
    )
    for code, parse in parsers:
        mask = classes == code
        if mask.any():
            ns[mask], kinds[mask] = parse(values[mask])
    return ns, kinds


def _parse_number_objects(values: np.ndarray) -> _Parsed:
    if pd.api.types.infer_dtype(values, skipna=False) == "integer":
        try:
            return _parse_numbers(values.astype(np.int64))
        except OverflowError:
            pass
    floats = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=np.float64)
    return _parse_numbers(floats)


def _parse_datetime_objects(values: np.ndarray) -> _Parsed:
    """datetime/date/Timestamp objects; aware ones may carry different zones."""
    aware = np.fromiter(
        (getattr(v, "tzinfo", None) is not None for v in values), dtype=bool, count=len(values)
    )
    ns, kinds = _empty(len(values))
    for mask, code in ((aware, DT_AWARE), (~aware, DT_NAIVE)):
        if mask.any():
            parsed = pd.to_datetime(pd.Series(values[mask]), utc=True, errors="coerce")
            sub_ns, _ = _parse_datetime64(parsed)
            ns[mask] = sub_ns
            kinds[mask] = np.where(sub_ns != NAT, code, UNPARSEABLE)
    return ns, kinds


# --- one value or one short list: HTTP fields and command-line options -------------------
#
# The same rules as a column, with fast paths for the common forms (numbers, ISO 8601)
# that give exactly what the column parser gives; every other value goes through the
# column parser itself, so there is one definition of what reads and how.

_PY_INT_RE = re.compile(_INT_RE, re.ASCII)
_PY_FLOAT_RE = re.compile(_FLOAT_RE, re.ASCII)
_PY_ISO_ZONED_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2}[T ]\d{2}(?::\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?)(Z|[+-]\d{2}(?::?\d{2})?)",
    re.ASCII,
)
_PY_ISO_NAIVE_RE = re.compile(_ISO_NAIVE_RE.strip("^$"), re.ASCII)
_NS_PER_UNIT_PY = (10**9, 10**6, 10**3, 1)


def _epoch_int(value: int) -> int | None:
    """As `_int_epochs` for one value; None when it holds no datetime64[ns]."""
    magnitude = abs(value)
    if magnitude > _INT64_MAX:  # the column parser reads such integers as floats
        return _epoch_float(float(value))
    per = _NS_PER_UNIT_PY[epoch_unit(magnitude)]
    if value == NAT or magnitude > _INT64_MAX // per:
        return None
    return value * per


def _epoch_float(value: float) -> int | None:
    """As `_float_epochs` for one value (same rounding, same bound)."""
    if not math.isfinite(value):
        return None
    per = _NS_PER_UNIT_PY[epoch_unit(abs(value))]
    if not abs(value * per) < 9.2e18:
        return None
    whole = float(np.trunc(value))
    return int(whole) * per + int(np.rint((value - whole) * per / 1000)) * 1000


def _iso_fast(text: str) -> int | None:
    """Nanoseconds of an ISO text of the shapes Arrow casts, or None to take the long way."""
    zoned = _PY_ISO_ZONED_RE.fullmatch(text)
    body, zone = (zoned.group(1), zoned.group(2)) if zoned else (text, "")
    if not zoned and not _PY_ISO_NAIVE_RE.fullmatch(text):
        return None
    if not 1678 <= int(body[:4]) <= 2261 or len(body) == 13:
        return None  # near the span's ends, or hour-only: the column parser decides
    try:
        ns = int(np.datetime64(body.replace(" ", "T"), "ns").astype(np.int64))
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = -1 if zone[0] == "+" else 1
        digits = zone[1:].replace(":", "")
        ns += sign * (int(digits[:2]) * 60 + int(digits[2:] or 0)) * 60 * 10**9
    return ns


def _scalar_fast(value: object) -> int | None:
    """The common forms without numpy/Arrow set-up; None: not one of them (or unreadable)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _epoch_int(value)
    if isinstance(value, float):
        return _epoch_float(value)
    if isinstance(value, str):
        text = value.strip()
        if _PY_INT_RE.fullmatch(text):
            number = int(text)
            return _epoch_int(number) if abs(number) <= _INT64_MAX else _epoch_float(float(text))
        if _PY_FLOAT_RE.fullmatch(text):
            return _epoch_float(float(text))
        return _iso_fast(text)
    return None


def _objects(values: Sequence[object]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = list(values)
    return array


def parse_time(value: object) -> int:
    """Nanoseconds since the epoch (UTC) of one value, read as a column would read it.

    Raises `NotATime` with the sentence `why_not_a_time` gives (the same words a file
    column's warning and an HTTP 422 show for that value).
    """
    ns = _scalar_fast(value)
    if ns is None:
        parsed, _ = _parse_objects(_objects([value]))
        ns = int(parsed[0])
        if ns == NAT:
            raise NotATime(why_not_a_time(value))
    return ns


class NotATimeAt(NotATime):
    """`NotATime` for one item of a list; `position` says which (0-based)."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position


def parse_time_list(values: Sequence[object]) -> np.ndarray:
    """Nanoseconds since the epoch of every value (int64), read as a column would read them.

    A request's UTC ISO texts (the common case) are read by one numpy call; anything
    else goes through the column parser. Raises `NotATimeAt` naming the first value
    that does not read.
    """
    ns = utc_iso_ns(values)
    if ns is None:
        ns, _ = _parse_objects(_objects(values))
    bad = np.flatnonzero(ns == NAT)
    if len(bad):
        position = int(bad[0])
        raise NotATimeAt(position, why_not_a_time(values[position]))
    return ns


def parse_as_of(value: str | None, option: str = "--as-of") -> pd.Timestamp:
    """A command-line time option: 'now' (the default), or one time in any form a file
    column or an HTTP field accepts, refused with the same words (`UsageError`)."""
    if value is None or value.strip().lower() == "now":
        return pd.Timestamp.now(tz="UTC")
    try:
        return pd.Timestamp(parse_time(value), unit="ns", tz="UTC")
    except NotATime as error:
        raise UsageError(f"{option}: {error}") from None
