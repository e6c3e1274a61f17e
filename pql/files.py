"""Outputs written atomically: a reader sees the old file or the whole new one, never half.

Every file pql writes for a person or a program (leads, features, reports, rules,
trigger tables) goes through `atomic_output`: the content is written to a temporary name
beside the target, flushed to disk, and renamed over the target in one step. A job
killed mid-write leaves the previous file intact and no partial one behind (at worst a
hidden `.<name>.<pid>.partial` that the next run of the same process id replaces).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target`."""
    target = Path(target)
    if target.is_dir():  # say so before the work, naming the file the user gave
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    temporary = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        yield temporary
        with open(temporary, "rb+") as handle:  # durable before it becomes visible
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except OSError as exc:  # name the user's file, not the temporary one
        if exc.filename in (str(temporary), temporary):
            raise type(exc)(exc.errno, exc.strerror, str(target)) from None
        raise
    finally:
        temporary.unlink(missing_ok=True)


def write_text(target: Path, text: str) -> None:
    """`Path.write_text`, atomically (UTF-8)."""
    with atomic_output(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
