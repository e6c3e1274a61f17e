"""Fit attributes: who the lead is (company size, industry, country, role, e-mail kind).

`data.attributes` names tables of per-user or per-account values. Three jobs live here,
each a pure function of frames once the files are read:

- `load_attributes` reads and cleans the tables (every row used or counted);
- `join_attributes` gives each scoring row `(entity, as_of)` the values known *before*
  `as_of`: with a `valid_from` column, the entity's latest row strictly before `as_of`
  (an enrichment written after the cutoff is not used, so it cannot leak the outcome);
  without one, the single row per id, taken as known at signup (and the report says so);
- `AttributeEncoding` turns raw values into model columns: numbers stay numbers,
  categories become integer codes for LightGBM's native categoricals, levels rarer than
  `min_level_rows` on the training rows are pooled into one "other" code, and a level
  never seen in training lands in that code at scoring time and is counted.

Features imports no model library: the codes are plain floats (NaN = unknown).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pql.errors import SpecError
from pql.features.email_kind import EMAIL_KINDS, FREE_MAIL_SOURCE, email_kinds
from pql.features.spec import AttributeSource, Spec

#: Names a scoring row already uses: an attribute may not take them.
RESERVED = frozenset(
    {"entity_id", "account_id", "user_id", "snapshot_day", "as_of", "signup_at", "converted_at"}
    | {"label", "probability", "score", "tier", "is_pql", "status", "trial_end_at"}
)
#: The code of a pooled (rare) or unseen level is len(levels); NaN is unknown.
OTHER = "other"


@dataclass(frozen=True)
class AttributeFeature:
    """One attribute as the model sees it, from `data.attributes[i].columns[name]`."""

    name: str
    kind: str  # categorical | numeric | email_kind
    level: str  # user | account
    column: str  # source column in the table
    table: int  # position in data.attributes
    min_level_rows: int = 50

    @property
    def categorical(self) -> bool:
        return self.kind != "numeric"


@dataclass(frozen=True)
class AttributeDefinitions:
    """The attributes a spec declares, in model column order (table by table)."""

    features: tuple[AttributeFeature, ...] = ()

    @classmethod
    def from_spec(cls, spec: Spec) -> AttributeDefinitions:
        return cls(
            tuple(
                AttributeFeature(
                    name=name,
                    kind=column.kind,
                    level=source.level,
                    column=column.column or name,
                    table=position,
                    min_level_rows=source.min_level_rows,
                )
                for position, source in enumerate(spec.data.attributes)
                for name, column in source.columns.items()
            )
        )

    def __bool__(self) -> bool:
        return bool(self.features)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_names(self) -> list[str]:
        return [f.name for f in self.features if f.categorical]

    def get(self, name: str) -> AttributeFeature | None:
        return next((f for f in self.features if f.name == name), None)


def check_attribute_spec(spec: Spec, source: str) -> None:
    """Spec rules across keys: names usable as columns and unique, a level the entity
    can join on, and `output.attributes` naming declared attributes."""
    from pql.features.definitions import FeatureDefinitions

    taken = set(FeatureDefinitions.from_spec(spec).names) | RESERVED
    seen: set[str] = set()
    for position, table in enumerate(spec.data.attributes):
        key = f"data.attributes.{position}"
        if table.level == "user" and spec.entity == "account":
            raise SpecError(
                f"{source}: key '{key}.level': user-level attributes cannot describe an "
                "account (entity: account); give an account-level table"
            )
        if table.level == "account" and spec.data.events.columns.account_id is None:
            raise SpecError(
                f"{source}: key '{key}.level': account-level attributes need "
                "'data.events.columns.account_id' (which account each user is in)"
            )
        for name, column in table.columns.items():
            where = f"{key}.columns.{name}"
            if not name.isidentifier() or name != name.lower():
                raise SpecError(f"{source}: key '{where}': name must be lower_snake_case")
            if name in taken or name in seen:
                raise SpecError(
                    f"{source}: key '{where}': the name {name!r} is already a feature, id "
                    "column or another attribute; choose another"
                )
            seen.add(name)
            if column.kind == "numeric" and column.phrases:
                raise SpecError(
                    f"{source}: key '{where}.phrases': phrases are per level of a category; "
                    "a numeric attribute uses 'reason' with {value}"
                )
            if column.kind == "email_kind":
                extra = set(column.phrases) - set(EMAIL_KINDS)
                if extra:
                    raise SpecError(
                        f"{source}: key '{where}.phrases': levels are {list(EMAIL_KINDS)}, "
                        f"not {sorted(extra)}"
                    )
    for position, name in enumerate(spec.output.attributes):
        if name not in seen:
            raise SpecError(
                f"{source}: key 'output.attributes.{position}': {name!r} is not an attribute "
                f"of data.attributes (declared: {sorted(seen) or 'none'})"
            )


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttributeTable:
    """One cleaned table: `id`, `valid_from` (NaT without point in time), raw values."""

    level: str
    values: pd.DataFrame
    point_in_time: bool
    names: tuple[str, ...]


@dataclass(frozen=True)
class LoadedAttributes:
    tables: tuple[AttributeTable, ...]
    definitions: AttributeDefinitions
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _texts(values: pd.Series) -> pd.Series:
    """Category text as written (stripped); blank is missing."""
    text = values.astype("string").str.strip()
    present = (text.notna() & (text != "")).fillna(False).to_numpy(bool)
    return pd.Series(np.where(present, text.astype(object), None), index=values.index)


def _clean_table(
    table: AttributeSource, position: int, frame: pd.DataFrame, spec: Spec
) -> tuple[AttributeTable, list[str], dict[str, int]]:
    from pql.features.timestamps import parse_timestamps

    key = f"data.attributes.{position}"
    warnings: list[str] = []
    ids = _texts(frame[table.id_column])
    keep = ids.notna().to_numpy()
    counts = {f"attributes {position}: rows read": len(frame)}
    if (~keep).any():
        counts[f"attributes {position}: missing {table.id_column}"] = int((~keep).sum())
    out = pd.DataFrame({"id": ids})
    if table.valid_from is not None:
        stamps = parse_timestamps(frame[table.valid_from]).values
        bad = stamps.isna().to_numpy() & keep
        if bad.any():
            counts[f"attributes {position}: unparseable {table.valid_from}"] = int(bad.sum())
        keep &= ~bad
        out["valid_from"] = stamps
    else:
        out["valid_from"] = pd.NaT
    for name, column in table.columns.items():
        raw = frame[column.column or name]
        if column.kind == "numeric":
            numbers = pd.to_numeric(raw, errors="coerce").astype(np.float64)
            numbers = numbers.where(np.isfinite(numbers))
            wrong = numbers.isna() & _texts(raw.astype(object)).notna()
            if wrong.any():
                example = raw[wrong].iloc[0]
                warnings.append(
                    f"{key}.columns.{name}: {int(wrong.sum()):,} value(s) are not numbers "
                    f"(e.g. {example!r}): taken as unknown"
                )
            out[name] = numbers
        elif column.kind == "email_kind":
            out[name] = email_kinds(_texts(raw))
        else:
            out[name] = _texts(raw)
    out = out[keep].reset_index(drop=True)
    unusable = {k: v for k, v in counts.items() if not k.endswith("rows read")}
    if unusable:
        warnings.append(
            f"{key}: {len(frame):,} rows read, not used: "
            + ", ".join(f"{k.split(': ', 1)[1]} {v:,}" for k, v in unusable.items())
        )
    subset = ["id", "valid_from"] if table.valid_from else ["id"]
    repeated = out.duplicated(subset, keep="last")
    if repeated.any():
        what = "id and valid_from" if table.valid_from else "id (and no valid_from column)"
        warnings.append(
            f"{key}: {int(repeated.sum()):,} row(s) repeat an {what}: the last one is used"
        )
        out = out[~repeated.to_numpy()].reset_index(drop=True)
    if table.valid_from is None:
        warnings.append(
            f"{key}: no valid_from column, so its values are taken as known at signup; if "
            "some were filled in later (e.g. after a sales call), they leak into training: "
            "set 'valid_from' to the column saying since when each row holds"
        )
    if any(c.kind == "email_kind" for c in table.columns.values()):
        warnings.append(f"{key}: e-mail kind from the {FREE_MAIL_SOURCE}")
    return (
        AttributeTable(table.level, out, table.valid_from is not None, tuple(table.columns)),
        warnings,
        counts,
    )


def load_attributes(
    spec: Spec, frames: Sequence[pd.DataFrame] | None = None
) -> LoadedAttributes | None:
    """Read (or take, one frame per table) the spec's attribute tables; None without any."""
    if not spec.data.attributes:
        return None
    from pql.features.ingest import read_table

    tables, warnings, counts = [], [], {}
    for position, table in enumerate(spec.data.attributes):
        needed = [table.id_column] + ([table.valid_from] if table.valid_from else [])
        needed += [c.column or n for n, c in table.columns.items()]
        needed = list(dict.fromkeys(needed))
        if frames is not None:
            frame = frames[position]
            missing = [c for c in needed if c not in frame.columns]
            if missing:
                raise SpecError(
                    f"key 'data.attributes.{position}': the table has no column {missing[0]!r}"
                )
        else:
            categorical = [c.column or n for n, c in table.columns.items() if c.kind != "numeric"]
            keys = {table.id_column: f"data.attributes.{position}.id"}
            if table.valid_from:
                keys[table.valid_from] = f"data.attributes.{position}.valid_from"
            for name, column in table.columns.items():
                keys[column.column or name] = f"data.attributes.{position}.columns.{name}"
            frame = read_table(
                table.local_path(f"data.attributes.{position}"),
                format=table.format,
                encoding=table.encoding,
                what=f"attributes.{position}",
                columns=needed,
                text_columns=[table.id_column, *categorical],
                column_keys=keys,
                id_columns=[table.id_column],
            )
        cleaned, more_warnings, more_counts = _clean_table(table, position, frame, spec)
        tables.append(cleaned)
        warnings += more_warnings
        counts.update(more_counts)
    return LoadedAttributes(tuple(tables), AttributeDefinitions.from_spec(spec), warnings, counts)


# --- point-in-time join --------------------------------------------------------------------


def _key(rows: pd.DataFrame, level: str, entity: str) -> pd.Series:
    column = "entity_id" if level == entity else "account_id"
    return (
        rows[column]
        .astype(object)
        .where(rows[column].notna(), None)
        .map(lambda v: None if v is None else str(v))
    )


def _join_one(table: AttributeTable, rows: pd.DataFrame, entity: str) -> pd.DataFrame:
    names = list(table.names)
    key = _key(rows, table.level, entity)
    if not table.point_in_time:
        by_id = table.values.set_index("id")[names]
        joined = by_id.reindex(key.to_numpy())
        return joined.set_axis(rows.index, axis=0)
    left = pd.DataFrame(
        {
            "_id": key.fillna("\x00none").to_numpy(),
            "_at": pd.to_datetime(rows["as_of"], utc=True).to_numpy(),
            "_row": np.arange(len(rows)),
        }
    )
    left["_at"] = pd.to_datetime(left["_at"], utc=True)
    right = table.values.rename(columns={"id": "_id", "valid_from": "_at"})
    right = right.assign(_at=pd.to_datetime(right["_at"], utc=True))
    merged = pd.merge_asof(
        left.sort_values("_at", kind="stable"),
        right.sort_values("_at", kind="stable"),
        on="_at",
        by="_id",
        direction="backward",
        allow_exact_matches=False,  # known *before* as_of, as events are
    )
    merged = merged.sort_values("_row").set_index(rows.index)
    return merged[names]


def join_attributes(loaded: LoadedAttributes, rows: pd.DataFrame, entity: str) -> pd.DataFrame:
    """Raw attribute values for each row `(entity_id, account_id, as_of)`, known before
    `as_of` (see the module doc); aligned with `rows`, one column per attribute."""
    parts = [_join_one(table, rows, entity) for table in loaded.tables]
    if not parts:
        return pd.DataFrame(index=rows.index)
    joined = pd.concat(parts, axis=1)
    for feature in loaded.definitions.features:
        column = joined[feature.name]
        if feature.kind == "email_kind":  # no row (yet): the kind is not known
            joined[feature.name] = column.astype(object).where(column.notna(), "unknown")
        elif feature.categorical:  # text or None, whatever the join left
            joined[feature.name] = column.astype(object).where(column.notna(), None)
    return joined[loaded.definitions.names]


# --- encoding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttributeEncoding:
    """Raw values -> model columns, fitted on the training rows, stored in the bundle."""

    kinds: Mapping[str, str]  # name -> categorical | numeric | email_kind, in model order
    levels: Mapping[str, tuple[str, ...]]  # categorical name -> kept levels (code = position)
    pooled: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # rare levels

    @property
    def names(self) -> list[str]:
        return list(self.kinds)

    @property
    def categorical_names(self) -> list[str]:
        return [n for n, k in self.kinds.items() if k != "numeric"]

    @classmethod
    def fit(cls, definitions: AttributeDefinitions, raw: pd.DataFrame) -> AttributeEncoding:
        kinds, levels, pooled = {}, {}, {}
        for feature in definitions.features:
            kinds[feature.name] = feature.kind
            if not feature.categorical:
                continue
            counts = raw[feature.name].dropna().astype(str).value_counts()
            ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            levels[feature.name] = tuple(
                level for level, n in ordered if n >= feature.min_level_rows
            )
            pooled[feature.name] = tuple(
                level for level, n in ordered if n < feature.min_level_rows
            )
        return cls(kinds, levels, pooled)

    def encode(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
        """Model columns (float64; NaN unknown) and, per attribute, how many rows held a
        level never seen in training (scored as "other")."""
        columns, unseen = {}, {}
        for name, kind in self.kinds.items():
            values = raw[name] if name in raw.columns else pd.Series(np.nan, index=raw.index)
            if kind == "numeric":
                columns[name] = pd.to_numeric(values, errors="coerce").astype(np.float64)
                continue
            known = self.levels[name]
            text = values.astype(object).where(values.notna(), None)
            codes = pd.Categorical(text.map(lambda v: None if v is None else str(v)), known).codes
            coded = np.where(codes >= 0, codes, len(known)).astype(np.float64)
            missing = text.isna().to_numpy()
            coded[missing] = np.nan
            seen = self._expected(name)
            new = ~missing & (codes < 0) & ~text.isin(seen).to_numpy()
            unseen[name] = int(new.sum())
            columns[name] = pd.Series(coded, index=raw.index)
        return pd.DataFrame(columns, index=raw.index), unseen

    def encode_value(self, name: str, value: Any) -> tuple[float, bool]:
        """One value (an HTTP request's): (model value, True if an unseen level)."""
        if value is None:
            return math.nan, False
        if self.kinds[name] == "numeric":
            return float(value), False
        known = self.levels[name]
        text = str(value)
        if text in known:
            return float(known.index(text)), False
        return float(len(known)), text not in self._expected(name)

    def _expected(self, name: str) -> set[str]:
        """Levels that are no surprise at scoring: kept, pooled, and every e-mail kind
        (a kind training lacked, e.g. no "unknown" address, is scored as "other")."""
        kinds = set(EMAIL_KINDS) if self.kinds.get(name) == "email_kind" else set()
        return set(self.levels.get(name, ())) | set(self.pooled.get(name, ())) | kinds

    def level(self, name: str, code: float) -> str | None:
        """The level a code stands for; None for unknown and for the pooled "other"
        (which stands for several values, so no single one can be stated)."""
        if not math.isfinite(code):
            return None
        known = self.levels.get(name, ())
        position = int(code)
        return known[position] if 0 <= position < len(known) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kinds": dict(self.kinds),
            "levels": {k: list(v) for k, v in self.levels.items()},
            "pooled": {k: list(v) for k, v in self.pooled.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttributeEncoding:
        return cls(
            dict(data.get("kinds", {})),
            {k: tuple(v) for k, v in data.get("levels", {}).items()},
            {k: tuple(v) for k, v in data.get("pooled", {}).items()},
        )

    def __bool__(self) -> bool:
        return bool(self.kinds)
