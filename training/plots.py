"""Figures logged with every training run (matplotlib, headless).

Each function returns a figure and leaves saving to the caller, so tests can look at
the objects and tracking decides where files go.
"""

from __future__ import annotations

import lightgbm as lgb
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pql.training.metrics import calibration_curve, gain_curve

SHAP_SAMPLE = 2000


def calibration_curve_figure(
    curve: pd.DataFrame, *, label: str, title: str, ylabel: str = "observed conversion rate"
) -> plt.Figure:
    """Predicted vs observed per bin against the diagonal: one look for training's test
    rows and for monitoring's matured scoring runs, so the two can be compared."""
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    axis.plot(curve["mean_predicted"], curve["observed_rate"], marker="o", label=label)
    axis.set(xlabel="predicted probability", ylabel=ylabel, title=title)
    axis.legend()
    return figure


def calibration_figure(y: np.ndarray, probability: np.ndarray) -> plt.Figure:
    curve = calibration_curve(y, probability)
    return calibration_curve_figure(curve, label="model", title="Calibration (test)")


def gain_figure(y: np.ndarray, probability: np.ndarray) -> plt.Figure:
    curve = gain_curve(y, probability)
    figure, (gain, lift) = plt.subplots(1, 2, figsize=(10, 4))
    gain.plot(curve["flagged_share"], curve["captured_share"], label="model")
    gain.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    gain.set(
        xlabel="share of users flagged",
        ylabel="share of conversions captured",
        title="Cumulative gain (test)",
    )
    gain.legend()
    lift.plot(curve["flagged_share"], curve["lift"])
    lift.axhline(1, linestyle="--", color="grey")
    lift.set(xlabel="share of users flagged", ylabel="lift", title="Lift (test)")
    figure.tight_layout()
    return figure


def importance_figure(booster: lgb.Booster, names: list[str], top: int = 25) -> plt.Figure:
    gains = pd.Series(booster.feature_importance("gain"), index=names).nlargest(top)[::-1]
    figure, axis = plt.subplots(figsize=(7, 0.3 * len(gains) + 1))
    axis.barh(gains.index, gains.to_numpy())
    axis.set(xlabel="total gain", title="Feature importance")
    figure.tight_layout()
    return figure


def shap_beeswarm_figure(booster: lgb.Booster, features: pd.DataFrame, seed: int = 0) -> plt.Figure:
    """Exact TreeSHAP (shap.TreeExplainer) on a sample of test rows."""
    import shap

    sample = features.sample(min(SHAP_SAMPLE, len(features)), random_state=seed)
    explanation = shap.TreeExplainer(booster)(sample)
    shap.plots.beeswarm(explanation, max_display=20, show=False)
    figure = plt.gcf()
    figure.set_size_inches(9, 8)
    figure.tight_layout()
    return figure
