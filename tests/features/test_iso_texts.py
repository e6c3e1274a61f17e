"""The fast reader of a request's UTC ISO texts: exactly the accepted forms, the same
instants as pandas reads, and None (the column parser's turn) for anything else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pql.features.iso_texts import utc_iso_ns
from pql.features.timestamps import parse_time_list


def _pandas_ns(texts: list[str]) -> np.ndarray:
    return pd.to_datetime(texts, utc=True, format="ISO8601").as_unit("ns").asi8


@pytest.mark.parametrize(
    "texts",
    [
        ["2026-03-01T10:00:00.250Z", "2026-03-01T10:00:00+00:00"],
        ["2026-03-01 10:00", "2026-03-01T10:00:59"],
        ["1700-01-01T00:00:00", "2259-12-31T23:59:59.999999999Z"],
        ["2026-03-01T10:00:00.1", "2026-03-01T10:00:00.123456789+00:00"],
    ],
)
def test_accepted_forms_read_as_pandas_reads_them(texts) -> None:
    np.testing.assert_array_equal(utc_iso_ns(texts), _pandas_ns(texts))


@pytest.mark.parametrize(
    "texts",
    [
        ["2026-03-01T10:00:00+05:00"],  # another offset: the column parser converts it
        ["2026-03-01T10:00:00Z\n2026-03-01T10:00:00Z"],  # two times in one text
        ["2300-01-01T00:00:00"],  # beyond the years read here
        ["1699-12-31T23:59:59"],
        ["2026-03-01"],  # a date alone
        ["today"],
        ["2026-02-30T00:00:00"],  # no such day
        ["2026-03-01T10:00:00.1234567890"],  # ten fraction digits
        ["2026-03-01T10:00:00\x00"],
        ["2026-03-01T10:00:00z"],
        [1_772_359_200],
        [],
    ],
)
def test_anything_else_is_left_to_the_column_parser(texts) -> None:
    assert utc_iso_ns(texts) is None


def test_the_column_parser_still_reads_what_the_fast_reader_leaves() -> None:
    np.testing.assert_array_equal(
        parse_time_list(["2026-03-01T12:00:00+02:00", "2026-03-01T10:00:00Z"]),
        _pandas_ns(["2026-03-01T10:00:00Z"] * 2),
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.datetimes(
            min_value=pd.Timestamp("1700-01-01").to_pydatetime(),
            max_value=pd.Timestamp("2259-12-31").to_pydatetime(),
        ),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from(["", "Z", "+00:00"]),
    st.sampled_from(["T", " "]),
    st.sampled_from(["auto", "minutes", "seconds", "milliseconds", "microseconds"]),
)
def test_property_any_utc_iso_text_reads_as_pandas_reads_it(times, zone, sep, spec) -> None:
    texts = [t.isoformat(sep=sep, timespec=spec) + zone for t in times]
    np.testing.assert_array_equal(utc_iso_ns(texts), _pandas_ns(texts))
