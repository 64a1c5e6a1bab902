"""/docs (Swagger UI) and /redoc (ReDoc) work with no internet: every page of the gateway
(/docs, /redoc, /console) and the OpenAPI document reference nothing of another origin,
the assets they name are served by the gateway itself, and headless Chromium renders
both API pages with every request to another origin cut (and none attempted)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import uvicorn
from fastapi.routing import APIRoute
from playwright.async_api import async_playwright

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.support.services import serving

CHROMIUM = "/usr/bin/chromium"
ORIGIN = "http://gateway"
ABSOLUTE = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)""")
JS_IMPORT = re.compile(r"""(?:import|from)\s*\(?\s*['"]([^'"]+)['"]""")
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


class References(HTMLParser):
    """Every URL an HTML page names in an attribute, and its inline scripts' text."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        for name, value in attrs:
            if name in ("src", "href", "action", "spec-url", "data", "poster") and value:
                self.urls.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def pages(app: Any) -> list[str]:
    """The gateway's HTML pages: the two API pages, and the console once it exists."""
    paths = {route.path for route in app.routes if isinstance(route, APIRoute)}
    return ["/docs", "/redoc", *(["/console"] if "/console" in paths else [])]


def _same_origin(url: str) -> bool:
    return url.startswith(("data:", "#")) or not urlsplit(url).netloc and not urlsplit(
        url).scheme


async def _assets(api: httpx.AsyncClient, page: str) -> set[str]:
    """The page's own references, all of this origin, each served with its media type;
    style sheets and scripts are followed one level for what they name in turn."""
    answer = await api.get(page)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(
        "text/html"), (page, answer.status_code)
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy, page
    parser = References()
    parser.feed(answer.text)
    assert not ABSOLUTE.findall(answer.text.replace("//<![CDATA[", "")), page
    assert parser.urls, page
    served = set()
    for url in parser.urls:
        assert _same_origin(url), (page, url)
        if url.startswith(("data:", "#")) or url.endswith(".json"):
            continue
        asset = await api.get(urljoin(ORIGIN + page, url))
        kind = CONTENT_TYPES.get(Path(urlsplit(url).path).suffix, "")
        assert asset.status_code == 200 and kind in asset.headers["content-type"], url
        assert len(asset.content) > 1000 or kind == "image/png", url
        if kind == "text/css":
            assert all(_same_origin(u) for u in CSS_URL.findall(asset.text)), url
        served.add(urlsplit(url).path)
    return served


def links_of(document: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(where, value) of every string of the OpenAPI document outside descriptions and
    examples, where a link would be: `$ref`s, servers, externalDocs, contact, license."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key not in ("description", "example", "examples"):
                yield from links_of(value, f"{path}/{key}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from links_of(value, f"{path}/{index}")
    elif isinstance(document, str):
        yield path, document


async def test_no_page_names_another_origin_and_every_asset_is_served() -> None:
    app = create_app(GatewaySettings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url=ORIGIN) as api:
        served = {page: await _assets(api, page) for page in pages(app)}
        document = (await api.get("/openapi.json")).json()
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= served["/docs"]
    assert "/docs/assets/redoc.standalone.js" in served["/redoc"]
    strays = [(where, value) for where, value in links_of(document)
              if ABSOLUTE.search(value) or (where.endswith("$ref") and
                                           not value.startswith("#/"))]
    assert not strays
    assert "servers" not in document and "externalDocs" not in document


def test_the_pages_are_absent_when_api_docs_is_off() -> None:
    app = create_app(GatewaySettings(api_docs=False))
    assert not {"/docs", "/redoc", "/openapi.json", "/docs/assets"} & {
        getattr(route, "path", "") for route in app.routes}


@asynccontextmanager
async def docs_server() -> AsyncIterator[str]:
    """The gateway app on a free port of 127.0.0.1 (no services: the pages need none)."""
    config = uvicorn.Config(create_app(GatewaySettings()), host="127.0.0.1", port=0,
                            lifespan="off", log_level="warning")
    async with serving(config) as port:
        yield f"http://127.0.0.1:{port}"


async def _rendered(browser: Any, url: str, selector: str, strays: list[str]) -> int:
    """How many `selector` elements the page at `url` shows once rendered, with every
    request to another origin recorded in `strays` and cut."""
    page = await browser.new_page()
    origin = url.rsplit("/", 1)[0]

    async def cut(route: Any) -> None:
        if route.request.url.startswith(origin + "/"):
            await route.continue_()
        else:
            strays.append(route.request.url)
            await route.abort("internetdisconnected")

    await page.route("**/*", cut)
    await page.goto(url)
    await page.wait_for_selector(selector, timeout=30_000)
    count = await page.locator(selector).count()
    await page.close()
    return int(count)


@pytest.mark.timeout(120)
async def test_swagger_ui_and_redoc_render_every_operation_with_the_network_cut() -> None:
    """Debian's chromium (.ci/run installs it), driven by Playwright."""
    operations = sum(len(ops) for ops in create_app(GatewaySettings()).openapi()[
        "paths"].values())
    strays: list[str] = []
    async with docs_server() as base, async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM,
                                               args=["--no-sandbox"])
        try:
            swagger = await _rendered(browser, f"{base}/docs", ".opblock", strays)
            redoc = await _rendered(browser, f"{base}/redoc", "[data-section-id^='operation/']",
                                    strays)
        finally:
            await browser.close()
    assert not strays
    assert swagger == operations
    assert redoc >= operations
