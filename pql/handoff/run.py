"""After `pql score` wrote the leads file: the HTML lead report and the webhook alerts.

The side-effect edge of the sales handoff: rendering (`serving.lead_report`) and alert
bookkeeping (`serving.alerts`) are decided elsewhere; this module writes the file,
opens the state, sends, and reports on the console. Alerts come last, so an
unreachable webhook fails the command only after every file of the run is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pql.clikit import check_writable, console
from pql.errors import AlertDeliveryError, DataError
from pql.features.spec import Spec
from pql.files import write_text
from pql.handoff.alerts import (
    AlertConfig,
    AlertState,
    alert_scope,
    deliver,
)
from pql.handoff.lead_report import ReportContext, empty_report_message, render_lead_report
from pql.serving.batch import BatchScores


class AlertFormatOption(StrEnum):
    json = "json"
    slack = "slack"


def check_html_output(html: Path | None) -> None:
    """Fail before the scoring work, not after it."""
    if html is None:
        return
    if html.suffix.lower() not in {".html", ".htm"}:
        raise DataError(f"{html}: the lead report must end in .html")
    check_writable(html)


def write_lead_report(
    batch: BatchScores, spec: Spec, version: str | None, out: Path, html: Path, rows: int
) -> None:
    statuses = batch.leads["model_status"].dropna().unique()
    context = ReportContext(
        product=spec.product,
        entity=spec.entity,
        model_version=version,
        model_status=str(statuses[0]) if len(statuses) else "champion",
        as_of=batch.as_of,
        scored_at=batch.scored_at,
        leads_file=out.name,
        row_limit=rows,
        attributes=tuple(a for a in spec.output.attributes if a in batch.leads.columns),
    )
    html.parent.mkdir(parents=True, exist_ok=True)
    write_text(html, render_lead_report(batch.leads, context))
    shown = min(rows, len(batch.scored))
    console.print(f"lead report: {shown:,} leads -> {html}")
    warning = empty_report_message(batch.leads, context)
    if warning:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def send_alerts(batch: BatchScores, spec: Spec, config: AlertConfig, state_file: Path) -> None:
    scope = alert_scope(spec.product, spec.entity)
    try:
        with AlertState(state_file) as state:
            recorded = state.record(
                batch.leads,
                product=spec.product,
                entity=spec.entity,
                attributes=tuple(spec.output.attributes),
            )
            result = deliver(state, config, scope)
    except DataError as exc:  # the state file failed after the check before the work
        raise DataError(f"{exc.message} (the leads file and report were written)") from None
    console.print(
        f"alerts ({scope}): {recorded.qualified:,} new qualifications, {recorded.dropped:,} "
        f"dropped below the threshold; {result.sent:,} sent, {result.pending:,} pending "
        f"({state_file})",
        highlight=False,
    )
    if result.other_scopes:
        others = ", ".join(f"{name} {count:,}" for name, count in result.other_scopes.items())
        console.print(
            f"alerts: not sent by this run: pending alerts of other products/entities in "
            f"{state_file} ({others}); their own `pql score --alert-webhook` runs send them",
            highlight=False,
        )
    if result.error:
        raise AlertDeliveryError(
            f"alert webhook {result.error}: {result.pending:,} alerts stay pending in "
            f"{state_file} and are sent by the next run with --alert-webhook"
        )


@dataclass(frozen=True)
class HandOff:
    """What `pql score` does with the leads after writing them: report, alerts, both."""

    html: Path | None
    html_rows: int
    alerts: AlertConfig | None
    state_file: Path

    @classmethod
    def checked(
        cls,
        html: Path | None,
        html_rows: int,
        webhook: str | None,
        alert_format: AlertFormatOption,
        state_file: Path,
        attempts: int,
        timeout_s: float,
    ) -> HandOff:
        """Validate the options (and open the state file) before any scoring work."""
        check_html_output(html)
        alerts = None
        if webhook is not None:
            alerts = AlertConfig(webhook, alert_format.value, attempts, timeout_s)
            AlertState(state_file).close()
        return cls(html, html_rows, alerts, state_file)

    def run(self, batch: BatchScores, spec: Spec, version: str | None, out: Path) -> None:
        """Write the report, then send the alerts (the step that can fail the command)."""
        if self.html is not None:
            write_lead_report(batch, spec, version, out, self.html, self.html_rows)
        if self.alerts is not None:
            send_alerts(batch, spec, self.alerts, self.state_file)
