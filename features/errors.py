"""Errors a user can act on.

Every public entry point raises one of these instead of letting a library traceback
escape: the CLI prints `message` and exits with `exit_code`, the HTTP service maps
them to 4xx answers. The exit codes are documented in README.md.
"""

from __future__ import annotations


class PqlError(Exception):
    """A problem with the user's input, explained in one message."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SpecError(PqlError):
    """The spec file is missing, unreadable or invalid (names file, key, problem)."""

    exit_code = 2


class DataError(PqlError):
    """An input data file cannot be used: missing, unreadable, wrong columns."""

    exit_code = 3


class DataQualityError(PqlError):
    """The data loaded but has a fatal quality problem (e.g. no usable rows)."""

    exit_code = 4


class UsageError(PqlError):
    """A command-line or API argument is malformed (e.g. an unreadable --as-of)."""

    exit_code = 2
