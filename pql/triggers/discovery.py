"""Trigger discovery: which in-product actions separate converters, and a rule-based PQL.

What growth teams do before (and beside) a model: for every key action, measure and
threshold ("invited >= 3 teammates so far", "viewed pricing >= 2 times in the last 7
days") compare the conversion rate of trials at or above it with those below, with
Wilson confidence intervals and a minimum support, then write a short PQL definition.

Why these choices:
- One snapshot per entity (`day`, default the snapshot closest to a week): pooling every
  snapshot would count each trial several times and make the intervals lie.
- Labels and the time split are training's own (`training.labels`, `training.split`):
  rules are chosen on the earliest signups and judged on the later, held-out ones
  (validation + test), exactly as a rule would be used after it is written.
- The proposal is a greedy OR of AND-rules (a PQL meets any rule, as `pql score --rules`
  reads them) with at most `max_conditions` conditions in all, each step the one that
  most raises F1 on training rows. Greedy keeps it short and explainable; an exhaustive
  search over thousands of candidates would mostly fit noise.
Triggers are correlations: users who invite teammates may convert because they were
already going to. The report says so; an experiment tells cause.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pql.errors import PqlError, TriggerError, UsageError
from pql.features.definitions import ACCOUNT_ACTION_MEASURES, FeatureDefinitions, window_phrase
from pql.features.pipeline import Dataset, features_for_rows
from pql.features.rows import snapshot_rows
from pql.training.labels import label_rows
from pql.training.metrics import wilson_interval
from pql.training.split import assign_splits

#: Windows a trigger can look at: feature measure -> how a person says it.
WINDOWS = {"count": "so far", "count_7d": "in the last 7 days", "users": "members"}
#: Entity-wide features that make good rule conditions too ("active on 5+ days").
ACTIVITY_CANDIDATES = {"active_days": "active days", "active_users": "active members"}
#: Thresholds people write in rules: readable, and few enough to keep the search honest.
NICE_THRESHOLDS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200)
MAX_DAY = 3650  # past any trial; keeps the time arithmetic in range
NEARLY_EVERYBODY = 0.9  # an action this share of trials does cannot separate converters
Z_95 = 1.959963984540054
MIN_POSITIVES_FOR_RULES = 10
MIN_F1_GAIN = 0.002
CORRELATION_WARNING = (
    "Triggers are correlations, not causes: users who do an action may convert because "
    "they were already going to. Pushing everyone to do it need not raise conversion; "
    "test that with an experiment."
)


@dataclass(frozen=True)
class Condition:
    """`feature >= threshold`, with the words a sales rep reads."""

    feature: str
    threshold: float
    action: str
    window: str

    @property
    def expression(self) -> str:
        return f"{self.feature} >= {self.threshold:g}"

    @property
    def text(self) -> str:
        label = self.action.replace("_", " ")
        n = f"{self.threshold:g}"
        if self.window == "members":
            return f"{n}+ members {label}" if self.threshold != 1 else f"a member did {label}"
        if self.window in ACTIVITY_CANDIDATES.values():
            return f"{n}+ {self.window}"
        times = "at least once" if self.threshold == 1 else f"{n}+ times"
        return f"{label} {times}" + (f" {self.window}" if self.window != "so far" else "")


@dataclass(frozen=True)
class RuleMetrics:
    rows: int
    pql: int  # rows the rules flag
    converted: int
    precision: float
    recall: float
    base_rate: float

    @property
    def lift(self) -> float:
        return self.precision / self.base_rate if self.base_rate > 0 else math.nan

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total > 0 else 0.0

    @property
    def pql_share(self) -> float:
        return self.pql / self.rows if self.rows else math.nan

    def as_dict(self) -> dict[str, float]:
        return {
            "rows": self.rows,
            "pql_volume": self.pql,
            "pql_share": self.pql_share,
            "precision": self.precision,
            "recall": self.recall,
            "lift": self.lift,
            "base_rate": self.base_rate,
        }


@dataclass(frozen=True)
class Proposal:
    """An OR of AND-rules; empty when the data cannot support one (see `why_none`)."""

    rules: list[list[Condition]]
    train: RuleMetrics | None
    held_out: RuleMetrics | None
    why_none: str | None = None

    def spec_rules(self) -> list[dict[str, str]]:
        """The rules as the spec's `rules:` entries (name, when, reason)."""
        return [
            {
                "name": f"trigger_{position + 1}",
                "when": " and ".join(c.expression for c in conditions),
                "reason": " and ".join(c.text for c in conditions).capitalize(),
            }
            for position, conditions in enumerate(self.rules)
        ]


@dataclass
class TriggerReport:
    day: float
    horizon_days: float
    entity: str
    stats: pd.DataFrame  # one row per (action, window, threshold)
    actions: pd.DataFrame  # one row per action: best trigger and flags
    proposal: Proposal
    split: dict[str, str]
    counts: dict[str, int]
    base_rate_train: float
    min_support: int
    warnings: list[str] = field(default_factory=list)


def _candidates(
    definitions: FeatureDefinitions, frame: pd.DataFrame, day: float
) -> list[tuple[str, str, str]]:
    """(feature, action, window) for count-like features a rule can threshold.

    Up to day 7 the last-7-days window is the whole trial, so it would only repeat the
    'so far' triggers under another name.
    """
    windows = {**WINDOWS, **{f"count_{d}d": window_phrase(d) for d in definitions.extra_windows}}
    # a window as long as the snapshot's age repeats 'so far' under another name
    recent = [f"count_{d}d" for d in sorted({7, *definitions.extra_windows}) if day > d]
    measures = ["count", *recent]
    if definitions.account_level:
        measures += list(ACCOUNT_ACTION_MEASURES)
    found = [
        (f"{action.name}_{measure}", action.name, windows[measure])
        for action in definitions.actions
        for measure in measures
    ]
    found += [(name, name, words) for name, words in ACTIVITY_CANDIDATES.items()]
    return [c for c in found if c[0] in frame.columns]


def _thresholds(values: np.ndarray, min_support: int) -> list[float]:
    """Nice thresholds that leave at least `min_support` rows at or above (and some below).

    A threshold that selects exactly the rows the previous one did says nothing new
    ('>= 4' when nobody has 4) and is skipped.
    """
    finite = np.sort(values[np.isfinite(values)])
    chosen: list[float] = []
    previous = -1
    for threshold in NICE_THRESHOLDS:
        above = len(finite) - int(np.searchsorted(finite, threshold, side="left"))
        if above < min_support or above == len(finite) or above == previous:
            continue
        chosen.append(float(threshold))
        previous = above
    return chosen


def _rate(k: int, n: int) -> float:
    return k / n if n else math.nan


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 2 * precision * recall / total if total > 0 else 0.0


def trigger_statistics(
    frame: pd.DataFrame,
    label: np.ndarray,
    candidates: list[tuple[str, str, str]],
    min_support: int,
) -> pd.DataFrame:
    """Conversion at or above vs below every threshold of every candidate (pure)."""
    label = np.asarray(label, dtype=bool)
    n, converted = len(label), int(label.sum())
    base = _rate(converted, n)
    records = []
    for feature, action, window in candidates:
        values = np.nan_to_num(frame[feature].to_numpy(np.float64), nan=0.0)
        for threshold in _thresholds(values, 1):
            above = values >= threshold
            n_above, k_above = int(above.sum()), int(label[above].sum())
            n_below, k_below = n - n_above, converted - k_above
            low_a, high_a = wilson_interval(k_above, n_above)
            low_b, high_b = wilson_interval(k_below, n_below)
            rate_above, rate_below = _rate(k_above, n_above), _rate(k_below, n_below)
            records.append(
                {
                    "action": action,
                    "window": window,
                    "feature": feature,
                    "threshold": threshold,
                    "rows_at_or_above": n_above,
                    "converted_at_or_above": k_above,
                    "rate_at_or_above": rate_above,
                    "rate_at_or_above_low": low_a,
                    "rate_at_or_above_high": high_a,
                    "rows_below": n_below,
                    "converted_below": k_below,
                    "rate_below": rate_below,
                    "rate_below_low": low_b,
                    "rate_below_high": high_b,
                    "lift": rate_above / base if base > 0 else math.nan,
                    "rate_ratio": rate_above / rate_below if rate_below > 0 else math.inf,
                    "coverage": n_above / n if n else math.nan,
                    # share of converters at or above: the recall of the trigger as a rule
                    "recall": _rate(k_above, converted),
                    "f1": _f1(rate_above, _rate(k_above, converted)),
                    "supported": n_above >= min_support and n_below >= min_support,
                    # intervals apart: the difference is unlikely to be noise
                    "separated": bool(low_a > high_b or high_a < low_b),
                }
            )
    return pd.DataFrame.from_records(records, columns=_STAT_COLUMNS)


_STAT_COLUMNS = [
    "action",
    "window",
    "feature",
    "threshold",
    "rows_at_or_above",
    "converted_at_or_above",
    "rate_at_or_above",
    "rate_at_or_above_low",
    "rate_at_or_above_high",
    "rows_below",
    "converted_below",
    "rate_below",
    "rate_below_low",
    "rate_below_high",
    "lift",
    "rate_ratio",
    "coverage",
    "recall",
    "f1",
    "supported",
    "separated",
]


def action_summary(stats: pd.DataFrame, frame: pd.DataFrame, actions: list[str]) -> pd.DataFrame:
    """Per action: how many trials do it at all, its best trigger, and plain flags."""
    records = []
    for action in actions:
        done = frame[f"{action}_count"].fillna(0).to_numpy() > 0
        share = float(done.mean()) if len(done) else math.nan
        own = stats[(stats["action"] == action) & stats["supported"]]
        best = own[own["lift"] > 1].sort_values("f1", ascending=False).head(1)
        flags = []
        if share >= NEARLY_EVERYBODY:
            flags.append(
                f"nearly everybody does it ({share:.0%} of trials): it cannot separate converters"
            )
        if own.empty:
            flags.append("too few trials at any threshold to judge")
        elif not (own["separated"] & (own["lift"] > 1)).any():
            flags.append("no reliable lift: converters do it no more than others")
        records.append(
            {
                "action": action,
                "share_doing_it": share,
                "best_trigger": best["feature"].iloc[0] + f" >= {best['threshold'].iloc[0]:g}"
                if len(best)
                else None,
                "best_lift": float(best["lift"].iloc[0]) if len(best) else math.nan,
                "best_rate": float(best["rate_at_or_above"].iloc[0]) if len(best) else math.nan,
                "flags": "; ".join(flags),
            }
        )
    return pd.DataFrame.from_records(records)


def _metrics(flagged: np.ndarray, label: np.ndarray) -> RuleMetrics:
    label = np.asarray(label, dtype=bool)
    tp = int((flagged & label).sum())
    return RuleMetrics(
        rows=len(label),
        pql=int(flagged.sum()),
        converted=int(label.sum()),
        precision=_rate(tp, int(flagged.sum())) if flagged.any() else 0.0,
        recall=_rate(tp, int(label.sum())) if label.any() else 0.0,
        base_rate=float(label.mean()) if len(label) else math.nan,
    )


def _flags(rules: list[list[Condition]], frame: pd.DataFrame) -> np.ndarray:
    flagged = np.zeros(len(frame), dtype=bool)
    for conditions in rules:
        met = np.ones(len(frame), dtype=bool)
        for c in conditions:
            met &= np.nan_to_num(frame[c.feature].to_numpy(np.float64), nan=0.0) >= c.threshold
        flagged |= met
    return flagged


def propose_rules(
    stats: pd.DataFrame,
    train: pd.DataFrame,
    train_label: np.ndarray,
    *,
    min_support: int,
    max_conditions: int = 5,
) -> list[list[Condition]]:
    """Greedy OR-of-AND rules maximising training F1, at most `max_conditions` in all."""
    # only triggers whose intervals stand apart: without them, F1 rewards flagging everyone
    usable = stats[stats["supported"] & stats["separated"] & (stats["lift"] > 1)]
    conditions = [
        Condition(r.feature, float(r.threshold), r.action, r.window)
        for r in usable.itertuples(index=False)
    ]
    if not conditions:
        return []
    label = np.asarray(train_label, dtype=bool)
    masks = {
        c: np.nan_to_num(train[c.feature].to_numpy(np.float64), nan=0.0) >= c.threshold
        for c in conditions
    }
    rules: list[list[Condition]] = []
    flagged_by_rule: list[np.ndarray] = []
    best_f1 = 0.0
    while sum(len(r) for r in rules) < max_conditions:
        union_without = [
            np.logical_or.reduce([m for j, m in enumerate(flagged_by_rule) if j != i])
            if len(flagged_by_rule) > 1
            else np.zeros(len(label), dtype=bool)
            for i in range(len(flagged_by_rule))
        ]
        current = (
            np.logical_or.reduce(flagged_by_rule) if flagged_by_rule else np.zeros(len(label), bool)
        )
        best_move, best_value = None, best_f1 + MIN_F1_GAIN
        for c in conditions:
            options = [(-1, current | masks[c])]  # a new rule of its own (OR)
            options += [  # or one more condition on an existing rule (AND)
                (i, union_without[i] | (flagged_by_rule[i] & masks[c]))
                for i, rule in enumerate(rules)
                if all(existing.action != c.action for existing in rule)
            ]
            for target, flagged in options:
                if flagged.sum() < min_support:
                    continue
                value = _metrics(flagged, label).f1
                if value > best_value:
                    best_move, best_value = (target, c, flagged), value
        if best_move is None:
            break
        target, c, _ = best_move
        if target < 0:
            rules.append([c])
            flagged_by_rule.append(masks[c].copy())
        else:
            rules[target].append(c)
            flagged_by_rule[target] = flagged_by_rule[target] & masks[c]
        best_f1 = best_value
    return rules


def default_day(snapshots_days: list[float]) -> float:
    """The snapshot closest to one week: early enough to act on, late enough to see use."""
    return min(snapshots_days, key=lambda day: (abs(day - 7), day))


def discover_triggers(
    dataset: Dataset,
    *,
    day: float | None = None,
    min_support: int = 30,
    max_conditions: int = 5,
) -> TriggerReport:
    """Trigger statistics on training time, a proposed rule set judged on later time."""
    spec = dataset.spec
    day = default_day(spec.snapshots_days) if day is None else float(day)
    if not 0 < day <= MAX_DAY:
        raise UsageError(f"day: must be a number of days in (0, {MAX_DAY}], got {day:g}")
    if dataset.data_end is None:
        raise TriggerError("no usable events: nothing to find triggers in")
    snapshots = snapshot_rows(dataset.entities, [day], dataset.events_end, dataset.data_start)
    labelled = label_rows(snapshots.rows, spec.label.horizon_days, dataset.data_end)
    rows = labelled.rows
    if rows.empty:
        raise TriggerError(
            f"no labelled rows at day {day:g}: every trial's {spec.label.horizon_days:g}-day "
            "horizon runs past the end of the data (or none lasted that long unconverted)"
        )
    features = features_for_rows(dataset, rows)
    fractions = spec.model.split
    try:
        split = assign_splits(rows, fractions.validation_fraction, fractions.test_fraction)
    except PqlError as error:
        raise TriggerError(error.message) from None
    is_train = (split == "train").to_numpy()
    train, held_out = features[is_train], features[~is_train]
    train_label = rows["label"].to_numpy()[is_train]
    held_label = rows["label"].to_numpy()[~is_train]
    candidates = _candidates(dataset.definitions, features, day)
    stats = trigger_statistics(train, train_label, candidates, min_support)
    summary = action_summary(stats, train, list(spec.actions))
    warnings = [CORRELATION_WARNING]
    positives = int(train_label.sum())
    proposal = _proposal(
        stats, train, train_label, held_out, held_label, positives, min_support, max_conditions
    )
    if proposal.why_none:
        warnings.append(proposal.why_none)
    signups = rows["signup_at"]
    return TriggerReport(
        day=day,
        horizon_days=spec.label.horizon_days,
        entity=spec.entity,
        stats=stats,
        actions=summary,
        proposal=proposal,
        split={
            "train_signups": _date_range(signups[is_train]),
            "held_out_signups": _date_range(signups[~is_train]),
        },
        counts={
            "snapshot_rows": len(snapshots.rows),
            "unlabeled_horizon_past_data_end": labelled.unlabeled,
            "train_rows": int(is_train.sum()),
            "train_conversions": positives,
            "held_out_rows": int((~is_train).sum()),
            "held_out_conversions": int(held_label.sum()),
        },
        base_rate_train=float(train_label.mean()),
        min_support=min_support,
        warnings=warnings,
    )


def _date_range(times: pd.Series) -> str:
    return f"{times.min():%Y-%m-%d %H:%M} .. {times.max():%Y-%m-%d %H:%M} UTC"


def _proposal(
    stats, train, train_label, held_out, held_label, positives, min_support, max_conditions
) -> Proposal:
    if positives < MIN_POSITIVES_FOR_RULES:
        return Proposal(
            [],
            None,
            None,
            why_none=(
                f"only {positives} conversions among the training trials (at least "
                f"{MIN_POSITIVES_FOR_RULES} needed): no rule is proposed; the table shows the "
                "raw rates with their (wide) intervals"
            ),
        )
    rules = propose_rules(
        stats, train, train_label, min_support=min_support, max_conditions=max_conditions
    )
    if not rules:
        return Proposal(
            [],
            None,
            None,
            why_none=(
                f"no trigger with at least {min_support} trials on each side converts "
                "reliably (95% intervals apart) above the rest: no rule is proposed"
            ),
        )
    return Proposal(
        rules,
        _metrics(_flags(rules, train), train_label),
        _metrics(_flags(rules, held_out), held_label),
    )
