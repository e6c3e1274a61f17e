"""The public Python API: the handful of calls a data scientist needs, from one import.

    import pql

    spec = pql.load_spec("pql.yaml")
    dataset = pql.load_dataset(spec)
    rows = pql.build_features(dataset)            # training snapshots
    result = pql.train(dataset)                   # bundle, metrics, baselines
    scores = pql.score_frame(result.bundle, rows)

Every function here validates its input and raises a `pql.errors.PqlError` subclass
with a message naming what is wrong; the heavy libraries load on first use, so
`import pql` stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pql.errors import UsageError

if TYPE_CHECKING:
    from pql.features.pipeline import Dataset
    from pql.features.spec import Spec
    from pql.monitoring.monitor import MonitorReport
    from pql.serving.batch import BatchScores
    from pql.serving.bundle import ModelBundle
    from pql.serving.entity import EntityScore
    from pql.serving.registry import LoadedModel
    from pql.training.train import TrainingResult


def load_spec(path: str | Path) -> Spec:
    """Read and validate a product spec (`pql.yaml`); paths in it are relative to it."""
    from pql.features.spec import load_spec as _load_spec

    return _load_spec(Path(path))


def load_dataset(
    spec: Spec | str | Path,
    *,
    events: pd.DataFrame | None = None,
    strict: bool = True,
) -> Dataset:
    """Load the spec's events (or the `events` frame given) with the data-quality report.

    `strict=False` returns a dataset even when the report is fatal, to inspect it.
    """
    from pql.features.pipeline import load_dataset as _load_dataset
    from pql.features.spec import Spec

    checked = spec if isinstance(spec, Spec) else load_spec(spec)
    return _load_dataset(checked, events=events, strict=strict)


def build_features(dataset: Dataset, as_of: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Point-in-time features: training snapshots (no `as_of`) or live rows at `as_of`.

    Live rows are one per entity eligible at `as_of`; the others are not scored (see
    `score_batch` for the per-entity status).
    """
    from pql.features.pipeline import live_features, training_features

    if as_of is None:
        return training_features(dataset)[0]
    return live_features(dataset, _moment(as_of))[0]


def train(dataset: Dataset) -> TrainingResult:
    """Labels, time-ordered split, LightGBM, calibration, baselines (no MLflow).

    `pql train` adds tracking, registration and the champion gate on top of this.
    """
    from pql.training.train import train_model

    return train_model(dataset)


def load_model(uri: str, *, tracking_uri: str | None = None) -> LoadedModel:
    """A model from MLflow (`models:/pql-acme@champion`, `runs:/...`) with its identity.

    `tracking_uri` defaults to `MLFLOW_TRACKING_URI` (else ./mlflow.db).
    """
    from pql.serving.registry import load_model as _load_model

    return _load_model(uri, tracking_uri)


def score_frame(model: ModelBundle | LoadedModel, features: pd.DataFrame) -> pd.DataFrame:
    """Probability, score, tier, PQL flag and reasons for rows of ready features."""
    from pql.serving.scoring import Scorer

    return Scorer(_bundle(model)).score_frame(features)


def score_events(
    model: ModelBundle | LoadedModel,
    entity_id: str,
    events: Sequence[Mapping[str, Any]],
    *,
    as_of: Any = None,
    signup_at: Any = None,
    converted_at: Any = None,
    trial_end_at: Any = None,
) -> EntityScore:
    """Score one entity from its raw events (as POST /score does), at `as_of` (now).

    An entity batch scoring would not score gets `status` "not scored" and the reason.
    """
    from pql.serving.entity import EntityScorer
    from pql.serving.scoring import Scorer

    scorer = EntityScorer(Scorer(_bundle(model)))
    return scorer.score_events(
        entity_id,
        events,
        as_of=as_of,
        signup_at=signup_at,
        converted_at=converted_at,
        trial_end_at=trial_end_at,
    )


def score_batch(
    model: ModelBundle | LoadedModel, dataset: Dataset, as_of: str | pd.Timestamp | None = None
) -> BatchScores:
    """Score every entity of the dataset at `as_of` (default: where its events end).

    Rows in = rows out: `result.leads` has one row per entity, with `status` and
    `not_scored_reason` for those not scored (converted, not yet signed up, ...).
    """
    from pql.serving.batch import score_dataset
    from pql.serving.scoring import Scorer

    moment = dataset.events_end if as_of is None else _moment(as_of)
    version = getattr(model, "version", None)
    status = getattr(model, "status", "not registered")
    return score_dataset(
        Scorer(_bundle(model)), dataset, moment, model_version=version, model_status=status
    )


def monitor(
    dataset: Dataset, model: LoadedModel, *, history: str | Path | None = None
) -> MonitorReport:
    """Drift of the latest recorded scoring run against training, realised conversion of
    matured runs, and whether to retrain (`pql score` records the runs)."""
    from pql.monitoring.monitor import build_report
    from pql.serving.score_history import history_folder, list_runs

    folder = history_folder(dataset.spec.product, None if history is None else Path(history))
    label = f"{model.name or 'model'} v{model.version or '?'}"
    return build_report(list_runs(folder), dataset, model.bundle, label)


def _bundle(model: Any) -> ModelBundle:
    from pql.serving.bundle import ModelBundle

    if isinstance(model, ModelBundle):
        return model
    bundle = getattr(model, "bundle", None)
    if isinstance(bundle, ModelBundle):
        return bundle
    raise UsageError(
        f"model: expected a model from pql.load_model or a training result's bundle, "
        f"got {type(model).__name__}"
    )


def _moment(as_of: str | pd.Timestamp) -> pd.Timestamp:
    from pql.features.timestamps import parse_as_of

    if isinstance(as_of, pd.Timestamp):
        return as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
    return parse_as_of(str(as_of), "as_of")
