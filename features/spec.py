"""The product spec (`pql.yaml`): one typed, validated description of a product.

Why pydantic with `extra="forbid"`: a typo in a key (``horizon_day``) must stop the run
with the file, the key and a suggestion, not be silently ignored and train a model on
defaults. Paths inside the spec are resolved relative to the spec file so a spec and its
data can move together.
"""

from __future__ import annotations

import difflib
import re
import string
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pql.errors import DataError, SpecError

#: Placeholders a reason template may use; each is filled with the entity's own value.
REASON_PLACEHOLDERS = frozenset(
    {"count", "count_7d", "active_days", "hours_to_first", "days_since_last", "value", "action"}
    | {"users", "members"}
)
#: Placeholders only an account has: members who did the action, members seen so far.
ACCOUNT_PLACEHOLDERS = frozenset({"users", "members"})
#: A count over one of `features.windows_days` ("{count_28d}"); the window must exist.
WINDOW_PLACEHOLDER = re.compile(r"^count_([1-9][0-9]*)d$")
#: The recent window every spec has: account, momentum and trigger features use it.
BASE_WINDOW_DAYS = 7
MAX_WINDOW_DAYS = 365
MAX_WINDOWS = 6


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ActionKind(StrEnum):
    """What an action says about buying intent; sets the default monotone direction."""

    usage = "usage"
    collaboration = "collaboration"
    intent = "intent"
    limit = "limit"
    negative = "negative"


class Monotone(StrEnum):
    increasing = "increasing"
    decreasing = "decreasing"
    none = "none"


class EventColumns(_Strict):
    """Source column names for the canonical event fields."""

    user_id: str = "user_id"
    event: str = "event"
    timestamp: str = "timestamp"
    account_id: str | None = None
    session_id: str | None = None
    # A per-event plan / level column ("free", "paid"): conversion can be a move to a
    # paid plan (label.paid_plans), and the report counts users whose plan flips.
    plan: str | None = None
    # A per-event signup / registration time column (e.g. Sparkify's `registration`):
    # a user's signup is the earliest value, instead of their first event.
    signup_at: str | None = None


class TrialColumns(_Strict):
    """Source column names for the canonical trial fields.

    `converted_at` may be null, or absent from the file, when the label defines conversion
    from the events (`label.conversion_event`) or the plans (`label.paid_plans`): the
    table then says only who is in a trial and since when.
    """

    user_id: str = "user_id"
    account_id: str | None = None
    signup_at: str = "signup_at"
    converted_at: str | None = "converted_at"
    trial_end_at: str | None = None
    plan: str | None = None


FileFormat = Literal["auto", "csv", "parquet", "jsonl"]
#: Product-analytics exports `features.adapters` turns into canonical events.
EventFormat = Literal[
    "auto", "csv", "parquet", "jsonl", "segment", "mixpanel", "amplitude", "posthog"
]
VENDOR_FORMATS: tuple[str, ...] = ("segment", "mixpanel", "amplitude", "posthog")
#: What an adapter's rows are called; a vendor spec needs no `columns` at all.
VENDOR_COLUMNS = EventColumns(account_id="account_id")


#: "s3://bucket/events/", "abfss://...", "dbfs:/...": a location only a cluster reads.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/")


class _Source(_Strict):
    """Where a table lives: a local `path`, a `uri` (a path with a scheme, read by
    Spark), or a catalog `table` (also Spark). A `path` written with a scheme becomes
    `uri`, so `s3://b/k` is not squashed into a local path `s3:/b/k`."""

    path: Path | None = None
    uri: str | None = None
    table: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _uri_from_path(cls, data: Any) -> Any:
        path = data.get("path") if isinstance(data, dict) else None
        windows_drive = isinstance(path, str) and re.match(r"^[A-Za-z]:[\\/]", path)
        if isinstance(path, str) and _URI.match(path) and not windows_drive:
            return {**{k: v for k, v in data.items() if k != "path"}, "uri": path}
        return data

    @model_validator(mode="after")
    def _one_location(self) -> _Source:
        given = [name for name in ("path", "uri", "table") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'path' (a file or folder, or a cloud URI) and 'table' "
                "(a catalog table, read with --engine spark)"
            )
        return self

    @property
    def location(self) -> str:
        """The path, URI or table, for messages."""
        return str(self.path or self.uri or self.table)

    def local_path(self, key: str) -> Path:
        """The local file pql reads itself; a URI or table needs --engine spark."""
        if self.path is not None:
            return self.path
        what = f"table {self.table!r}" if self.table else f"'{self.uri}'"
        raise DataError(
            f"{key}: {what} is read by Spark, not by the local engine: run with "
            "--engine spark (pip install 'pql-leads[spark]'), or copy the data to a local "
            f"file and set {key}.path"
        )


class EventSource(_Source):
    format: EventFormat = "auto"
    encoding: str = "utf-8"
    columns: EventColumns = EventColumns()

    @model_validator(mode="before")
    @classmethod
    def _vendor_defaults(cls, data: Any) -> Any:
        """A vendor export has an account column (its group id) by default; columns
        given in the spec override the defaults one by one (`account_id: null` unsets)."""
        if isinstance(data, dict) and data.get("format") in VENDOR_FORMATS:
            given = data.get("columns")
            if given is None or isinstance(given, dict):
                defaults = VENDOR_COLUMNS.model_dump(exclude_none=True)
                return {**data, "columns": {**defaults, **(given or {})}}
        return data

    @property
    def is_vendor(self) -> bool:
        return self.format in VENDOR_FORMATS


class TrialSource(_Source):
    format: FileFormat = "auto"
    encoding: str = "utf-8"
    columns: TrialColumns = TrialColumns()


#: What an attribute is to the model: a category (native LightGBM categorical), a
#: number, or the e-mail kind (work / personal / unknown) derived from a column of
#: e-mail addresses or domains.
AttributeKind = Literal["categorical", "numeric", "email_kind"]
#: The one placeholder a fit phrase may use: the entity's own value of the attribute.
ATTRIBUTE_PLACEHOLDERS = frozenset({"value"})


class AttributeColumn(_Strict):
    """One fit attribute: its kind, its source column and how a reason states it."""

    kind: AttributeKind
    #: the table's column (default: the attribute's own name)
    column: Annotated[str, Field(min_length=1)] | None = None
    #: the fit reason, e.g. "Company of {value} employees" ({value}: the entity's value)
    reason: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    #: a phrase per level, e.g. {work: "Signed up with a work e-mail"}; wins over `reason`
    phrases: dict[str, Annotated[str, Field(min_length=1, max_length=120)]] = Field(
        default_factory=dict, max_length=200
    )

    @field_validator("reason")
    @classmethod
    def _value_only(cls, template: str | None) -> str | None:
        if template is None:
            return None
        try:
            names = _placeholders(template)
        except ValueError as exc:
            raise ValueError(f"template {template!r} is malformed: {exc}") from None
        if names - ATTRIBUTE_PLACEHOLDERS:
            raise ValueError(
                f"template {template!r}: the only placeholder is {{value}} (the entity's value)"
            )
        return template

    @field_validator("phrases")
    @classmethod
    def _plain_phrases(cls, phrases: dict[str, str]) -> dict[str, str]:
        for level, text in phrases.items():
            if "{" in text or "}" in text:
                raise ValueError(f"phrase for {level!r}: plain words only (no {{placeholders}})")
        return phrases


class AttributeSource(_Source):
    """A table of per-user or per-account attributes (fit: who the lead is).

    With `valid_from`, a row holds from that time on: a row scored at `as_of` sees the
    latest row of its entity strictly before `as_of`. Without it, each id has one row,
    taken as known at signup."""

    format: FileFormat = "auto"
    encoding: str = "utf-8"
    level: Literal["user", "account"] = "user"
    #: the id column (default: user_id for level user, account_id for level account)
    id: Annotated[str, Field(min_length=1)] | None = None
    #: the column saying since when a row's values are known (valid_from / updated_at)
    valid_from: Annotated[str, Field(min_length=1)] | None = None
    columns: Annotated[dict[str, AttributeColumn], Field(min_length=1, max_length=100)]
    #: categorical levels seen on fewer training rows than this are pooled into "other"
    min_level_rows: Annotated[int, Field(ge=1)] = 50

    @property
    def id_column(self) -> str:
        return self.id or f"{self.level}_id"


class DataSources(_Strict):
    events: EventSource
    trials: TrialSource | None = None
    #: fit attributes: one table or a list (e.g. one per user, one per account)
    attributes: list[AttributeSource] = Field(default_factory=list, max_length=10)
    #: Where the observed data ends: labels run to it (a conversion up to this time is
    #: known) and training cutoffs stop at it. Default: the last event, or the trials
    #: table's latest conversion when that is later. A time without a zone is UTC.
    end_at: datetime | None = None

    @field_validator("attributes", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @field_validator("end_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Label(_Strict):
    """Conversion comes from the trials table when there is one, else from this event."""

    conversion_event: str | None = None
    # Conversion as a plan change: the first event on one of these plans (needs
    # data.events.columns.plan). With conversion_event too, the earlier of the two counts.
    paid_plans: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    # Users already on a paid plan when first seen were never trials: not entities
    # (counted in the report). Only meaningful with paid_plans.
    exclude_paying_at_start: bool = True
    horizon_days: Annotated[float, Field(gt=0, le=365)] = 14


class Action(_Strict):
    """A key in-product action: which events count, what it means, how to explain it."""

    events: Annotated[list[str], Field(min_length=1)]
    kind: ActionKind = ActionKind.usage
    property: str | None = None
    #: sum / max of a numeric property, or `distinct`: how many different values (item
    #: ids, documents, collaborators) the entity's events of this action carried
    aggregate: Literal["sum", "max", "distinct"] | None = None
    reason: str | None = None
    negative_reason: str | None = None
    #: how the action reads once done, in the past tense ("uploaded a file"); the
    #: default comes from the action's name
    label: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    #: the sentence for an action not done yet ("Has not uploaded a file yet")
    absent_reason: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    monotone: Monotone | None = None

    @model_validator(mode="after")
    def _property_needs_aggregate(self) -> Action:
        if (self.property is None) != (self.aggregate is None):
            raise ValueError("'property' and 'aggregate' go together: give both or neither")
        return self

    @field_validator("reason", "negative_reason")
    @classmethod
    def _known_placeholders(cls, template: str | None) -> str | None:
        if template is None:
            return template
        try:
            parts = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise ValueError(f"template {template!r} is malformed: {exc}") from None
        for _, field_name, format_spec, conversion in parts:
            if field_name is not None and (format_spec or conversion):
                raise ValueError(
                    f"template {template!r}: write placeholders as {{name}} only "
                    "(no format specifications or conversions)"
                )
        names = {name for _, name, _, _ in parts if name}
        unknown = {n for n in names - REASON_PLACEHOLDERS if not WINDOW_PLACEHOLDER.match(n)}
        if unknown:
            raise ValueError(
                f"template {template!r} uses unknown placeholder(s) {sorted(unknown)}; "
                f"allowed: {sorted(REASON_PLACEHOLDERS)}"
            )
        return template

    @field_validator("label", "absent_reason")
    @classmethod
    def _plain_text(cls, text: str | None) -> str | None:
        if text is not None and ("{" in text or "}" in text):
            raise ValueError(f"{text!r}: plain words only (no {{placeholders}})")
        return text

    def direction(self) -> Monotone:
        """The monotone constraint training applies to this action's count features."""
        if self.monotone is not None:
            return self.monotone
        if self.kind is ActionKind.negative:
            return Monotone.decreasing
        return Monotone.increasing


class PqlThreshold(_Strict):
    """Who counts as a PQL: a calibrated probability, or the top percent of scored users."""

    threshold: Annotated[float, Field(gt=0, lt=1)] | None = None
    top_percent: Annotated[float, Field(gt=0, le=100)] | None = None
    warm_percent: Annotated[float, Field(gt=0, le=100)] = 30.0

    @model_validator(mode="after")
    def _one_rule(self) -> PqlThreshold:
        if self.threshold is not None and self.top_percent is not None:
            raise ValueError("give either 'threshold' or 'top_percent', not both")
        return self


class RuleSpec(_Strict):
    """A rule-based PQL condition over features (parsed safely by `features.rules`)."""

    name: Annotated[str, Field(min_length=1)]
    when: Annotated[str, Field(min_length=1)]
    reason: str | None = None


#: A freemium spec cuts at most this many rows per entity (the row count stays bounded).
MAX_FREEMIUM_AGES = 400


class FreemiumRows(_Strict):
    """Where freemium training rows are cut: at calendar dates every `every_days` from
    the first event, each still-free entity at most `max_age_days` old
    (`features.calendar_rows`); at most `max_age_days / every_days` rows per entity."""

    every_days: Annotated[float, Field(gt=0, le=365)] = 14
    max_age_days: Annotated[float, Field(gt=0, le=3650)] = 365

    @model_validator(mode="after")
    def _bounded(self) -> FreemiumRows:
        if self.max_age_days / self.every_days > MAX_FREEMIUM_AGES:
            raise ValueError(
                f"max_age_days / every_days is {self.max_age_days / self.every_days:,.0f} "
                f"cutoffs per entity; at most {MAX_FREEMIUM_AGES} (raise every_days)"
            )
        return self


class FeatureSettings(_Strict):
    session_gap_minutes: Annotated[float, Field(gt=0)] = 30.0
    #: Recent windows in whole days. 7 is always one of them (the account, momentum and
    #: trigger features read it); each other length N adds `<action>_count_<N>d`,
    #: `events_count_<N>d`, `activity_trend_<N>d` and (N >= 2) `active_days_<N>d`.
    windows_days: list[Annotated[int, Field(ge=1, le=MAX_WINDOW_DAYS)]] = [BASE_WINDOW_DAYS]

    @field_validator("windows_days")
    @classmethod
    def _windows(cls, days: list[int]) -> list[int]:
        if len(set(days)) != len(days):
            raise ValueError(f"window lengths must be distinct, got {days}")
        if BASE_WINDOW_DAYS not in days:
            raise ValueError(
                f"must include {BASE_WINDOW_DAYS} (the window the account, momentum and "
                f"trigger features use), e.g. [1, 7, 28]; got {days}"
            )
        if len(days) > MAX_WINDOWS:
            raise ValueError(f"at most {MAX_WINDOWS} windows, got {len(days)}")
        return sorted(days)


class OutputSettings(_Strict):
    """What the leads file, the HTML report and alerts carry beside the scores."""

    #: attribute columns to route leads by (company_size, country, ...): as known at as_of
    attributes: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, max_length=20
    )


class Split(_Strict):
    validation_fraction: Annotated[float, Field(gt=0, lt=0.5)] = 0.2
    test_fraction: Annotated[float, Field(gt=0, lt=0.5)] = 0.2
    #: signup: entities apart, later signups held out; cutoff: rows by cutoff time with
    #: a purge gap, so later life is tested on earlier life (`training.time_split`)
    by: Literal["signup", "cutoff"] = "signup"


class ModelSettings(_Strict):
    seed: int = 42
    min_positives: Annotated[int, Field(ge=1)] = 50
    #: LightGBM overrides: a flat mapping of parameter names to numbers, text or booleans
    params: dict[str, Any] = Field(default_factory=dict, max_length=100)

    @field_validator("params")
    @classmethod
    def _flat_scalars(cls, params: dict[str, Any]) -> dict[str, Any]:
        for name, value in params.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", str(name)):
                raise ValueError(f"{name!r}: not a LightGBM parameter name")
            if not isinstance(value, bool | int | float | str) or (
                isinstance(value, str) and len(value) > 200
            ):
                raise ValueError(
                    f"{name}: expected a number, short text or true/false, "
                    f"got {type(value).__name__}"
                )
        return params

    split: Split = Split()
    #: Share of negative training rows kept (1 = all). Below 1, every positive row is
    #: kept, negative rows of the train and validation splits are kept at this rate
    #: (fixed by `seed`) and weighted 1/rate in LightGBM and in calibration; the test
    #: split is never sampled (see docs/reference/training-scale.md).
    negative_sample: Annotated[float, Field(gt=0, le=1)] = 1.0


class Spec(_Strict):
    """A validated product spec. `base_dir` is the folder relative paths resolve against."""

    product: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    entity: Literal["user", "account"] = "user"
    data: DataSources
    label: Label = Label()
    snapshots_days: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)] = [
        1,
        3,
        7,
        14,
    ]
    #: trial (a fixed length) or freemium (free with no end); unset: inferred from the
    #: data (`features.shape`)
    shape: Literal["trial", "freemium"] | None = None
    #: the trial's length in days, when every trial has the same (no trials table needed)
    trial_days: Annotated[float, Field(gt=0, le=365)] | None = None
    freemium: FreemiumRows = FreemiumRows()
    actions: Annotated[dict[str, Action], Field(min_length=1)]
    pql: PqlThreshold = PqlThreshold(top_percent=10)
    rules: list[RuleSpec] = Field(default_factory=list)
    features: FeatureSettings = FeatureSettings()
    model: ModelSettings = ModelSettings()
    #: The product's time zone (IANA name): active days and streaks count its local
    #: calendar days. Cutoffs and windows are exact instants whatever the zone.
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            hint = difflib.get_close_matches(name, _zone_names(), n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ValueError(
                f"{name!r} is not a known IANA time zone{suggestion}; e.g. UTC, "
                "Europe/Berlin, Asia/Shanghai"
            ) from None
        return name

    output: OutputSettings = OutputSettings()

    @field_validator("snapshots_days")
    @classmethod
    def _sorted_unique(cls, days: list[float]) -> list[float]:
        if len(set(days)) != len(days):
            raise ValueError(f"snapshot days must be distinct, got {days}")
        return sorted(days)

    @field_validator("actions")
    @classmethod
    def _action_names(cls, actions: dict[str, Action]) -> dict[str, Action]:
        for name in actions:
            if not name.isidentifier() or name != name.lower():
                raise ValueError(
                    f"action name {name!r} must be lower_snake_case (it becomes a feature prefix)"
                )
        return actions

    @field_validator("trial_days")
    @classmethod
    def _trial_days_need_a_trial(cls, days: float | None, info: ValidationInfo) -> float | None:
        if days is not None and info.data.get("shape") == "freemium":
            raise ValueError("a trial's length, but shape is freemium: remove one of the two")
        return days

    @model_validator(mode="after")
    def _label_source(self) -> Spec:
        if self.data.trials is None and not (self.label.conversion_event or self.label.paid_plans):
            raise ValueError(
                "no way to know who converted: set 'label.conversion_event' or "
                "'label.paid_plans', or give a 'data.trials' table with 'converted_at'"
            )
        if self.label.paid_plans and self.data.events.columns.plan is None:
            raise ValueError(
                "'label.paid_plans' needs 'data.events.columns.plan' (the column that "
                "holds each event's plan or level)"
            )
        trials = self.data.trials
        events_convert = bool(self.label.conversion_event or self.label.paid_plans)
        if trials is not None and trials.columns.converted_at is None and not events_convert:
            raise ValueError(
                "'data.trials.columns.converted_at' is null, so conversions must come from "
                "the events: set 'label.conversion_event' or 'label.paid_plans'"
            )
        if self.entity == "account" and self.data.events.columns.account_id is None:
            raise ValueError("entity 'account' needs 'data.events.columns.account_id'")
        for name, action in self.actions.items():
            for template in (action.reason, action.negative_reason):
                for field in _placeholders(template or ""):
                    window = WINDOW_PLACEHOLDER.match(field)
                    if window and int(window.group(1)) not in self.features.windows_days:
                        raise ValueError(
                            f"action '{name}': placeholder {{{field}}} needs the window "
                            f"{window.group(1)} in 'features.windows_days' "
                            f"(now {self.features.windows_days})"
                        )
        if self.entity == "user":
            for name, action in self.actions.items():
                for template in (action.reason, action.negative_reason):
                    used = _placeholders(template or "") & ACCOUNT_PLACEHOLDERS
                    if used:
                        raise ValueError(
                            f"action '{name}': placeholder(s) {sorted(used)} exist only for "
                            "entity 'account' (members of a team)"
                        )
        return self

    @property
    def registered_model_name(self) -> str:
        return f"pql-{self.product}"

    @property
    def property_columns(self) -> list[str]:
        """Event property columns the actions aggregate (loaded, the rest is not)."""
        return sorted({a.property for a in self.actions.values() if a.property})

    @property
    def distinct_columns(self) -> list[str]:
        """Property columns an action counts distinct values of: read as text ids."""
        return sorted(
            {a.property for a in self.actions.values() if a.property and a.aggregate == "distinct"}
        )


def _zone_names() -> list[str]:
    """Known IANA zone names, for a 'did you mean' hint (empty if the system has none)."""
    from zoneinfo import available_timezones

    try:
        return sorted(available_timezones())
    except OSError:
        return []


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names valid at the parent of `loc`, for 'did you mean' hints."""
    model: type[BaseModel] | None = Spec
    free_key_next = False  # inside a mapping such as `actions`, the next part is a name
    for part in loc[:-1]:
        if free_key_next or isinstance(part, int):
            free_key_next = False
            continue
        if model is None or part not in model.model_fields:
            return []
        annotation = model.model_fields[part].annotation
        free_key_next = getattr(annotation, "__origin__", None) is dict
        model = _model_in(annotation)
    return list(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _describe(error: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    where = _location(loc)
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        hint = difflib.get_close_matches(key, _allowed_keys(loc), n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        return f"key '{where}': unknown key{suggestion}"
    if error["type"] == "missing":
        return f"key '{where}': required but missing"
    message = error["msg"].removeprefix("Value error, ")
    return f"key '{where}': {message}"


def parse_spec(raw: Any, *, source: str = "<spec>", base_dir: Path | None = None) -> Spec:
    """Validate an already-parsed mapping; every problem is listed, each with its key."""
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: the spec must be a YAML mapping, got {type(raw).__name__}")
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as exc:
        problems = "\n".join(f"  - {_describe(dict(e))}" for e in exc.errors())
        raise SpecError(f"{source}: invalid spec\n{problems}") from None
    _check_rules(spec, source)
    if spec.data.attributes or spec.output.attributes:
        from pql.features.attributes import check_attribute_spec

        check_attribute_spec(spec, source)
    return _resolve_paths(spec, base_dir) if base_dir is not None else spec


def _check_rules(spec: Spec, source: str) -> None:
    """Rules may only read features this spec defines; say which rule and key is wrong."""
    if not spec.rules:
        return
    from pql.features.definitions import FeatureDefinitions
    from pql.features.rules import RuleError, parse_rule

    names = FeatureDefinitions.from_spec(spec).names
    for position, rule in enumerate(spec.rules):
        try:
            parse_rule(rule.when, names)
        except RuleError as exc:
            raise SpecError(f"{source}: key 'rules.{position}.when': {exc}") from None


def _resolve_paths(spec: Spec, base_dir: Path) -> Spec:
    def resolved(path: Path | None) -> Path | None:
        return path if path is None or path.is_absolute() else (base_dir / path)

    events = spec.data.events.model_copy(update={"path": resolved(spec.data.events.path)})
    trials = spec.data.trials
    if trials is not None:
        trials = trials.model_copy(update={"path": resolved(trials.path)})
    attributes = [a.model_copy(update={"path": resolved(a.path)}) for a in spec.data.attributes]
    data = spec.data.model_copy(update={"events": events, "trials": trials})
    if attributes:
        data = data.model_copy(update={"attributes": attributes})
    return spec.model_copy(update={"data": data})


#: A spec is a small document: bounds that no real spec comes near, but that stop a
#: few kilobytes of YAML from expanding into gigabytes (aliases) or a RecursionError.
MAX_ALIASES = 100
MAX_DEPTH = 20


def _check_yaml_shape(text: str, path: Path) -> None:
    """Refuse alias bombs and deep nesting before anything is built from the text."""
    depth = aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise SpecError(
                    f"{path}: more than {MAX_ALIASES} YAML aliases (*name); write the values out"
                )
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else "?"
                raise SpecError(f"{path}: nested deeper than {MAX_DEPTH} levels at line {line}")
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1


def load_spec(path: str | Path) -> Spec:
    """Read and validate `pql.yaml`; errors name the file, the key and the problem."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        _check_yaml_shape(text, path)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{path}: not valid YAML{where}: {problem}") from None
    if raw is None:
        raise SpecError(f"{path}: the spec file is empty")
    return parse_spec(raw, source=str(path), base_dir=path.parent)
