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

Folder: `--history DIR` or `$PQL_SCORE_HISTORY` or `pql-scores/` in the working
folder, with one sub-folder per product.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.errors import DataError

if TYPE_CHECKING:
    from features.spec import Spec
    from serving.batch import BatchScores
    from serving.registry import LoadedModel

HISTORY_ENV = "PQL_SCORE_HISTORY"
DEFAULT_ROOT = Path("pql-scores")
METADATA_KEY = b"pql.run"
SCORE_COLUMNS = ("entity_id", "account_id", "probability", "score", "tier", "is_pql")


def history_folder(product: str, root: Path | None = None) -> Path:
    """Where a product's runs live: `root` (option), else $PQL_SCORE_HISTORY, else default."""
    chosen = root or Path(os.environ.get(HISTORY_ENV) or DEFAULT_ROOT)
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


def _record(path: Path, meta: dict) -> ScoreRun:
    return ScoreRun(
        path=path,
        product=meta["product"],
        entity=meta["entity"],
        as_of=pd.Timestamp(meta["as_of"]),
        scored_at=pd.Timestamp(meta["scored_at"]),
        model_name=meta.get("model_name"),
        model_version=meta.get("model_version"),
        feature_names=tuple(meta["feature_names"]),
        entities_in=int(meta["entities_in"]),
        scored=int(meta["scored"]),
    )


def list_runs(folder: Path) -> list[ScoreRun]:
    """Every recorded run in `folder`, oldest first (by scoring time). Empty if none."""
    runs = []
    for path in sorted(folder.glob("run-*.parquet")) if folder.is_dir() else []:
        try:
            metadata = pq.read_schema(path).metadata or {}
            meta = json.loads(metadata[METADATA_KEY])
        except Exception as exc:
            raise DataError(f"{path}: not a pql score-history file ({exc})") from None
        runs.append(_record(path, meta))
    return sorted(runs, key=lambda run: run.scored_at)


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
