"""Process settings, read once from the environment and then passed on as a value.

This is the only module of pql that reads environment variables. Entry points (the
`pql` command, the HTTP service, the public Python API) build one `Settings` and hand
it, or the field they need, to the code below them; no module writes an environment
variable for another one to read. `pql serve` hands its settings to the BentoML workers
as service arguments (`service_args`), not through the environment.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pql.errors import UsageError

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_ALIAS = "champion"
DEFAULT_HISTORY_ROOT = Path("pql-scores")
_TRUE = {"1", "true", "yes", "on"}

# Environment variable -> what it sets. Documented in docs/reference/settings.md.
ENVIRONMENT = {
    "MLFLOW_TRACKING_URI": "tracking_uri",
    "PQL_MODEL_URI": "model_uri",
    "PQL_MODEL_NAME": "model_name",
    "PQL_MODEL_ALIAS": "model_alias",
    "PQL_API_TOKEN": "api_token",
    "PQL_WORKERS": "workers",
    "PQL_ACCESS_LOG": "access_log",
    "PQL_TRACING": "tracing",
    "PQL_SCORE_HISTORY": "score_history",
    "PQL_DEBUG": "debug",
    "PQL_SPARK_MASTER": "spark_master",
    "PQL_SPARK_REMOTE": "spark_remote",
    "PQL_MAX_HEADER_BYTES": "max_header_bytes",
    "PQL_HEADER_TIMEOUT": "header_timeout",
    "PQL_BODY_TIMEOUT": "body_timeout",
    "PQL_MEMORY_BUDGET": "memory_budget",
    "PQL_BUCKET_DIR": "bucket_dir",
}

# The service's connection limits (docs/reference/http.md): a request head (request line
# and headers) over `max_header_bytes` is answered 431; a head not complete
# `header_timeout` seconds after the connection opened (or after the first byte of a
# later request on it), or a body not complete `body_timeout` seconds after its head, 408.
DEFAULT_MAX_HEADER_BYTES = 32 * 1024
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
_POSITIVE_NUMBERS = {"max_header_bytes": int, "header_timeout": float, "body_timeout": float}


@dataclass(frozen=True)
class Settings:
    """Everything pql takes from its environment, with the defaults written in code."""

    tracking_uri: str = DEFAULT_TRACKING_URI
    model_uri: str | None = None
    model_name: str | None = None
    model_alias: str = DEFAULT_ALIAS
    api_token: str | None = None
    workers: int = 1
    access_log: bool = False
    tracing: bool = False
    score_history: Path | None = None
    debug: bool = False
    spark_master: str | None = None  # --engine spark: a master URL (default local[*])
    spark_remote: str | None = None  # --engine spark: a Spark Connect URL (sc://host)
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    memory_budget: str | None = None  # above it, out of core in buckets ("8GiB"; default: half)
    bucket_dir: Path | None = None  # --engine buckets: where the split goes (default: temp)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment gives (empty values count as unset)."""
        source = os.environ if environ is None else environ
        given = {field: source[name] for name, field in ENVIRONMENT.items() if source.get(name)}
        return cls.from_mapping(given)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from field names (as service arguments carry them), typed."""
        kwargs: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            value = values.get(field.name)
            if value is None or value == "":
                continue
            if field.name == "workers":
                kwargs[field.name] = max(1, int(value))
            elif field.name in {"access_log", "tracing", "debug"}:
                kwargs[field.name] = (
                    value if isinstance(value, bool) else (str(value).strip().lower() in _TRUE)
                )
            elif field.name in _POSITIVE_NUMBERS:
                kwargs[field.name] = _positive(field.name, value, _POSITIVE_NUMBERS[field.name])
            elif field.name in {"score_history", "bucket_dir"}:
                kwargs[field.name] = Path(value)
            else:
                kwargs[field.name] = str(value)
        return cls(**kwargs)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (options given on the command line)."""
        return dataclasses.replace(self, **changes)

    def service_args(self) -> dict[str, str]:
        """These settings as BentoML service arguments (strings), for the workers."""
        out: dict[str, str] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                out[field.name] = str(value)
        return out

    @property
    def configured_model_uri(self) -> str | None:
        """The model these settings name, or None when they name none."""
        if self.model_uri:
            return self.model_uri
        if self.model_name:
            return f"models:/{self.model_name}@{self.model_alias}"
        return None


def _positive(name: str, value: Any, kind: type[int] | type[float]) -> Any:
    """A limit as a positive number; anything else is refused naming the variable."""
    variable = next((env for env, field in ENVIRONMENT.items() if field == name), name)
    try:
        number = kind(str(value).strip())
    except ValueError:
        number = 0
    if not number > 0 or number == float("inf"):
        expected = "a whole number of bytes" if kind is int else "a number of seconds"
        raise UsageError(f"{variable}={value!r}: expected {expected} above 0")
    return number


def quiet_libraries() -> None:
    """Switch off the libraries' own chatter and phoning home (their switches are
    environment variables, so setting them is the kernel's job too)."""
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")


def local_spark_python(executable: str) -> None:
    """Make a local Spark session's Python workers run `executable` (PySpark reads
    only PYSPARK_PYTHON, default `python3`, which may lack pql and its libraries). A
    value the user set is kept."""
    os.environ.setdefault("PYSPARK_PYTHON", executable)
