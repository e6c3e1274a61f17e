"""Segment: track / page / screen calls become events; identify, alias, group link ids.

Documented shape (Segment Spec): ``type``, ``event`` (track), ``name`` (page / screen),
``userId``, ``anonymousId``, ``messageId`` (unique per message: re-sent copies repeat
it), ``timestamp`` (ISO 8601), ``properties``, ``context.groupId``; ``alias`` carries
``previousId``; ``group`` carries ``groupId``. Page and screen calls are named the way
Segment names them for downstream tools ("Viewed Pricing Page", "Loaded a Page").
"""

from __future__ import annotations

from typing import Any

from pql.features.adapters.core import Parsed, flatten, text_id

EXPECTED = "'event' (track) or a 'type' of page, screen, identify, alias or group"


def _name(record: dict[str, Any], kind: str) -> str | None:
    if kind == "track":
        return text_id(record.get("event"))
    label = "Page" if kind == "page" else "Screen"
    name = text_id(record.get("name"))
    return f"Viewed {name} {label}" if name else f"Loaded a {label}"


def parse(record: dict[str, Any]) -> Parsed:
    kind = str(record.get("type") or ("track" if "event" in record else "")).lower()
    user = text_id(record.get("userId"))
    anonymous = text_id(record.get("anonymousId"))
    if kind in ("identify", "alias", "group"):
        # identify / group with both ids: a sighting (a shared laptop carries several
        # users); alias is Segment's explicit merge, the only call joining two user ids
        timestamp = record.get("timestamp") or record.get("originalTimestamp")
        parsed = Parsed(is_event=False, timestamp=timestamp, known=user, alias=anonymous)
        if kind == "alias":
            parsed.links.append((user, text_id(record.get("previousId"))))
        if kind == "group":
            parsed.memberships.append((user or anonymous, text_id(record.get("groupId"))))
        return parsed
    given = record.get("context")
    context: dict[str, Any] = given if isinstance(given, dict) else {}
    message = text_id(record.get("messageId"))
    return Parsed(
        event=_name(record, kind) if kind in ("track", "page", "screen") else None,
        timestamp=record.get("timestamp") or record.get("originalTimestamp"),
        known=user,
        alias=anonymous,
        account=text_id(context.get("groupId")) or text_id(record.get("groupId")),
        dedupe=message,
        properties=flatten(record.get("properties")),
    )
