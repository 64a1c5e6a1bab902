"""Requests try the gateway's routers in `ROUTING_ORDER` (the send routers first), the
OpenAPI document lists them in `ROUTERS`' order: the same routing, and the same document,
only while no two routers could answer one request."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from starlette.routing import Route

from gateway.app import create_app
from gateway.routes import HOT, ROUTERS, ROUTING_ORDER
from gateway.settings import GatewaySettings

PARAMETER = re.compile(r"^\{[^}:]+\}$")


def overlap(one: str, other: str) -> bool:
    """Whether some path matches both path templates (a `{name}` is any one segment, a
    `{name:path}` any rest)."""
    a, b = one.strip("/").split("/"), other.strip("/").split("/")
    for x, y in zip(a, b, strict=False):
        if x.endswith(":path}") or y.endswith(":path}"):
            return True
        if x != y and not PARAMETER.match(x) and not PARAMETER.match(y):
            return False
    return len(a) == len(b)


def test_the_template_overlap_is_read_segment_by_segment() -> None:
    assert overlap("/api/messages/{queue_id}", "/api/messages/send-message")
    assert not overlap("/api/messages/send-message", "/api/messages/bulk")
    assert not overlap("/api/messages/{queue_id}", "/api/messages/{queue_id}/media")
    assert overlap("/console/{rest:path}", "/console/a/b")


def test_no_two_routers_answer_one_method_and_path() -> None:
    routes = [(router, route) for router in ROUTERS for route in router.routes
              if isinstance(route, (APIRoute, Route))]
    clashes = [(a.path, b.path) for ra, a in routes for rb, b in routes
               if ra is not rb and set(a.methods or ()) & set(b.methods or ())
               and overlap(a.path, b.path)]
    assert clashes == []


def test_requests_try_the_send_routers_first_and_every_router_once() -> None:
    assert ROUTING_ORDER[:len(HOT)] == HOT
    assert sorted(map(id, ROUTING_ORDER)) == sorted(map(id, ROUTERS))


def test_the_document_lists_paths_in_the_routers_order() -> None:
    paths = list(create_app(GatewaySettings()).openapi()["paths"])
    documented = [f"{route.path}" for router in ROUTERS for route in router.routes
                  if isinstance(route, APIRoute) and route.include_in_schema]
    assert paths == list(dict.fromkeys(documented))
