"""The Sparkify example through the `pql` command, with figures checked by hand counts.

The spec (examples/sparkify/pql.yaml) uses only generic options; these tests recount
users, events, trials and conversions straight from the gzipped JSON lines with the
standard library and compare them with what the pipeline reports.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pytest

from tests.pql.test_cli import run

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples/sparkify/pql.yaml"
DATA = ROOT.parent / "shared/data/sparkify-eventsim/events.jsonl.gz"

pytestmark = pytest.mark.skipif(not DATA.exists(), reason="shared data not present")


def hand_counts() -> dict[str, int]:
    """Counted with json + gzip only, independently of pql's code."""
    with gzip.open(DATA, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    per_user: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if str(row["userId"]).strip():
            per_user[str(row["userId"])].append(row)
    trials = converted = flips = 0
    for events in per_user.values():
        events.sort(key=lambda r: r["ts"])
        levels = [e["level"] for e in events]
        changes = sum(a != b for a, b in pairwise(levels))
        flips += changes >= 2
        if levels[0] == "paid":
            continue  # paying when first seen: not a trial
        trials += 1
        converted += "paid" in levels or any(e["page"] == "Submit Upgrade" for e in events)
    return {
        "rows": len(rows),
        "logged_out": sum(not str(r["userId"]).strip() for r in rows),
        "users": len(per_user),
        "trials": trials,
        "paying_at_start": len(per_user) - trials,
        "conversions": converted,
        "flips": flips,
    }


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


def test_validate_figures_match_hand_counts(monkeypatch, capsys) -> None:
    counts = hand_counts()
    code, out = run(["validate", "--spec", str(SPEC), "--json"], monkeypatch, capsys)
    assert code == 0, out
    report = json.loads(out[out.index("{") :])
    assert report["rows_read"] == counts["rows"]
    assert report["unusable"]["missing user id"] == counts["logged_out"]
    assert report["usable_rows"] == counts["rows"] - counts["logged_out"]
    assert report["rows_read"] == report["usable_rows"] + sum(report["unusable"].values())
    assert report["users"] == counts["users"]
    assert report["entities"] == counts["trials"]
    assert report["conversions"] == counts["conversions"]
    assert (
        report["plans"]["already paying when first seen (not a trial)"] == counts["paying_at_start"]
    )
    assert report["plans"]["plan changed back and forth (2+ changes)"] == counts["flips"]
    assert "logged-out" in report["explanations"]["missing user id"]
    code, text = run(["validate", "--spec", str(SPEC)], monkeypatch, capsys)
    assert code == 0 and "Why rows are not used" in text and "logged-out" in text


@pytest.mark.slow
def test_train_refuses_and_the_rule_path_still_scores(
    mlflow_store: Path, monkeypatch, capsys
) -> None:
    counts = hand_counts()
    code, out = run(["train", "--spec", str(SPEC)], monkeypatch, capsys)
    assert code == 5, out
    assert "positive rows" in out and "at least 50 are needed" in out
    assert "pql score --rules" in out and "registered" not in out

    folder = mlflow_store / "triggers"
    code, out = run(["triggers", "--spec", str(SPEC), "--out", str(folder)], monkeypatch, capsys)
    assert code == 0, out
    assert "no rule is proposed" in out and (folder / "triggers.md").is_file()

    leads_file = mlflow_store / "leads.csv"
    code, out = run(["score", "--spec", str(SPEC), "--out", str(leads_file)], monkeypatch, capsys)
    assert code == 6 and "no champion model for 'sparkify'" in out and "--rules" in out

    args = ["score", "--spec", str(SPEC), "--rules", "--as-of", "2018-11-20T00:00:00Z"]
    code, out = run([*args, "--out", str(leads_file)], monkeypatch, capsys)
    assert code == 0, out
    leads = pd.read_csv(leads_file)
    assert len(leads) == counts["trials"]  # one row per trial user, scored or not
    assert set(leads["model_version"]) == {"rules"}
    flagged = leads["is_pql"].astype("boolean").fillna(False).astype(bool)
    assert flagged.sum() >= 1 and leads.loc[flagged, "reason_1"].notna().all()
    converted = (leads["not_scored_reason"] == "already converted before as_of").sum()
    assert 1 <= converted <= counts["conversions"]


@pytest.mark.slow
def test_rule_reasons_are_true_of_every_lead() -> None:
    """The rules path: every reason names a rule the user meets, with its own numbers."""
    from pql.features.pipeline import load_dataset
    from pql.features.spec import load_spec
    from pql.serving.reason_audit import audit_rule_reasons

    dataset = load_dataset(load_spec(SPEC))
    for as_of in (dataset.data_end, dataset.data_end - pd.Timedelta(days=20)):
        report = audit_rule_reasons(dataset, as_of)
        assert report.checked_reasons > 0
        assert report.ok, report.contradictions[:10]
