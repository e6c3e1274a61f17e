"""Which reasons each row gets, for one entity or a million, by one rule.

A row's candidate groups come strongest first (`ReasonWriter.select`); walking them in
order, a group whose data does not support a reason in that direction is left out and
the next takes its place, until the row has its `limit`. This walks the candidate
columns for all rows at once. A statement depends only on a few of the row's values
(`ReasonWriter.statement_reads`) and on which feature carried the contribution, so rows
that agree on those share one statement: it is written once per distinct case, not per
row. That is what makes reasons for a million leads cost seconds, and it is the same
code that writes the one entity of an HTTP request.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pql.serving.reasons import ReasonWriter

#: Up to this many rows (a request's entities), each row is written on its own: finding
#: the distinct cases costs more than it saves.
FEW_ROWS = 8


@dataclass(frozen=True)
class ChosenReasons:
    """(n, limit) arrays: the group index (-1 none), the measure stated and the text."""

    group: np.ndarray
    measure: np.ndarray
    text: np.ndarray

    def row(self, index: int) -> Iterator[tuple[int, str | None, str]]:
        for group, measure, text in zip(
            self.group[index], self.measure[index], self.text[index], strict=True
        ):
            if group >= 0:
                yield int(group), measure, text


def choose(
    writer: ReasonWriter,
    values: np.ndarray,
    contributions: np.ndarray,
    candidates: np.ndarray,
    positive: bool,
    limit: int,
) -> ChosenReasons:
    """The first `limit` candidates per row whose data supports a reason."""
    n = len(values)
    chosen = ChosenReasons(
        group=np.full((n, limit), -1),
        measure=np.full((n, limit), None, dtype=object),
        text=np.full((n, limit), None, dtype=object),
    )
    if n <= FEW_ROWS:
        for row in range(n):
            _choose_for_row(
                writer, values[row], contributions[row], candidates[row], positive, chosen, row
            )
        return chosen
    carriers = writer.carriers(values, contributions, positive)
    have = np.zeros(n, dtype=np.int64)
    for column in range(candidates.shape[1] if limit > 0 else 0):
        wanted = (have < limit) & (candidates[:, column] >= 0)
        if not wanted.any():
            break
        rows = np.flatnonzero(wanted)
        groups = candidates[rows, column]
        for group in np.unique(groups):
            at = rows[groups == group]
            measures, texts = _statements(writer, int(group), values, carriers, at, positive)
            said = texts != None  # noqa: E711 (elementwise on an object array)
            at, slot = at[said], have[at[said]]
            chosen.group[at, slot] = group
            chosen.measure[at, slot] = measures[said]
            chosen.text[at, slot] = texts[said]
            have[at] += 1
    return chosen


def _choose_for_row(
    writer: ReasonWriter,
    values: np.ndarray,
    contributions: np.ndarray,
    candidates: np.ndarray,
    positive: bool,
    chosen: ChosenReasons,
    row: int,
) -> None:
    """The same walk for one row, statement by statement (a request's entity); the
    carrier of only the groups walked is found, on plain floats."""
    have, limit = 0, chosen.text.shape[1]
    plain_values, plain_contributions = values.tolist(), contributions.tolist()
    for group in candidates.tolist():
        if group < 0 or have >= limit:
            break
        name = writer.group_names[group]
        carrier = writer.carrier(group, plain_values, plain_contributions, positive)
        found = writer.statement(
            name, values, writer.carried[group][carrier] if carrier >= 0 else None, positive
        )
        if found is not None:
            chosen.group[row, have] = group
            chosen.measure[row, have], chosen.text[row, have] = found
            have += 1


def _statements(
    writer: ReasonWriter,
    group_index: int,
    values: np.ndarray,
    carriers: np.ndarray,
    rows: np.ndarray,
    positive: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """(measure, text) of `group` for each of `rows`, None where it has no reason."""
    group = writer.group_names[group_index]
    names = writer.carrier_names(group)
    carried = carriers[rows, group_index]
    measures = np.full(len(rows), None, dtype=object)
    texts = np.full(len(rows), None, dtype=object)
    for carrier_index in np.unique(carried):
        carrier = names[carrier_index] if carrier_index >= 0 else None
        members = np.flatnonzero(carried == carrier_index)
        reads = np.array(
            [writer.position(n) for n in writer.statement_reads(group, carrier)], dtype=np.int64
        )
        # compare bit patterns: a NaN equals itself, so missing values share a case
        key = np.ascontiguousarray(values[np.ix_(rows[members], reads)]).view(np.int64)
        _, first, cases = np.unique(key, axis=0, return_index=True, return_inverse=True)
        case_measures = np.full(len(first), None, dtype=object)
        case_texts = np.full(len(first), None, dtype=object)
        for case, member in enumerate(members[first]):
            found = writer.statement(group, values[rows[member]], carrier, positive)
            if found is not None:
                case_measures[case], case_texts[case] = found
        cases = np.asarray(cases).reshape(-1)
        measures[members] = case_measures[cases]
        texts[members] = case_texts[cases]
    return measures, texts
