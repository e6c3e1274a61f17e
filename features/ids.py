"""Ids are text: what that means when two files spell one id differently.

An id read from text (a CSV cell, a JSON or Parquet string) is compared exactly as
written, whitespace aside: "7" and "7.0" are two users, "007" is not "7", and "NULL" or
"nan" in a CSV id column is a user called that (only a blank cell is a missing id).
Only ids stored as numbers (a Parquet or JSON number) become their integer text, so 42.0
from a float column with gaps matches "42". These helpers find the cases where that
rule probably separates what the user meant as one id, so the data-quality report can
say so instead of letting the rows silently fail to match.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: Cell texts that CSV readers (pyarrow's defaults, pandas) would have taken as "missing";
#: in an id column they are ids, and a warning says so.
NULL_LIKE = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
     "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)  # fmt: skip
# an integer, written with a sign, leading zeros or a zero fraction ("+007.00")
_WHOLE_NUMBER = r"^([+-]?)0*(\d+?)(?:\.0*)?$"


def number_forms(ids: Iterable[str]) -> np.ndarray:
    """Each id as the integer it spells ("7.0", "007", "+7" -> "7"), or None when it does
    not spell a whole number. Exact on any number of digits (no float in between)."""
    text = pc.utf8_trim_whitespace(pa.array(list(ids), type=pa.string()))
    whole = pc.match_substring_regex(text, _WHOLE_NUMBER)
    form = pc.replace_substring_regex(text, _WHOLE_NUMBER, r"\1\2")
    form = pc.replace_substring_regex(form, r"^[+]|^-(0)$", r"\1")  # "+7" -> "7", "-0" -> "0"
    result = pc.if_else(pc.fill_null(whole, False), form, pa.scalar(None, pa.string()))
    return np.asarray(result.to_numpy(zero_copy_only=False), dtype=object)


def same_number_pairs(left: Iterable[str], right: Iterable[str]) -> list[tuple[str, str]]:
    """(left id, right id) pairs spelled differently that are the same whole number,
    e.g. ("7.0", "7"): ids that would have matched had both files written numbers alike."""
    right = list(right)
    by_form: dict[str, str] = {}
    for original, form in zip(right, number_forms(right), strict=True):
        if form is not None:
            by_form.setdefault(form, original)
    left = list(left)
    pairs = []
    for original, form in zip(left, number_forms(left), strict=True):
        match = by_form.get(form) if form is not None else None
        if match is not None and match != original:
            pairs.append((original, match))
    return pairs


def repeated_numbers(ids: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs of distinct ids in one column that spell the same whole number ("7", "7.0")."""
    seen: dict[str, str] = {}
    pairs = []
    ids = list(ids)
    for original, form in zip(ids, number_forms(ids), strict=True):
        if form is None:
            continue
        first = seen.setdefault(form, original)
        if first != original:
            pairs.append((first, original))
    return pairs


def id_text(value: Any) -> str | None:
    """One id value as pql compares ids: text stripped as written ("7.0" is not "7"), a
    number as its integer text (42.0 -> "42"), blank or missing -> None. The event reader
    and a live request's distinct-counted properties both go through it."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):  # text is an id as written: "7.0" is not "7"
        return value.strip() or None
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value).strip() or None
