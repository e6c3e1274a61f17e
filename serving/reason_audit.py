"""A reason audit that can fail: every reason text checked against the entity's features.

The writer (`reasons.py`) decides what to say; this module re-reads what was said and
checks it against the feature values on its own terms:

- every number in a text is one of the entity's own values for that reason's group (or
  a window length, the number of key actions, a literal of the spec's template);
- "more than N% of users" holds against the training percentiles of the stated measure;
- "Activity up/down: a ... vs b" has a > b (a < b), with a and b the two weeks' counts;
- absence ("Has not ...", "No ...") means the count is zero; a positive reason for a
  usage action means it was done; a negative-kind action helps only when absent;
- time context (tenure, recency) is never a reason; no unverifiable comparison
  ("fewer than converting users", "only") is made.

`pql score --audit-reasons` runs it over a scoring run; the tests run it over the demo
populations, the account-level demo, Sparkify and a random non-monotone model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pql.features.spec import BASE_WINDOW_DAYS, ActionKind, Spec
from pql.serving.attribute_input import model_frame
from pql.serving.fit_reasons import FitReasonAuditor
from pql.serving.reasons import CONTEXT_GROUPS, Reason, feature_groups
from pql.serving.scoring import Scorer
from pql.serving.shape_words import TRIAL_WORD, tenure_problems

NUMBER = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)")
PERCENT_CONTEXT = re.compile(r"more than (\d+)% of users")
MOMENTUM = re.compile(
    r"Activity (up|down): ([\d,]+) events? in the last (\d+) (days|hours) vs ([\d,]+)"
)
#: "in the last 28 days", "in the last 24 hours": which window a text speaks of
IN_WINDOW = re.compile(r"in the last (\d+) (days|hours)")
#: "Viewed pricing 3 times in the last 28 days" / "... once in the last 24 hours"
WINDOW_COUNT = re.compile(r"\b(once|([\d,]+) times) in the last (\d+) (days|hours)")
EVENTS_IN_WINDOW = re.compile(r"^([\d,]+) events in the last (\d+) (days|hours)")
ACTIVE_OF_WINDOW = re.compile(r"^Active on ([\d,]+) of the last (\d+) days")
EVERY_DAY = re.compile(r"^Active every day of the last (\d+) (days|hours)")
DISTINCT = re.compile(r"([\d,]+) distinct ")
ON_DAYS = re.compile(r" on ([\d,]+) (?:different )?days?\b")
ABSENCE = re.compile(r"^(Has not|No )|\bnot yet\b", re.I)
UNVERIFIABLE = re.compile(
    r"\b(fewer than|only|less than)\b(?! the (\d+|24 hours) before)"
    r"|\bmore than (?!\d+% of users|the (\d+|24 hours) before)",
    re.I,
)


def window_phrases(windows: list[int]) -> re.Pattern[str]:
    """Window lengths are words of the sentence, not values: removed before numbers are
    read. Only the spec's windows (and twice them: "no events in the last 14 days")."""
    lengths = sorted({*windows, *(2 * d for d in windows)}, reverse=True)
    days = "|".join(str(d) for d in lengths)
    return re.compile(
        rf"\b(last ({days}) days|last 24 hours|the ({days}|24 hours) before"
        rf"|of the last ({days}) days)\b"
    )


#: the default spec's phrases (kept for callers that audit a 7-day-only text)
WINDOW_PHRASES = window_phrases([BASE_WINDOW_DAYS])


def _window_days(amount: str, unit: str) -> int:
    """ "28", "days" -> 28; "24", "hours" -> 1."""
    return int(amount) // 24 if unit == "hours" else int(amount)


def _windowed(name: str, days: int) -> str:
    """The feature of `name`'s measure over the last `days` (count -> count_28d)."""
    return f"{name}_{days}d"


TOLERANCE = 0.51  # numbers are shown rounded to whole units
AGO = re.compile(r"^(Signed up|Last active) (within the last hour|(\d+) (hour|day)s? ago)$")


@dataclass(frozen=True)
class Contradiction:
    entity_id: str
    text: str
    problem: str


@dataclass(frozen=True)
class AuditReport:
    checked_entities: int
    checked_reasons: int
    contradictions: list[Contradiction]

    @property
    def ok(self) -> bool:
        return not self.contradictions


def _number(text: str) -> float:
    return float(text.replace(",", ""))


class ReasonAuditor:
    """Checks reasons of one model's entities against their feature values."""

    def __init__(self, spec: Spec, feature_names: list[str], groups: list[str], reference):
        self.spec = spec
        self.names = feature_names
        self.groups = groups
        self.reference = reference
        self.window_phrases = window_phrases(list(spec.features.windows_days))
        self.distinct_features = {
            name: f for name, f in _distinct_features(spec).items() if f in feature_names
        }
        self.literals = {
            name: {_number(n) for n in NUMBER.findall(" ".join(filter(None, texts)))}
            for name, texts in (
                (n, (a.reason, a.negative_reason, a.label, a.absent_reason))
                for n, a in spec.actions.items()
            )
        }

    @classmethod
    def for_scorer(cls, scorer: Scorer) -> ReasonAuditor:
        definitions = scorer.bundle.definitions
        return cls(
            scorer.bundle.spec,
            list(definitions.names),
            feature_groups(definitions),
            scorer.bundle.reference,
        )

    def allowed_numbers(self, group: str, row: dict[str, float]) -> set[float]:
        """Every number a text of this group may state, from the entity's own values."""
        values = {len(self.spec.actions)} | self.literals.get(group, set())
        for name, owner in zip(self.names, self.groups, strict=True):
            if owner != group and not (group == "team" and name == "active_users"):
                continue
            value = row.get(name, float("nan"))
            if not math.isfinite(value):
                continue
            values |= {round(value), round(value / 24), round(100 * value)}
        if group == "momentum":
            values.add(round(row.get("events_count_7d", float("nan"))))
        members = row.get("active_users", float("nan"))
        if math.isfinite(members):  # "3 of 5 members": the team's size
            values.add(round(members))
        return {float(v) for v in values}

    def check(self, entity_id: str, row: dict[str, float], reason: Reason, positive: bool):
        problems: list[str] = []
        group, text = reason.action, reason.text
        if group in CONTEXT_GROUPS:
            problems.append("time context given as a reason")
        if reason.measure is not None:
            shown = row.get(reason.measure, float("nan"))
            if reason.value is not None and not _same(shown, reason.value):
                problems.append(f"value {reason.value} is not the entity's {reason.measure}")
        momentum = MOMENTUM.search(text)
        allowed = self.allowed_numbers(group, row)
        if momentum:
            now, before = _number(momentum.group(2)), _number(momentum.group(5))
            days = _window_days(momentum.group(3), momentum.group(4))
            last = row.get(_windowed("events_count", days), float("nan"))
            trend = row.get(_windowed("activity_trend", days), float("nan"))
            allowed.add(last if math.isfinite(last) else 0.0)
            if not _same(now, last):
                problems.append(f"says {now:g} events in the last {days} days, the data {last:g}")
            if now + before > 0 and abs((now - before) / (now + before) - trend) > 0.02:
                problems.append(f"says {before:g} the week before; the trend says otherwise")
            if (momentum.group(1) == "up") != (now > before):
                problems.append(f"says activity {momentum.group(1)} for {now:g} vs {before:g}")
            allowed.add(before)
        elif text.startswith("Activity "):  # "Activity up: 11 events ..., more than the 7 before"
            window = IN_WINDOW.search(text)
            days = _window_days(*window.groups()) if window else BASE_WINDOW_DAYS
            trend = row.get(_windowed("activity_trend", days), float("nan"))
            if text.startswith("Activity up") != (trend > 0) or (
                text.startswith("Activity down") != (trend < 0)
            ):
                problems.append(f"says '{text.split(':')[0]}' with a trend of {trend:.2f}")
        context = PERCENT_CONTEXT.search(text)
        if context:
            share = int(context.group(1))
            measure = reason.measure or ""
            percentiles = self.reference.get(measure)
            value = row.get(measure, float("nan"))
            if not percentiles or not value > percentiles[share]:
                problems.append(f"'more than {share}% of users' is not true of {measure}")
            allowed.add(float(share))
        problems += self._stated_counts(group, row, text)
        for token in NUMBER.findall(self.window_phrases.sub("", text)):
            number = _number(token)
            if not any(abs(number - a) <= TOLERANCE for a in allowed):
                problems.append(f"the number {token} is none of the entity's values")
        if UNVERIFIABLE.search(text):
            problems.append("an unverifiable comparison")
        problems += self._presence(group, row, text, positive)
        action = self.spec.actions.get(group)
        stated = row.get(reason.measure or "", float("nan"))
        if (
            positive
            and action is not None
            and action.kind is not ActionKind.negative
            and reason.measure is not None
            and not reason.measure.endswith(("_hours_to_first", "_hours_since_last"))
            and stated == 0
        ):
            problems.append(f"a reason for a high score that states {reason.measure} = 0")
        return [Contradiction(entity_id, text, p) for p in problems]

    def _stated_counts(self, group: str, row: dict[str, float], text: str) -> list[str]:
        """A count said of a window, of distinct values or of days is exactly the
        entity's value of that very feature (not merely one of the group's values)."""
        stated: list[tuple[str, float]] = []
        action = self.spec.actions.get(group)
        if action is not None:
            found = WINDOW_COUNT.search(text)
            if found:
                n = 1.0 if found.group(1) == "once" else _number(found.group(2))
                days = _window_days(found.group(3), found.group(4))
                stated.append((_windowed(f"{group}_count", days), n))
            found = DISTINCT.search(text)
            if found:
                feature = self.distinct_features.get(group, f"{group}_distinct")
                stated.append((feature, _number(found.group(1))))
                count = row.get(f"{group}_count", float("nan"))
                if _number(found.group(1)) > count:
                    return [f"says {found.group(1)} distinct values from {count:g} events"]
            found = ON_DAYS.search(text)
            if found:
                stated.append((f"{group}_active_days", _number(found.group(1))))
        else:
            found = EVENTS_IN_WINDOW.search(text)
            if found:
                days = _window_days(found.group(2), found.group(3))
                stated.append((_windowed("events_count", days), _number(found.group(1))))
            found = EVERY_DAY.search(text)
            if found:  # only when the window's every calendar day (days + 1) had events
                days = _window_days(found.group(1), found.group(2))
                value = row.get(_windowed("active_days", days), float("nan"))
                if not value > days:
                    return [f"says active every day of {days} days, active_days is {value:g}"]
            found = ACTIVE_OF_WINDOW.search(text)
            if found:
                n, days = _number(found.group(1)), int(found.group(2))
                stated.append((_windowed("active_days", days), n))
                if n > days:
                    return [f"says active on {n:g} of the last {days} days"]
        problems = []
        for feature, n in stated:
            value = row.get(feature, float("nan"))
            if not (math.isfinite(value) and abs(value - n) <= TOLERANCE):
                problems.append(f"says {n:g}, the entity's {feature} is {value:g}")
        return problems

    def check_context(
        self, entity_id: str, row: dict[str, float], context: list[str]
    ) -> list[Contradiction]:
        """The time context read back: tenure in the shape's words, last activity."""
        problems: list[Contradiction] = []
        tenure = row.get("tenure_days", float("nan"))
        since = row.get("hours_since_last_event", float("nan"))
        for text in context:
            found = tenure_problems(text, tenure, self.spec.shape, self.spec.trial_days)
            ago = AGO.match(text)
            if ago:
                hours = tenure * 24 if ago.group(1) == "Signed up" else since
                if not _ago_holds(ago.group(2), hours):
                    found.append(f"says '{ago.group(2)}'; the data says {hours:g} hours")
            if text == "No activity yet" and math.isfinite(since):
                found.append(f"says no activity; last event {since:g} hours before")
            problems += [Contradiction(entity_id, text, p) for p in found]
        return problems

    def _presence(self, group: str, row: dict[str, float], text: str, positive: bool):
        action = self.spec.actions.get(group)
        absent = bool(ABSENCE.search(text))
        window = IN_WINDOW.search(text)
        days = _window_days(*window.groups()) if window else None
        if action is None:
            claims = {
                "No events in the last": "events_count",
                "Active on none of the last": "active_days",
                "No new members in the last 7 days": "new_users_7d",
            }
            for claim, name in claims.items():
                if not text.startswith(claim):
                    continue
                if name == "new_users_7d":
                    feature = name
                else:
                    # "no events in the last 14 days": twice a window; its half is checked
                    length = days if days is not None else BASE_WINDOW_DAYS
                    if _windowed(name, length) not in self.names and length % 2 == 0:
                        length //= 2
                    feature = _windowed(name, length)
                    if feature not in self.names:
                        return [f"says '{text}' of a window this model has no feature for"]
                if row.get(feature, 0) > 0:
                    return [f"says '{claim}', the data has {feature} = {row[feature]:g}"]
            return []
        count = row.get(f"{group}_count", float("nan"))
        did = math.isfinite(count) and count > 0
        problems = []
        if absent and days is not None:
            week = row.get(_windowed(f"{group}_count", days), float("nan"))
            if not math.isfinite(week) or week > 0:
                problems.append(f"says not done in the last {days} days, the data says it was")
        elif absent and did:
            problems.append(f"says not done, the data counts {count:g}")
        elif not absent and not did:
            problems.append("names as done an action the data never counts")
        negative_kind = action.kind is ActionKind.negative
        if positive and (did == negative_kind):
            problems.append("a reason for a high score that the data reads the other way")
        return problems


def _ago_holds(words: str, hours: float) -> bool:
    """ "5 days ago" / "3 hours ago" / "within the last hour" re-read against hours."""
    if not math.isfinite(hours):
        return False
    if words == "within the last hour":
        return hours < 1
    count, unit = words.split()[:2]
    size = 24.0 if unit.startswith("day") else 1.0
    in_unit = hours >= 24.0 if size == 24 else 1.0 <= hours < 24.0
    return in_unit and abs(hours / size - int(count)) <= 0.5 + 1e-9


def _same(a: float, b: float) -> bool:
    if not (math.isfinite(a) and math.isfinite(b)):
        return not math.isfinite(a) and not math.isfinite(b)
    return abs(a - b) <= 1e-6 * max(1.0, abs(a))


def audit_scores(scorer: Scorer, frame: pd.DataFrame, id_column: str = "entity_id") -> AuditReport:
    """Score `frame`'s feature rows, explain them and audit every reason text."""
    names = list(scorer.bundle.feature_names)
    if frame.empty:  # nothing scored, nothing said: nothing to contradict
        return AuditReport(0, 0, [])
    frame, _ = model_frame(scorer.bundle.encoding, frame)  # raw fit attributes -> codes
    features = frame[names].to_numpy(np.float64)
    auditor = ReasonAuditor.for_scorer(scorer)
    scores = scorer.predict(features)
    explained = scorer.reasons(features, scores)
    contradictions: list[Contradiction] = []
    checked = 0
    ids = frame[id_column].astype(str).to_numpy() if id_column in frame else range(len(frame))
    contexts = scorer.context(features)
    for entity_id, values, (positive, negative), context in zip(
        ids, features, explained, contexts, strict=True
    ):
        row = dict(zip(names, values.tolist(), strict=True))
        for reason in positive:
            contradictions += auditor.check(str(entity_id), row, reason, True)
        for reason in negative:
            contradictions += auditor.check(str(entity_id), row, reason, False)
        for reason in (*positive, *negative):
            if auditor.spec.shape == "freemium" and TRIAL_WORD.search(reason.text):
                contradictions.append(
                    Contradiction(str(entity_id), reason.text, "speaks of a trial to a free user")
                )
        contradictions += auditor.check_context(str(entity_id), row, context)
        checked += len(positive) + len(negative)
    if scorer.fit_writer:  # fit reasons: each states the entity's own level or number
        auditor_fit = FitReasonAuditor(scorer.fit_writer)
        fit = scorer.fit_reasons(features, scores)
        for entity_id, values, (positive_fit, negative_fit) in zip(ids, features, fit, strict=True):
            row = dict(zip(names, values.tolist(), strict=True))
            for fit_reason in [*positive_fit, *negative_fit]:
                contradictions += [
                    Contradiction(str(entity_id), fit_reason.text, problem)
                    for problem in auditor_fit.check(row, fit_reason)
                ]
            checked += len(positive_fit) + len(negative_fit)
    return AuditReport(len(frame), checked, contradictions)


def audit_rule_reasons(dataset, as_of) -> AuditReport:
    """The rules path (`pql score --rules`): every reason is a rule the entity meets, and
    every number in its text is one of the rule's own thresholds."""
    from pql.features.pipeline import live_features
    from pql.features.rules import parse_rule
    from pql.serving.batch import score_dataset_with_rules

    rules = dataset.spec.rules or []
    names = dataset.definitions.names
    by_text = {(rule.reason or f"{rule.name}: {rule.when}"): rule for rule in rules}
    frame, _ = live_features(dataset, as_of)
    features = frame.set_index(frame["entity_id"].astype(str))
    leads = score_dataset_with_rules(dataset, as_of).scored
    contradictions: list[Contradiction] = []
    checked = 0
    for lead in leads.itertuples():
        row = features.loc[str(lead.entity_id)]
        for text in (lead.reason_1, lead.reason_2, lead.reason_3):
            if not isinstance(text, str):
                continue
            checked += 1
            rule = by_text.get(text)
            if rule is None:
                contradictions.append(Contradiction(str(lead.entity_id), text, "no such rule"))
                continue
            columns = {name: np.asarray([row[name]], dtype=np.float64) for name in names}
            if not bool(parse_rule(rule.when, names)(columns)[0]):
                contradictions.append(
                    Contradiction(
                        str(lead.entity_id), text, f"the entity does not meet {rule.when}"
                    )
                )
            thresholds = {_number(n) for n in NUMBER.findall(rule.when)}
            for token in NUMBER.findall(text):
                if _number(token) not in thresholds:
                    contradictions.append(
                        Contradiction(str(lead.entity_id), text, f"{token} is not in {rule.when}")
                    )
    return AuditReport(len(leads), checked, contradictions)


def _distinct_features(spec: Spec) -> dict[str, str]:
    """Action -> its distinct-count feature (`view_item_item_id_distinct`)."""
    from pql.features.definitions import FeatureDefinitions

    return {
        action.name: action.property_feature
        for action in FeatureDefinitions.from_spec(spec).actions
        if action.aggregate == "distinct" and action.property_feature
    }
