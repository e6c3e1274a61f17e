"""The snapshot rows a model is trained on, whichever engine built them.

`pql train` needs the same facts from the local engine (a `Dataset` in memory) and from
the bucket and Spark engines (rows built per partition and gathered here): the feature
rows, where labels end, the snapshot counts the report shows, and what to log as the
data's report. `TrainingRows` holds exactly those, so `train.train_rows` does not know
where its rows came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from pql.errors import DataQualityError
from pql.features.definitions import FeatureDefinitions
from pql.features.entities import ORACLE_COLUMN
from pql.features.pipeline import Dataset, training_features
from pql.features.shape import ProductShape, engine_shape
from pql.features.spec import Spec

#: rows built by hand, with no shape resolved: cut as a trial
UNRESOLVED_SHAPE = ProductShape("trial", False, "no shape was resolved")


@dataclass(frozen=True)
class TrainingRows:
    spec: Spec
    definitions: FeatureDefinitions
    rows: pd.DataFrame  # snapshot rows: ids and features, not yet labelled
    data_end: pd.Timestamp  # labels run to here
    data_end_note: str
    #: snapshot candidates and the ones dropped before features, by reason
    candidates: int
    converted_before: int
    beyond_data: int
    before_data: int
    #: the data's report as MLflow keeps it (data/quality_report.json)
    quality: dict[str, Any]
    #: entity_id -> the simulator's own trial-end probability (simulated data only)
    oracle: pd.Series | None = None
    #: which engine built the rows ("local", "buckets", "spark")
    engine: str = "local"
    #: the product shape the rows were cut for (trial: signup + snapshot days)
    shape: ProductShape = UNRESOLVED_SHAPE
    #: whether the rows carry fit attributes joined point-in-time (`data.attributes`)
    has_attributes: bool = False


def from_dataset(dataset: Dataset) -> TrainingRows:
    """The local engine: features at every snapshot cutoff of the data set in memory."""
    frame, snapshots = training_features(dataset)
    if dataset.data_end is None:  # training_features raised already; for the type checker
        raise DataQualityError("no usable events: nothing to build snapshots from")
    oracle = None
    if ORACLE_COLUMN in dataset.entities.columns:
        oracle = dataset.entities.set_index("entity_id")[ORACLE_COLUMN]
    return TrainingRows(
        spec=dataset.spec,
        definitions=dataset.definitions,
        rows=frame,
        data_end=dataset.data_end,
        data_end_note=f"labels run to {dataset.data_end}: {dataset.quality.data_end_reason}",
        candidates=snapshots.candidates,
        converted_before=snapshots.converted_before,
        beyond_data=snapshots.beyond_data,
        before_data=snapshots.before_data,
        quality=dataset.quality.to_dict(),
        oracle=oracle,
        shape=dataset.product_shape,
        has_attributes=dataset.attributes is not None,
    )


def from_gathered(spec: Spec, gathered: Any, engine: str) -> TrainingRows:
    """Rows an engine built per partition (`engines.training_rows.GatheredRows`)."""
    summary = gathered.summary
    window = summary.window
    if window.data_end is None:
        raise DataQualityError("no usable events: nothing to build snapshots from")
    quality = {
        "engine": engine,
        gathered.unit: gathered.parts,
        "report": summary.lines(gathered.unit),
        "rows_read": summary.rows_read,
        "usable_rows": summary.usable,
        "unusable": summary.unusable,
        "not_used_in_features": summary.not_used,
        "entities": summary.entities,
        "conversions": summary.conversions,
    }
    counts = gathered.counts
    return TrainingRows(
        spec=spec,
        definitions=FeatureDefinitions.from_spec(spec),
        rows=gathered.rows,
        data_end=window.data_end,
        data_end_note=(
            f"labels run to {window.data_end}: the latest label end of the log's "
            f"{gathered.parts} {gathered.unit} (--engine {engine})"
        ),
        candidates=counts["candidates"],
        converted_before=counts["converted_before"],
        beyond_data=counts["beyond_data"],
        before_data=counts["before_data"],
        quality=quality,
        oracle=gathered.oracle,
        engine=engine,
        shape=engine_shape(spec),
    )
