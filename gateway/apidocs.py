"""/docs (Swagger UI) and /redoc (ReDoc) from assets installed with the product, no CDN.

The browser bundles come from the `fastapi-offline` wheel (a runtime dependency, about
2.8 MB: `swagger-ui-bundle.js`, `swagger-ui.css`, `redoc.standalone.js` and a favicon in
its `static/` folder), served here under /docs/assets. The pages are FastAPI's own, given
those local URLs, with Swagger UI's online validator badge (a call to validator.swagger.io)
and ReDoc's web fonts turned off. ReDoc's bundle still shows Redocly's logo from its CDN
(hidden when it does not load): each page's Content-Security-Policy lets the browser
load and call only this origin (inline scripts by their hash), so that request is never
made. Both pages render on a machine without internet (tests/gateway/test_api_docs_offline.py).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
SWAGGER_PARAMETERS = {"validatorUrl": None, "displayOperationId": True}
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
# ReDoc styles itself with <style> elements and searches in a worker made from a blob
POLICY = ("default-src 'none'; script-src 'self' {scripts}; style-src 'self' 'unsafe-inline'; "
          "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
          "font-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")


def bundle() -> Path:
    """The folder of the packaged Swagger UI and ReDoc files."""
    return Path(str(files("fastapi_offline") / "static"))


def install(app: FastAPI, openapi_url: str) -> None:
    """/docs, /redoc and their assets (left out of the OpenAPI document)."""
    app.mount(ASSETS, StaticFiles(directory=bundle()), name="docs-assets")
    title = f"{app.title} API"

    def swagger_ui(root: str) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=root + openapi_url, title=title,
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            swagger_ui_parameters=SWAGGER_PARAMETERS)

    def redoc(root: str) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=root + openapi_url, title=title,
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png", with_google_fonts=False)

    for path, page in (("/docs", swagger_ui), ("/redoc", redoc)):
        app.add_api_route(path, _serving(page), include_in_schema=False)


def _serving(page: Callable[[str], HTMLResponse]) -> Callable[[Request],
                                                               Awaitable[HTMLResponse]]:
    async def serve(request: Request) -> HTMLResponse:
        return confined(page(request.scope.get("root_path", "")))
    return serve


def confined(page: HTMLResponse) -> HTMLResponse:
    """The page with a Content-Security-Policy of this origin only, its inline scripts
    allowed by their SHA-256."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(bytes(page.body).decode()))
    page.headers["Content-Security-Policy"] = POLICY.format(scripts=hashes)
    page.headers["X-Content-Type-Options"] = "nosniff"
    return page
