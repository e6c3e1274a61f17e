"""Fit attributes into model columns: a frame of raw values, or one HTTP request's.

Validation names the field (`attributes.company_size`) so the service answers a 4xx
saying which value is wrong; a level never seen in training is not an error (new
industries appear) but is scored as the pooled "other" level and reported back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pql.errors import InvalidInput
from pql.features.attributes import AttributeEncoding
from pql.features.email_kind import EMAIL_KINDS, domain_of, email_kind

MAX_LEVEL_LENGTH = 256


def model_frame(encoding: AttributeEncoding, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """`frame` with its raw attribute values turned into model columns, and the count
    of unseen levels per attribute. A category column that is already numeric holds
    model codes (a frame encoded before, e.g. training's test rows) and is kept."""
    if not encoding:
        return frame, {}
    codes, unseen = encoding.encode(frame)
    categorical = set(encoding.categorical_names)
    encoded = [
        name
        for name in encoding.names
        if name in frame.columns
        and (name not in categorical or not pd.api.types.is_numeric_dtype(frame[name]))
    ]
    counts = {n: unseen[n] for n in encoded if unseen.get(n)}
    return frame.assign(**{name: codes[name] for name in encoded}), counts


def _level(name: str, kind: str, value: Any) -> str:
    where = f"attributes.{name}"
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInput(where, f"expected text (a category), got {type(value).__name__}")
    text = str(value).strip()
    if not text or len(text) > MAX_LEVEL_LENGTH:
        raise InvalidInput(
            where, f"expected non-empty text of at most {MAX_LEVEL_LENGTH} characters"
        )
    if kind != "email_kind" or text in EMAIL_KINDS:
        return text
    if domain_of(text) is None:
        raise InvalidInput(
            where,
            f"{text!r} is neither an e-mail kind ({', '.join(EMAIL_KINDS)}) nor an e-mail "
            "address or domain",
        )
    return email_kind(text)


def _number(name: str, value: Any) -> float:
    where = f"attributes.{name}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(where, f"expected a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(where, f"{value} is not a finite number")
    return number


def attribute_vector(
    encoding: AttributeEncoding, attributes: Mapping[str, Any] | None
) -> tuple[np.ndarray, list[str]]:
    """One request's attributes as model columns, and which held an unseen level.

    A missing (or null) attribute is unknown (an e-mail kind: "unknown"); an attribute
    the model does not use is an error, so a typo is not silently ignored."""
    given = dict(attributes or {})
    unknown = sorted(set(given) - set(encoding.names))
    if unknown:
        raise InvalidInput(
            f"attributes.{unknown[0]}",
            f"not an attribute of this model (it uses: {', '.join(encoding.names) or 'none'})",
        )
    vector = np.full(len(encoding.names), np.nan)
    unseen = []
    for position, (name, kind) in enumerate(encoding.kinds.items()):
        value = given.get(name)
        if value is None:
            value = "unknown" if kind == "email_kind" else None
        if value is None:
            continue
        if kind == "numeric":
            vector[position] = _number(name, value)
            continue
        code, new = encoding.encode_value(name, _level(name, kind, value))
        vector[position] = code
        if new:
            unseen.append(name)
    return vector, unseen
