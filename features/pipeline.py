"""Spec in, data set and features out: the glue every command and API call shares.

Side effects (reading files) happen in `load_dataset` only; everything after it is a
pure transformation of frames, so training, batch scoring and tests call the same
functions with in-memory data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from pql.errors import DataQualityError
from pql.features.attributes import LoadedAttributes, join_attributes, load_attributes
from pql.features.calendar_rows import calendar_rows
from pql.features.compute import NEVER_MS
from pql.features.definitions import FeatureDefinitions
from pql.features.entities import build_entities
from pql.features.frames import _codes, build_features, entity_column, epoch_ms
from pql.features.ids import same_number_pairs
from pql.features.ingest import IngestReport, load_events, load_trials
from pql.features.plans import paid_plan_warnings, paying_at_start, plan_changes
from pql.features.quality import (
    BEFORE_SIGNUP,
    PAYING_AT_START,
    DataQualityReport,
    explain,
)
from pql.features.quality_checks import (
    DataEnd,
    choose_data_end,
    conversion_source,
    conversion_warnings,
    left_censored_signups,
    unmatched_action_hint,
)
from pql.features.rows import ROW_ID_COLUMNS, LiveRows, SnapshotRows, live_rows, snapshot_rows
from pql.features.shape import ProductShape, resolve_shape
from pql.features.spec import Spec

UNMATCHED_SHOWN = 10


@dataclass(frozen=True)
class Dataset:
    """A product's usable events and entities, with the report of how they were read."""

    spec: Spec
    definitions: FeatureDefinitions
    events: pd.DataFrame
    entities: pd.DataFrame
    data_end: pd.Timestamp | None  # labels run to here (see `DataEnd`)
    quality: DataQualityReport
    data_start: pd.Timestamp | None = None  # the first usable event
    #: where observed events end when that differs from `data_end` (see `events_end`)
    observed_until: pd.Timestamp | None = None
    #: trial or freemium (`features.shape`); None: trial, as a data set built by hand
    shape: ProductShape | None = None
    #: fit attributes (`data.attributes`), joined point-in-time to every row
    attributes: LoadedAttributes | None = None

    @property
    def product_shape(self) -> ProductShape:
        """The shape training rows and words follow (trial when none was resolved)."""
        if self.shape is not None:
            return self.shape
        return ProductShape("trial", False, "no shape was resolved for this data set")

    @property
    def events_end(self) -> pd.Timestamp | None:
        """Where the observed events end: training cutoffs stop here, and a live score
        after it sees no activity. `data.end_at` when the spec sets it, else the last
        event (labels may run further, to a trials table's later conversions)."""
        return self.observed_until if self.observed_until is not None else self.data_end


def _event_spans(
    events: pd.DataFrame, entities: pd.DataFrame, key: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per event: has an entity row, is before signup, is at/after conversion."""
    index = pd.Index(entities["entity_id"])
    codes = _codes(events[key], index)
    known = codes >= 0
    safe = np.where(known, codes, 0)
    time_ms = epoch_ms(events["timestamp"])
    signup = epoch_ms(entities["signup_at"])[safe]
    stop = epoch_ms(entities["converted_at"])[safe]
    return known, known & (time_ms < signup), known & (stop < NEVER_MS) & (time_ms >= stop)


def _action_counts(definitions: FeatureDefinitions, events: pd.DataFrame) -> dict[str, int]:
    per_event = events["event"].value_counts()
    return {
        action.name: int(per_event.reindex(sorted(action.events)).fillna(0).sum())
        for action in definitions.actions
    }


def _unmatched(definitions: FeatureDefinitions, events: pd.DataFrame, conversion: str | None):
    counted = set(definitions.vocabulary) | {conversion}
    per_event = events["event"].value_counts()
    others = per_event[[name not in counted for name in per_event.index]]
    return {str(k): int(v) for k, v in others.head(UNMATCHED_SHOWN).items() if v > 0}


def _plans(spec: Spec, events: pd.DataFrame, key: str, paying: pd.Index) -> dict[str, int]:
    if "plan" not in events.columns:
        return {}
    changes = plan_changes(events, key)
    counts = {
        f"{key}s with a plan": changes.entities_with_plan,
        "plan changed": changes.changed,
        "plan changed back and forth (2+ changes)": changes.back_and_forth,
    }
    if spec.label.paid_plans:
        counts[PAYING_AT_START] = len(paying)
    return counts


def _plan_warnings(spec: Spec, events: pd.DataFrame, key: str) -> list[str]:
    warnings = paid_plan_warnings(spec, events)
    changes = plan_changes(events, key)
    if not changes.back_and_forth:
        return warnings
    first = "the first move to a paid plan is the conversion; " if spec.label.paid_plans else ""
    return [
        *warnings,
        f"{changes.back_and_forth:,} {key}(s) changed plan back and forth (e.g. "
        f"{changes.example}); {first}later changes are kept as ordinary events",
    ]


def _early_signups(events: pd.DataFrame, entities: pd.DataFrame) -> list[str]:
    """Signups declared before the log starts: their first days are not observable."""
    if "signup_at" not in events.columns or not len(events) or not len(entities):
        return []
    start = events["timestamp"].min()
    early = int((entities["signup_at"] < start).sum())
    if not early:
        return []
    return [
        f"{early:,} of {len(entities):,} entities signed up (signup column) before the first "
        f"event in the log ({start}); their activity before then is not in the data, so "
        "early snapshots of them see less than really happened"
    ]


def _spelled_differently(orphans: pd.Series, entity_ids: pd.Series, key: str) -> list[str]:
    """Event ids without a trial row that are a trial id's number spelled another way
    ("7.0" in the log, "7" in the trials): ids match as text, so say why they did not."""
    pairs = same_number_pairs(orphans.dropna().unique().astype(str), entity_ids.astype(str))
    if not pairs:
        return []
    rows = int(orphans.isin([event_id for event_id, _ in pairs]).sum())
    event_id, trial_id = pairs[0]
    return [
        f"{len(pairs):,} {key}(s) of the event log ({rows:,} events) have no trial row but "
        f"spell a trial id's number differently (e.g. '{event_id}' in the events, "
        f"'{trial_id}' in the trials); ids are compared as text, exactly as written, so "
        "these events are not used: write the ids the same way in both files"
    ]


def _quality(
    spec: Spec,
    definitions: FeatureDefinitions,
    ingest: IngestReport,
    events: pd.DataFrame,
    entities: pd.DataFrame,
    trials_counts: dict[str, int],
    extra_warnings: list[str],
    end: DataEnd,
    conversion_column: str | None,
) -> DataQualityReport:
    key = entity_column(definitions)
    known, before, after = _event_spans(events, entities, key)
    per_action = _action_counts(definitions, events)
    warnings = list(ingest.warnings) + extra_warnings
    silent = [name for name, count in per_action.items() if count == 0]
    names_seen = events["event"].astype(str).value_counts() if len(events) else pd.Series()
    for name in silent:
        listed = spec.actions[name].events
        hint = unmatched_action_hint(listed, names_seen)
        warnings.append(
            f"action '{name}' matches no event (spec lists: {', '.join(sorted(listed))}){hint}"
        )
    warnings += _plan_warnings(spec, events, key) + _early_signups(events, entities)
    has_trials = spec.data.trials is not None or bool(trials_counts)
    from_events = not has_trials or conversion_column is None
    source = conversion_source(spec, conversion_column, has_trials)
    warnings += conversion_warnings(spec, events, entities, source, from_events)
    warnings += left_censored_signups(
        events, entities, _first_seen(spec, events, entities, key, has_trials), spec.entity
    )
    warnings += end.warnings
    errors = []
    if len(events) == 0:
        errors.append(f"{ingest.source}: no usable event rows ({ingest.rows_read:,} read)")
    if len(entities) == 0:
        errors.append("no entities to score: no signups found")
    conversions = int(entities["converted_at"].notna().sum())
    not_used = {
        BEFORE_SIGNUP: int(before.sum()),
        "at or after conversion": int(after.sum()),
    }
    paying = paying_at_start(spec, events) if spec.data.trials is None else pd.Index([])
    if not known.all():
        unknown = ~known
        if spec.label.exclude_paying_at_start and len(paying):
            of_paying = unknown & events[key].astype(str).isin(paying).to_numpy()
            not_used[f"{key} {PAYING_AT_START}"] = int(of_paying.sum())
            unknown &= ~of_paying
        not_used[f"{key} with no trial row"] = int(unknown.sum())
        if trials_counts:
            warnings += _spelled_differently(events[key][unknown], entities["entity_id"], key)
    not_used = {k: v for k, v in not_used.items() if v}
    return DataQualityReport(
        source=ingest.source,
        rows_read=ingest.rows_read,
        unusable=dict(ingest.unusable),
        usable_rows=len(events),
        timestamp_formats=dict(ingest.timestamp_formats),
        users=int(events["user_id"].nunique()),
        accounts=int(events["account_id"].nunique()),
        entity=spec.entity,
        entities=len(entities),
        first_event=str(events["timestamp"].min()) if len(events) else None,
        last_event=str(events["timestamp"].max()) if len(events) else None,
        events_per_action=per_action,
        actions_without_events=silent,
        unmatched_event_names=_unmatched(definitions, events, spec.label.conversion_event),
        not_used_in_features=not_used,
        conversions=conversions,
        conversion_rate=conversions / len(entities) if len(entities) else None,
        trials=trials_counts,
        warnings=warnings,
        errors=errors,
        ingest_details=dict(ingest.details),
        plans=_plans(spec, events, key, paying),
        explanations=explain({**ingest.unusable, **not_used}),
        data_end=None if end.labels_until is None else str(end.labels_until),
        data_end_reason=end.reason,
        conversion_source=source,
    )


def _first_seen(
    spec: Spec, events: pd.DataFrame, entities: pd.DataFrame, key: str, has_trials: bool
) -> np.ndarray:
    """Entities whose signup is their first event: no trials row, no declared signup."""
    if has_trials:
        return np.zeros(len(entities), dtype=bool)
    if "signup_at" not in events.columns:
        return np.ones(len(entities), dtype=bool)
    declared = events.groupby(events[key].astype(str), observed=True)["signup_at"].min()
    return entities["entity_id"].map(declared).isna().to_numpy()


def load_dataset(
    spec: Spec,
    events: pd.DataFrame | None = None,
    trials: pd.DataFrame | None = None,
    *,
    strict: bool = True,
    attributes: Sequence[pd.DataFrame] | None = None,
) -> Dataset:
    """Read (or take) the events and trials a spec names and check them.

    `strict` raises `DataQualityError` on fatal problems; `pql validate` passes False to
    print the whole report first.
    """
    definitions = FeatureDefinitions.from_spec(spec)
    loaded = load_events(spec, events)
    loaded_trials = load_trials(spec, trials)
    canonical = loaded.events
    trial_table = loaded_trials.trials if loaded_trials is not None else None
    trials_counts: dict[str, int] = {}
    trial_warnings: list[str] = []
    if loaded_trials is not None:
        report = loaded_trials.report
        trials_counts = {"rows read": report.rows_read}
        trials_counts.update({f"unusable: {k}": v for k, v in report.unusable.items() if v})
        trial_warnings = [f"trials: {w}" for w in report.warnings]
    conversion_column = loaded_trials.conversion_column if loaded_trials is not None else None
    trials_convert = trial_table is not None and conversion_column is not None
    entities = build_entities(spec, canonical, trial_table, trials_convert=trials_convert)
    trial_conversions = trial_table["converted_at"] if trial_table is not None else None
    end = choose_data_end(spec, canonical, trial_conversions if trials_convert else None)
    quality = _quality(
        spec,
        definitions,
        loaded.report,
        canonical,
        entities,
        trials_counts,
        trial_warnings,
        end,
        conversion_column,
    )
    shape = _shape(spec, canonical, entities, trial_table, entity_column(definitions))
    quality = replace(quality, product_shape=shape.describe)
    loaded_attributes = load_attributes(spec, attributes)
    if loaded_attributes is not None:
        quality = replace(quality, warnings=[*quality.warnings, *loaded_attributes.warnings])
    if strict and quality.is_fatal:
        raise DataQualityError("; ".join(quality.errors))
    data_start = canonical["timestamp"].min() if len(canonical) else None
    return Dataset(
        spec,
        definitions,
        canonical,
        entities,
        end.labels_until,
        quality,
        data_start,
        observed_until=end.events_until,
        shape=shape,
        attributes=loaded_attributes,
    )


def _shape(
    spec: Spec,
    events: pd.DataFrame,
    entities: pd.DataFrame,
    trials: pd.DataFrame | None,
    key: str,
) -> ProductShape:
    """The spec's shape or the data's; the last-event lookup only when it must infer."""
    ends = trials is not None and "trial_end_at" in trials and trials["trial_end_at"].notna().any()
    last_seen = None
    if spec.shape is None and spec.trial_days is None and not ends and len(events):
        last_seen = events.groupby(events[key].astype(str), observed=True)["timestamp"].max()
    return resolve_shape(spec, entities, last_seen, has_trial_ends=bool(ends))


def _with_ids(rows: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([rows[list(ROW_ID_COLUMNS)], features], axis=1)


def features_for_rows(
    dataset: Dataset, rows: pd.DataFrame, definitions: FeatureDefinitions | None = None
) -> pd.DataFrame:
    """Id columns plus features for any rows (entity_id, as_of, signup_at, converted_at).

    `definitions` defaults to the data set's spec; scoring passes the model's own, so a
    model always gets exactly the features it was trained on.
    """
    chosen = definitions or dataset.definitions
    frame = _with_ids(rows, build_features(chosen, dataset.events, rows))
    if dataset.attributes is None:
        return frame
    # raw values as known before each row's as_of; the model's encoding turns them
    # into columns (training fits it, scoring uses the bundle's)
    joined = join_attributes(dataset.attributes, rows, dataset.spec.entity)
    return pd.concat([frame, joined.set_axis(frame.index, axis=0)], axis=1)


def training_features(dataset: Dataset) -> tuple[pd.DataFrame, SnapshotRows]:
    """Features at every snapshot cutoff of every entity (labels are training's job)."""
    if dataset.events_end is None:
        raise DataQualityError("no usable events: nothing to build snapshots from")
    spec = dataset.spec
    if dataset.product_shape.shape == "freemium" and dataset.data_start is not None:
        snapshots = calendar_rows(
            dataset.entities,
            spec.freemium.every_days,
            spec.freemium.max_age_days,
            dataset.events_end,
            dataset.data_start,
        )
    else:
        snapshots = snapshot_rows(
            dataset.entities, spec.snapshots_days, dataset.events_end, dataset.data_start
        )
    return features_for_rows(dataset, snapshots.rows), snapshots


def live_features(
    dataset: Dataset, as_of: pd.Timestamp, definitions: FeatureDefinitions | None = None
) -> tuple[pd.DataFrame, LiveRows]:
    """Features at one `as_of` for every entity that can be scored then."""
    live = live_rows(dataset.entities, as_of)
    return features_for_rows(dataset, live.rows, definitions), live
