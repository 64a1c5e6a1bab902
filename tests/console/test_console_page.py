"""The console's files as the gateway serves them: nothing from another origin, a policy
that forbids loading any, and no file served that is not the console's."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import create_app
from gateway.console import STATIC
from gateway.settings import GatewaySettings

# an absolute or protocol-relative URL: another origin, whatever the scheme
EXTERNAL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://|(?:src|href|action)\s*=\s*[\"']?//|url\(\s*[\"']?//")
REFERENCED = re.compile(r"(?:src|href)=\"([^\"#]+)\"")


@pytest.fixture
async def gateway() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(GatewaySettings())  # the console's routes ask no service
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://gateway") as client:
        yield client


def test_no_console_file_names_another_origin() -> None:
    files = sorted(STATIC.iterdir())
    assert {f.name for f in files} == {"console.html", "console.js", "console.css"}
    for path in files:
        found = EXTERNAL.findall(path.read_text())
        assert not found, (path.name, found)


def test_the_pattern_catches_external_references() -> None:
    for text in ('<script src="https://cdn.example/x.js">', '<img src="//cdn.example/a.png">',
                 "background: url(//cdn.example/a.png)", 'fetch("http://example.com/api")'):
        assert EXTERNAL.search(text), text


async def test_the_page_and_its_files_come_from_the_gateway_under_a_strict_policy(
        gateway: httpx.AsyncClient) -> None:
    page = await gateway.get("/console")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    referenced = REFERENCED.findall(page.text)
    assert referenced == ["/console/static/console.css", "/console/static/console.js"]
    for path in referenced:
        served = await gateway.get(path)
        assert served.status_code == 200, path
        assert served.headers["x-content-type-options"] == "nosniff"
    kinds = {path: (await gateway.get(path)).headers["content-type"] for path in referenced}
    assert kinds["/console/static/console.js"].startswith("text/javascript")
    assert kinds["/console/static/console.css"].startswith("text/css")


async def test_nothing_else_is_served_from_the_console_folder(gateway: httpx.AsyncClient) -> None:
    for name in ("console.html", "..%2F__init__.py", "missing.js", "__init__.py"):
        refused = await gateway.get(f"/console/static/{name}")
        assert refused.status_code == 404, name
        assert refused.json()["error"] == "NOT_FOUND"
