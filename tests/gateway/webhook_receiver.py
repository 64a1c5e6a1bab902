"""A real HTTP receiver on 127.0.0.1 for webhook tests: it verifies each request's
signature, answers 500 to the first `fail_first` requests, and records every request."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
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
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], raw: bytes) -> int:
        expected = "sha256=" + hmac.new(self.secret.encode(), raw, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(headers.get("x-switchboard-signature", ""), expected)
        with self.lock:
            code = 500 if len(self.calls) < self.fail_first else (200 if ok else 401)
            self.calls.append((code, headers, json.loads(raw), ok))
        return code

    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [body for code, _, body, _ in self.calls if code == 200]


@contextmanager
def receiver(secret: str, fail_first: int = 0) -> Iterator[Receiver]:
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

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/sb"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
