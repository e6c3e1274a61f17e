"""Training on a small simulated product: quality, behaviour, reproducibility, bad labels."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from pql.errors import TrainingDataError
from pql.features.pipeline import Dataset
from pql.serving.scoring import Scorer
from pql.training.train import train_model

pytestmark = pytest.mark.slow


@pytest.fixture(params=["trained", "trained_accounts"])
def any_trained(request: pytest.FixtureRequest):
    """Behavioural tests hold for the user model and the account model alike."""
    return request.getfixturevalue(request.param)


def test_model_learns_and_beats_the_rule_baseline(any_trained) -> None:
    metrics = any_trained.result.metrics
    assert metrics["test_roc_auc"] > 0.75
    assert metrics["test_pr_auc"] > metrics["baseline_rule_test_pr_auc"]
    assert metrics["no_signal"] == 0.0
    # the trial-end snapshot is compared with the simulator's own probabilities
    assert "oracle_test_day14_roc_auc" in metrics
    assert metrics["test_day14_roc_auc"] > 0.9 * metrics["oracle_test_day14_roc_auc"]
    assert "beat" in any_trained.result.verdict


def test_splits_are_reported_in_time_order(trained) -> None:
    train, validation, test = trained.result.splits
    assert train.last_signup < validation.first_signup <= validation.last_signup
    assert validation.last_signup < test.first_signup
    assert trained.result.row_counts["unlabeled_horizon_past_data_end"] > 0
    # the report says where labels ran to, and why that end
    end = trained.dataset.data_end
    assert trained.result.data_end_note.startswith(f"labels run to {end}: the last event")


def test_more_of_a_positive_action_never_lowers_a_score(any_trained) -> None:
    scorer = Scorer(any_trained.result.bundle)
    names = list(any_trained.result.bundle.feature_names)
    rows = any_trained.result.test[names].head(500)
    base = scorer.predict(rows).probability
    measures = ["count", "count_7d", "active_days"]
    if any_trained.dataset.definitions.account_level:
        measures.append("users")  # more members doing it
    for action in ("invite_teammate", "create_project", "view_pricing"):
        more = rows.copy()
        for measure in measures:
            more[f"{action}_{measure}"] += 3
        assert (scorer.predict(more).probability >= base - 1e-12).all(), action


def test_entity_with_no_activity_scores_below_the_base_rate(any_trained) -> None:
    bundle = any_trained.result.bundle
    names = list(bundle.feature_names)
    idle = pd.DataFrame([dict.fromkeys(names, 0.0)])
    idle["tenure_days"] = 7.0
    for name in names:
        if "hours" in name:
            idle[name] = np.nan
    probability = Scorer(bundle).predict(idle[names]).probability[0]
    assert probability < bundle.base_rate


def test_same_data_and_seed_give_identical_metrics(trained) -> None:
    again = train_model(trained.dataset)
    assert again.metrics == pytest.approx(trained.result.metrics, nan_ok=True)
    assert again.bundle.booster_text == trained.result.bundle.booster_text


def _with_conversions(dataset: Dataset, converted_at: pd.Series) -> Dataset:
    entities = dataset.entities.assign(converted_at=converted_at.array)
    return Dataset(
        dataset.spec,
        dataset.definitions,
        dataset.events,
        entities,
        dataset.data_end,
        dataset.quality,
    )


def test_shuffled_labels_show_no_signal(trained) -> None:
    shuffled = trained.dataset.entities["converted_at"].sample(frac=1.0, random_state=3)
    result = train_model(_with_conversions(trained.dataset, shuffled))
    assert result.metrics["no_signal"] == 1.0


def test_no_conversions_is_a_clear_error(trained) -> None:
    never = pd.Series(pd.NaT, index=trained.dataset.entities.index, dtype="datetime64[ns, UTC]")
    with pytest.raises(TrainingDataError, match="did not convert"):
        train_model(_with_conversions(trained.dataset, never))


def test_too_few_positives_is_a_clear_error(trained) -> None:
    converted = trained.dataset.entities["converted_at"].copy()
    keep = converted.dropna().index[:10]
    converted[~converted.index.isin(keep)] = pd.NaT
    with pytest.raises(TrainingDataError, match="at least 50 are needed"):
        train_model(_with_conversions(trained.dataset, converted))


def test_no_eligible_rows_is_a_clear_error(trained) -> None:
    dataset = trained.dataset
    spec = dataset.spec.model_copy(
        update={"label": dataset.spec.label.model_copy(update={"horizon_days": 365})}
    )
    short = Dataset(
        spec,
        dataset.definitions,
        dataset.events,
        dataset.entities,
        dataset.data_end,
        dataset.quality,
    )
    with pytest.raises(TrainingDataError, match="no labelled snapshot rows"):
        train_model(short)


def test_account_reasons_name_the_members_behind_them(trained_accounts) -> None:
    bundle = trained_accounts.result.bundle
    names = list(bundle.feature_names)
    teams = trained_accounts.result.test
    teams = teams[(teams["active_users"] >= 2) & (teams["create_project_users"] >= 1)]
    assert len(teams) > 20
    scorer = Scorer(bundle)
    features = teams[names].head(200).to_numpy(np.float64)
    texts = [
        r.text
        for positive, _ in scorer.reasons(features, scorer.predict(features))
        for r in positive
    ]
    people = [t for t in texts if re.search(r"\d+ of \d+ members", t)]
    assert people, texts[:10]
    team_texts = [t for t in texts if "members active this week" in t or "member" in t]
    assert team_texts
