"""Plain-language reasons from exact TreeSHAP contributions.

DESIGN section 4: LightGBM's `pred_contrib` gives each feature's exact contribution in
log-odds. All features of one action sum into one reason (a sales rep thinks "invited
teammates", not "invite_teammate_count_7d"), reasons are sorted by contribution, and
the text is the action's template filled with the entity's own values, plus context
from the training distribution ("more than 90% of trial users").
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pql.features.definitions import ACCOUNT_FEATURES, ACTIVITY_FEATURES, FeatureDefinitions
from pql.features.spec import ActionKind, Spec

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

POSITIVE_ACTIVITY_TEXT = {
    "tenure": "{tenure_days:g} days into the trial",
    "activity": "Active on {active_days} days ({events_count} events so far)",
    "breadth": "Uses {actions_breadth} of {n_actions} key features",
    "momentum": "Activity up: {events_count_7d} events this week vs {events_prev_7d} before",
    "recency": "Active {recency}",
    "team": "{active_users_7d} of {active_users} members active this week",
    "growth": "Team growing: {new_users_7d} new member(s) this week",
    "champion": "Most engaged member: {top_user_events_count} events ({top_share}% of the team's)",
}
NEGATIVE_ACTIVITY_TEXT = {
    "tenure": "{tenure_days:g} days into the trial",
    "activity": "Active on only {active_days} days ({events_count} events)",
    "breadth": "Uses only {actions_breadth} of {n_actions} key features",
    "momentum": "Activity down: {events_count_7d} events this week vs {events_prev_7d} before",
    "recency": "No activity in the last {days_since_last} days",
    "team": "Only {active_users_7d} of {active_users} members active this week",
    "growth": "No new members this week",
    "champion": "Activity rests on one member ({top_share}% of the team's events)",
}
TOP_PERCENT_CONTEXT = 75  # add "more than N% of trial users" from this percentile up
MAX_PERCENT_CONTEXT = 95


@dataclass(frozen=True)
class Reason:
    action: str
    value: float | None
    contribution: float
    text: str

    def as_dict(self) -> dict[str, object]:
        value = None if self.value is None or not math.isfinite(self.value) else self.value
        return {
            "action": self.action,
            "value": value,
            "contribution": round(self.contribution, 6),
            "text": self.text,
        }


def feature_groups(definitions: FeatureDefinitions) -> list[str]:
    """Reason group of every feature, aligned with `definitions.names`."""
    return [definitions.action_of(name) or ACTIVITY_GROUPS[name] for name in definitions.names]


def _count(value: float) -> str:
    return "0" if not math.isfinite(value) else f"{value:,.0f}"


#: "1 teammates" / "1 support tickets": a plural noun (not ending "ss") after a lone 1.
_ONE_PLURAL = re.compile(r"(?<![\d.,])\b1 ((?:[a-z]+ )?\w*[^s\W])s\b")


def singular(text: str) -> str:
    """Templates are written for many ("Invited {count} teammates"); fix the count of 1."""
    return _ONE_PLURAL.sub(r"1 \1", text)


def _percent(share: float) -> str:
    return "0" if not math.isfinite(share) else f"{100 * share:.0f}"


def _days(hours: float) -> str:
    return "n/a" if not math.isfinite(hours) else f"{hours / 24:.0f}"


def _main_measure(template: str) -> str:
    """The measure a template talks about, so its context compares like with like."""
    for measure in ("count_7d", "active_days", "count"):
        if "{" + measure in template:
            return measure
    return "count"


def _recency(hours: float) -> str:
    if not math.isfinite(hours):
        return "never"
    if hours < 1:
        return "within the last hour"
    if hours < 24:
        return f"{hours:.0f} hours ago"
    return f"{hours / 24:.0f} days ago"


class ReasonWriter:
    """Turns one entity's feature values and contributions into ranked reasons."""

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

    def grouped(self, contributions: np.ndarray) -> np.ndarray:
        """(n, n_features) contributions -> (n, n_groups) sums per reason group."""
        return contributions @ self._membership

    def _value(self, values: np.ndarray, name: str) -> float:
        position = self._position.get(name)
        return float(values[position]) if position is not None else float("nan")

    def _context(self, feature: str, value: float) -> str:
        percentiles = self.reference.get(feature)
        if not percentiles or not math.isfinite(value) or value <= 0:
            return ""
        below = np.searchsorted(np.asarray(percentiles), value, side="left") - 1
        # above every training value is still "more than 95%": never "more than 100%"
        share = min(int(max(int(below), 0) // 5 * 5), MAX_PERCENT_CONTEXT)
        return f" - more than {share}% of trial users" if share >= TOP_PERCENT_CONTEXT else ""

    def _people(self, template: str, fields: Mapping[str, object]) -> str:
        """Accounts: name how many members are behind an action ("3 of 5 members")."""
        if not self.definitions.account_level or "{users" in template:
            return ""
        return f" ({fields['users']} of {fields['members']} members)"

    def _action_text(self, name: str, values: np.ndarray, positive: bool) -> tuple[float, str]:
        action = self.spec.actions[name]
        get = lambda measure: self._value(values, f"{name}_{measure}")  # noqa: E731
        count = get("count")
        prop = next((a.property_feature for a in self.definitions.actions if a.name == name), None)
        fields = {
            "action": name.replace("_", " "),
            "count": _count(count),
            "count_7d": _count(get("count_7d")),
            "active_days": _count(get("active_days")),
            "hours_to_first": _count(get("hours_to_first")),
            "days_since_last": _days(get("hours_since_last")),
            "value": _count(self._value(values, prop)) if prop else "n/a",
            "users": _count(get("users")),
            "members": _count(self._value(values, "active_users")),
        }
        template = action.reason or "{action}: {count} times"
        if positive and not count:  # e.g. no support tickets: absence is what helps
            return count, f"No {fields['action']} so far"
        if positive:
            measure = _main_measure(template)
            value = get(measure)
            text = template.format(**fields) + self._people(template, fields)
            return value, text + self._context(f"{name}_{measure}", value)
        if action.negative_reason:
            return count, action.negative_reason.format(**fields)
        if not count:
            return count, f"Has not used {fields['action']} yet"
        if action.kind is ActionKind.negative:  # the action itself is what holds it back
            return count, template.format(**fields)
        return count, template.format(**fields) + " - fewer than converting users typically"

    def _activity_text(self, group: str, values: np.ndarray, positive: bool) -> tuple[float, str]:
        get = lambda name: self._value(values, name)  # noqa: E731
        last_week = get("events_count_7d")
        trend = get("activity_trend_7d")
        # trend = (last - prev) / (last + prev)  =>  prev = last * (1 - trend) / (1 + trend)
        previous = last_week * (1 - trend) / (1 + trend) if trend > -1 else float("nan")
        fields = {
            "tenure_days": round(get("tenure_days"), 1),
            "active_days": _count(get("active_days")),
            "events_count": _count(get("events_count")),
            "events_count_7d": _count(last_week),
            "events_prev_7d": _count(previous) if math.isfinite(previous) else "some",
            "actions_breadth": _count(get("actions_breadth")),
            "n_actions": len(self.definitions.actions),
            "recency": _recency(get("hours_since_last_event")),
            "days_since_last": _days(get("hours_since_last_event")),
            "active_users": _count(get("active_users")),
            "active_users_7d": _count(get("active_users_7d")),
            "new_users_7d": _count(get("new_users_7d")),
            "top_user_events_count": _count(get("top_user_events_count")),
            "top_share": _percent(get("top_user_events_share")),
        }
        main_feature = {
            "tenure": "tenure_days",
            "activity": "active_days",
            "breadth": "actions_breadth",
            "momentum": "activity_trend_7d",
            "recency": "hours_since_last_event",
            "team": "active_users_share_7d",
            "growth": "new_users_7d",
            "champion": "top_user_events_count",
        }[group]
        templates = POSITIVE_ACTIVITY_TEXT if positive else NEGATIVE_ACTIVITY_TEXT
        if group == "recency" and not positive and not math.isfinite(get(main_feature)):
            return get(main_feature), "No activity yet"
        return get(main_feature), templates[group].format(**fields)

    def reasons(
        self, values: np.ndarray, grouped: np.ndarray, top_positive: int = 3, top_negative: int = 2
    ) -> tuple[list[Reason], list[Reason]]:
        """Top reasons for one entity: why high (positive), what holds it back (negative)."""
        positive, negative = self.select(grouped[None, :], top_positive, top_negative)
        return (
            [self._reason(i, values, grouped, True) for i in positive[0] if i >= 0],
            [self._reason(i, values, grouped, False) for i in negative[0] if i >= 0],
        )

    @staticmethod
    def select(
        grouped: np.ndarray, top_positive: int, top_negative: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Group indices of each row's strongest positive / negative reasons (-1 = none).

        Vectorised over rows: batch scoring explains a million entities without a
        Python loop per row for the ranking (only the final texts are per row).
        """
        down = np.argsort(-grouped, axis=1, kind="stable")[:, :top_positive]
        up = np.argsort(grouped, axis=1, kind="stable")[:, :top_negative]
        positive = np.where(np.take_along_axis(grouped, down, axis=1) > 0, down, -1)
        negative = np.where(np.take_along_axis(grouped, up, axis=1) < 0, up, -1)
        return positive, negative

    def texts(
        self, values: np.ndarray, grouped: np.ndarray, selected: np.ndarray, positive: bool
    ) -> list[list[str]]:
        """Reason texts for selected groups of many rows (batch scoring's CRM columns)."""
        return [
            [self._reason(i, values[row], grouped[row], positive).text for i in picks if i >= 0]
            for row, picks in enumerate(selected)
        ]

    def _reason(self, index: int, values: np.ndarray, grouped: np.ndarray, positive: bool):
        group = self.group_names[index]
        if group in self.spec.actions:
            value, text = self._action_text(group, values, positive)
        else:
            value, text = self._activity_text(group, values, positive)
        return Reason(
            action=group, value=value, contribution=float(grouped[index]), text=singular(text)
        )
