"""`pql demo`, the README's first command, end to end on a small simulated product."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.pql.test_cli import run


@pytest.mark.slow
def test_demo_trains_promotes_and_hands_over_the_leads(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code, text = run(["demo", "--users", "3000", "--out", "demo"], monkeypatch, capsys)
    assert code == 0, text
    assert "Hottest 10 leads" in text and "mlflow ui --backend-store-uri" in text
    leads = pd.read_csv(tmp_path / "demo" / "leads.csv")
    assert len(leads) == 3000  # every simulated user keeps a row, scored or not
    assert (leads["is_pql"] == True).any()  # noqa: E712 (empty for rows not scored)
    page = (tmp_path / "demo" / "leads.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and str(leads.iloc[0]["entity_id"]) in page
    assert (tmp_path / "demo" / "mlflow.db").exists()
