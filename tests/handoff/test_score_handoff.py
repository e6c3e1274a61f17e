"""`pql score --html` and `--alert-webhook` as users meet them, including the bad cases:
an unreachable webhook, a report with no leads, unusable options."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.pql.test_cli import CSV, SPEC, run
from tests.webhook import Receiver, free_port

RULES = [{"name": "intent", "when": "view_pricing_count >= 1", "reason": "Viewed pricing"}]
AS_OF = "2026-03-03T00:00:00Z"  # u1 viewed pricing (PQL), u2 did not; both scorable


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "events.csv").write_text(CSV)
    (tmp_path / "pql.yaml").write_text(yaml.safe_dump(dict(SPEC, rules=RULES)))
    return tmp_path


def score(project: Path, *extra: str, as_of: str = AS_OF) -> list[str]:
    spec = str(project / "pql.yaml")
    return ["score", "--spec", spec, "--rules", "--as-of", as_of, *extra]


def test_report_and_alerts_once_per_qualification(project, monkeypatch, capsys):
    out, html, state = project / "leads.csv", project / "leads.html", project / "alerts.sqlite"
    with Receiver() as receiver:
        args = score(
            project,
            "--out", str(out), "--html", str(html),
            "--alert-webhook", receiver.url, "--alert-state", str(state),
        )  # fmt: skip
        code, text = run(args, monkeypatch, capsys)
        assert code == 0, text
        assert "1 new qualifications" in text and "1 sent, 0 pending" in text
        code, text = run(args, monkeypatch, capsys)  # the same scores again: no new alert
        assert code == 0 and "0 new qualifications" in text
    assert [r.body["entity_id"] for r in receiver.received] == ["u1"]
    alert = receiver.received[0].body
    assert alert["reasons"] == ["Viewed pricing"] and alert["model_version"] == "rules"
    assert alert["as_of"] == AS_OF and alert["last_active_at"].startswith("2026-03-01T11:00")
    page = html.read_text()
    assert "u1" in page and "u2" in page and "Viewed pricing" in page
    assert "lead report: 2 leads" in text
    assert "last_active_at" in pd.read_csv(out).columns


def test_unreachable_webhook_exits_8_keeps_alerts_pending_and_writes_files(
    project, monkeypatch, capsys
):
    port = free_port()
    out, html, state = project / "leads.csv", project / "leads.html", project / "alerts.sqlite"
    args = score(
        project,
        "--out", str(out), "--html", str(html), "--alert-state", str(state),
        "--alert-webhook", f"http://127.0.0.1:{port}/secret-token", "--alert-attempts", "2",
    )  # fmt: skip
    code, text = run(args, monkeypatch, capsys)
    assert code == 8, text
    assert "cannot connect" in text and "1 alerts stay pending" in text and "alerts.sqlite" in text
    assert "secret-token" not in text  # webhook paths carry secrets
    assert len(pd.read_csv(out)) == 2 and html.exists()
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT entity_id, status FROM alert").fetchall() == [("u1", "pending")]
    with Receiver(port=port) as receiver:  # the webhook is back: the next run delivers
        code, text = run(args, monkeypatch, capsys)
        assert code == 0, text
        code, text = run(args, monkeypatch, capsys)
        assert code == 0
    assert [r.body["entity_id"] for r in receiver.received] == ["u1"]


def test_a_shared_state_file_sends_each_product_only_its_own_alerts(project, monkeypatch, capsys):
    """Two specs, one state file: the second product's pending alerts never reach the
    first product's webhook; they wait for their own run."""
    other = dict(SPEC, rules=RULES, product="simb")
    (project / "simb.yaml").write_text(yaml.safe_dump(other))
    state = project / "shared.sqlite"
    simb_args = [
        "score", "--spec", str(project / "simb.yaml"), "--rules", "--as-of", AS_OF,
        "--out", str(project / "simb.csv"), "--alert-state", str(state),
        "--alert-webhook", f"http://127.0.0.1:{free_port()}/down", "--alert-attempts", "1",
    ]  # fmt: skip
    code, text = run(simb_args, monkeypatch, capsys)
    assert code == 8, text
    with Receiver() as receiver:
        args = score(
            project, "--out", str(project / "leads.csv"), "--alert-state", str(state),
            "--alert-webhook", receiver.url,
        )  # fmt: skip
        code, text = run(args, monkeypatch, capsys)
    assert code == 0, text
    text = " ".join(text.split())
    assert [r.body["product"] for r in receiver.received] == [SPEC["product"]]
    assert "1 sent, 0 pending" in text
    assert "pending alerts of other products/entities" in text and "simb/user 1" in text
    with sqlite3.connect(state) as db:
        rows = db.execute("SELECT scope, status FROM alert ORDER BY scope").fetchall()
    assert sorted(rows) == [("simb/user", "pending"), (f"{SPEC['product']}/user", "sent")]


def test_a_redirecting_webhook_exits_8_and_keeps_the_alert(project, monkeypatch, capsys):
    state = project / "alerts.sqlite"
    with Receiver(script=[("redirect", 301, "https://hooks.example.org/hooks/pql")]) as hook:
        args = score(
            project, "--out", str(project / "leads.csv"), "--alert-state", str(state),
            "--alert-webhook", hook.url,
        )  # fmt: skip
        code, text = run(args, monkeypatch, capsys)
    assert code == 8, text
    text = " ".join(text.split())
    assert "HTTP 301" in text and "redirects to https://hooks.example.org/..." in text
    assert "1 alerts stay pending" in text and hook.gets == []
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT status FROM alert").fetchall() == [("pending",)]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--alert-timeout", "inf"),
        ("--alert-timeout", "1e300"),
        ("--alert-timeout", "nan"),
        ("--alert-timeout", "0"),
        ("--alert-attempts", "0"),
        ("--alert-attempts", "21"),
    ],
)
def test_numeric_alert_options_are_checked_before_the_work(
    project, monkeypatch, capsys, option, value
):
    out = project / "leads.csv"
    hook = ["--alert-webhook", "http://127.0.0.1:9/h", option, value]
    code, text = run(score(project, "--out", str(out), *hook), monkeypatch, capsys)
    assert code == 2, text
    assert option in text and "internal error" not in text
    assert not out.exists()


def test_report_with_no_leads_is_written_with_a_warning(project, monkeypatch, capsys):
    html = project / "empty.html"
    args = score(project, "--out", str(project / "l.csv"), "--html", str(html), as_of="2026-02-01")
    code, text = run(args, monkeypatch, capsys)
    assert code == 0, text
    assert "warning" in text and "none of the 2 users could be scored" in text
    page = html.read_text()
    assert "None of the 2 users could be scored" in page and "signed up after as_of" in page


def test_bad_handoff_options_fail_before_the_work(project, monkeypatch, capsys):
    out = project / "leads.csv"
    code, text = run(score(project, "--out", str(out), "--html", "x.txt"), monkeypatch, capsys)
    assert code == 3 and ".html" in text
    code, text = run(
        score(project, "--out", str(out), "--alert-webhook", "ftp://example.org/x"),
        monkeypatch,
        capsys,
    )
    assert code == 2 and "--alert-webhook" in text
    corrupt = project / "state.sqlite"
    corrupt.write_bytes(b"not sqlite at all" * 100)
    hook = ["--alert-webhook", "http://127.0.0.1:9/h", "--alert-state", str(corrupt)]
    code, text = run(score(project, "--out", str(out), *hook), monkeypatch, capsys)
    assert code == 3 and "alert state file" in text
    assert not out.exists()


@pytest.mark.slow
def test_model_scores_in_the_report(trained, tmp_path, monkeypatch, capsys):
    from pql.training.tracking import log_and_register, open_tracking

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    registered = log_and_register(open_tracking(), trained.dataset, trained.result)
    as_of = trained.dataset.entities["signup_at"].quantile(0.7).isoformat()
    spec = str(trained.folder / "pql.yaml")
    args = ["score", "--spec", spec, "--as-of", as_of, "--out", "leads.csv"]
    code, text = run([*args, "--html", "leads.html", "--html-rows", "50"], monkeypatch, capsys)
    assert code == 0, text
    page = (tmp_path / "leads.html").read_text()
    leads = pd.read_csv(tmp_path / "leads.csv")
    scored = leads[leads["status"] == "scored"]
    assert page.count('<tr data-tier="') == 50
    assert f"Showing the 50 highest-scored of {len(scored):,} scored users" in page
    assert str(scored["entity_id"].iloc[0]) in page
    assert f"Not scored ({len(leads) - len(scored):,})" in page
    assert f"model version {registered.version}<" in page


def test_a_damaged_alert_state_file_is_exit_3_before_the_work(project, monkeypatch, capsys):
    from tests.handoff.test_alerts import damage, filled_state

    out, state = project / "leads.csv", project / "alerts.sqlite"
    filled_state(state)
    damage(state)
    hook = ["--alert-webhook", "http://127.0.0.1:9/h", "--alert-state", str(state)]
    code, text = run(score(project, "--out", str(out), *hook), monkeypatch, capsys)
    assert code == 3 and "alert state file is damaged" in text, text
    assert not out.exists()


def test_score_says_when_it_scores_and_warns_past_the_end_of_the_data(project, monkeypatch, capsys):
    out = str(project / "leads.csv")
    args = ["score", "--spec", str(project / "pql.yaml"), "--rules", "--out", out]
    code, text = run(args, monkeypatch, capsys)  # no --as-of: now, long after the data
    assert code == 0, text
    text = " ".join(text.split())
    assert "(now: no --as-of given)" in text
    assert "days after the end of the data (2026-03-03 09:00 UTC)" in text
    assert "--as-of 2026-03-03T09:00:00Z" in text
    code, text = run([*args, "--as-of", AS_OF], monkeypatch, capsys)
    assert code == 0, text
    assert f"(--as-of {AS_OF})" in text and "after the end of the data" not in text
