"""--engine spark gives the local engine's features, labels and leads, value for value.

One local Spark session for the whole run (`conftest.spark`: start-up is the slow part);
a simulated product with one entity of 100k events (a skewed partition), trial users
without events, and more Spark partitions than entity partitions (empty ones), at user
and account level.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pql.cli import app
from pql.features.pipeline import live_features, load_dataset, training_features
from pql.features.spec import load_spec
from pql.serving.batch import score_dataset
from pql.serving.scoring import Scorer
from pql.training.labels import label_rows

pyspark = pytest.importorskip("pyspark")

from pql.engines.leads import leads_run  # noqa: E402
from pql.engines.spark import features_run  # noqa: E402
from tests.engines.test_partition import same_rows  # noqa: E402
from tests.pql.test_cli import run  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.mark.parametrize(("spec_name", "partitions"), [("pql.yaml", 3), ("pql-accounts.yaml", 5)])
def test_features_and_labels_equal_the_local_engine(
    spark, skewed_folder: Path, tmp_path: Path, spec_name: str, partitions: int
) -> None:
    spec = load_spec(skewed_folder / spec_name)
    local = load_dataset(spec)
    expected, _ = training_features(local)
    out = tmp_path / "features.parquet"
    run = features_run(spark, spec, str(out), None, partitions=partitions)
    got = pd.read_parquet(out)
    assert run.rows_written == len(expected)
    assert run.summary.rows_read == local.quality.rows_read
    assert run.summary.entities == len(local.entities)
    assert run.summary.window.data_end == local.data_end
    same_rows(got, expected)
    horizon = spec.label.horizon_days
    same_rows(
        label_rows(got, horizon, run.summary.window.data_end).rows,
        label_rows(expected, horizon, local.data_end).rows,
    )
    as_of = local.data_end - pd.Timedelta(days=30)
    live = features_run(spark, spec, str(tmp_path / "live.parquet"), None, as_of, partitions)
    same_rows(pd.read_parquet(tmp_path / "live.parquet"), live_features(local, as_of)[0])
    assert live.rows_written < live.summary.entities  # some converted, some not signed up


@pytest.mark.parametrize(
    ("spec_name", "fixture"), [("pql.yaml", "trained"), ("pql-accounts.yaml", "trained_accounts")]
)
def test_leads_equal_the_local_engine(
    spark, skewed_folder: Path, tmp_path: Path, spec_name: str, fixture: str, request
) -> None:
    bundle = request.getfixturevalue(fixture).result.bundle
    spec = load_spec(skewed_folder / spec_name)
    local = load_dataset(spec)
    as_of = local.data_end - pd.Timedelta(days=20)
    expected = score_dataset(
        Scorer(bundle), local, as_of, model_version="4", model_status="champion"
    )
    out = tmp_path / "leads.parquet"
    run = leads_run(
        spark,
        spec,
        bundle,
        as_of,
        str(out),
        None,
        model_version="4",
        model_status="champion",
        partitions=4,
    )
    assert run.rows_written == run.summary.entities == len(local.entities)
    got = pd.read_parquet(out)
    assert (got["scored_at"] == run.scored_at).all()
    same_rows(got.drop(columns="scored_at"), expected.leads.drop(columns="scored_at"))
    assert run.by_status["scored"] == len(expected.scored)
    assert run.pqls == int(expected.scored["is_pql"].sum())


def test_cli_features_on_spark_uses_the_active_session(
    spark, skewed_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "features.parquet"
    spec = skewed_folder / "pql.yaml"
    result = CliRunner().invoke(
        app, ["features", "--spec", str(spec), "--out", str(out), "--engine", "spark"]
    )
    assert result.exit_code == 0, result.output
    expected, _ = training_features(load_dataset(load_spec(spec)))
    assert f"{len(expected):,} snapshot rows" in result.output
    same_rows(pd.read_parquet(out), expected)
    # run again over the same folder: replaced whole, not appended to
    again = CliRunner().invoke(
        app, ["features", "--spec", str(spec), "--out", str(out), "--engine", "spark"]
    )
    assert again.exit_code == 0, again.output
    assert len(pd.read_parquet(out)) == len(expected)


def test_score_on_spark_refuses_what_it_does_not_do(
    skewed_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    spec = str(skewed_folder / "pql.yaml")
    html = str(tmp_path / "r.html")
    code, output = run(
        ["score", "--spec", spec, "--engine", "spark", "--html", html], monkeypatch, capsys
    )
    assert code == 2
    assert "--html: not available with --engine spark" in output


def test_engine_spark_without_pyspark_says_how_to_install(
    skewed_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark -> ImportError
    spec, out = str(skewed_folder / "pql.yaml"), str(tmp_path / "f.parquet")
    code, output = run(
        ["features", "--spec", spec, "--out", out, "--engine", "spark"], monkeypatch, capsys
    )
    assert code == 2
    assert "pip install 'pql-leads[spark]'" in output
