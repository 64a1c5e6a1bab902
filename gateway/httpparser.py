"""The gateway's HTTP/1.1 protocol: uvicorn's on httptools (llhttp, in C), whose own
refusal of a request it cannot parse is answered in the API's envelope.

llhttp refuses what RFC 9110 calls invalid before the app sees the request: a header
value with a control character (section 5.5), a malformed request line or header. uvicorn
answers those with a plain-text 400; here they get 400 INVALID_REQUEST in the envelope of
the API the request's path belongs to (the path is parsed before the headers), then the
connection is closed, as uvicorn closes it.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.errors import envelope_body

REFUSAL = "Invalid HTTP request: it breaks HTTP/1.1's syntax (RFC 9110, RFC 9112)"


class EnvelopedHttpTools(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        path = urlsplit(self.url.decode("latin-1")).path
        body = json.dumps(envelope_body(path, "INVALID_REQUEST", REFUSAL)).encode()
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([b"content-type: application/json\r\n",
                        b"content-length: %d\r\n" % len(body), b"connection: close\r\n",
                        b"\r\n", body])
        self.transport.write(b"".join(content))
        self.transport.close()
