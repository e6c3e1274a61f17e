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
# # 02 · Training, calibration and explanations
#
# The model behind the scores: point-in-time snapshot rows, a time-ordered split,
# LightGBM, calibration, the baselines it has to beat, and the exact TreeSHAP
# explanations the reasons are made of. All of it is `training.train.train_model`; this
# notebook opens up its result. Small simulated data, a temporary MLflow store.

# %%
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from pql.features.pipeline import load_dataset
from pql.features.spec import load_spec
from pql.serving.scoring import Scorer
from pql.simulator import simulate
from pql.training import plots
from pql.training.metrics import threshold_table
from pql.training.report import render_result
from pql.training.tracking import log_and_register, open_tracking
from pql.training.train import train_model

# %matplotlib inline

WORK = Path(tempfile.mkdtemp(prefix="pql-notebook-02-"))
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{WORK / 'mlflow.db'}"
simulate(3000, 7, WORK / "data")
dataset = load_dataset(load_spec(WORK / "data" / "pql.yaml"))

# %% [markdown]
# ## Train
# Features at each snapshot day, labels over the horizon, later signups held out.

# %%
result = train_model(dataset)
render_result(result, Console(width=120))

# %%
pd.DataFrame([vars(s) for s in result.splits])

# %% [markdown]
# ## Calibration
# A probability of 0.3 should convert about 30% of the time: the calibrated test scores
# against the observed rates, and the calibrator the cross-validation chose.

# %%
test = result.test
y, probability = test["label"].to_numpy(), test["probability"].to_numpy()
print("calibrator:", result.bundle.calibrator.kind, result.calibration_cv_log_loss)
figure = plots.calibration_figure(y, probability)

# %%
figure = plots.gain_figure(y, probability)

# %%
threshold_table(y, probability)

# %% [markdown]
# ## Explanations
# Which features the trees lean on, and exact TreeSHAP values per test row.

# %%
names = list(result.bundle.feature_names)
figure = plots.importance_figure(result.bundle.booster, names, top=15)

# %%
figure = plots.shap_beeswarm_figure(result.bundle.booster, test[names], seed=0)

# %% [markdown]
# ## One lead's reasons
# Contributions are grouped by action and written as sentences; with the base value
# they add up to the raw score exactly.

# %%
scorer = Scorer(result.bundle)
row = test.sort_values("probability", ascending=False).iloc[[0]]
features = row[names].to_numpy(np.float64)
scores = scorer.predict(features)
positive, negative = scorer.reasons(features, scores)[0]
print(f"probability {scores.probability[0]:.1%}, score {scores.score[0]}, tier {scores.tier[0]}")
for reason in positive:
    print("  why:", reason.text)
for reason in negative:
    print("  holding it back:", reason.text)
assert np.isclose(scores.contributions[0].sum(), scores.raw[0])

# %% [markdown]
# ## Log to MLflow and register
# The same call `pql train` makes: one run with params, metrics, plots and the model,
# registered as `pql-simulated` and promoted through the gate.

# %%
registered = log_and_register(open_tracking(), dataset, result)
print(registered.model_name, registered.version, registered.decision.summary)
