"""Plans (levels) per event: conversion as a move to a paid plan, and plans that flip.

Freemium logs often record the plan on every event (Sparkify's ``level``: free / paid)
instead of keeping a trials table. Three facts follow from it, all computed here from
the canonical events (``plan`` column, present when `data.events.columns.plan` is set):

- an entity already on a paid plan when first seen was never a trial user: scoring it
  as a lead would be wrong, so it is excluded (and counted) when
  ``label.exclude_paying_at_start`` is on;
- conversion is the first event on a paid plan (``label.paid_plans``);
- entities whose plan changes more than once (free -> paid -> free) are counted for the
  report: their first move to paid is the conversion, later moves are not new ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pql.features.spec import Spec


def entity_key(spec: Spec) -> str:
    return "account_id" if spec.entity == "account" else "user_id"


def _with_plan(events: pd.DataFrame, key: str) -> pd.DataFrame:
    """Events with an entity and a plan, in time order per entity."""
    if "plan" not in events.columns:
        return events.iloc[0:0]
    known = events[events[key].notna() & events["plan"].notna()]
    frame = pd.DataFrame(
        {
            "entity": known[key].astype(str).to_numpy(),
            "timestamp": known["timestamp"].to_numpy(),
            "plan": known["plan"].astype(str).to_numpy(),
        }
    )
    return frame.sort_values(["entity", "timestamp"], kind="stable").reset_index(drop=True)


def paying_at_start(spec: Spec, events: pd.DataFrame) -> pd.Index:
    """Entities whose first event with a plan is on a paid plan (not trials)."""
    paid = spec.label.paid_plans
    if not paid:
        return pd.Index([], dtype=object)
    ordered = _with_plan(events, entity_key(spec))
    first = ordered.groupby("entity", sort=True)["plan"].first()
    return pd.Index(first.index[first.isin(paid)], dtype=object)


def plan_conversions(spec: Spec, events: pd.DataFrame, key: str) -> pd.Series:
    """Entity -> time of its first event on a paid plan."""
    if not spec.label.paid_plans:
        return pd.Series(dtype="datetime64[ns, UTC]")
    ordered = _with_plan(events, key)
    on_paid = ordered[ordered["plan"].isin(spec.label.paid_plans)]
    return on_paid.groupby("entity")["timestamp"].min()


@dataclass(frozen=True)
class PlanChanges:
    entities_with_plan: int
    changed: int  # entities whose plan changed at least once
    back_and_forth: int  # entities whose plan changed more than once
    example: str | None  # one back-and-forth entity with its plan sequence


def plan_changes(events: pd.DataFrame, key: str) -> PlanChanges:
    """How many entities changed plan, and how many went back and forth."""
    ordered = _with_plan(events, key)
    if ordered.empty:
        return PlanChanges(0, 0, 0, None)
    entity = ordered["entity"].to_numpy()
    plan = ordered["plan"].to_numpy()
    same_entity = np.r_[False, entity[1:] == entity[:-1]]
    change = same_entity & np.r_[False, plan[1:] != plan[:-1]]
    per_entity = pd.Series(change).groupby(entity).sum()
    flipping = per_entity[per_entity >= 2]
    example = None
    if len(flipping):
        who = str(flipping.index[0])
        rows = ordered[ordered["entity"] == who]["plan"].to_numpy()
        steps = [rows[0], *rows[1:][rows[1:] != rows[:-1]]]
        example = f"{who}: {' -> '.join(map(str, steps))}"
    return PlanChanges(
        entities_with_plan=len(per_entity),
        changed=int((per_entity >= 1).sum()),
        back_and_forth=len(flipping),
        example=example,
    )


_VALUES_SHOWN = 10


def paid_plan_warnings(spec: Spec, events: pd.DataFrame) -> list[str]:
    """`label.paid_plans` entries no event carries, and plan values that differ from a
    paid plan only in case ("Paid" vs "paid"): either silently loses conversions."""
    paid = spec.label.paid_plans
    if not paid or "plan" not in events.columns:
        return []
    counts = events["plan"].dropna().astype(str).value_counts()
    seen = set(counts.index)
    column = spec.data.events.columns.plan
    shown = ", ".join(f"{value!r} ({n:,})" for value, n in counts.head(_VALUES_SHOWN).items())
    more = f" and {len(counts) - _VALUES_SHOWN:,} more" if len(counts) > _VALUES_SHOWN else ""
    values = f"values of column '{column}' seen: {shown or '(none)'}{more}"
    warnings = []
    missing = [plan for plan in paid if plan not in seen]
    if missing:
        which = "no" if len(missing) == len(paid) else "not every"
        warnings.append(
            f"label.paid_plans {paid} matches {which} plan value: "
            f"{', '.join(map(repr, missing))} never occurs, so no event on it converts "
            f"anyone ({values})"
        )
    lowered = {plan.casefold(): plan for plan in paid}
    for value in sorted(seen - set(paid)):
        if value.casefold() in lowered:
            warnings.append(
                f"plan value {value!r} ({counts[value]:,} events) differs from "
                f"label.paid_plans entry {lowered[value.casefold()]!r} only in case: plans "
                f"are compared exactly, so it is not a paid plan; add {value!r} to "
                "label.paid_plans if it is one"
            )
    return warnings
