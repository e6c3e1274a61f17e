"""Reading text files line by line in bounded memory, whatever the file holds.

A file of 2 GiB of zeros (or NULs, or one minified document) has no line break, and
Python's `for line in handle` would hold all of it as one string before any parser saw
its first character. Everything here reads at most `limit` characters per line (or a
block of whole lines), so a file that is not line-oriented text fails on its first
oversized line, in the memory of one block, with a message naming that line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TextIO

#: Longest line a line-oriented input may hold (characters). An event or trial record is
#: a few hundred characters; 16 Mi is far beyond any real one and small enough to hold.
MAX_LINE_CHARS = 16 << 20
#: Characters read per block when whole lines are handed on in blocks.
BLOCK_CHARS = 8 << 20
_SHOWN = 12  # characters of an oversized line quoted in the message


class LineTooLong(ValueError):
    """A line has no line break within the limit; the message names it and its start."""

    def __init__(self, number: int, limit: int, start: str) -> None:
        super().__init__(
            f"line {number:,} has no line break in its first {limit:,} characters "
            f"(it starts {start[:_SHOWN]!r}): not line-oriented text; the file may be "
            "binary, damaged or one single document"
        )
        self.number = number


def bounded_lines(handle: TextIO, limit: int | None = None) -> Iterator[str]:
    """The lines of `handle` (line breaks kept), refusing one longer than `limit`
    (default `MAX_LINE_CHARS`)."""
    limit = limit or MAX_LINE_CHARS
    number = 0
    while line := handle.readline(limit + 1):
        number += 1
        if len(line) > limit and not line.endswith(("\n", "\r")):
            raise LineTooLong(number, limit, line)
        yield line


def line_blocks(
    handle: TextIO, block: int | None = None, limit: int | None = None
) -> Iterator[tuple[int, str]]:
    """(number of the block's first line, text of whole lines), about `block` characters
    each (default `BLOCK_CHARS`); a line longer than `limit` (default `MAX_LINE_CHARS`)
    raises `LineTooLong` as soon as that much of it is read."""
    block, limit = block or BLOCK_CHARS, limit or MAX_LINE_CHARS
    first, carry = 1, ""
    while chunk := handle.read(block):
        cut = chunk.rfind("\n") + 1
        if cut == 0:  # no line ends in this chunk: the line is still growing
            carry += chunk
            if len(carry) > limit:
                raise LineTooLong(first, limit, carry)
            continue
        whole = carry + chunk[:cut] if carry else chunk[:cut] if cut < len(chunk) else chunk
        carry = chunk[cut:]
        yield first, whole
        first += whole.count("\n")
        if len(carry) > limit:
            raise LineTooLong(first, limit, carry)
    if carry:
        yield first, carry


def first_visible_char(handle: TextIO, chunk: int = 1 << 16) -> str:
    """The first character that is not whitespace ("" when there is none), reading
    chunk by chunk so a file of blanks or one long line costs one chunk of memory."""
    while text := handle.read(chunk):
        stripped = text.lstrip()
        if stripped:
            return stripped[0]
    return ""
