"""A model that is not the champion says so in every output it scores."""

from __future__ import annotations

import pandas as pd
import pytest

from pql.handoff.lead_report import ReportContext, render_lead_report
from pql.serving.batch import score_dataset
from pql.serving.registry import load_model
from pql.serving.scoring import Scorer
from pql.training.gate import GateDecision
from pql.training.tracking import log_and_register, open_tracking, record_decision


@pytest.mark.slow
def test_refused_model_is_named_in_leads_and_report(trained, tmp_path) -> None:
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = open_tracking(store)
    registered = log_and_register(client, trained.dataset, trained.result, auto_promote=False)
    refused = GateDecision(False, ["test ROC-AUC 0.51 is within two standard errors of 0.5"])
    record_decision(client, registered.model_name, registered.version, refused)

    loaded = load_model(f"models:/{registered.model_name}/{registered.version}", store)
    assert loaded.status.startswith("refused by the gate: test ROC-AUC 0.51")
    assert not loaded.is_champion
    batch = score_dataset(
        Scorer(loaded.bundle),
        trained.dataset,
        trained.dataset.data_end,
        model_version=loaded.version,
        model_status=loaded.status,
    )
    assert set(batch.leads["model_status"]) == {loaded.status}
    context = ReportContext(
        product="simulated",
        entity="user",
        model_version=loaded.version,
        as_of=batch.as_of,
        scored_at=batch.scored_at,
        model_status=loaded.status,
    )
    page = render_lead_report(batch.leads, context)
    assert 'id="model-status"' in page and "refused by the gate" in page

    client.set_registered_model_alias(registered.model_name, "champion", registered.version)
    champion = load_model(f"models:/{registered.model_name}@champion", store)
    assert champion.is_champion
    page = render_lead_report(
        batch.leads.assign(model_status="champion"),
        context.__class__(**{**context.__dict__, "model_status": "champion"}),
    )
    assert 'id="model-status"' not in page
    assert isinstance(batch.leads, pd.DataFrame)
