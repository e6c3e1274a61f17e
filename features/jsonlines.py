"""Reading JSON lines one object at a time, naming the first line that is not one.

Plain JSON-lines files (diagnosed when pandas refuses them) and the vendor exports read
record by record share this reader, so a bad line is named the same way everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

TOO_DEEP = "nests arrays / objects too deeply to read (hundreds of levels)"


class JsonLineError(ValueError):
    """A JSON-lines line that is not a JSON object; the message names the line and why."""


def json_line_objects(lines: Iterable[str], start: int = 1) -> Iterator[dict[str, Any]]:
    """The object on each non-blank line, in order; `start` numbers the first line.

    Give it `textlines.bounded_lines(handle)`, not the handle itself: a file without
    line breaks would otherwise be read whole as its first line.
    """
    for number, line in enumerate(lines, start=start):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise JsonLineError(
                f"line {number} is not valid JSON ({exc.msg}, column {exc.colno})"
            ) from None
        except RecursionError:
            raise JsonLineError(f"line {number} {TOO_DEEP}") from None
        if not isinstance(value, dict):
            raise JsonLineError(f"line {number} is not a JSON object")
        yield value
