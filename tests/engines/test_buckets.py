"""--engine buckets gives the local engine's features, labels and leads, value for value.

The log is split once into hash buckets of entities on disk and run bucket by bucket;
the simulated product has one entity of 100k events (a skewed bucket) and trial users
without events, at user and account level; a small log in many buckets leaves some
buckets empty. `--engine auto` switches to buckets above the memory budget.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import yaml

from pql.engines.buckets import (
    BYTES_PER_EVENT,
    Plan,
    arrow_schema,
    bucket_log,
    features_run,
    parse_size,
    write_frames,
)
from pql.engines.leads import bucket_leads_run
from pql.engines.split import bucket_numbers
from pql.errors import PqlError, UsageError
from pql.features.pipeline import live_features, load_dataset, training_features
from pql.features.spec import load_spec
from pql.serving.batch import score_dataset
from pql.serving.scoring import Scorer
from pql.training.labels import label_rows
from tests.engines.test_partition import same_rows
from tests.pql.test_cli import run


@pytest.mark.parametrize(("spec_name", "buckets"), [("pql.yaml", 3), ("pql-accounts.yaml", 5)])
def test_features_and_labels_equal_the_local_engine(
    skewed_folder: Path, tmp_path: Path, spec_name: str, buckets: int
) -> None:
    spec = load_spec(skewed_folder / spec_name)
    local = load_dataset(spec)
    expected, _ = training_features(local)
    out = tmp_path / "features.parquet"
    result = features_run(spec, out, None, buckets)
    got = pd.read_parquet(out)
    assert result.rows_written == len(got) == len(expected)
    assert result.summary.rows_read == local.quality.rows_read
    assert result.summary.entities == len(local.entities)
    assert result.summary.window.data_end == local.data_end
    assert result.summary.unusable == {k: v for k, v in local.quality.unusable.items()}
    same_rows(got, expected)
    horizon = spec.label.horizon_days
    same_rows(
        label_rows(got, horizon, result.summary.window.data_end).rows,
        label_rows(expected, horizon, local.data_end).rows,
    )
    as_of = local.data_end - pd.Timedelta(days=30)
    live = features_run(spec, tmp_path / "live.csv", as_of, buckets)
    expected_live = live_features(local, as_of)[0]
    assert live.rows_written == len(expected_live) < live.summary.entities
    same_rows(
        pd.read_csv(tmp_path / "live.csv", dtype={"entity_id": str, "account_id": str}),
        pd.read_csv(
            pd.io.common.StringIO(expected_live.to_csv(index=False)),
            dtype={"entity_id": str, "account_id": str},
        ),
    )


def test_the_heavy_entity_and_its_trial_land_in_one_bucket(skewed_folder: Path) -> None:
    spec = load_spec(skewed_folder / "pql.yaml")
    with bucket_log(spec, 4) as log:
        sizes = [len(log.frames(n)[0]) for n in range(4)]
        assert sum(sizes) == log.events.rows
        assert max(sizes) > 100_000  # the skewed bucket holds the heavy user whole
    # "42", 42, 42.0 and " 42 " are one id in features.ingest: one bucket
    same = bucket_numbers(pa.array(["42", " 42 ", "42.0"]), 16)
    assert len(set(same)) == 1 == len({*same, *bucket_numbers(pa.array([42, 42]), 16)})


def test_a_small_log_in_many_buckets_leaves_empty_ones(skewed_folder: Path, tmp_path: Path) -> None:
    events = pd.read_parquet(skewed_folder / "events.parquet")
    trials = pd.read_parquet(skewed_folder / "trials.parquet")
    users = trials["user_id"].iloc[:3]
    events[events["user_id"].isin(users)].to_csv(tmp_path / "events.csv", index=False)
    trials[trials["user_id"].isin(users)].to_parquet(tmp_path / "trials.parquet")
    raw = yaml.safe_load((skewed_folder / "pql.yaml").read_text())
    raw["data"]["events"]["path"] = "events.csv"
    raw["data"]["trials"]["path"] = "trials.parquet"
    (tmp_path / "pql.yaml").write_text(yaml.safe_dump(raw))
    spec = load_spec(tmp_path / "pql.yaml")
    with bucket_log(spec, 16) as log:
        empty = [n for n in range(16) if len(log.frames(n)[0]) == 0]
    assert empty
    local = load_dataset(spec)
    as_of = local.data_end
    result = features_run(spec, tmp_path / "live.parquet", as_of, 16)
    assert result.summary.entities == 3
    same_rows(pd.read_parquet(tmp_path / "live.parquet"), live_features(local, as_of)[0])


def test_rows_differing_only_in_an_unmapped_column_stay_two_events(
    skewed_folder: Path, tmp_path: Path
) -> None:
    """An exact duplicate is identical in every source column: the split keeps them all."""
    events = pd.read_parquet(skewed_folder / "events.parquet")
    trials = pd.read_parquet(skewed_folder / "trials.parquet")
    users = trials["user_id"].iloc[:20]
    picked = events[events["user_id"].isin(users)]
    twins = pd.concat([picked.assign(item="a"), picked.head(50).assign(item="b")])
    twins.to_parquet(tmp_path / "events.parquet")
    trials[trials["user_id"].isin(users)].to_parquet(tmp_path / "trials.parquet")
    raw = yaml.safe_load((skewed_folder / "pql.yaml").read_text())
    raw["data"]["events"]["path"] = "events.parquet"
    raw["data"]["trials"]["path"] = "trials.parquet"
    (tmp_path / "pql.yaml").write_text(yaml.safe_dump(raw))
    spec = load_spec(tmp_path / "pql.yaml")
    local = load_dataset(spec)
    assert local.quality.usable_rows == len(twins)  # nothing dropped as a duplicate
    result = features_run(spec, tmp_path / "rows.parquet", None, 4)
    assert result.summary.usable == len(twins)
    same_rows(pd.read_parquet(tmp_path / "rows.parquet"), training_features(local)[0])


@pytest.mark.parametrize(
    ("spec_name", "fixture"), [("pql.yaml", "trained"), ("pql-accounts.yaml", "trained_accounts")]
)
def test_leads_equal_the_local_engine(
    skewed_folder: Path, tmp_path: Path, spec_name: str, fixture: str, request
) -> None:
    bundle = request.getfixturevalue(fixture).result.bundle
    spec = load_spec(skewed_folder / spec_name)
    local = load_dataset(spec)
    as_of = local.data_end - pd.Timedelta(days=20)
    expected = score_dataset(
        Scorer(bundle), local, as_of, model_version="4", model_status="champion"
    )
    out = tmp_path / "leads.parquet"
    result = bucket_leads_run(
        spec, bundle, as_of, out, model_version="4", model_status="champion", buckets=4
    )
    assert result.rows_written == result.summary.entities == len(local.entities)
    got = pd.read_parquet(out)
    assert (got["scored_at"] == result.scored_at).all()
    same_rows(got.drop(columns="scored_at"), expected.leads.drop(columns="scored_at"))
    assert result.by_status["scored"] == len(expected.scored)
    assert result.pqls == int(expected.scored["is_pql"].sum())
    assert result.by_tier == expected.scored["tier"].value_counts().to_dict()


def test_rows_in_must_equal_rows_out_or_the_old_output_stays(tmp_path: Path) -> None:
    out = tmp_path / "leads.parquet"
    out.write_bytes(b"the previous run")
    schema = arrow_schema([("entity_id", "string"), ("score", "double")])
    frame = pd.DataFrame({"entity_id": ["a", "b"], "score": [1.0, 2.0]})
    with pytest.raises(PqlError, match="2 rows written for 3 expected"):
        write_frames(iter([frame]), out, schema, expected=3)
    assert out.read_bytes() == b"the previous run"
    assert write_frames(iter([frame, frame.iloc[:0], frame]), out, schema, expected=4) == 4
    assert pd.read_parquet(out)["score"].tolist() == [1.0, 2.0, 1.0, 2.0]


def test_sizes_and_the_plan() -> None:
    assert parse_size("8GiB") == parse_size("8g") == 8 * 1024**3
    assert parse_size("1500") == 1500
    with pytest.raises(UsageError, match="not a size"):
        parse_size("lots")
    assert not Plan(10, 100).out_of_core
    assert Plan(1000, 100).out_of_core and Plan(1000, 100).buckets == 20
    assert Plan(None, 100).buckets == 2


def test_auto_switches_to_buckets_above_the_budget(
    skewed_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    spec = str(skewed_folder / "pql.yaml")
    events = len(pd.read_parquet(skewed_folder / "events.parquet", columns=["event"]))
    expected, _ = training_features(load_dataset(load_spec(skewed_folder / "pql.yaml")))
    below = str(events * BYTES_PER_EVENT + 1)  # the log fits: local
    monkeypatch.setenv("PQL_MEMORY_BUDGET", below)
    out = str(tmp_path / "local.parquet")
    code, output = run(["features", "--spec", spec, "--out", out], monkeypatch, capsys)
    assert code == 0, output
    assert "out of core" not in output and " buckets in " not in output
    above = str(events * BYTES_PER_EVENT // 4)  # 4x over: ~8 buckets of half the budget
    monkeypatch.setenv("PQL_MEMORY_BUDGET", above)
    out = str(tmp_path / "buckets.parquet")
    code, output = run(["features", "--spec", spec, "--out", out], monkeypatch, capsys)
    assert code == 0, output
    assert "out of core: working set" in output
    assert f"in {Plan(events * BYTES_PER_EVENT, int(above)).buckets} buckets" in output
    same_rows(pd.read_parquet(out), expected)
    same_rows(pd.read_parquet(tmp_path / "local.parquet"), expected)


def test_score_in_buckets_refuses_the_report_options(
    skewed_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    spec = str(skewed_folder / "pql.yaml")
    monkeypatch.setenv("PQL_MEMORY_BUDGET", "1KiB")
    html = str(tmp_path / "r.html")
    code, output = run(["score", "--spec", spec, "--html", html], monkeypatch, capsys)
    assert code == 2
    assert "--html: not available with --engine buckets (chosen by --engine auto)" in output
    monkeypatch.setenv("PQL_MEMORY_BUDGET", "a lot")
    code, output = run(["features", "--spec", spec], monkeypatch, capsys)
    assert code == 2 and "PQL_MEMORY_BUDGET: 'a lot' is not a size" in output
