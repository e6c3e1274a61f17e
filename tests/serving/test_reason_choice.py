"""Reasons chosen for many rows at once equal each row's reasons chosen on its own.

Batch scoring writes each distinct statement once for all rows that share it; a row
alone is written from its own values. Any value a statement reads but its key misses
would show here as a row whose batch text differs from its own.
"""

from __future__ import annotations

import numpy as np
import pytest

from pql.features.definitions import FeatureDefinitions
from pql.features.spec import parse_spec
from pql.serving.reasons import ReasonWriter


def _spec(entity: str) -> dict:
    return {
        "product": "tiny",
        "entity": entity,
        "data": {
            "events": {
                "path": "events.csv",
                "columns": {"account_id": "account_id", "session_id": "session_id"},
            }
        },
        "label": {"conversion_event": "paid", "horizon_days": 14},
        "actions": {
            "invite_teammate": {
                "events": ["invite"],
                "kind": "collaboration",
                "reason": "Invited {count} teammates ({count_7d} this week)",
            },
            "create_project": {"events": ["project"], "label": "Created a project"},
            "view_pricing": {
                "events": ["pricing"],
                "kind": "intent",
                "reason": "Viewed pricing, last {days_since_last} days ago",
            },
            "upload_file": {"events": ["upload"], "property": "bytes", "aggregate": "max"},
            "open_ticket": {
                "events": ["ticket"],
                "kind": "negative",
                "negative_reason": "Opened {count} tickets, first after {hours_to_first} h",
            },
        },
    }


def _writer(entity: str, **shape: object) -> ReasonWriter:
    spec = parse_spec({**_spec(entity), **shape})
    definitions = FeatureDefinitions.from_spec(spec)
    reference = {name: tuple(float(p) for p in range(101)) for name in definitions.names}
    return ReasonWriter(spec, definitions, reference)


def _rows(writer: ReasonWriter, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Small counts that repeat across rows (so cases are shared), missing times, zeros."""
    rng = np.random.default_rng(seed)
    names = writer.definitions.names
    values = rng.poisson(1.5, (n, len(names))).astype(float)
    for column, name in enumerate(names):
        if "hours" in name:
            values[:, column] = np.where(rng.random(n) < 0.4, np.nan, rng.integers(0, 90, n))
        elif name.endswith("trend_7d") or name.endswith("share_7d") or name.endswith("share"):
            values[:, column] = rng.choice([-1.0, -0.5, 0.0, 0.2, 1.0], n)
    contributions = rng.normal(0, 1, (n, len(names))) * (rng.random((n, len(names))) < 0.7)
    return values, contributions


@pytest.mark.parametrize("entity", ["user", "account"])
def test_batch_texts_equal_each_row_alone(entity: str) -> None:
    writer = _writer(entity)
    values, contributions = _rows(writer, 3000, seed=5)
    grouped = writer.grouped(contributions)
    positive, negative = writer.select(grouped, 3, 2)
    batch_positive = writer.texts(values, contributions, positive, True, 3)
    batch_negative = writer.texts(values, contributions, negative, False, 2)
    said = 0
    for row in range(len(values)):
        alone_positive, alone_negative = writer.reasons(values[row], contributions[row], 3, 2)
        assert [t for t in batch_positive[row] if t] == [r.text for r in alone_positive], row
        assert [t for t in batch_negative[row] if t] == [r.text for r in alone_negative], row
        said += len(alone_positive) + len(alone_negative)
    assert said > 3000  # the rows do get reasons, not only empty lists


@pytest.mark.parametrize("shape", [{}, {"trial_days": 14}, {"shape": "freemium"}])
def test_context_of_many_rows_equals_each_row(shape: dict) -> None:
    """A request's entity gets its context on plain floats, a batch's on columns: the
    same words, at unit edges (half hours, half days) and for missing times too."""
    writer = _writer("user", **shape)
    values, _ = _rows(writer, 500, seed=6)
    rng = np.random.default_rng(7)
    edges = [0.0, 0.5, 0.99, 1.0, 1.5, 12.5, 23.5, 36.0, 60.0, 13.99, 14.0, 400.25, np.nan]
    for name, scale in (("tenure_days", 800.0), ("hours_since_last_event", 2000.0)):
        column = writer.definitions.names.index(name)
        values[:, column] = np.where(
            rng.random(len(values)) < 0.5,
            rng.choice(edges, len(values)),
            rng.random(len(values)) * scale,
        )
    joined = writer.context_texts(values)
    for row in range(len(values)):
        assert joined[row] == "; ".join(writer.context(values[row]))
