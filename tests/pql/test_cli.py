"""The `pql` command as users meet it: clear messages and documented exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pql.cli import main
from tests.conftest import planted_log, planted_spec

SPEC = {
    "product": "tiny",
    "data": {"events": {"path": "events.csv", "columns": {"timestamp": "ts"}}},
    "label": {"conversion_event": "paid", "horizon_days": 7},
    "snapshots_days": [1, 3],
    "actions": {
        "invite_teammate": {"events": ["invite"], "kind": "collaboration"},
        "view_pricing": {"events": ["pricing"], "kind": "intent"},
        "export_report": {"events": ["export"]},  # never happens in the data
    },
}
CSV = """user_id,event,ts
u1,login,2026-03-01T10:00:00Z
u1,invite,1772359200
u1,pricing,1772362800000
u1,pricing,1772362800000
,login,2026-03-01T11:00:00Z
u2,login,not a time
u2,login,2026-03-02T09:00:00+02:00
u2,paid,2026-03-03T09:00:00Z
"""


def run(args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["pql", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
        raise SystemExit(0)
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "Traceback" not in output
    return exit_info.value.code or 0, output


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "events.csv").write_text(CSV)
    (tmp_path / "pql.yaml").write_text(yaml.safe_dump(SPEC))
    return tmp_path


def test_validate_reports_every_row_and_warns_on_silent_actions(project, monkeypatch, capsys):
    code, out = run(["validate", "--spec", str(project / "pql.yaml")], monkeypatch, capsys)
    assert code == 0
    assert "rows read" in out and "8" in out
    assert "missing user id" in out and "unparseable timestamp" in out
    assert "exact duplicate" in out
    assert "export_report" in out and "matches no event" in out


def test_validate_says_where_conversions_come_from_and_a_mismatched_name(
    project, monkeypatch, capsys
):
    spec = dict(SPEC, label={"conversion_event": "Paid", "horizon_days": 7})
    (project / "pql.yaml").write_text(yaml.safe_dump(spec))
    code, out = run(["validate", "--spec", str(project / "pql.yaml")], monkeypatch, capsys)
    assert code == 0, out
    out = " ".join(out.split())
    assert "label.conversion_event 'Paid' matches no event" in out
    assert "closest event names: 'paid' (1 event)" in out
    assert "no conversion found" in out and "exit 5" in out
    assert "Conversions come from the first 'Paid' event (label.conversion_event)" in out
    assert "Labels run to 2026-03-03 09:00:00+00:00: the last event" in out


def test_spec_typo_names_file_key_and_suggestion(project, monkeypatch, capsys):
    spec = dict(SPEC, label={"conversion_event": "paid", "horizon_day": 7})
    (project / "pql.yaml").write_text(yaml.safe_dump(spec))
    code, out = run(["validate", "--spec", str(project / "pql.yaml")], monkeypatch, capsys)
    assert code == 2
    assert "pql.yaml" in out and "label.horizon_day" in out and "horizon_days" in out


def test_missing_spec_and_missing_data(project, monkeypatch, capsys):
    code, out = run(["validate", "--spec", str(project / "nope.yaml")], monkeypatch, capsys)
    assert code == 2 and "nope.yaml" in out and "not found" in out
    (project / "events.csv").unlink()
    code, out = run(["validate", "--spec", str(project / "pql.yaml")], monkeypatch, capsys)
    assert code == 3 and "events.csv" in out


def test_missing_column_names_column_and_spec_key(project, monkeypatch, capsys):
    (project / "events.csv").write_text(CSV.replace("ts", "time"))
    code, out = run(["validate", "--spec", str(project / "pql.yaml")], monkeypatch, capsys)
    assert code == 3
    assert "ts" in out and "data.events.columns.timestamp" in out


def test_empty_and_non_utf8_files(project, monkeypatch, capsys):
    (project / "events.csv").write_text("")
    code, out = run(["validate", "--spec", str(project / "pql.yaml")], monkeypatch, capsys)
    assert code == 3 and "events.csv" in out
    (project / "events.csv").write_bytes(
        CSV.encode() + "u3,caf\xe9,2026-03-01T10:00:00Z\n".encode("latin-1")
    )
    code, out = run(["validate", "--spec", str(project / "pql.yaml")], monkeypatch, capsys)
    assert code == 3 and "encoding" in out


def test_features_training_and_live(project, monkeypatch, capsys):
    out_file = project / "features.parquet"
    code, _ = run(
        ["features", "--spec", str(project / "pql.yaml"), "--out", str(out_file)],
        monkeypatch,
        capsys,
    )
    assert code == 0
    frame = pd.read_parquet(out_file)
    assert set(frame["snapshot_day"]) == {1.0}  # day 3 of u1 lies past the end of the data
    assert "invite_teammate_count_7d" in frame.columns
    live = project / "live.csv"
    code, _out = run(
        [
            "features",
            "--spec",
            str(project / "pql.yaml"),
            "--as-of",
            "2026-03-03T00:00:00Z",
            "--out",
            str(live),
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0
    assert pd.read_csv(live)["entity_id"].tolist() == ["u1", "u2"]


def test_bad_as_of_and_output_suffix(project, monkeypatch, capsys):
    spec = str(project / "pql.yaml")
    code, out = run(["features", "--spec", spec, "--as-of", "yesterday-ish"], monkeypatch, capsys)
    assert code == 2 and "--as-of" in out
    code, out = run(["features", "--spec", spec, "--out", "f.txt"], monkeypatch, capsys)
    assert code == 3 and ".parquet or .csv" in out


@pytest.mark.slow
def test_score_writes_one_row_per_entity(trained, tmp_path, monkeypatch, capsys):
    from pql.training.tracking import log_and_register, open_tracking

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    log_and_register(open_tracking(), trained.dataset, trained.result)
    spec = str(trained.folder / "pql.yaml")
    as_of = trained.dataset.entities["signup_at"].quantile(0.7).isoformat()
    out = tmp_path / "leads.csv"
    code, text = run(
        ["score", "--spec", spec, "--as-of", as_of, "--out", str(out)], monkeypatch, capsys
    )
    assert code == 0, text
    leads = pd.read_csv(out)
    assert len(leads) == len(trained.dataset.entities)
    assert "rows out" in text and "not scored" in text
    assert "scoring at" in text and "after the end of the data" not in text
    code, text = run(
        ["score", "--spec", spec, "--model", "models:/pql-nope@champion"], monkeypatch, capsys
    )
    assert code == 6 and "pql-nope" in text


def test_score_with_rules_needs_no_model(project, monkeypatch, capsys):
    spec = dict(
        SPEC,
        rules=[{"name": "intent", "when": "view_pricing_count >= 1", "reason": "Viewed pricing"}],
    )
    (project / "pql.yaml").write_text(yaml.safe_dump(spec))
    out = project / "rules.csv"
    args = ["score", "--spec", str(project / "pql.yaml"), "--rules"]
    code, text = run(
        [*args, "--as-of", "2026-03-03T00:00:00Z", "--out", str(out)], monkeypatch, capsys
    )
    assert code == 0, text
    leads = pd.read_csv(out).set_index("entity_id")
    assert len(leads) == 2
    assert leads.loc["u1", "is_pql"] and leads.loc["u1", "reason_1"] == "Viewed pricing"
    assert not leads.loc["u2", "is_pql"] and leads.loc["u2", "model_version"] == "rules"


@pytest.fixture
def planted_project(tmp_path: Path) -> Path:
    events, trials = planted_log(n_users=900, seed=4)
    events.to_csv(tmp_path / "events.csv", index=False)
    trials.to_csv(tmp_path / "trials.csv", index=False)
    text = "# planted product: magic 3+ times converts\n" + yaml.safe_dump(planted_spec())
    (tmp_path / "pql.yaml").write_text(text)
    return tmp_path


def test_triggers_writes_reports_and_rules_that_score(planted_project, monkeypatch, capsys):
    spec = planted_project / "pql.yaml"
    out = planted_project / "report"
    code, text = run(
        ["triggers", "--spec", str(spec), "--out", str(out), "--write-rules"], monkeypatch, capsys
    )
    assert code == 0, text
    assert "magic_count >= 3" in text and "correlations, not causes" in text
    assert "later, held out" in text
    stats = pd.read_csv(out / "triggers.csv")
    assert {"rate_at_or_above_low", "rate_below_high", "lift", "coverage"} <= set(stats.columns)
    assert (
        "nearly everybody"
        in pd.read_csv(out / "actions.csv").set_index("action").loc["login", "flags"]
    )
    assert "## Proposed rule-based PQL" in (out / "triggers.md").read_text()
    written = spec.read_text()
    assert written.startswith("# planted product") and "magic_count >= 3" in written
    leads = planted_project / "leads.csv"
    code, text = run(
        [
            "score",
            "--spec",
            str(spec),
            "--rules",
            "--as-of",
            "2026-03-01T00:00:00Z",
            "--out",
            str(leads),
        ],
        monkeypatch,
        capsys,
    )
    assert code == 0, text
    scored = pd.read_csv(leads)
    assert len(scored) == 900 and scored["is_pql"].any()


def test_triggers_refuses_to_write_rules_it_cannot_support(planted_project, monkeypatch, capsys):
    trials = pd.read_csv(planted_project / "trials.csv")
    trials["converted_at"] = None
    trials.to_csv(planted_project / "trials.csv", index=False)
    spec = planted_project / "pql.yaml"
    before = spec.read_text()
    args = ["triggers", "--spec", str(spec), "--out", str(planted_project / "r")]
    code, text = run([*args, "--write-rules"], monkeypatch, capsys)
    text = " ".join(text.split())  # rich wraps long messages
    assert code == 5 and "no rules written" in text and "only 0 conversions" in text
    assert spec.read_text() == before
    assert (planted_project / "r" / "triggers.md").exists()  # the report is still written
    for day in ("-1", "inf", "nan", "1e308", "100000"):
        code, text = run([*args, "--day", day], monkeypatch, capsys)
        assert code == 2 and "--day" in text, (day, text)
    code, text = run([*args, "--max-conditions", "6"], monkeypatch, capsys)
    assert code == 2 and "max-conditions" in text


def test_vendor_export_validates_and_bad_export_exits_3(tmp_path, monkeypatch, capsys):
    records = [
        {
            "type": "track",
            "event": "invite",
            "anonymousId": "a1",
            "messageId": "m1",
            "timestamp": "2026-03-01T10:00:00Z",
        },
        {"type": "identify", "userId": "u1", "anonymousId": "a1", "messageId": "m2"},
        {
            "type": "track",
            "event": "paid",
            "userId": "u1",
            "messageId": "m3",
            "timestamp": "2026-03-02T10:00:00Z",
        },
        {
            "type": "track",
            "event": "paid",
            "userId": "u1",
            "messageId": "m3",
            "timestamp": "2026-03-02T10:00:00Z",
        },
    ]
    export = tmp_path / "segment.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in records))
    spec = dict(SPEC, data={"events": {"path": "segment.jsonl", "format": "segment"}})
    (tmp_path / "pql.yaml").write_text(yaml.safe_dump(spec))
    code, out = run(["validate", "--spec", str(tmp_path / "pql.yaml")], monkeypatch, capsys)
    assert code == 0, out
    assert "identity record" in out and "duplicate insert id" in out
    assert "anonymous events attributed to a known user" in out
    export.write_text(export.read_text() + '{"type": "track", "event": \n')
    code, out = run(["validate", "--spec", str(tmp_path / "pql.yaml")], monkeypatch, capsys)
    assert code == 3 and "segment.jsonl" in out and "line 5" in out


@pytest.mark.parametrize(
    "args",
    [
        ["features", "--out", "{bad}/f.csv"],
        ["score", "--rules", "--out", "{bad}/leads.csv"],
        ["score", "--rules", "--out", "{ok}/leads.csv", "--html", "{bad}/leads.html"],
        ["triggers", "--out", "{bad}"],
        ["monitor", "--out", "{bad}"],
    ],
)
def test_unwritable_outputs_fail_before_the_work(planted_project, monkeypatch, capsys, args):
    (planted_project / "a-file").write_text("not a folder")
    bad, ok = planted_project / "a-file" / "out", planted_project / "ok"
    filled = [a.format(bad=bad, ok=ok) for a in args]
    code, text = run(
        [filled[0], "--spec", str(planted_project / "pql.yaml"), *filled[1:]], monkeypatch, capsys
    )
    text = " ".join(text.split())
    assert code == 3, text
    assert f"{bad}" in text and "cannot create the output folder" in text
    assert not (ok / "leads.csv").exists()  # nothing half-done


def test_a_file_the_os_refuses_is_named_not_a_traceback(planted_project, monkeypatch, capsys):
    out = planted_project / "report"
    (out / "triggers.csv").mkdir(parents=True)  # a folder where the report file goes
    code, text = run(
        ["triggers", "--spec", str(planted_project / "pql.yaml"), "--out", str(out)],
        monkeypatch,
        capsys,
    )
    text = text.replace("\n", "")  # rich folds long paths mid-word
    assert code == 3 and "triggers.csv: Is a directory" in text and "internal error" not in text


def test_write_rules_edits_a_symlinked_spec_where_it_points(planted_project, monkeypatch, capsys):
    real = planted_project / "specs" / "real.yaml"
    real.parent.mkdir()
    (planted_project / "pql.yaml").rename(real)
    real.chmod(0o640)
    link = planted_project / "pql.yaml"
    link.symlink_to(real)
    args = ["triggers", "--spec", str(link), "--out", str(planted_project / "r"), "--write-rules"]
    code, text = run(args, monkeypatch, capsys)
    assert code == 0, text
    assert link.is_symlink() and "magic_count >= 3" in real.read_text()
    assert real.stat().st_mode & 0o777 == 0o640


def test_write_rules_refuses_a_layout_it_cannot_edit(planted_project, monkeypatch, capsys):
    spec = planted_project / "pql.yaml"
    spec.write_text(json.dumps(planted_spec()))  # flow style: valid, but no block to replace
    before = spec.read_text()
    args = ["triggers", "--spec", str(spec), "--out", str(planted_project / "r"), "--write-rules"]
    code, text = run(args, monkeypatch, capsys)
    text = " ".join(text.split())
    assert code == 2 and "rules not written" in text and "Add them by hand" in text
    assert "magic_count >= 3" in text  # the rules to paste
    assert spec.read_text() == before


def test_outputs_that_are_the_wrong_kind_of_path(planted_project, monkeypatch, capsys):
    spec = str(planted_project / "pql.yaml")
    (planted_project / "a-folder.csv").mkdir()
    (planted_project / "a-file").write_text("x")
    for args, problem in (
        (["score", "--rules", "--out", str(planted_project / "a-folder.csv")], "is a folder"),
        (["triggers", "--out", str(planted_project / "a-file")], "is a file"),
    ):
        code, text = run([args[0], "--spec", spec, *args[1:]], monkeypatch, capsys)
        assert code == 3 and problem in " ".join(text.split()), text


def test_score_rules_without_rules_names_the_key(planted_project, monkeypatch, capsys):
    args = ["score", "--spec", str(planted_project / "pql.yaml"), "--rules"]
    code, text = run([*args, "--out", str(planted_project / "l.csv")], monkeypatch, capsys)
    assert code == 2 and "key 'rules'" in text
