"""A request's timestamps read in one go equal each read on its own."""

from __future__ import annotations

import numpy as np
import pytest

from pql.errors import InvalidInput
from pql.serving.entity import epoch_ms_of_events, to_epoch_ms

FORMS = [
    "2026-03-01T10:00:00Z",
    "2026-03-01T10:00:00+00:00",
    "2026-03-01T10:00:00",
    "2026-03-01 10:00:00",
    "2026-03-01T10:00:00.250Z",
    "2026-03-01T10:00:00.999999+00:00",
    "2026-03-01T10:00:00.1239Z",
    "2026-03-01T10:00Z",
    "2026-03-01",
    "2026-03-01T10:00:00+05:30",
    "2026-03-01T10:00:00-08:00",
    "1970-01-01T00:00:00Z",
    "2262-04-10T23:59:59.999Z",
    "1772359200000000",
    1772359200000000,
    "Sun, 01 Mar 2026 10:00:00 +0000",
    "1772359200",
    "1772359200000",
    1772359200,
    1772359200.5,
]


@pytest.mark.parametrize("form", FORMS)
def test_each_form_reads_as_on_its_own(form: object) -> None:
    stamps = [form] * 3
    expected = [to_epoch_ms(form, "t")] * 3
    assert epoch_ms_of_events(stamps).tolist() == expected


def test_a_mix_of_forms_reads_as_each_alone() -> None:
    rng = np.random.default_rng(1)
    stamps = [FORMS[i] for i in rng.integers(0, len(FORMS), 200)]
    assert epoch_ms_of_events(stamps).tolist() == [to_epoch_ms(s, "t") for s in stamps]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("2026-13-01T10:00:00Z", "is not a valid ISO 8601 date and time"),
        ("9999-12-31T23:59:59Z", "outside the times pql can hold"),
        ("03/04/2026", "is ambiguous"),
        (None, "a time is required"),
    ],
)
def test_the_first_bad_timestamp_is_named(bad: object, message: str) -> None:
    stamps = ["2026-03-01T10:00:00Z"] * 4 + [bad, "2026-03-01T10:00:00Z"]
    with pytest.raises(InvalidInput) as caught:
        epoch_ms_of_events(stamps)
    assert caught.value.field == "events[4].timestamp"
    assert message in str(caught.value)
