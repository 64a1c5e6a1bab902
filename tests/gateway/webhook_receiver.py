"""Real HTTP receivers on 127.0.0.1 for webhook tests: one that verifies each request's
signature, answers 500 to the first `fail_first` requests, and records every request (and
when it arrived); one that takes connections and never answers; a port that refuses."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    secret: str = ""
    fail_first: int = 0
    url: str = ""
    # (http status answered, headers, parsed body, signature ok)
    calls: list[tuple[int, dict[str, str], dict[str, Any], bool]] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)  # time.time() of each call
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], raw: bytes) -> int:
        expected = "sha256=" + hmac.new(self.secret.encode(), raw, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(headers.get("x-switchboard-signature", ""), expected)
        with self.lock:
            code = 500 if len(self.calls) < self.fail_first else (200 if ok else 401)
            self.calls.append((code, headers, json.loads(raw), ok))
            self.arrived.append(time.time())
        return code

    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [body for code, _, body, _ in self.calls if code == 200]


@contextmanager
def receiver(secret: str, fail_first: int = 0, host: str = "127.0.0.1") -> Iterator[Receiver]:
    state = Receiver(secret=secret, fail_first=fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            code = state.answer({k.lower(): v for k, v in self.headers.items()}, raw)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://{host}:{server.server_address[1]}/hooks/sb"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class BlackHole:
    """A server that reads each request and never answers; `open` counts connections the
    client has not given up on yet, `given_up_at` is when it last gave one up
    (time.monotonic)."""

    url: str = ""
    open: int = 0
    given_up_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hold(self, conn: socket.socket) -> None:
        with self.lock:
            self.open += 1
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass
        with self.lock:
            self.open -= 1
            self.given_up_at = time.monotonic()
        conn.close()


@contextmanager
def black_hole() -> Iterator[BlackHole]:
    state = BlackHole()
    listener = socket.create_server(("127.0.0.1", 0), backlog=256)
    listener.settimeout(0.1)
    done = threading.Event()

    def take() -> None:
        while not done.is_set():
            try:
                conn = listener.accept()[0]
            except OSError:  # the accept timed out (or the listener closed)
                continue
            threading.Thread(target=state.hold, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{listener.getsockname()[1]}/hooks/sb"
    try:
        yield state
    finally:
        done.set()
        thread.join()
        listener.close()


def refusing_url() -> str:
    """The URL of a port nothing listens on (connections are refused)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/sb"
