"""A real webhook receiver on a loopback port for the alert tests.

It answers each request with the next scripted behaviour: a status code (200, 500,
400, ...), ("sleep", seconds) to time out the caller, ("trickle", seconds) to send a
200 answer one byte every `seconds` (each read is quick, the whole answer is not), or
("redirect", 301, location), then 200 once the script is used up. A GET is answered
200 and kept in `gets`: a client that follows a POST's redirect as a GET shows up
there. Every request body it read is kept, with its Idempotency-Key header, so tests
can count deliveries and duplicates. `stop()` closes the port; a new receiver can
listen on the same port again ("down, then restarts").
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    key: str | None
    body: dict
    answered: int | str  # the status sent, or "sleep" when the caller was left waiting


@dataclass
class Receiver:
    port: int = 0
    script: list[int | tuple[str, float]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    gets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with lock:
                    action = receiver.script.pop(0) if receiver.script else 200
                key = self.headers.get("Idempotency-Key")
                location = None
                if isinstance(action, tuple) and action[0] == "redirect":
                    _, action, location = action
                    receiver.received.append(Received(key, body, action))
                elif isinstance(action, tuple) and action[0] == "trickle":
                    receiver.received.append(Received(key, body, "trickle"))
                    self._trickle(float(action[1]))
                    return
                elif isinstance(action, tuple):
                    receiver.received.append(Received(key, body, "sleep"))
                    time.sleep(action[1])
                    action = 200
                else:
                    receiver.received.append(Received(key, body, action))
                self._answer(action, location)

            def _trickle(self, interval: float) -> None:
                answer = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + b"o" * 40
                try:
                    for byte in answer:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(interval)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller gave up: what a deadline is for
                self.close_connection = True

            def do_GET(self) -> None:
                receiver.gets.append(self.path)
                self._answer(200, None)

            def _answer(self, action: int, location: str | None) -> None:
                try:
                    self.send_response(action)
                    if location:
                        self.send_header("Location", location)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/pql"

    @property
    def delivered(self) -> list[Received]:
        """Requests answered 2xx: what the receiver accepted."""
        return [
            r
            for r in self.received
            if r.answered == "sleep" or (isinstance(r.answered, int) and 200 <= r.answered < 300)
        ]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
