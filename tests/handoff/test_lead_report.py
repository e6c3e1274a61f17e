"""The lead report as HTML text: self-contained, escaped, ranked, nothing dropped
silently; and the `last_active_at` column it shows, checked against the raw events."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from pql.handoff.lead_report import ReportContext, empty_report_message, render_lead_report
from pql.serving.batch import LEAD_COLUMNS, score_dataset
from pql.serving.scoring import Scorer

AS_OF = pd.Timestamp("2026-03-10T12:00:00Z")
EVIL = '<script>window.__pwned = 1</script>"&'


def make_leads(n_scored: int, unscored: dict[str, str] | None = None) -> pd.DataFrame:
    """A leads frame in `serving.batch`'s shape, best first, tiers by score."""
    rng = np.random.default_rng(3)
    scores = np.sort(rng.integers(0, 100, n_scored))[::-1]
    tiers = np.where(scores >= 90, "hot", np.where(scores >= 60, "warm", "cold"))
    scored = pd.DataFrame(
        {
            "entity_id": [f"u{i:03d}" for i in range(n_scored)],
            "account_id": [f"acct-{i % 4}" for i in range(n_scored)],
            "status": "scored",
            "probability": scores / 120,
            "score": scores,
            "tier": tiers,
            "is_pql": tiers == "hot",
            "reason_1": [f"Viewed pricing {i}x this week" for i in range(n_scored)],
            "reason_2": "Invited 3 teammates",
            "negative_reason_1": "Has not connected an integration yet",
            "last_active_at": [AS_OF - pd.Timedelta(hours=5 * i + 1) for i in range(n_scored)],
        }
    )
    rest = pd.DataFrame(
        {
            "entity_id": list((unscored or {}).keys()),
            "status": "not scored",
            "not_scored_reason": list((unscored or {}).values()),
        }
    )
    leads = pd.concat([scored, rest], ignore_index=True).reindex(columns=list(LEAD_COLUMNS))
    return leads.assign(model_version="7", as_of=AS_OF, scored_at=AS_OF)


def context(**overrides) -> ReportContext:
    values = {
        "product": "acme",
        "entity": "user",
        "model_version": "7",
        "as_of": AS_OF,
        "scored_at": AS_OF + pd.Timedelta(minutes=2),
        "leads_file": "leads.csv",
    } | overrides
    return ReportContext(**values)


def rows_of(html: str) -> list[str]:
    return re.findall(r'<td class="id" data-sort="[^"]*">(.*?)</td>', html)


def test_page_is_self_contained_and_escapes_every_value():
    leads = make_leads(5, {EVIL: "signed up after as_of"})
    leads.loc[0, "entity_id"] = EVIL
    leads.loc[1, "reason_1"] = EVIL
    leads.loc[2, "account_id"] = EVIL
    html = render_lead_report(leads, context(product="<b>acme</b>"))
    assert html.count("<script>") == 1  # the page's own, inline
    assert "window.__pwned" in html and "<script>window" not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;&quot;&amp;" in html
    assert "<b>acme</b>" not in html and "&lt;b&gt;acme&lt;/b&gt;" in html
    for external in ("http://", "https://", "src=", "<link", "@import", "url("):
        assert external not in html
    assert "model version 7" in html and "2026-03-10 12:02 UTC" in html


def test_leads_ranked_with_bar_tier_last_active_and_reasons():
    html = render_lead_report(make_leads(12), context())
    ids = rows_of(html)
    assert ids == [f"u{i:03d}" for i in range(12)]  # best first, as the frame ranks them
    first = html[html.index('<tr data-tier="') :]
    first = first[: first.index("</tr>")]
    assert 'style="width:' in first and "Viewed pricing 0x this week" in first
    assert "Has not connected an integration yet" in first and "1 h ago" in first
    assert "2026-03-10 11:00 UTC" in first
    assert len(re.findall(r'<tr data-tier="(hot|warm|cold)"', html)) == 12
    assert 'id="tier-filter"' in html and 'id="search"' in html


def test_row_limit_is_said_and_unscored_are_summarised():
    unscored = {f"late{i}": "signed up after as_of" for i in range(3)}
    unscored["paid"] = "already converted before as_of"
    html = render_lead_report(make_leads(30, unscored), context(row_limit=10))
    assert len(rows_of(html)) == 10
    assert "Showing the 10 highest-scored of 30 scored users" in html and "leads.csv" in html
    assert "Not scored (4)" in html
    assert re.search(r"signed up after as_of</td><td class='n'>3</td>", html)
    assert "late2" in html and "paid" in html


def test_zero_leads_is_a_clear_page_not_a_crash():
    empty = make_leads(0)
    html = render_lead_report(empty, context())
    assert 'id="empty-message"' in html and "no users to score" in html
    assert '<table id="leads"' not in html
    assert "no users in the data" in empty_report_message(empty, context())
    none_scored = make_leads(0, {"a": "signed up after as_of", "b": "signed up after as_of"})
    html = render_lead_report(none_scored, context(entity="account"))
    assert "None of the 2 accounts could be scored" in html and "Not scored (2)" in html
    assert "none of the 2 accounts" in empty_report_message(none_scored, context(entity="account"))
    assert empty_report_message(make_leads(3), context()) is None


def test_rules_scores_say_so():
    html = render_lead_report(
        make_leads(3).assign(probability=np.nan), context(model_version="rules")
    )
    assert "the spec&#x27;s rules" in html and "share of the rules met" in html
    assert "p = " not in html


def test_last_active_at_is_the_last_event_before_as_of(trained):
    dataset = trained.dataset
    as_of = dataset.entities["signup_at"].quantile(0.7)
    leads = score_dataset(Scorer(trained.result.bundle), dataset, as_of).leads
    scored = leads[leads["status"] == "scored"].set_index("entity_id")
    events = dataset.events
    before = events[events["timestamp"] < as_of]
    last = before.groupby("user_id", observed=True)["timestamp"].max()
    signup = dataset.entities.set_index("entity_id")["signup_at"]
    expected = last.reindex(scored.index)
    # events before signup do not count as activity in the trial
    expected[expected < signup.reindex(scored.index)] = pd.NaT
    got = pd.to_datetime(scored["last_active_at"], utc=True)
    difference = (got - expected).abs().dt.total_seconds()
    assert expected.notna().sum() > 100
    assert (difference[expected.notna()] <= 1).all()
    assert got[expected.isna()].isna().all()
    assert leads.loc[leads["status"] != "scored", "last_active_at"].isna().all()


def test_account_leads_have_no_second_account_column():
    users = render_lead_report(make_leads(3), context())
    accounts = render_lead_report(make_leads(3), context(entity="account"))
    assert ">Account</th>" in users and users.count('<td class="account"') == 3
    assert accounts.count(">Account</th>") == 1 and '<td class="account"' not in accounts
    assert accounts.count("<th") == users.count("<th") - 1
