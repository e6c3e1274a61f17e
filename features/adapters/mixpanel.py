"""Mixpanel raw export: one JSON object per line, ``{"event", "properties": {...}}``.

Documented shape: ``properties.distinct_id``, ``properties.time`` (epoch seconds),
``properties.$insert_id`` (Mixpanel de-duplicates on event name, distinct_id, time and
insert id together, and so do we), ``$device_id`` / ``$user_id`` (simplified ID merge:
anonymous events have ``distinct_id = "$device:<device_id>"``), and the identity events
``$identify`` (``$anon_id`` -> ``$identified_id``), ``$create_alias`` (``alias``) and
``$merge`` (``$distinct_ids``). Only ``$merge`` and ``$create_alias`` join two user ids:
``$identify`` and ``$user_id`` + ``$device_id`` say a user was seen on an anonymous id
or device, which others may share (Mixpanel itself never merges two identified users
through them). Mixpanel has no standard group field: map
``data.events.columns.account_id`` to the property that holds your group key.
"""

from __future__ import annotations

from typing import Any

from pql.features.adapters.core import Parsed, flatten, text_id

EXPECTED = "'event' and 'properties.distinct_id'"
IDENTITY_EVENTS = ("$identify", "$create_alias", "$merge")
DEVICE_PREFIX = "$device:"


def parse(record: dict[str, Any]) -> Parsed:
    given = record.get("properties")
    properties: dict[str, Any] = given if isinstance(given, dict) else {}
    event = text_id(record.get("event"))
    distinct = text_id(properties.get("distinct_id"))
    user = text_id(properties.get("$user_id"))
    device = text_id(properties.get("$device_id"))
    time = properties.get("time")
    merges: list[tuple[str | None, str | None]] = []
    sightings: list[tuple[str | None, str | None]] = []
    if device:
        names = (device, f"{DEVICE_PREFIX}{device}")
        if distinct and distinct.startswith(DEVICE_PREFIX):
            merges += [(distinct, name) for name in names]  # one device's two names
        else:  # a user on a device: a sighting, as a device may be shared
            sightings += [(user or distinct, name) for name in names]
    if event == "$merge" or event == "$create_alias":
        # explicit merges: the only records that may join two user ids
        ids = properties.get("$distinct_ids")
        merged = [text_id(i) for i in ids] if isinstance(ids, list) else []
        alias = text_id(properties.get("alias"))
        merges += [(merged[0], other) for other in merged[1:]] + [(alias, distinct)]
        # $merge names no side as the user; the first id listed represents the person.
        return Parsed(
            is_event=False,
            timestamp=time,
            links=merges,
            sightings=sightings,
            known_ids=[alias, *merged[:1]],
        )
    if event in IDENTITY_EVENTS:  # $identify: the anonymous id was this user's
        known = text_id(properties.get("$identified_id"))
        sightings += [(known, text_id(properties.get("$anon_id"))), (known, distinct)]
        return Parsed(
            is_event=False, timestamp=time, links=merges, sightings=sightings, known_ids=[known]
        )
    insert = text_id(properties.get("$insert_id"))
    return Parsed(
        event=event,
        timestamp=time,
        known=user,
        alias=None if user else distinct,
        # "$device:..." is anonymous by construction; any other distinct id may be the
        # user's own id (original ID merge), so an unlinked one is kept as a user.
        alias_is_anonymous=bool(distinct and distinct.startswith(DEVICE_PREFIX)),
        dedupe=(event, distinct, str(time), insert) if insert else None,
        properties={
            k: v for k, v in flatten(properties).items() if k not in ("time", "distinct_id")
        },
        links=merges,
        sightings=sightings,
    )
