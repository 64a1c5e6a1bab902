"""The OpenAPI document of both APIs, as the gateway really answers.

FastAPI declares a 422 for every route with parameters; the gateway never sends one (bad
input is 400 INVALID_REQUEST in each API's envelope, gateway/errors.py, and every route
declares that), so the document leaves 422 and its validation-error schemas out.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

UNSENT = "422"
UNSENT_SCHEMAS = ("HTTPValidationError", "ValidationError")


def install(app: FastAPI) -> None:
    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _without_unsent(get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes))
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def _without_unsent(document: dict[str, Any]) -> dict[str, Any]:
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop(UNSENT, None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in UNSENT_SCHEMAS:
        schemas.pop(name, None)
    return document
