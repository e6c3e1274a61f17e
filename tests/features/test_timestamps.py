"""parse_timestamps: every value by its own format, to UTC, nothing uncounted."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pql.features.timestamps import FORMATS, parse_timestamps


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def as_list(values: pd.Series) -> list[pd.Timestamp]:
    return list(values)


def test_epoch_seconds_and_milliseconds_by_magnitude() -> None:
    parsed = parse_timestamps(pd.Series([1541105830, 1541105830796, 1541105830796000]))
    assert as_list(parsed.values) == [
        utc("2018-11-01 20:57:10"),
        utc("2018-11-01 20:57:10.796"),
        utc("2018-11-01 20:57:10.796"),
    ]
    assert parsed.formats == {
        "epoch_seconds": 1,
        "epoch_milliseconds": 1,
        "epoch_microseconds": 1,
    }
    assert str(parsed.values.dtype) == "datetime64[ns, UTC]"


def test_epoch_nanoseconds_keep_full_precision() -> None:
    parsed = parse_timestamps(pd.Series([1541105830796123456, "1541105830796123457"]))
    assert parsed.values.iloc[0] == utc("2018-11-01 20:57:10.796123456")
    assert parsed.values.iloc[1] == utc("2018-11-01 20:57:10.796123457")
    assert parsed.formats == {"epoch_nanoseconds": 2}


def test_float_epochs_with_missing_values() -> None:
    parsed = parse_timestamps(pd.Series([1541105830796.0, np.nan, 1541105830.5]))
    assert parsed.values.iloc[0] == utc("2018-11-01 20:57:10.796")
    assert pd.isna(parsed.values.iloc[1])
    assert parsed.values.iloc[2] == utc("2018-11-01 20:57:10.5")
    assert parsed.formats == {"unparseable": 1, "epoch_seconds": 1, "epoch_milliseconds": 1}


def test_numeric_strings_are_epochs() -> None:
    parsed = parse_timestamps(pd.Series(["1541105830796", " 1541105830 ", "1.5e9"]))
    assert as_list(parsed.values) == [
        utc("2018-11-01 20:57:10.796"),
        utc("2018-11-01 20:57:10"),
        utc("2017-07-14 02:40:00"),
    ]
    assert parsed.formats == {"epoch_seconds": 2, "epoch_milliseconds": 1}


def test_iso_strings_with_zones_are_converted() -> None:
    values = [
        "2026-03-01T10:00:00+02:00",
        "2026-03-01T10:00:00Z",
        "2026-03-01T10:00:00.250-05:30",
        "2026-03-01 10:00:00+0200",
        "2026-03-01T10:00:00z",
        "2018-11-01 20:57:10.796 UTC",
        "2026-03-01T10:00:00 +02:00",
    ]
    parsed = parse_timestamps(pd.Series(values))
    assert as_list(parsed.values) == [
        utc("2026-03-01 08:00:00"),
        utc("2026-03-01 10:00:00"),
        utc("2026-03-01 15:30:00.250"),
        utc("2026-03-01 08:00:00"),
        utc("2026-03-01 10:00:00"),
        utc("2018-11-01 20:57:10.796"),
        utc("2026-03-01 08:00:00"),
    ]
    assert parsed.formats == {"iso_with_zone": len(values)}


def test_iso_without_zone_is_utc_and_counted() -> None:
    parsed = parse_timestamps(pd.Series(["2026-03-01 10:00:00", "2026-03-01T10:00", "2026-03-01"]))
    assert as_list(parsed.values) == [
        utc("2026-03-01 10:00"),
        utc("2026-03-01 10:00"),
        utc("2026-03-01 00:00"),
    ]
    assert parsed.formats == {"iso_without_zone_assumed_utc": 3}


def test_mixed_column_parses_each_row_by_its_own_format() -> None:
    values = [
        1541105830796,  # epoch ms
        "2026-03-01T10:00:00+02:00",
        1541105830,  # epoch s
        "1541105830796",
        "2026-03-01 10:00:00",  # no zone
        dt.datetime(2026, 3, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=-1))),
        None,
        "yesterday",
        "",
    ]
    parsed = parse_timestamps(pd.Series(values, dtype=object))
    assert as_list(parsed.values)[:6] == [
        utc("2018-11-01 20:57:10.796"),
        utc("2026-03-01 08:00:00"),
        utc("2018-11-01 20:57:10"),
        utc("2018-11-01 20:57:10.796"),
        utc("2026-03-01 10:00:00"),
        utc("2026-03-01 11:00:00"),
    ]
    assert parsed.values.iloc[6:].isna().all()
    assert parsed.formats == {
        "unparseable": 3,
        "epoch_seconds": 1,
        "epoch_milliseconds": 2,
        "iso_with_zone": 1,
        "iso_without_zone_assumed_utc": 1,
        "datetime_aware": 1,
    }
    assert parsed.mixed
    assert "2 epoch milliseconds" in parsed.describe()


def test_unparseable_values_are_nat_and_counted() -> None:
    values = [None, np.nan, "", "   ", "garbage", "2026-02-30T00:00:00Z", "2026-13-01", True]
    parsed = parse_timestamps(pd.Series(values, dtype=object))
    assert parsed.values.isna().all()
    assert parsed.formats == {"unparseable": len(values)}
    assert not parsed.mixed


def test_out_of_range_numbers_are_unparseable() -> None:
    parsed = parse_timestamps(pd.Series([1e30, -np.inf, np.inf, 2**62]))
    # 2**62 is an epoch in nanoseconds (year 2116): in range.
    assert parsed.values.iloc[:3].isna().all()
    assert parsed.values.iloc[3] == pd.Timestamp(2**62, unit="ns", tz="UTC")
    assert parsed.formats == {"unparseable": 3, "epoch_nanoseconds": 1}


def test_datetime_columns_naive_and_aware() -> None:
    naive = pd.Series(pd.to_datetime(["2026-03-01 10:00", None]))
    parsed = parse_timestamps(naive)
    assert parsed.values.iloc[0] == utc("2026-03-01 10:00")
    assert parsed.formats == {"unparseable": 1, "datetime_naive_assumed_utc": 1}

    paris = pd.Series(pd.to_datetime(["2026-03-01 10:00"]).tz_localize("Europe/Paris"))
    parsed = parse_timestamps(paris)
    assert parsed.values.iloc[0] == utc("2026-03-01 09:00")
    assert parsed.formats == {"datetime_aware": 1}

    seconds = pd.Series(pd.to_datetime(["2026-03-01 10:00"]).as_unit("s"))
    assert parse_timestamps(seconds).values.iloc[0] == utc("2026-03-01 10:00")


def test_nullable_categorical_and_arrow_columns() -> None:
    ints = parse_timestamps(pd.Series([1541105830796, None], dtype="Int64"))
    assert ints.values.iloc[0] == utc("2018-11-01 20:57:10.796")
    assert ints.formats == {"unparseable": 1, "epoch_milliseconds": 1}

    categorical = pd.Series(["2026-03-01T10:00:00Z", None, "2026-03-01T10:00:00Z", "x"])
    parsed = parse_timestamps(categorical.astype("category"))
    assert parsed.values.iloc[2] == utc("2026-03-01 10:00")
    assert parsed.formats == {"unparseable": 2, "iso_with_zone": 2}

    arrow = pd.Series(["2026-03-01T10:00:00+01:00", None], dtype=pd.ArrowDtype(pa.string()))
    parsed = parse_timestamps(arrow)
    assert parsed.values.iloc[0] == utc("2026-03-01 09:00")
    assert parsed.formats == {"unparseable": 1, "iso_with_zone": 1}


def test_index_is_kept() -> None:
    values = pd.Series([1541105830, "2026-03-01"], index=[10, 20], dtype=object)
    assert list(parse_timestamps(values).values.index) == [10, 20]


def test_empty_column() -> None:
    parsed = parse_timestamps(pd.Series([], dtype=object))
    assert len(parsed.values) == 0
    assert parsed.formats == {}


def test_one_bad_date_among_many_loses_only_that_row() -> None:
    """Arrow casts all-or-nothing; the parser must isolate the bad value."""
    good = pd.date_range("2026-01-01", periods=20_000, freq="min", tz="UTC")
    text = pd.Series(good.strftime("%Y-%m-%dT%H:%M:%SZ"))
    text.iloc[12_345] = "2026-02-30T00:00:00Z"
    parsed = parse_timestamps(text)
    assert parsed.formats == {"unparseable": 1, "iso_with_zone": 19_999}
    expected = pd.Series(good).where(text.index != 12_345)
    pd.testing.assert_series_equal(parsed.values, expected, check_names=False)


def test_format_names_are_the_documented_ones() -> None:
    assert {"epoch_seconds", "epoch_milliseconds", "iso_with_zone"} <= set(FORMATS)
    assert "iso_without_zone_assumed_utc" in FORMATS and "unparseable" in FORMATS


@pytest.mark.slow
def test_vectorised_on_a_million_rows() -> None:
    """A per-row Python parser would take tens of seconds here."""
    n = 1_000_000
    ms = 1_700_000_000_000 + np.arange(n, dtype=np.int64) * 1_000
    stamps = pd.to_datetime(ms, unit="ms", utc=True)
    seconds = pa.array(stamps).cast(pa.timestamp("s", "UTC"))
    iso = pd.Series(pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%S+00:00").to_pandas())
    mixed = iso.where(np.arange(n) % 2 == 0, pd.Series(ms).astype(str))
    start = time.perf_counter()
    parsed = parse_timestamps(mixed)
    elapsed = time.perf_counter() - start
    assert parsed.formats == {"epoch_milliseconds": n // 2, "iso_with_zone": n // 2}
    assert (parsed.values == pd.Series(stamps)).all()
    assert elapsed < 10, f"{elapsed:.1f}s for {n:,} rows"


# --- property: any instant, written any supported way, reads back as itself ----------------

instants = st.datetimes(
    min_value=dt.datetime(2000, 1, 1),
    max_value=dt.datetime(2040, 12, 31),
    timezones=st.builds(
        dt.timezone,
        st.integers(min_value=-14 * 60, max_value=14 * 60).map(
            lambda minutes: dt.timedelta(minutes=minutes)
        ),
    ),
)
encodings = st.sampled_from(
    ["epoch_s", "epoch_ms", "epoch_s_text", "epoch_ms_text", "iso", "iso_space", "iso_z"]
)


def encode(instant: dt.datetime, how: str) -> tuple[object, pd.Timestamp]:
    """A representation of `instant`, and the UTC instant it must parse to."""
    exact = pd.Timestamp(instant).tz_convert("UTC")
    seconds = exact.floor("s")
    millis = exact.floor("ms")
    epoch_s = int(seconds.value // 10**9)
    epoch_ms = int(millis.value // 10**6)
    return {
        "epoch_s": (epoch_s, seconds),
        "epoch_ms": (epoch_ms, millis),
        "epoch_s_text": (str(epoch_s), seconds),
        "epoch_ms_text": (str(epoch_ms), millis),
        "iso": (instant.isoformat(), exact),
        "iso_space": (instant.isoformat(sep=" "), exact),
        "iso_z": (exact.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), exact),
    }[how]


@settings(max_examples=300, deadline=None)
@given(instant=instants, how=encodings)
def test_any_instant_round_trips(instant: dt.datetime, how: str) -> None:
    value, expected = encode(instant, how)
    parsed = parse_timestamps(pd.Series([value], dtype=object))
    assert parsed.values.iloc[0] == expected, (value, how)
    assert parsed.unparseable == 0


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.tuples(instants, encodings), min_size=1, max_size=30))
def test_any_mix_of_formats_in_one_column(rows: list[tuple[dt.datetime, str]]) -> None:
    encoded = [encode(instant, how) for instant, how in rows]
    values = pd.Series([value for value, _ in encoded], dtype=object)
    parsed = parse_timestamps(values)
    assert list(parsed.values) == [expected for _, expected in encoded]
    assert sum(parsed.formats.values()) == len(rows)
    assert parsed.unparseable == 0
