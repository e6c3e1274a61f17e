"""Plain-language reasons from exact TreeSHAP contributions, true of the entity's data.

DESIGN section 4: LightGBM's `pred_contrib` gives each feature's exact contribution in
log-odds. All features of one action sum into one reason group (a sales rep thinks
"invited teammates", not "invite_teammate_count_7d") and the groups are ranked by
contribution. The contribution decides *which* reasons rank; the entity's own values
decide *what they say*:

- the number in a text is the entity's value of the feature that carried the
  contribution (the group's feature with the largest contribution in that direction);
- direction words (up, down) come from the values, never from the contribution's sign;
- where the model's direction and the plain reading of the data disagree (a positive
  reason for an action never done, "activity down" as a reason for a high score), the
  reason is left out and the next group takes its place, never inverted;
- tenure and recency are context shown beside the reasons, not reasons.

`pql.serving.reason_audit` checks every text against the features independently.
"""

from __future__ import annotations

import math
import re
import string
from bisect import bisect_left
from dataclasses import dataclass

import numpy as np

from pql.features.definitions import (
    ACCOUNT_FEATURES,
    ACTIVITY_FEATURES,
    FeatureDefinitions,
    window_days_of,
    window_phrase,
)
from pql.features.spec import ActionKind, Spec
from pql.serving.reason_choice import ChosenReasons, choose
from pql.serving.shape_words import tenure_text, tenure_texts
from pql.serving.wording import action_words, capitalize

#: Activity features grouped into the reasons a person would name.
ACTIVITY_GROUPS: dict[str, str] = {
    "tenure_days": "tenure",
    "events_count": "activity",
    "events_count_7d": "activity",
    "active_days": "activity",
    "active_days_7d": "activity",
    "sessions_count": "activity",
    "longest_streak_days": "activity",
    "actions_breadth": "breadth",
    "activity_trend_7d": "momentum",
    "hours_since_last_event": "recency",
    "active_users": "team",
    "active_users_7d": "team",
    "active_users_share_7d": "team",
    "new_users_7d": "growth",
    "top_user_events_count": "champion",
    "top_user_events_share": "champion",
}
assert set(ACTIVITY_GROUPS) == set(ACTIVITY_FEATURES) | set(ACCOUNT_FEATURES)

#: Groups that are context (shown beside the reasons), never a reason a rep acts on.
CONTEXT_GROUPS = frozenset({"tenure", "recency"})
TOP_PERCENT_CONTEXT = 75  # add "more than N% of users" from this percentile up
MAX_PERCENT_CONTEXT = 95
#: Candidates looked at per row and direction: reasons left out make room for the next.
CANDIDATES = 8

#: Activity features per reason group, in the order a tie between them is broken.
ACTIVITY_MEASURES: dict[str, tuple[str, ...]] = {
    "activity": (
        "events_count_7d",
        "active_days_7d",
        "events_count",
        "active_days",
        "sessions_count",
        "longest_streak_days",
    ),
    "breadth": ("actions_breadth",),
    "momentum": ("activity_trend_7d",),
    "team": ("active_users_7d", "active_users_share_7d", "active_users"),
    "growth": ("new_users_7d",),
    "champion": ("top_user_events_count", "top_user_events_share"),
}
#: How each activity measure reads, with the entity's value as {n}.
ACTIVITY_TEXT = {
    "events_count_7d": "{n} events in the last 7 days",
    "active_days_7d": "Active on {n} of the last 7 days",
    "events_count": "{n} events in all",
    "active_days": "Active on {n} days",
    "sessions_count": "{n} sessions",
    "longest_streak_days": "Active {n} days in a row at most",
    "new_users_7d": "{n} new members in the last 7 days",
}


@dataclass(frozen=True)
class Reason:
    action: str  # the reason group: an action's name or an activity group
    value: float | None  # the entity's value of `measure`, which the text states
    contribution: float  # the group's summed contribution, in log-odds
    text: str
    measure: str | None = None  # the feature whose value the text states

    def as_dict(self) -> dict[str, object]:
        value = None if self.value is None or not math.isfinite(self.value) else self.value
        return {
            "action": self.action,
            "value": value,
            "contribution": round(self.contribution, 6),
            "text": self.text,
            "measure": self.measure,
        }


def activity_group(name: str) -> str:
    """Reason group of an entity-wide feature, the extra windows' ones included."""
    if name in ACTIVITY_GROUPS:
        return ACTIVITY_GROUPS[name]
    if name.startswith("activity_trend_"):
        return "momentum"
    return "activity"  # events_count_<N>d, active_days_<N>d


def feature_groups(definitions: FeatureDefinitions) -> list[str]:
    """Reason group of every feature, aligned with `definitions.names`."""
    return [definitions.action_of(name) or activity_group(name) for name in definitions.names]


def window_before(days: int) -> str:
    """ "the 7 before": the window of the same length just before the last one."""
    return "the 24 hours before" if days == 1 else f"the {days} before"


def active_days_text(n: float, days: int) -> str:
    """Active days in the last `days` x 24 hours. The window touches `days` + 1 calendar
    days when the cutoff is not at midnight, so `days` + 1 active days means active on
    every calendar day the window touches: said so, never "8 of the last 7 days"."""
    if n > days:
        return f"Active every day of {window_phrase(days).removeprefix('in ')}"
    if n == 0:
        return f"Active on none of the last {days} days"
    return f"Active on {count_text(n)} of the last {days} days"


def placeholders(template: str | None) -> list[str]:
    """The field names a reason template states ("Invited {count} teammates": count)."""
    if not template:
        return []
    return [field for _, field, _, _ in string.Formatter().parse(template) if field]


def count_text(value: float) -> str:
    return "0" if not math.isfinite(value) else f"{value:,.0f}"


#: "1 teammates" / "1 support tickets": a plural noun (not ending "ss") after a lone 1.
_ONE_PLURAL = re.compile(r"(?<![\d.,])\b1 ((?:[a-z]+ )?\w*[^s\W])s\b")


def singular(text: str) -> str:
    """Templates are written for many ("Invited {count} teammates"); fix the count of 1."""
    return _ONE_PLURAL.sub(r"1 \1", text) if "1 " in text else text


def percent_text(share: float) -> str:
    return "0" if not math.isfinite(share) else f"{100 * share:.0f}"


def days_text(hours: float) -> str:
    return "n/a" if not math.isfinite(hours) else f"{hours / 24:.0f}"


def previous_week(last_week: float, trend: float) -> float:
    """Events in the 7 days before the last 7, from the trend feature (exact when known).

    trend = (last - before) / (last + before), so before = last (1 - t) / (1 + t); with
    no events last week (t = -1) the count before is not recoverable: NaN.
    """
    if not (math.isfinite(last_week) and math.isfinite(trend)) or trend <= -1:
        return float("nan")
    return round(last_week * (1 - trend) / (1 + trend))


def _main_measure(template: str) -> str | None:
    """The measure a template states, so a template is used only for that measure."""
    windowed = [f for f in placeholders(template) if re.fullmatch(r"count_\d+d", f)]
    if windowed:
        return windowed[0]
    for measure in ("count_7d", "active_days", "count", "value", "users"):
        if "{" + measure + "}" in template:
            return measure
    return None


def ago(hours: float) -> str:
    """How long ago, in the largest whole unit a person would say (hours, then days);
    as `ago_texts` (round() rounds half to even, as numpy does)."""
    if hours < 1:
        return _ago_words(0, 0)
    if hours < 24:
        return _ago_words(1, round(hours))
    return _ago_words(2, round(hours / 24))


#: Up to this many values, `ago_texts` formats each (finding distinct ones costs more).
FEW_TIMES = 16


def ago_texts(hours: np.ndarray) -> np.ndarray:
    """`ago` for many finite values at once: each distinct text is formatted once."""
    hours = np.asarray(hours, dtype=np.float64)
    if len(hours) <= FEW_TIMES:
        return np.array([ago(h) for h in hours.tolist()], dtype=object)
    # units: 0 = within the hour, 1 = hours, 2 = days; numpy rounds half to even, as round()
    unit = np.where(hours < 1, 0, np.where(hours < 24, 1, 2))
    count = np.where(unit == 2, np.round(hours / 24), np.where(unit == 1, np.round(hours), 0))
    cases, index = np.unique(np.column_stack([unit, count]), axis=0, return_inverse=True)
    words = np.array([_ago_words(int(u), int(c)) for u, c in cases], dtype=object)
    return words[np.asarray(index).reshape(-1)]


def _ago_words(unit: int, count: int) -> str:
    if unit == 0:
        return "within the last hour"
    name = "hour" if unit == 1 else "day"
    return f"{count} {name}{'s' * (count != 1)} ago"


class ReasonWriter:
    """Turns one entity's feature values and contributions into ranked, true reasons."""

    def __init__(
        self, spec: Spec, definitions: FeatureDefinitions, reference: dict[str, tuple[float, ...]]
    ) -> None:
        self.spec = spec
        self.definitions = definitions
        self.reference = reference
        self.groups = feature_groups(definitions)
        self.group_names = list(dict.fromkeys(self.groups))
        index = {g: i for i, g in enumerate(self.group_names)}
        self._membership = np.zeros((len(self.groups), len(self.group_names)))
        self._membership[np.arange(len(self.groups)), [index[g] for g in self.groups]] = 1.0
        self._position = {name: i for i, name in enumerate(definitions.names)}
        self._context_mask = np.array([g in CONTEXT_GROUPS for g in self.group_names])
        self.words = {
            name: action_words(name, action.label) for name, action in spec.actions.items()
        }
        self._properties = {a.name: a.property_feature for a in definitions.actions}
        self._action_features = {
            action: [n for n in definitions.names if definitions.action_of(n) == action]
            for action in spec.actions
        }
        self._aggregates = {a.name: a.aggregate for a in definitions.actions}
        # the activity group's measures: the 7-day ones, the extra windows', then totals
        base = ACTIVITY_MEASURES["activity"]
        self._activity_measures = {
            **ACTIVITY_MEASURES,
            "activity": (*base[:2], *definitions.window_features, *base[2:]),
        }
        self._trends = tuple(n for n in definitions.names if activity_group(n) == "momentum")
        # per group, the features that may carry its contribution (-1 pads the rows)
        carried = [self.carrier_names(group) for group in self.group_names]
        self._carrier_positions = np.full((len(carried), max(map(len, carried), default=0)), -1)
        for row, names in enumerate(carried):
            self._carrier_positions[row, : len(names)] = [self._position[n] for n in names]
        self._carrier_lists = [[self._position[n] for n in names] for names in carried]
        #: `carrier_names` of each group, by group index (made once)
        self.carried = tuple(carried)

    # ------------------------------------------------------------------ ranking

    def grouped(self, contributions: np.ndarray) -> np.ndarray:
        """(n, n_features) contributions -> (n, n_groups) sums per reason group."""
        return contributions @ self._membership

    def select(
        self, grouped: np.ndarray, top_positive: int, top_negative: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Candidate groups per row, strongest first (-1 = none), context groups left out.

        Vectorised over rows; more candidates than reasons are returned because a group
        whose data disagrees with the model's direction is left out (`texts`).
        """
        ranked = np.where(self._context_mask, 0.0, grouped)
        k_pos = min(max(top_positive, 1) + CANDIDATES, ranked.shape[1])
        k_neg = min(max(top_negative, 1) + CANDIDATES, ranked.shape[1])
        down = np.argsort(-ranked, axis=1, kind="stable")[:, :k_pos]
        up = np.argsort(ranked, axis=1, kind="stable")[:, :k_neg]
        rows = np.arange(len(ranked))[:, None]
        positive = np.where(ranked[rows, down] > 0, down, -1)
        negative = np.where(ranked[rows, up] < 0, up, -1)
        return positive, negative

    def reasons(
        self,
        values: np.ndarray,
        contributions: np.ndarray,
        top_positive: int = 3,
        top_negative: int = 2,
    ) -> tuple[list[Reason], list[Reason]]:
        """Top reasons for one entity: why high (positive), what holds it back (negative).

        `contributions` are the per-feature contributions (without the base value).
        """
        row = np.asarray(values, dtype=np.float64).reshape(1, -1)
        contrib = np.asarray(contributions, dtype=np.float64).reshape(1, -1)
        return self.explain(row, contrib, top_positive, top_negative)[0]

    def explain(
        self,
        values: np.ndarray,
        contributions: np.ndarray,
        top_positive: int = 3,
        top_negative: int = 2,
    ) -> list[tuple[list[Reason], list[Reason]]]:
        """(positive, negative) reasons of many rows, chosen as batch scoring chooses
        them, so an entity reads the same whichever way it was scored."""
        grouped = self.grouped(contributions)
        positive, negative = self.select(grouped, top_positive, top_negative)
        chosen = [
            choose(self, values, contributions, positive, True, top_positive),
            choose(self, values, contributions, negative, False, top_negative),
        ]
        return [
            (
                self._reason_list(values, grouped, chosen[0], row),
                self._reason_list(values, grouped, chosen[1], row),
            )
            for row in range(len(values))
        ]

    def _reason_list(
        self, values: np.ndarray, grouped: np.ndarray, chosen: ChosenReasons, row: int
    ) -> list[Reason]:
        return [
            Reason(
                action=self.group_names[group],
                value=self._value(values[row], measure) if measure else None,
                contribution=float(grouped[row, group]),
                text=text,
                measure=measure,
            )
            for group, measure, text in chosen.row(row)
        ]

    def texts(
        self,
        values: np.ndarray,
        contributions: np.ndarray,
        selected: np.ndarray,
        positive: bool,
        limit: int,
    ) -> np.ndarray:
        """(n, limit) reason texts of many rows, None where a row has fewer (the batch
        CRM columns); each distinct statement is written once, not once per row."""
        return choose(self, values, contributions, selected, positive, limit).text

    # ------------------------------------------------------------------ carriers

    def carrier_names(self, group: str) -> tuple[str, ...]:
        """The group's features whose contribution decides which value a reason states.

        Empty where the statement does not depend on the contributions (negative-kind
        actions, momentum, context groups).
        """
        if group in self.spec.actions:
            if self.spec.actions[group].kind is ActionKind.negative:
                return ()
            windows = [f"count_{d}d" for d in self.definitions.extra_windows]
            names = [f"{group}_{m}" for m in ("count_7d", *windows, "active_days", "count")]
            names += [f"{group}_users"] if self.definitions.account_level else []
            prop = self._properties.get(group)
            names += [prop] if prop else []
            # hours to first / since last are time facts: context, never what a reason states
        elif group == "momentum" and self.definitions.extra_windows:
            names = list(self._trends)  # the window whose trend carried the contribution
        elif group in CONTEXT_GROUPS or group == "momentum":
            return ()
        else:
            names = [n for n in self._activity_measures[group] if "_trend_" not in n]
        return tuple(name for name in names if name in self._position)

    def carriers(self, values: np.ndarray, contributions: np.ndarray, positive: bool) -> np.ndarray:
        """(n, groups): per row and group, the index in `carrier_names(group)` of the
        feature that carried the group's contribution in this direction, among those
        whose value can be stated (finite, above 0 for a positive reason); -1 = none;
        a tie goes to the first."""
        positions = self._carrier_positions
        at = np.where(positions >= 0, positions, 0)
        stated = values[:, at]
        share = (1.0 if positive else -1.0) * contributions[:, at]
        usable = (positions >= 0) & np.isfinite(stated) & (share > 0)
        if positive:
            usable &= stated > 0
        share = np.where(usable, share, -np.inf)
        # an unusable feature's share is -inf, so argmax finds a usable one if any is
        return np.where(usable.any(axis=2), np.argmax(share, axis=2), -1)

    def carrier(
        self, group: int, values: list[float], contributions: list[float], positive: bool
    ) -> int:
        """`carriers` of one row and one group, on plain floats (a request's entity: a
        few groups are walked, so the other groups' carriers are never needed)."""
        best, best_share = -1, 0.0
        for index, position in enumerate(self._carrier_lists[group]):
            value = values[position]
            share = contributions[position] if positive else -contributions[position]
            if share > best_share and math.isfinite(value) and (value > 0 or not positive):
                best, best_share = index, share
        return best

    def statement_reads(self, group: str, carrier: str | None) -> list[str]:
        """Every feature `statement(group, ..., carrier, ...)` reads: rows that agree on
        these get the same statement, so it is written once for all of them."""
        reads: list[str | None]
        if group in self.spec.actions:
            action = self.spec.actions[group]
            reads = [f"{group}_count", "active_users", carrier]
            for template in (action.reason, action.negative_reason):
                reads += [self._field_feature(group, field) for field in placeholders(template)]
        elif group == "momentum":
            days = window_days_of(carrier or "") or 7
            reads = [_events_in(days), f"activity_trend_{days}d"]
        else:
            fixed = {
                "team": ["active_users_7d", "active_users"],
                "champion": ["top_user_events_count", "top_user_events_share"],
            }
            reads = [*fixed.get(group, []), carrier]
        return [name for name in dict.fromkeys(reads) if name and name in self._position]

    def _field_feature(self, action: str, field: str) -> str | None:
        """The feature a template field of `_fields` states (None for the action's name)."""
        if field == "action":
            return None
        if field == "members":
            return "active_users"
        if field == "value":
            return self._properties.get(action)
        measure = {"days_since_last": "hours_since_last"}.get(field, field)
        return f"{action}_{measure}"

    # ------------------------------------------------------------------ context

    def context(self, values: np.ndarray) -> list[str]:
        """Time facts shown beside the reasons: how long ago the entity signed up and when
        it was last active (true of its values; not reasons a rep acts on)."""
        row = np.asarray(values, dtype=np.float64).reshape(-1)
        hours = self._scalar(row, "tenure_days") * 24  # as `_context_parts`, bit for bit
        since = self._scalar(row, "hours_since_last_event")
        parts = []
        if math.isfinite(hours):
            spec = self.spec
            shaped = tenure_text(hours / 24, spec.shape, spec.trial_days, spec.entity)
            parts.append(shaped or "Signed up " + ago(hours))
        parts.append("Last active " + ago(since) if math.isfinite(since) else "No activity yet")
        return parts

    def contexts(self, values: np.ndarray) -> list[list[str]]:
        """`context` of many rows."""
        signed_up, last_active = self._context_parts(values)
        return [
            [part for part in pair if part is not None]
            for pair in zip(signed_up, last_active, strict=True)
        ]

    def context_texts(self, values: np.ndarray) -> np.ndarray:
        """The context of many rows, each as one text ("Signed up ...; Last active ...")."""
        signed_up, last_active = self._context_parts(values)
        known = signed_up != None  # noqa: E711 (elementwise on an object array)
        joined = last_active.copy()
        joined[known] = signed_up[known] + "; " + last_active[known]
        return joined

    def _context_parts(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(values)
        tenure = self._column(values, "tenure_days") * 24
        since = self._column(values, "hours_since_last_event")
        signed_up = np.full(n, None, dtype=object)
        known = np.isfinite(tenure)
        signed_up[known] = "Signed up " + ago_texts(tenure[known])
        shaped = tenure_texts(tenure / 24, self.spec.shape, self.spec.trial_days, self.spec.entity)
        if shaped is not None:  # the shape's words where they apply ("Day 9 of a ...")
            worded = shaped != None  # noqa: E711 (elementwise on an object array)
            signed_up[worded] = shaped[worded]
        last_active = np.full(n, "No activity yet", dtype=object)
        seen = np.isfinite(since)
        last_active[seen] = "Last active " + ago_texts(since[seen])
        return signed_up, last_active

    def _scalar(self, row: np.ndarray, name: str) -> float:
        position = self._position.get(name)
        return float("nan") if position is None else float(row[position])

    def _column(self, values: np.ndarray, name: str) -> np.ndarray:
        position = self._position.get(name)
        if position is None:
            return np.full(len(values), np.nan)
        return np.asarray(values[:, position], dtype=np.float64)

    # ------------------------------------------------------------------ one reason

    def position(self, name: str) -> int:
        """The column of feature `name` in a row of values."""
        return self._position[name]

    def _value(self, values: np.ndarray, name: str | None) -> float:
        position = self._position.get(name) if name else None
        return float(values[position]) if position is not None else float("nan")

    def _context_text(self, feature: str, value: float) -> str:
        percentiles = self.reference.get(feature)
        if not percentiles or not math.isfinite(value) or value <= 0:
            return ""
        below = bisect_left(percentiles, value) - 1  # as searchsorted: they are sorted
        # above every training value is still "more than 95%": never "more than 100%"
        share = min(int(max(int(below), 0) // 5 * 5), MAX_PERCENT_CONTEXT)
        return f" - more than {share}% of users" if share >= TOP_PERCENT_CONTEXT else ""

    def statement(
        self, group: str, values: np.ndarray, carrier: str | None, positive: bool
    ) -> tuple[str | None, str] | None:
        """(measure, text) of a reason of `group` for one entity's values, or None where
        its data does not support a reason in this direction. `carrier` is the feature
        that carried the contribution (`carriers`): the value the text states."""
        if group in CONTEXT_GROUPS:
            return None
        if group in self.spec.actions:
            found = self._action_text(group, values, carrier, positive)
        else:
            found = self._activity_text(group, values, carrier, positive)
        if found is None:
            return None
        measure, text = found
        return measure, singular(text)

    def _action_text(
        self, name: str, values: np.ndarray, carrier: str | None, positive: bool
    ) -> tuple[str | None, str] | None:
        action = self.spec.actions[name]
        words = self.words[name]
        count_feature = f"{name}_count"
        count = self._value(values, count_feature)
        did = math.isfinite(count) and count > 0
        negative_kind = action.kind is ActionKind.negative
        if negative_kind:
            if positive and not did:  # no support tickets: the absence is what helps
                return count_feature, action.absent_reason or words.not_yet()
            if not positive and did:
                template = action.negative_reason or action.reason
                if template and _main_measure(template) in (None, "count"):
                    return count_feature, template.format(**self._fields(name, values))
                return count_feature, words.times(count)
            return None  # the model's direction and the plain reading disagree
        if not did:
            if positive:
                return None
            return count_feature, action.absent_reason or words.not_yet()
        measure = carrier
        if measure is None:
            if not positive:
                return None
            measure = count_feature  # did it; no single feature carried it alone
        return measure, self._measure_text(name, measure, values, positive)

    def _fields(self, name: str, values: np.ndarray) -> dict[str, object]:
        get = lambda measure: self._value(values, f"{name}_{measure}")  # noqa: E731
        prop = self._properties.get(name)
        return {
            "action": self.words[name].past,
            "count": count_text(get("count")),
            "count_7d": count_text(get("count_7d")),
            **{
                f"count_{days}d": count_text(get(f"count_{days}d"))
                for days in self.definitions.extra_windows
            },
            "active_days": count_text(get("active_days")),
            "hours_to_first": count_text(get("hours_to_first")),
            "days_since_last": days_text(get("hours_since_last")),
            "value": count_text(self._value(values, prop)) if prop else "n/a",
            "users": count_text(get("users")),
            "members": count_text(self._value(values, "active_users")),
        }

    def _measure_text(self, name: str, feature: str, values: np.ndarray, positive: bool) -> str:
        action = self.spec.actions[name]
        words = self.words[name]
        value = self._value(values, feature)
        prop = self._properties.get(name)
        measure = "value" if feature == prop else feature.removeprefix(f"{name}_")
        template = action.reason
        if template and _main_measure(template) == measure:
            text = template.format(**self._fields(name, values))
        elif measure == "count":
            text = words.times(value)
        elif measure == "count_7d":
            text = words.times_this_week(value) if value > 0 else words.not_this_week()
        elif re.fullmatch(r"count_\d+d", measure):
            days = window_days_of(measure) or 7
            text = words.times_in(value, days) if value > 0 else words.not_in(days)
        elif measure == "active_days":
            text = words.on_days(value)
        elif measure == "users":
            members = count_text(self._value(values, "active_users"))
            text = f"{count_text(value)} of {members} members {words.past}"
        elif self._aggregates.get(name) == "distinct":
            text = words.distinct(value, action.property or "value")
        else:  # the property aggregate
            amount = "in all" if action.aggregate == "sum" else "at most"
            text = capitalize(f"{words.past} ({action.property} {amount}: {count_text(value)})")
        return text + (self._context_text(feature, value) if positive else "")

    def _activity_text(
        self, group: str, values: np.ndarray, carrier: str | None, positive: bool
    ) -> tuple[str | None, str] | None:
        get = lambda name: self._value(values, name)  # noqa: E731
        if group == "momentum":
            days = window_days_of(carrier or "") or 7
            return self._momentum(
                get(_events_in(days)), get(f"activity_trend_{days}d"), positive, days
            )

        def usable(feature: str, value: float) -> bool:
            return math.isfinite(value) and (value > 0 or not positive)

        measure = carrier
        if measure is None:
            return None
        # a team and its champion are stated by one figure each, whatever carried them
        measure = {"team": "active_users_7d", "champion": "top_user_events_count"}.get(
            group, measure
        )
        value = get(measure)
        if not usable(measure, value):
            return None
        n = count_text(value)
        if group == "breadth":
            text = f"Uses {n} of {len(self.definitions.actions)} key actions"
        elif group == "team":
            active, members = count_text(get("active_users_7d")), count_text(get("active_users"))
            text = f"{active} of {members} members active in the last 7 days"
        elif group == "growth":
            text = (
                "No new members in the last 7 days"
                if value == 0
                else (ACTIVITY_TEXT["new_users_7d"].format(n=n))
            )
        elif group == "champion":
            top, share = get("top_user_events_count"), get("top_user_events_share")
            text = (
                f"Most engaged member: {count_text(top)} events "
                f"({percent_text(share)}% of the team's)"
            )
        elif measure.startswith("active_days_"):  # active on n of the last N days
            text = active_days_text(value, window_days_of(measure) or 7)
        elif measure.startswith("events_count_"):
            phrase = window_phrase(window_days_of(measure) or 7)
            text = f"No events {phrase}" if value == 0 else f"{n} events {phrase}"
        else:
            text = ACTIVITY_TEXT[measure].format(n=n)
        return measure, text + (self._context_text(measure, value) if positive else "")

    @staticmethod
    def _momentum(
        last_week: float, trend: float, positive: bool, days: int = 7
    ) -> tuple[str, str] | None:
        """Up or down as the two windows' counts say (7 days unless a longer or shorter
        window carried the contribution); left out where they contradict the direction
        of the contribution."""
        if not math.isfinite(last_week) or not math.isfinite(trend):
            return None
        measure, phrase, before_words = _events_in(days), window_phrase(days), window_before(days)
        before = previous_week(last_week, trend)
        total = last_week + before
        exact = total > 0 and abs((last_week - before) / total - trend) <= 0.01
        if last_week == 0:
            if positive:
                return None
            if trend <= -1:
                return measure, f"No events {phrase} (active {before_words})"
            return measure, f"No events {window_phrase(2 * days)}"
        # the direction is the trend's sign (last week vs the one before), whatever the
        # rounding of the count before; that count is shown only when it is exact
        direction = "up" if trend > 0 else "down" if trend < 0 else None
        if direction is None or (direction == "up") != positive:
            return None
        head = f"Activity {direction}: {count_text(last_week)} events {phrase}"
        # a rounded count before that ties or crosses the last one would contradict the
        # direction in the same sentence ("up: 1 vs 1"): then the count is left out
        agrees = before < last_week if direction == "up" else before > last_week
        if exact and agrees:
            return measure, f"{head} vs {count_text(before)} {before_words}"
        word = "more" if direction == "up" else "fewer"
        return measure, f"{head}, {word} than {before_words}"


def _events_in(days: int) -> str:
    """The entity's event count over the last `days` (a window feature)."""
    return f"events_count_{days}d"
