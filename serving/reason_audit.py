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

from pql.features.spec import ActionKind, Spec
from pql.serving.attribute_input import model_frame
from pql.serving.fit_reasons import FitReasonAuditor
from pql.serving.reasons import CONTEXT_GROUPS, Reason, feature_groups
from pql.serving.scoring import Scorer

NUMBER = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)")
PERCENT_CONTEXT = re.compile(r"more than (\d+)% of users")
MOMENTUM = re.compile(r"Activity (up|down): ([\d,]+) events? in the last 7 days vs ([\d,]+)")
ABSENCE = re.compile(r"^(Has not|No )|\bnot yet\b", re.I)
UNVERIFIABLE = re.compile(
    r"\b(fewer than|only|less than)\b(?! the 7 before)|\bmore than (?!\d+% of users|the 7)", re.I
)
#: window lengths are words of the sentence, not values: removed before numbers are read
WINDOW_PHRASES = re.compile(r"\b(last (7|14) days|the 7 before|of the last 7 days)\b")
TOLERANCE = 0.51  # numbers are shown rounded to whole units


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
            now, before = _number(momentum.group(2)), _number(momentum.group(3))
            last = row.get("events_count_7d", float("nan"))
            trend = row.get("activity_trend_7d", float("nan"))
            if not _same(now, last):
                problems.append(f"says {now:g} events in the last 7 days, the data {last:g}")
            if now + before > 0 and abs((now - before) / (now + before) - trend) > 0.02:
                problems.append(f"says {before:g} the week before; the trend says otherwise")
            if (momentum.group(1) == "up") != (now > before):
                problems.append(f"says activity {momentum.group(1)} for {now:g} vs {before:g}")
            allowed.add(before)
        elif text.startswith("Activity "):  # "Activity up: 11 events ..., more than the 7 before"
            trend = row.get("activity_trend_7d", float("nan"))
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
        for token in NUMBER.findall(WINDOW_PHRASES.sub("", text)):
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

    def _presence(self, group: str, row: dict[str, float], text: str, positive: bool):
        action = self.spec.actions.get(group)
        absent = bool(ABSENCE.search(text))
        if action is None:
            claims = {
                "No events in the last 7 days": "events_count_7d",
                "No events in the last 14 days": "events_count_7d",
                "Active on none of the last 7 days": "active_days_7d",
                "No new members in the last 7 days": "new_users_7d",
            }
            for claim, feature in claims.items():
                if text.startswith(claim) and row.get(feature, 0) > 0:
                    return [f"says '{claim}', the data has {feature} = {row[feature]:g}"]
            return []
        count = row.get(f"{group}_count", float("nan"))
        did = math.isfinite(count) and count > 0
        week = row.get(f"{group}_count_7d", float("nan"))
        problems = []
        if absent and "7 days" in text:
            if math.isfinite(week) and week > 0:
                problems.append("says not done in the last 7 days, the data says it was")
        elif absent and did:
            problems.append(f"says not done, the data counts {count:g}")
        elif not absent and not did:
            problems.append("names as done an action the data never counts")
        negative_kind = action.kind is ActionKind.negative
        if positive and (did == negative_kind):
            problems.append("a reason for a high score that the data reads the other way")
        return problems


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
    for entity_id, values, (positive, negative) in zip(ids, features, explained, strict=True):
        row = dict(zip(names, values.tolist(), strict=True))
        for reason in positive:
            contradictions += auditor.check(str(entity_id), row, reason, True)
        for reason in negative:
            contradictions += auditor.check(str(entity_id), row, reason, False)
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
