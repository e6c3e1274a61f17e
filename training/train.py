"""Train, calibrate and evaluate one PQL model; compare it with the baselines.

Pure computation: data in, a `TrainingResult` (bundle, metrics, baselines, splits)
out. MLflow logging and the champion gate live in `training.tracking` so this part
can be tested and benchmarked without a tracking store.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import yaml

from pql.errors import TrainingDataError
from pql.features.attributes import AttributeDefinitions, AttributeEncoding
from pql.features.pipeline import Dataset
from pql.serving.bundle import ModelBundle, Tiers
from pql.serving.scoring import PROBABILITY_REFERENCE, RAW_REFERENCE
from pql.training.baselines import LogisticBaseline, PointsScore, SingleThresholdRule
from pql.training.calibration import choose_calibrator
from pql.training.drift import reference_bins
from pql.training.labels import label_rows
from pql.training.metrics import (
    cut_for_top_percent,
    evaluate,
    paired_bootstrap_pr_auc,
    reliability_table,
    threshold_for_top_percent,
)
from pql.training.model import fit_booster, lightgbm_params, raw_scores
from pql.training.rows import TrainingRows, from_dataset
from pql.training.sampling import Sampled, keep_negatives
from pql.training.segments import segment_metrics, segment_table
from pql.training.split import SplitSummary, assign_splits, summarize_splits
from pql.training.time_split import GAP, assign_time_splits

PERCENTILES = np.arange(101)


@dataclass
class TrainingResult:
    bundle: ModelBundle
    metrics: dict[str, float]  # flat, MLflow-ready: test_*, validation_*, baseline_*, ...
    splits: list[SplitSummary]
    row_counts: dict[str, int]
    calibration_cv_log_loss: dict[str, float]
    baseline_descriptions: dict[str, str]
    beats_baselines: bool
    verdict: str
    test: pd.DataFrame  # test rows: ids, snapshot_day, label, features, probability
    timings: dict[str, float] = field(default_factory=dict)
    best_iteration: int = 0
    #: held-out reliability per probability bin, with 95% intervals (test rows)
    reliability: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: the realised hot share against the spec's target, and a warning when it misses
    tier_note: str = ""
    #: where labels ran to and why (`data.end_at`, the last event, a later conversion)
    data_end_note: str = ""
    #: the product shape training used (trial / freemium) and why, with how rows were cut
    shape_note: str = ""
    #: test metrics per level of each categorical fit attribute (`training.segments`)
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: negative down-sampling of the rows the model was fitted on (`model.negative_sample`)
    sampling: dict[str, float] = field(default_factory=dict)
    #: the engine that built the snapshot rows (local, buckets, spark)
    engine: str = "local"


def _check_labels(rows: pd.DataFrame, min_positives: int, unlabeled: int) -> None:
    if rows.empty:
        raise TrainingDataError(
            f"no labelled snapshot rows ({unlabeled:,} rows have a horizon running past the "
            "end of the data): need more history or a shorter label.horizon_days"
        )
    positives = int(rows["label"].sum())
    if positives == 0 or positives == len(rows):
        kind = "converted" if positives else "did not convert"
        raise TrainingDataError(
            f"all {len(rows):,} labelled rows {kind}: a model needs both outcomes"
        )
    if positives < min_positives:
        converters = rows.loc[rows["label"] == 1, "entity_id"].nunique()
        raise TrainingDataError(
            f"only {positives} positive rows (from {converters} converting entities) among "
            f"{len(rows):,} labelled rows; at least {min_positives} are needed "
            "(model.min_positives). Too few to train a model you can trust, so none is "
            "trained. The rule-based path still works: `pql triggers` measures which actions "
            "go with conversion, and `pql score --rules` scores with the spec's rules"
        )


def _reference(
    train: pd.DataFrame, names: list[str], probability: np.ndarray, raw: np.ndarray
):
    reference = {}
    for name in names:
        values = train[name].to_numpy(np.float64)
        values = values[np.isfinite(values)]
        if len(values):
            reference[name] = tuple(float(v) for v in np.percentile(values, PERCENTILES))
    reference[PROBABILITY_REFERENCE] = tuple(
        float(v) for v in np.percentile(probability, PERCENTILES)
    )
    reference[RAW_REFERENCE] = (float(raw.min()), float(np.median(raw)), float(raw.max()))
    return reference


def drift_reference(
    train: pd.DataFrame, names: list[str], probability: np.ndarray
) -> dict[str, dict[str, list[float]]]:
    """Training-row bins per feature and for the probability, for PSI in `pql monitor`."""
    reference = {name: reference_bins(train[name].to_numpy(np.float64)) for name in names}
    reference[PROBABILITY_REFERENCE] = reference_bins(probability)
    return reference


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": float(v) for k, v in metrics.items()}


def _thresholds(spec, validation_probability: np.ndarray) -> Tiers:
    """Probability cuts (the baselines' tiers, and the model's with `pql.threshold`)."""
    if spec.pql.threshold is not None:
        hot = spec.pql.threshold
    else:
        hot = threshold_for_top_percent(validation_probability, spec.pql.top_percent)
    warm = min(threshold_for_top_percent(validation_probability, spec.pql.warm_percent), hot)
    return Tiers(hot=float(hot), warm=float(warm))


#: How far the realised hot share may be from `top_percent` before training warns:
#: 1 percentage point, or a fifth of the target, whichever is larger.
SHARE_TOLERANCE_POINTS = 1.0


def share_tolerance(top_percent: float) -> float:
    return max(SHARE_TOLERANCE_POINTS, top_percent / 5)


def _model_tiers(spec, validation_raw: np.ndarray, calibrate) -> Tiers:
    """The model's tiers: with `top_percent`, cut on the raw score (ties in calibrated
    probabilities cannot inflate the hot share), shown as the probability at the cut."""
    if spec.pql.threshold is not None:
        return _thresholds(spec, calibrate(validation_raw))
    hot_raw, _ = cut_for_top_percent(validation_raw, spec.pql.top_percent)
    warm_raw, _ = cut_for_top_percent(validation_raw, spec.pql.warm_percent)
    warm_raw = min(warm_raw, hot_raw)
    hot, warm = (float(v) for v in calibrate(np.array([hot_raw, warm_raw])))
    return Tiers(hot=hot, warm=warm, hot_raw=hot_raw, warm_raw=warm_raw)


#: Resamples of the paired bootstrap that decides "beats the baseline" (test rows).
BOOTSTRAP_RESAMPLES = 1000


def beats(metrics: dict[str, float], baseline: str) -> bool:
    """The model beats a baseline when the 95% interval of its PR-AUC lead is above 0."""
    low = metrics.get(f"baseline_{baseline}_pr_auc_diff_low", math.nan)
    return bool(low > 0)


def comparison(metrics: dict[str, float], baseline: str) -> str:
    """`rule 0.388 (+0.018, 95% CI -0.012 to +0.047)`."""
    prefix = f"baseline_{baseline}"
    return (
        f"{baseline} {metrics[f'{prefix}_test_pr_auc']:.3f} "
        f"({metrics[f'{prefix}_pr_auc_diff']:+.3f}, 95% CI "
        f"{metrics[f'{prefix}_pr_auc_diff_low']:+.3f} to "
        f"{metrics[f'{prefix}_pr_auc_diff_high']:+.3f})"
    )


def _baselines(definitions, spec, train, validation, test, names, seed, encoding=None):
    """Each baseline fitted on train, its PQL cut set on validation like the model's;
    with fit attributes, every baseline may use them too (a fair comparison)."""
    attributes = (
        {n: encoding.levels.get(n) for n in encoding.names} if encoding is not None else None
    )
    categorical = tuple(encoding.categorical_names) if encoding is not None else ()
    models: dict[str, Any] = {
        "rule": SingleThresholdRule(definitions, attributes=attributes),
        "points": PointsScore(definitions, attributes=attributes),
        "logistic": LogisticBaseline(seed=seed, categorical=categorical),
    }
    metrics, descriptions = {}, {}
    for name, model in models.items():
        model.fit(train[names], train["label"].to_numpy())
        if name == "rule":  # a rule's PQLs are simply the rows it flags
            cut = model.rate_flagged_
        else:
            cut = _thresholds(spec, model.predict_proba(validation[names])[:, 1]).hot
        proba = model.predict_proba(test[names])[:, 1]
        ranking = model.score_samples(test[names]) if hasattr(model, "score_samples") else None
        result = evaluate(test["label"].to_numpy(), proba, threshold=cut, score=ranking)
        metrics.update(_prefixed(f"baseline_{name}_test", result))
        difference, low, high = paired_bootstrap_pr_auc(
            test["label"].to_numpy(),
            test["probability"].to_numpy(),
            proba if ranking is None else ranking,
            resamples=BOOTSTRAP_RESAMPLES,
            seed=seed,
        )
        metrics[f"baseline_{name}_pr_auc_diff"] = difference
        metrics[f"baseline_{name}_pr_auc_diff_low"] = low
        metrics[f"baseline_{name}_pr_auc_diff_high"] = high
        descriptions[name] = getattr(model, "description_", name)
    return metrics, descriptions


def _tier_note(spec, validation_share: float, test_share: float) -> str:
    """The hot share the tiers really give, against what the spec asks for."""
    shares = f"validation {100 * validation_share:.1f}%, test {100 * test_share:.1f}%"
    if spec.pql.threshold is not None:
        return f"hot (p >= {spec.pql.threshold:g}) flags {shares} of held-out rows"
    target = spec.pql.top_percent
    note = f"hot flags {shares} of held-out rows (pql.top_percent {target:g}%)"
    tolerance = share_tolerance(target)
    if abs(100 * validation_share - target) > tolerance:
        note += (
            f"; WARNING: {tolerance:g} points off the target on validation: many rows share "
            "one score (e.g. users with no activity), and a cut cannot split them"
        )
    return note


def _per_snapshot(test: pd.DataFrame, threshold: float) -> dict[str, float]:
    metrics = {}
    for day, part in test.groupby("snapshot_day"):
        result = evaluate(
            part["label"].to_numpy(),
            part["probability"].to_numpy(),
            threshold=threshold,
            flagged=part["is_hot"].to_numpy() if "is_hot" in part else None,
        )
        metrics.update(_prefixed(f"test_day{day:g}", result))
    return metrics


#: Freemium test metrics per age band (days after signup): young and long-lived users.
AGE_BANDS = ((0, 30), (30, 90), (90, 180), (180, math.inf))


def _per_age_band(test: pd.DataFrame, threshold: float) -> dict[str, float]:
    """Freemium test metrics per age band (a cutoff per age would be dozens of groups)."""
    metrics = {}
    for low, high in AGE_BANDS:
        part = test[(test["snapshot_day"] >= low) & (test["snapshot_day"] < high)]
        if part.empty or part["label"].nunique() < 2:
            continue
        result = evaluate(
            part["label"].to_numpy(),
            part["probability"].to_numpy(),
            threshold=threshold,
            flagged=part["is_hot"].to_numpy(),
        )
        name = f"age{low}to{high:g}d" if math.isfinite(high) else f"age{low}plusd"
        metrics.update(_prefixed(f"test_{name}", result))
    return metrics

def _oracle(
    known_oracle: pd.Series | None, test: pd.DataFrame, threshold: float
) -> dict[str, float]:
    """The simulator's own trial-end probabilities on the same trial-end test rows."""
    if known_oracle is None:
        return {}
    last_day = test["snapshot_day"].max()
    rows = test[test["snapshot_day"] == last_day]
    oracle = rows["entity_id"].map(known_oracle)
    known = oracle.notna().to_numpy()
    if not known.any():
        return {}
    result = evaluate(
        rows["label"].to_numpy()[known], oracle.to_numpy(float)[known], threshold=threshold
    )
    return _prefixed(f"oracle_test_day{last_day:g}", result)


def _no_signal(metrics: dict[str, float]) -> bool:
    """ROC-AUC within two standard errors of 0.5 (Hanley-McNeil): nothing learned."""
    auc = metrics["test_roc_auc"]
    positives = metrics["test_positives"]
    negatives = metrics["test_rows"] - positives
    if not math.isfinite(auc) or positives < 1 or negatives < 1:
        return True
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    ) / (positives * negatives)
    return auc - 2 * math.sqrt(max(variance, 0.0)) <= 0.5


def _sampling(fitted: Sampled, fitted_validation: Sampled) -> dict[str, float]:
    """What down-sampling kept (empty without it): logged and printed with the run."""
    if fitted.rate >= 1:
        return {}
    return {
        "rate": fitted.rate,
        "negative_weight": 1.0 / fitted.rate,
        "train_negatives": fitted.negatives,
        "train_negatives_kept": fitted.negatives_kept,
        "validation_negatives": fitted_validation.negatives,
        "validation_negatives_kept": fitted_validation.negatives_kept,
    }


def train_model(dataset: Dataset) -> TrainingResult:
    """Snapshot rows of a data set in memory (the local engine) -> `train_rows`."""
    started = time.perf_counter()
    source = from_dataset(dataset)
    return train_rows(source, started=started)


def train_rows(source: TrainingRows, started: float | None = None) -> TrainingResult:
    """Snapshot rows -> labels -> time split -> LightGBM -> calibration -> evaluation.

    With `model.negative_sample` below 1 the booster (and its early stopping) and the
    calibrator are fitted on every positive and a seeded share of the negatives of the
    train and validation splits, weighted 1 / rate; the tiers, the reference bins, the
    baselines and every reported metric use all rows (test rows are never sampled).
    """
    spec, definitions = source.spec, source.definitions
    names = definitions.names
    timings: dict[str, float] = {}
    started = time.perf_counter() if started is None else started
    frame = source.rows
    labeled = label_rows(frame, spec.label.horizon_days, source.data_end)
    rows = labeled.rows
    _check_labels(rows, spec.model.min_positives, labeled.unlabeled)
    freemium = source.shape.shape == "freemium"
    fractions = (spec.model.split.validation_fraction, spec.model.split.test_fraction)
    by_cutoff = spec.model.split.by == "cutoff"
    if by_cutoff:  # by cutoff time, with a purge gap: see training.time_split
        split = assign_time_splits(rows, *fractions, spec.label.horizon_days)
    else:
        split = assign_splits(rows, *fractions)
    train, validation, test = (rows[split == s] for s in ("train", "validation", "test"))
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        if part["label"].nunique() < 2:
            raise TrainingDataError(
                f"the {name} split ({len(part):,} rows) has only one outcome; more data or "
                "different split fractions are needed"
            )
    encoding = _attribute_encoding(source, train)
    if encoding is not None:  # codes fitted on the training rows only
        train, validation, test = (_encoded(encoding, p) for p in (train, validation, test))
        names = [*names, *encoding.names]
    timings["features_and_labels"] = time.perf_counter() - started

    started = time.perf_counter()
    rate, seed = spec.model.negative_sample, spec.model.seed
    fitted = keep_negatives(train, rate, seed)
    fitted_validation = keep_negatives(validation, rate, seed)
    params = lightgbm_params(
        definitions,
        spec.model.params,
        spec.model.seed,
        extra_features=encoding.names if encoding is not None else None,
    )
    booster = fit_booster(
        params,
        (fitted.rows[names], fitted.rows["label"].to_numpy()),
        (fitted_validation.rows[names], fitted_validation.rows["label"].to_numpy()),
        categorical=encoding.categorical_names if encoding is not None else None,
        weights=(fitted.weight, fitted_validation.weight),
    )
    best_iteration = booster.best_iteration or booster.current_iteration()
    booster_text = booster.model_to_string(num_iteration=best_iteration)
    timings["fit"] = time.perf_counter() - started

    started = time.perf_counter()
    validation_raw = raw_scores(booster, validation[names])
    if fitted_validation.weight is None:
        choice = choose_calibrator(validation_raw, validation["label"].to_numpy(), seed)
    else:
        choice = choose_calibrator(
            raw_scores(booster, fitted_validation.rows[names]),
            fitted_validation.rows["label"].to_numpy(),
            seed,
            weight=fitted_validation.weight,
        )
    calibrate = choice.calibrator
    tiers = _model_tiers(spec, validation_raw, calibrate)
    train_raw = raw_scores(booster, train[names])
    train_probability = calibrate(train_raw)
    timings["calibration"] = time.perf_counter() - started

    started = time.perf_counter()
    test_raw = raw_scores(booster, test[names])
    test = test.assign(probability=calibrate(test_raw))
    test_hot = tiers.is_hot(test["probability"].to_numpy(), test_raw)
    validation_hot = tiers.is_hot(calibrate(validation_raw), validation_raw)
    metrics = _prefixed(
        "test",
        evaluate(
            test["label"].to_numpy(),
            test["probability"].to_numpy(),
            threshold=tiers.hot,
            flagged=test_hot,
        ),
    )
    metrics.update(
        _prefixed(
            "validation",
            evaluate(
                validation["label"].to_numpy(),
                calibrate(validation_raw),
                threshold=tiers.hot,
                flagged=validation_hot,
            ),
        )
    )
    reliability = reliability_table(test["label"].to_numpy(), test["probability"].to_numpy())
    metrics["test_reliability_bins_outside"] = float((~reliability["inside"]).sum())
    tier_note = _tier_note(spec, float(validation_hot.mean()), float(test_hot.mean()))
    metrics["validation_hot_share"] = float(validation_hot.mean())
    metrics["test_hot_share"] = float(test_hot.mean())
    test = test.assign(is_hot=test_hot)
    metrics.update(_per_age_band(test, tiers.hot) if freemium else _per_snapshot(test, tiers.hot))
    metrics.update(_oracle(source.oracle, test, tiers.hot))
    baseline_metrics, descriptions = _baselines(
        definitions, spec, train, validation, test, names, spec.model.seed, encoding
    )
    metrics.update(baseline_metrics)
    segments = pd.DataFrame()
    if encoding is not None:
        segments = segment_table(encoding, test, test["probability"].to_numpy())
        metrics.update(segment_metrics(segments))
    timings["evaluation"] = time.perf_counter() - started

    baselines = ("rule", "points", "logistic")
    beaten = [b for b in baselines if beats(metrics, b)]
    verdict = (
        f"model PR-AUC {metrics['test_pr_auc']:.3f} vs "
        + ", ".join(comparison(metrics, b) for b in baselines)
        + ": "
        + (
            "the model beats every baseline (every interval above 0)"
            if len(beaten) == len(baselines)
            else "the model does NOT reliably beat "
            + ", ".join(b for b in baselines if b not in beaten)
            + " (the interval of the PR-AUC difference includes 0 or is below it)"
        )
    )
    all_beaten = len(beaten) == len(baselines)
    metrics["no_signal"] = float(_no_signal(metrics))
    # the bundle's spec names the shape training used, so serving words follow it
    shaped = spec.model_copy(update={"shape": source.shape.shape})
    bundle = ModelBundle(
        spec_yaml=yaml.safe_dump(shaped.model_dump(mode="json"), sort_keys=False),
        feature_names=tuple(names),
        booster_text=booster_text,
        calibrator=calibrate,
        tiers=tiers,
        reference=_reference(train, names, train_probability, train_raw),
        metrics={k: v for k, v in metrics.items() if k.startswith("test_")},
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        base_rate=float(train["label"].mean()),
        info={
            "best_iteration": best_iteration,
            "calibrator_cv_log_loss": choice.cv_log_loss,
            **({"negative_sample": rate} if rate < 1 else {}),
        },
        drift_reference=drift_reference(train, names, train_probability),
        attributes=encoding.to_dict() if encoding is not None else {},
    )
    return TrainingResult(
        bundle=bundle,
        metrics=metrics,
        splits=summarize_splits(rows, split),
        row_counts={
            "snapshot_candidates": source.candidates,
            "dropped_converted_before_cutoff": source.converted_before,
            "dropped_past_data_end": source.beyond_data,
            "dropped_before_data_start": source.before_data,
            "unlabeled_horizon_past_data_end": labeled.unlabeled,
            "labelled_rows": len(rows),
            **(
                {"purged_label_window_crosses_split": int((split == GAP).sum())}
                if by_cutoff
                else {}
            ),
        },
        calibration_cv_log_loss=choice.cv_log_loss,
        baseline_descriptions=descriptions,
        beats_baselines=all_beaten,
        verdict=verdict,
        test=test,
        timings=timings,
        best_iteration=best_iteration,
        reliability=reliability,
        tier_note=tier_note,
        data_end_note=source.data_end_note,
        shape_note=_shape_note(source),
        segments=segments,
        sampling=_sampling(fitted, fitted_validation),
        engine=source.engine,
    )


def _shape_note(source: TrainingRows) -> str:
    """`product shape: freemium (given: ...); rows: every free entity every 14 days ...`."""
    spec, shape = source.spec, source.shape
    if shape.shape == "freemium":
        rows = (
            f"every still-free entity at calendar cuts every {spec.freemium.every_days:g} "
            f"days, up to {spec.freemium.max_age_days:g} days old"
        )
    else:
        rows = "signup + " + ", ".join(f"{d:g}" for d in spec.snapshots_days) + " days"
    return f"product shape: {shape.describe}; training rows: {rows}"


def _attribute_encoding(source: TrainingRows, train: pd.DataFrame) -> AttributeEncoding | None:
    """The fit attributes' encoding, fitted on the training rows (None without any)."""
    definitions = AttributeDefinitions.from_spec(source.spec)
    if not definitions or not source.has_attributes:
        return None
    return AttributeEncoding.fit(definitions, train)


def _encoded(encoding: AttributeEncoding, part: pd.DataFrame) -> pd.DataFrame:
    codes, _ = encoding.encode(part)
    return part.assign(**{name: codes[name] for name in encoding.names})
