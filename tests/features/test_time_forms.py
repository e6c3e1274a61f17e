"""One timestamp parser: the same forms and the same messages for one value (HTTP fields,
--as-of), a list (a request's events) and a file column (CSV, JSON lines, Parquet)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pql.errors import InvalidInput, UsageError
from pql.features.ingest import BAD_TIMESTAMP, load_events
from pql.features.spec import parse_spec
from pql.features.time_text import NotATime, why_not_a_time
from pql.features.timestamps import (
    NotATimeAt,
    parse_as_of,
    parse_time,
    parse_time_list,
    parse_timestamps,
)
from pql.serving.entity import epoch_ms_of_events, to_epoch_ms
from tests.pql.test_cli import CSV, SPEC, run

# (value, the UTC instant it is, the format a file report counts it under)
ACCEPTED = [
    ("2026-03-04T09:30:00Z", "2026-03-04T09:30:00", "iso_with_zone"),
    ("2026-03-04T11:30:00+02:00", "2026-03-04T09:30:00", "iso_with_zone"),
    ("2026-03-04T04:30:00-0500", "2026-03-04T09:30:00", "iso_with_zone"),
    ("2026-03-04 09:30:00.250", "2026-03-04T09:30:00.250", "iso_without_zone_assumed_utc"),
    ("2026-03-04T09:30:00.123456789Z", "2026-03-04T09:30:00.123456789", "iso_with_zone"),
    ("2026-03-04", "2026-03-04T00:00:00", "iso_without_zone_assumed_utc"),
    ("1772616600", "2026-03-04T09:30:00", "epoch_seconds"),
    ("1772616600.5", "2026-03-04T09:30:00.5", "epoch_seconds"),
    ("1772616600000", "2026-03-04T09:30:00", "epoch_milliseconds"),
    ("1772616600000000", "2026-03-04T09:30:00", "epoch_microseconds"),
    ("1772616600000000123", "2026-03-04T09:30:00.000000123", "epoch_nanoseconds"),
    ("Wed, 04 Mar 2026 09:30:00 +0000", "2026-03-04T09:30:00", "rfc_2822"),
    ("4 Mar 2026 04:30 EST", "2026-03-04T09:30:00", "rfc_2822"),
    ("Wed, 04 Mar 2026 09:30:00 GMT", "2026-03-04T09:30:00", "rfc_2822"),
    ("03/31/2026", "2026-03-31T00:00:00", "text_date_assumed_utc"),
    ("03/31/2026 9:30 PM", "2026-03-31T21:30:00", "text_date_assumed_utc"),
    ("31/03/2026 21:30", "2026-03-31T21:30:00", "text_date_assumed_utc"),
    ("04/04/2026", "2026-04-04T00:00:00", "text_date_assumed_utc"),  # both readings agree
    ("March 4, 2026", "2026-03-04T00:00:00", "text_date_assumed_utc"),
    ("Mar 4 2026 9:30 AM", "2026-03-04T09:30:00", "text_date_assumed_utc"),
    ("4 March 2026 09:30", "2026-03-04T09:30:00", "text_date_assumed_utc"),
]
NUMBERS = [  # JSON numbers (HTTP) and numeric file columns
    (1772616600, "2026-03-04T09:30:00"),
    (1772616600.25, "2026-03-04T09:30:00.25"),
    (1772616600000, "2026-03-04T09:30:00"),
    (1772616600000000, "2026-03-04T09:30:00"),
    (1772616600000000000, "2026-03-04T09:30:00"),
]
# (value, words every entry point shows for it)
REFUSED = [
    ("03/04/2026", "is ambiguous: month first (US) it is 2026-03-04, day first 2026-04-03"),
    ("next tuesday", "cannot read 'next tuesday' as a time; accepted: ISO 8601"),
    ("2026-13-01T10:00:00Z", "is not a valid ISO 8601 date and time"),
    ("2026-02-30", "is not a valid ISO 8601 date and time"),
    ("9999-12-31T23:59:59Z", "is outside the times pql can hold (1677-09-21 to 2262-04-11"),
    ("Tue, 04 Mar 2026 09:30:00 +0000", "Tue does not match 2026-03-04, a Wednesday"),
    ("02/30/2026", "is not a real date, month first or day first"),
    ("1e30", "read as epoch nanoseconds is outside the times pql can hold"),
    ("13/31/2026", "is not a real date, month first or day first"),
]


def instant(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value)


@pytest.mark.parametrize(("value", "expected", "form"), ACCEPTED)
def test_each_form_reads_the_same_alone_in_a_list_and_in_a_column(value, expected, form) -> None:
    ns = instant(expected)
    assert parse_time(value) == ns
    assert parse_time_list([value, value]).tolist() == [ns, ns]
    column = parse_timestamps(pd.Series([value, f"  {value} "]))
    assert column.values.map(lambda t: t.value).tolist() == [ns, ns]
    assert column.formats == {form: 2}
    assert parse_as_of(value) == pd.Timestamp(ns, unit="ns", tz="UTC")
    assert to_epoch_ms(value, "as_of") == ns // 1_000_000


@pytest.mark.parametrize(("value", "expected"), NUMBERS)
def test_numbers_read_by_magnitude_alone_and_in_a_column(value, expected) -> None:
    ns = instant(expected)
    assert parse_time(value) == ns
    assert parse_timestamps(pd.Series([value])).values.iloc[0].value == ns
    listed = epoch_ms_of_events([value, ACCEPTED[0][0]]).tolist()
    assert listed == [ns // 10**6, instant(ACCEPTED[0][1]) // 10**6]


def test_a_list_of_every_form_reads_as_each_alone() -> None:
    rng = np.random.default_rng(3)
    values = [v for v, _, _ in ACCEPTED] + [v for v, _ in NUMBERS]
    picked = [values[i] for i in rng.integers(0, len(values), 300)]
    assert parse_time_list(picked).tolist() == [parse_time(v) for v in picked]
    column = parse_timestamps(pd.Series(picked, dtype=object)).values
    assert column.map(lambda t: t.value).tolist() == [parse_time(v) for v in picked]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.integers(min_value=-(2**64), max_value=2**64),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**19), max_value=10**19).map(str),
    )
)
def test_any_number_reads_alone_as_in_a_column(value) -> None:
    column = parse_timestamps(pd.Series([value], dtype=object)).values.iloc[0]
    if pd.isna(column):
        with pytest.raises(NotATime):
            parse_time(value)
    else:
        assert parse_time(value) == column.value


def test_a_column_mixing_epoch_units_reads_each_value_by_its_magnitude() -> None:
    """Decided: a mix of units is not an error; each value is read by its own magnitude
    and the file report warns that the column mixes formats."""
    parsed = parse_timestamps(pd.Series([1772616600, 1772616600000, 1772616600000000]))
    assert parsed.values.nunique() == 1
    assert parsed.mixed
    assert parsed.formats == {
        "epoch_seconds": 1,
        "epoch_milliseconds": 1,
        "epoch_microseconds": 1,
    }


# ------------------------------------------------------------------ the same words everywhere


@pytest.mark.parametrize(("value", "words"), REFUSED)
def test_a_refused_value_gets_the_same_words_everywhere(value, words) -> None:
    reason = why_not_a_time(value)
    assert words in reason
    with pytest.raises(NotATime) as one:
        parse_time(value)
    assert str(one.value) == reason
    with pytest.raises(NotATimeAt) as listed:
        parse_time_list([ACCEPTED[0][0], value])
    assert (listed.value.position, str(listed.value)) == (1, reason)
    with pytest.raises(InvalidInput) as http_field:  # what /score answers (422)
        epoch_ms_of_events([ACCEPTED[0][0], ACCEPTED[1][0], value])
    assert str(http_field.value) == f"events[2].timestamp: {reason}"
    with pytest.raises(InvalidInput) as http_as_of:
        to_epoch_ms(value, "as_of")
    assert str(http_as_of.value) == f"as_of: {reason}"
    with pytest.raises(UsageError) as option:
        parse_as_of(value)
    assert str(option.value) == f"--as-of: {reason}"
    assert parse_timestamps(pd.Series([value])).unparseable == 1


def test_missing_and_wrong_types() -> None:
    assert why_not_a_time(None) == "a time is required"
    assert why_not_a_time("  ") == "a time is required"
    assert why_not_a_time(True) == "true is not a time"
    assert why_not_a_time([2026]) == "expected a time (text or a number), got list"
    assert why_not_a_time(float("inf")) == "inf is not a time"
    for value in (None, True, [2026], float("nan")):
        with pytest.raises(NotATime):
            parse_time(value)


# ------------------------------------------------------------------ files: CSV, JSON lines, Parquet


def _spec(path: Path):
    return parse_spec(
        {
            "product": "t",
            "data": {"events": {"path": str(path), "columns": {"timestamp": "ts"}}},
            "label": {"conversion_event": "paid"},
            "actions": {"log_in": {"events": ["login"]}},
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_files_read_every_form_and_name_the_row_and_reason_of_a_bad_one(
    tmp_path: Path, suffix: str
) -> None:
    good = [v for v, _, _ in ACCEPTED]
    bad = REFUSED[0][0]
    times = [*good, bad, "03/05/2026", "1772616600"]
    # `n` tells rows apart: many forms spell the same instant (not duplicates here)
    frame = pd.DataFrame({"user_id": "u1", "event": "login", "ts": times, "n": range(len(times))})
    path = tmp_path / f"events{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path, index=False)
    loaded = load_events(_spec(path))
    assert loaded.report.unusable[BAD_TIMESTAMP] == 2
    times = loaded.events["timestamp"].map(lambda t: t.value).tolist()
    assert sorted(times) == sorted([instant(e) for _, e, _ in ACCEPTED] + [instant(ACCEPTED[6][1])])
    warning = next(w for w in loaded.report.warnings if "unreadable time" in w)
    row = len(good) + 1  # rows count from 1, the header not counted
    assert f"column 'ts' has 2 unreadable times (rows not used): row {row}: " in warning
    assert why_not_a_time(bad) in warning  # the very words /score and --as-of give
    assert f"also row {row + 1} ('03/05/2026')" in warning


# ------------------------------------------------------------------ the command line


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "events.csv").write_text(CSV)
    (tmp_path / "pql.yaml").write_text(yaml.safe_dump(SPEC))
    return tmp_path


def test_as_of_takes_every_form_and_refuses_with_the_same_words(project, monkeypatch, capsys):
    spec = str(project / "pql.yaml")
    outputs = []
    for form in ("2026-03-03T00:00:00Z", "1772496000000000", "Tue, 03 Mar 2026 00:00:00 GMT"):
        out = project / f"live{len(outputs)}.csv"
        args = ["features", "--spec", spec, "--as-of", form, "--out", str(out)]
        code, text = run(args, monkeypatch, capsys)
        assert code == 0, text
        outputs.append(pd.read_csv(out))
    assert outputs[0].equals(outputs[1]) and outputs[0].equals(outputs[2])
    code, text = run(["features", "--spec", spec, "--as-of", "03/04/2026"], monkeypatch, capsys)
    assert code == 2
    assert " ".join(f"--as-of: {why_not_a_time('03/04/2026')}".split()) in " ".join(text.split())
