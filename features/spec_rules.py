"""Write a `rules:` list into a spec file's text, keeping everything else as written.

Why text surgery rather than load-and-dump: a spec is hand-written and commented, and
`yaml.safe_dump` of the whole mapping would drop every comment and reorder keys. Only the
top-level `rules:` block is replaced (or appended); `rules_written` then proves, by
parsing both texts, that nothing but the rules changed before the caller touches a file.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_RULES_KEY = re.compile(r"^(rules|\"rules\"|'rules')\s*:")
#: the header a run writes above its block; earlier runs' headers are replaced, not stacked
HEADER_PREFIX = "proposed by `pql triggers`"


class SpecLayoutError(ValueError):
    """The spec's layout cannot be edited in place without risking the rest of it."""


def _rules_block(rules: list[dict[str, str]], header: str | None) -> list[str]:
    body = yaml.safe_dump(
        {"rules": rules}, sort_keys=False, allow_unicode=True, width=1000, default_flow_style=False
    )
    lines = [f"# {header}"] if header else []
    return lines + body.rstrip("\n").split("\n")


def _ends_block(line: str) -> bool:
    """A line at column 0 that is not blank, a comment or a list item starts the next
    top-level key (quoted or not) or a document marker."""
    return bool(line) and not line[0].isspace() and not line.startswith(("#", "-"))


def _is_header(line: str) -> bool:
    return line.startswith("# ") and line[2:].startswith(HEADER_PREFIX)


def with_rules(text: str, rules: list[dict[str, str]], header: str | None = None) -> str:
    """`text` with its top-level `rules:` block replaced by `rules` (appended if absent).

    The block runs from the `rules:` line to the next top-level line; comment lines just
    above the next key stay with that key. Line endings (LF or CRLF) are kept.
    """
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.replace("\r\n", "\n").split("\n")
    start = next((i for i, line in enumerate(lines) if _RULES_KEY.match(line)), None)
    block = _rules_block(rules, header)
    if start is None:
        kept = lines
        while kept and not kept[-1].strip():
            kept = kept[:-1]
        result = [*kept, ""] if kept else []
        result += block
    else:
        end = start + 1
        while end < len(lines) and not _ends_block(lines[end]):
            end += 1
        # comments and blank lines just above the next key belong to it, not to the rules
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
            end -= 1
        while start > 0 and _is_header(lines[start - 1]):
            start -= 1  # an earlier run's header goes with the block it described
        result = [*lines[:start], *block, *lines[end:]]
        while result and not result[-1].strip():
            result = result[:-1]
    return newline.join(result) + newline


def rules_written(original: str, rules: list[dict[str, str]], header: str | None) -> str:
    """The new spec text, or `SpecLayoutError` when the edit would change anything else.

    Both texts are parsed: the new one must equal the old one with only `rules` replaced.
    Flow-style (JSON) specs, indented root mappings and other layouts the line-based edit
    cannot follow are refused rather than guessed at.
    """
    try:
        before = yaml.safe_load(original)
    except yaml.YAMLError as exc:
        raise SpecLayoutError(f"the spec is not valid YAML ({exc})") from None
    if not isinstance(before, dict):
        raise SpecLayoutError("the spec is not a YAML mapping")
    text = with_rules(original, rules, header)
    try:
        after: Any = yaml.safe_load(text)
    except yaml.YAMLError:
        after = None
    expected = {**before, "rules": rules}
    if after != expected:
        raise SpecLayoutError(
            "its layout (e.g. flow style or an indented top level) cannot be edited in place "
            "without changing other keys"
        )
    return text
