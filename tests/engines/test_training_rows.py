"""`pql train --engine buckets|spark`: the rows gathered from the partitions are the local
engine's training rows, in the local order, with the same report counts, so the model
trained on them is the local engine's model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from pql.engines.training_rows import bucket_training_rows
from pql.features.pipeline import load_dataset
from pql.features.spec import load_spec
from pql.training.rows import TrainingRows, from_dataset, from_gathered
from tests.pql.test_cli import run

pytestmark = pytest.mark.slow


def same_training_rows(got: TrainingRows, expected: TrainingRows) -> None:
    """Value for value and row for row (the order LightGBM's bagging sees)."""

    def tidy(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.reset_index(drop=True).copy()
        for name in ("as_of", "signup_at", "converted_at"):
            out[name] = pd.to_datetime(out[name], utc=True).astype("datetime64[us, UTC]")
        for name in ("entity_id", "account_id"):
            values = out[name].astype(object)
            out[name] = values.where(values.notna(), None)
        return out

    assert list(got.rows.columns) == list(expected.rows.columns)
    pd.testing.assert_frame_equal(
        tidy(got.rows), tidy(expected.rows), check_exact=True, check_dtype=False
    )
    assert got.data_end == expected.data_end
    counts = ("candidates", "converted_before", "beyond_data", "before_data")
    assert [getattr(got, c) for c in counts] == [getattr(expected, c) for c in counts]
    assert expected.oracle is not None and got.oracle is not None
    entities = got.rows["entity_id"].unique()
    pd.testing.assert_series_equal(
        got.oracle.reindex(entities).astype(float),
        expected.oracle.reindex(entities).astype(float),
        check_names=False,
        check_index_type=False,
    )


@pytest.mark.parametrize(("spec_name", "buckets"), [("pql.yaml", 3), ("pql-accounts.yaml", 5)])
def test_bucket_rows_equal_the_local_rows(skewed_folder: Path, spec_name: str, buckets: int):
    spec = load_spec(skewed_folder / spec_name)
    expected = from_dataset(load_dataset(spec))
    gathered = bucket_training_rows(spec, buckets)
    got = from_gathered(spec, gathered, "buckets")
    same_training_rows(got, expected)
    assert gathered.summary.entities == len(load_dataset(spec).entities)


def _example_job():
    """examples/spark_job.py, imported as the module a spark-submit would run."""
    path = Path(__file__).resolve().parents[2] / "examples" / "spark_job.py"
    found = importlib.util.spec_from_file_location("spark_job", path)
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


@pytest.mark.spark
def test_the_example_spark_job_trains_on_the_local_rows(
    spark, skewed_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole flow on the shared session: features, training rows gathered from Spark
    (equal to the local engine's), a registered model, and every entity scored."""
    monkeypatch.chdir(tmp_path)
    spec_path = skewed_folder / "pql.yaml"
    flow = _example_job().run_flow(
        spark,
        spec_path,
        str(tmp_path / "job"),
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        partitions=4,
    )
    local = load_dataset(load_spec(spec_path))
    expected = from_dataset(local)
    same_training_rows(flow["rows"], expected)
    assert "--engine spark" in flow["rows"].data_end_note
    assert flow["features"].rows_written == len(expected.rows)
    assert flow["registered"].version == "1"
    assert flow["result"].engine == "spark"
    assert flow["leads"].rows_written == len(local.entities)
    assert len(pd.read_parquet(tmp_path / "job" / "leads.parquet")) == len(local.entities)


def test_pql_train_with_buckets_registers_a_model(
    skewed_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    spec = str(skewed_folder / "pql.yaml")
    args = ["train", "--spec", spec, "--engine", "buckets", "--partitions", "3"]
    code, output = run([*args, "--negative-sample", "0.5"], monkeypatch, capsys)
    assert code == 0, output
    assert "snapshot rows gathered from 3 buckets (--engine buckets)" in output
    assert "negative down-sampling (model.negative_sample 0.5)" in output
    assert "pql-simulated v1" in output

    from mlflow import MlflowClient

    client = MlflowClient()
    version = client.get_model_version("pql-simulated", "1")
    params = client.get_run(str(version.run_id)).data.params
    assert params["rows_engine"] == "buckets" and params["negative_sample"] == "0.5"

    code, output = run([*args, "--negative-sample", "0"], monkeypatch, capsys)
    assert code == 2 and "--negative-sample must be above 0" in output
