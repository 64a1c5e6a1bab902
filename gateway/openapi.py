"""The OpenAPI document of both APIs, as the gateway really answers, built in one place
for every route (those added later too):

- **operationIds** from the route's name (its function's, or `name=`), in camelCase,
  under its path's namespace (`v1` for the Instance API, `simulator`, `cloud`):
  `sendMessage`, `v1Send`. Two routes of one name are told apart by their tag
  (tests/gateway/test_openapi_document.py fails until one is renamed).
- **Security** from the route's dependencies: `current_user` (and so `admin_user`) is the
  HTTP bearer JWT, `instance_caller` the key pair (headers or query, each pair complete);
  a route that only reads an optional `Authorization` (the simulator) takes the bearer
  optionally. The parameters those dependencies read are left out: the schemes say it.
- **Tags** in the order of TAGS, each described; paths in the order gateway/routes lists
  its routers (`ROUTERS`), whatever order requests try them in.
- **Error examples**: every refusal shows an example per API code it may answer
  (gateway/shapes.py `refusals`); one a route declared without any gets its status's
  usual code, in its API's envelope.
- **Model names** are the classes' own; two classes of one name (FastAPI then names them
  by module path, `gateway__routes__x__Body`) become `<Module><Class>`.

FastAPI declares a 422 for every route with parameters; the gateway never sends one (bad
input is 400 INVALID_REQUEST in each API's envelope, gateway/errors.py, and every route
declares that), so the document leaves 422 and its validation-error schemas out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from gateway.deps import current_user, instance_caller
from gateway.routes import ROUTERS
from gateway.shapes import ErrorBody, default_code
from gateway.v1 import PREFIX as V1_PREFIX
from gateway.v1 import V1Error

UNSENT = "422"
UNSENT_SCHEMAS = ("HTTPValidationError", "ValidationError")
NAMESPACES = {V1_PREFIX + "/": "v1", "/simulator/": "simulator",
              "/webhooks/whatsapp-cloud": "cloud"}
TAGS = [
    ("auth", "Messaging API: sign up, and sign in for the JWT every other `/api` route "
             "takes as `Authorization: Bearer <token>`."),
    ("users", "Messaging API: the signed-in user's profile and credits."),
    ("messages", "Messaging API: send one message or a bulk request through the shared "
                 "pool, follow their status (one by one, as history, or live as "
                 "Server-Sent Events)."),
    ("templates", "Messaging API: message templates with `{{variables}}`, for sends."),
    ("webhooks", "Messaging API: URLs that receive the user's status changes, signed, "
                 "and their delivery log."),
    ("contacts", "Messaging API: which numbers are on WhatsApp."),
    ("inbox", "Messaging API: messages received on the user's linked numbers."),
    ("instances", "Messaging API: instances (one linked WhatsApp number each), their key "
                  "pairs for the Instance API, their status and QR code, session control."),
    ("admin", "Messaging API, administrators only: users, credits, every instance."),
    ("instance api", "Instance API (`/api/v1/whatsapp`): one instance's status, QR code, "
                     "quota, subscription and sends, signed with its key pair."),
    ("simulator", "The simulated phones (only with the simulator transport): scan a QR, "
                  "read a recipient's inbox, drop or ban a device."),
    ("health", "Liveness and readiness of the gateway and the services behind it."),
    ("whatsapp cloud", "The callback Meta's WhatsApp Cloud API calls with message "
                       "statuses (signed by Meta, not by either API's credentials)."),
]
SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "Messaging API: the `access_token` of POST /api/auth/login"},
    "publicKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Public-Key",
                        "description": "Instance API: the instance's `public_key`"},
    "secretKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Secret-Key",
                        "description": "Instance API: the instance's `secret_key` "
                                       "(headers are kept out of URLs and logs: prefer them)"},
    "publicKeyQuery": {"type": "apiKey", "in": "query", "name": "publicKey",
                       "description": "Instance API: the instance's `public_key`"},
    "secretKeyQuery": {"type": "apiKey", "in": "query", "name": "secretKey",
                       "description": "Instance API: the instance's `secret_key`"},
}
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
OPTIONAL_BEARER: list[dict[str, list[str]]] = [{}, {"bearerAuth": []}]
KEY_PAIR: list[dict[str, list[str]]] = [{"publicKeyHeader": [], "secretKeyHeader": []},
                                        {"publicKeyQuery": [], "secretKeyQuery": []}]
# an APIRoute, or FastAPI's RouteContext standing for one as included (same attributes)
Route = Any
CREDENTIAL_PARAMETERS = {("header", "authorization"), ("header", "x-public-key"),
                         ("header", "x-secret-key"), ("query", "publickey"),
                         ("query", "secretkey")}


def install(app: FastAPI) -> None:
    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finished(app, get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=documented(app)))
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def documented(app: FastAPI) -> list[BaseRoute]:
    """The app's routes, its routers in the order of `ROUTERS` (the rest after them)."""
    def place(route: BaseRoute) -> int:
        router = getattr(route, "original_router", None)
        return ROUTERS.index(router) if router in ROUTERS else len(ROUTERS)

    return sorted(app.routes, key=place)


def finished(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    used: set[str] = set()
    for route, method, operation in operations(app, document):
        operation["operationId"] = _unique(operation_id(route, method), route, used)
        _secure(route, operation)
        _with_examples(route.path_format, operation)
    document.setdefault("components", {})["securitySchemes"] = SCHEMES
    document["tags"] = tags_of(document)
    return _renamed_models(_without_unsent(document))


def operations(app: FastAPI, document: dict[str, Any]
               ) -> Iterator[tuple[Route, str, dict[str, Any]]]:
    """Each documented operation with its route."""
    paths = document.get("paths", {})
    for route in api_routes(app):
        for method in sorted(route.methods):
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is not None:
                yield route, method, operation


def api_routes(app: FastAPI) -> Iterator[Route]:
    """Every documented API route as the app serves it (an included router's routes with
    its prefix, tags and dependencies: FastAPI's route contexts where it has them)."""
    contexts = getattr(routing, "iter_route_contexts", None)
    found: list[Route] = list(contexts(app.routes) if contexts else app.routes)
    for route in found:
        original = getattr(route, "original_route", route)
        if isinstance(original, APIRoute) and route.include_in_schema:
            yield route


def operation_id(route: Route, method: str) -> str:
    """The route's own name, in camelCase, under its path's namespace (and after its
    method, for a route of several)."""
    if route.operation_id:
        return route.operation_id
    space = next((name for prefix, name in NAMESPACES.items()
                  if route.path_format.startswith(prefix)), "")
    verb = method.lower() if len(route.methods) > 1 else ""
    return camel("_".join(part for part in (space, verb, route.name) if part))


def camel(name: str) -> str:
    first, *rest = [part for part in name.replace(" ", "_").split("_") if part]
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _unique(wanted: str, route: Route, used: set[str]) -> str:
    """`wanted`, or (already taken by another route) qualified by the route's tag."""
    chosen = wanted
    if chosen in used:
        tag = str(route.tags[0]) if route.tags else "other"
        chosen = camel(f"{tag}_{wanted}")
    used.add(chosen)
    return chosen


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def security_of(route: Route) -> list[dict[str, list[str]]] | None:
    """What the route's dependencies check: the key pair, the JWT, an optional JWT."""
    found = list(_dependants(route.dependant))
    calls = {dependant.call for dependant in found}
    if instance_caller in calls:
        return KEY_PAIR
    if current_user in calls:
        return BEARER
    if any(param.alias.lower() == "authorization"
           for dependant in found for param in dependant.header_params):
        return OPTIONAL_BEARER
    return None


def _secure(route: Route, operation: dict[str, Any]) -> None:
    security = security_of(route)
    if security is None:
        return
    operation["security"] = security
    kept = [p for p in operation.get("parameters", [])
            if (p["in"], p["name"].lower()) not in CREDENTIAL_PARAMETERS]
    if kept:
        operation["parameters"] = kept
    else:
        operation.pop("parameters", None)


def _with_examples(path: str, operation: dict[str, Any]) -> None:
    """An example per code each refusal names (gateway/shapes.py `refusals`), in its API's
    envelope; a refusal declared without codes shows its status's usual one."""
    envelope = V1Error if path.startswith(V1_PREFIX) else ErrorBody
    for status, response in operation.get("responses", {}).items():
        codes = response.pop("x-codes", None)
        media = response.get("content", {}).get("application/json")
        if not status.isdigit() or int(status) < 400 or media is None:
            continue
        for code in codes or [default_code(int(status), envelope)]:
            media.setdefault("examples", {})[code] = {
                "summary": code, "value": envelope.example(code, int(status))}


def tags_of(document: dict[str, Any]) -> list[dict[str, str]]:
    """TAGS in their order, then any other tag an operation names (undescribed)."""
    named = {tag for ops in document.get("paths", {}).values() for op in ops.values()
             for tag in op.get("tags", [])}
    listed = [{"name": name, "description": text} for name, text in TAGS if name in named]
    known = {name for name, _ in TAGS}
    return listed + [{"name": name} for name in sorted(named - known)]


def _renamed_models(document: dict[str, Any]) -> dict[str, Any]:
    """`gateway__routes__instance_api__send__SendBody` -> `SendSendBody`, etc."""
    schemas = document.get("components", {}).get("schemas", {})
    renames = {}
    for name in [n for n in schemas if "__" in n]:
        *module, cls = name.split("__")
        short = camel("_" + module[-1]) + cls
        short = short[:1].upper() + short[1:]
        renames[name] = short if short not in schemas else camel("_".join(module)) + cls
    if not renames:
        return document
    text = json.dumps(document)
    for old, new in renames.items():
        text = text.replace(f'"#/components/schemas/{old}"', f'"#/components/schemas/{new}"')
    renamed: dict[str, Any] = json.loads(text)
    found = renamed["components"]["schemas"]
    for old, new in renames.items():
        found[new] = found.pop(old)
        found[new]["title"] = new
    return renamed


def _without_unsent(document: dict[str, Any]) -> dict[str, Any]:
    for operations_of in document.get("paths", {}).values():
        for operation in operations_of.values():
            operation.get("responses", {}).pop(UNSENT, None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in UNSENT_SCHEMAS:
        schemas.pop(name, None)
    return document
