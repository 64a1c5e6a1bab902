"""The operator console at /console: one HTML page, a hand-written JavaScript module and a
style sheet, all served from this package (docs/console.md says why no build step).

The page holds no data and no secret: it calls the Messaging API with the JWT it keeps in
memory. Every answer carries a Content-Security-Policy that lets the page load and call
nothing but this origin (images also from data: URLs, the QR codes).
"""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import Response

from gateway.errors import ApiError
from gateway.leanroute import api_router

STATIC = Path(__file__).parent / "static"
FILES = {"console.js": "text/javascript", "console.css": "text/css"}
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
           "Cache-Control": "no-cache"}

router = api_router(prefix="/console", include_in_schema=False)


def _file(name: str, media_type: str) -> Response:
    return Response((STATIC / name).read_bytes(), media_type=media_type, headers=HEADERS)


@router.get("")
async def page() -> Response:
    return _file("console.html", "text/html; charset=utf-8")


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in FILES:
        raise ApiError("NOT_FOUND", "No such console file")
    return _file(name, FILES[name])
