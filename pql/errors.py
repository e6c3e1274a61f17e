"""Every error a user can act on, and the one table of exit codes.

Every public entry point raises one of these instead of letting a library traceback
escape: the CLI prints `message` and exits with the error's `exit_code`, the HTTP
service maps them to 4xx answers. `ExitCode` is the only place a code number is
written; docs/reference/cli.md documents it and a test checks the two agree.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a `pql` command's exit status means (documented in the CLI reference)."""

    OK = 0
    INTERNAL = 1  # an unexpected error: one line, PQL_DEBUG=1 shows the traceback
    USAGE = 2  # the spec or a command-line argument is invalid
    INPUT = 3  # an input file cannot be used, or an output cannot be written
    DATA_QUALITY = 4  # the data loaded but is fatally unusable
    NOT_LEARNABLE = 5  # the labelled rows cannot support a model or a trigger report
    MODEL_STORE = 6  # the MLflow store or the registered model cannot be reached
    GATE_REFUSED = 7  # `pql promote`: the gate refused the promotion
    ALERT_UNDELIVERED = 8  # an alert could not be delivered (the leads were written)
    NO_SCORES = 9  # `pql monitor`: no recorded scoring run to compare with training
    INTERRUPTED = 130  # Ctrl+C


class PqlError(Exception):
    """A problem with the user's input, explained in one message."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SpecError(PqlError):
    """The spec file is missing, unreadable or invalid (names file, key, problem)."""

    exit_code = ExitCode.USAGE


class UsageError(PqlError):
    """A command-line or API argument is malformed (e.g. an unreadable --as-of)."""

    exit_code = ExitCode.USAGE


class InvalidInput(PqlError):
    """A request field is wrong; `field` says which one (for a 422 answer)."""

    exit_code = ExitCode.USAGE

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class DataError(PqlError):
    """An input data file cannot be used (missing, unreadable, wrong columns), or an
    output cannot be written."""

    exit_code = ExitCode.INPUT


class DataQualityError(PqlError):
    """The data loaded but has a fatal quality problem (e.g. no usable rows)."""

    exit_code = ExitCode.DATA_QUALITY


class TrainingDataError(PqlError):
    """The labelled rows cannot support a model (no rows, one class, too few positives)."""

    exit_code = ExitCode.NOT_LEARNABLE


class TriggerError(PqlError):
    """The data cannot support trigger discovery (no labelled rows at the chosen day)."""

    exit_code = ExitCode.NOT_LEARNABLE


class ModelLoadError(PqlError):
    """The tracking store or the registered model cannot be reached."""

    exit_code = ExitCode.MODEL_STORE


class TrackingError(PqlError):
    """MLflow could not record a run or register its model (the registration is undone)."""

    exit_code = ExitCode.MODEL_STORE


class AlertDeliveryError(PqlError):
    """The webhook did not take every alert; the rest stay pending for the next run."""

    exit_code = ExitCode.ALERT_UNDELIVERED


class NoScoresError(PqlError):
    """`pql monitor` has no scoring run to compare with training."""

    exit_code = ExitCode.NO_SCORES
