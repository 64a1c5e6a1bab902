"""Routes that plan their dependencies once, not on every request.

FastAPI solves a route's dependencies anew on each request: for every dependency it asks
again whether the function is a generator or a coroutine, what its cache key and security
scopes are, and for every parameter list (path, query, header, cookie; empty or not) it
walks the fields. That machinery was some 90 µs of the ~250 µs a single send spent in the
gateway (`bench/gateway_asgi.py`, py-spy), more than the route's own work.

A `LeanRoute` asks those questions once, when its handler is made, and keeps the answers
as a `Plan`: the dependencies to call in order (each once a request, as FastAPI caches
them), and only the parameter lists that hold fields. Per request it reads the body as
FastAPI does, validates parameters and body with FastAPI's own functions (so the same
values and the same errors, loc for loc), calls the endpoint, and serializes its answer
by the response model. Errors raise what FastAPI raises (`RequestValidationError`,
`ResponseValidationError`, `HTTPException`) for the app's handlers (gateway/errors.py).

A route that uses anything beyond that keeps FastAPI's own handler: dependencies with
`yield`, plain `def` functions (run in a thread), security scopes, background tasks,
websockets, form bodies, streamed answers, a response class other than JSON, or an
inclusion that adds dependencies of its own. So does every route if FastAPI's helpers do
not have the shape this module was written for (`FITS`). Dependency overrides are not
looked at (the gateway sets none). tests/gateway/test_lean_routes.py checks that the
installed FastAPI fits and that each route answers as FastAPI's handler does.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, params, routing
from fastapi._compat import ModelField, field_annotation_is_sequence
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies import utils as deps
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.utils import is_body_allowed_for_status_code
from pydantic_core import PydanticUndefined
from starlette.datastructures import Headers

from gateway.text import plain_parameters

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
NO_BODY = object()  # FastAPI's `Undefined`: no body was sent


def _fits() -> bool:
    """Whether FastAPI's parameter and body helpers take what this module passes them."""
    try:
        taken = inspect.signature(deps.request_params_to_args).parameters
        body = inspect.signature(deps.request_body_to_args).parameters
    except (AttributeError, ValueError):
        return False
    return (list(taken) == ["fields", "received_params"]
            and list(body) == ["body_fields", "received_body", "embed_body_fields"]
            and inspect.iscoroutinefunction(deps.request_body_to_args)
            and deps.Undefined is PydanticUndefined
            and hasattr(ModelField, "serialize_json")
            and set(Dependant.__dataclass_fields__) >= WATCHED)


# a dependant with any of these set needs FastAPI's own solver
WATCHED = {"http_connection_param_name", "websocket_param_name", "background_tasks_param_name",
           "security_scopes_param_name", "own_oauth_scopes", "parent_oauth_scopes"}


@dataclass(frozen=True)
class Plan:
    """One dependant (the endpoint or a dependency), its questions answered."""

    call: Callable[..., Awaitable[Any]]
    name: str | None
    use_cache: bool
    needs: tuple[Plan, ...]  # its dependencies, in FastAPI's order
    params: tuple[Params, ...]  # only the parts of the request it reads parameters from
    request_name: str | None
    response_name: str | None

    @classmethod
    def of(cls, dependant: Dependant) -> Plan | None:
        """The plan, or None when the dependant needs FastAPI's own solver."""
        call = dependant.call
        if (call is None or not inspect.iscoroutinefunction(call)
                or any(getattr(dependant, name, None) for name in WATCHED)
                or getattr(dependant, "concurrency", None) is not None):
            return None
        needs = tuple(cls.of(sub) for sub in dependant.dependencies)
        if any(need is None for need in needs) or any(
                sub.body_params for sub in dependant.dependencies):
            return None
        sources = ((dependant.path_params, _path), (dependant.query_params, _query),
                   (dependant.header_params, _headers), (dependant.cookie_params, _cookies))
        return cls(call, dependant.name, dependant.use_cache,
                   needs,  # type: ignore[arg-type]  # no None, checked above
                   tuple(Params.of(fields, part) for fields, part in sources if fields),
                   dependant.request_param_name, dependant.response_param_name)

    async def solve(self, request: Request, response: Response, cache: dict[Any, Any],
                    errors: list[Any]) -> dict[str, Any]:
        """The keyword arguments of this plan's call (FastAPI's `solve_dependencies`
        without what the plan ruled out): each dependency's answer, called at most
        once a request, then the parameters; errors are appended to `errors`."""
        values: dict[str, Any] = {}
        for need in self.needs:
            if need.use_cache and need.call in cache:
                solved = cache[need.call]
            else:
                failed = len(errors)
                arguments = await need.solve(request, response, cache, errors)
                if len(errors) > failed:
                    continue
                solved = await need.call(**arguments)
                cache.setdefault(need.call, solved)
            if need.name is not None:
                values[need.name] = solved
        for part in self.params:
            part.read(request, values, errors)
        if self.request_name:
            values[self.request_name] = request
        if self.response_name:
            values[self.response_name] = response
        return values


@dataclass(frozen=True)
class Params:
    """The parameters a dependant takes from one part of the request (path, query,
    headers or cookies). A plain one (one name, one value, no model; all of the
    gateway's) is looked up by the key FastAPI would use, found once here, and validated
    by FastAPI's function; for any other, FastAPI's `request_params_to_args` reads the
    whole list."""

    fields: Sequence[ModelField]
    part: Callable[[Request], Any]
    plain: tuple[tuple[ModelField, str, tuple[str, str]], ...] | None  # field, key, loc

    @classmethod
    def of(cls, fields: Sequence[ModelField], part: Callable[[Request], Any]) -> Params:
        keys = [_plain_key(field) for field in fields] if PLAIN_PARAMETERS else [None]
        plain = None if None in keys else tuple(
            (field, key, (field.field_info.in_.value, key))  # type: ignore[attr-defined]
            for field, key in zip(fields, keys, strict=True))
        return cls(fields, part, plain)  # type: ignore[arg-type]  # no None key in plain

    def read(self, request: Request, values: dict[str, Any], errors: list[Any]) -> None:
        received = self.part(request)
        if self.plain is None:
            found, wrong = deps.request_params_to_args(self.fields, received)
            values.update(found)
            errors.extend(wrong)
            return
        for field, key, loc in self.plain:
            value = received.get(key)
            value, wrong = deps._validate_value_with_model_field(
                field=field, value=PydanticUndefined if value is None else value,
                values=values, loc=loc)
            if wrong:
                errors.extend(wrong)
            else:
                values[field.name] = value


def _plain_key(field: ModelField) -> str | None:
    """The request key of a parameter that takes one value by one name, as
    `request_params_to_args` finds it; None for any other."""
    aliases = deps._get_param_aliases(field)
    if (len(aliases) != 1 or deps._get_param_model(field) is not None
            or deps._is_json_field(field)
            or field_annotation_is_sequence(field.field_info.annotation)):
        return None
    return aliases[0][1]


def _path(request: Request) -> Any:
    return request.path_params


def _query(request: Request) -> Any:
    return request.query_params


def _headers(request: Request) -> Headers:
    return request.headers


def _cookies(request: Request) -> Any:
    return request.cookies


def json_content_type(value: str | None) -> bool:
    """Whether a Content-Type names JSON: application/json or application/*+json (the
    test FastAPI makes, with its parameters and case ignored)."""
    if not value:
        return False
    kind, _, subtype = value.partition(";")[0].strip().lower().partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


async def read_body(request: Request) -> Any:
    """The body as FastAPI reads it for a JSON body parameter: parsed when its type is
    JSON, the bytes otherwise, `NO_BODY` when empty; JSON that does not parse is
    FastAPI's `json_invalid` refusal."""
    raw = await request.body()
    if not raw:
        return NO_BODY
    if not json_content_type(request.headers.get("content-type")):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
              "input": {}, "ctx": {"error": exc.msg}}], body=exc.doc) from exc
    except ValueError as exc:  # not UTF-8, say
        raise HTTPException(400, "There was an error parsing the body") from exc


class LeanRoute(APIRoute):
    """An APIRoute whose handler follows a `Plan` (see the module doc); any route the
    plan cannot serve keeps FastAPI's handler."""

    def get_route_handler(self) -> Handler:
        plan = Plan.of(self.dependant) if FITS else None
        if plan is None or not self._plain_json() or self._included_with_more():
            return super().get_route_handler()
        return self._lean_handler(plan)

    def _included_with_more(self) -> bool:
        """Whether this route is being included with dependencies or a response class
        of the inclusion's own (FastAPI then builds its handler for that inclusion), which
        the plan, made from the route alone, would not hold: FastAPI's handler serves it.
        The gateway includes its routers bare (gateway/app.py)."""
        including = getattr(routing, "_effective_route_context_var", None)
        context = including.get() if including is not None else None
        if context is None or getattr(context, "original_route", None) is not self:
            return False
        return (list(getattr(context, "dependencies", [])) != list(self.dependencies)
                or _value(getattr(context, "response_class", self.response_class))
                is not _value(self.response_class))

    def _plain_json(self) -> bool:
        """A JSON answer (FastAPI's default response class) from a coroutine that is not
        a generator, and a body, if any, that is JSON (not a form)."""
        return (isinstance(self.response_class, DefaultPlaceholder)
                and self.response_class.value is JSONResponse
                and not inspect.isasyncgenfunction(self.endpoint)
                and not getattr(self, "is_sse_stream", False)
                and not getattr(self, "is_json_stream", False)
                and _value(getattr(self, "strict_content_type", True)) is True
                and (self.body_field is None
                     or not isinstance(self.body_field.field_info, params.Form)))

    def _lean_handler(self, plan: Plan) -> Handler:
        body_fields = self.dependant.body_params
        embed = getattr(self, "_embed_body_fields", False)
        answer = self._answer

        async def handler(request: Request) -> Response:
            body = await read_body(request) if body_fields else NO_BODY
            sub_response = Response()
            del sub_response.headers["content-length"]
            sub_response.status_code = None  # type: ignore[assignment]  # as FastAPI
            errors: list[Any] = []
            values = await plan.solve(request, sub_response, {}, errors)
            if body_fields:
                found, wrong = await deps.request_body_to_args(
                    body_fields=body_fields,
                    received_body=PydanticUndefined if body is NO_BODY else body,
                    embed_body_fields=embed)
                values.update(found)
                errors.extend(wrong)
            if errors:
                raise RequestValidationError(errors, body=None if body is NO_BODY else body)
            return answer(await plan.call(**values), sub_response)

        return handler

    def _answer(self, raw: Any, sub_response: Response) -> Response:
        """The endpoint's answer as the response FastAPI would send: a Response as it
        is; anything else validated and serialized by the response model, with the status
        and headers the endpoint set on its `Response` parameter."""
        if isinstance(raw, Response):
            return raw
        status = sub_response.status_code or self.status_code
        status = 200 if status is None else status  # the default of both answer classes
        field = self.response_field
        if field is None:
            response: Response = JSONResponse(jsonable_encoder(raw), status_code=status)
        else:
            value, errors = field.validate(raw, {}, loc=("response",))
            if errors:
                raise ResponseValidationError(errors, body=raw)
            response = Response(field.serialize_json(
                value, include=self.response_model_include,
                exclude=self.response_model_exclude,
                by_alias=self.response_model_by_alias,
                exclude_unset=self.response_model_exclude_unset,
                exclude_defaults=self.response_model_exclude_defaults,
                exclude_none=self.response_model_exclude_none),
                media_type="application/json", status_code=status)
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""
        response.headers.raw.extend(sub_response.headers.raw)
        return response


def _value(setting: Any) -> Any:
    return setting.value if isinstance(setting, DefaultPlaceholder) else setting


def api_router(*, dependencies: Sequence[Any] = (), **options: Any) -> APIRouter:
    """A router of the gateway: its routes are `LeanRoute`s, and each refuses unfit text
    in its path and query parameters (`plain_parameters`, gateway/text.py) before its
    other dependencies run. Options are APIRouter's."""
    return APIRouter(route_class=LeanRoute,
                     dependencies=[Depends(plain_parameters), *dependencies], **options)


FITS = _fits()
# FastAPI's own helpers that find a plain parameter's key, and validate its value
PLAIN_PARAMETERS = all(hasattr(deps, name) for name in (
    "_get_param_aliases", "_get_param_model", "_is_json_field",
    "_validate_value_with_model_field"))
