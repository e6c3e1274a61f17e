"""Vendor exports round-trip to canonical events with every record accounted for.

Each sample is written from the vendor's documented export schema, including the
awkward parts: anonymous ids, identity merges, re-sent copies with the same insert id,
nested properties, rows without any id and unreadable times.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pql.errors import DataError, SpecError, UsageError
from pql.features.adapters import adapt_file, adapt_records
from pql.features.adapters.core import (
    ANONYMOUS,
    DUPLICATE_INSERT,
    IDENTITY_RECORD,
    SHARED_ANONYMOUS,
    flatten,
)
from pql.features.ingest import BAD_TIMESTAMP, DUPLICATE, MISSING_USER, load_events
from pql.features.pipeline import load_dataset, training_features
from pql.features.spec import parse_spec

DAY = 86_400


def spec_for(path: Path, vendor: str, **events: Any) -> Any:
    return parse_spec(
        {
            "product": "vendor",
            "data": {"events": {"path": str(path), "format": vendor, **events}},
            "label": {"conversion_event": "Upgraded"},
            "actions": {
                "export": {
                    "events": ["Report Exported", "Export"],
                    "property": "rows",
                    "aggregate": "sum",
                }
            },
        }
    )


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path


def check_accounting(loaded, records: int) -> None:
    report = loaded.report
    assert report.rows_read == records
    assert report.rows_read == len(loaded.events) + sum(report.unusable.values())
    events = loaded.events
    assert list(events.columns[:4]) == ["user_id", "account_id", "event", "timestamp"]
    assert str(events["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert isinstance(events["user_id"].dtype, pd.CategoricalDtype)


def by_user(events: pd.DataFrame) -> dict[str, list[str]]:
    ordered = events.sort_values(["user_id", "timestamp"], kind="stable")
    return {
        str(user): [str(e) for e in group["event"]]
        for user, group in ordered.groupby("user_id", observed=True)
    }


# --- Segment -------------------------------------------------------------------------------

SEGMENT = [
    # anonymous visit first; the identify call below claims it for u1
    {
        "type": "track",
        "event": "Signed Up",
        "anonymousId": "a1",
        "messageId": "m1",
        "timestamp": "2026-01-01T10:00:00.000Z",
        "properties": {"plan": {"seats": 3}},
    },
    {
        "type": "identify",
        "userId": "u1",
        "anonymousId": "a1",
        "messageId": "m2",
        "timestamp": "2026-01-01T10:01:00Z",
        "traits": {"email": "x@example.com"},
    },
    {
        "type": "track",
        "event": "Report Exported",
        "userId": "u1",
        "anonymousId": "a1",
        "messageId": "m3",
        "timestamp": "2026-01-02T09:00:00Z",
        "properties": {"rows": 120},
        "context": {"groupId": "acme"},
    },
    # the same message delivered again later: one event
    {
        "type": "track",
        "event": "Report Exported",
        "userId": "u1",
        "anonymousId": "a1",
        "messageId": "m3",
        "timestamp": "2026-01-02T09:00:00Z",
        "receivedAt": "2026-01-05T00:00:00Z",
        "properties": {"rows": 120},
        "context": {"groupId": "acme"},
    },
    {
        "type": "page",
        "name": "Pricing",
        "userId": "u2",
        "messageId": "m4",
        "timestamp": "2026-01-02T11:00:00+01:00",
    },
    {
        "type": "group",
        "userId": "u2",
        "groupId": "globex",
        "messageId": "m5",
        "timestamp": "2026-01-02T11:05:00Z",
    },
    {
        "type": "alias",
        "previousId": "a9",
        "userId": "u3",
        "messageId": "m6",
        "timestamp": "2026-01-03T08:00:00Z",
    },
    {
        "type": "track",
        "event": "Clicked",
        "anonymousId": "a9",
        "messageId": "m7",
        "timestamp": "2026-01-03T07:59:00Z",
    },
    {
        "type": "track",
        "event": "Clicked",
        "anonymousId": "a7",
        "messageId": "m8",
        "timestamp": "2026-01-03T09:00:00Z",
    },  # never identified
    {
        "type": "track",
        "event": "Clicked",
        "messageId": "m9",
        "timestamp": "2026-01-03T09:00:00Z",
    },  # no id at all
    {"type": "track", "event": "Export", "userId": "u1", "messageId": "m10", "timestamp": "soon"},
    {"type": "screen", "userId": "u1", "messageId": "m11", "timestamp": "2026-01-04T09:00:00Z"},
]


def test_segment_round_trip(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "segment.jsonl.gz", SEGMENT)
    loaded = load_events(spec_for(path, "segment"))
    check_accounting(loaded, len(SEGMENT))
    unusable = loaded.report.unusable
    assert unusable[IDENTITY_RECORD] == 3  # identify, group, alias
    assert unusable[DUPLICATE_INSERT] == 1
    assert unusable[ANONYMOUS] == 1
    assert unusable[MISSING_USER] == 1
    assert unusable[BAD_TIMESTAMP] == 1
    assert len(loaded.events) == 5
    assert by_user(loaded.events) == {
        "u1": ["Signed Up", "Report Exported", "Loaded a Screen"],
        "u2": ["Viewed Pricing Page"],
        "u3": ["Clicked"],
    }
    events = loaded.events.set_index("event")
    assert events.loc["Report Exported", "account_id"] == "acme"
    assert events.loc["Viewed Pricing Page", "account_id"] == "globex"  # from the group call
    assert events.loc["Viewed Pricing Page", "timestamp"] == pd.Timestamp("2026-01-02T10:00Z")
    assert events.loc["Report Exported", "rows"] == 120.0
    details = loaded.report.details
    assert details["anonymous events attributed to a known user"] == 2  # a1 -> u1, a9 -> u3
    assert details["events given an account by a group call"] == 1


def test_segment_nested_property_is_a_dotted_column(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "segment.jsonl", SEGMENT)
    raw = spec_for(path, "segment").model_dump()
    raw["actions"]["signup"] = {
        "events": ["Signed Up"],
        "property": "plan.seats",
        "aggregate": "max",
    }
    loaded = load_events(parse_spec(raw))
    seats = loaded.events.loc[loaded.events["event"] == "Signed Up", "plan.seats"]
    assert seats.tolist() == [3.0]
    dataset = load_dataset(parse_spec(raw))
    features, _ = training_features(dataset)
    assert "signup_plan_seats_max" in dataset.definitions.names  # a name rules can use
    assert "signup_plan_seats_max" in features.columns


# --- Mixpanel ------------------------------------------------------------------------------

T0 = 1_767_261_600  # 2026-01-01T10:00:00Z, epoch seconds as Mixpanel exports them

MIXPANEL = [
    {
        "event": "Page Viewed",
        "properties": {"distinct_id": "anon-1", "time": T0, "$insert_id": "i1", "path": "/pricing"},
    },
    {
        "event": "$identify",
        "properties": {
            "distinct_id": "u1",
            "$anon_id": "anon-1",
            "$identified_id": "u1",
            "time": T0 + 60,
        },
    },
    {
        "event": "Export",
        "properties": {
            "distinct_id": "u1",
            "time": T0 + DAY,
            "$insert_id": "i2",
            "rows": 50,
            "$browser": "Chrome",
        },
    },
    # an exact re-send (same event, distinct_id, time and insert id): dropped
    {
        "event": "Export",
        "properties": {"distinct_id": "u1", "time": T0 + DAY, "$insert_id": "i2", "rows": 50},
    },
    # same insert id at another time: Mixpanel keeps it, so do we
    {
        "event": "Export",
        "properties": {"distinct_id": "u1", "time": T0 + DAY + 5, "$insert_id": "i2", "rows": 7},
    },
    # simplified ID merge: a device's anonymous event, claimed by a later login
    {
        "event": "Viewed",
        "properties": {
            "distinct_id": "$device:d1",
            "$device_id": "d1",
            "time": T0 + 10,
            "$insert_id": "i3",
        },
    },
    {
        "event": "Login",
        "properties": {
            "distinct_id": "u2",
            "$user_id": "u2",
            "$device_id": "d1",
            "time": T0 + 20,
            "$insert_id": "i4",
        },
    },
    {
        "event": "Viewed",
        "properties": {
            "distinct_id": "$device:d2",
            "$device_id": "d2",
            "time": T0,
            "$insert_id": "i5",
        },
    },  # never identified
    {"event": "$merge", "properties": {"$distinct_ids": ["u3", "old-3"], "time": T0}},
    {"event": "Viewed", "properties": {"distinct_id": "old-3", "time": T0 + 30}},
    {"event": "Viewed", "properties": {"time": T0 + 40}},  # no distinct_id
]


def test_mixpanel_round_trip(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "mixpanel.json", MIXPANEL)
    loaded = load_events(spec_for(path, "mixpanel"))
    check_accounting(loaded, len(MIXPANEL))
    unusable = loaded.report.unusable
    assert unusable[IDENTITY_RECORD] == 2
    assert unusable[DUPLICATE_INSERT] == 1
    assert unusable[ANONYMOUS] == 1
    assert unusable[MISSING_USER] == 1
    assert by_user(loaded.events) == {
        "u1": ["Page Viewed", "Export", "Export"],
        "u2": ["Viewed", "Login"],
        "u3": ["Viewed"],
    }
    assert loaded.report.timestamp_formats == {"epoch_seconds": 7}
    exports = loaded.events[loaded.events["event"] == "Export"]
    assert sorted(exports["rows"]) == [7.0, 50.0]


# --- Amplitude -----------------------------------------------------------------------------

AMPLITUDE = [
    {
        "event_type": "session_start",
        "user_id": None,
        "device_id": "d1",
        "event_time": "2026-01-01 10:00:00.000000",
        "$insert_id": "a1",
        "session_id": 1767261600000,
    },
    {
        "event_type": "Export",
        "user_id": "u1",
        "device_id": "d1",
        "event_time": "2026-01-01 10:05:00.123000",
        "$insert_id": "a2",
        "groups": {"company": ["acme"]},
        "event_properties": {"rows": 10, "meta": {"size": 2}},
    },
    {
        "event_type": "Export",
        "user_id": "u1",
        "device_id": "d1",
        "event_time": "2026-01-01 10:05:00.123000",
        "$insert_id": "a2",
        "groups": {"company": ["acme"]},
        "event_properties": {"rows": 10},
    },  # re-sent
    {
        "event_type": "$identify",
        "user_id": "u2",
        "device_id": "d2",
        "event_time": "2026-01-02 09:00:00.000000",
    },
    {
        "event_type": "Open",
        "user_id": None,
        "device_id": "d2",
        "event_time": "2026-01-02 08:59:00.000000",
        "$insert_id": "a3",
    },
    {
        "event_type": "Open",
        "user_id": None,
        "device_id": "d3",
        "event_time": "2026-01-02 08:00:00.000000",
        "$insert_id": "a4",
    },  # never identified
    {
        "event_type": "Open",
        "user_id": None,
        "device_id": None,
        "event_time": "2026-01-02 08:00:00.000000",
    },
    {
        "event_type": "Export",
        "user_id": "u1",
        "device_id": "d1",
        "session_id": -1,
        "event_time": "2026-01-03 10:00:00.000000",
        "insert_id": "a5",
        "event_properties": {"rows": 5},
    },
]


def test_amplitude_round_trip(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "amplitude.jsonl", AMPLITUDE)
    loaded = load_events(spec_for(path, "amplitude", columns={"session_id": "session_id"}))
    check_accounting(loaded, len(AMPLITUDE))
    unusable = loaded.report.unusable
    assert (unusable[IDENTITY_RECORD], unusable[DUPLICATE_INSERT]) == (1, 1)
    assert (unusable[ANONYMOUS], unusable[MISSING_USER]) == (1, 1)
    assert by_user(loaded.events) == {"u1": ["session_start", "Export", "Export"], "u2": ["Open"]}
    # event_time is UTC without a zone: read as UTC and not reported as a guess
    assert loaded.report.timestamp_formats == {"iso_with_zone": 5}
    ordered = loaded.events.sort_values("timestamp")
    assert ordered["timestamp"].iloc[0] == pd.Timestamp("2026-01-01T10:00:00Z")
    exports = ordered[ordered["event"] == "Export"]
    assert exports["account_id"].astype(object).tolist()[0] == "acme"  # first group value
    assert pd.isna(exports["account_id"].iloc[1])
    assert exports["rows"].tolist() == [10.0, 5.0]
    # session_id -1 means "outside a session": missing, not a session called "-1"
    assert ordered["session_id"].astype(object).tolist()[0] == "1767261600000"
    assert pd.isna(exports["session_id"].iloc[1])


# --- PostHog -------------------------------------------------------------------------------

POSTHOG_CSV = """uuid,event,properties,timestamp,distinct_id,$group_0
e1,$pageview,"{""$current_url"": ""/pricing""}",2026-01-01T10:00:00Z,anon-p1,
e2,$identify,"{""$anon_distinct_id"": ""anon-p1""}",2026-01-01T10:01:00Z,u1,
e3,Report Exported,"{""rows"": 5, ""plan"": {""tier"": ""pro""}}",2026-01-01T11:00:00Z,u1,acme
e3,Report Exported,"{""rows"": 5, ""plan"": {""tier"": ""pro""}}",2026-01-01T11:00:00Z,u1,acme
e4,$pageview,{},2026-01-01T12:00:00Z,anon-p2,
e5,$pageview,{not json,2026-01-01T12:30:00Z,u2,
e6,$pageview,{},later,u1,
"""


def test_posthog_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "posthog.csv"
    path.write_text(POSTHOG_CSV)
    loaded = load_events(spec_for(path, "posthog"))
    check_accounting(loaded, 7)
    unusable = loaded.report.unusable
    assert (unusable[IDENTITY_RECORD], unusable[DUPLICATE_INSERT]) == (1, 1)
    assert unusable[ANONYMOUS] == 0  # PostHog cannot tell an anonymous id from a user id
    assert unusable[BAD_TIMESTAMP] == 1
    assert by_user(loaded.events) == {
        "anon-p2": ["$pageview"],
        "u1": ["$pageview", "Report Exported"],
        "u2": ["$pageview"],
    }
    exported = loaded.events[loaded.events["event"] == "Report Exported"].iloc[0]
    assert exported["account_id"] == "acme" and exported["rows"] == 5.0


def test_posthog_jsonl_with_group_in_properties(tmp_path: Path) -> None:
    records = [
        {
            "uuid": "x1",
            "event": "Export",
            "distinct_id": "u9",
            "timestamp": "2026-01-01T10:00:00Z",
            "properties": {"rows": 3, "$groups": {"company": "initech"}},
        },
    ]
    path = write_jsonl(tmp_path / "posthog.jsonl", records)
    loaded = load_events(spec_for(path, "posthog"))
    assert loaded.events["account_id"].tolist() == ["initech"]


# --- the spec and bad files ----------------------------------------------------------------


def test_vendor_spec_needs_only_path_and_format(tmp_path: Path) -> None:
    spec = spec_for(tmp_path / "x.jsonl", "segment")
    columns = spec.data.events.columns
    assert (columns.user_id, columns.event, columns.timestamp) == ("user_id", "event", "timestamp")
    assert columns.account_id == "account_id"  # group ids are accounts by default
    assert parse_spec(spec.model_dump(mode="json")) == spec  # as a model bundle stores it
    with pytest.raises(SpecError, match=r"data\.events\.format"):
        spec_for(tmp_path / "x.jsonl", "heap")
    # columns given override the defaults one by one
    spec = spec_for(tmp_path / "x.jsonl", "mixpanel", columns={"account_id": "company_id"})
    assert spec.data.events.columns.account_id == "company_id"
    assert spec.data.events.columns.user_id == "user_id"
    spec = spec_for(tmp_path / "x.jsonl", "posthog", columns={"account_id": None})
    assert spec.data.events.columns.account_id is None


def test_posthog_ui_csv_with_flattened_property_columns(tmp_path: Path) -> None:
    path = tmp_path / "posthog.csv"
    path.write_text(
        "uuid,event,timestamp,distinct_id,properties.rows,properties.$browser\n"
        "e1,Export,2026-01-01T10:00:00Z,u1,12,Chrome\n"
    )
    loaded = load_events(spec_for(path, "posthog"))
    assert loaded.events["rows"].tolist() == [12.0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"event": "a", "userId": "u"}\n{"event": \n', "line 2 is not valid JSON"),
        ("[1, 2]", "item 0 of the JSON array is not an object"),
        ('{"foo": 1}\n', "does not look like a mixpanel export"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, content, message) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        load_events(spec_for(path, "mixpanel" if "foo" in content else "segment"))
    assert "export.jsonl" in info.value.message and info.value.exit_code == 3


def test_missing_property_names_the_action_key(tmp_path: Path) -> None:
    record = {"event_type": "Open", "user_id": "u1", "event_time": "2026-01-01 10:00:00"}
    path = write_jsonl(tmp_path / "a.jsonl", [record])
    with pytest.raises(DataError, match=r"actions.export.property = 'rows'"):
        load_events(spec_for(path, "amplitude"))


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_events(spec_for(tmp_path / "none.jsonl", "posthog"))
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_events(spec_for(tmp_path / "empty.jsonl", "posthog"))


def test_vendor_data_set_report_adds_up(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "segment.jsonl", SEGMENT)
    dataset = load_dataset(spec_for(path, "segment"), strict=False)
    quality = dataset.quality
    assert quality.rows_read == quality.usable_rows + sum(quality.unusable.values())
    assert quality.ingest_details["records read"] == len(SEGMENT)
    for reason in (IDENTITY_RECORD, DUPLICATE_INSERT, ANONYMOUS, MISSING_USER):
        assert reason in quality.explanations
    assert DUPLICATE not in quality.explanations  # zero rows: nothing to explain


# --- shared devices: two logged-in users never merge through an anonymous id ---------------


def shared_spec(path: Path, vendor: str) -> Any:
    return parse_spec(
        {
            "product": "shared",
            "data": {"events": {"path": str(path), "format": vendor}},
            "label": {"conversion_event": "upgraded"},
            "actions": {"invited": {"events": ["invited"]}, "pricing": {"events": ["pricing"]}},
        }
    )


def check_two_people(path: Path, vendor: str, records: int) -> Any:
    loaded = load_events(shared_spec(path, vendor))
    check_accounting(loaded, records)
    people = by_user(loaded.events)
    assert "invited" in people["alice"] and "upgraded" not in people["alice"]
    assert "pricing" in people["bob"] and "upgraded" in people["bob"]
    assert loaded.report.details["events of a user id merged into another"] == 0
    dataset = load_dataset(shared_spec(path, vendor), strict=False)
    assert dataset.quality.users == 2
    assert dataset.quality.conversions == 1 and dataset.quality.entities == 2
    return loaded


SHARED_SEGMENT = [
    {
        "type": "identify",
        "userId": "alice",
        "anonymousId": "shared-laptop",
        "timestamp": "2024-01-01T09:30:00Z",
    },
    {
        "type": "track",
        "event": "invited",
        "userId": "alice",
        "timestamp": "2024-01-01T10:00:00Z",
        "messageId": "m1",
    },
    {
        "type": "identify",
        "userId": "bob",
        "anonymousId": "shared-laptop",
        "timestamp": "2024-01-05T09:30:00Z",
    },
    {
        "type": "track",
        "event": "pricing",
        "userId": "bob",
        "timestamp": "2024-01-05T10:00:00Z",
        "messageId": "m2",
    },
    {
        "type": "track",
        "event": "upgraded",
        "userId": "bob",
        "timestamp": "2024-01-06T10:00:00Z",
        "messageId": "m3",
    },
]


def test_segment_users_sharing_an_anonymous_id_stay_apart(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "segment.jsonl", SHARED_SEGMENT)
    loaded = check_two_people(path, "segment", len(SHARED_SEGMENT))
    assert by_user(loaded.events) == {"alice": ["invited"], "bob": ["pricing", "upgraded"]}


def test_anonymous_events_on_a_shared_id_are_placed_by_time_or_counted(tmp_path: Path) -> None:
    anonymous = [
        # before anyone logged in on the laptop: the first user's pre-login visit
        {
            "type": "page",
            "name": "Home",
            "anonymousId": "shared-laptop",
            "messageId": "a1",
            "timestamp": "2024-01-01T09:00:00Z",
        },
        # between alice's and bob's logins: could be either of them
        {
            "type": "page",
            "name": "Home",
            "anonymousId": "shared-laptop",
            "messageId": "a2",
            "timestamp": "2024-01-03T09:00:00Z",
        },
        # after bob's login, nobody else since: bob's
        {
            "type": "page",
            "name": "Home",
            "anonymousId": "shared-laptop",
            "messageId": "a3",
            "timestamp": "2024-01-07T09:00:00Z",
        },
        {
            "type": "page",
            "name": "Home",
            "anonymousId": "shared-laptop",
            "messageId": "a4",
            "timestamp": "whenever",
        },  # no readable time: cannot be placed
    ]
    path = write_jsonl(tmp_path / "segment.jsonl", SHARED_SEGMENT + anonymous)
    loaded = check_two_people(path, "segment", len(SHARED_SEGMENT) + len(anonymous))
    assert by_user(loaded.events) == {
        "alice": ["Viewed Home Page", "invited"],
        "bob": ["pricing", "upgraded", "Viewed Home Page"],
    }
    assert loaded.report.unusable[SHARED_ANONYMOUS] == 2
    details = loaded.report.details
    assert details["anonymous events attributed to a known user"] == 2
    assert details["anonymous events placed by time on a shared id"] == 2
    assert details["shared anonymous ids with ambiguous events"] == 1
    quality = load_dataset(shared_spec(path, "segment"), strict=False).quality
    assert SHARED_ANONYMOUS in quality.explanations


def test_segment_alias_still_joins_two_user_ids(tmp_path: Path) -> None:
    records = [
        *SHARED_SEGMENT,
        {
            "type": "alias",
            "userId": "alice",
            "previousId": "bob",
            "timestamp": "2024-01-08T00:00:00Z",
        },
    ]
    path = write_jsonl(tmp_path / "segment.jsonl", records)
    loaded = load_events(shared_spec(path, "segment"))
    assert by_user(loaded.events) == {"alice": ["invited", "pricing", "upgraded"]}
    assert loaded.report.details["events of a user id merged into another"] == 2


def test_amplitude_users_sharing_a_device_stay_apart(tmp_path: Path) -> None:
    records = [
        {
            "event_type": "invited",
            "user_id": "alice",
            "device_id": "tablet",
            "event_time": "2024-01-01 10:00:00.000000",
            "$insert_id": "i1",
        },
        {
            "event_type": "pricing",
            "user_id": "bob",
            "device_id": "tablet",
            "event_time": "2024-01-05 10:00:00.000000",
            "$insert_id": "i2",
        },
        {
            "event_type": "upgraded",
            "user_id": "bob",
            "device_id": "tablet",
            "event_time": "2024-01-06 10:00:00.000000",
            "$insert_id": "i3",
        },
        {
            "event_type": "opened",
            "user_id": None,
            "device_id": "tablet",
            "event_time": "2024-01-03 10:00:00.000000",
            "$insert_id": "i4",
        },  # between: ambiguous
    ]
    path = write_jsonl(tmp_path / "amplitude.jsonl", records)
    loaded = check_two_people(path, "amplitude", len(records))
    assert by_user(loaded.events) == {"alice": ["invited"], "bob": ["pricing", "upgraded"]}
    assert loaded.report.unusable[SHARED_ANONYMOUS] == 1


def test_mixpanel_users_sharing_a_device_stay_apart(tmp_path: Path) -> None:
    t0 = 1_704_103_200  # 2024-01-01T10:00:00Z
    records = [
        {
            "event": "invited",
            "properties": {
                "distinct_id": "alice",
                "$user_id": "alice",
                "$device_id": "d1",
                "time": t0,
                "$insert_id": "i1",
            },
        },
        {
            "event": "pricing",
            "properties": {
                "distinct_id": "bob",
                "$user_id": "bob",
                "$device_id": "d1",
                "time": t0 + 4 * DAY,
                "$insert_id": "i2",
            },
        },
        {
            "event": "upgraded",
            "properties": {
                "distinct_id": "bob",
                "$user_id": "bob",
                "$device_id": "d1",
                "time": t0 + 5 * DAY,
                "$insert_id": "i3",
            },
        },
        # $identify of both users from the same anonymous id: still two people
        {
            "event": "$identify",
            "properties": {
                "distinct_id": "bob",
                "$anon_id": "anon-9",
                "$identified_id": "bob",
                "time": t0 + 4 * DAY,
            },
        },
        {
            "event": "$identify",
            "properties": {
                "distinct_id": "alice",
                "$anon_id": "anon-9",
                "$identified_id": "alice",
                "time": t0,
            },
        },
        {
            "event": "opened",
            "properties": {
                "distinct_id": "$device:d1",
                "$device_id": "d1",
                "time": t0 + 6 * DAY,
                "$insert_id": "i4",
            },
        },  # bob's
    ]
    path = write_jsonl(tmp_path / "mixpanel.jsonl", records)
    loaded = check_two_people(path, "mixpanel", len(records))
    assert by_user(loaded.events) == {
        "alice": ["invited"],
        "bob": ["pricing", "upgraded", "opened"],
    }


def test_mixpanel_merge_joins_two_user_ids(tmp_path: Path) -> None:
    records = [
        {"event": "invited", "properties": {"distinct_id": "alice", "time": 1_704_103_200}},
        {"event": "pricing", "properties": {"distinct_id": "alice-old", "time": 1_704_103_300}},
        {"event": "$merge", "properties": {"$distinct_ids": ["alice", "alice-old"]}},
    ]
    path = write_jsonl(tmp_path / "mixpanel.jsonl", records)
    loaded = load_events(shared_spec(path, "mixpanel"))
    assert by_user(loaded.events) == {"alice": ["invited", "pricing"]}


# --- files at the edge: huge cells, deep nesting, malformed CSV --------------------------------


def test_posthog_csv_with_a_huge_properties_cell_is_read(tmp_path: Path) -> None:
    properties = json.dumps({"rows": 4, "blob": "x" * 200_000})  # > csv's default 128 KiB
    path = tmp_path / "posthog.csv"
    path.write_text(
        "uuid,event,distinct_id,timestamp,properties\n"
        f'e1,Export,u1,2026-01-01T10:00:00Z,"{properties.replace(chr(34), chr(34) * 2)}"\n'
    )
    loaded = load_events(spec_for(path, "posthog"))
    assert loaded.events["rows"].tolist() == [4.0]
    assert len(adapt_file(path, "posthog").frame["blob"].iloc[0]) == 200_000


def deep_line(depth: int) -> str:
    return '{"event": "a", "userId": "u", "properties": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        ("deep.jsonl", '{"event": "a", "userId": "u"}\n' + deep_line(100_000) + "\n", "line 2"),
        ("deep.json", "[\n" + deep_line(100_000) + "\n]", "line 2"),
    ],
)
def test_deeply_nested_json_names_file_and_line(tmp_path: Path, name, content, where) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match="too deeply") as info:
        load_events(spec_for(path, "segment"))
    assert name in info.value.message and where in info.value.message
    assert info.value.exit_code == 3


def test_a_dict_nested_990_levels_is_read_or_refused_never_a_crash(tmp_path: Path) -> None:
    nested = '{"a": ' * 990 + '{"rows": 1}' + "}" * 990  # written as text: dumps would recurse
    path = tmp_path / "deep.jsonl"
    path.write_text(
        '{"type": "track", "event": "Export", "userId": "u1", '
        f'"timestamp": "2026-01-01T10:00:00Z", "properties": {nested}}}\n'
    )
    try:
        loaded = load_events(spec_for(path, "segment"))
    except DataError as error:  # the JSON parser's own limit, depending on the stack
        assert "line 1" in error.message and error.exit_code == 3
    else:
        check_accounting(loaded, 1)
    # flattening itself has no depth limit
    deeper: dict[str, Any] = {"rows": 1}
    for _ in range(5_000):
        deeper = {"a": deeper}
    assert list(flatten(deeper).values()) == [1]


def test_posthog_csv_duplicate_header_and_extra_cells_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("uuid,event,distinct_id,timestamp,event\ne1,Export,u1,2026-01-01T10:00:00Z,x\n")
    with pytest.raises(DataError, match=r"names column\(s\) 'event' more than once") as info:
        load_events(spec_for(path, "posthog"))
    assert "dup.csv" in info.value.message and info.value.exit_code == 3
    path = tmp_path / "extra.csv"
    path.write_text(
        "uuid,event,distinct_id,timestamp\n"
        "e1,Export,u1,2026-01-01T10:00:00Z\n"
        "\n"
        "e2,Export,u1,2026-01-01T11:00:00Z,surplus\n"
    )
    with pytest.raises(DataError, match="line 4 has 5 cells but the header has 4") as info:
        load_events(spec_for(path, "posthog"))
    assert "extra.csv" in info.value.message and info.value.exit_code == 3


def test_adapt_records_says_what_is_wrong_with_its_arguments() -> None:
    record = {
        "type": "track",
        "event": "Export",
        "userId": "u1",
        "timestamp": "2026-01-01T10:00:00Z",
    }
    with pytest.raises(DataError, match="empty: no record to adapt"):
        adapt_records([], "segment")
    with pytest.raises(
        UsageError,
        match=r"unknown export format 'Segment' \(did you mean "
        r"'segment'\?\): expected one of segment, mixpanel",
    ):
        adapt_records([record], "Segment")
    with pytest.raises(DataError, match=r"record 0 is not a JSON object .* but int: 1"):
        adapt_records([1, 2], "segment")
    with pytest.raises(UsageError, match="must be a list of JSON objects"):
        adapt_records(record, "segment")  # type: ignore[arg-type]
    assert adapt_records((record,), "segment").records == 1
