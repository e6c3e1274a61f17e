"""Fit attributes: spec keys, point-in-time join, encoding of categories, e-mail kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pql.errors import SpecError
from pql.features.attributes import (
    AttributeDefinitions,
    AttributeEncoding,
    join_attributes,
    load_attributes,
)
from pql.features.email_kind import email_kind, email_kinds
from pql.features.pipeline import live_features, load_dataset
from pql.features.spec import parse_spec

UTC = "UTC"


def _spec(attributes, **extra):
    raw = {
        "product": "fit",
        "data": {
            "events": {"path": "events.csv", "columns": {"account_id": "account_id"}},
            "attributes": attributes,
        },
        "label": {"conversion_event": "paid"},
        "actions": {"invite": {"events": ["invite"]}},
        **extra,
    }
    return parse_spec(raw)


def _at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


def test_a_value_updated_after_as_of_never_leaks():
    spec = _spec(
        {
            "path": "accounts.csv",
            "level": "account",
            "valid_from": "updated_at",
            "columns": {"company_size": {"kind": "categorical"}},
        }
    )
    table = pd.DataFrame(
        {
            "account_id": ["a1", "a1", "a1", "a2"],
            "updated_at": [
                "2026-01-01T00:00:00Z",
                "2026-01-05T00:00:00Z",  # exactly at the second row's as_of: not before it
                "2026-01-09T00:00:00Z",  # after every as_of: never seen
                "2026-01-10T00:00:00Z",
            ],
            "company_size": ["1-10", "11-50", "201-500", "51-200"],
        }
    )
    loaded = load_attributes(spec, [table])
    rows = pd.DataFrame(
        {
            "entity_id": ["u1", "u1", "u1", "u2"],
            "account_id": ["a1", "a1", "a1", "a2"],
            "as_of": [_at("2026-01-02"), _at("2026-01-05"), _at("2026-01-06"), _at("2026-01-06")],
        }
    )
    joined = join_attributes(loaded, rows, "user")
    assert joined["company_size"].tolist() == ["1-10", "1-10", "11-50", None]


def test_without_valid_from_values_hold_from_signup_and_the_report_says_so():
    spec = _spec({"path": "users.csv", "columns": {"role": {"kind": "categorical"}}})
    table = pd.DataFrame({"user_id": ["u1", "u2", "u2"], "role": ["founder", "x", "engineer"]})
    loaded = load_attributes(spec, [table])
    assert any("taken as known at signup" in w for w in loaded.warnings)
    assert any("repeat an id" in w for w in loaded.warnings)
    rows = pd.DataFrame(
        {
            "entity_id": ["u2", "u1", "u9"],
            "account_id": [None] * 3,
            "as_of": [_at("2026-01-02")] * 3,
        }
    )
    assert join_attributes(loaded, rows, "user")["role"].tolist() == ["engineer", "founder", None]


def test_numeric_values_that_are_not_numbers_are_unknown_and_counted():
    spec = _spec({"path": "u.csv", "columns": {"employees": {"kind": "numeric"}}})
    table = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "employees": ["12", "many", ""]})
    loaded = load_attributes(spec, [table])
    values = loaded.tables[0].values.set_index("id")["employees"]
    assert values["u1"] == 12 and np.isnan(values["u2"]) and np.isnan(values["u3"])
    assert any("1 value(s) are not numbers (e.g. 'many')" in w for w in loaded.warnings)


def test_rare_levels_pool_and_unseen_levels_are_counted():
    definitions = AttributeDefinitions.from_spec(
        _spec(
            {
                "path": "u.csv",
                "min_level_rows": 2,
                "columns": {"industry": {"kind": "categorical"}, "seats": {"kind": "numeric"}},
            }
        )
    )
    train = pd.DataFrame(
        {"industry": ["retail", "retail", "saas", "saas", "saas", "mining"], "seats": [1.0] * 6}
    )
    encoding = AttributeEncoding.fit(definitions, train)
    assert encoding.levels["industry"] == ("saas", "retail")
    assert encoding.pooled["industry"] == ("mining",)
    scoring = pd.DataFrame({"industry": ["saas", "mining", "space", None], "seats": [2, 3, 4, 5]})
    encoded, unseen = encoding.encode(scoring)
    codes = encoded["industry"].to_numpy()
    assert codes[:3].tolist() == [0.0, 2.0, 2.0] and np.isnan(codes[3])
    assert unseen == {"industry": 1}  # "space": never seen; "mining" was seen, pooled
    assert encoding.level("industry", 0.0) == "saas"
    assert encoding.level("industry", 2.0) is None  # "other" names no single value
    again = AttributeEncoding.from_dict(encoding.to_dict())
    assert again == encoding


@pytest.mark.parametrize(
    "value, kind",
    [
        ("ann@gmail.com", "personal"),
        ("Bob@Acme.IO", "work"),
        ("acme.io", "work"),
        ("someone@mail.yahoo.com", "personal"),
        ("not an address", "unknown"),
        ("@gmail.com", "unknown"),
        (None, "unknown"),
        ("", "unknown"),
    ],
)
def test_email_kind(value, kind):
    assert email_kind(value) == kind


def test_email_kinds_of_a_column():
    kinds = email_kinds(pd.Series(["a@gmail.com", None, "b@corp.com", "a@gmail.com"]))
    assert kinds.tolist() == ["personal", "unknown", "work", "personal"]


def test_spec_errors_name_the_key():
    with pytest.raises(SpecError, match=r"output\.attributes\.0"):
        _spec(
            {"path": "u.csv", "columns": {"role": {"kind": "categorical"}}},
            output={"attributes": ["country"]},
        )
    with pytest.raises(SpecError, match=r"data\.attributes\.0\.columns\.invite_count"):
        _spec({"path": "u.csv", "columns": {"invite_count": {"kind": "numeric"}}})
    with pytest.raises(SpecError, match=r"data\.attributes\.0\.columns\.size\.reason"):
        _spec({"path": "u.csv", "columns": {"size": {"kind": "numeric", "reason": "{count}"}}})
    with pytest.raises(SpecError, match=r"data\.attributes\.0\.level"):
        parse_spec(
            {
                "product": "fit",
                "entity": "account",
                "data": {
                    "events": {"path": "e.csv", "columns": {"account_id": "account_id"}},
                    "attributes": {"path": "u.csv", "columns": {"role": {"kind": "categorical"}}},
                },
                "label": {"conversion_event": "paid"},
                "actions": {"invite": {"events": ["invite"]}},
            }
        )


def test_features_carry_the_attributes_known_at_each_cutoff():
    spec = _spec(
        [
            {
                "path": "users.csv",
                "valid_from": "valid_from",
                "columns": {
                    "work_email": {"kind": "email_kind", "column": "email"},
                    "role": {"kind": "categorical"},
                },
            },
            {"path": "accounts.csv", "level": "account", "columns": {"seats": {"kind": "numeric"}}},
        ]
    )
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2"],
            "account_id": ["a1", "a1", "a2"],
            "event": ["invite", "invite", "invite"],
            "timestamp": ["2026-01-01T10:00:00Z", "2026-01-03T10:00:00Z", "2026-01-01T11:00:00Z"],
        }
    )
    users = pd.DataFrame(
        {
            "user_id": ["u1", "u1"],
            "valid_from": ["2026-01-01T00:00:00Z", "2026-01-10T00:00:00Z"],
            "email": ["ann@acme.io", "ann@acme.io"],
            "role": ["engineer", "buyer"],  # written after the conversion: must not leak
        }
    )
    accounts = pd.DataFrame({"account_id": ["a1"], "seats": [5]})
    dataset = load_dataset(spec, events, attributes=[users, accounts])
    frame, _ = live_features(dataset, _at("2026-01-05"))
    frame = frame.set_index("entity_id")
    assert frame.loc["u1", "role"] == "engineer"
    assert frame.loc["u1", "work_email"] == "work"
    assert frame.loc["u2", "work_email"] == "unknown"  # no row: not known
    assert frame.loc["u1", "seats"] == 5 and np.isnan(frame.loc["u2", "seats"])
    assert any("taken as known at signup" in w for w in dataset.quality.warnings)
