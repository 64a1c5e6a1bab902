"""A template send's cost is bounded before anything is built (issue 12): the rendered
length is known from the parts, and variables are capped in number and length, in the
domain and at messaging's own gRPC edge (not only at the gateway)."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime

import grpc
import pytest

from kernel.errors import from_rpc_error
from services.messaging.domain.errors import InvalidMessageBodyError
from services.messaging.domain.templates import TemplateBook, VariableLimits
from switchboard.messaging.v1 import messaging_pb2 as pb
from tests.messaging.conftest import NUMBER, Messaging, Neighbours

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def test_a_rendering_over_the_limit_is_refused_before_it_is_built() -> None:
    book = TemplateBook("7")
    wide = book.create(1, "wide", "Hi {{a}}!" + "{{ a }}" * 500, NOW)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidMessageBodyError) as caught:
            wide.render({"a": "x" * 4096})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "message is too long: 2052100 characters, at most 4096" in caught.value.message
    assert peak < 200_000  # the 2 MB text was never made
    assert wide.render({"a": "y"}) == "Hi y!" + "y" * 500


def test_variables_are_capped_in_number_and_length() -> None:
    limits = VariableLimits(max_count=3, max_chars=10)
    limits.check({"a": "x" * 10, "b": "", "c": "z"})
    for bad, said in [({f"v{i}": "" for i in range(4)}, "Too many template variables: 4"),
                      ({"a": "x" * 11}, "'a' is too long"),
                      ({"n" * 101: "x"}, "is too long")]:
        with pytest.raises(InvalidMessageBodyError) as caught:
            limits.check(bad)
        assert said in caught.value.message


async def test_messaging_refuses_oversized_variables_itself(
        user: int, messaging: Messaging, neighbours: Neighbours) -> None:
    neighbours.billing.balances[user] = 1
    made = await messaging.stub.CreateTemplate(pb.CreateTemplateRequest(
        user_id=user, name="wide", body="{{a}}" * 819))
    for variables in [{"a": "x" * 1_000_000}, {f"v{i}": "x" for i in range(51)},
                      {"a": "x" * 4096}]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await messaging.stub.SendMessage(pb.SendMessageRequest(
                user_id=user, number=NUMBER, template_id=made.template_id,
                variables=variables))
        assert from_rpc_error(caught.value).reason == "INVALID_REQUEST"
    assert neighbours.billing.balances[user] == 1 and not neighbours.billing.reservations
