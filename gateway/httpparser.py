"""The gateway's HTTP/1.1 protocol: uvicorn's on httptools (llhttp, in C), with the two
things h11 gave the gateway before: a bound on a request's head, and its refusals in the
API's envelope.

- llhttp refuses what RFC 9110 calls invalid before the app sees the request: a header
  value with a control character (section 5.5), a malformed request line or header.
  uvicorn answers those with a plain-text 400; here they get 400 INVALID_REQUEST in the
  envelope of the API the request's path belongs to (the path is parsed before the
  headers), then the connection is closed, as uvicorn closes it.
- llhttp keeps a header of any length, and uvicorn every header of a request, until the
  head ends: a client could fill the process's memory with one endless header. A head
  (request line and headers) over `MAX_HEAD_BYTES`, h11's own bound, is refused the same
  way once that much of it has come.

A refusal with no response under way closes gracefully (RFC 9112 section 9.6): the
answer, then the write side closed, then what the client is still sending read and
dropped for up to `LINGER` s, so its socket does not answer the client's bytes with a
reset that could lose the answer.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.errors import envelope_body

REFUSAL = "Invalid HTTP request: it breaks HTTP/1.1's syntax (RFC 9110, RFC 9112)"
MAX_HEAD_BYTES = 16 * 1024  # h11's DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
LINGER = 2.0


class EnvelopedHttpTools(HttpToolsProtocol):
    _head_bytes = 0  # of the request whose head has not ended yet
    _in_head = False
    _refused = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)  # may refuse the request (send_400_response)
        if self._in_head and not self._refused and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(f"Request head too large: at most {MAX_HEAD_BYTES} bytes of "
                             "request line and headers")

    def send_400_response(self, msg: str) -> None:
        self._refuse(REFUSAL)

    def _refuse(self, message: str) -> None:
        path = urlsplit(self.url.decode("latin-1")).path
        body = json.dumps(envelope_body(path, "INVALID_REQUEST", message)).encode()
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([b"content-type: application/json\r\n",
                        b"content-length: %d\r\n" % len(body), b"connection: close\r\n",
                        b"\r\n", body])
        self.transport.write(b"".join(content))
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # a response under way: closed at once, as uvicorn does
            return
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER, self.transport.close)
