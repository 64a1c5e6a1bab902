"""gateway/foreground.py: a bulk send counts as foreground (kernel/foreground.py) from its
arrival to its answer, raised or not; no other request counts."""

from __future__ import annotations

import pytest
from starlette.types import Receive, Scope, Send

from gateway.foreground import BulkForeground
from kernel.foreground import FOREGROUND


def scope(method: str, path: str) -> Scope:
    return {"type": "http", "method": method, "path": path, "headers": []}


async def nothing() -> dict[str, object]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def drop(message: object) -> None:
    pass


@pytest.mark.parametrize(("method", "path", "counted"), [
    ("POST", "/api/messages/send-bulk-message", 1),
    ("POST", "/api/messages/send-bulk-message/", 1),
    ("POST", "/api/messages/send-message", 0),
    ("POST", "/api/v1/whatsapp/send", 0),
    ("GET", "/api/messages/send-bulk-message", 0),
])
async def test_only_a_bulk_send_is_counted_while_it_is_answered(
        method: str, path: str, counted: int) -> None:
    seen: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(FOREGROUND.serving)

    await BulkForeground(app)(scope(method, path), nothing, drop)
    assert seen == [counted] and FOREGROUND.serving == 0


async def test_a_bulk_send_that_raises_is_counted_no_more() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        await BulkForeground(app)(scope("POST", "/api/messages/send-bulk-message"),
                                  nothing, drop)
    assert FOREGROUND.serving == 0
