"""The model a service worker serves: from the MLflow registry, or packed into a Bento.

`bentoml build` packs the registry's champion into the BentoML model store
(`pack_champion`); a served Bento reads the bundle straight from that copy and needs no
MLflow store. `ModelSource` is what the service's class-scope model resolves to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import bentoml

from pql.serving.bundle import ModelBundle
from pql.serving.registry import check_store, pin_version, registry_uri
from pql.settings import Settings

logger = logging.getLogger("pql.service")

#: Alias of the packed model inside a Bento (bentoml.models.get resolves it there).
PACKED_ALIAS = "pql-champion"
MLFLOW_MODEL_FOLDER = "mlflow_model"  # where bentoml.mlflow.import_model puts the model


@dataclass(frozen=True)
class ServedModel:
    """A loaded bundle plus where it came from (reported by GET /model)."""

    bundle: ModelBundle
    uri: str
    source: Literal["registry", "bento"]
    name: str | None
    version: str | None
    run_id: str | None
    status: str = "not registered"  # the registry's word on it (see registry.model_status)


def load_registry_model(settings: Settings, uri: str | None = None) -> ServedModel:
    from pql.serving.registry import load_model

    check_store(settings.tracking_uri)
    loaded = load_model(uri or registry_uri(settings), settings.tracking_uri)
    return ServedModel(
        loaded.bundle,
        loaded.uri,
        "registry",
        loaded.name,
        loaded.version,
        loaded.run_id,
        loaded.status,
    )


def load_packed_model(tag: str = PACKED_ALIAS) -> ServedModel:
    """The model packed into this Bento: read the bundle straight from the MLflow folder.

    No MLflow import: the bundle is plain files (`artifacts/bundle` per the MLmodel file).
    """
    import yaml

    stored = bentoml.models.get(tag)
    folder = Path(stored.path_of(MLFLOW_MODEL_FOLDER))
    meta = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
    bundle_path = meta["flavors"]["python_function"]["artifacts"]["bundle"]["path"]
    info = stored.info.metadata
    return ServedModel(
        bundle=ModelBundle.load(folder / bundle_path),
        uri=str(stored.tag),
        source="bento",
        name=_text_or_none(info.get("registered_name")),
        version=_text_or_none(info.get("registered_version")),
        run_id=_text_or_none(info.get("run_id")),
        status=str(info.get("model_status") or "not registered"),
    )


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def pack_champion(settings: Settings) -> bentoml.Model:
    """Import the configured registry model into the BentoML store (once per version).

    `bentoml build` calls this (through `ChampionModel.to_info`), so the Bento carries
    the exact champion of build time. The tag holds version and run id: a re-created
    registry that reuses a version number cannot hand back a stale copy.
    """
    import mlflow

    from pql.serving.registry import load_model

    check_store(settings.tracking_uri)
    uri = pin_version(registry_uri(settings), settings.tracking_uri)  # once, now
    identity = load_model(uri, settings.tracking_uri)  # proves it loads before packing
    name = identity.name or "pql-model"
    tag = f"{name}:v{identity.version or 0}-{identity.run_id or 'local'}".lower()
    try:
        return bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        pass
    mlflow.set_tracking_uri(settings.tracking_uri)
    model = bentoml.mlflow.import_model(
        tag,
        model_uri=uri,
        labels={"registered_name": name, "registered_version": str(identity.version)},
        metadata={
            "registered_name": name,
            "registered_version": identity.version,
            "run_id": identity.run_id,
            "source_uri": uri,
            "model_status": identity.status,
        },
    )
    logger.info("packed %s (%s) as BentoML model %s", uri, identity.version, model.tag)
    return model


@dataclass(frozen=True)
class ModelSource:
    """Where this worker will load its model from; cheap to make, loads on demand."""

    kind: Literal["registry", "bento"]
    settings: Settings
    uri: str | None = None

    def load(self) -> ServedModel:
        if self.kind == "bento":
            return load_packed_model()
        return load_registry_model(self.settings, self.uri)
