"""The data-quality report: what was read, what could not be used and why.

Nothing is dropped silently (DESIGN section 2): every row read is either usable or
counted under a reason, and rows that load fine but cannot feed features (events before
signup, after conversion, of users with no trial) are counted too. The same report is
printed by `pql validate`, returned to Python callers and logged to MLflow by training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from pql.features.adapters.core import (
    ANONYMOUS,
    DUPLICATE_INSERT,
    IDENTITY_RECORD,
    SHARED_ANONYMOUS,
)
from pql.features.ingest import (
    BAD_TIMESTAMP,
    DUPLICATE,
    MISSING_ACCOUNT,
    MISSING_EVENT,
    MISSING_USER,
)

BEFORE_SIGNUP = "before signup (clock skew)"
PAYING_AT_START = "already paying when first seen (not a trial)"

#: Why each kind of row is not used, in words a data owner can act on. Keys are the
#: reasons of the ingest report and the "not used in features" counts (a key that ends
#: one of these labels, e.g. "user_id already paying ...", gets its explanation).
EXPLANATIONS: dict[str, str] = {
    MISSING_USER: "logged-out or anonymous traffic (no user id): nobody to attribute it to",
    MISSING_ACCOUNT: "events with no account id cannot count towards an account",
    MISSING_EVENT: "events without a name cannot match any action",
    BAD_TIMESTAMP: "a time that cannot be read cannot be placed before or after a cutoff",
    DUPLICATE: "identical in every column to an earlier row (a re-sent or late-arriving "
    "copy); the first copy is kept",
    IDENTITY_RECORD: "identify / alias / merge records say which ids are one person; they "
    "were used to join anonymous activity to users, and are not product actions",
    DUPLICATE_INSERT: "the export repeats an insert id (a retry or a late-arriving copy of an "
    "event already read); the first copy is kept, as the vendor de-duplicates",
    ANONYMOUS: "activity of an anonymous / device id that never logged in or was never "
    "linked to a user id: it cannot be attributed to anyone",
    SHARED_ANONYMOUS: "a device or anonymous id several users logged in on, with the event "
    "between two different users' logins (or without a readable time): it could be "
    "either of them, so it is not credited to one",
    BEFORE_SIGNUP: "timed before the entity's signup: a device clock behind, or events "
    "logged before the signup was recorded; features start at signup",
    "at or after conversion": "a paying customer's behaviour says nothing about whether a "
    "trial converts; features stop at conversion",
    "with no trial row": "the trials table has no row for this id, so it has no signup",
    PAYING_AT_START: "on a paid plan in its first event: never a trial, so never a lead "
    "(label.exclude_paying_at_start)",
}


def explain(counts: dict[str, int]) -> dict[str, str]:
    """The explanation of every reason with a non-zero count."""
    explained = {}
    for reason, count in counts.items():
        if not count:
            continue
        for label, text in EXPLANATIONS.items():
            if reason == label or reason.endswith(label):
                explained[reason] = text
                break
    return explained


@dataclass(frozen=True)
class DataQualityReport:
    source: str
    rows_read: int
    unusable: dict[str, int]
    usable_rows: int
    timestamp_formats: dict[str, int]
    users: int
    accounts: int
    entity: str
    entities: int
    first_event: str | None
    last_event: str | None
    events_per_action: dict[str, int]
    actions_without_events: list[str]
    unmatched_event_names: dict[str, int]
    not_used_in_features: dict[str, int]
    conversions: int
    conversion_rate: float | None
    trials: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ingest_details: dict[str, int] = field(default_factory=dict)  # vendor identity counts
    plans: dict[str, int] = field(default_factory=dict)  # plan changes, paying at start
    explanations: dict[str, str] = field(default_factory=dict)  # reason -> why not used
    data_end: str | None = None  # where labels run to ...
    data_end_reason: str = ""  # ... and why that end (data.end_at, the last event, ...)
    conversion_source: str = ""  # what defines a conversion, in the spec's keys
    product_shape: str = ""  # trial or freemium, given or inferred, and why

    @property
    def is_fatal(self) -> bool:
        return bool(self.errors)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self, console: Console) -> None:
        """Print the report as a person reads it: totals, problems, then per action."""
        summary = Table(title=f"Data quality: {self.source}", show_header=False)
        summary.add_column("what")
        summary.add_column("value", justify="right")
        summary.add_row("rows read", f"{self.rows_read:,}")
        for reason, count in self.unusable.items():
            summary.add_row(f"  unusable: {reason}", f"{count:,}")
        summary.add_row("usable events", f"{self.usable_rows:,}")
        for reason, count in self.not_used_in_features.items():
            summary.add_row(f"  not used in features: {reason}", f"{count:,}")
        for name, count in self.timestamp_formats.items():
            summary.add_row(f"  timestamps as {name}", f"{count:,}")
        summary.add_row("users", f"{self.users:,}")
        summary.add_row("accounts", f"{self.accounts:,}")
        summary.add_row(f"entities ({self.entity})", f"{self.entities:,}")
        for name, count in self.trials.items():
            summary.add_row(f"trials: {name}", f"{count:,}")
        for name, count in self.ingest_details.items():
            summary.add_row(f"export: {name}", f"{count:,}")
        for name, count in self.plans.items():
            summary.add_row(f"plans: {name}", f"{count:,}")
        summary.add_row("date range", f"{self.first_event} .. {self.last_event}")
        rate = "n/a" if self.conversion_rate is None else f"{self.conversion_rate:.1%}"
        summary.add_row("conversions", f"{self.conversions:,} ({rate})")
        console.print(summary)
        if self.conversion_source:
            console.print(f"Conversions come from {self.conversion_source}.")
        if self.product_shape:
            console.print(f"Product shape: {self.product_shape}.")
        if self.data_end is not None:
            console.print(f"Labels run to {self.data_end}: {self.data_end_reason}.")
        if self.explanations:
            console.print("Why rows are not used:")
            for reason, text in self.explanations.items():
                console.print(f"  {reason}: {text}")

        actions = Table(title="Events per action")
        actions.add_column("action")
        actions.add_column("events", justify="right")
        for name, count in self.events_per_action.items():
            actions.add_row(name, f"{count:,}" if count else "[yellow]0 (matches no event)[/]")
        console.print(actions)
        if self.unmatched_event_names:
            top = ", ".join(f"{k} ({v:,})" for k, v in self.unmatched_event_names.items())
            console.print(f"Event names no action counts (most frequent): {top}")
        for warning in self.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
        for error in self.errors:
            console.print(f"[red]error:[/] {error}")
