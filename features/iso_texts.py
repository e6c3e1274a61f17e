"""Read a request's UTC ISO texts with a handful of whole-text operations.

An HTTP request carries a few hundred times such as ``2026-03-01T10:00:00.250Z``. A
regular expression over them cost more than scoring the entity. Here every digit of the
joined text becomes ``D`` (one `str.translate`), so each line shows its layout, and the
few distinct layouts are looked up among the accepted ones; the lines' least and
greatest texts bound the years; numpy reads the values. Anything that is not exactly one
of the forms below gives None, and the column parser (which accepts much more and says
what is wrong) takes over, so the accepted forms and the messages stay those of
`features.timestamps`.

Forms: ``YYYY-MM-DD(T| )HH:MM[:SS[.f]][Z|+00:00]`` with 1 to 9 fraction digits and
years 1700-2259 (well inside datetime64[ns]).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_DIGITS_AS_D = str.maketrans("0123456789", "D" * 10)
_ZONES = ("", "Z", "+DD:DD")  # the offset's digits are D too; only +00:00 is kept below
#: every accepted layout, digits written as D
LAYOUTS = frozenset(
    f"DDDD-DD-DD{separator}DD:DD{seconds}{zone}"
    for separator in "T "
    for seconds in ("", ":DD", *(":DD." + "D" * k for k in range(1, 10)))
    for zone in _ZONES
)
_FIRST_YEAR, _LAST_YEAR = "1700", "2259"


def utc_iso_ns(values: Sequence[object]) -> np.ndarray | None:
    """Nanoseconds since the epoch (int64) of texts in the forms above, else None."""
    if not values or not set(map(type, values)) <= {str}:  # C-level: no frame per value
        return None
    texts: list[str] = values  # type: ignore[assignment]  # all str, checked above
    joined = "\n".join(texts)
    if not set(joined.translate(_DIGITS_AS_D).split("\n")) <= LAYOUTS:
        return None
    # every text starts with its four-digit year: the least and greatest bound them all
    if min(texts) < _FIRST_YEAR or max(texts)[:4] > _LAST_YEAR:
        return None
    bare = (joined + "\n").replace("Z\n", "\n").replace("+00:00\n", "\n")
    if "+" in bare:  # an offset other than +00:00
        return None
    lines = bare.split("\n")[:-1]
    if len(lines) != len(texts):  # a text holding a line break is not one time
        return None
    try:
        return np.array(lines, dtype="datetime64[ns]").view(np.int64)
    except ValueError:  # February 30, hour 25: the column parser says why
        return None
