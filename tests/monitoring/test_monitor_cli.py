"""`pql score` records runs; `pql monitor` reports on them, or says plainly there are none."""

from __future__ import annotations

import mlflow
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.pql.test_cli import run


@pytest.mark.slow
def test_score_then_monitor_end_to_end(trained, tmp_path, monkeypatch, capsys):
    from pql.training.tracking import log_and_register, open_tracking

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PQL_SCORE_HISTORY", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    spec = str(trained.folder / "pql.yaml")

    code, text = run(["monitor", "--spec", spec], monkeypatch, capsys)
    assert code == 9, text
    assert "no scoring runs recorded" in text and "pql score" in text

    log_and_register(open_tracking(), trained.dataset, trained.result)
    early = trained.dataset.entities["signup_at"].quantile(0.5).ceil("D").isoformat()
    late = trained.dataset.data_end.floor("D").isoformat()
    # the early run is re-done (as after an exit 8): it must count once
    for as_of, out in ((early, "early.csv"), (early, "again.csv"), (late, "late.csv")):
        code, text = run(
            ["score", "--spec", spec, "--as-of", as_of, "--out", out], monkeypatch, capsys
        )
        assert code == 0, text
        assert "score history: pql-scores" in " ".join(text.split())
    history = tmp_path / "pql-scores" / "simulated"
    assert len(list(history.glob("run-*.parquet"))) == 3
    # an old run whose metadata was damaged is skipped with a warning naming it
    damaged = history / "run-20000101T000000000000Z.parquet"
    pq.write_table(
        pa.table({"x": [1]}).replace_schema_metadata({b"pql.run": b'{"product": "simulated"}'}),
        damaged,
    )

    code, text = run(["monitor", "--spec", spec, "--out", "reports"], monkeypatch, capsys)
    assert code == 0, text
    text = " ".join(text.split())  # rich wraps long lines
    assert "score PSI" in text and "1 matured run(s)" in text
    assert "1 run(s) superseded" in text
    assert "warning: skipped:" in text and "missing entity" in text
    assert f"pql-scores/simulated/{damaged.name}" in "".join(text.split())  # may be folded
    early_rows = len(pd.read_csv(tmp_path / "early.csv").query("status == 'scored'"))
    assert f"1 matured run(s) ({early_rows:,} rows)" in text
    assert ("RETRAIN" in text) or ("no retrain needed" in text)
    (report,) = (tmp_path / "reports" / "simulated").glob("*/monitor-report.md")
    body = report.read_text()
    assert "## Verdict" in body and "| score (probability) |" in body
    assert "| set_by |" in body and "| tenure_days |" in body
    assert "## Realised conversion (matured runs)" in body and "| hot |" in body
    assert "1 superseded" in body and "skipped, unreadable" in body
    for plot in ("psi.png", "score_distribution.png", "tier_conversion.png", "calibration.png"):
        assert (report.parent / plot).stat().st_size > 1000, plot

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("pql-simulated")
    (monitoring,) = client.search_runs([experiment.experiment_id], "tags.`pql.kind` = 'monitoring'")
    assert "score_psi" in monitoring.data.metrics
    assert monitoring.data.metrics["matured_runs"] == 1
    assert monitoring.data.metrics["superseded_runs"] == 1
    artifacts = {a.path for a in client.list_artifacts(monitoring.info.run_id, "monitoring")}
    assert "monitoring/monitor-report.md" in artifacts


def test_only_damaged_history_is_exit_3_naming_the_file(tmp_path, monkeypatch, capsys):
    from tests.pql.test_cli import CSV, SPEC

    (tmp_path / "events.csv").write_text(CSV)
    spec = tmp_path / "pql.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    folder = tmp_path / "scores" / SPEC["product"]
    folder.mkdir(parents=True)
    damaged = folder / "run-20260101T000000000000Z.parquet"
    pq.write_table(pa.table({"x": [1]}).replace_schema_metadata({b"pql.run": b"[1, 2]"}), damaged)
    args = ["monitor", "--spec", str(spec), "--history", str(tmp_path / "scores")]
    code, text = run([*args, "--out", str(tmp_path / "reports")], monkeypatch, capsys)
    assert code == 3, text
    text = " ".join(text.split())
    assert str(damaged) in "".join(text.split()) and "a JSON list, not an object" in text
