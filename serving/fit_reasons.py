"""Fit reasons: who the lead is ("Company of 201-500 employees"), apart from behaviour.

A rep reads behaviour ("Invited 4 teammates") and fit ("Signed up with a work e-mail")
as different kinds of evidence, so they are explained apart: the behaviour reasons come
from the behaviour features' contributions only (`serving.reasons`), the fit reasons
from the attribute columns' contributions. The contribution decides *which* attributes
are named (largest first, by direction); the entity's own value decides *what* is said:

- a category states its level, in the spec's phrase for that level, else the
  attribute's `reason` template with {value}, else "Industry: retail";
- a number states the entity's number;
- an unknown value, or the pooled "other" level (several rare or unseen values, none of
  which can be named), gives no reason: saying less rather than something untrue.

`FitReasonAuditor` re-reads every text against the entity's values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from pql.features.attributes import AttributeEncoding
from pql.features.email_kind import PERSONAL, WORK
from pql.features.spec import AttributeColumn, Spec

#: Phrases of the derived e-mail kind when the spec gives none ("unknown" says nothing).
EMAIL_PHRASES = {WORK: "Signed up with a work e-mail", PERSONAL: "Signed up with a personal e-mail"}
NUMBER = re.compile(r"(?<![\w.])(-?\d[\d,]*(?:\.\d+)?)")
TOP_FIT_POSITIVE = 2
TOP_FIT_NEGATIVE = 1


@dataclass(frozen=True)
class FitReason:
    attribute: str
    value: str | float  # the entity's level (text) or number the reason states
    contribution: float  # the attribute's contribution, in log-odds
    text: str

    def as_dict(self) -> dict[str, object]:
        return {
            "attribute": self.attribute,
            "value": self.value,
            "contribution": round(self.contribution, 6),
            "text": self.text,
        }


def number_text(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _columns(spec: Spec) -> dict[str, AttributeColumn]:
    return {n: c for table in spec.data.attributes for n, c in table.columns.items()}


class FitReasonWriter:
    """Fit reasons of rows whose model columns are behaviour features, then attributes
    (`offset` = the number of behaviour features)."""

    def __init__(self, spec: Spec, encoding: AttributeEncoding, offset: int) -> None:
        self.encoding = encoding
        self.offset = offset
        self.names = encoding.names
        columns = _columns(spec)
        self.columns = {name: columns.get(name) for name in self.names}

    def __bool__(self) -> bool:
        return bool(self.names)

    def stated_value(self, name: str, code: float) -> str | float | None:
        """What a reason may state about this value: the level or the number (None:
        unknown, or the pooled "other")."""
        if self.encoding.kinds[name] == "numeric":
            return float(code) if math.isfinite(code) else None
        return self.encoding.level(name, code)

    def text(self, name: str, value: str | float) -> str | None:
        """The sentence for one attribute value (None: nothing worth saying)."""
        column = self.columns.get(name)
        kind = self.encoding.kinds[name]
        shown = number_text(value) if isinstance(value, float) else str(value)
        if column is not None and isinstance(value, str) and value in column.phrases:
            return column.phrases[value]
        if kind == "email_kind":
            return EMAIL_PHRASES.get(str(value))
        if column is not None and column.reason:
            return column.reason.format(value=shown)
        return f"{_label(name)}: {shown}"

    def explain(
        self,
        values: np.ndarray,
        contributions: np.ndarray,
        top_positive: int = TOP_FIT_POSITIVE,
        top_negative: int = TOP_FIT_NEGATIVE,
    ) -> list[tuple[list[FitReason], list[FitReason]]]:
        """(positive, negative) fit reasons per row; `values` and `contributions` are
        the model's columns (the base value column left out)."""
        values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        width = len(self.names)
        part = values[:, self.offset : self.offset + width]
        pulls = np.asarray(contributions)[:, self.offset : self.offset + width]
        return [
            (
                self._row(part[row], pulls[row], top_positive, positive=True),
                self._row(part[row], pulls[row], top_negative, positive=False),
            )
            for row in range(len(values))
        ]

    def _row(
        self, codes: np.ndarray, pulls: np.ndarray, limit: int, *, positive: bool
    ) -> list[FitReason]:
        sign = 1.0 if positive else -1.0
        order = np.argsort(-sign * pulls, kind="stable")
        reasons: list[FitReason] = []
        for position in order:
            if len(reasons) >= limit or sign * pulls[position] <= 0:
                break
            name = self.names[position]
            value = self.stated_value(name, float(codes[position]))
            text = None if value is None else self.text(name, value)
            if text is not None and value is not None:
                reasons.append(FitReason(name, value, float(pulls[position]), text))
        return reasons

    def texts(self, values: np.ndarray, contributions: np.ndarray) -> dict[str, list[str | None]]:
        """The leads file's columns: fit_reason_1, fit_reason_2, negative_fit_reason_1."""
        explained = self.explain(values, contributions)
        columns: dict[str, list[str | None]] = {
            "fit_reason_1": [],
            "fit_reason_2": [],
            "negative_fit_reason_1": [],
        }
        for positive, negative in explained:
            texts = [r.text for r in positive] + [None, None]
            columns["fit_reason_1"].append(texts[0])
            columns["fit_reason_2"].append(texts[1])
            columns["negative_fit_reason_1"].append(negative[0].text if negative else None)
        return columns


#: The leads file's fit reason columns, in order.
FIT_REASON_COLUMNS = ("fit_reason_1", "fit_reason_2", "negative_fit_reason_1")


class FitReasonAuditor:
    """Checks fit reasons against the entity's own model values, on its own terms."""

    def __init__(self, writer: FitReasonWriter) -> None:
        self.writer = writer

    def check(self, codes: dict[str, float], reason: FitReason) -> list[str]:
        """Problems of one reason (empty: it is true of the entity's values)."""
        name = reason.attribute
        if name not in self.writer.encoding.kinds:
            return [f"{name} is not an attribute of the model"]
        code = codes.get(name, math.nan)
        actual = self.writer.stated_value(name, code)
        if actual is None:
            return [f"states {reason.value!r} for {name}, whose value is unknown or pooled"]
        problems = []
        if isinstance(actual, float):
            if not isinstance(reason.value, float) or abs(actual - reason.value) > 1e-9:
                problems.append(f"states {reason.value!r} for {name}, the entity's is {actual:g}")
            column = self.writer.columns.get(name)
            literals = set(NUMBER.findall(column.reason or "")) if column is not None else set()
            for token in NUMBER.findall(reason.text):
                if token in literals:
                    continue
                if abs(float(token.replace(",", "")) - actual) > max(0.51, 1e-3 * abs(actual)):
                    problems.append(f"the number {token} is not the entity's {name}")
        elif reason.value != actual:
            problems.append(f"states level {reason.value!r} of {name}, the entity's is {actual!r}")
        expected = self.writer.text(name, actual)
        if reason.text != expected:
            problems.append(f"the text is not the phrase of {name} = {actual!r} ({expected!r})")
        return problems
