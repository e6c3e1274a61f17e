"""A source is a local path, a cloud URI or a catalog table, and only one of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pql.errors import DataError, SpecError
from pql.features.ingest import load_events
from pql.features.spec import parse_spec


def spec_with(events: dict):
    return parse_spec(
        {
            "product": "p",
            "data": {"events": events},
            "label": {"conversion_event": "paid"},
            "actions": {"a": {"events": ["a"]}},
        },
        base_dir=Path("/data/specs"),
    )


def test_a_cloud_uri_stays_a_uri_and_the_local_engine_says_to_use_spark() -> None:
    spec = spec_with({"path": "s3://bucket/events/2026/"})
    assert spec.data.events.uri == "s3://bucket/events/2026/"
    assert spec.data.events.path is None
    with pytest.raises(DataError, match="--engine spark"):
        load_events(spec)


def test_a_table_is_read_by_spark_only() -> None:
    spec = spec_with({"table": "main.product.events"})
    assert spec.data.events.location == "main.product.events"
    with pytest.raises(DataError, match=r"table 'main\.product\.events'.*--engine spark"):
        load_events(spec)


def test_a_relative_path_still_resolves_against_the_spec() -> None:
    assert spec_with({"path": "events.parquet"}).data.events.path == Path(
        "/data/specs/events.parquet"
    )


@pytest.mark.parametrize("events", [{"path": "e.csv", "table": "t"}, {"format": "csv"}])
def test_exactly_one_location(events: dict) -> None:
    with pytest.raises(SpecError, match="exactly one of 'path'"):
        spec_with(events)
