"""Product-analytics exports (Segment, Mixpanel, Amplitude, PostHog) as canonical events.

Selected by the spec's ``data.events.format``; `features.ingest.load_events` calls
`adapt_file` and validates the result like any other event table, so every unusable
record is still counted by reason. One module per vendor says what a record means;
`features.adapters.core` does the shared work (identity merges, de-duplication,
property flattening, counting).
"""

from __future__ import annotations

from pathlib import Path

from pql.errors import DataError, UsageError
from pql.features.adapters import amplitude, mixpanel, posthog, segment
from pql.features.adapters.core import REASONS, AdaptedEvents, assemble
from pql.features.adapters.records import read_records

_VENDORS = {
    "segment": segment,
    "mixpanel": mixpanel,
    "amplitude": amplitude,
    "posthog": posthog,
}

__all__ = ["REASONS", "AdaptedEvents", "adapt_file", "adapt_records"]


def adapt_records(
    records: list[dict], vendor: str, path: Path | str = "<records>"
) -> AdaptedEvents:
    """Already-read records of one vendor's export -> canonical rows plus counts.

    `vendor` must be one of the spec's export formats (`UsageError` otherwise); the
    records must be a non-empty list of JSON objects (`DataError` naming the first that
    is not), as a Python caller may pass anything."""
    module = _VENDORS.get(vendor) if isinstance(vendor, str) else None
    if module is None:
        hint = (
            f" (did you mean '{vendor.lower()}'?)"
            if isinstance(vendor, str) and vendor.lower() in _VENDORS
            else ""
        )
        raise UsageError(
            f"unknown export format {vendor!r}{hint}: expected one of {', '.join(_VENDORS)}"
        )
    if not isinstance(records, list | tuple):
        raise UsageError(
            f"{vendor} records from '{path}' must be a list of JSON objects (dicts), "
            f"got {type(records).__name__}"
        )
    if not records:
        raise DataError(f"{vendor} records from '{path}' are empty: no record to adapt")
    for position, record in enumerate(records):
        if not isinstance(record, dict):
            raise DataError(
                f"{vendor} records from '{path}': record {position} is not a JSON object "
                f"(dict) but {type(record).__name__}: {str(record)[:80]}"
            )
    return assemble(
        list(records), module.parse, path=Path(path), vendor=vendor, expected=module.EXPECTED
    )


def adapt_file(path: Path, vendor: str, encoding: str = "utf-8") -> AdaptedEvents:
    """Read a vendor export file (JSON lines, JSON array, CSV; .gz / .bz2) and adapt it."""
    return adapt_records(read_records(path, vendor, encoding), vendor, path)
