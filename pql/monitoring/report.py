"""Write a monitoring report (Markdown + PNG plots) and log it to MLflow.

The Markdown is the artefact a data scientist reads or pastes into a ticket: the
verdict first, then the evidence (drift table, realised conversion by tier,
calibration). The same folder is logged to MLflow as a run tagged `pql.kind=monitoring`
in the product's experiment, next to the training runs it judges.
"""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import matplotlib

from pql.files import atomic_output, write_text

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pql.monitoring.monitor import EXPECTED_WHY, SCORE_ROW, MonitorReport
from pql.training.drift import MAJOR, MODERATE, bin_proportions
from pql.training.plots import calibration_curve_figure

REPORT_FILE = "monitor-report.md"
TOP_FEATURES = 20


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.3f}"
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-style table (no extra dependency)."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([header, rule, *rows])


def psi_figure(drift: pd.DataFrame) -> plt.Figure:
    shown = drift.head(TOP_FEATURES + 1)[::-1]
    figure, axis = plt.subplots(figsize=(8, 0.32 * len(shown) + 1.5))
    colours = [
        "tab:red" if p >= MAJOR else "tab:orange" if p >= MODERATE else "tab:green"
        for p in shown["psi"]
    ]
    axis.barh(shown["feature"], shown["psi"], color=colours)
    axis.axvline(MODERATE, linestyle="--", color="grey")
    axis.axvline(MAJOR, linestyle="--", color="black")
    axis.set(xlabel="PSI (latest run vs training)", title="Population stability")
    figure.tight_layout()
    return figure


def score_distribution_figure(
    reference: dict[str, list[float]], probability: np.ndarray
) -> plt.Figure:
    """Share of rows per training-decile bin of the probability: training vs latest run."""
    expected = np.asarray(reference["proportions"][:-1])
    actual = bin_proportions(probability, reference["edges"])[:-1]
    edges = reference["edges"]
    if edges:
        inner = [f"{a:.3f}-{b:.3f}" for a, b in pairwise(edges)]
        labels = [f"<={edges[0]:.3f}", *inner, f">{edges[-1]:.3f}"]
    else:
        labels = ["all"]
    x = np.arange(len(labels))
    figure, axis = plt.subplots(figsize=(9, 4))
    axis.bar(x - 0.2, expected, width=0.4, label="training")
    axis.bar(x + 0.2, actual, width=0.4, label="latest run")
    axis.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    axis.set(xlabel="calibrated probability bin", ylabel="share of rows", title="Score drift")
    axis.legend()
    figure.tight_layout()
    return figure


def tier_figure(by_tier: pd.DataFrame) -> plt.Figure:
    x = np.arange(len(by_tier))
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.bar(x - 0.2, by_tier["mean_predicted"], width=0.4, label="mean predicted")
    axis.bar(x + 0.2, by_tier["realised_rate"], width=0.4, label="realised")
    names = [f"{t}\n({n:,} rows)" for t, n in zip(by_tier["tier"], by_tier["rows"], strict=True)]
    axis.set_xticks(x, names)
    axis.set(ylabel="conversion within the horizon", title="Realised conversion by tier")
    axis.legend()
    figure.tight_layout()
    return figure


def calibration_figure(curve: pd.DataFrame) -> plt.Figure:
    return calibration_curve_figure(
        curve,
        label="matured runs",
        title="Calibration (matured scoring runs)",
        ylabel="realised conversion rate",
    )


def _save(figure: plt.Figure, path: Path) -> Path:
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=100, format=path.suffix.lstrip(".") or "png")
    plt.close(figure)
    return path


def write_report(report: MonitorReport, folder: Path) -> Path:
    """Markdown + PNGs into `folder`; returns the Markdown file."""
    folder.mkdir(parents=True, exist_ok=True)
    latest, advice = report.latest, report.advice
    probability = latest.frame()["probability"].to_numpy(float)
    _save(psi_figure(report.drift), folder / "psi.png")
    _save(
        score_distribution_figure(report.score_reference, probability),
        folder / "score_distribution.png",
    )
    verdict = (
        "RETRAIN"
        if advice.retrain
        else "no retrain advised (too few rows to judge everything)"
        if advice.unjudged
        else "no retrain needed"
    )
    lines = [
        f"# Monitoring: {report.product} ({report.model})",
        "",
        f"## Verdict: {verdict}",
        "",
        *(f"- {reason}" for reason in advice.reasons),
        *(f"- watch: {item}" for item in advice.watch),
        *(f"- {item}" for item in advice.unjudged),
        *(f"- expected from when you score: {item}" for item in advice.expected),
        f"- (expected drift is {EXPECTED_WHY}; to score older entities, "
        f"{report.older_entities_remedy})"
        if advice.expected
        else "",
        ""
        if advice.reasons or advice.watch or advice.unjudged or advice.expected
        else "- no drift beyond 0.1 PSI, outcomes as predicted",
        "",
        "## Latest scoring run",
        "",
        f"- file: `{latest.path.name}`; as_of {latest.as_of:%Y-%m-%d %H:%M} UTC, scored at "
        f"{latest.scored_at:%Y-%m-%d %H:%M} UTC with {latest.model_name or 'model'} "
        f"v{latest.model_version}",
        f"- {latest.scored:,} entities scored of {latest.entities_in:,}; "
        f"{len(report.runs)} run(s) recorded, {len(report.superseded)} superseded (re-done "
        "later at the same as_of with the same model: counted once)",
        *(f"- skipped, unreadable: {problem}" for problem in report.skipped),
        f"- training reference: {report.reference_source}",
        f"- data ends {report.data_end:%Y-%m-%d %H:%M} UTC; label horizon "
        f"{report.horizon_days:g} days",
        "",
        "## Drift (PSI: < 0.1 stable, 0.1-0.25 moderate, >= 0.25 major)",
        "",
        "Important features together hold half of the model's split gain; major drift on "
        "them or on the score means retrain. Features set by the scoring moment (`set_by`: "
        "tenure and hours since activity) drift with when you score: expected, not a "
        "retrain reason.",
        "",
        markdown_table(report.drift.head(TOP_FEATURES + 1)),
        "",
        "![PSI](psi.png)",
        "",
        "![Score distribution](score_distribution.png)",
        "",
        "## Realised conversion (matured runs)",
        "",
    ]
    if report.matured.empty:
        lines.append(
            f"No scoring run has matured yet: a run's outcomes are known once as_of + "
            f"{report.horizon_days:g} days lies inside the data (data ends "
            f"{report.data_end:%Y-%m-%d %H:%M} UTC)."
        )
    else:
        _save(tier_figure(report.by_tier), folder / "tier_conversion.png")
        _save(calibration_figure(report.calibration), folder / "calibration.png")
        rows = report.matured_rows
        lines += [
            markdown_table(report.matured),
            "",
            f"Pooled: {len(rows):,} rows, predicted {rows['probability'].mean():.1%} on "
            f"average, realised {rows['label'].mean():.1%}.",
            "",
            markdown_table(report.by_tier),
            "",
            "![Tier conversion](tier_conversion.png)",
            "",
            markdown_table(report.calibration),
            "",
            "![Calibration](calibration.png)",
        ]
    path = folder / REPORT_FILE
    write_text(path, "\n".join(lines) + "\n")
    return path


def metrics(report: MonitorReport) -> dict[str, float]:
    """Headline numbers for MLflow (finite values only)."""
    drift = report.drift
    features = drift[drift["feature"] != SCORE_ROW]
    values = {
        "score_psi": float(drift.loc[drift["feature"] == SCORE_ROW, "psi"].iloc[0]),
        "max_feature_psi": float(features["psi"].max()) if len(features) else float("nan"),
        "features_major_drift": float((features["psi"] >= MAJOR).sum()),
        "moment_features_major_drift": float(
            ((features["psi"] >= MAJOR) & (features["set_by"] == "scoring moment")).sum()
        ),
        "features_moderate_drift": float(
            ((features["psi"] >= MODERATE) & (features["psi"] < MAJOR)).sum()
        ),
        "latest_scored": float(report.latest.scored),
        "matured_runs": float(len(report.matured)),
        "matured_rows": float(len(report.matured_rows)),
        "superseded_runs": float(len(report.superseded)),
        "retrain": float(report.advice.retrain),
    }
    if len(report.matured_rows):
        values["realised_rate"] = float(report.matured_rows["label"].mean())
        values["mean_predicted"] = float(report.matured_rows["probability"].mean())
        for row in report.by_tier.itertuples():
            values[f"realised_rate_{row.tier}"] = float(row.realised_rate)
    return {k: v for k, v in values.items() if math.isfinite(v)}


def log_report(report: MonitorReport, folder: Path) -> str:
    """One MLflow run in the product's experiment, tagged as monitoring; returns its id."""
    import mlflow

    mlflow.set_experiment(f"pql-{report.product}")
    latest = report.latest
    with mlflow.start_run(run_name=f"monitor-{latest.scored_at:%Y%m%dT%H%M%S}") as run:
        mlflow.set_tags(
            {
                "pql.kind": "monitoring",
                "pql.retrain": "yes" if report.advice.retrain else "no",
                "pql.advice": report.advice.summary[:5000],
                "pql.model": report.model,
                "pql.scoring_run": latest.path.name,
            }
        )
        mlflow.log_params(
            {"as_of": latest.as_of.isoformat(), "model_version": latest.model_version or ""}
        )
        mlflow.log_metrics(metrics(report))
        mlflow.log_artifacts(str(folder), "monitoring")
    return run.info.run_id
