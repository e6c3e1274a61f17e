"""Score one entity from its raw events or from a feature dict (the HTTP request path).

Validation happens here, not in the web layer, so the Python API and the service give
the same answers and the same messages. Every problem names the field it is about
(`events[3].timestamp`), which the service turns into a 422 answer.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import Any

import numpy as np

from pql.errors import InvalidInput
from pql.features.live import entity_features
from pql.features.rows import not_scored_reason
from pql.features.timestamps import NotATime, NotATimeAt, parse_time, parse_time_list
from pql.serving.attribute_input import attribute_vector
from pql.serving.fit_reasons import FitReason
from pql.serving.reasons import Reason
from pql.serving.scoring import Scorer

NS_PER_MS = 1_000_000
#: Clock skew allowed between the caller and us before an event counts as "in the future".
FUTURE_TOLERANCE_MS = 5 * 60 * 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


@dataclass(frozen=True)
class EntityScore:
    """One entity's answer; `status` "not scored" (with the reason) carries no score."""

    entity_id: str
    probability: float | None
    score: float | None
    tier: str | None
    is_pql: bool | None
    as_of: str
    model_version: str | None
    reasons: list[Reason]
    negative_reasons: list[Reason]
    context: list[str]
    unknown_events: list[str] = field(default_factory=list)
    status: str = "scored"
    not_scored_reason: str | None = None
    #: who the lead is, apart from what they did (models with fit attributes)
    fit_reasons: list[FitReason] = field(default_factory=list)
    negative_fit_reasons: list[FitReason] = field(default_factory=list)
    #: attributes whose level training never saw (scored as the pooled "other")
    unseen_attributes: list[str] = field(default_factory=list)


def to_epoch_ms(value: Any, field_name: str) -> int:
    """Epoch ms (floored) of one time, by pql's one timestamp parser (see
    `features.timestamps`): the forms a file column accepts, with the same messages."""
    try:
        return parse_time(value) // NS_PER_MS
    except NotATime as error:
        raise InvalidInput(field_name, str(error)) from None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _now_ms() -> int:
    return int(datetime.now(tz=UTC).timestamp() * 1000)


@dataclass(frozen=True)
class _ParsedEvents:
    names: list[str]
    time_ms: np.ndarray
    sessions: list[Any] | None
    users: list[Any] | None
    properties: dict[str, list[float]]
    distinct: dict[str, list[Any]] = field(default_factory=dict)


def _id_value(value: Any, field_name: str) -> Any:
    """A distinct-counted property is an id: text or a number, never a list or object."""
    if value is None or isinstance(value, str | int | float):  # bool is an int: "True"
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(field_name, f"{value} is not an id")
        return value
    raise InvalidInput(field_name, f"expected text or a number (an id), got {type(value).__name__}")


def _parse_events(
    events: Sequence[Mapping[str, Any]],
    property_columns: Sequence[str],
    *,
    need_users: bool = False,
    distinct_columns: Sequence[str] = (),
) -> _ParsedEvents:
    """Events later than `as_of` are fine (ignored by the features); later than now is not."""
    if not isinstance(events, Sequence) or isinstance(events, str | bytes):
        raise InvalidInput("events", f"expected a list of events, got {type(events).__name__}")
    if not set(map(type, events)) <= {dict}:  # C-level; HTTP events are always dicts
        for position, event in enumerate(events):
            if not isinstance(event, Mapping):
                raise InvalidInput(
                    f"events[{position}]", f"expected an object, got {type(event).__name__}"
                )
    names: list[Any] = [event.get("event") for event in events]  # text, checked below
    # C-level checks (no Python frame per event): all text, none blank
    if not (_all_text(names) and all(map(str.strip, names))):
        for position, name in enumerate(names):
            if not isinstance(name, str) or not name.strip():
                raise InvalidInput(
                    f"events[{position}].event", "an event name (non-empty text) is required"
                )
    times = epoch_ms_of_events([event.get("timestamp") for event in events])
    latest_ms = _now_ms() + FUTURE_TOLERANCE_MS
    if len(times) and times.max() > latest_ms:
        position = int(np.argmax(times > latest_ms))
        raise InvalidInput(
            f"events[{position}].timestamp", f"{_iso(int(times[position]))} is in the future"
        )
    sessions = [event.get("session_id") for event in events]
    users = [event.get("user_id") for event in events] if need_users else []
    if need_users:
        for position, user in enumerate(users):
            if user is None or not str(user).strip():
                raise InvalidInput(
                    f"events[{position}].user_id",
                    "required when scoring accounts (who in the team did it)",
                )
    bags = _property_bags(events) if property_columns or distinct_columns else []
    properties: dict[str, list[float]] = {}
    for column in property_columns:
        properties[column] = _property_values(events, bags, column)
    distinct: dict[str, list[Any]] = {}
    for column in distinct_columns:
        distinct[column] = [
            _id_value(
                (bag or {}).get(column, event.get(column)),
                f"events[{position}].properties.{column}",
            )
            for position, (event, bag) in enumerate(zip(events, bags, strict=True))
        ]
    if sessions.count(None) == len(sessions):
        session_ids = None
    elif _all_text(sessions):
        session_ids = sessions
    else:  # numbers (and missing ones) as text: 7 and "7" are one session
        session_ids = [s if type(s) is str else str(s) for s in sessions]
    return _ParsedEvents(
        names=names,
        time_ms=times,
        sessions=session_ids,
        users=[str(u) for u in users] if need_users else None,
        properties=properties,
        distinct=distinct,
    )


def _property_bags(events: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Every event's `properties`: an object or absent (None), else the event is named."""
    bags = [event.get("properties") for event in events]
    if not set(map(type, bags)) <= {dict, type(None)}:
        for position, bag in enumerate(bags):
            if bag is not None and not isinstance(bag, Mapping):
                raise InvalidInput(
                    f"events[{position}].properties",
                    f"expected an object, got {type(bag).__name__}",
                )
    return bags


def _all_text(values: list[Any]) -> bool:
    return set(map(type, values)) <= {str}


_NUMBER_TYPES = frozenset({int, float, type(None)})


def _property_values(
    events: Sequence[Mapping[str, Any]], bags: list[Any], column: str
) -> list[float]:
    """One property of every event (in `properties`, else at the top level), NaN if absent.

    The common request (numbers or nothing, no property at the top level) is read in a
    few C-level passes; anything else goes value by value and names the first bad one.
    """
    try:
        raws = [bag.get(column) if bag else None for bag in bags]
        at_top = any(map(operator.contains, events, repeat(column)))
    except (AttributeError, TypeError):  # not a mapping: said value by value below
        return _property_values_one_by_one(events, bags, column)
    if set(map(type, raws)) <= _NUMBER_TYPES and not at_top:
        try:
            numbers = np.array(raws, dtype=np.float64)  # None -> NaN
        except OverflowError:  # an integer beyond a float: named below
            numbers = None
        if numbers is not None and np.count_nonzero(~np.isfinite(numbers)) == raws.count(None):
            return numbers.tolist()
    return _property_values_one_by_one(events, bags, column)


def _property_values_one_by_one(
    events: Sequence[Mapping[str, Any]], bags: list[Any], column: str
) -> list[float]:
    values = []
    nan = float("nan")
    for position, bag in enumerate(bags):
        raw = bag[column] if bag and column in bag else events[position].get(column)
        if raw is None:
            values.append(nan)
        elif type(raw) is float and math.isfinite(raw):
            values.append(raw)
        else:
            values.append(_number(raw, f"events[{position}].properties.{column}"))
    return values


def epoch_ms_of_events(stamps: list[Any]) -> np.ndarray:
    """Epoch ms (floored) of every event's timestamp, read as a file column is read.

    One vectorised call for the whole request (UTC ISO texts by numpy, other forms by the
    column parser); the first value that does not read is named (`events[3].timestamp`).
    """
    try:
        return parse_time_list(stamps) // NS_PER_MS
    except NotATimeAt as error:
        raise InvalidInput(f"events[{error.position}].timestamp", str(error)) from None


def _number(value: Any, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(field_name, f"expected a number, got {type(value).__name__}")
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(field_name, f"{value!r} is not a number") from None
    except OverflowError:  # an integer beyond what a float holds (>= 2**1024)
        raise InvalidInput(field_name, "a number too large to use") from None
    if not math.isfinite(number):
        raise InvalidInput(field_name, f"{value} is not a finite number")
    return number


#: The most any count can be for one entity (a billion events is beyond any trial).
MAX_COUNT = 1e9


def feature_range(name: str) -> tuple[float, float]:
    """The values a feature can take, by what it measures (its name's ending)."""
    if name.startswith("activity_trend_"):  # activity_trend_7d, _28d, ...
        return (-1.0, 1.0)
    if name.endswith("_share_7d") or name.endswith("_share"):
        return (0.0, 1.0)
    if name.endswith(("_sum", "_max")):  # a property aggregate: any finite number
        return (-math.inf, math.inf)
    if "hours" in name or name == "tenure_days":
        return (0.0, 1e7)
    return (0.0, MAX_COUNT)  # counts, days, sessions, users, breadth, streaks


class EntityScorer:
    """Scores single entities for the HTTP service and the Python API."""

    def __init__(self, scorer: Scorer, model_version: str | None = None) -> None:
        self.scorer = scorer
        self.model_version = model_version
        self.definitions = scorer.bundle.definitions
        self.known_events = set(self.definitions.vocabulary)
        self.conversion_event = scorer.bundle.spec.label.conversion_event
        # what a request's events are read for, found once (not per request)
        self._property_columns = self.definitions.property_columns
        self._distinct_columns = self.definitions.distinct_columns

    def _result(
        self,
        entity_id: str,
        features: np.ndarray,
        as_of_ms: int,
        unknown: list[str],
        unseen: list[str] | None = None,
    ):
        scores = self.scorer.predict(features.reshape(1, -1))
        positive, negative = self.scorer.reasons(features.reshape(1, -1), scores)[0]
        fit_positive, fit_negative = self.scorer.fit_reasons(features.reshape(1, -1), scores)[0]
        return EntityScore(
            entity_id=entity_id,
            probability=float(scores.probability[0]),
            score=float(scores.score[0]),
            tier=str(scores.tier[0]),
            is_pql=bool(scores.is_pql[0]),
            as_of=_iso(as_of_ms),
            model_version=self.model_version,
            reasons=positive,
            negative_reasons=negative,
            context=self.scorer.writer.context(features.reshape(-1)),
            unknown_events=unknown,
            fit_reasons=fit_positive,
            negative_fit_reasons=fit_negative,
            unseen_attributes=unseen or [],
        )

    def score_events(
        self,
        entity_id: str,
        events: Sequence[Mapping[str, Any]],
        *,
        as_of: Any = None,
        signup_at: Any = None,
        converted_at: Any = None,
        trial_end_at: Any = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> EntityScore:
        """Features from raw events at `as_of` (default now), then score and reasons.

        An entity batch scoring would not score (signed up after `as_of`, converted
        before it, trial ended) gets the same status and reason here, not a score.
        """
        if not isinstance(entity_id, str) or not entity_id.strip():
            raise InvalidInput("entity_id", "a non-empty id is required")
        fit, unseen = self._attributes(attributes)
        as_of_ms = _now_ms() if as_of is None else to_epoch_ms(as_of, "as_of")
        if as_of_ms > _now_ms() + FUTURE_TOLERANCE_MS:
            raise InvalidInput("as_of", f"{_iso(as_of_ms)} is in the future")
        parsed = _parse_events(
            events,
            self._property_columns,
            need_users=self.definitions.account_level,
            distinct_columns=self._distinct_columns,
        )
        if signup_at is not None:
            signup_ms = to_epoch_ms(signup_at, "signup_at")
        elif len(parsed.time_ms):
            signup_ms = int(parsed.time_ms.min())
        else:
            raise InvalidInput("signup_at", "required when there are no events")
        converted_ms = None if converted_at is None else to_epoch_ms(converted_at, "converted_at")
        trial_end_ms = None if trial_end_at is None else to_epoch_ms(trial_end_at, "trial_end_at")
        unknown = sorted(set(parsed.names) - self.known_events - {self.conversion_event})
        reason = not_scored_reason(signup_ms, as_of_ms, converted_ms, trial_end_ms)
        if reason is not None:
            return EntityScore(
                entity_id=entity_id,
                probability=None,
                score=None,
                tier=None,
                is_pql=None,
                as_of=_iso(as_of_ms),
                model_version=self.model_version,
                reasons=[],
                negative_reasons=[],
                context=[],
                unknown_events=unknown,
                status="not scored",
                not_scored_reason=reason,
            )
        features = entity_features(
            self.definitions,
            event_names=parsed.names,
            time_ms=parsed.time_ms,
            signup_ms=signup_ms,
            as_of_ms=as_of_ms,
            converted_ms=converted_ms,
            session_ids=parsed.sessions,
            user_ids=parsed.users if self.definitions.account_level else None,
            properties=parsed.properties,
            distinct_values=parsed.distinct,
        )
        if fit is not None:
            features = np.concatenate([features, fit])
        return self._result(entity_id, features, as_of_ms, unknown, unseen)

    def _attributes(self, attributes: Mapping[str, Any] | None) -> tuple[np.ndarray | None, list]:
        """The request's fit attributes as model columns (None: a behaviour-only model,
        which takes none)."""
        encoding = self.scorer.bundle.encoding
        if not encoding:
            if attributes:
                name = next(iter(attributes))
                raise InvalidInput(f"attributes.{name}", "this model uses no fit attributes")
            return None, []
        return attribute_vector(encoding, attributes)

    def score_features(
        self,
        entity_id: str,
        features: Mapping[str, Any],
        attributes: Mapping[str, Any] | None = None,
    ) -> EntityScore:
        """Score a ready feature dict; missing `hours_*` mean "never", others are required.
        Fit attributes come in `attributes` (raw values), not among the features."""
        if not isinstance(entity_id, str) or not entity_id.strip():
            raise InvalidInput("entity_id", "a non-empty id is required")
        fit, unseen = self._attributes(attributes)
        names = self.scorer.bundle.definitions.names
        unknown = sorted(set(features) - set(names))
        if unknown:
            raise InvalidInput(f"features.{unknown[0]}", "not a feature of this model")
        vector = np.empty(len(names))
        for position, name in enumerate(names):
            value = features.get(name)
            if value is None:
                if "hours" not in name:
                    raise InvalidInput(f"features.{name}", "required")
                vector[position] = np.nan
                continue
            vector[position] = _number(value, f"features.{name}")
            low, high = feature_range(name)
            if not low <= vector[position] <= high:
                raise InvalidInput(
                    f"features.{name}",
                    f"{value} is outside what this feature can be ({low:g} to {high:g})",
                )
        if fit is not None:
            vector = np.concatenate([vector, fit])
        return self._result(entity_id, vector, _now_ms(), [], unseen)
