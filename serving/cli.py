"""`pql serve`: the HTTP scoring service, serving the registry's champion.

BentoML, MLflow and the model load inside the command: `pql --help` should not pay
seconds of imports it does not use.
"""

from __future__ import annotations

import ipaddress
import socket
import tempfile
from typing import Annotated

import typer

from pql.errors import UsageError

# One line per paragraph: the help screen wraps them itself.
HELP = "\n\n".join(
    [
        "Serve the registry champion over HTTP: POST /score and /score_batch, GET /model.",
        "The model is resolved once at start (alias -> version) and every worker serves "
        "that version: restart to serve a newly promoted champion. OpenAPI at /docs.json; "
        "health at /livez and /readyz, Prometheus metrics at /metrics.",
        "Environment: MLFLOW_TRACKING_URI (default sqlite:///mlflow.db); PQL_MODEL_NAME "
        "(e.g. pql-simulated; default: the only pql-* model registered); PQL_MODEL_ALIAS "
        "(default champion); PQL_MODEL_URI (any MLflow model URI, overrides name and "
        "alias); PQL_API_TOKEN (when set, /score, /score_batch and /model require "
        "'Authorization: Bearer <token>'; health, metrics and /docs.json stay open); "
        "PQL_MAX_HEADER_BYTES, PQL_HEADER_TIMEOUT, PQL_BODY_TIMEOUT (connection limits: "
        "431 / 408 answers, see docs/reference/http.md).",
    ]
)


def _check_port(host: str, port: int) -> None:
    """Fail with one line before BentoML starts, not with its traceback after."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            message = f"--host {host} --port {port}: cannot listen there ({exc.strerror})"
            raise UsageError(message) from None


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve_command(
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port to listen on.")] = 3000,
    host: Annotated[
        str, typer.Option(help="Address to listen on; 0.0.0.0 for all interfaces.")
    ] = "127.0.0.1",
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes, each with its own model.")
    ] = 1,
) -> None:
    """Serve the registry champion over HTTP (help text: HELP)."""
    from pql.clikit import console
    from pql.settings import Settings, quiet_libraries

    quiet_libraries()  # no usage analytics calls
    _check_port(host, port)

    import bentoml

    from pql.serving.registry import pin_version, registry_uri, shown_uri

    settings = Settings.from_env().replace(workers=workers)
    with console.status("Finding the model in the registry ..."):
        uri = pin_version(registry_uri(settings), settings.tracking_uri)
    settings = settings.replace(model_uri=uri)  # the workers load exactly this version

    from pql.serving.service import PqlService

    PqlService.config["workers"] = workers  # type: ignore[attr-defined]  # a bentoml Service
    token = "on" if settings.api_token else "off"
    console.print(
        f"Serving {uri} from {shown_uri(settings.tracking_uri)} on http://{host}:{port} "
        f"({workers} worker{'s' * (workers > 1)}, bearer token {token}); "
        f"OpenAPI at /docs.json. Ctrl+C stops.",
        highlight=False,
    )
    if token == "off" and not _is_loopback(host):
        console.print(
            f"[yellow]warning:[/] {host} is reachable from other machines and "
            "PQL_API_TOKEN is not set: anyone who can reach the port can score and read /model."
        )
    # BentoML keeps its Prometheus multiprocess files in $BENTOML_HOME/prometheus_multiproc_dir
    # and empties that folder when a server starts: every other server of the same user
    # then lost its counts. Each `pql serve` counts in a folder of its own, removed at exit.
    from bentoml._internal.configuration.containers import BentoMLContainer

    with tempfile.TemporaryDirectory(prefix="pql-metrics-") as metrics_folder:
        BentoMLContainer.prometheus_multiproc_dir.set(metrics_folder)
        bentoml.serve(PqlService, host=host, port=port, blocking=True, args=settings.service_args())


def register(app: typer.Typer) -> None:
    """Mount `pql serve` on the `pql` application."""
    app.command("serve", help=HELP)(serve_command)
