"""MLflow side of training: log the run, register the bundle, apply the champion gate.

Order matters for "never a half-registered model": the tracking store is opened and
checked before any training, everything is logged inside the run, and only then is a
version registered and given its alias. A failure while registering deletes the new
version again.

A training killed mid-run (SIGKILL, a lost machine) cannot end its MLflow run, which
would stay RUNNING for ever. Each run records the host, pid and start time of its
process; the next `pql train` on that host marks the runs whose process is gone FAILED
(a run of a live process, or of another host, is left alone: it may still be working).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import socket
import tempfile
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import lightgbm as lgb
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd
import psutil
from mlflow import MlflowClient
from mlflow.models import infer_signature

from pql import errors as pql_errors
from pql.errors import ModelLoadError, TrackingError
from pql.features.pipeline import Dataset
from pql.serving.pyfunc import BUNDLE_ARTIFACT, PqlModel
from pql.serving.registry import refuse_empty_store, shown_uri
from pql.serving.scoring import Scorer
from pql.settings import Settings, quiet_libraries
from pql.training import plots
from pql.training.gate import GateDecision, decide
from pql.training.metrics import evaluate, threshold_table
from pql.training.rows import TrainingRows
from pql.training.train import TrainingResult

CHAMPION, CHALLENGER = "champion", "challenger"


@dataclass(frozen=True)
class RegisteredRun:
    run_id: str
    experiment: str
    model_name: str
    version: str
    decision: GateDecision
    #: earlier runs left RUNNING by a killed training, marked FAILED by this one
    abandoned: tuple[str, ...] = ()


HOST_TAG, PID_TAG, STARTED_TAG = "pql.host", "pql.pid", "pql.process_started"


def _process_tags() -> dict[str, str]:
    """Who runs this training: enough to tell later whether it is still alive."""
    pid = os.getpid()
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(pid),
        STARTED_TAG: repr(psutil.Process(pid).create_time()),
    }


def _is_alive(tags: dict[str, str]) -> bool:
    """Whether the process that started a run still runs (same pid *and* start time:
    a pid can be reused by an unrelated process)."""
    try:
        process = psutil.Process(int(tags[PID_TAG]))
        return repr(process.create_time()) == tags.get(STARTED_TAG)
    except (psutil.Error, KeyError, ValueError):
        return False


def end_abandoned_runs(client: MlflowClient, experiment: str) -> tuple[str, ...]:
    """Mark FAILED the experiment's RUNNING runs whose training process on this host is
    gone; returns their run ids."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return ()
    host = socket.gethostname()
    runs = client.search_runs(
        [found.experiment_id],
        filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
        max_results=1000,
    )
    ended = []
    for run in runs:
        if _is_alive(run.data.tags):
            continue
        client.set_tag(
            run.info.run_id,
            "pql.ended",
            "its pql train process ended without finishing it (killed); marked FAILED by "
            "a later pql train",
        )
        client.set_terminated(run.info.run_id, status="FAILED")
        ended.append(run.info.run_id)
    return tuple(ended)


def open_tracking(uri: str | None = None) -> MlflowClient:
    """Point MLflow at the store and prove it opens, before any work is done.

    `uri` defaults to the environment's (`MLFLOW_TRACKING_URI`, else ./mlflow.db).
    """
    uri = uri or Settings.from_env().tracking_uri
    if uri.startswith("sqlite:///"):
        try:
            refuse_empty_store(Path(uri.removeprefix("sqlite:///")))
        except ModelLoadError as exc:
            raise TrackingError(exc.message) from None
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    # it logs SQLAlchemy's error text before raising; pql reports the raised error itself
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    quiet_libraries()
    mlflow.set_tracking_uri(uri)
    try:
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)
    except Exception as exc:
        raise TrackingError(
            f"cannot open the MLflow tracking store {shown_uri(uri)!r} (MLFLOW_TRACKING_URI): "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    return client


def _params(result: TrainingResult, dataset: Dataset | TrainingRows) -> dict[str, Any]:
    spec = dataset.spec
    return {
        # the share of negative rows the model was fitted on (1: all; test never sampled)
        "negative_sample": spec.model.negative_sample,
        "rows_engine": result.engine,
        "product": spec.product,
        "entity": spec.entity,
        "horizon_days": spec.label.horizon_days,
        "snapshots_days": json.dumps(spec.snapshots_days),
        "shape": result.bundle.spec.shape,
        "actions": ",".join(spec.actions),
        "features": len(result.bundle.feature_names),
        "seed": spec.model.seed,
        "best_iteration": result.best_iteration,
        "calibrator": result.bundle.calibrator.kind,
        "pql_threshold": round(result.bundle.tiers.hot, 6),
        "warm_threshold": round(result.bundle.tiers.warm, 6),
        "lightgbm_params": json.dumps(spec.model.params) if spec.model.params else "defaults",
        **{f"split_{s.name}_rows": s.rows for s in result.splits},
    }


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}


def _log_figure(figure: plt.Figure, path: str) -> None:
    mlflow.log_figure(figure, path)
    plt.close(figure)


def _log_plots(result: TrainingResult, booster: lgb.Booster, seed: int) -> None:
    test = result.test
    names = list(result.bundle.feature_names)
    y, probability = test["label"].to_numpy(), test["probability"].to_numpy()
    _log_figure(plots.calibration_figure(y, probability), "plots/calibration_curve.png")
    _log_figure(plots.gain_figure(y, probability), "plots/gain_lift.png")
    _log_figure(plots.importance_figure(booster, names), "plots/feature_importance.png")
    _log_figure(plots.shap_beeswarm_figure(booster, test[names], seed), "plots/shap_beeswarm.png")
    if not result.reliability.empty:
        mlflow.log_text(result.reliability.to_csv(index=False), "tables/reliability.csv")
    if not result.segments.empty:  # per level of each categorical fit attribute
        mlflow.log_text(result.segments.to_csv(index=False), "tables/segments.csv")
    table = threshold_table(y, probability)
    mlflow.log_text(table.to_csv(index=False), "tables/threshold_table.csv")
    mlflow.log_text(
        table.to_markdown(index=False) if _has_tabulate() else table.to_string(),
        "tables/threshold_table.md",
    )


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def _log_model(result: TrainingResult) -> str:
    names = list(result.bundle.feature_names)
    example = result.test[names].head(5).astype(float)
    with tempfile.TemporaryDirectory(prefix="pql-bundle-") as tmp:
        folder = result.bundle.save(Path(tmp) / BUNDLE_ARTIFACT)
        model = PqlModel()
        model.load_context(type("Context", (), {"artifacts": {BUNDLE_ARTIFACT: str(folder)}})())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLflow's hints about int columns; ours are set
            signature = infer_signature(example, model.predict(None, example))
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=model,
                artifacts={BUNDLE_ARTIFACT: str(folder)},
                code_paths=[os.path.dirname(pql_errors.__file__)],  # the pql package
                signature=signature,
                input_example=example,
                pip_requirements=_requirements(),
            )
    return info.model_uri


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [
        f"{p}=={version(p)}"
        for p in ("mlflow", "lightgbm", "numpy", "pandas", "pyyaml", "pydantic", "rich")
    ]


def _champion_pr_auc(
    client: MlflowClient, name: str, test: pd.DataFrame, attributes: dict | None = None
) -> tuple[str | None, float | None]:
    """Re-score the champion on the challenger's test rows (None when it cannot be)."""
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except Exception:
        return None, None
    try:
        model = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
        scorer = Scorer(model.unwrap_python_model().bundle)
        names = list(scorer.bundle.feature_names)
        if not set(names) <= set(test.columns) or (scorer.bundle.attributes or {}) != (
            attributes or {}
        ):
            # another feature set, or fit attributes coded with other levels
            return str(champion.version), None
        scores = scorer.predict(test[names].to_numpy(np.float64))
        result = evaluate(
            test["label"].to_numpy(), scores.probability, threshold=scorer.bundle.threshold
        )
        return str(champion.version), float(result["pr_auc"])
    except Exception:
        return str(champion.version), None


def log_and_register(
    client: MlflowClient,
    dataset: Dataset | TrainingRows,
    result: TrainingResult,
    *,
    auto_promote: bool = True,
) -> RegisteredRun:
    """One MLflow run with everything; then a registry version, alias and gate decision.

    `dataset`: the data set in memory (local engine) or the rows an engine gathered.
    """
    spec = dataset.spec
    experiment = f"pql-{spec.product}"
    name = spec.registered_model_name
    mlflow.set_experiment(experiment)
    abandoned = end_abandoned_runs(client, experiment)
    booster = result.bundle.booster
    with mlflow.start_run(
        run_name=f"train-{result.bundle.trained_at}", tags=_process_tags()
    ) as run:
        mlflow.log_params(_params(result, dataset))
        mlflow.log_metrics(_finite(result.metrics))
        mlflow.log_text(result.bundle.spec_yaml, "spec/pql.yaml")
        report = (
            dataset.quality if isinstance(dataset, TrainingRows) else dataset.quality.to_dict()
        )
        mlflow.log_dict(report, "data/quality_report.json")
        mlflow.log_dict(
            {
                "splits": [asdict(s) for s in result.splits],
                "rows": result.row_counts,
                "calibration_cv_log_loss": result.calibration_cv_log_loss,
                "baselines": result.baseline_descriptions,
                "verdict": result.verdict,
                "timings_seconds": result.timings,
                "negative_sampling": result.sampling or "none: fitted on every row",
                "rows_engine": result.engine,
            },
            "data/training_summary.json",
        )
        _log_plots(result, booster, spec.model.seed)
        model_uri = _log_model(result)
        mlflow.set_tag("pql.verdict", result.verdict)
    champion_version, champion_pr_auc = _champion_pr_auc(
        client, name, result.test, result.bundle.attributes
    )
    decision = decide(result.metrics, champion_version, champion_pr_auc)
    version = _register(client, name, model_uri, run.info.run_id, decision, auto_promote)
    return RegisteredRun(run.info.run_id, experiment, name, version, decision, abandoned)


def _register(
    client: MlflowClient,
    name: str,
    model_uri: str,
    run_id: str,
    decision: GateDecision,
    promote: bool,
) -> str:
    # register_model prints its own progress lines; the CLI reports the outcome itself
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        registered = mlflow.register_model(model_uri, name, await_registration_for=60)
    version = str(registered.version)
    try:
        client.set_registered_model_alias(name, CHALLENGER, version)
        record_decision(client, name, version, decision)
        if promote and decision.promote:
            client.set_registered_model_alias(name, CHAMPION, version)
    except Exception as exc:
        client.delete_model_version(name, version)
        raise TrackingError(f"registering {name} v{version} failed and was undone: {exc}") from None
    client.set_tag(run_id, "pql.registered_version", version)
    return version


def record_decision(client: MlflowClient, name: str, version: str, decision: GateDecision) -> None:
    client.set_model_version_tag(
        name, version, "pql.gate", "promote" if decision.promote else "refuse"
    )
    client.set_model_version_tag(name, version, "pql.gate_reasons", " | ".join(decision.reasons))


def promote(client: MlflowClient, name: str, version: str | None, force: bool) -> GateDecision:
    """`pql promote`: move champion to a version (default: the challenger), gated or forced."""
    try:
        return _promote(client, name, version, force)
    except pql_errors.PqlError:
        raise
    except Exception as exc:  # MLflow raises many types; the user needs one message
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrackingError(f"promoting {name} failed in the MLflow store: {first}") from None


def _promote(client: MlflowClient, name: str, version: str | None, force: bool) -> GateDecision:
    try:
        target = version or str(client.get_model_version_by_alias(name, CHALLENGER).version)
        model_version = client.get_model_version(name, target)
    except Exception as exc:
        raise TrackingError(f"no version {version or '@' + CHALLENGER} of {name}: {exc}") from None
    if force:
        try:
            was: str | None = str(client.get_model_version_by_alias(name, CHAMPION).version)
        except Exception:  # no champion yet
            was = None
        decision = GateDecision(
            True, [f"forced by hand (pql promote --force) to v{target}"], champion_version=was
        )
    else:
        run = client.get_run(str(model_version.run_id))
        metrics = dict(run.data.metrics)
        metrics.setdefault("no_signal", 0.0)
        try:
            current = client.get_model_version_by_alias(name, CHAMPION)
            current_run = client.get_run(str(current.run_id))
            current_pr = current_run.data.metrics.get("test_pr_auc")
            decision = decide(metrics, str(current.version), current_pr)
            decision.reasons.append(
                "champion compared on its own test metrics (different test rows)"
            )
        except Exception:
            decision = decide(metrics)
    record_decision(client, name, target, decision)
    if decision.promote:
        client.set_registered_model_alias(name, CHAMPION, target)
    return replace(decision, version=target)
