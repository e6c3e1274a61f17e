"""Load the served model from the MLflow registry by URI (default: the champion)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from features.errors import PqlError
from serving.bundle import ModelBundle

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


class ModelLoadError(PqlError):
    """The tracking store or the registered model cannot be reached (exit code 6)."""

    exit_code = 6


def redacted(uri: str) -> str:
    """The URI without a password, for messages and logs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def champion_uri(product: str, alias: str = "champion") -> str:
    return f"models:/pql-{product}@{alias}"


@dataclass(frozen=True)
class LoadedModel:
    bundle: ModelBundle
    uri: str
    name: str | None
    version: str | None
    run_id: str | None


def load_model(uri: str) -> LoadedModel:
    """Bundle plus registry identity (name, version, run) for a `models:/...` URI."""
    import mlflow
    import mlflow.pyfunc

    mlflow.set_tracking_uri(tracking_uri())
    try:
        model = mlflow.pyfunc.load_model(uri)
    except Exception as exc:  # MLflow raises many types; the user needs one message
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(
            f"cannot load model {uri!r} from {redacted(tracking_uri())}: {first_line}"
        ) from None
    name = version = None
    if uri.startswith("models:/"):
        name, _, ref = uri.removeprefix("models:/").partition("@")
        if ref:
            client = mlflow.MlflowClient()
            version = str(client.get_model_version_by_alias(name, ref).version)
        else:
            name, _, version = name.partition("/")
    return LoadedModel(
        bundle=model.unwrap_python_model().bundle,
        uri=uri,
        name=name,
        version=version,
        run_id=model.metadata.run_id,
    )
