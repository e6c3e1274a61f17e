"""The score history: one parquet file per `pql score` run, for monitoring to compare.

Why keep it: drift and realised conversion can only be measured against what was
actually scored, with the feature values the model saw at the time (the event log
changes and features are recomputed differently once events arrive late). One file
per run keeps writes atomic and cheap (no file is ever rewritten) and makes "the
latest run" a directory listing.

Each file holds the scored entities only (entity_id, account_id, probability, score,
tier, is_pql and every model feature); the run's identity sits in the parquet schema
metadata (`pql.run`: product, entity, as_of, scored_at, model name and version,
entities in and not scored), so listing runs never reads their rows.

A file whose metadata cannot be read (not parquet, no `pql.run`, a missing key, a
time that is not an ISO 8601 time with a zone) is a `DataError` naming the file and
the problem; `read_runs` collects those problems instead of stopping at the first, so
monitoring can skip one damaged old run with a warning rather than refuse to run.

Folder: `--history DIR` or `$PQL_SCORE_HISTORY` or `pql-scores/` in the working
folder, with one sub-folder per product.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pql.errors import DataError
from pql.settings import DEFAULT_HISTORY_ROOT, Settings

if TYPE_CHECKING:
    from pql.features.spec import Spec
    from pql.serving.batch import BatchScores
    from pql.serving.registry import LoadedModel

METADATA_KEY = b"pql.run"
SCORE_COLUMNS = ("entity_id", "account_id", "probability", "score", "tier", "is_pql")


def history_folder(product: str, root: Path | None = None) -> Path:
    """Where a product's runs live: `root` (option), else $PQL_SCORE_HISTORY, else default."""
    chosen = root or Settings.from_env().score_history or DEFAULT_HISTORY_ROOT
    return chosen / product


@dataclass(frozen=True)
class ScoreRun:
    """One recorded scoring run: identity from the file's metadata, rows on demand."""

    path: Path
    product: str
    entity: str
    as_of: pd.Timestamp
    scored_at: pd.Timestamp
    model_name: str | None
    model_version: str | None
    feature_names: tuple[str, ...]
    entities_in: int
    scored: int

    def frame(self) -> pd.DataFrame:
        """Scored entities with scores and the feature values that were scored."""
        try:
            return pd.read_parquet(self.path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise DataError(f"{self.path}: cannot read this score-history file ({exc})") from None


def record_run(
    folder: Path,
    leads: pd.DataFrame,
    features: pd.DataFrame,
    *,
    product: str,
    entity: str,
    feature_names: tuple[str, ...],
    model_name: str | None,
    model_version: str | None,
) -> ScoreRun:
    """Write one run (scored rows + their features) atomically; return its record."""
    scored = leads[leads["status"] == "scored"]
    as_of = pd.Timestamp(leads["as_of"].iloc[0]) if len(leads) else pd.NaT
    scored_at = pd.Timestamp(leads["scored_at"].iloc[0]) if len(leads) else pd.Timestamp.now("UTC")
    rows = scored[list(SCORE_COLUMNS)].merge(
        features[["entity_id", *feature_names]], on="entity_id", how="left", validate="1:1"
    )
    if len(rows) != len(scored):
        raise DataError("score history: feature rows do not match the scored entities")
    meta = {
        "product": product,
        "entity": entity,
        "as_of": as_of.isoformat(),
        "scored_at": scored_at.isoformat(),
        "model_name": model_name,
        "model_version": model_version,
        "feature_names": list(feature_names),
        "entities_in": len(leads),
        "scored": len(scored),
    }
    table = pa.Table.from_pandas(rows.reset_index(drop=True), preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), METADATA_KEY: json.dumps(meta).encode()}
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"run-{scored_at.strftime('%Y%m%dT%H%M%S%fZ')}.parquet"
    partial = path.with_suffix(".parquet.partial")
    pq.write_table(table, partial)
    partial.replace(path)  # a crash leaves a .partial file, never half a run
    return _record(path, meta)


_REQUIRED = ("product", "entity", "as_of", "scored_at", "feature_names", "entities_in", "scored")


def _moment(meta: dict, key: str) -> pd.Timestamp:
    """A tz-aware time, or ValueError saying why not (runs are compared by time)."""
    value = meta[key]
    try:
        moment = pd.Timestamp(value) if isinstance(value, str) else None
    except (ValueError, TypeError):
        moment = None
    if moment is None or pd.isna(moment):
        raise ValueError(f"{key} {value!r} is not an ISO 8601 time")
    if moment.tzinfo is None:
        raise ValueError(f"{key} {value!r} has no time zone")
    return moment


def _count(meta: dict, key: str) -> int:
    value = meta[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} {value!r} is not a count")
    return value


def _optional_text(meta: dict, key: str) -> str | None:
    value = meta.get(key)
    return None if value is None else str(value)


def _record(path: Path, meta: object) -> ScoreRun:
    """The run's identity from its `pql.run` metadata, checked key by key."""
    try:
        if not isinstance(meta, dict):
            raise ValueError(f"it is a JSON {type(meta).__name__}, not an object")
        missing = [key for key in _REQUIRED if key not in meta]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        names = meta["feature_names"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError("feature_names is not a list of names")
        for key in ("product", "entity"):
            if not isinstance(meta[key], str) or not meta[key]:
                raise ValueError(f"{key} {meta[key]!r} is not a name")
        return ScoreRun(
            path=path,
            product=meta["product"],
            entity=meta["entity"],
            as_of=_moment(meta, "as_of"),
            scored_at=_moment(meta, "scored_at"),
            model_name=_optional_text(meta, "model_name"),
            model_version=_optional_text(meta, "model_version"),
            feature_names=tuple(names),
            entities_in=_count(meta, "entities_in"),
            scored=_count(meta, "scored"),
        )
    except ValueError as exc:
        raise DataError(f"{path}: damaged score-history metadata (pql.run): {exc}") from None


def read_run(path: Path) -> ScoreRun:
    """One run's record from its file's metadata; DataError names the file and problem."""
    try:
        metadata = pq.read_schema(path).metadata or {}
        meta = json.loads(metadata[METADATA_KEY])
    except Exception as exc:
        raise DataError(f"{path}: not a pql score-history file ({exc})") from None
    return _record(path, meta)


@dataclass(frozen=True)
class RunListing:
    """The readable runs of a folder (oldest first) and why the others were not."""

    runs: list[ScoreRun]
    damaged: list[DataError]


def read_runs(folder: Path) -> RunListing:
    """Every run in `folder`, keeping the damaged files' problems instead of raising."""
    runs, damaged = [], []
    for path in sorted(folder.glob("run-*.parquet")) if folder.is_dir() else []:
        try:
            runs.append(read_run(path))
        except DataError as exc:
            damaged.append(exc)
    return RunListing(sorted(runs, key=lambda run: run.scored_at), damaged)


def list_runs(folder: Path) -> list[ScoreRun]:
    """Every recorded run in `folder`, oldest first (by scoring time). Empty if none.

    Strict: the first damaged file is a DataError (exit 3) naming it.
    """
    listing = read_runs(folder)
    if listing.damaged:
        raise listing.damaged[0]
    return listing.runs


def record_batch(
    batch: BatchScores, loaded: LoadedModel, spec: Spec, root: Path | None = None
) -> ScoreRun:
    """`pql score`'s one call: record a model-scored batch (`score_dataset`'s result)."""
    if batch.features is None:
        raise ValueError("record_batch needs the scored feature rows (from score_dataset)")
    return record_run(
        history_folder(spec.product, root),
        batch.leads,
        batch.features,
        product=spec.product,
        entity=spec.entity,
        feature_names=loaded.bundle.feature_names,
        model_name=loaded.name,
        model_version=loaded.version,
    )
