"""Monitoring: drift is flagged when it is there and not when it is not; realised
conversion by tier matches hand counts; the advice names its reasons."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pql.errors import NoScoresError
from pql.monitoring.monitor import (
    SCORE_ROW,
    advise,
    build_report,
    conversion_by_tier,
    drift_table,
    gain_shares,
    important_features,
    is_matured,
    realised_labels,
    supersede,
)
from pql.serving.batch import score_dataset
from pql.serving.score_history import ScoreRun, list_runs, record_batch
from pql.serving.scoring import Scorer

T0 = pd.Timestamp("2026-03-01", tz="UTC")
NO_ROWS = pd.DataFrame({"probability": [], "label": []})


def _entities(converted: dict[str, pd.Timestamp | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity_id": list(converted),
            "converted_at": pd.to_datetime(list(converted.values()), utc=True),
        }
    )


def test_realised_conversion_by_tier_matches_hand_counts() -> None:
    day = pd.Timedelta(days=1)
    entities = _entities(
        {
            "h1": T0 + 2 * day,  # hot, converts inside the horizon
            "h2": T0,  # hot, converts exactly at as_of: inside [as_of, as_of + 7d)
            "h3": None,  # hot, never
            "w1": T0 + 7 * day,  # warm, converts exactly at the horizon end: outside
            "w2": T0 + 6 * day,  # warm, inside
            "c1": None,
            "c2": T0 + 30 * day,  # cold, long after the horizon
            "c3": None,
        }
    )
    scored = pd.DataFrame(
        {
            "entity_id": ["h1", "h2", "h3", "w1", "w2", "c1", "c2", "c3", "gone"],
            "probability": [0.8, 0.6, 0.7, 0.3, 0.2, 0.05, 0.1, 0.03, 0.5],
            "tier": ["hot", "hot", "hot", "warm", "warm", "cold", "cold", "cold", "hot"],
        }
    )
    rows = realised_labels(scored, T0, entities, horizon_days=7)
    assert "gone" not in set(rows["entity_id"])  # unknown to the data: not counted as a miss
    assert dict(zip(rows["entity_id"], rows["label"], strict=True)) == {
        "h1": 1, "h2": 1, "h3": 0, "w1": 0, "w2": 1, "c1": 0, "c2": 0, "c3": 0,
    }  # fmt: skip
    table = conversion_by_tier(rows).set_index("tier")
    assert table["rows"].to_dict() == {"hot": 3, "warm": 2, "cold": 3}
    assert table["conversions"].to_dict() == {"hot": 2, "warm": 1, "cold": 0}
    assert table.loc["hot", "realised_rate"] == pytest.approx(2 / 3)
    assert table.loc["warm", "mean_predicted"] == pytest.approx(0.25)


def test_maturity_is_the_horizon_inside_the_data() -> None:
    end = T0 + pd.Timedelta(days=14)
    assert is_matured(T0, 14, end)
    assert not is_matured(T0 + pd.Timedelta(seconds=1), 14, end)


def _matured(probability: np.ndarray, label: np.ndarray, tier: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"probability": probability, "label": label, "tier": tier})


def _calm_drift() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feature": [SCORE_ROW, "a"],
            "psi": [0.01, 0.02],
            "band": ["stable", "stable"],
            "gain_share": [np.nan, 1.0],
            "important": [True, True],
        }
    )


def test_advice_flags_calibration_off_and_inverted_tiers_but_not_noise() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    tier = rng.choice(["hot", "warm", "cold"], n, p=[0.1, 0.2, 0.7])
    probability = np.select([tier == "hot", tier == "warm"], [0.5, 0.2], 0.05)
    honest = (rng.random(n) < probability).astype(int)
    matured = _matured(probability, honest, tier)
    calm = advise(_calm_drift(), conversion_by_tier(matured), matured, scored_rows=n)
    assert not calm.retrain, calm.reasons
    # outcomes at a third of what was predicted: calibration is off
    low = (rng.random(n) < probability / 3).astype(int)
    matured = _matured(probability, low, tier)
    advice = advise(_calm_drift(), conversion_by_tier(matured), matured, scored_rows=n)
    assert advice.retrain and any("calibration off" in r for r in advice.reasons)
    # the cold tier converting more than the hot one
    inverted = (
        rng.random(n) < np.select([tier == "hot", tier == "cold"], [0.02, 0.2], 0.1)
    ).astype(int)
    matured = _matured(probability, inverted, tier)
    advice = advise(_calm_drift(), conversion_by_tier(matured), matured, scored_rows=n)
    assert any(r.startswith("tiers inverted: hot") for r in advice.reasons)


def test_too_few_rows_are_not_judged_instead_of_retrain() -> None:
    """The reviewer's case: one scored entity (score PSI 8.29) and one matured row that
    converted (predicted 9.5%, realised 100%) advised RETRAIN."""
    wild = _calm_drift().assign(psi=[8.29, 5.0], band=["major", "major"])
    one = _matured(np.array([0.095]), np.array([1]), np.array(["warm"]))
    advice = advise(wild, conversion_by_tier(one), one, scored_rows=1)
    assert not advice.retrain and not advice.watch
    assert advice.unjudged == [
        "too few rows to judge drift: the latest run scored 1 entity (at least 100 needed)",
        "too few rows to judge calibration: 1 matured row (at least 100 needed)",
    ]
    assert "not everything could be judged" in advice.summary
    assert "no drift" not in advice.summary
    # at the minimum, the same evidence is judged
    rng = np.random.default_rng(5)
    many = _matured(np.full(100, 0.095), np.ones(100, int), rng.choice(["warm"], 100))
    judged = advise(wild, conversion_by_tier(many), many, scored_rows=100)
    assert judged.retrain and not judged.unjudged
    assert any("major drift: the score" in r for r in judged.reasons)
    assert any("calibration off" in r for r in judged.reasons)


def _drift_rows(rows: list[tuple[str, float, bool]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feature": [name for name, _, _ in rows],
            "psi": [psi for _, psi, _ in rows],
            "band": ["major" if psi >= 0.25 else "stable" for _, psi, _ in rows],
            "gain_share": [np.nan] + [0.2] * (len(rows) - 1),
            "important": [important for _, _, important in rows],
        }
    )


def test_drift_set_by_the_scoring_moment_is_expected_not_a_retrain_reason() -> None:
    """The issue's case: tenure_days drifted (PSI 17) because year-old users were scored
    with a model trained on trial ages; retraining cannot change that."""
    empty = conversion_by_tier(_matured(np.array([]), np.array([]), np.array([])))
    moment = _drift_rows(
        [
            (SCORE_ROW, 0.9, True),
            ("tenure_days", 17.0, True),
            ("hours_since_last_event", 0.4, True),
            ("invite_hours_since_last", 0.3, False),
            ("invite_count", 0.02, True),
        ]
    )
    advice = advise(moment, empty, NO_ROWS, scored_rows=500)
    assert not advice.retrain and not advice.reasons and not advice.watch
    assert advice.expected == [
        "the score PSI 0.90 (only moment features moved)",
        "tenure_days PSI 17.00",
        "hours_since_last_event PSI 0.40",
        "invite_hours_since_last PSI 0.30",
    ]
    assert advice.summary.startswith("no retrain needed: the only drift is expected from when")
    assert "retraining on the same snapshot days cannot change it" in advice.summary
    # behaviour drifting too: the verdict stays honest, the moment part stays expected
    both = moment.assign(psi=[0.9, 17.0, 0.4, 0.3, 0.6])
    advice = advise(both, empty, NO_ROWS, scored_rows=500)
    assert advice.retrain
    assert advice.reasons == [
        "major drift: the score PSI 0.90",
        "major drift: invite_count (a feature the model leans on) PSI 0.60",
    ]
    assert "tenure_days PSI 17.00" in advice.expected
    assert advice.summary.startswith("RETRAIN: major drift: the score PSI 0.90")
    assert "expected from when you score: tenure_days PSI 17.00" in advice.summary


def _run(as_of: pd.Timestamp, minute: int, version: str = "1") -> ScoreRun:
    return ScoreRun(
        path=Path(f"run-{minute}.parquet"), product="p", entity="user", as_of=as_of,
        scored_at=T0 + pd.Timedelta(days=30, minutes=minute), model_name="pql-p",
        model_version=version, feature_names=(), entities_in=10, scored=10,
    )  # fmt: skip


def test_a_run_redone_at_the_same_as_of_and_model_supersedes_the_older_one() -> None:
    day = pd.Timedelta(days=1)
    first, redo, other_day, other_model = (
        _run(T0, 1), _run(T0, 5), _run(T0 + day, 3), _run(T0, 7, version="2")
    )  # fmt: skip
    kept, superseded = supersede([first, other_day, redo, other_model])
    assert superseded == [first]
    assert kept == [other_day, redo, other_model]
    assert supersede([]) == ([], [])


@pytest.fixture(scope="module")
def scorer(trained) -> Scorer:
    return Scorer(trained.result.bundle)


def _drift(trained, scorer: Scorer, frame: pd.DataFrame) -> pd.DataFrame:
    bundle = trained.result.bundle
    names = list(bundle.feature_names)
    probability = scorer.predict(frame[names].to_numpy(np.float64)).probability
    shares = gain_shares(bundle)
    return drift_table(
        bundle.drift_reference, frame, probability, shares, important_features(shares, 0.5)
    )


@pytest.mark.slow
def test_drifted_run_is_flagged_and_an_undrifted_one_is_not(trained, scorer) -> None:
    bundle = trained.result.bundle
    assert set(bundle.drift_reference) >= set(bundle.feature_names)
    # later signups at the same snapshot days: the population the model was trained for
    same = trained.result.test
    drift = _drift(trained, scorer, same)
    assert drift.iloc[0]["feature"] == SCORE_ROW
    assert drift["psi"].max() < 0.1, drift.head()
    empty = conversion_by_tier(_matured(np.array([]), np.array([]), np.array([])))
    calm = advise(drift, empty, NO_ROWS, scored_rows=len(same))
    assert not calm.retrain and not calm.watch and not calm.unjudged
    # the same rows, but every user now does the model's top action three times as often
    top = gain_shares(bundle).index[0]
    drifted = same.assign(**{top: same[top] * 3 + 2})
    drift = _drift(trained, scorer, drifted).set_index("feature")
    assert drift.loc[top, "band"] == "major" and drift.loc[top, "important"]
    assert drift.loc[SCORE_ROW, "psi"] >= 0.1
    advice = advise(drift.reset_index(), empty, NO_ROWS, scored_rows=len(same))
    assert advice.retrain
    assert any(top in reason and "major drift" in reason for reason in advice.reasons)
    # the same rows scored a year into their life: only the moment moved
    aged = same.assign(tenure_days=same["tenure_days"] + 365)
    drift = _drift(trained, scorer, aged).set_index("feature")
    assert drift.loc["tenure_days", "band"] == "major"
    assert drift.loc["tenure_days", "set_by"] == "scoring moment"
    assert drift.loc[top, "set_by"] == ("scoring moment" if top == "tenure_days" else "behaviour")
    advice = advise(drift.reset_index(), empty, NO_ROWS, scored_rows=len(same))
    assert not advice.retrain, advice.reasons
    assert any(item.startswith("tenure_days PSI") for item in advice.expected)


@pytest.mark.slow
def test_report_from_recorded_runs_and_a_bundle_without_reference(
    trained, scorer, tmp_path
) -> None:
    dataset = trained.dataset
    bundle = trained.result.bundle
    spec = dataset.spec
    with pytest.raises(NoScoresError):
        build_report([], dataset, bundle, "m")
    early = dataset.entities["signup_at"].quantile(0.5).ceil("D")
    late = dataset.data_end.floor("D")
    loaded = type("Loaded", (), {"bundle": bundle, "name": "pql-simulated", "version": "1"})()
    for moment in (early, late):
        batch = score_dataset(scorer, dataset, moment, model_version="1")
        record_batch(batch, loaded, spec, tmp_path)
    runs = list_runs(tmp_path / spec.product)
    assert [r.as_of for r in runs] == [early, late]
    report = build_report(runs, dataset, bundle, "pql-simulated v1")
    assert report.latest.as_of == late
    # a newer run that scored nobody (ahead of every signup) does not hide the last real one
    ahead = dataset.entities["signup_at"].min() - pd.Timedelta(days=1)
    record_batch(score_dataset(scorer, dataset, ahead, model_version="1"), loaded, spec, tmp_path)
    newest = list_runs(tmp_path / spec.product)
    assert newest[-1].scored == 0
    assert build_report(newest, dataset, bundle, "m").latest.as_of == late
    # only the early run's horizon lies inside the data
    assert report.matured["as_of"].tolist() == [early]
    early_frame = runs[0].frame()
    assert report.matured["rows"].iloc[0] == len(early_frame)
    assert report.by_tier["rows"].sum() == len(early_frame)
    assert report.superseded == []
    # the early run re-done (same as_of, same model): counted once, the newer one kept
    record_batch(score_dataset(scorer, dataset, early, model_version="1"), loaded, spec, tmp_path)
    redone = build_report(list_runs(tmp_path / spec.product), dataset, bundle, "m")
    assert [run.as_of for run in redone.superseded] == [early]
    assert redone.superseded[0].path == runs[0].path
    assert len(redone.matured_rows) == len(early_frame)
    assert redone.matured["scored_at"].tolist() != [runs[0].scored_at]
    # a bundle trained before reference bins existed: rebuilt from the data, and said so
    old = replace(bundle, drift_reference={})
    rebuilt = build_report(runs, dataset, old, "old")
    assert "recomputed" in rebuilt.reference_source
    both = pd.merge(report.drift, rebuilt.drift, on="feature")
    assert np.allclose(both["psi_x"], both["psi_y"], atol=1e-9)
    # the remedy for older entities follows the shape the model was trained for
    assert report.shape == "trial"
    assert "snapshots_days" in report.older_entities_remedy
    freemium = replace(report, shape="freemium").older_entities_remedy
    assert "freemium.max_age_days" in freemium and "snapshots_days" not in freemium


@pytest.mark.slow
def test_a_latest_run_that_scored_nobody_is_a_clear_error(trained, tmp_path) -> None:
    from pql.serving.score_history import record_run

    bundle = trained.result.bundle
    names = bundle.feature_names
    leads = pd.DataFrame(
        {
            "entity_id": ["u1"],
            "account_id": ["a1"],
            "status": ["not scored"],
            "probability": [np.nan],
            "score": pd.array([None], dtype="Int64"),
            "tier": [None],
            "is_pql": pd.array([None], dtype="boolean"),
            "as_of": T0,
            "scored_at": T0,
        }
    )
    features = pd.DataFrame({"entity_id": pd.Series([], dtype=object), **{n: [] for n in names}})
    run = record_run(
        tmp_path, leads, features, product="simulated", entity="user",
        feature_names=names, model_name="pql-simulated", model_version="1",
    )  # fmt: skip
    assert (run.entities_in, run.scored) == (1, 0)
    with pytest.raises(NoScoresError, match="none of the 1 recorded scoring run"):
        build_report([run], trained.dataset, bundle, "m")
