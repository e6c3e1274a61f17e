"""Print a training result the way a data scientist reads it: splits, model vs baselines."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from pql.training.train import TrainingResult

COLUMNS = (
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC"),
    ("log_loss", "log loss"),
    ("brier", "Brier"),
    ("ece", "ECE"),
    ("lift_top_10pct", "lift@10%"),
    ("precision_top_10pct", "prec@10%"),
    ("captured_at_threshold", "captured@PQL"),
    ("pql_volume", "PQL volume"),
)


def _cell(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _metrics_table(title: str, rows: dict[str, str], metrics: dict[str, float]) -> Table:
    table = Table(title=title)
    table.add_column("")
    for _, label in COLUMNS:
        table.add_column(label, justify="right")
    for label, prefix in rows.items():
        if f"{prefix}_roc_auc" in metrics:
            table.add_row(label, *(_cell(metrics.get(f"{prefix}_{key}")) for key, _ in COLUMNS))
    return table


def render_result(result: TrainingResult, console: Console) -> None:
    by_cutoff = "purged_label_window_crosses_split" in result.row_counts
    how = "by cutoff time, with a purge gap" if by_cutoff else "by entity signup"
    splits = Table(title=f"Time-ordered split ({how})")
    for column in ("split", "entities", "rows", "conversions", "rate", "signups from", "to"):
        splits.add_column(column, justify="right" if column not in ("split",) else "left")
    for s in result.splits:
        splits.add_row(
            s.name,
            f"{s.entities:,}",
            f"{s.rows:,}",
            f"{s.positives:,}",
            f"{s.positive_rate:.1%}",
            s.first_signup[:16],
            s.last_signup[:16],
        )
    console.print(splits)
    counts = result.row_counts
    console.print(
        f"snapshot rows: {counts['labelled_rows']:,} labelled; excluded: "
        f"{counts['unlabeled_horizon_past_data_end']:,} unlabeled (horizon past the end of the "
        f"data), {counts['dropped_converted_before_cutoff']:,} converted before the cutoff, "
        f"{counts['dropped_past_data_end']:,} cutoffs past the end of the data, "
        f"{counts.get('dropped_before_data_start', 0):,} at or before its start"
    )
    if by_cutoff:
        console.print(
            f"purged: {counts['purged_label_window_crosses_split']:,} rows whose label window "
            "reaches into a later part"
        )
    if result.shape_note:
        console.print(result.shape_note)
    if result.data_end_note:
        console.print(result.data_end_note)
    if result.sampling:
        console.print(sampling_line(result.sampling), highlight=False)
    metrics = result.metrics
    rows = {
        "model (LightGBM, calibrated)": "test",
        f"rule: {result.baseline_descriptions.get('rule', '')}": "baseline_rule_test",
        "points score": "baseline_points_test",
        "logistic regression": "baseline_logistic_test",
    }
    console.print(_metrics_table("Test metrics (held-out later signups)", rows, metrics))
    days = sorted(
        {k.split("_")[1] for k in metrics if k.startswith("test_day") and k.endswith("_roc_auc")},
        key=lambda d: float(d.removeprefix("day")),
    )
    per_day = {f"snapshot {d}": f"test_{d}" for d in days}
    per_day.update(
        {
            f"oracle {k.split('_')[2]}": k.removesuffix("_roc_auc")
            for k in metrics
            if k.startswith("oracle_") and k.endswith("_roc_auc")
        }
    )
    if per_day:  # freemium rows have no snapshot days: their table is per age band
        console.print(
            _metrics_table("Test metrics per snapshot day (earlier = knows less)", per_day, metrics)
        )
    bands = [k.removesuffix("_roc_auc") for k in metrics if k.startswith("test_age")]
    bands = [k for k in bands if k + "_roc_auc" in metrics]
    if bands:
        per_band = {k.removeprefix("test_").replace("to", " to ", 1): k for k in bands}
        console.print(_metrics_table("Test metrics per age band (days)", per_band, metrics))
    console.print(
        f"calibrator: {result.bundle.calibrator.kind} (5-fold CV log loss on validation: "
        + ", ".join(f"{k} {v:.4f}" for k, v in result.calibration_cv_log_loss.items())
        + f"); PQL threshold p >= {result.bundle.tiers.hot:.3f}, "
        f"warm >= {result.bundle.tiers.warm:.3f}"
    )
    if result.tier_note:
        style = "yellow" if "WARNING" in result.tier_note else "default"
        console.print(f"[{style}]{result.tier_note}[/]", highlight=False)
    if not result.reliability.empty:
        console.print(reliability_rich(result.reliability))
    style = "green" if result.beats_baselines else "yellow"
    console.print(f"[{style}]{result.verdict}[/]")
    if not result.segments.empty:  # fit attributes: is the model as good for every segment?
        from pql.training.segments import segment_lines

        for line in segment_lines(result.segments):
            console.print(line, highlight=False)


def reliability_rich(table) -> Table:
    """Held-out reliability: predicted vs observed per bin, with the 95% interval."""
    out = Table(title="Reliability on test rows (equal-count bins, 95% Wilson interval)")
    for column in ("rows", "predicted", "observed", "95% interval", "inside"):
        out.add_column(column, justify="right")
    for row in table.itertuples():
        out.add_row(
            f"{row.rows:,}",
            f"{row.predicted:.3f}",
            f"{row.observed:.3f}",
            f"{row.observed_low:.3f}-{row.observed_high:.3f}",
            "yes" if row.inside else "[red]no[/]",
        )
    return out


def sampling_line(sampling: dict[str, float]) -> str:
    """What negative down-sampling kept, and what it did not touch."""
    return (
        f"negative down-sampling (model.negative_sample {sampling['rate']:g}): LightGBM and "
        f"the calibrator were fitted on every positive and "
        f"{sampling['train_negatives_kept']:,.0f} of {sampling['train_negatives']:,.0f} "
        f"negative train rows, {sampling['validation_negatives_kept']:,.0f} of "
        f"{sampling['validation_negatives']:,.0f} negative validation rows, each kept "
        f"negative weighted {sampling['negative_weight']:g}; tiers, baselines and every "
        "metric use all rows (test rows are never sampled)"
    )
