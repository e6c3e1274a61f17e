"""Monitoring: drift of the latest scoring run, realised conversion, and when to retrain.

Three questions, each answered by pure functions of frames:
- Has what the model sees moved? PSI of each feature and of the score between the
  training rows (reference bins stored in the bundle) and the latest scoring run.
- Did the scores come true? For runs whose label horizon has passed inside the data
  (`as_of + horizon_days <= end of data`), the realised conversion per tier and a
  calibration table (predicted vs realised), using the same label definition as
  training: converted in `[as_of, as_of + horizon)`.
- So, retrain? Plain reasons: major drift on the score or on a feature the model relies
  on, calibration off beyond noise, or tiers whose realised conversion is inverted.
  Each test needs enough rows to mean something (`Thresholds.min_*`): below that the
  advice says "too few rows to judge" instead of guessing (a run that scored one entity
  has a PSI of 8 against any training distribution).

A run re-done at the same `as_of` with the same model (e.g. after an exit 8) is
superseded by the newer one: each entity and `as_of` is counted once.

Side effects (reading runs, loading models, writing files, MLflow) live in the CLI and
`training.monitor_report`; `build_report` only reads the run files it is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pql.errors import NoScoresError, PqlError
from pql.features.definitions import is_moment_feature
from pql.features.pipeline import Dataset, training_features
from pql.monitoring.age_mix import age_adjusted_psi
from pql.serving.bundle import ModelBundle
from pql.serving.score_history import ScoreRun
from pql.serving.scoring import PROBABILITY_REFERENCE
from pql.training.drift import MAJOR, MODERATE, band, psi_against
from pql.training.labels import label_rows
from pql.training.metrics import calibration_curve
from pql.training.split import assign_splits

SCORE_ROW = "score (probability)"
TIERS = ("hot", "warm", "cold")
WATCH_SHOWN = 5


def latest_scored_run(runs: list[ScoreRun]) -> ScoreRun:
    """The newest run that scored someone: a run at a moment when nobody was in trial
    (e.g. scored ahead of the data) must not hide the last real one from monitoring."""
    if not runs:
        raise NoScoresError("no scoring runs to monitor")
    for run in reversed(runs):
        if run.scored > 0:
            return run
    newest = runs[-1]
    raise NoScoresError(
        f"none of the {len(runs)} recorded scoring run(s) scored an entity (the newest, "
        f"{newest.path.name}, as_of {newest.as_of:%Y-%m-%d %H:%M}): nothing to compare "
        "with training"
    )


@dataclass(frozen=True)
class Thresholds:
    """When monitoring says "retrain"; defaults are the usual PSI bands."""

    psi_major: float = MAJOR
    psi_moderate: float = MODERATE
    #: the features the model leans on most: together they hold this share of its gain
    important_gain_share: float = 0.5
    #: tiers with fewer matured rows are not compared (too noisy)
    min_tier_rows: int = 30
    #: drift is not judged on a latest run that scored fewer entities: a PSI over ten
    #: bins from a handful of rows is mostly the empty bins' penalty
    min_psi_rows: int = 100
    #: calibration is not judged on fewer matured rows (pooled over runs)
    min_calibration_rows: int = 100
    #: calibration is "off" when realised vs predicted differ by more than this many
    #: standard errors AND by more than `calibration_ratio` of the predicted rate
    calibration_z: float = 3.0
    calibration_ratio: float = 0.25


#: Why drift of a feature set by the scoring moment is no retrain reason.
EXPECTED_WHY = (
    "set by when you score (ages and hours since activity at as_of differ from the "
    "training cutoffs'), not by behaviour: retraining on the same snapshot days cannot "
    "change it"
)


@dataclass(frozen=True)
class Advice:
    retrain: bool
    reasons: list[str]  # why retrain (empty when not)
    watch: list[str] = field(default_factory=list)  # worth a look, not yet a retrain
    #: tests that were not run for lack of rows ("too few rows to judge ...")
    unjudged: list[str] = field(default_factory=list)
    #: drift that comes from the scoring moment (tenure, hours since activity): expected
    #: from when you score, and no retrain reason
    expected: list[str] = field(default_factory=list)

    @property
    def expected_line(self) -> str:
        if not self.expected:
            return ""
        return f"expected from when you score: {'; '.join(self.expected)} ({EXPECTED_WHY})"

    @property
    def summary(self) -> str:
        expected = f"; {self.expected_line}" if self.expected else ""
        if self.retrain:
            return "RETRAIN: " + "; ".join(self.reasons) + expected
        parts = []
        if self.watch:
            more = (
                f"; and {len(self.watch) - WATCH_SHOWN} more"
                if len(self.watch) > WATCH_SHOWN
                else ""
            )
            parts.append("watch: " + "; ".join(self.watch[:WATCH_SHOWN]) + more)
        if self.unjudged:
            parts.append("; ".join(self.unjudged))
            return (
                "no retrain advised, but not everything could be judged: "
                + "; ".join(parts)
                + expected
            )
        if parts:
            return "no retrain needed yet; " + parts[0] + expected
        if self.expected:
            return "no retrain needed: the only drift is " + self.expected_line
        return "no retrain needed: no drift beyond 0.1 PSI and scores match outcomes"


@dataclass(frozen=True)
class MonitorReport:
    product: str
    model: str  # "pql-x v3"
    latest: ScoreRun
    runs: list[ScoreRun]
    superseded: list[ScoreRun]  # re-done later at the same as_of with the same model
    skipped: list[str]  # score-history files that could not be read: "file: problem"
    data_end: pd.Timestamp
    horizon_days: float
    drift: pd.DataFrame  # feature, psi, band, gain_share, important (score row first)
    reference_source: str
    score_reference: dict[str, list[float]]  # training bins of the probability (for plots)
    matured: pd.DataFrame  # per matured run: as_of, scored_at, model_version, rows, conversions
    by_tier: pd.DataFrame  # tier, rows, conversions, realised_rate, mean_predicted
    calibration: pd.DataFrame  # metrics.calibration_curve on matured rows
    matured_rows: pd.DataFrame  # probability, tier, label (all matured runs)
    advice: Advice
    #: the product shape the model was trained for: its remedy for older entities differs
    shape: str = "trial"

    @property
    def older_entities_remedy(self) -> str:
        """How to let the model see older entities: later cutoffs for a trial, a higher
        age cap for freemium (a freemium spec has no snapshot days to add)."""
        if self.shape == "freemium":
            return "raise freemium.max_age_days and retrain"
        return "add later snapshots_days and retrain"


# --- pure pieces -----------------------------------------------------------------------


def gain_shares(bundle: ModelBundle) -> pd.Series:
    """Each feature's share of the booster's total split gain, largest first."""
    gains = pd.Series(
        bundle.booster.feature_importance("gain"), index=list(bundle.feature_names), dtype=float
    )
    total = gains.sum()
    return (gains / total if total > 0 else gains * 0).sort_values(ascending=False, kind="stable")


def important_features(shares: pd.Series, cumulative: float) -> set[str]:
    """The fewest features (by gain) that together hold `cumulative` of the gain."""
    if shares.sum() <= 0:
        return set()
    running = shares.cumsum()
    count = int(np.searchsorted(running.to_numpy(), cumulative - 1e-12) + 1)
    return set(shares.index[: min(count, len(shares))])


def drift_table(
    reference: dict[str, dict[str, list[float]]],
    frame: pd.DataFrame,
    probability: np.ndarray,
    shares: pd.Series,
    important: set[str],
) -> pd.DataFrame:
    """PSI per feature and for the probability, the score row first, then by PSI."""
    records = []
    for name in [PROBABILITY_REFERENCE, *shares.index]:
        if name not in reference:
            continue
        values = probability if name == PROBABILITY_REFERENCE else frame[name].to_numpy(float)
        value = psi_against(reference[name], values)
        is_score = name == PROBABILITY_REFERENCE
        records.append(
            {
                "feature": SCORE_ROW if is_score else name,
                "psi": value,
                "band": band(value),
                "gain_share": float("nan") if is_score else float(shares.get(name, 0.0)),
                "important": is_score or name in important,
                "set_by": "-" if is_score else _set_by(name),
            }
        )
    table = pd.DataFrame.from_records(
        records, columns=["feature", "psi", "band", "gain_share", "important", "set_by"]
    )
    score, rest = table.iloc[:1], table.iloc[1:].sort_values("psi", ascending=False)
    return pd.concat([score, rest], ignore_index=True)


def _set_by(feature: str) -> str:
    """What moves a feature: the scoring moment, or the entity's behaviour."""
    return "scoring moment" if is_moment_feature(feature) else "behaviour"


def is_matured(as_of: pd.Timestamp, horizon_days: float, data_end: pd.Timestamp) -> bool:
    """The run's label window has closed inside the observed data."""
    return as_of + pd.Timedelta(days=horizon_days) <= data_end


def realised_labels(
    scored: pd.DataFrame, as_of: pd.Timestamp, entities: pd.DataFrame, horizon_days: float
) -> pd.DataFrame:
    """Scored rows of one run with `label` = converted in [as_of, as_of + horizon).

    Entities the data no longer knows are dropped (and therefore not counted as misses).
    """
    converted = entities.set_index("entity_id")["converted_at"]
    known = scored["entity_id"].isin(converted.index)
    rows = scored[known].copy()
    when = pd.to_datetime(rows["entity_id"].map(converted), utc=True)
    end = as_of + pd.Timedelta(days=horizon_days)
    rows["label"] = (when.notna() & (when >= as_of) & (when < end)).astype("int8").to_numpy()
    return rows


def conversion_by_tier(rows: pd.DataFrame) -> pd.DataFrame:
    """Realised conversion and mean predicted probability per tier (hot, warm, cold)."""
    records = []
    for tier in TIERS:
        part = rows[rows["tier"] == tier]
        conversions = int(part["label"].sum())
        records.append(
            {
                "tier": tier,
                "rows": len(part),
                "conversions": conversions,
                "realised_rate": conversions / len(part) if len(part) else float("nan"),
                "mean_predicted": float(part["probability"].mean()) if len(part) else float("nan"),
            }
        )
    return pd.DataFrame.from_records(records)


def supersede(runs: list[ScoreRun]) -> tuple[list[ScoreRun], list[ScoreRun]]:
    """(kept, superseded): of the runs sharing an as_of and a model version, the newest
    (by scoring time) stands for all; the others repeat it and would count twice."""
    newest: dict[tuple[pd.Timestamp, str | None], ScoreRun] = {}
    for run in sorted(runs, key=lambda r: r.scored_at):
        newest[(run.as_of, run.model_version)] = run
    kept_ids = {id(run) for run in newest.values()}
    kept = [run for run in runs if id(run) in kept_ids]
    return kept, [run for run in runs if id(run) not in kept_ids]


def advise(
    drift: pd.DataFrame,
    by_tier: pd.DataFrame,
    matured: pd.DataFrame,
    thresholds: Thresholds = Thresholds(),
    *,
    scored_rows: int,
) -> Advice:
    """Retrain or not, with every reason spelled out; `scored_rows` is the size of the
    run the drift table measured (drift of too small a run is not judged)."""
    reasons: list[str] = []
    watch: list[str] = []
    unjudged: list[str] = []
    if scored_rows < thresholds.min_psi_rows:
        unjudged.append(
            f"too few rows to judge drift: the latest run scored {scored_rows:,} "
            f"{'entity' if scored_rows == 1 else 'entities'} (at least "
            f"{thresholds.min_psi_rows:,} needed)"
        )
        drift = drift.iloc[0:0]
    expected: list[str] = []
    age_mix = _age_mix(drift, thresholds)
    moved = drift[(drift["feature"] != SCORE_ROW) & (drift["psi"] >= thresholds.psi_moderate)]
    by_moment = (moved["feature"].map(is_moment_feature) | moved["feature"].isin(age_mix)).astype(
        bool
    )
    # The score moved with only moment features moving: the moment explains it too.
    score_from_moment = bool(by_moment.any()) and not bool((~by_moment).any())
    for row in drift.itertuples():
        is_score = row.feature == SCORE_ROW
        label = "the score" if is_score else f"{row.feature}"
        where = (
            ""
            if is_score
            else (" (a feature the model leans on)" if row.important else " (a minor feature)")
        )
        text = f"{label}{where} PSI {row.psi:.2f}"
        if row.psi < thresholds.psi_moderate:
            continue
        if not is_score and is_moment_feature(row.feature):
            expected.append(f"{row.feature} PSI {row.psi:.2f}")
        elif not is_score and row.feature in age_mix:
            expected.append(
                f"{row.feature} PSI {row.psi:.2f} ({age_mix[row.feature]:.2f} with the scored "
                "ages weighted as in training: the age mix of who was scored, not behaviour)"
            )
        elif is_score and score_from_moment:
            expected.append(f"the score PSI {row.psi:.2f} (only moment features moved)")
        elif row.psi >= thresholds.psi_major and row.important:
            reasons.append(f"major drift: {text}")
        else:
            watch.append(f"drift: {text}")
    if 0 < len(matured) < thresholds.min_calibration_rows:
        unjudged.append(
            f"too few rows to judge calibration: {len(matured):,} matured "
            f"{'row' if len(matured) == 1 else 'rows'} (at least "
            f"{thresholds.min_calibration_rows:,} needed)"
        )
    elif len(matured):
        predicted = float(matured["probability"].mean())
        realised = float(matured["label"].mean())
        se = math.sqrt(max(predicted * (1 - predicted), 1e-12) / len(matured))
        gap = realised - predicted
        if (
            abs(gap) > thresholds.calibration_z * se
            and abs(gap) > thresholds.calibration_ratio * predicted
        ):
            direction = "over" if gap < 0 else "under"
            reasons.append(
                f"calibration off: predicted {predicted:.1%} on average, realised {realised:.1%} "
                f"over {len(matured):,} matured rows (the model {direction}-predicts)"
            )
    rates = by_tier.set_index("tier")
    for upper, lower in (("hot", "warm"), ("warm", "cold"), ("hot", "cold")):
        if min(rates.loc[upper, "rows"], rates.loc[lower, "rows"]) < thresholds.min_tier_rows:
            continue
        if rates.loc[upper, "realised_rate"] < rates.loc[lower, "realised_rate"]:
            reasons.append(
                f"tiers inverted: {upper} converted {rates.loc[upper, 'realised_rate']:.1%}, "
                f"{lower} {rates.loc[lower, 'realised_rate']:.1%}"
            )
    return Advice(
        retrain=bool(reasons), reasons=reasons, watch=watch, unjudged=unjudged, expected=expected
    )


def _age_mix(drift: pd.DataFrame, thresholds: Thresholds) -> dict[str, float]:
    """Features whose drift is gone once the run's ages are weighted like training's."""
    if "psi_age_adjusted" not in drift:
        return {}
    adjusted = drift.set_index("feature")["psi_age_adjusted"].dropna()
    return {str(k): float(v) for k, v in adjusted.items() if v < thresholds.psi_moderate}


# --- assembling a report ------------------------------------------------------------


def fallback_reference(dataset: Dataset, bundle: ModelBundle) -> dict[str, dict[str, list[float]]]:
    """Reference bins recomputed from the spec's data, for bundles that do not carry them.

    The training rows are rebuilt the way training built them (snapshots, labels, the
    time split); if the data has grown since training the reference is approximate,
    which the report says.
    """
    from pql.training.train import drift_reference

    frame, _ = training_features(dataset)
    labeled = label_rows(frame, dataset.spec.label.horizon_days, dataset.data_end).rows
    if labeled.empty:
        raise PqlError(
            "the model bundle carries no training reference (trained before pql monitor "
            "existed) and the spec's data has no labelled rows to rebuild it: retrain the "
            "model to monitor it"
        )
    split = assign_splits(
        labeled,
        dataset.spec.model.split.validation_fraction,
        dataset.spec.model.split.test_fraction,
    )
    train = labeled[split == "train"]
    names = list(bundle.feature_names)
    raw = np.asarray(bundle.booster.predict(train[names].to_numpy(np.float64), raw_score=True))
    return drift_reference(train, names, bundle.calibrator(raw))


def build_report(
    runs: list[ScoreRun],
    dataset: Dataset,
    bundle: ModelBundle,
    model: str,
    thresholds: Thresholds = Thresholds(),
    skipped: list[str] | None = None,
) -> MonitorReport:
    """Compare the latest run with training; realised outcomes for matured runs.

    `skipped` names the damaged history files the caller left out, for the report.
    """
    latest = latest_scored_run(runs)
    if latest.entity != dataset.spec.entity:
        raise PqlError(
            f"the latest scoring run ({latest.path.name}) scored {latest.entity}s but the "
            f"spec's entity is {dataset.spec.entity!r}: monitor it with the spec it was scored with"
        )
    frame = latest.frame()
    missing = [n for n in bundle.feature_names if n not in frame.columns]
    if missing:
        raise PqlError(
            f"the latest scoring run lacks {len(missing)} feature(s) of {model} "
            f"({', '.join(missing[:3])}): it was scored with another model; pass --model"
        )
    if bundle.drift_reference:
        reference, source = bundle.drift_reference, "training rows (stored in the model bundle)"
    else:
        reference = fallback_reference(dataset, bundle)
        source = (
            "recomputed from the spec's current data (the bundle predates stored reference "
            "bins; retrain to pin the reference)"
        )
    shares = gain_shares(bundle)
    important = important_features(shares, thresholds.important_gain_share)
    drift = drift_table(reference, frame, frame["probability"].to_numpy(float), shares, important)
    if bundle.spec.shape == "freemium":  # totals move with the age mix of who is scored
        adjusted = age_adjusted_psi(reference, frame, list(bundle.feature_names))
        drift = drift.assign(psi_age_adjusted=drift["feature"].map(adjusted))

    horizon = dataset.spec.label.horizon_days
    kept, superseded = supersede(runs)
    matured_parts, per_run = [], []
    for run in kept:
        if not is_matured(run.as_of, horizon, dataset.data_end):
            continue
        rows = realised_labels(run.frame(), run.as_of, dataset.entities, horizon)
        matured_parts.append(rows[["entity_id", "probability", "tier", "label"]])
        per_run.append(
            {
                "as_of": run.as_of,
                "scored_at": run.scored_at,
                "model_version": run.model_version,
                "rows": len(rows),
                "conversions": int(rows["label"].sum()),
            }
        )
    matured_rows = (
        pd.concat(matured_parts, ignore_index=True)
        if matured_parts
        else pd.DataFrame({"entity_id": [], "probability": [], "tier": [], "label": []})
    )
    by_tier = conversion_by_tier(matured_rows)
    calibration = (
        calibration_curve(matured_rows["label"], matured_rows["probability"])
        if len(matured_rows)
        else pd.DataFrame()
    )
    return MonitorReport(
        product=dataset.spec.product,
        model=model,
        latest=latest,
        runs=runs,
        superseded=superseded,
        skipped=list(skipped or []),
        data_end=dataset.data_end,
        horizon_days=horizon,
        drift=drift,
        reference_source=source,
        score_reference=reference[PROBABILITY_REFERENCE],
        matured=pd.DataFrame.from_records(
            per_run, columns=["as_of", "scored_at", "model_version", "rows", "conversions"]
        ),
        by_tier=by_tier,
        calibration=calibration,
        matured_rows=matured_rows,
        advice=advise(drift, by_tier, matured_rows, thresholds, scored_rows=len(frame)),
        shape=bundle.spec.shape or "trial",
    )
