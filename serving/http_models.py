"""Request and response bodies of the HTTP scoring service, and the limits they enforce.

Typed pydantic models on both sides are what make the service fast as well as safe:
BentoML validates the JSON body straight into `ScoreRequest` (pydantic-core, no
intermediate Python dict of the JSON) and the answer is serialised once by pydantic;
an untyped `dict` in or out makes BentoML build a JSON schema and a TypeAdapter on
every request.

Only the *shape* is checked here (types, sizes, finite numbers, no unknown keys), so a
malformed request is a 400 naming its field before any work is done. What the values
*mean* (is the time readable, is it in the future, is the feature known to the model)
is checked by `serving.entity`, the same code the Python API uses, and answered 422.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, model_validator, with_config
from pydantic_core import PydanticCustomError, core_schema
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

#: Raw events accepted for one entity (one request, or one item of a batch).
MAX_EVENTS_PER_ENTITY = 10_000
#: Entities in one /score_batch request.
MAX_BATCH_ITEMS = 100
#: Raw events over all items of one /score_batch request.
MAX_BATCH_EVENTS = 50_000
#: Request body size in bytes, checked before the body is read (413 above it).
MAX_BODY_BYTES = 4 * 1024 * 1024
#: Entries of a `features` dict.
MAX_FEATURES = 1_000
#: Entries of one event's `properties`.
MAX_PROPERTIES = 64
#: Length of ids, event names and timestamp text.
MAX_ID_LENGTH = 256
MAX_TIME_TEXT = 64

ISO_EXAMPLE = "2026-03-01T09:30:00Z"
#: Shown in the OpenAPI document (BentoML's schema objects take no model-level examples).
SCORE_EXAMPLE = {
    "entity_id": "u0001234",
    "events": [
        {"event": "project_created", "timestamp": ISO_EXAMPLE, "session_id": "s1"},
        {"event": "teammate_invited", "timestamp": 1772443800, "session_id": "s2"},
    ],
    "as_of": "2026-03-03T00:00:00Z",
}


class _OneOf:
    """A union validated in pydantic-core, with one clear error instead of one per member.

    Plain `str | int | float` would report three errors for one bad value ("not a valid
    string", "not a valid integer", ...), and a Python validator would cost a call per
    event; this stays native (strict: no "1" for 1, no bool for int, no NaN or inf).
    """

    def __init__(
        self, choices: list[Any], error: str, message: str, schema: dict[str, Any]
    ) -> None:
        self.choices, self.error, self.message, self.schema = choices, error, message, schema

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.union_schema(
            self.choices,
            custom_error_type=self.error,
            custom_error_message=self.message,
            mode="left_to_right",  # strict choices never overlap: the first match is it
        )

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        return dict(self.schema)


# Only the type is checked here; which texts and numbers are times (and the messages)
# is pql's one timestamp parser, the same as for files and --as-of (a 422 naming the field).
Timestamp = Annotated[
    str | int | float,
    _OneOf(
        [
            core_schema.str_schema(max_length=MAX_TIME_TEXT, strict=True),
            core_schema.int_schema(strict=True),
            core_schema.float_schema(strict=True, allow_inf_nan=False),
        ],
        "timestamp_type",
        f"expected a time: text (at most {MAX_TIME_TEXT} characters) or an epoch number",
        {
            "anyOf": [{"type": "string", "maxLength": MAX_TIME_TEXT}, {"type": "number"}],
            "description": "ISO 8601 (a time without zone is UTC), epoch seconds, milliseconds, "
            "microseconds or nanoseconds (the unit follows from the magnitude), RFC 2822 or an "
            "unambiguous US date; the accepted forms are listed in docs/reference/timestamps.md",
            "examples": [ISO_EXAMPLE, 1772357400, 1772357400000, 1772357400000000],
        },
    ),
]
Identifier = Annotated[
    str | int,
    _OneOf(
        [
            core_schema.str_schema(min_length=1, max_length=MAX_ID_LENGTH, strict=True),
            core_schema.int_schema(strict=True),
        ],
        "id_type",
        f"expected non-empty text (at most {MAX_ID_LENGTH} characters) or an integer",
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
                {"type": "integer"},
            ]
        },
    ),
]
PropertyValue = Annotated[
    str | int | float | bool | None,
    _OneOf(
        [
            core_schema.str_schema(max_length=MAX_ID_LENGTH, strict=True),
            core_schema.bool_schema(strict=True),
            core_schema.int_schema(strict=True),
            core_schema.float_schema(strict=True, allow_inf_nan=False),
            core_schema.none_schema(),
        ],
        "property_type",
        f"expected text (at most {MAX_ID_LENGTH} characters), a finite number, true/false or null",
        {
            "anyOf": [
                {"type": "string", "maxLength": MAX_ID_LENGTH},
                {"type": "number"},
                {"type": "boolean"},
                {"type": "null"},
            ]
        },
    ),
]


#: Strict input: no type coercion, no unknown keys (a typo is an error, not a no-op).
STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class _Request(BaseModel):
    model_config = ConfigDict(**STRICT, frozen=True)


# A TypedDict, not a model: validated as strictly, but it stays the plain dict the scorer
# reads (no model object per event: 200 events parse some 100 us faster).
@with_config(STRICT)
class Event(TypedDict):
    """One raw product event of the entity being scored."""

    event: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_ID_LENGTH,
            description="Event name as the product logs it; names no action counts are "
            "ignored and listed in the answer's `unknown_events`.",
            examples=["teammate_invited"],
        ),
    ]
    timestamp: Annotated[Timestamp, Field(description="When it happened.")]
    session_id: NotRequired[
        Annotated[Identifier | None, Field(description="Session, for session counts.")]
    ]
    user_id: NotRequired[
        Annotated[
            Identifier | None,
            Field(description="Acting user (account-level models count active users)."),
        ]
    ]
    properties: NotRequired[
        Annotated[
            dict[str, PropertyValue] | None,
            Field(
                max_length=MAX_PROPERTIES,
                description="Event properties; the numeric ones the spec aggregates "
                "(e.g. bytes) and the ids it counts distinct values of (e.g. item_id) "
                "are used.",
                examples=[{"bytes": 52_000}],
            ),
        ]
    ]


class ScoreRequest(_Request):
    """One entity: its raw `events` (features computed here) or a ready `features` dict."""

    entity_id: str = Field(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="The user or account being scored (echoed back).",
        examples=["u0001234"],
    )
    events: list[Event] | None = Field(
        default=None,
        max_length=MAX_EVENTS_PER_ENTITY,
        description=f"Raw events (at most {MAX_EVENTS_PER_ENTITY:,}). Only events before "
        "`as_of` count; none may lie in the future. Give `events` or `features`, not both; "
        "neither means no events yet (then `signup_at` is required).",
    )
    features: dict[str, float | None] | None = Field(
        default=None,
        max_length=MAX_FEATURES,
        description="Ready feature values by name (GET /model lists them); a missing or null "
        "`*_hours_*` feature means it never happened, every other feature is required.",
        examples=[{"tenure_days": 3.0, "events_count": 42.0}],
    )
    as_of: Timestamp | None = Field(
        default=None, description="Score as of this time (default: now). Events only."
    )
    signup_at: Timestamp | None = Field(
        default=None, description="Trial start (default: the first event). Events only."
    )
    converted_at: Timestamp | None = Field(
        default=None, description="Conversion time, when known: later events are not used."
    )
    trial_end_at: Timestamp | None = Field(
        default=None, description="End of the trial, when it has one. Events only."
    )
    attributes: dict[str, PropertyValue] | None = Field(
        default=None,
        max_length=MAX_FEATURES,
        description="Fit attributes of a model trained with `data.attributes`, by name "
        "(GET /model lists them): a category as text, a number as a number; an e-mail "
        "kind as work/personal/unknown or the address itself. Missing means unknown; a "
        "level training never saw is scored as 'other' and listed in `unseen_attributes`.",
        examples=[{"company_size": "201-500", "country": "DE", "email_kind": "ann@acme.io"}],
    )


class BatchRequest(_Request):
    """Several entities in one request; answered in the same order."""

    items: list[ScoreRequest] = Field(
        min_length=1,
        max_length=MAX_BATCH_ITEMS,
        description=f"1 to {MAX_BATCH_ITEMS} entities, at most {MAX_BATCH_EVENTS:,} events in all.",
    )

    @model_validator(mode="after")
    def _bounded_events(self) -> BatchRequest:
        total = sum(len(item.events or ()) for item in self.items)
        if total > MAX_BATCH_EVENTS:
            raise PydanticCustomError(
                "too_many_events",
                "{total} events in all; at most {limit} per batch",
                {"total": total, "limit": MAX_BATCH_EVENTS},
            )
        return self


class ReasonOut(BaseModel):
    """Why the score is what it is: one action (or activity group) and its pull."""

    action: str = Field(description="Action or activity group, as named in the spec.")
    value: float | None = Field(description="The entity's own value the text talks about.")
    contribution: float = Field(description="Exact TreeSHAP contribution, in log-odds.")
    text: str = Field(description="Plain-language reason for a sales rep.")
    measure: str | None = Field(
        default=None, description="The feature whose value the text states."
    )


class FitReasonOut(BaseModel):
    """Who the lead is: one fit attribute, the entity's own value, and its pull."""

    attribute: str = Field(description="The fit attribute, as named in the spec.")
    value: str | float = Field(description="The entity's level (text) or number.")
    contribution: float = Field(description="Exact TreeSHAP contribution, in log-odds.")
    text: str = Field(description="Plain-language fit reason for a sales rep.")


class ScoreResponse(BaseModel):
    """Score, tier, PQL flag and reasons for one entity."""

    entity_id: str
    status: Literal["scored", "not scored"] = Field(
        description="'not scored': batch scoring would not score it either (see the reason)."
    )
    not_scored_reason: str | None = Field(
        description="signed up after as_of, already converted before as_of, or trial ended "
        "before as_of (the same words as the leads file); null when scored."
    )
    probability: float | None = Field(
        ge=0, le=1, description="Calibrated conversion probability (null when not scored)."
    )
    score: float | None = Field(
        ge=0,
        le=100,
        description="0-100, one decimal: 50 = the median training row, 100 = the highest "
        "seen in training; ranks leads (null when not scored).",
    )
    tier: Literal["hot", "warm", "cold"] | None
    is_pql: bool | None = Field(description="At or above the model's PQL threshold (tier hot).")
    model_version: str | None = Field(description="Registry version of the model that scored.")
    model_status: str = Field(
        description="champion, or what else the model is (not promoted, refused by the gate)."
    )
    as_of: str = Field(description="The time the features were computed for (ISO 8601, UTC).")
    reasons: list[ReasonOut] = Field(max_length=3, description="Why high, strongest first.")
    negative_reasons: list[ReasonOut] = Field(
        max_length=2, description="What holds it back, strongest first."
    )
    context: list[str] = Field(
        description="Time facts beside the reasons (signed up, last active): not reasons."
    )
    unknown_events: list[str] = Field(
        description="Event names no action of the spec counts: ignored, listed so typos show."
    )
    fit_reasons: list[FitReasonOut] = Field(
        default_factory=list,
        max_length=2,
        description="Who the lead is (fit attributes) that raises the score, apart from "
        "behaviour; empty for a behaviour-only model.",
    )
    negative_fit_reasons: list[FitReasonOut] = Field(
        default_factory=list, max_length=1, description="Fit that holds the score back."
    )
    unseen_attributes: list[str] = Field(
        default_factory=list,
        description="Attributes whose level training never saw: scored as the pooled 'other'.",
    )


class BatchResponse(BaseModel):
    """Scores in request order."""

    items: list[ScoreResponse]
    model_version: str | None


class TiersOut(BaseModel):
    hot: float = Field(description="Probability at or above which a lead is hot (= PQL).")
    warm: float = Field(description="Probability at or above which a lead is warm.")


class LimitsOut(BaseModel):
    max_events_per_entity: int = MAX_EVENTS_PER_ENTITY
    max_batch_items: int = MAX_BATCH_ITEMS
    max_batch_events: int = MAX_BATCH_EVENTS
    max_body_bytes: int = MAX_BODY_BYTES


class ModelInfo(BaseModel):
    """The model this process serves, and where it came from."""

    name: str | None = Field(description="Registered model name, e.g. pql-simulated.")
    version: str | None = Field(description="Registry version.")
    run_id: str | None = Field(description="MLflow run that trained it.")
    uri: str = Field(description="What was loaded: a models:/ URI or a packed Bento model tag.")
    source: Literal["registry", "bento"]
    status: str = Field(
        description="champion, not promoted, refused by the gate (with why), or not registered"
    )
    product: str
    entity: str = Field(description="user or account")
    trained_at: str
    metrics: dict[str, float] = Field(description="Held-out test metrics from training.")
    threshold: float = Field(description="PQL threshold on the calibrated probability.")
    tiers: TiersOut
    features: list[str] = Field(description="Feature names, in model order.")
    attributes: dict[str, str] = Field(
        default_factory=dict,
        description="Fit attributes the model uses (send them in `attributes`): name -> kind.",
    )
    limits: LimitsOut = Field(default_factory=LimitsOut)


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    loc: list[str | int] = Field(description="Path of the field in the request body.")
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every 4xx answer: `field` names the offending request field when there is one."""

    error: str = Field(description="What is wrong, in one line.")
    field: str | None = Field(
        default=None,
        description="Path of the offending field, e.g. items[3].events[0].timestamp.",
        examples=["events[0].timestamp"],
    )
    detail: list[ErrorDetail] | None = None
