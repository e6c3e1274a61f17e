"""PostHog events export (CSV or JSON lines): ``uuid``, ``event``, ``distinct_id``,
``timestamp``, ``properties`` (JSON; text in CSV), ``$group_0`` .. ``$group_4``.

``$identify`` events carry ``$anon_distinct_id`` (the id used before login) and
``$create_alias`` carries ``alias``; both are identity statements, not actions. PostHog
cannot tell from an id alone whether it is anonymous, so a distinct id never linked to
a known one is kept as a user of its own. ``uuid`` is unique per event: a repeated one
is a re-sent copy. The account is ``$group_0`` (the first group type).
"""

from __future__ import annotations

import json
from typing import Any

from pql.features.adapters.core import Parsed, first_value, flatten, text_id

EXPECTED = "'event' and 'distinct_id'"
IDENTITY_EVENTS = ("$identify", "$create_alias", "$groupidentify")


def _properties(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return {"properties": value}  # kept as text, visible as a column
        return decoded if isinstance(decoded, dict) else {}
    return {}


def parse(record: dict[str, Any]) -> Parsed:
    properties = _properties(record.get("properties"))
    for key, value in record.items():  # the UI's CSV export flattens "properties.$browser"
        if key.startswith("properties.") and value is not None:
            properties = {**properties, key.removeprefix("properties."): value}
    event = text_id(record.get("event"))
    distinct = text_id(record.get("distinct_id")) or text_id(properties.get("distinct_id"))
    if event in IDENTITY_EVENTS:
        known = distinct if event != "$groupidentify" else None
        time = record.get("timestamp")
        if event == "$create_alias":  # an explicit merge: may join two user ids
            alias = text_id(properties.get("alias"))
            return Parsed(is_event=False, timestamp=time, links=[(known, alias)], known_ids=[known])
        # $identify: the anonymous id was seen with this user (a shared browser can
        # carry several users; PostHog does not merge two identified users through it)
        anonymous = text_id(properties.get("$anon_distinct_id"))
        return Parsed(
            is_event=False, timestamp=time, sightings=[(known, anonymous)], known_ids=[known]
        )
    group = record.get("$group_0") or properties.get("$group_0")
    return Parsed(
        event=event,
        timestamp=record.get("timestamp"),
        alias=distinct,
        alias_is_anonymous=False,
        account=text_id(group) or first_value(properties.get("$groups")),
        session=text_id(properties.get("$session_id")),
        dedupe=text_id(record.get("uuid")),
        properties={k: v for k, v in flatten(properties).items() if k != "distinct_id"},
    )
