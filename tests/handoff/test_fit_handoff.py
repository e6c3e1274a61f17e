"""Routing by fit: the HTML report's attribute columns and filters, and alert payloads
that carry the routing attributes and fit reasons (delivered to a real receiver)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from pql.handoff.alerts import AlertConfig, AlertState, alert_scope, deliver, slack_payload
from pql.handoff.lead_report import ReportContext, render_lead_report
from pql.serving.batch import score_dataset
from pql.serving.scoring import Scorer
from tests.webhook import Receiver

ROUTING = ("company_size", "industry", "country")


@pytest.fixture(scope="module")
def batch(trained_fit):
    as_of = trained_fit.dataset.events_end - pd.Timedelta(days=20)
    return score_dataset(Scorer(trained_fit.result.bundle), trained_fit.dataset, as_of)


def _context(batch, **extra) -> ReportContext:
    return ReportContext(
        product="simulated",
        entity="user",
        model_version="1",
        as_of=batch.as_of,
        scored_at=batch.scored_at,
        **extra,
    )


def test_the_report_has_a_column_and_a_filter_per_routing_attribute(batch):
    page = render_lead_report(batch.leads, _context(batch, attributes=ROUTING))
    for position, name in enumerate(ROUTING):
        heading = name.replace("_", " ").capitalize()
        assert f'<th data-type="text" class="sortable">{heading}</th>' in page
        assert f'<select class="attr-filter" data-attr="{position}">' in page
    shown = batch.scored.head(1000)
    sizes = re.findall(r'<tr data-tier="\w+" data-attr-0="([^"]*)"', page)
    assert sizes == shown["company_size"].fillna("").tolist()
    counts = shown["company_size"].value_counts()
    for level, count in counts.items():
        assert f'<option value="{level}">{level} ({count:,})</option>' in page
    assert "<th>Who (fit)</th>" in page
    first_fit = batch.scored["fit_reason_1"].dropna().iloc[0]
    assert f"<li>+ {first_fit}</li>" in page


def test_without_routing_attributes_the_report_has_no_attribute_filter(batch):
    page = render_lead_report(batch.leads, _context(batch))
    assert "attr-filter" not in page.split("<script>")[0] and "data-attr-0" not in page


def test_alerts_carry_routing_attributes_and_fit_reasons(batch, tmp_path):
    with AlertState(tmp_path / "alerts.sqlite") as state:
        recorded = state.record(batch.leads, product="simulated", entity="user", attributes=ROUTING)
        assert recorded.qualified == int(batch.scored["is_pql"].sum())
        with Receiver() as receiver:
            result = deliver(
                state,
                AlertConfig(receiver.url, attempts=1, timeout_s=5.0),
                alert_scope("simulated", "user"),
            )
    assert result.sent == recorded.qualified
    by_id = batch.scored.set_index(batch.scored["entity_id"].astype(str))
    for received in receiver.received[:20]:
        body = received.body
        row = by_id.loc[body["entity_id"]]
        assert body["attributes"] == {
            name: (None if pd.isna(row[name]) else row[name]) for name in ROUTING
        }
        fit = [row[c] for c in ("fit_reason_1", "fit_reason_2") if isinstance(row[c], str)]
        assert body["fit_reasons"] == fit
        slack = slack_payload(body)["blocks"][1]["text"]["text"]
        if fit:
            assert "*Who*: " + fit[0] in slack
        assert "*Route by*: company_size" in slack or body["attributes"]["company_size"] is None
