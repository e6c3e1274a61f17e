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
# # 01 · Exploring a product's events and triggers
#
# What a data scientist looks at before training anything: the data-quality report,
# how activity and conversions are spread over time, and which in-product actions
# separate trials that convert (the triggers a rule-based PQL would use).
#
# Everything comes from the `pql` package; this notebook only calls it and plots. It
# runs on a small simulated product in a temporary folder. Point `SPEC` at your own
# `pql.yaml` to explore a real product.

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from pql.features.pipeline import load_dataset
from pql.features.spec import load_spec
from pql.simulator import simulate
from pql.triggers.discovery import discover_triggers

# %matplotlib inline

WORK = Path(tempfile.mkdtemp(prefix="pql-notebook-01-"))
summary = simulate(3000, 7, WORK / "data")
SPEC = WORK / "data" / "pql.yaml"
print(f"{summary.users:,} users, {summary.events:,} events, {summary.conversions:,} conversions")

# %% [markdown]
# ## The data-quality report
# Rows read, unusable rows by reason, events per action, event names no action counts.

# %%
dataset = load_dataset(load_spec(SPEC))
quality = dataset.quality.to_dict()
{k: quality[k] for k in ("rows_read", "usable_rows", "users", "entities", "conversions")}

# %%
pd.Series(quality["events_per_action"], name="events").sort_values(ascending=False).to_frame()

# %% [markdown]
# ## Activity and conversions over time

# %%
events, entities = dataset.events, dataset.entities
figure, (daily, lag) = plt.subplots(1, 2, figsize=(12, 4))
events.set_index("timestamp").resample("D").size().plot(ax=daily, title="events per day")
days_to_convert = (entities["converted_at"] - entities["signup_at"]).dt.total_seconds() / 86400
days_to_convert.dropna().plot.hist(bins=30, ax=lag, title="days from signup to conversion")
lag.set_xlabel("days")
figure.tight_layout()

# %% [markdown]
# ## Triggers: which actions separate converters?
#
# `discover_triggers` looks at one snapshot per trial (the one closest to a week), finds
# for every action and threshold the conversion rate at or above vs below it, with
# Wilson intervals, on the earlier signups; the proposed rules are judged on later ones.

# %%
triggers = discover_triggers(dataset)
triggers.counts

# %%
triggers.actions

# %%
stats = triggers.stats
best = stats[stats["supported"]].sort_values("lift", ascending=False).iloc[0]
curve = stats[(stats["feature"] == best["feature"]) & stats["supported"]]
figure, axis = plt.subplots(figsize=(7, 4))
axis.errorbar(
    curve["threshold"],
    curve["rate_at_or_above"],
    yerr=[
        curve["rate_at_or_above"] - curve["rate_at_or_above_low"],
        curve["rate_at_or_above_high"] - curve["rate_at_or_above"],
    ],
    marker="o",
    capsize=3,
    label=f"{best['feature']} >= threshold",
)
axis.axhline(triggers.base_rate_train, linestyle="--", color="grey", label="base rate")
axis.set(xlabel="threshold", ylabel="conversion within the horizon", title="Best trigger")
axis.legend()

# %% [markdown]
# ## The proposed rule-based PQL
# Paste these into the spec's `rules:` to score without a model (`pql score --rules`).

# %%
proposal = triggers.proposal
print(proposal.why_none or "")
pd.DataFrame(proposal.spec_rules())

# %%
pd.DataFrame(
    {
        "train": proposal.train.as_dict() if proposal.train else {},
        "held out": proposal.held_out.as_dict() if proposal.held_out else {},
    }
)

# %%
for warning in triggers.warnings:
    print("note:", warning)
