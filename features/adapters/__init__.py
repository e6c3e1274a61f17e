"""Product-analytics exports (Segment, Mixpanel, Amplitude, PostHog) as canonical events.

Selected by the spec's ``data.events.format``; `features.ingest.load_events` calls
`adapt_file` and validates the result like any other event table, so every unusable
record is still counted by reason. One module per vendor says what a record means;
`features.adapters.core` does the shared work (identity merges, de-duplication,
property flattening, counting).
"""

from __future__ import annotations

from pathlib import Path

from features.adapters import amplitude, mixpanel, posthog, segment
from features.adapters.core import REASONS, AdaptedEvents, assemble
from features.adapters.records import read_records

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
    """Already-read records of one vendor's export -> canonical rows plus counts."""
    module = _VENDORS[vendor]
    return assemble(records, module.parse, path=Path(path), vendor=vendor, expected=module.EXPECTED)


def adapt_file(path: Path, vendor: str, encoding: str = "utf-8") -> AdaptedEvents:
    """Read a vendor export file (JSON lines, JSON array, CSV; .gz / .bz2) and adapt it."""
    return adapt_records(read_records(path, vendor, encoding), vendor, path)
