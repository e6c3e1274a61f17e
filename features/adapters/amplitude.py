"""Amplitude export: JSON lines with ``event_type``, ``user_id``, ``device_id``, ...

Documented shape (Export API): ``event_time`` (UTC, "2024-01-02 12:34:56.789000", no
zone written), ``user_id`` (null while anonymous), ``device_id``, ``session_id``
(``-1`` outside a session), ``groups`` (group type -> id or list of ids; the first is the
account), ``event_properties``, ``$insert_id`` (``insert_id`` in the HTTP API), and the
identity events ``$identify`` / ``$groupidentify``. A device's anonymous events belong to
the user it was later seen logged in as; a device several users logged in on never
joins them (Amplitude has no record that merges two user ids).
"""

from __future__ import annotations

import re
from typing import Any

from pql.features.adapters.core import Parsed, first_value, flatten, text_id

EXPECTED = "'event_type' and 'user_id' or 'device_id'"
IDENTITY_EVENTS = ("$identify", "$groupidentify")
_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def _utc(value: Any) -> Any:
    """Amplitude writes UTC without a zone; say so, so it is not counted as a guess."""
    if isinstance(value, str) and _NAIVE.match(value.strip()):
        return value.strip() + "+00:00"
    return value


def _session(value: Any) -> Any:
    number = text_id(value)
    return None if number in (None, "-1") else number


def parse(record: dict[str, Any]) -> Parsed:
    event = text_id(record.get("event_type"))
    user = text_id(record.get("user_id"))
    device = text_id(record.get("device_id"))
    if event in IDENTITY_EVENTS:
        return Parsed(
            is_event=False, timestamp=_utc(record.get("event_time")), known=user, alias=device
        )
    insert = text_id(record.get("$insert_id")) or text_id(record.get("insert_id"))
    return Parsed(
        event=event,
        timestamp=_utc(record.get("event_time")),
        known=user,
        alias=device,
        account=first_value(record.get("groups")),
        session=_session(record.get("session_id")),
        dedupe=(user or device, insert) if insert else None,
        properties=flatten(record.get("event_properties")),
    )
