"""Real MLflow (sqlite store in a temp folder): run, registry, aliases, gate, pyfunc."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import mlflow
import numpy as np
import pytest

from pql.errors import TrackingError
from pql.serving.registry import load_model
from pql.serving.scoring import Scorer
from pql.training.tracking import (
    HOST_TAG,
    PID_TAG,
    STARTED_TAG,
    log_and_register,
    open_tracking,
    promote,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return open_tracking()


def test_run_is_logged_registered_and_promoted(store, trained) -> None:
    registered = log_and_register(store, trained.dataset, trained.result)
    assert registered.decision.promote
    name = registered.model_name
    assert name == "pql-simulated"
    champion = store.get_model_version_by_alias(name, "champion")
    assert str(champion.version) == registered.version == "1"
    assert store.get_model_version(name, "1").tags["pql.gate"] == "promote"

    run = store.get_run(registered.run_id)
    assert run.data.metrics["test_roc_auc"] == pytest.approx(trained.result.metrics["test_roc_auc"])
    artifacts = {a.path for a in store.list_artifacts(registered.run_id, "plots")}
    assert {
        "plots/shap_beeswarm.png",
        "plots/calibration_curve.png",
        "plots/gain_lift.png",
        "plots/feature_importance.png",
    } <= artifacts
    summary = json.loads(
        mlflow.artifacts.load_text(f"runs:/{registered.run_id}/data/training_summary.json")
    )
    assert [s["name"] for s in summary["splits"]] == ["train", "validation", "test"]

    # loadable with plain mlflow.pyfunc: probability plus reasons, same as the bundle
    names = list(trained.result.bundle.feature_names)
    rows = trained.result.test[names].head(20)
    predicted = mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(rows)
    expected = Scorer(trained.result.bundle).predict(rows).probability
    np.testing.assert_allclose(predicted["probability"].to_numpy(), expected)
    assert json.loads(predicted["reasons"].iloc[0])[0]["text"]

    loaded = load_model(f"models:/{name}@champion")
    assert loaded.version == "1" and loaded.run_id == registered.run_id


def test_equal_challenger_replaces_champion_and_manual_promotion(store, trained) -> None:
    first = log_and_register(store, trained.dataset, trained.result)
    second = log_and_register(store, trained.dataset, trained.result)
    assert second.decision.promote and second.decision.champion_version == first.version
    name = first.model_name
    forced = promote(store, name, first.version, force=True)
    assert forced.promote
    assert str(store.get_model_version_by_alias(name, "champion").version) == first.version


def test_no_signal_model_is_registered_but_not_promoted(store, trained) -> None:
    log_and_register(store, trained.dataset, trained.result)
    metrics = {**trained.result.metrics, "no_signal": 1.0}
    weak = type(trained.result)(**{**trained.result.__dict__, "metrics": metrics})
    registered = log_and_register(store, trained.dataset, weak)
    assert not registered.decision.promote
    assert "no learnable signal" in registered.decision.summary
    name = registered.model_name
    assert str(store.get_model_version_by_alias(name, "champion").version) == "1"
    assert str(store.get_model_version_by_alias(name, "challenger").version) == registered.version


def test_unopenable_tracking_store_is_a_clear_error(tmp_path, monkeypatch) -> None:
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{not_a_folder}/mlflow.db")
    with pytest.raises(TrackingError, match="cannot open the MLflow tracking store"):
        open_tracking()


def test_a_zero_byte_store_is_refused_not_emptied(tmp_path) -> None:
    """MLflow would turn a 0-byte mlflow.db into a new empty store: say it instead."""
    from pql.errors import ExitCode, ModelLoadError, TrackingError
    from pql.serving.registry import registry_uri
    from pql.settings import Settings

    empty = tmp_path / "mlflow.db"
    empty.touch()
    with pytest.raises(TrackingError, match="empty \\(0 bytes\\)") as refused:
        open_tracking(f"sqlite:///{empty}")
    assert refused.value.exit_code == ExitCode.MODEL_STORE
    with pytest.raises(ModelLoadError, match="empty \\(0 bytes\\)"):
        registry_uri(Settings(tracking_uri=f"sqlite:///{empty}"))
    assert empty.stat().st_size == 0  # left as it was


def test_a_killed_trainings_run_is_marked_failed_by_the_next_training(store, trained) -> None:
    """A SIGKILLed `pql train` leaves its run RUNNING with its process tags; the next
    training on the host marks it FAILED, and leaves live or foreign runs alone."""
    experiment = mlflow.set_experiment("pql-simulated").experiment_id
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid now names no process (or, reused, one with another start time)
    host = socket.gethostname()
    killed = store.create_run(experiment, tags={HOST_TAG: host, PID_TAG: str(dead.pid)})
    reused = store.create_run(
        experiment, tags={HOST_TAG: host, PID_TAG: str(os.getpid()), STARTED_TAG: "1.0"}
    )
    import psutil

    started = repr(psutil.Process(os.getpid()).create_time())
    live = store.create_run(
        experiment, tags={HOST_TAG: host, PID_TAG: str(os.getpid()), STARTED_TAG: started}
    )
    elsewhere = store.create_run(experiment, tags={HOST_TAG: "another-host", PID_TAG: "1"})

    registered = log_and_register(store, trained.dataset, trained.result)

    assert set(registered.abandoned) == {killed.info.run_id, reused.info.run_id}
    for run in (killed, reused):
        ended = store.get_run(run.info.run_id)
        assert ended.info.status == "FAILED" and "killed" in ended.data.tags["pql.ended"]
    for run in (live, elsewhere):
        assert store.get_run(run.info.run_id).info.status == "RUNNING"
    tags = store.get_run(registered.run_id).data.tags
    assert tags[HOST_TAG] == host and tags[PID_TAG] == str(os.getpid())
    assert store.get_run(registered.run_id).info.status == "FINISHED"


def test_a_store_missing_mlflow_tables_is_exit_6_without_a_traceback(
    store, tmp_path, monkeypatch, capsys
) -> None:
    """A damaged store is refused read-only before MLflow can half-repair it and fail
    with SQLAlchemy errors on stderr."""
    import sqlite3

    import yaml

    from tests.conftest import small_spec
    from tests.pql.test_cli import run

    database = tmp_path / "mlflow.db"
    with sqlite3.connect(database) as db:
        db.execute("DROP TABLE registered_model_aliases")
    before = database.read_bytes()
    spec = tmp_path / "pql.yaml"
    spec.write_text(yaml.safe_dump(small_spec().model_dump(mode="json")))
    code, text = run(["promote", "--spec", str(spec)], monkeypatch, capsys)
    assert code == 6, text
    assert "damaged MLflow store" in text and "registered_model_aliases" in text
    assert "SQLAlchemy" not in text and "sqlite3.OperationalError" not in text
    assert database.read_bytes() == before  # read-only: nothing was created in it


def test_mlflow_failing_during_promote_is_exit_6(store, trained, tmp_path, monkeypatch, capsys):
    """A store whose runs table lost a column (as MLflow leaves one it half-repaired):
    MLflow's SQLAlchemy error becomes one exit-6 message, not an internal error."""
    import sqlite3

    from tests.pql.test_cli import run

    log_and_register(store, trained.dataset, trained.result, auto_promote=False)
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        db.execute("ALTER TABLE runs DROP COLUMN deleted_time")
    spec = trained.folder / "pql.yaml"
    code, text = run(["promote", "--spec", str(spec)], monkeypatch, capsys)
    assert code == 6, text
    assert "promoting pql-simulated failed in the MLflow store" in text
    assert "SQLAlchemy database error" not in text
