"""`pql`: one command line, assembled from the packages' own sub-commands.

Errors a user can act on (`PqlError`) print one clear message and exit with the code
documented in README.md; anything unexpected prints a one-line summary (no traceback
unless PQL_DEBUG=1) and exits 1.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from pql.demo import demo_command
from pql.errors import ExitCode, PqlError
from pql.features import cli as features_cli
from pql.handoff.score_command import score_command
from pql.monitoring import cli as monitoring_cli
from pql.serving import cli as serving_cli
from pql.settings import Settings
from pql.simulator import cli as simulator_cli
from pql.training import cli as training_cli
from pql.triggers import cli as triggers_cli

app = typer.Typer(
    name="pql",
    help="Product-qualified leads: features, conversion model, scores and reasons.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
simulator_cli.register(app)
features_cli.register(app)
training_cli.register(app)
triggers_cli.register(app)
monitoring_cli.register(app)
app.command("score")(score_command)
serving_cli.register(app)
app.command("demo")(demo_command)

_stderr = Console(stderr=True)


def main() -> None:
    try:
        app()
    except PqlError as error:
        # the message is text, not markup: "pql-leads[spark]" must not lose "[spark]"
        _stderr.print(f"[red]error:[/] {escape(error.message)}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except OSError as error:  # a file or folder the OS refused: say which, exit 3
        if Settings.from_env().debug or error.filename is None:
            raise
        _stderr.print(
            f"[red]error:[/] {error.filename}: {error.strerror or error}", highlight=False
        )
        sys.exit(ExitCode.INPUT)
    except KeyboardInterrupt:
        _stderr.print("interrupted")
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as error:  # the promise is: never a traceback for users
        if Settings.from_env().debug:
            raise
        _stderr.print(
            f"[red]internal error:[/] {type(error).__name__}: {error} "
            "(set PQL_DEBUG=1 for the traceback and please report it)",
            highlight=False,
        )
        sys.exit(ExitCode.INTERNAL)
