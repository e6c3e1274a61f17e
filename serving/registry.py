"""The one place that resolves, checks, loads and shows a model URI.

Every command and the HTTP service find their model here: the URI the settings name
(`PQL_MODEL_URI`, or `PQL_MODEL_NAME` + alias), else the champion of the only `pql-*`
model in the registry; `pin_version` turns an alias into the version it names now.
A tracking store that cannot be used is a `ModelLoadError` (exit code 6) everywhere.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pql.errors import ModelLoadError
from pql.serving.bundle import ModelBundle
from pql.settings import Settings


def shown_uri(uri: str) -> str:
    """A URI fit for messages and logs: user and password (if any) left out."""
    parts = urlsplit(uri)
    if parts.password is None and parts.username is None:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def champion_uri(product: str, alias: str = "champion") -> str:
    return f"models:/pql-{product}@{alias}"


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def check_store(tracking_uri: str) -> None:
    """A sqlite store that is not there is a mistake to report, not a file to create.

    (MLflow would create an empty database and then report that no model is in it.)
    """
    if tracking_uri.startswith("sqlite:///") and tracking_uri != "sqlite:///:memory:":
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        if not path.exists():
            raise ModelLoadError(
                f"no MLflow store at {path.resolve()} (MLFLOW_TRACKING_URI={tracking_uri}); "
                "point MLFLOW_TRACKING_URI at the store `pql train` wrote"
            )
        refuse_empty_store(path)


#: Tables every MLflow store pql uses has had since MLflow 2.3 (runs and the registry).
MLFLOW_TABLES = (
    "alembic_version", "experiments", "runs", "metrics", "params", "tags",
    "registered_models", "model_versions", "registered_model_aliases",
)  # fmt: skip


def refuse_empty_store(path: Path) -> None:
    """A 0-byte file is no store: MLflow would quietly make an empty one of it, and the
    models the user expects there would seem to have vanished. Nor is a database missing
    some of MLflow's tables: MLflow would create them empty (in their first version) and
    then fail with SQLAlchemy errors on stderr. Both are checked read-only, first."""
    if not path.is_file():
        return
    if path.stat().st_size == 0:
        raise ModelLoadError(
            f"{path.resolve()} is empty (0 bytes): not an MLflow store; restore it from a "
            "backup, or delete it to start a new store"
        )
    tables = _tables(path)
    if not tables:
        return  # an SQLite file with nothing in it yet: MLflow sets it up
    missing = [name for name in MLFLOW_TABLES if name not in tables]
    if len(missing) == len(MLFLOW_TABLES):
        raise ModelLoadError(
            f"{path.resolve()} holds tables, but none of MLflow's: not an MLflow store; "
            "point MLFLOW_TRACKING_URI at the store `pql train` wrote"
        )
    if missing:
        raise ModelLoadError(
            f"{path.resolve()} is a damaged MLflow store: it has no table "
            f"{', '.join(missing)}; restore it from a backup, or move it aside to start a "
            "new store"
        )


def _tables(path: Path) -> set[str]:
    """The table names of an SQLite file, read without changing it."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {name for (name,) in rows}
    except sqlite3.Error as exc:
        raise ModelLoadError(f"{path.resolve()} is not a usable MLflow store ({exc})") from None


def registry_uri(settings: Settings) -> str:
    """The configured URI, or the champion of the only `pql-*` model in the registry."""
    if uri := settings.configured_model_uri:
        return uri
    import mlflow

    check_store(settings.tracking_uri)
    where = f"MLFLOW_TRACKING_URI={shown_uri(settings.tracking_uri)}"
    try:
        client = mlflow.MlflowClient(settings.tracking_uri)
        found = client.search_registered_models("name LIKE 'pql-%'")
    except Exception as exc:  # MLflow raises many types; the user needs one message
        raise ModelLoadError(f"cannot open the MLflow registry ({where}): {exc}") from None
    names = sorted(model.name for model in found)
    if len(names) != 1:
        hint = f"registered: {', '.join(names)}" if names else "none is registered there"
        raise ModelLoadError(
            f"set PQL_MODEL_NAME (e.g. pql-simulated) or PQL_MODEL_URI; {hint} ({where})"
        )
    return f"models:/{names[0]}@{settings.model_alias}"


def pin_version(uri: str, tracking_uri: str) -> str:
    """`models:/name@alias` -> `models:/name/<version the alias names now>`.

    `pql serve` pins once before the workers start, so every worker serves the same
    version even if a promotion lands while they start; a restart picks up the next one.
    """
    if not uri.startswith("models:/") or "@" not in uri:
        return uri
    import mlflow

    check_store(tracking_uri)
    name, _, alias = uri.removeprefix("models:/").partition("@")
    try:
        version = mlflow.MlflowClient(tracking_uri).get_model_version_by_alias(name, alias)
    except Exception as exc:  # MLflow raises many types; the user needs one message
        raise ModelLoadError(
            f"no model {uri} (MLFLOW_TRACKING_URI={shown_uri(tracking_uri)}): "
            f"{_first_line(exc)}. Train one with `pql train`, or promote one with "
            "`pql promote`."
        ) from None
    return f"models:/{name}/{version.version}"


#: What a model is in the registry, carried into every output it scores.
CHAMPION_STATUS = "champion"


@dataclass(frozen=True)
class LoadedModel:
    bundle: ModelBundle
    uri: str
    name: str | None
    version: str | None
    run_id: str | None
    #: "champion"; "not promoted"; "refused by the gate: <why>"; "not registered"
    status: str = "not registered"

    @property
    def is_champion(self) -> bool:
        return self.status == CHAMPION_STATUS


def model_status(client, name: str, version: str) -> str:
    """The registry's word on a version: champion, refused by the gate, or not promoted."""
    try:
        found = client.get_model_version(name, version)
    except Exception:  # MLflow raises many types; an unknown status is said as such
        return "unknown (the registry did not answer)"
    if CHAMPION_STATUS in (getattr(found, "aliases", None) or []):
        return CHAMPION_STATUS
    tags = found.tags or {}
    if tags.get("pql.gate") == "refuse":
        why = tags.get("pql.gate_reasons", "")
        return "refused by the gate" + (f": {why}" if why else "")
    return "not promoted"


def load_model(uri: str, tracking_uri: str | None = None) -> LoadedModel:
    """Bundle plus registry identity (name, version, run) for a model URI.

    `tracking_uri` defaults to the environment's (`MLFLOW_TRACKING_URI`).
    """
    import mlflow
    import mlflow.pyfunc

    store = tracking_uri or Settings.from_env().tracking_uri
    if uri.startswith("models:/"):
        check_store(store)
    mlflow.set_tracking_uri(store)
    try:
        model = mlflow.pyfunc.load_model(uri)
    except Exception as exc:  # MLflow raises many types; the user needs one message
        raise ModelLoadError(
            f"cannot load model {uri!r} from {shown_uri(store)}: {_first_line(exc)}"
        ) from None
    name = version = None
    status = "not registered"
    if uri.startswith("models:/"):
        client = mlflow.MlflowClient(store)
        name, _, ref = uri.removeprefix("models:/").partition("@")
        if ref:
            version = str(client.get_model_version_by_alias(name, ref).version)
        else:
            name, _, version = name.partition("/")
        status = model_status(client, name, version)
    return LoadedModel(
        bundle=model.unwrap_python_model().bundle,
        uri=uri,
        name=name,
        version=version,
        run_id=model.metadata.run_id,
        status=status,
    )
