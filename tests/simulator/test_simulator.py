"""The simulator's contract: files and columns, time semantics, accounts, and a conversion
process that is exactly the published model of observable behaviour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from pql.errors import DataError, PqlError
from pql.features.spec import load_spec
from pql.simulator import (
    CONVERSION_EVENT,
    EVENT_TYPES,
    TRIAL_END_COEFFICIENTS,
    SimulationSummary,
    simulate,
    trial_end_probability,
)

N_USERS = 3_000
START = pd.Timestamp("2026-01-05", tz="UTC")
SIGNUP_DAYS = 60
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> SimulationSummary:
    out = tmp_path_factory.mktemp("sim")
    return simulate(N_USERS, 11, out, start="2026-01-05", signup_days=SIGNUP_DAYS)


@pytest.fixture(scope="module")
def events(simulated: SimulationSummary) -> pd.DataFrame:
    return pd.read_parquet(simulated.events_path)


@pytest.fixture(scope="module")
def trials(simulated: SimulationSummary) -> pd.DataFrame:
    return pd.read_parquet(simulated.trials_path)


@pytest.fixture(scope="module")
def observed_end(simulated: SimulationSummary) -> pd.Timestamp:
    return pd.Timestamp(simulated.end)


# --- files and columns ----------------------------------------------------------------


def test_writes_the_four_files_with_documented_columns(simulated: SimulationSummary) -> None:
    assert {p.name for p in simulated.out_dir.iterdir()} == {
        "events.parquet",
        "trials.parquet",
        "pql.yaml",
        "pql-accounts.yaml",
    }
    utc_ms = pa.timestamp("ms", tz="UTC")
    events = pq.read_schema(simulated.events_path)
    assert events.names == ["user_id", "account_id", "event", "timestamp", "session_id", "bytes"]
    assert events.field("user_id").type == pa.string()
    assert events.field("account_id").type == pa.string()
    assert pa.types.is_dictionary(events.field("event").type)
    assert events.field("timestamp").type == utc_ms
    assert events.field("session_id").type == pa.int64()
    assert events.field("bytes").type == pa.float64()
    trials = pq.read_schema(simulated.trials_path)
    assert trials.names == [
        "user_id",
        "account_id",
        "signup_at",
        "trial_end_at",
        "converted_at",
        "plan",
        "oracle_p_trial_end",
    ]
    for column in ("signup_at", "trial_end_at", "converted_at"):
        assert trials.field(column).type == utc_ms


def test_spec_is_the_packaged_one_and_points_at_the_data(simulated: SimulationSummary) -> None:
    packaged = Path(__file__).parents[2] / "pql" / "simulator" / "simulated_pql.yaml"
    assert simulated.spec_path.read_bytes() == packaged.read_bytes()
    spec = load_spec(simulated.spec_path)
    assert spec.data.events.path == simulated.events_path
    assert spec.data.trials is not None and spec.data.trials.path == simulated.trials_path


def test_event_names_follow_the_spec(simulated: SimulationSummary, events: pd.DataFrame) -> None:
    spec = load_spec(simulated.spec_path)
    written = set(events["event"].astype(str).unique())
    assert written <= set(EVENT_TYPES)
    for name, action in spec.actions.items():
        assert set(action.events) <= written, f"no events for action {name}"
    assert spec.label.conversion_event == CONVERSION_EVENT
    assert len(EVENT_TYPES) >= 15


def test_summary_matches_the_files(
    simulated: SimulationSummary, events: pd.DataFrame, trials: pd.DataFrame
) -> None:
    assert simulated.users == len(trials) == N_USERS
    assert simulated.accounts == trials["account_id"].nunique()
    assert simulated.events == len(events)
    assert simulated.conversions == trials["converted_at"].notna().sum()
    mid = trials["converted_at"] < trials["trial_end_at"]
    assert simulated.mid_trial_conversions == mid.sum()
    assert pd.Timestamp(simulated.start) == START
    assert pd.Timestamp(simulated.end) == START + (SIGNUP_DAYS + 7) * DAY


# --- determinism ----------------------------------------------------------------------


def _frames(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(out / "events.parquet"), pd.read_parquet(out / "trials.parquet")


def test_same_seed_same_data_whatever_the_chunk_size(tmp_path: Path) -> None:
    simulate(6_000, 5, tmp_path / "a", signup_days=30, chunk_users=1_000)
    simulate(6_000, 5, tmp_path / "b", signup_days=30)
    for left, right in zip(_frames(tmp_path / "a"), _frames(tmp_path / "b"), strict=True):
        pd.testing.assert_frame_equal(left, right)


def test_different_seed_different_data(tmp_path: Path) -> None:
    simulate(500, 1, tmp_path / "a", signup_days=30)
    simulate(500, 2, tmp_path / "b", signup_days=30)
    (events_a, trials_a), (events_b, trials_b) = _frames(tmp_path / "a"), _frames(tmp_path / "b")
    assert not trials_a["signup_at"].equals(trials_b["signup_at"])
    assert not events_a.equals(events_b)


def test_progress_reports_users_done_per_chunk(tmp_path: Path) -> None:
    done: list[int] = []
    simulate(12_000, 3, tmp_path, signup_days=30, chunk_users=5_000, progress=done.append)
    assert done == [5_000, 10_000, 12_000]


# --- accounts and trials --------------------------------------------------------------


def test_accounts_have_one_to_ten_users_and_many_are_solo(trials: pd.DataFrame) -> None:
    sizes = trials.groupby("account_id").size()
    assert sizes.min() >= 1 and sizes.max() <= 10
    assert (sizes == 1).mean() > 0.4
    assert (sizes > 1).any()


def test_members_sign_up_after_their_owner(trials: pd.DataFrame) -> None:
    first = trials.groupby("account_id")["signup_at"].transform("min")
    lag = trials["signup_at"] - first
    members = lag > pd.Timedelta(0)
    assert members.any()
    assert lag[members].max() < 7 * DAY
    assert lag[members].median() < 2 * DAY


def test_invites_come_mostly_from_owners_of_teams(
    events: pd.DataFrame, trials: pd.DataFrame
) -> None:
    owner = trials.sort_values("signup_at").groupby("account_id")["user_id"].first()
    members = trials.groupby("account_id").size() - 1
    team_owner = owner[members > 0]
    inviters = events.loc[events["event"] == "teammate_invited", "user_id"]
    assert inviters.isin(team_owner).mean() > 0.7
    sent = inviters.value_counts().reindex(team_owner.to_numpy(), fill_value=0).to_numpy()
    assert (sent >= members[members > 0].to_numpy()).all()  # each member was invited


def test_every_user_has_one_fourteen_day_trial(trials: pd.DataFrame) -> None:
    assert trials["user_id"].is_unique
    assert trials["signup_at"].notna().all()
    assert (trials["trial_end_at"] - trials["signup_at"] == 14 * DAY).all()
    assert trials["signup_at"].min() >= START


def test_fewer_signups_at_weekends(trials: pd.DataFrame) -> None:
    weekday = trials["signup_at"].dt.dayofweek
    per_weekday_day = (weekday < 5).sum() / 5
    per_weekend_day = (weekday >= 5).sum() / 2
    assert per_weekend_day < 0.8 * per_weekday_day


# --- events ---------------------------------------------------------------------------


def test_events_lie_inside_the_observation_window(
    events: pd.DataFrame, trials: pd.DataFrame, observed_end: pd.Timestamp
) -> None:
    assert events["timestamp"].min() >= START
    assert events["timestamp"].max() < observed_end
    signup = events["user_id"].map(trials.set_index("user_id")["signup_at"])
    assert (events["timestamp"] >= signup).all()
    assert set(events["user_id"]) <= set(trials["user_id"])
    account = events["user_id"].map(trials.set_index("user_id")["account_id"])
    assert (account == events["account_id"]).all()


def test_rows_are_sorted_by_user_then_time(events: pd.DataFrame) -> None:
    key = events["user_id"].to_numpy()
    assert (key[1:] >= key[:-1]).all()
    same_user = key[1:] == key[:-1]
    ts = events["timestamp"].to_numpy()
    assert (ts[1:][same_user] >= ts[:-1][same_user]).all()


def test_each_session_belongs_to_one_user(events: pd.DataFrame) -> None:
    assert events.groupby("session_id")["user_id"].nunique().max() == 1
    sessions_per_user = events.groupby("user_id")["session_id"].nunique()
    assert sessions_per_user.max() > 1


def test_bytes_only_on_file_uploads(events: pd.DataFrame) -> None:
    uploads = events["event"] == "file_uploaded"
    assert events.loc[uploads, "bytes"].gt(0).all()
    assert events.loc[~uploads, "bytes"].isna().all()


def test_a_share_of_users_never_come_back(events: pd.DataFrame, trials: pd.DataFrame) -> None:
    signup_date = events["user_id"].map(trials.set_index("user_id")["signup_at"]).dt.floor("D")
    came_back = events.loc[events["timestamp"] >= signup_date + DAY, "user_id"].nunique()
    assert 0.2 < 1 - came_back / len(trials) < 0.4


# --- conversions ----------------------------------------------------------------------


def test_conversion_rates_are_plausible(simulated: SimulationSummary) -> None:
    assert 0.08 < simulated.conversion_rate < 0.25
    assert 0.01 < simulated.mid_trial_rate < 0.08


def test_subscription_started_exactly_at_observed_conversions(
    events: pd.DataFrame, trials: pd.DataFrame
) -> None:
    paid = events[events["event"] == CONVERSION_EVENT].set_index("user_id")["timestamp"]
    converted = trials.dropna(subset=["converted_at"]).set_index("user_id")["converted_at"]
    pd.testing.assert_series_equal(paid.sort_index(), converted.sort_index(), check_names=False)
    assert trials.loc[trials["converted_at"].notna(), "plan"].isin(["team", "pro"]).all()
    assert trials.loc[trials["converted_at"].isna(), "plan"].isna().all()


def test_conversions_happen_mid_trial_and_within_three_days_of_trial_end(
    trials: pd.DataFrame,
) -> None:
    converted = trials.dropna(subset=["converted_at"])
    mid = converted["converted_at"] < converted["trial_end_at"]
    assert mid.any()
    assert (converted.loc[mid, "converted_at"] > converted.loc[mid, "signup_at"]).all()
    late = converted.loc[~mid, "converted_at"] - converted.loc[~mid, "trial_end_at"]
    assert (late < 3 * DAY).all()


def test_users_keep_producing_events_after_conversion_and_after_trial(
    events: pd.DataFrame, trials: pd.DataFrame
) -> None:
    merged = events.merge(trials[["user_id", "converted_at", "trial_end_at"]], on="user_id")
    after_paying = merged[merged["timestamp"] > merged["converted_at"]]
    assert after_paying["user_id"].nunique() > 0.5 * trials["converted_at"].notna().sum()
    lapsed = merged[merged["converted_at"].isna() & (merged["timestamp"] >= merged["trial_end_at"])]
    assert lapsed["user_id"].nunique() > 0
    assert (merged["timestamp"] < merged["trial_end_at"] + 7 * DAY).all()


# --- the oracle -----------------------------------------------------------------------


def _trial_end_rows(trials: pd.DataFrame, observed_end: pd.Timestamp) -> pd.DataFrame:
    """Users who reached the trial-end decision and whose outcome is fully observed."""
    complete = trials["trial_end_at"] + 3 * DAY < observed_end
    not_paid_before = trials["converted_at"].isna() | (
        trials["converted_at"] >= trials["trial_end_at"]
    )
    return trials[complete & not_paid_before]


def test_oracle_ranks_trial_end_conversions(
    trials: pd.DataFrame, observed_end: pd.Timestamp
) -> None:
    p = trials["oracle_p_trial_end"]
    assert p.notna().all() and ((p > 0) & (p < 1)).all()
    rows = _trial_end_rows(trials, observed_end)
    converted = rows["converted_at"].notna()
    assert (
        rows.loc[converted, "oracle_p_trial_end"].mean()
        > rows.loc[~converted, "oracle_p_trial_end"].mean()
    )
    assert roc_auc_score(converted, rows["oracle_p_trial_end"]) > 0.75


def test_oracle_is_the_published_model_of_observable_behaviour(
    events: pd.DataFrame, trials: pd.DataFrame, observed_end: pd.Timestamp
) -> None:
    """Recompute p from the event log alone: no hidden term may enter the true model."""
    rows = _trial_end_rows(trials, observed_end).set_index("user_id")
    ev = events[events["user_id"].isin(rows.index)].copy()
    ev["trial_end_at"] = ev["user_id"].map(rows["trial_end_at"])
    ev = ev[ev["timestamp"] < ev["trial_end_at"]]
    counts = pd.crosstab(ev["user_id"], ev["event"].astype(str)).reindex(rows.index, fill_value=0)
    last7 = (ev["timestamp"] >= ev["trial_end_at"] - 7 * DAY).groupby(ev["user_id"]).sum()
    total = ev.groupby("user_id").size()
    last7, total = last7.reindex(rows.index), total.reindex(rows.index)
    prev7 = total - last7
    active_days = ev.groupby("user_id")["timestamp"].apply(lambda t: t.dt.floor("D").nunique())

    def count(name: str) -> np.ndarray:
        column = counts[name] if name in counts else pd.Series(0, index=rows.index)
        return column.to_numpy(dtype=float)

    p = trial_end_probability(
        log1p_invites=np.log1p(count("teammate_invited")),
        log1p_projects=np.log1p(count("project_created")),
        any_integration=count("integration_connected") > 0,
        log1p_pricing_views=np.log1p(count("pricing_viewed")),
        any_limit_hit=count("usage_limit_hit") > 0,
        log1p_active_days=np.log1p(active_days.reindex(rows.index).to_numpy(dtype=float)),
        decline=np.clip((prev7 - last7) / total, 0, None).to_numpy(dtype=float),
        log1p_support_tickets=np.log1p(count("support_ticket_opened")),
    )
    np.testing.assert_allclose(p, rows["oracle_p_trial_end"].to_numpy(), rtol=1e-9)


def test_true_model_signs_match_the_spec_kinds() -> None:
    positive = ("log1p_invites", "log1p_projects", "any_integration", "log1p_pricing_views")
    assert all(TRIAL_END_COEFFICIENTS[name] > 0 for name in positive)
    assert TRIAL_END_COEFFICIENTS["decline"] < 0
    assert TRIAL_END_COEFFICIENTS["log1p_support_tickets"] < 0


# --- arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_users": 0}, "n_users must be at least 1"),
        ({"n_users": -5}, "n_users must be at least 1"),
        ({"n_users": 2.5}, "n_users must be a whole number"),
        ({"n_users": True}, "n_users must be a whole number"),
        ({"seed": -1}, "seed must be at least 0"),
        ({"signup_days": 0}, "signup_days must be at least 1"),
        ({"chunk_users": 0}, "chunk_users must be at least 1"),
        ({"start": "next monday"}, "start must be a date as YYYY-MM-DD"),
        ({"progress": 3}, "progress must be a callable"),
    ],
)
def test_bad_arguments_are_explained(tmp_path: Path, kwargs: dict, message: str) -> None:
    arguments = {"n_users": 10, "seed": 1, "out_dir": tmp_path / "out", **kwargs}
    with pytest.raises(DataError, match=message):
        simulate(**arguments)
    assert not (tmp_path / "out").exists()


def test_output_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("not a folder")
    with pytest.raises(PqlError, match="is an existing file"):
        simulate(10, 1, target)
    assert target.read_text() == "not a folder"
