"""PQL alerts: one webhook call per new qualification, none lost, none doubled.

Two steps with the state in a local SQLite file between them:

1. `AlertState.record` compares a scoring run with the stored state and, in one
   transaction, opens a new qualification (and a *pending* alert carrying its full
   payload) for every entity that is a PQL now but was not at its last recorded run.
   An entity that drops below the threshold is closed; when it qualifies again later,
   that is a new qualification and a new alert. Entities a run could not score keep
   their state (no score is no evidence either way).
2. `deliver` POSTs the pending alerts in order and marks each *sent* only after the
   receiver answered 2xx, committing after every alert.

So a crash anywhere loses nothing: before step 1 commits nothing happened; after it the
alerts are pending and the next run sends them; between a send and its record the next
run sends that one alert again (at least once), with the same idempotency key (body
field and `Idempotency-Key` header) so the receiver can drop the duplicate. In normal
operation every qualification is alerted exactly once.

Each attempt has a deadline (`--alert-timeout`) for the whole exchange: connecting,
sending and reading the complete answer. A receiver that trickles its answer a byte at
a time has its connection closed when the deadline passes (a per-read socket timeout
would wait as long as the bytes keep coming).

Delivery retries 5xx, 408, 429, connection errors and timeouts with exponential
backoff, a bounded number of times; other answers are not retried. A 4xx about the
alert itself (400, 409, 422, ...: the receiver refuses this payload) leaves that alert
pending and goes on with the next, so one payload the receiver will never take does not
hold back every later alert, run after run. A failure of the endpoint itself stops the
run, since every other alert would meet it too: unreachable or too slow after the
retries, 401/403 (credentials), 404/405/410 (wrong URL), or a redirect. Redirects are
never followed: urllib would repeat a 301/302/303 as a GET without the body, and the
GET's 200 would mark an alert delivered that nobody received; a 3xx is "not delivered"
and names where it points, so the URL can be fixed. Alerts not delivered stay pending,
and `AlertDeliveryError` (exit 8) says so after every other output of the run has been
written.

A run sends only its own scope's alerts (product and entity kind): one state file can
serve several specs, each with its own webhook, and another product's pending alerts
wait for that product's run.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import math
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urljoin, urlsplit

import numpy as np
import pandas as pd

from pql.errors import DataError, UsageError

AlertFormat = Literal["json", "slack"]
DEFAULT_STATE_FILE = Path("pql-alerts.sqlite")
USER_AGENT = "pql-alerts/1"
RETRY_STATUSES = frozenset({408, 429})
#: 4xx answers about the endpoint, not the alert: every other alert would get them too
ENDPOINT_STATUSES = frozenset({401, 403, 404, 405, 410})
#: bounds of the numeric alert options (checked before any scoring work)
MAX_ATTEMPTS = 20
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 0.1, 300.0


@dataclass(frozen=True)
class AlertConfig:
    """Where and how alerts go; the defaults bound one alert to about 4 s + 4 timeouts."""

    url: str
    format: AlertFormat = "json"
    attempts: int = 4
    timeout_s: float = 10.0
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0

    def __post_init__(self) -> None:
        check_webhook_url(self.url)
        if self.format not in ("json", "slack"):
            raise UsageError(f"--alert-format: {self.format!r} is not json or slack")
        if not 1 <= self.attempts <= MAX_ATTEMPTS:
            raise UsageError(
                f"--alert-attempts: {self.attempts} is not between 1 and {MAX_ATTEMPTS}"
            )
        # `not (a <= x <= b)` also refuses NaN; inf would overflow the socket deadline
        timeout = self.timeout_s
        if not (math.isfinite(timeout) and MIN_TIMEOUT_S <= timeout <= MAX_TIMEOUT_S):
            raise UsageError(
                f"--alert-timeout: {self.timeout_s:g} is not between {MIN_TIMEOUT_S:g} and "
                f"{MAX_TIMEOUT_S:g} seconds"
            )
        for name, value in (("backoff_s", self.backoff_s), ("backoff_max_s", self.backoff_max_s)):
            if not (math.isfinite(value) and 0 <= value <= MAX_TIMEOUT_S):
                raise UsageError(f"alert {name}: {value:g} is not between 0 and 300 seconds")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return min(self.backoff_s * 2 ** (attempt - 1), self.backoff_max_s)


def check_webhook_url(url: str) -> None:
    """An absolute http(s) URL with a host, checked before any scoring work."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise UsageError(f"--alert-webhook: cannot read {redact(url)!r} as a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"--alert-webhook: {redact(url)!r} is not an http:// or https:// URL with a host"
        )


def redact(url: str) -> str:
    """scheme://host[:port] only: webhook paths (Slack's) carry the secret token."""
    try:
        parts = urlsplit(url)
        if parts.scheme and parts.hostname:
            port = f":{parts.port}" if parts.port else ""
            return f"{parts.scheme}://{parts.hostname}{port}/..."
    except ValueError:
        pass
    return "<webhook URL>"


def alert_scope(product: str, entity: str) -> str:
    """What one state file keeps apart: a product's users and its accounts are two scopes."""
    return f"{product}/{entity}"


def idempotency_key(scope: str, entity_id: str, number: int) -> str:
    """Stable per qualification: the same alert resent carries the same key."""
    digest = hashlib.sha256(json.dumps([scope, entity_id, number]).encode()).hexdigest()
    return f"pql-{digest[:32]}"


def _iso(value: object) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).tz_convert("UTC").isoformat().replace("+00:00", "Z")


def _number(value: object) -> float | int | None:
    if value is None or pd.isna(value):
        return None
    number = value.item() if hasattr(value, "item") else value
    return number if isinstance(number, int | float) else float(number)  # type: ignore[arg-type]


def _string(value: object) -> str | None:
    """Text or None: a frame read back from CSV holds version 3 as an int64."""
    return None if value is None or pd.isna(value) else str(value)


def alert_event(
    row: pd.Series,
    *,
    product: str,
    entity: str,
    key: str,
    number: int,
    attributes: tuple[str, ...] = (),
) -> dict[str, object]:
    """The JSON body of one alert (`type: pql.qualified`), from one leads row; with fit
    attributes also its fit reasons and the routing `attributes` (`output.attributes`)."""
    reasons = [row[c] for c in ("reason_1", "reason_2", "reason_3") if not pd.isna(row.get(c))]
    event = _event(row, product, entity, key, number, reasons)
    if "fit_reason_1" in row.index:
        fit = [row[c] for c in ("fit_reason_1", "fit_reason_2") if not pd.isna(row.get(c))]
        event["fit_reasons"] = [str(r) for r in fit]
        event["fit_holding_back"] = _string(row.get("negative_fit_reason_1"))
    if attributes:
        event["attributes"] = {name: _value(row.get(name)) for name in attributes}
    return event


def _value(value: object) -> str | float | int | None:
    """An attribute's JSON value: a number stays a number, anything else is text."""
    if value is None or pd.isna(value):
        return None
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return _number(value)
    return str(value)


def _event(
    row: pd.Series, product: str, entity: str, key: str, number: int, reasons: list
) -> dict[str, object]:
    return {
        "type": "pql.qualified",
        "idempotency_key": key,
        "product": product,
        "entity": entity,
        "entity_id": str(row["entity_id"]),
        "account_id": _string(row.get("account_id")),
        "qualification": number,
        "probability": _number(row.get("probability")),
        "score": _number(row.get("score")),
        "tier": _string(row.get("tier")),
        "reasons": [str(r) for r in reasons],
        "holding_back": _string(row.get("negative_reason_1")),
        "last_active_at": _iso(row.get("last_active_at")),
        "model_version": _string(row.get("model_version")),
        "as_of": _iso(row.get("as_of")),
        "scored_at": _iso(row.get("scored_at")),
    }


def _slack_escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(event: dict[str, object]) -> dict[str, object]:
    """A Slack incoming-webhook message: `text` (notifications) plus readable blocks."""
    who = _slack_escape(str(event["entity_id"]))
    account = event.get("account_id")
    where = f" (account {_slack_escape(str(account))})" if account and account != who else ""
    headline = (
        f"New PQL in {_slack_escape(str(event['product']))}: {who}{where}, "
        f"score {event['score']}, tier {event['tier']}"
    )
    reasons = event["reasons"]
    listed = reasons if isinstance(reasons, list) else []
    why = "\n".join(f"• {_slack_escape(str(r))}" for r in listed) or "• (no reason)"
    holding = event.get("holding_back")
    lines = f"*Why*\n{why}"
    if holding:
        lines += f"\n*Holding back*: {_slack_escape(str(holding))}"
    fit = event.get("fit_reasons")
    if isinstance(fit, list) and fit:
        lines += "\n*Who*: " + "; ".join(_slack_escape(str(r)) for r in fit)
    routing = event.get("attributes")
    if isinstance(routing, dict) and routing:
        shown = ", ".join(
            f"{k} {_slack_escape(str(v))}" for k, v in routing.items() if v is not None
        )
        lines += f"\n*Route by*: {shown or '(unknown)'}"
    version = event.get("model_version")
    context = (
        f"model {_slack_escape(str(version))} · as of {event['as_of']} · "
        f"last active {event.get('last_active_at') or 'never'} · {event['idempotency_key']}"
    )
    return {
        "text": headline,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": lines}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


@dataclass(frozen=True)
class PendingAlert:
    key: str
    entity_id: str
    event: dict[str, object]
    attempts: int


@dataclass(frozen=True)
class RecordResult:
    qualified: int  # new qualifications opened by this run (= new pending alerts)
    dropped: int  # entities that fell below the threshold since their last run


_SCHEMA = """
CREATE TABLE IF NOT EXISTS qualification (
    scope TEXT NOT NULL,            -- product/entity kind: one file can serve several
    entity_id TEXT NOT NULL,
    qualified INTEGER NOT NULL,     -- 1 while the entity is a PQL
    number INTEGER NOT NULL,        -- qualifications so far (the alert's sequence)
    changed_as_of TEXT NOT NULL,
    PRIMARY KEY (scope, entity_id)
);
CREATE TABLE IF NOT EXISTS alert (
    key TEXT PRIMARY KEY,           -- the idempotency key sent with the alert
    scope TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    event TEXT NOT NULL,            -- the JSON event, fixed when the alert was opened
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent')),
    created_at TEXT NOT NULL,
    sent_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS alert_pending ON alert (status, created_at);
"""


def _now() -> str:
    return datetime.now(tz=UTC).isoformat()


class AlertState:
    """The alert state file: qualifications and the alerts they opened.

    Opening checks the whole file (`PRAGMA quick_check`), so a damaged one is refused
    before any scoring work; a problem the file shows later (or a disk error) is a
    `DataError` too, never a traceback. Either way nothing is guessed: the user restores
    the file, or moves it aside and starts a new one (its pending alerts are then lost).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check(3)")]
        except (sqlite3.Error, OSError) as exc:
            raise DataError(f"{self.path}: cannot use it as the alert state file ({exc})") from None
        if problems != ["ok"]:
            self._db.close()
            raise self._damaged("; ".join(problems))

    def _damaged(self, problem: object) -> DataError:
        return DataError(
            f"{self.path}: the alert state file is damaged ({problem}); restore it from a "
            "backup, or move it aside to start a new one (its pending alerts are then lost)"
        )

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, with SQLite's errors said as the state file's problem."""
        try:
            yield self._db
        except sqlite3.Error as exc:
            raise self._damaged(exc) from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> AlertState:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def record(
        self,
        leads: pd.DataFrame,
        *,
        product: str,
        entity: str,
        attributes: tuple[str, ...] = (),
    ) -> RecordResult:
        """Open a qualification and a pending alert per newly qualified entity, atomically
        (`attributes`: the routing columns each alert carries)."""
        routing = tuple(a for a in attributes if a in leads.columns)
        scope = alert_scope(product, entity)
        scored = leads[leads["status"] == "scored"]
        is_pql = scored["is_pql"].astype("boolean").fillna(False).astype(bool).to_numpy()
        ids = scored["entity_id"].astype(str).to_numpy()
        as_of = _iso(scored["as_of"].iloc[0]) if len(scored) else _now()
        with self._reading() as db:
            return self._record(db, scope, scored, is_pql, ids, as_of, product, entity, routing)

    def _record(
        self,
        db: sqlite3.Connection,
        scope: str,
        scored: pd.DataFrame,
        is_pql: np.ndarray,
        ids: np.ndarray,
        as_of: str | None,
        product: str,
        entity: str,
        routing: tuple[str, ...] = (),
    ) -> RecordResult:
        created = _now()
        db.execute("BEGIN IMMEDIATE")
        try:
            state = {
                entity_id: (qualified, number)
                for entity_id, qualified, number in db.execute(
                    "SELECT entity_id, qualified, number FROM qualification WHERE scope = ?",
                    (scope,),
                )
            }
            opened, alerts = [], []
            for position in is_pql.nonzero()[0]:
                entity_id = ids[position]
                qualified, number = state.get(entity_id, (0, 0))
                if qualified:
                    continue
                number += 1
                key = idempotency_key(scope, entity_id, number)
                event = alert_event(
                    scored.iloc[position],
                    product=product,
                    entity=entity,
                    key=key,
                    number=number,
                    attributes=routing,
                )
                opened.append((scope, entity_id, 1, number, as_of))
                alerts.append((key, scope, entity_id, number, json.dumps(event), created))
            dropped = [
                (as_of, scope, entity_id)
                for entity_id in ids[~is_pql]
                if state.get(entity_id, (0, 0))[0]
            ]
            db.executemany("INSERT OR REPLACE INTO qualification VALUES (?, ?, ?, ?, ?)", opened)
            db.executemany(
                "INSERT INTO alert (key, scope, entity_id, number, event, status, created_at) "
                "VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                alerts,
            )
            db.executemany(
                "UPDATE qualification SET qualified = 0, changed_as_of = ? "
                "WHERE scope = ? AND entity_id = ?",
                dropped,
            )
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # a damaged file may refuse this too
                db.execute("ROLLBACK")
            raise
        return RecordResult(qualified=len(alerts), dropped=len(dropped))

    def pending(self, scope: str) -> list[PendingAlert]:
        """The scope's alerts not yet taken by the receiver, oldest first.

        Only one scope: another product sharing the file has its own webhook, and its
        alerts must never reach this one.
        """
        with self._reading() as db:
            rows = db.execute(
                "SELECT key, entity_id, event, attempts FROM alert "
                "WHERE status = 'pending' AND scope = ? ORDER BY created_at, rowid",
                (scope,),
            ).fetchall()
        try:
            return [PendingAlert(k, e, json.loads(body), n) for k, e, body, n in rows]
        except (TypeError, ValueError) as exc:  # a row whose event is not the JSON written
            raise self._damaged(f"an alert's event is not JSON: {exc}") from None

    def pending_elsewhere(self, scope: str) -> dict[str, int]:
        """Pending alerts of the other scopes in this file: left for their own runs."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT scope, count(*) FROM alert WHERE status = 'pending' AND scope != ? "
                "GROUP BY scope ORDER BY scope",
                (scope,),
            )
            return dict(rows.fetchall())

    def mark_sent(self, key: str, attempts: int) -> None:
        with self._reading() as db:
            db.execute(
                "UPDATE alert SET status = 'sent', sent_at = ?, attempts = attempts + ?, "
                "last_error = NULL WHERE key = ?",
                (_now(), attempts, key),
            )

    def mark_failed(self, key: str, attempts: int, error: str) -> None:
        with self._reading() as db:
            db.execute(
                "UPDATE alert SET attempts = attempts + ?, last_error = ? WHERE key = ?",
                (attempts, error, key),
            )

    def counts(self) -> dict[str, int]:
        with self._reading() as db:
            rows = db.execute("SELECT status, count(*) FROM alert GROUP BY status")
            return {"pending": 0, "sent": 0, **dict(rows.fetchall())}


@dataclass(frozen=True)
class Attempt:
    """One POST's outcome: delivered, or why not and whether trying again may help."""

    ok: bool
    retry: bool = False
    error: str = ""
    #: the receiver refused this alert only (a 4xx about the payload): try the others
    alert_only: bool = False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Turn every 3xx into an HTTPError instead of re-sending it as a body-less GET."""

    def redirect_request(self, *_: object) -> None:
        return None


def _redirect_error(config: AlertConfig, exc: urllib.error.HTTPError) -> str:
    """Where a 3xx points (host only, like the webhook: paths carry secrets)."""
    location = exc.headers.get("Location") if exc.headers else None
    if not location:
        return f"HTTP {exc.code} {exc.reason}: a redirect without a Location (not followed)"
    target = urljoin(config.url, location)
    same_path = urlsplit(target).path == urlsplit(config.url).path
    where = redact(target) + (" (same path)" if same_path else " (another path)")
    return (
        f"HTTP {exc.code} {exc.reason}: redirects to {where}; pql does not follow "
        "redirects for a POST: set --alert-webhook to the final URL"
    )


class _Deadline:
    """Ends an attempt when its time is up, whatever the receiver is doing.

    Socket timeouts bound each read, so a receiver sending a byte every 0.5 s never
    trips them. The deadline shuts the connection's socket down from a timer thread
    instead: the blocked read then returns at once, and the attempt is a timeout.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    """Shut down the TCP connection under any wrapper (TLS included); a blocked read in
    another thread returns end-of-file."""
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watched(connection: type[http.client.HTTPConnection], deadline: _Deadline) -> Callable:
    """A connection class whose socket `deadline` can shut down from the moment it exists
    (before a TLS handshake, which can trickle too)."""

    def make(*args: object, **kwargs: object) -> http.client.HTTPConnection:
        opened = connection(*args, **kwargs)  # type: ignore[arg-type]
        create = opened._create_connection  # type: ignore[attr-defined]

        def create_watched(*a: object, **k: object) -> socket.socket:
            sock = create(*a, **k)
            deadline.watch(sock)
            return sock

        opened._create_connection = create_watched  # type: ignore[attr-defined]
        return opened

    return make


class _DeadlineHTTP(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(http.client.HTTPConnection, self.deadline), req)


class _DeadlineHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = _watched(http.client.HTTPSConnection, self.deadline)
        return self.do_open(connection, req, context=self._context)  # type: ignore[attr-defined]


def post_alert(config: AlertConfig, body: dict[str, object], key: str) -> Attempt:
    """One HTTP POST of a JSON body within `config.timeout_s` for the whole exchange;
    never raises for network or HTTP failures."""
    request = urllib.request.Request(
        config.url,
        data=json.dumps(body).encode("utf-8"),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "User-Agent": USER_AGENT,
        },
    )
    late = f"no complete answer within {config.timeout_s:g}s"
    with _Deadline(config.timeout_s) as deadline:
        opener = urllib.request.build_opener(
            _NoRedirect, _DeadlineHTTP(deadline), _DeadlineHTTPS(deadline)
        )
        try:
            with opener.open(request, timeout=config.timeout_s) as response:
                response.read()
                if deadline.expired:  # the read ended because the time was up
                    return Attempt(ok=False, retry=True, error=late)
                if not 200 <= response.status < 300:  # e.g. a 304 urllib lets through
                    return Attempt(ok=False, error=f"HTTP {response.status} {response.reason}")
                return Attempt(ok=True)
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                return Attempt(ok=False, retry=False, error=_redirect_error(config, exc))
            retry = exc.code >= 500 or exc.code in RETRY_STATUSES
            alert_only = 400 <= exc.code < 500 and not retry and exc.code not in ENDPOINT_STATUSES
            return Attempt(
                ok=False, retry=retry, error=f"HTTP {exc.code} {exc.reason}", alert_only=alert_only
            )
        except urllib.error.URLError as exc:
            reason = exc.reason
            if deadline.expired or isinstance(reason, TimeoutError | socket.timeout):
                return Attempt(ok=False, retry=True, error=late)
            text = getattr(reason, "strerror", None) or str(reason)
            return Attempt(ok=False, retry=True, error=f"cannot connect ({text})")
        except TimeoutError:
            return Attempt(ok=False, retry=True, error=late)
        except (http.client.HTTPException, ConnectionError, OSError) as exc:
            if deadline.expired:
                return Attempt(ok=False, retry=True, error=late)
            return Attempt(ok=False, retry=True, error=f"connection failed ({type(exc).__name__})")


@dataclass(frozen=True)
class DeliveryResult:
    sent: int
    pending: int  # this scope's alerts still pending
    error: str | None = None  # why delivery stopped, when it did
    #: pending alerts of other scopes in the same file, not sent by this run
    other_scopes: dict[str, int] = field(default_factory=dict)


Sender = Callable[[AlertConfig, dict[str, object], str], Attempt]


def deliver(
    state: AlertState,
    config: AlertConfig,
    scope: str,
    *,
    send: Sender = post_alert,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """POST the scope's pending alerts, oldest first. An alert the receiver refuses stays
    pending and the next is tried; a failure of the endpoint stops the run."""
    pending = state.pending(scope)
    elsewhere = state.pending_elsewhere(scope)
    sent = 0
    refused: list[str] = []
    for alert in pending:
        body = slack_payload(alert.event) if config.format == "slack" else alert.event
        outcome = Attempt(ok=False)
        attempts = 0
        while attempts < config.attempts:
            attempts += 1
            outcome = send(config, body, alert.key)
            if outcome.ok or not outcome.retry:
                break
            if attempts < config.attempts:
                sleep(config.backoff(attempts))
        if outcome.ok:
            state.mark_sent(alert.key, attempts)
            sent += 1
            continue
        state.mark_failed(alert.key, attempts, outcome.error)
        tried = f"after {attempts} attempts" if attempts > 1 else "(not retried)"
        failure = f"{outcome.error} {tried}"
        if outcome.alert_only:
            refused.append(f"{alert.entity_id!r}: {failure}")
            continue
        untried = len(pending) - sent - len(refused) - 1
        return DeliveryResult(
            sent=sent,
            pending=len(pending) - sent,
            error=f"{redact(config.url)}: {failure}"
            + _refused_note(refused)
            + (f"; {untried:,} later alerts not tried" if untried else ""),
            other_scopes=elsewhere,
        )
    if refused:
        return DeliveryResult(
            sent=sent,
            pending=len(refused),
            error=f"{redact(config.url)} refused {len(refused):,} of {len(pending):,} alerts "
            f"(e.g. {refused[0]}); every other alert was sent",
            other_scopes=elsewhere,
        )
    return DeliveryResult(sent=sent, pending=0, other_scopes=elsewhere)


def _refused_note(refused: list[str]) -> str:
    if not refused:
        return ""
    return f"; before that it refused {len(refused):,} alerts (e.g. {refused[0]})"
