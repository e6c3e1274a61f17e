# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Scoring, the lead report and monitoring
#
# After training: batch-score every trial with the champion (what `pql score` does),
# write the lead report sales reps read, keep each run in the score history, and
# monitor: does what the model sees still look like training (PSI), did the scores come
# true once outcomes are known (realised conversion by tier, calibration), and is it
# time to retrain (what `pql monitor` does). Small simulated data, a temporary MLflow
# store and history folder.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import HTML, Image, Markdown, display

from pql.features.pipeline import load_dataset
from pql.features.spec import load_spec
from pql.handoff.lead_report import ReportContext, render_lead_report
from pql.monitoring.monitor import build_report
from pql.monitoring.report import log_report, write_report
from pql.serving.batch import score_dataset
from pql.serving.registry import load_model
from pql.serving.score_history import history_folder, list_runs, record_batch
from pql.serving.scoring import Scorer
from pql.simulator import simulate
from pql.training.tracking import log_and_register, open_tracking
from pql.training.train import train_model

# %matplotlib inline

WORK = Path(tempfile.mkdtemp(prefix="pql-notebook-03-"))
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{WORK / 'mlflow.db'}"
HISTORY = WORK / "pql-scores"
simulate(3000, 7, WORK / "data")
dataset = load_dataset(load_spec(WORK / "data" / "pql.yaml"))
client = open_tracking()
registered = log_and_register(client, dataset, train_model(dataset))
champion = load_model(f"models:/{registered.model_name}@champion")
print(f"champion: {champion.name} v{champion.version}")

# %% [markdown]
# ## Batch scoring
# Every entity at one `as_of`: scored ones with probability, score, tier and reasons;
# the others with the reason they were not scored. Rows in = rows out.

# %%
scorer = Scorer(champion.bundle)
entities = dataset.entities
moments = {
    "earlier": entities["signup_at"].quantile(0.5).ceil("D"),
    "latest": entities["signup_at"].quantile(0.85).ceil("D"),
}
batches = {
    name: score_dataset(scorer, dataset, moment, model_version=champion.version)
    for name, moment in moments.items()
}
latest = batches["latest"]
columns = ["entity_id", "probability", "score", "tier", "reason_1", "negative_reason_1"]
latest.scored.head(10)[columns]

# %%
figure, (tiers, probabilities) = plt.subplots(1, 2, figsize=(11, 4))
latest.scored["tier"].value_counts().reindex(["hot", "warm", "cold"]).plot.bar(
    ax=tiers, title="entities per tier"
)
latest.scored["probability"].plot.hist(bins=30, ax=probabilities, title="calibrated probability")
figure.tight_layout()

# %% [markdown]
# ## The lead report for sales reps
# What `pql score --html leads.html` writes: one self-contained page (no server, no
# external assets) with the leads ranked by score, their tier, account, last activity,
# the reasons behind each score and the signal holding it back; sortable and
# filterable in the browser. Here it is rendered inline.

# %%
context = ReportContext(
    product=dataset.spec.product,
    entity=dataset.spec.entity,
    model_version=champion.version,
    as_of=latest.as_of,
    scored_at=latest.scored_at,
    row_limit=25,
)
page = render_lead_report(latest.leads, context)
(WORK / "leads.html").write_text(page, encoding="utf-8")
print(f"{len(page) / 1024:.0f} KiB -> {WORK / 'leads.html'}")
display(HTML(page))

# %% [markdown]
# ## The score history
# `pql score` records each run (the scored rows and the feature values the model saw);
# here the same call records both runs.

# %%
for batch in batches.values():
    record_batch(batch, champion, dataset.spec, HISTORY)
runs = list_runs(history_folder(dataset.spec.product, HISTORY))
[(run.path.name, f"{run.as_of:%Y-%m-%d}", run.scored) for run in runs]

# %% [markdown]
# ## Monitoring
# The latest run against training, and realised outcomes for runs whose label horizon
# has passed inside the data.

# %%
report = build_report(runs, dataset, champion.bundle, f"{champion.name} v{champion.version}")
print(report.advice.summary)
report.drift.head(12)

# %%
report.by_tier

# %%
folder = write_report(report, WORK / "pql-monitor").parent
run_id = log_report(report, folder)
print("logged to MLflow run", run_id)
for plot in ("psi.png", "score_distribution.png", "tier_conversion.png", "calibration.png"):
    if (folder / plot).exists():
        display(Image(filename=str(folder / plot)))

# %% [markdown]
# The Markdown report as `pql monitor` writes it:

# %%
display(Markdown((folder / "monitor-report.md").read_text().split("## Drift")[0]))
