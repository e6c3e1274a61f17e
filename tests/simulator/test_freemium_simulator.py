"""The freemium simulator: conversions at any age, fading and returning users, an oracle
that is the probability the data was drawn from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pql.errors import DataError
from pql.features.pipeline import load_dataset
from pql.features.spec import load_spec
from pql.simulator.freemium import daily_hazard, simulate_freemium


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("freemium")
    simulate_freemium(1_500, 5, out)
    return out


def test_same_seed_same_data(folder: Path, tmp_path: Path) -> None:
    again = simulate_freemium(1_500, 5, tmp_path)
    assert pd.read_parquet(again.events_path).equals(pd.read_parquet(folder / "events.parquet"))


def test_conversions_come_at_every_age_and_users_fade_and_return(folder: Path) -> None:
    dataset = load_dataset(load_spec(folder / "pql.yaml"))
    assert dataset.product_shape.shape == "freemium"
    entities = dataset.entities
    age = (entities["converted_at"] - entities["signup_at"]).dt.days.dropna()
    assert len(age) > 150
    assert (age < 30).any() and (age > 180).any() and age.median() > 30
    events = dataset.events
    users = events["user_id"].astype(str)
    day = (events["timestamp"] - users.map(entities.set_index("entity_id")["signup_at"])).dt.days
    weeks = pd.crosstab(users, day // 7) > 0
    # users quiet for more than 4 weeks in a row who are active again later
    active = weeks.to_numpy()
    returned = 0
    for row in active:
        seen = np.flatnonzero(row)
        if len(seen) > 1 and (np.diff(seen) > 4).any():
            returned += 1
    assert returned > 50


def test_oracle_is_the_drawn_probability(folder: Path) -> None:
    """Realised conversions in the oracle's windows match its mean, per oracle decile."""
    dataset = load_dataset(load_spec(folder / "pql.yaml"))
    oracle = pd.read_parquet(folder / "oracle.parquet")
    entities = dataset.entities.set_index("entity_id")
    as_of = oracle["as_of"]
    window_end = as_of + pd.Timedelta(days=28)
    complete = window_end <= dataset.data_end
    converted = oracle["user_id"].map(entities["converted_at"])
    label = (converted >= as_of) & (converted < window_end)
    assert not (converted < as_of).any()  # only users still free at the cut
    frame = pd.DataFrame({"p": oracle["oracle_p"], "y": label})[complete]
    assert frame["p"].between(0, 1).all()
    # overall and in the top decile, realised rates sit near the oracle's mean
    mean, rate = frame["p"].mean(), frame["y"].mean()
    assert abs(rate - mean) < 4 * np.sqrt(mean * (1 - mean) / len(frame))
    top = frame[frame["p"] >= frame["p"].quantile(0.9)]
    assert abs(top["y"].mean() - top["p"].mean()) < 4 * np.sqrt(
        top["p"].mean() * (1 - top["p"].mean()) / len(top)
    )
    assert top["y"].mean() > 2 * rate
    # the oracle's cuts are the training cuts of the spec
    from pql.features.pipeline import training_features

    rows = training_features(dataset)[0]
    labelled = rows[rows["as_of"] + pd.Timedelta(days=28) <= dataset.data_end]
    keys = pd.MultiIndex.from_frame(oracle[["user_id", "as_of"]])
    assert pd.MultiIndex.from_arrays([labelled["entity_id"], labelled["as_of"]]).isin(keys).all()


def test_hazard_rises_with_behaviour() -> None:
    none = daily_hazard(*(np.zeros(1) for _ in range(5)))
    busy = daily_hazard(np.array([30.0]), np.array([3.0]), np.array([1.0]), np.ones(1), np.ones(1))
    assert 0 < none[0] < busy[0] < 1


def test_bad_arguments_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="days must be at least 30"):
        simulate_freemium(10, 1, tmp_path, days=5)
    with pytest.raises(DataError, match="n_users must be a whole number"):
        simulate_freemium(1.5, 1, tmp_path)  # type: ignore[arg-type]


def test_the_command_writes_a_freemium_product(tmp_path: Path, monkeypatch, capsys) -> None:
    from tests.pql.test_cli import run

    out = tmp_path / "free"
    args = ["simulate", "--shape", "freemium", "--users", "300", "--seed", "3", "--out", str(out)]
    code, text = run(args, monkeypatch, capsys)
    assert code == 0, text
    assert "Simulated 300 free users" in text and "conversions at any age" in text
    assert {p.name for p in out.iterdir()} == {"events.parquet", "oracle.parquet", "pql.yaml"}
    assert load_spec(out / "pql.yaml").shape == "freemium"
    code, text = run(["simulate", "--shape", "monthly", "--out", str(out)], monkeypatch, capsys)
    assert code != 0 and "monthly" in text
