"""Loading events and trials: every format, the column mapping, and nothing dropped silently."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pql.errors import DataError
from pql.features import textlines
from pql.features.ids import number_forms
from pql.features.ingest import (
    DATAFRAME_SOURCE,
    LoadedEvents,
    load_events,
    load_trials,
    read_table,
)
from pql.features.pipeline import load_dataset
from pql.features.spec import Spec, parse_spec

SPARKIFY = Path(__file__).resolve().parents[3] / "shared/data/sparkify-eventsim/events.jsonl.gz"

# Source column names deliberately differ from the canonical ones.
MAPPING = {
    "user_id": "uid",
    "account_id": "org",
    "event": "name",
    "timestamp": "ts",
    "session_id": "sess",
}


def make_spec(
    events: Path | str = "events.csv",
    *,
    columns: dict[str, str] | None = None,
    entity: str = "user",
    trials: dict[str, Any] | None = None,
    encoding: str | None = None,
    format: str | None = None,
    base: Path | None = None,
) -> Spec:
    source: dict[str, Any] = {"path": str(events), "columns": columns or dict(MAPPING)}
    if encoding:
        source["encoding"] = encoding
    if format:
        source["format"] = format
    raw: dict[str, Any] = {
        "product": "test",
        "entity": entity,
        "data": {"events": source},
        "label": {"conversion_event": "upgraded"},
        "actions": {
            "upload": {"events": ["file_uploaded"], "property": "bytes", "aggregate": "sum"},
            "invite": {"events": ["invited"]},
        },
    }
    if trials is not None:
        raw["data"]["trials"] = trials
    return parse_spec(raw, base_dir=base)


def source_events() -> pd.DataFrame:
    """Six clean events in source column names (ids as text, one leading zero)."""
    return pd.DataFrame(
        {
            "uid": ["u1", "u1", "007", "u2", "u2", "u3"],
            "org": ["a1", "a1", "a2", "a2", "a2", "a3"],
            "name": ["invited", "file_uploaded", "invited", "upgraded", "file_uploaded", "x"],
            "ts": [
                "2026-03-01T10:00:00Z",
                "2026-03-01T11:00:00+01:00",
                "2026-03-02T00:00:00Z",
                "2026-03-02T12:30:00-02:00",
                "2026-03-03T08:00:00Z",
                "2026-03-04T09:15:00.5Z",
            ],
            "sess": [1, 1, 2, 3, 3, 4],
            "bytes": [np.nan, 100.0, np.nan, np.nan, 2.5, np.nan],
            "unused": ["p", "q", "r", "s", "t", "u"],
        }
    )


EXPECTED_UTC = [
    "2026-03-01 10:00:00",
    "2026-03-01 10:00:00",
    "2026-03-02 00:00:00",
    "2026-03-02 14:30:00",
    "2026-03-03 08:00:00",
    "2026-03-04 09:15:00.5",
]


def write(frame: pd.DataFrame, path: Path) -> Path:
    name = path.name
    if name.endswith((".csv", ".csv.gz", ".csv.bz2")):
        frame.to_csv(path, index=False)
    elif name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif name.endswith((".jsonl", ".jsonl.gz")):
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        raise AssertionError(name)
    return path


def check_canonical(loaded: LoadedEvents) -> None:
    events = loaded.events
    assert list(events.columns) == [
        "user_id",
        "account_id",
        "event",
        "timestamp",
        "session_id",
        "bytes",
    ]
    assert isinstance(events.index, pd.RangeIndex)
    for name in ("user_id", "account_id", "event"):
        assert isinstance(events[name].dtype, pd.CategoricalDtype), name
        assert all(isinstance(v, str) for v in events[name].cat.categories), name
    assert str(events["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert events["bytes"].dtype == np.float64
    assert list(events["user_id"].astype(str)) == ["u1", "u1", "007", "u2", "u2", "u3"]
    assert list(events["account_id"].astype(str)) == ["a1", "a1", "a2", "a2", "a2", "a3"]
    assert list(events["event"].astype(str)) == list(source_events()["name"])
    assert list(events["timestamp"]) == [pd.Timestamp(t, tz="UTC") for t in EXPECTED_UTC]
    assert [str(s) for s in events["session_id"]] == ["1", "1", "2", "3", "3", "4"]
    np.testing.assert_array_equal(events["bytes"], [np.nan, 100.0, np.nan, np.nan, 2.5, np.nan])
    report = loaded.report
    assert report.rows_read == 6
    assert report.unusable == {
        "missing user id": 0,
        "missing event name": 0,
        "unparseable timestamp": 0,
        "exact duplicate": 0,
    }
    assert report.timestamp_formats == {"iso_with_zone": 6}
    assert report.warnings == ()


# --- formats -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "events.csv",
        "events.csv.gz",
        "events.csv.bz2",
        "events.parquet",
        "events.jsonl",
        "events.jsonl.gz",
    ],
)
def test_each_format_loads_to_the_canonical_frame(tmp_path: Path, name: str) -> None:
    path = write(source_events(), tmp_path / name)
    loaded = load_events(make_spec(path))
    check_canonical(loaded)
    assert loaded.report.source == str(path)


def test_a_dataframe_loads_to_the_canonical_frame() -> None:
    loaded = load_events(make_spec(), source_events())
    check_canonical(loaded)
    assert loaded.report.source == DATAFRAME_SOURCE


def test_arrow_backed_dataframe_loads_the_same() -> None:
    frame = source_events().convert_dtypes(dtype_backend="pyarrow")
    check_canonical(load_events(make_spec(), frame))


def test_relative_paths_resolve_against_the_spec_folder(tmp_path: Path) -> None:
    write(source_events(), tmp_path / "events.parquet")
    loaded = load_events(make_spec("events.parquet", base=tmp_path))
    check_canonical(loaded)


def test_explicit_format_overrides_the_suffix(tmp_path: Path) -> None:
    path = tmp_path / "events.data"
    source_events().to_csv(path, index=False)
    check_canonical(load_events(make_spec(path, format="csv")))


def test_parquet_folder_of_parts(tmp_path: Path) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    frame = source_events()
    frame.iloc[:3].to_parquet(folder / "part-0.parquet", index=False)
    frame.iloc[3:].to_parquet(folder / "part-1.parquet", index=False)
    loaded = load_events(make_spec(folder))
    assert sorted(loaded.events["user_id"].astype(str)) == sorted(frame["uid"])


def test_json_array_file(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    source_events().to_json(path, orient="records")
    check_canonical(load_events(make_spec(path)))


def test_parquet_categoricals_and_datetimes(tmp_path: Path) -> None:
    frame = source_events()
    for name in ("uid", "org", "name"):
        frame[name] = frame[name].astype("category")
    frame["ts"] = pd.to_datetime(frame["ts"], format="ISO8601", utc=True)
    path = write(frame, tmp_path / "events.parquet")
    loaded = load_events(make_spec(path))
    assert list(loaded.events["timestamp"]) == [pd.Timestamp(t, tz="UTC") for t in EXPECTED_UTC]
    assert loaded.report.timestamp_formats == {"datetime_aware": 6}
    assert list(loaded.events["user_id"].astype(str)) == list(frame["uid"].astype(str))


def test_only_mapped_columns_are_read_and_unmapped_optionals_are_filled(tmp_path: Path) -> None:
    path = write(source_events(), tmp_path / "events.parquet")
    columns = {"user_id": "uid", "event": "name", "timestamp": "ts"}
    events = load_events(make_spec(path, columns=columns)).events
    assert list(events.columns) == ["user_id", "account_id", "event", "timestamp", "bytes"]
    assert events["account_id"].isna().all()
    assert isinstance(events["account_id"].dtype, pd.CategoricalDtype)


def test_read_table_reads_only_the_asked_columns(tmp_path: Path) -> None:
    path = write(source_events(), tmp_path / "events.csv")
    table = read_table(path, columns=["uid", "ts"], text_columns=["uid"])
    assert list(table.columns) == ["uid", "ts"]
    assert list(table["uid"]) == ["u1", "u1", "007", "u2", "u2", "u3"]


# --- ids -----------------------------------------------------------------------------------


def test_numeric_ids_become_plain_strings(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "uid": [7, 7, 42, 8],
            "org": [1.0, np.nan, 3.0, 2.5],  # floats because of the missing value
            "name": ["invited"] * 4,
            "ts": [1_700_000_000 + i for i in range(4)],
            "sess": [1, 2, 3, 4],
            "bytes": [1.0] * 4,
        }
    )
    for name in ("events.csv", "events.jsonl", "events.parquet"):
        events = load_events(make_spec(write(frame, tmp_path / name))).events
        assert list(events["user_id"].astype(str)) == ["7", "7", "42", "8"], name
        accounts = list(events["account_id"].astype(object).fillna("-"))
        if name.endswith(".csv"):  # pandas wrote the floats as text "1.0": text stays text
            assert accounts == ["1.0", "-", "3.0", "2.5"]
        else:  # numbers: 1.0 is the integer 1
            assert accounts == ["1", "-", "3", "2.5"], name
    events = load_events(make_spec(), frame).events
    assert list(events["user_id"].astype(str)) == ["7", "7", "42", "8"]
    assert events["session_id"].dtype == np.int64


def test_csv_ids_keep_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("uid,org,name,ts,sess,bytes\n007,0042,invited,1700000000,01,1\n")
    events = load_events(make_spec(path)).events
    assert events["user_id"].iloc[0] == "007"
    assert events["account_id"].iloc[0] == "0042"
    assert events["session_id"].iloc[0] == 1  # sessions are grouping keys: inferred, int64


def test_mixed_id_types_and_whitespace_from_json(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [
        '{"uid": 7, "name": "invited", "ts": 1700000000}',
        '{"uid": "7", "name": " invited ", "ts": 1700000001}',
        '{"uid": "  ", "name": "invited", "ts": 1700000002}',
        '{"uid": " u9 ", "name": "", "ts": 1700000003}',
    ]
    path.write_text("\n".join(lines) + "\n")
    spec = make_spec(path, columns={"user_id": "uid", "event": "name", "timestamp": "ts"})
    with pytest.raises(DataError, match="bytes"):
        load_events(spec)  # the property column an action needs is missing
    spec = parse_spec(
        {
            "product": "t",
            "data": {
                "events": {"path": str(path), "columns": spec.data.events.columns.model_dump()}
            },
            "label": {"conversion_event": "x"},
            "actions": {"invite": {"events": ["invited"]}},
        }
    )
    loaded = load_events(spec)
    assert list(loaded.events["user_id"].astype(str)) == ["7", "7"]
    assert list(loaded.events["event"].astype(str)) == ["invited", "invited"]
    assert list(loaded.events["user_id"].cat.categories) == ["7"]
    assert loaded.report.unusable["missing user id"] == 1
    assert loaded.report.unusable["missing event name"] == 1


def test_csv_ids_null_and_nan_are_ids_and_only_blank_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "uid,org,name,ts,sess,bytes\n"
        "nan,NULL,invited,1700000000,1,NA\n"
        "NULL,a1,invited,1700000001,1,1\n"
        ",a1,invited,1700000002,1,1\n"
        "u1,,invited,1700000003,1,NULL\n"
    )
    loaded = load_events(make_spec(path))
    events = loaded.events
    assert list(events["user_id"].astype(object).fillna("-")) == ["nan", "NULL", "u1"]
    assert list(events["account_id"].astype(object).fillna("-")) == ["NULL", "a1", "-"]
    assert loaded.report.unusable["missing user id"] == 1  # only the blank cell
    np.testing.assert_array_equal(events["bytes"], [np.nan, 1, np.nan])  # not an id: missing
    warned = [w for w in loaded.report.warnings if "only a blank cell is a missing id" in w]
    assert any("'uid' has 2 rows whose id is" in w for w in warned), loaded.report.warnings
    assert any("'org' has 1 row whose id is 'NULL'" in w for w in warned)


def test_csv_trial_ids_7_and_7_0_are_two_users_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "trials.csv"
    path.write_text("uid,start,paid\n7,2026-03-01,\n7.0,2026-03-02,\n007,2026-03-03,\n")
    spec = make_spec(
        trials={
            "path": str(path),
            "columns": {"user_id": "uid", "signup_at": "start", "converted_at": "paid"},
        }
    )
    loaded = load_trials(spec)
    assert loaded is not None
    assert list(loaded.trials["user_id"]) == ["7", "7.0", "007"]
    assert any(
        "2 pairs of user ids that spell the same number differently (e.g. '7' and '7.0')" in w
        for w in loaded.report.warnings
    ), loaded.report.warnings


def test_numbers_stored_as_numbers_still_become_their_integer_text(tmp_path: Path) -> None:
    path = tmp_path / "trials.parquet"
    pd.DataFrame(
        {"uid": [7.0, np.nan, 8.0], "start": ["2026-03-01"] * 3, "paid": [None] * 3}
    ).to_parquet(path)
    spec = make_spec(
        trials={
            "path": str(path),
            "columns": {"user_id": "uid", "signup_at": "start", "converted_at": "paid"},
        }
    )
    loaded = load_trials(spec)
    assert loaded is not None and list(loaded.trials["user_id"]) == ["7", "8"]


def test_event_ids_spelled_unlike_the_trial_ids_are_named_in_the_report(tmp_path: Path) -> None:
    """pandas writes an integer column with gaps as 7.0: the events then say "7.0" where
    the trials say "7". Ids are text, so they do not match, and the report says why."""
    events = tmp_path / "events.csv"
    events.write_text(
        "uid,org,name,ts,sess,bytes\n"
        "7.0,a,invited,2026-03-01T10:00:00Z,1,\n"
        "7.0,a,invited,2026-03-01T11:00:00Z,1,\n"
        "8,a,invited,2026-03-01T12:00:00Z,2,\n"
    )
    trials = tmp_path / "trials.csv"
    trials.write_text("uid,start,paid\n7,2026-03-01T00:00:00Z,\n8,2026-03-01T00:00:00Z,\n")
    spec = make_spec(
        events,
        trials={"path": str(trials), "columns": {"user_id": "uid", "signup_at": "start",
                                                  "converted_at": "paid"}},
    )  # fmt: skip
    quality = load_dataset(spec).quality
    assert quality.not_used_in_features["user_id with no trial row"] == 2
    assert any(
        "1 user_id(s) of the event log (2 events) have no trial row but spell a trial id's "
        "number differently (e.g. '7.0' in the events, '7' in the trials)" in w
        for w in quality.warnings
    ), quality.warnings


def test_number_forms_are_exact_on_long_ids() -> None:
    long = "1" * 30
    assert list(number_forms(["7.0", "007", "+7", "-0", "7.5", "x7", long + ".00", " 42 "])) == [
        "7", "7", "7", "0", None, None, long, "42"
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["events.parquet", "events.jsonl"])
@pytest.mark.parametrize("column", ["uid", "name", "sess", "org"])
def test_list_or_object_cells_in_an_id_column_are_a_data_error(
    tmp_path: Path, name: str, column: str
) -> None:
    frame = source_events()
    frame[column] = [{"a": 1}, [1, 2], {"a": 1}, [3], {"b": 2}, [4]]
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame[column] = [[1, 2]] * len(frame) if column != "uid" else [{"a": i} for i in range(6)]
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True)
    raises(make_spec(path), name, f"column '{column}'", "holds lists or objects", "row 1")


# --- unusable rows -------------------------------------------------------------------------


def dirty_events() -> pd.DataFrame:
    """Hand-built: each row's fate is written beside it."""
    rows = [
        # uid, org, name, ts, sess, bytes          fate
        ("u1", "a1", "invited", "2026-03-01T10:00:00Z", 1, None),  # ok
        ("u1", "a1", "invited", "2026-03-01T10:00:00Z", 1, None),  # exact duplicate
        ("u1", "a1", "invited", "2026-03-01T10:00:00Z", 1, None),  # exact duplicate
        ("u1", "a1", "invited", "2026-03-01T10:00:00Z", 2, None),  # ok (other session)
        ("u1", "a1", "file_uploaded", 1772359200000, 1, "5"),  # ok (epoch ms)
        ("u1", "a1", "file_uploaded", 1772359200000, 1, 6),  # ok (other bytes)
        ("u1", "a1", "file_uploaded", "1772359200000", 1, "5"),  # duplicate of row 4
        (None, "a1", "invited", "2026-03-01T10:00:00Z", 1, None),  # missing user id
        ("", "a1", "invited", "2026-03-01T10:00:00Z", 1, None),  # missing user id
        ("  ", None, None, "garbage", 1, None),  # missing user id (first reason)
        (None, "a1", "invited", "2026-03-01T10:00:00Z", 1, None),  # missing user id (not dup)
        ("u2", None, "invited", "2026-03-01T11:00:00", 1, None),  # ok for user entity
        ("u2", "a2", None, "2026-03-01T11:00:00Z", 1, None),  # missing event name
        ("u2", "a2", "", "2026-03-01T11:00:00Z", 1, None),  # missing event name
        ("u2", "a2", "invited", "yesterday", 1, None),  # unparseable timestamp
        ("u2", "a2", "invited", None, 1, None),  # unparseable timestamp
        ("u2", "a2", "invited", "yesterday", 1, None),  # unparseable (not counted as dup)
        ("u2", "a2", "file_uploaded", 1772359200, 1, "lots"),  # ok, bytes -> NaN (warned)
    ]
    return pd.DataFrame(rows, columns=["uid", "org", "name", "ts", "sess", "bytes"])


def test_each_unusable_reason_is_counted_exactly() -> None:
    loaded = load_events(make_spec(), dirty_events())
    report = loaded.report
    assert report.rows_read == 18
    assert report.unusable == {
        "missing user id": 4,
        "missing event name": 2,
        "unparseable timestamp": 3,
        "exact duplicate": 3,
    }
    assert len(loaded.events) == 6
    assert report.rows_read == len(loaded.events) + sum(report.unusable.values())
    assert report.rows_usable == len(loaded.events)
    assert list(loaded.events["bytes"].fillna(-1)) == [-1, -1, 5, 6, -1, -1]
    assert report.timestamp_formats == {
        "unparseable": 4,
        "epoch_seconds": 1,
        "epoch_milliseconds": 3,
        "iso_with_zone": 9,
        "iso_without_zone_assumed_utc": 1,
    }
    text = "\n".join(report.warnings)
    assert "column 'ts' mixes formats" in text
    assert "'yesterday'" in text and "'garbage'" in text
    assert "column 'bytes' has 1 non-numeric value (e.g. 'lots'); read as missing" in text


def test_account_entity_counts_missing_accounts_after_missing_users() -> None:
    loaded = load_events(make_spec(entity="account"), dirty_events())
    assert loaded.report.unusable == {
        "missing user id": 4,
        "missing account id": 1,
        "missing event name": 2,
        "unparseable timestamp": 3,
        "exact duplicate": 3,
    }
    assert len(loaded.events) == 5
    assert loaded.events["account_id"].notna().all()


@pytest.mark.parametrize("name", ["events.csv", "events.parquet", "events.jsonl"])
def test_nothing_is_dropped_silently_from_files(tmp_path: Path, name: str) -> None:
    frame = dirty_events()
    frame["ts"] = frame["ts"].astype(str).replace("None", "")
    frame["bytes"] = frame["bytes"].astype(str)
    loaded = load_events(make_spec(write(frame, tmp_path / name)))
    report = loaded.report
    assert report.rows_read == 18
    assert report.rows_read == len(loaded.events) + sum(report.unusable.values())
    assert report.unusable["exact duplicate"] == 3
    assert report.unusable["unparseable timestamp"] == 3


def item_views() -> pd.DataFrame:
    """Two views of different items in the same second, and one row sent twice."""
    return pd.DataFrame(
        {
            "uid": ["u1", "u1", "u1", "u1"],
            "org": ["a1"] * 4,
            "name": ["invited"] * 4,
            "ts": ["2026-03-01T10:00:00Z"] * 4,
            "sess": [1] * 4,
            "bytes": [np.nan] * 4,
            "item_id": ["song-1", "song-2", "song-2", "song-3"],
            "page": ["home", "home", "home", None],
        }
    )


@pytest.mark.parametrize("name", ["events.csv", "events.parquet", "events.jsonl.gz"])
def test_a_duplicate_is_identical_in_every_source_column(tmp_path: Path, name: str) -> None:
    loaded = load_events(make_spec(write(item_views(), tmp_path / name)))
    assert loaded.report.unusable["exact duplicate"] == 1  # only the row sent twice
    assert len(loaded.events) == 3
    assert "item_id" not in loaded.events.columns  # unmapped columns are not kept


def test_unmapped_columns_with_nested_values_take_part_in_the_duplicate_check() -> None:
    frame = item_views()
    frame["props"] = [{"a": 1}, {"a": 2}, {"a": 2}, [1, 2]]
    assert load_events(make_spec(), frame).report.unusable["exact duplicate"] == 1
    frame["props"] = [{"a": 1}, {"a": 2}, {"a": 3}, [1, 2]]
    assert load_events(make_spec(), frame).report.unusable["exact duplicate"] == 0


def test_trial_rows_differing_in_an_unmapped_column_are_not_duplicates() -> None:
    frame = source_trials()
    again = frame.iloc[[0]].assign(oracle_p_trial_end=0.5)
    with pytest.raises(DataError, match="more than one row"):
        load_trials(trials_spec(), pd.concat([frame, again], ignore_index=True))
    loaded = load_trials(trials_spec(), pd.concat([frame, frame.iloc[[0]]], ignore_index=True))
    assert loaded is not None and loaded.report.unusable["exact duplicate"] == 1


def test_text_in_a_numeric_csv_column_is_counted_not_fatal(tmp_path: Path) -> None:
    frame = source_events()
    frame["bytes"] = ["12", "x", "", " 3.5e2 ", "NA", "-1"]
    events_path = write(frame, tmp_path / "events.csv")
    loaded = load_events(make_spec(events_path))
    np.testing.assert_array_equal(loaded.events["bytes"], [12, np.nan, np.nan, 350, np.nan, -1])
    assert "column 'bytes' has 1 non-numeric value (e.g. 'x')" in "\n".join(loaded.report.warnings)


def test_all_rows_unusable_still_loads() -> None:
    frame = source_events()
    frame["ts"] = "not a time"
    loaded = load_events(make_spec(), frame)
    assert len(loaded.events) == 0
    assert loaded.report.unusable["unparseable timestamp"] == 6
    assert list(loaded.events.columns)[:4] == ["user_id", "account_id", "event", "timestamp"]


def test_an_empty_dataframe_gives_an_empty_canonical_frame() -> None:
    loaded = load_events(make_spec(), source_events().iloc[:0])
    assert len(loaded.events) == 0
    assert loaded.report.rows_read == 0
    assert str(loaded.events["timestamp"].dtype) == "datetime64[ns, UTC]"


def test_naive_times_are_reported_as_taken_as_utc() -> None:
    frame = source_events()
    frame["ts"] = "2026-03-01 10:00:00"
    report = load_events(make_spec(), frame).report
    assert report.timestamp_formats == {"iso_without_zone_assumed_utc": 6}
    assert report.warnings == ("column 'ts' has 6 times without a time zone; taken as UTC",)


# --- bad input -----------------------------------------------------------------------------


def raises(spec: Spec, *fragments: str) -> str:
    with pytest.raises(DataError) as caught:
        load_events(spec)
    message = caught.value.message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def test_missing_file(tmp_path: Path) -> None:
    raises(make_spec(tmp_path / "nope.csv"), "nope.csv", "not found", "data.events.path")


@pytest.mark.parametrize("name", ["events.csv", "events.jsonl", "events.parquet", "e.csv.gz"])
def test_zero_byte_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    raises(make_spec(path), name, "has no rows")


def test_header_only_csv(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("uid,org,name,ts,sess,bytes\n")
    raises(make_spec(path), "events.csv", "has no rows")


def test_parquet_without_rows(tmp_path: Path) -> None:
    path = write(source_events().iloc[:0], tmp_path / "events.parquet")
    raises(make_spec(path), "events.parquet", "has no rows")


def test_gzip_without_rows(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n\n"))
    raises(make_spec(path), "events.jsonl.gz", "has no rows")


@pytest.mark.parametrize("name", ["events.csv", "events.parquet", "events.jsonl"])
def test_missing_required_column_names_key_and_lists_columns(tmp_path: Path, name: str) -> None:
    path = write(source_events().drop(columns=["ts"]), tmp_path / name)
    message = raises(
        make_spec(path),
        name,
        "'ts' (data.events.columns.timestamp = 'ts')",
        "its columns are: uid, org, name, sess, bytes, unused",
    )
    assert "'uid'" not in message


def test_missing_columns_in_a_dataframe() -> None:
    with pytest.raises(DataError) as caught:
        load_events(make_spec(), source_events().drop(columns=["uid", "bytes"]))
    message = caught.value.message
    assert DATAFRAME_SOURCE in message
    assert "'uid' (data.events.columns.user_id = 'uid')" in message
    assert "'bytes' (actions.upload.property = 'bytes')" in message


def test_missing_property_column(tmp_path: Path) -> None:
    path = write(source_events().drop(columns=["bytes"]), tmp_path / "events.csv")
    raises(make_spec(path), "events.csv", "'bytes' (actions.upload.property = 'bytes')")


@pytest.mark.parametrize(
    ("name", "line"), [("events.csv", 5), ("events.jsonl", 4), ("events.csv.gz", 5)]
)
def test_non_utf8_bytes_name_the_offset_and_the_spec_key(
    tmp_path: Path, name: str, line: int
) -> None:
    frame = source_events()
    frame.loc[3, "name"] = "café"
    path = write(frame, tmp_path / name)
    raw = path.read_bytes()
    opener = gzip if name.endswith(".gz") else None
    content = gzip.decompress(raw) if opener else raw
    offset = content.index("é".encode())
    latin = content.replace("é".encode(), "é".encode("latin-1"))
    path.write_bytes(gzip.compress(latin) if opener else latin)
    raises(
        make_spec(path),
        name,
        "not valid utf-8",
        f"byte 0xe9 at offset {offset:,}",
        f"line {line}",
        "data.events.encoding",
    )
    loaded = load_events(make_spec(path, encoding="latin-1"))
    assert "café" in set(loaded.events["event"].astype(str))


def test_non_utf8_trials_name_the_trials_key(tmp_path: Path) -> None:
    path = tmp_path / "trials.csv"
    path.write_bytes(b"uid,start,paid\nu1,2026-03-01,\nj\xf6rg,2026-03-01,\n")
    spec = make_spec(
        trials={
            "path": str(path),
            "columns": {"user_id": "uid", "signup_at": "start", "converted_at": "paid"},
        }
    )
    with pytest.raises(DataError) as caught:
        load_trials(spec)
    message = caught.value.message
    assert "trials.csv" in message and "offset 31" in message and "data.trials.encoding" in message


def test_unknown_encoding(tmp_path: Path) -> None:
    path = write(source_events(), tmp_path / "events.csv")
    raises(make_spec(path, encoding="klingon"), "events.csv", "'klingon'", "data.events.encoding")


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    raises(make_spec(path), "events.parquet", "not a readable Parquet file")


def test_truncated_parquet(tmp_path: Path) -> None:
    path = write(source_events(), tmp_path / "events.parquet")
    path.write_bytes(path.read_bytes()[:-100])
    raises(make_spec(path), "events.parquet", "not a readable Parquet file")


@pytest.mark.parametrize("name", ["events.csv.gz", "events.jsonl.gz"])
def test_corrupt_gzip(tmp_path: Path, name: str) -> None:
    path = write(source_events(), tmp_path / name)
    path.write_bytes(path.read_bytes()[:40])
    raises(make_spec(path), name)


def test_malformed_json_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"uid": "u1", "name": "a", "ts": 1}\n'
        "\n"
        '{"uid": "u1", "name": "a" "ts": 2}\n'
        '{"uid": "u1", "name": "a", "ts": 3}\n'
    )
    raises(make_spec(path), "events.jsonl", "line 3 is not valid JSON")


def test_ragged_csv_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("uid,org,name,ts,sess,bytes\nu1,a,b,1,1,1\nu1,a,b,1,1,1,extra\n")
    raises(make_spec(path), "events.csv", "line 3 has 7 fields, the header has 6")


# --- damaged files fail early, in bounded memory ------------------------------------------

JUNK_BYTES = 8 << 20  # the 2 GiB, scaled down: the limits are scaled down with it


def peak_python_bytes(action) -> int:
    """Peak memory Python allocated while `action` ran (pyarrow's own pool is not
    counted: these checks are about what pql reads into Python strings)."""
    tracemalloc.start()
    with pytest.raises(DataError):
        action()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


@pytest.fixture
def small_line_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    """A line may hold 512 KiB (16 MiB in production), read in 256 KiB blocks."""
    monkeypatch.setattr(textlines, "MAX_LINE_CHARS", 512 << 10)
    monkeypatch.setattr(textlines, "BLOCK_CHARS", 256 << 10)
    return 512 << 10


def test_jsonl_of_zeros_fails_on_line_1_without_reading_it_all(
    tmp_path: Path, small_line_limit: int
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"0" * JUNK_BYTES)
    spec = make_spec(path)
    raises(spec, "events.jsonl", "line 1 has no line break", f"{small_line_limit:,} characters")
    assert peak_python_bytes(lambda: load_events(spec)) < JUNK_BYTES / 2


def test_jsonl_that_does_not_start_as_json_lines_fails_before_the_bulk_parse(
    tmp_path: Path, small_line_limit: int
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"0\n" * (JUNK_BYTES // 2))  # lines, but none is a JSON object
    spec = make_spec(path)
    raises(spec, "events.jsonl", "line 1 is not a JSON object")
    assert peak_python_bytes(lambda: load_events(spec)) < JUNK_BYTES / 2


def test_jsonl_with_a_damaged_tail_names_the_line(tmp_path: Path, small_line_limit: int) -> None:
    path = tmp_path / "events.jsonl"
    good = b'{"uid": "u1", "org": "a", "name": "x", "ts": 1, "sess": 1, "bytes": 1}\n' * 2000
    path.write_bytes(good + b"\0" * JUNK_BYTES)
    spec = make_spec(path)
    raises(spec, "events.jsonl", "line 2,001 has no line break")
    assert peak_python_bytes(lambda: load_events(spec)) < JUNK_BYTES / 2


def test_csv_header_then_nuls_fails_at_once_naming_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(b"uid,org,name,ts,sess,bytes\n" + b"\0" * JUNK_BYTES)
    spec = make_spec(path)
    raises(spec, "events.csv", "byte 0x00 (NUL) at offset 27 (line 2)", "binary or damaged")
    assert peak_python_bytes(lambda: load_events(spec)) < JUNK_BYTES / 2


def test_csv_with_nuls_after_the_first_block_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    header, row = b"uid,org,name,ts,sess,bytes\n", b"u1,a,x,1700000000,1,1\n"
    path.write_bytes(header + row * 100_000 + b"\0" * JUNK_BYTES)
    offset = len(header) + len(row) * 100_000
    spec = make_spec(path)
    raises(spec, "events.csv", f"NUL) at offset {offset:,} (line 100,002)")
    assert peak_python_bytes(lambda: load_events(spec)) < JUNK_BYTES / 2


def test_csv_line_longer_than_a_block_is_named(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    long_value = b"x" * (2 << 20)  # no NUL, just no line break for 2 MiB
    path.write_bytes(b"uid,org,name,ts,sess,bytes\nu1,a,x,1,1,1\nu1,a," + long_value + b",1,1,1\n")
    raises(make_spec(path), "events.csv", "line 3 has no line break in its first 1,048,576 bytes")


def test_csv_unclosed_quote_names_where_the_record_starts(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    rows = "u1,a,x,1700000000,1,1\n" * 100_000
    path.write_text('uid,org,name,ts,sess,bytes\nu1,a,x,1,1,1\nu1,a,"x,1,1,1\n' + rows)
    raises(make_spec(path), "events.csv", "record starting on line 3", "unclosed")


def test_unknown_suffix_and_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "events.xlsx"
    path.write_bytes(b"whatever")
    raises(make_spec(path), "events.xlsx", "data.events.format")
    with pytest.raises(DataError, match=r"unknown format 'xlsx' \(data.events.format\)"):
        read_table(path, format="xlsx")


def test_property_named_like_a_canonical_column_is_refused() -> None:
    spec = parse_spec(
        {
            "product": "t",
            "data": {"events": {"path": "e.csv"}},
            "label": {"conversion_event": "x"},
            "actions": {"a": {"events": ["x"], "property": "timestamp", "aggregate": "max"}},
        }
    )
    with pytest.raises(DataError, match="property column 'timestamp'"):
        load_events(spec, pd.DataFrame({"user_id": ["u"], "event": ["x"], "timestamp": [1]}))


# --- trials --------------------------------------------------------------------------------

TRIAL_MAPPING = {
    "user_id": "uid",
    "account_id": "org",
    "signup_at": "start",
    "converted_at": "paid",
    "trial_end_at": "ends",
    "plan": "tier",
}


def source_trials() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "uid": [1, 2, 3, 4],
            "org": ["a1", "a1", None, "a2"],
            "start": [
                "2026-03-01T00:00:00Z",
                "2026-03-02T00:00:00+01:00",
                1772409600,
                "2026-03-03",
            ],
            "paid": [None, "2026-03-05T00:00:00Z", "", None],
            "ends": ["2026-03-15T00:00:00Z"] * 4,
            "tier": ["pro", None, "team", "pro"],
            "oracle_p_trial_end": [0.1, 0.9, 0.2, 0.3],
        }
    )


def trials_spec(path: Path | str = "trials.csv", entity: str = "user") -> Spec:
    return make_spec(entity=entity, trials={"path": str(path), "columns": dict(TRIAL_MAPPING)})


@pytest.mark.parametrize("name", ["trials.csv", "trials.parquet", "trials.jsonl"])
def test_trials_load_to_the_canonical_frame(tmp_path: Path, name: str) -> None:
    frame = source_trials()
    if name.endswith(".parquet"):
        frame["start"] = frame["start"].astype(str)
    loaded = load_trials(trials_spec(write(frame, tmp_path / name)))
    assert loaded is not None
    trials = loaded.trials
    assert list(trials.columns) == [
        "user_id",
        "account_id",
        "signup_at",
        "converted_at",
        "trial_end_at",
        "plan",
        "oracle_p_trial_end",
    ]
    assert list(trials["user_id"]) == ["1", "2", "3", "4"]
    assert list(trials["account_id"].fillna("-")) == ["a1", "a1", "-", "a2"]
    assert list(trials["signup_at"]) == [
        pd.Timestamp(t, tz="UTC")
        for t in ("2026-03-01", "2026-03-01 23:00", "2026-03-02", "2026-03-03")
    ]
    assert trials["converted_at"].isna().tolist() == [True, False, True, True]
    assert trials["converted_at"].iloc[1] == pd.Timestamp("2026-03-05", tz="UTC")
    assert str(trials["trial_end_at"].dtype) == "datetime64[ns, UTC]"
    assert list(trials["plan"].fillna("-")) == ["pro", "-", "team", "pro"]
    assert list(trials["oracle_p_trial_end"]) == [0.1, 0.9, 0.2, 0.3]
    assert loaded.report.rows_read == 4
    assert sum(loaded.report.unusable.values()) == 0


def test_no_trials_source_gives_none() -> None:
    assert load_trials(make_spec()) is None


def test_trials_frame_without_a_trials_source_uses_default_names() -> None:
    frame = pd.DataFrame(
        {"user_id": ["u1"], "signup_at": ["2026-03-01T00:00:00Z"], "converted_at": [None]}
    )
    loaded = load_trials(make_spec(), frame)
    assert loaded is not None
    assert loaded.trials["user_id"].tolist() == ["u1"]
    assert loaded.trials["account_id"].isna().all()
    assert loaded.trials["trial_end_at"].isna().all()
    assert loaded.report.source == DATAFRAME_SOURCE


def test_unusable_trials_are_counted() -> None:
    frame = pd.DataFrame(
        {
            "uid": ["u1", None, "u3", "u4", "u5", "u5", " "],
            "org": ["a", "a", "a", None, "a", "a", "a"],
            "start": ["2026-03-01"] * 3 + ["2026-03-01", "2026-03-01", "2026-03-01", "x"],
            "paid": [None, None, "soon", None, "2026-03-02", "2026-03-02", None],
            "ends": [None] * 7,
            "tier": [None] * 7,
        }
    )
    frame.loc[2, "start"] = "2026-03-01"
    frame.loc[0, "start"] = "not a date"
    loaded = load_trials(trials_spec(), frame)
    assert loaded is not None
    assert loaded.report.unusable == {
        "missing user id": 2,
        "unparseable signup_at": 1,
        "unparseable converted_at": 1,
        "exact duplicate": 1,
    }
    assert loaded.trials["user_id"].tolist() == ["u4", "u5"]
    assert loaded.report.rows_read == len(loaded.trials) + sum(loaded.report.unusable.values())

    by_account = load_trials(trials_spec(entity="account"), frame)
    assert by_account is not None
    assert by_account.report.unusable["missing account id"] == 1
    assert by_account.trials["user_id"].tolist() == ["u5"]


def test_conversion_before_signup_is_warned() -> None:
    frame = source_trials()
    frame.loc[1, "paid"] = "2026-02-01T00:00:00Z"
    loaded = load_trials(trials_spec(), frame)
    assert loaded is not None
    assert "1 trial converted before signing up (e.g. user '2')" in loaded.report.warnings


def test_duplicate_trial_users_are_an_error(tmp_path: Path) -> None:
    frame = source_trials()
    frame.loc[3, "uid"] = 2
    path = write(frame, tmp_path / "trials.csv")
    with pytest.raises(DataError) as caught:
        load_trials(trials_spec(path))
    message = caught.value.message
    assert "trials.csv" in message and "'2'" in message and "'uid'" in message


def test_missing_trial_column_names_the_key(tmp_path: Path) -> None:
    frame = source_trials().drop(columns=["paid"]).astype({"start": str})
    path = write(frame, tmp_path / "trials.parquet")
    with pytest.raises(DataError) as caught:
        load_trials(trials_spec(path))
    assert "trials.parquet" in caught.value.message
    assert "data.trials.columns.converted_at = 'paid'" in caught.value.message


def test_trials_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"trials\.csv' not found \(set data\.trials\.path"):
        load_trials(trials_spec(tmp_path / "trials.csv"))


# --- a real export -------------------------------------------------------------------------


@pytest.mark.skipif(not SPARKIFY.exists(), reason="shared data not present")
def test_sparkify_sample_loads() -> None:
    spec = parse_spec(
        {
            "product": "sparkify",
            "data": {
                "events": {
                    "path": str(SPARKIFY),
                    "columns": {
                        "user_id": "userId",
                        "event": "page",
                        "timestamp": "ts",
                        "session_id": "sessionId",
                    },
                }
            },
            "label": {"conversion_event": "Submit Upgrade"},
            "actions": {
                "listen": {"events": ["NextSong"], "property": "length", "aggregate": "sum"}
            },
        }
    )
    loaded = load_events(spec)
    report = loaded.report
    assert report.rows_read == 8056
    assert report.unusable["missing user id"] == 286  # logged-out events have userId ""
    assert report.timestamp_formats == {"epoch_milliseconds": 8056}
    assert report.rows_read == len(loaded.events) + sum(report.unusable.values())
    assert loaded.events["user_id"].nunique() == 97  # as the data README says
    assert loaded.events["timestamp"].min() >= pd.Timestamp("2018-11-01", tz="UTC")


# --- property: the counts always add up, duplicates match pandas ---------------------------

row_values = st.tuples(
    st.sampled_from(["u1", "u2", None, " "]),
    st.sampled_from(["invited", "file_uploaded"]),
    st.sampled_from([1_772_359_200, "2026-03-01T10:00:00Z", 1_772_359_200_000, "soon"]),
    st.sampled_from([None, 1.0, "2"]),
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(row_values, max_size=40))
def test_counts_add_up_and_duplicates_are_exact(rows: list[tuple[Any, ...]]) -> None:
    frame = pd.DataFrame(rows, columns=["uid", "name", "ts", "bytes"])
    spec = make_spec(columns={"user_id": "uid", "event": "name", "timestamp": "ts"})
    loaded = load_events(spec, frame)
    report = loaded.report
    assert report.rows_read == len(rows)
    assert report.rows_read == len(loaded.events) + sum(report.unusable.values())

    # The same, by hand: pandas on a plainly normalised copy.
    users = frame["uid"].map(lambda u: u.strip() if isinstance(u, str) and u.strip() else None)
    times = pd.to_datetime(
        frame["ts"]
        .map(lambda t: {1_772_359_200_000: 1_772_359_200}.get(t, t))
        .map(lambda t: pd.Timestamp(t, unit="s", tz="UTC") if isinstance(t, int) else t),
        utc=True,
        errors="coerce",
        format="ISO8601",
    )
    usable = users.notna() & times.notna()
    plain = pd.DataFrame(
        {"u": users, "e": frame["name"], "t": times, "b": pd.to_numeric(frame["bytes"])}
    )[usable]
    assert report.unusable["missing user id"] == int(users.isna().sum())
    assert report.unusable["unparseable timestamp"] == int((users.notna() & times.isna()).sum())
    assert report.unusable["exact duplicate"] == int(plain.duplicated().sum())
