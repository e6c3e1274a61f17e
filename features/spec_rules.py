"""Write a `rules:` list into a spec file's text, keeping everything else as written.

Why text surgery rather than load-and-dump: a spec is hand-written and commented, and
`yaml.safe_dump` of the whole mapping would drop every comment and reorder keys. Only the
top-level `rules:` block is replaced (or appended); the caller validates the result
before it touches the file.
"""

from __future__ import annotations

import re

import yaml

_TOP_LEVEL_KEY = re.compile(r"^[A-Za-z_][\w-]*\s*:")
_RULES_KEY = re.compile(r"^rules\s*:")


def _rules_block(rules: list[dict[str, str]], header: str | None) -> list[str]:
    body = yaml.safe_dump(
        {"rules": rules}, sort_keys=False, allow_unicode=True, width=1000, default_flow_style=False
    )
    lines = [f"# {header}"] if header else []
    return lines + body.rstrip("\n").split("\n")


def with_rules(text: str, rules: list[dict[str, str]], header: str | None = None) -> str:
    """`text` with its top-level `rules:` block replaced by `rules` (appended if absent).

    The block runs from the `rules:` line to the next top-level key or the end; comment
    lines directly above the next key stay with that key.
    """
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if _RULES_KEY.match(line)), None)
    block = _rules_block(rules, header)
    if start is None:
        kept = [*text.rstrip("\n").split("\n"), ""] if text.strip() else []
        return "\n".join([*kept, *block]) + "\n"
    end = start + 1
    while end < len(lines) and not _TOP_LEVEL_KEY.match(lines[end]):
        end += 1
    # comments and blank lines just above the next key belong to it, not to the rules
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    if start > 0 and header and lines[start - 1] == f"# {header}":
        start -= 1  # replace our own header from an earlier run too
    result = [*lines[:start], *block, *lines[end:]]
    return "\n".join(result).rstrip("\n") + "\n"
