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
        summary.add_row("date range", f"{self.first_event} .. {self.last_event}")
        rate = "n/a" if self.conversion_rate is None else f"{self.conversion_rate:.1%}"
        summary.add_row("conversions", f"{self.conversions:,} ({rate})")
        console.print(summary)

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
