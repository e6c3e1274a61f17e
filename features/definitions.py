"""Feature definitions, declared once from the spec and reused everywhere.

Feast's idea without its machinery: the same `FeatureDefinitions` object names the
features and drives their computation for historical snapshots (training) and for one
entity's events in an HTTP request (serving), so the two cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pql.features.spec import BASE_WINDOW_DAYS, Monotone, Spec

#: Measures computed for every action, in output order.
ACTION_MEASURES = ("count", "count_7d", "active_days", "hours_to_first", "hours_since_last")
#: Measures whose larger values mean "more of the action" (monotone constraints apply).
COUNT_MEASURES = ("count", "count_7d", "active_days")

#: Entity-wide activity features, in output order.
ACTIVITY_FEATURES = (
    "tenure_days",
    "events_count",
    "events_count_7d",
    "active_days",
    "active_days_7d",
    "sessions_count",
    "actions_breadth",
    "longest_streak_days",
    "activity_trend_7d",
    "hours_since_last_event",
)
#: Features only an account (a team of users) has: how many members use the product, how
#: much of the team was active lately, whether it is growing, and whether activity rests
#: on one champion (top user) or is spread across the team.
ACCOUNT_FEATURES = (
    "active_users",
    "active_users_7d",
    "active_users_share_7d",
    "new_users_7d",
    "top_user_events_count",
    "top_user_events_share",
)
#: Per action, for accounts: how many distinct members did it ("3 of 5 members ...").
ACCOUNT_ACTION_MEASURES = ("users",)

WEEK_MS = 7 * 24 * 3600 * 1000
DAY_LENGTH_MS = 24 * 3600 * 1000
#: Shortest extra window with its own active-days feature: within 24 hours "active days"
#: would only say whether the window crossed midnight.
MIN_ACTIVE_DAYS_WINDOW = 2
_WINDOWED = re.compile(r"_(\d+)d$")


def window_days_of(name: str) -> int | None:
    """The window length a feature name ends with (`count_28d` -> 28), else None."""
    found = _WINDOWED.search(name)
    return int(found.group(1)) if found else None


def window_phrase(days: int) -> str:
    """How a person says a recent window: the exact hours before the cutoff."""
    return "in the last 24 hours" if days == 1 else f"in the last {days} days"


def window_activity_features(days: int) -> tuple[str, ...]:
    """Entity-wide features of one extra window (the 7-day ones are `ACTIVITY_FEATURES`)."""
    names = [f"events_count_{days}d"]
    if days >= MIN_ACTIVE_DAYS_WINDOW:
        names.append(f"active_days_{days}d")
    return (*names, f"activity_trend_{days}d")


#: Features whose value is set by *when* a row is scored, not by what the entity did:
#: its age, and the hours since its last activity (per entity and per action). Scoring
#: at another moment than the training cutoffs (midnight instead of mid-day, year-old
#: freemium users instead of day-14 trials) moves them; retraining cannot.
MOMENT_FEATURES = frozenset({"tenure_days", "hours_since_last_event"})
MOMENT_SUFFIX = "_hours_since_last"


def is_moment_feature(name: str) -> bool:
    """True for a feature set by the scoring moment rather than by behaviour."""
    return name in MOMENT_FEATURES or name.endswith(MOMENT_SUFFIX)


@dataclass(frozen=True)
class ActionDefinition:
    name: str
    events: frozenset[str]
    property_column: str | None = None
    aggregate: str | None = None
    direction: Monotone = Monotone.increasing
    account_level: bool = False
    #: recent windows besides 7 days (`features.windows_days`): one count each
    extra_windows: tuple[int, ...] = ()

    @property
    def window_measures(self) -> tuple[str, ...]:
        """`count_1d`, `count_28d`, ...: the action's counts in the extra windows."""
        return tuple(f"count_{days}d" for days in self.extra_windows)

    @property
    def property_feature(self) -> str | None:
        """`upload_file_bytes_sum`: the action's property aggregate, if it has one.

        Export properties may be dotted or carry `$` (`plan.seats`, `$duration`); the
        feature name keeps letters, digits and `_` only, so rules can name it."""
        if self.property_column is None:
            return None
        column = re.sub(r"[^0-9A-Za-z_]+", "_", self.property_column).strip("_") or "property"
        return f"{self.name}_{column}_{self.aggregate}"

    @property
    def feature_names(self) -> tuple[str, ...]:
        measures = ACTION_MEASURES + (ACCOUNT_ACTION_MEASURES if self.account_level else ())
        measures += self.window_measures
        names = tuple(f"{self.name}_{measure}" for measure in measures)
        extra = self.property_feature
        return (*names, extra) if extra else names


@dataclass(frozen=True)
class FeatureDefinitions:
    """Everything feature computation needs from a spec, in a hashable frozen form."""

    actions: tuple[ActionDefinition, ...]
    account_level: bool = False
    session_gap_minutes: float = 30.0
    #: recent windows besides the 7 days every spec has, ascending
    extra_windows: tuple[int, ...] = ()
    #: IANA zone whose calendar days active days and streaks count
    timezone: str = "UTC"

    @classmethod
    def from_spec(cls, spec: Spec) -> FeatureDefinitions:
        extra = tuple(d for d in spec.features.windows_days if d != BASE_WINDOW_DAYS)
        actions = tuple(
            ActionDefinition(
                name=name,
                events=frozenset(action.events),
                property_column=action.property,
                aggregate=action.aggregate,
                direction=action.direction(),
                account_level=spec.entity == "account",
                extra_windows=extra,
            )
            for name, action in spec.actions.items()
        )
        return cls(
            actions=actions,
            account_level=spec.entity == "account",
            session_gap_minutes=spec.features.session_gap_minutes,
            extra_windows=extra,
            timezone=spec.timezone,
        )

    @property
    def window_features(self) -> tuple[str, ...]:
        """Entity-wide features of the extra windows, in output order."""
        return tuple(name for days in self.extra_windows for name in window_activity_features(days))

    @property
    def vocabulary(self) -> tuple[str, ...]:
        """Every event name some action counts, sorted: event codes index into it."""
        return tuple(sorted(set().union(*(a.events for a in self.actions))))

    @property
    def names(self) -> list[str]:
        """All feature columns, in the order every frame and model uses them."""
        names = list(ACTIVITY_FEATURES)
        if self.account_level:
            names += ACCOUNT_FEATURES
        names += self.window_features
        for action in self.actions:
            names += action.feature_names
        return names

    @property
    def property_columns(self) -> tuple[str, ...]:
        """Columns read as numbers (summed or maxed); distinct ones are `distinct_columns`."""
        return self._property_columns(distinct=False)

    @property
    def distinct_columns(self) -> tuple[str, ...]:
        """Columns whose distinct values an action counts: compared as text ids."""
        return self._property_columns(distinct=True)

    def _property_columns(self, *, distinct: bool) -> tuple[str, ...]:
        columns = {
            a.property_column
            for a in self.actions
            if a.property_column and (a.aggregate == "distinct") == distinct
        }
        return tuple(sorted(columns))

    def monotone_directions(self) -> dict[str, int]:
        """Feature -> +1 / -1 for count-like action features; others are unconstrained."""
        sign = {Monotone.increasing: 1, Monotone.decreasing: -1, Monotone.none: 0}
        directions = {}
        measures = COUNT_MEASURES + (ACCOUNT_ACTION_MEASURES if self.account_level else ())
        for action in self.actions:
            for measure in measures + action.window_measures:
                directions[f"{action.name}_{measure}"] = sign[action.direction]
            if action.aggregate == "distinct" and action.property_feature:
                # more different items is more of the action, like a count
                directions[action.property_feature] = sign[action.direction]
        return directions

    def action_of(self, feature: str) -> str | None:
        """The action a feature belongs to (reasons group contributions by it)."""
        for action in self.actions:
            if feature in action.feature_names:
                return action.name
        return None
