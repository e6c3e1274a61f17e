"""`pql score` records runs; `pql monitor` reports on them, or says plainly there are none."""

from __future__ import annotations

import mlflow
import pytest

from tests.pql.test_cli import run


@pytest.mark.slow
def test_score_then_monitor_end_to_end(trained, tmp_path, monkeypatch, capsys):
    from training.tracking import log_and_register, open_tracking

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
    for as_of, out in ((early, "early.csv"), (late, "late.csv")):
        code, text = run(
            ["score", "--spec", spec, "--as-of", as_of, "--out", out], monkeypatch, capsys
        )
        assert code == 0, text
        assert "score history: pql-scores" in " ".join(text.split())
    assert len(list((tmp_path / "pql-scores" / "simulated").glob("run-*.parquet"))) == 2

    code, text = run(["monitor", "--spec", spec, "--out", "reports"], monkeypatch, capsys)
    assert code == 0, text
    text = " ".join(text.split())  # rich wraps long lines
    assert "score PSI" in text and "1 matured run(s)" in text
    assert ("RETRAIN" in text) or ("no retrain needed" in text)
    (report,) = (tmp_path / "reports" / "simulated").glob("*/monitor-report.md")
    body = report.read_text()
    assert "## Verdict" in body and "| score (probability) |" in body
    assert "## Realised conversion (matured runs)" in body and "| hot |" in body
    for plot in ("psi.png", "score_distribution.png", "tier_conversion.png", "calibration.png"):
        assert (report.parent / plot).stat().st_size > 1000, plot

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("pql-simulated")
    (monitoring,) = client.search_runs([experiment.experiment_id], "tags.`pql.kind` = 'monitoring'")
    assert "score_psi" in monitoring.data.metrics
    assert monitoring.data.metrics["matured_runs"] == 1
    artifacts = {a.path for a in client.list_artifacts(monitoring.info.run_id, "monitoring")}
    assert "monitoring/monitor-report.md" in artifacts
