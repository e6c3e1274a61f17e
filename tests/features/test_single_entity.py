"""The single-entity path gives exactly the batch core's values, on random entities."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pql.features.compute import DAY_MS
from pql.features.definitions import ActionDefinition, FeatureDefinitions
from pql.features.live import entity_features, entity_features_general
from pql.features.single_entity import plan_for

NAMES = ["login", "invite", "upload", "pricing", "export", "noise"]
DEFINITIONS = FeatureDefinitions(
    actions=(
        ActionDefinition("invite_teammate", frozenset({"invite"})),
        ActionDefinition("upload_file", frozenset({"upload"}), "bytes", "sum"),
        ActionDefinition("big_upload", frozenset({"upload", "export"}), "bytes", "max"),
        ActionDefinition("view_pricing", frozenset({"pricing"})),
        ActionDefinition("never_done", frozenset({"absent_event"})),
    ),
    session_gap_minutes=30.0,
)
T0 = 1_772_000_000_000


def random_entity(rng: np.random.Generator) -> dict:
    n = int(rng.choice([0, 1, 2, 5, 8, 30, 200, 600]))
    span_days = float(rng.choice([0.5, 3, 20, 90]))
    times = T0 + rng.integers(0, int(span_days * DAY_MS), n)
    if n and rng.random() < 0.3:  # ties at the same millisecond
        times[rng.integers(0, n, n // 3)] = times[0]
    sizes = rng.choice([np.nan, 1.5, 1e3, 7.25, -2.0, 1e-9], n)
    as_of = T0 + int(rng.uniform(-0.2, 1.2) * span_days * DAY_MS)
    signup = T0 + int(rng.uniform(-0.1, 0.3) * span_days * DAY_MS)
    converted = None if rng.random() < 0.6 else T0 + int(rng.uniform(0, 1) * span_days * DAY_MS)
    sessions = [f"s{v}" for v in rng.integers(0, max(n // 4, 1), n)]
    return {
        "event_names": [NAMES[i] for i in rng.integers(0, len(NAMES), n)],
        "time_ms": times,
        "signup_ms": signup,
        "as_of_ms": as_of,
        "converted_ms": converted,
        "session_ids": sessions if rng.random() < 0.5 else None,
        "properties": {"bytes": sizes.tolist()},
    }


@pytest.mark.parametrize("seed", range(4))
def test_equals_the_batch_core_on_random_entities(seed: int) -> None:
    rng = np.random.default_rng(seed)
    assert plan_for(DEFINITIONS) is not None
    for _ in range(150):
        entity = random_entity(rng)
        fast = entity_features(DEFINITIONS, **entity)
        general = entity_features_general(DEFINITIONS, **entity)
        np.testing.assert_array_equal(fast, general)  # NaN == NaN, every bit else


def test_definitions_it_does_not_know_go_to_the_batch_core() -> None:
    accounts = dataclasses.replace(DEFINITIONS, account_level=True)
    assert plan_for(accounts) is None

    @dataclasses.dataclass(frozen=True)
    class WithWindows(FeatureDefinitions):  # e.g. a field added later (configurable windows)
        windows: tuple[int, ...] = (7,)

    assert plan_for(WithWindows(actions=DEFINITIONS.actions)) is None
    entity = random_entity(np.random.default_rng(9))
    np.testing.assert_array_equal(
        entity_features(WithWindows(actions=DEFINITIONS.actions), **entity),
        entity_features_general(DEFINITIONS, **entity),
    )


@pytest.mark.parametrize(
    "changed",
    [{"extra_windows": (1, 28)}, {"timezone": "Asia/Shanghai"}, {"account_level": True}],
)
def test_windows_zones_and_accounts_go_to_the_batch_core(changed: dict) -> None:
    """The fast path knows 7-day windows and UTC days only: other settings fall back,
    and their values still equal the batch core's."""
    definitions = dataclasses.replace(DEFINITIONS, **changed)
    assert plan_for(definitions) is None
    if "account_level" not in changed:
        entity = random_entity(np.random.default_rng(9))
        np.testing.assert_array_equal(
            entity_features(definitions, **entity),
            entity_features_general(definitions, **entity),
        )
