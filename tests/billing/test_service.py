"""The billing service over real gRPC, on SQLite and PostgreSQL, with a real NATS."""

import asyncio

import grpc
import pytest

from kernel.errors import from_rpc_error
from switchboard.billing.v1 import billing_pb2
from tests.billing.conftest import balance, grant, reserve


async def failure(call):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return from_rpc_error(caught.value)


async def test_unknown_user_has_a_zero_balance(billing, user_id):
    assert await balance(billing, user_id) == (0, 0)


async def test_grant_adds_to_the_balance(billing, user_id):
    assert (await grant(billing, user_id, 5)).available == 5
    assert (await grant(billing, user_id, 7)).available == 12
    assert await balance(billing, user_id) == (12, 0)


@pytest.mark.parametrize("amount", [0, -5])
async def test_grant_of_a_non_positive_amount_is_invalid(billing, user_id, amount):
    error = await failure(grant(billing, user_id, amount))
    assert error.status == grpc.StatusCode.INVALID_ARGUMENT and error.reason == "INVALID_REQUEST"
    assert await balance(billing, user_id) == (0, 0)


async def test_reserve_takes_one_credit_a_message(billing, user_id):
    await grant(billing, user_id, 5)
    done = await reserve(billing, user_id, "m1", "m2")
    assert (done.reserved, done.remaining_credits, done.already_reserved) == (2, 3, 0)
    assert await balance(billing, user_id) == (3, 2)


async def test_insufficient_credits_is_failed_precondition_and_reserves_nothing(billing,
                                                                               user_id):
    await grant(billing, user_id, 3)
    error = await failure(reserve(billing, user_id, "a", "b", "c", "d", "e"))
    assert error.status == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "INSUFFICIENT_CREDITS"
    assert error.message == "Not enough credits to send message. Required: 5, Available: 3"
    assert error.metadata == {"required": "5", "available": "3"}
    assert await balance(billing, user_id) == (3, 0)
    assert (await reserve(billing, user_id, "a", "b", "c")).reserved == 3


async def test_a_retried_reserve_charges_once(billing, user_id):
    await grant(billing, user_id, 10)
    first = await reserve(billing, user_id, "r1", "r2")
    again = await reserve(billing, user_id, "r1", "r2")
    assert (first.reserved, again.reserved, again.already_reserved) == (2, 0, 2)
    overlapping = await reserve(billing, user_id, "r2", "r3")
    assert (overlapping.reserved, overlapping.remaining_credits) == (1, 7)
    assert await balance(billing, user_id) == (7, 3)


async def test_a_retried_reserve_succeeds_even_with_no_credits_left(billing, user_id):
    await grant(billing, user_id, 1)
    await reserve(billing, user_id, "only")
    assert (await reserve(billing, user_id, "only")).reserved == 0


async def test_fifty_concurrent_reserves_against_ten_credits(billing, user_id):
    await grant(billing, user_id, 10)
    results = await asyncio.gather(*(reserve(billing, user_id, f"c{i}") for i in range(50)),
                                   return_exceptions=True)
    await assert_exactly_ten_won(billing, user_id, results)


async def test_fifty_concurrent_reserves_across_two_processes(start_billing, user_id):
    first, second = (await start_billing()).stub, (await start_billing()).stub
    await grant(first, user_id, 10)
    results = await asyncio.gather(*(reserve(first if i % 2 else second, user_id, f"p{i}")
                                     for i in range(50)), return_exceptions=True)
    await assert_exactly_ten_won(first, user_id, results)
    assert await balance(second, user_id) == (0, 10)


async def assert_exactly_ten_won(stub, user_id, results):
    won = [r for r in results if isinstance(r, billing_pb2.ReserveCreditsResponse)]
    lost = [from_rpc_error(r) for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 10 and len(lost) == 40, [r for r in results if isinstance(r, Exception)]
    assert {e.reason for e in lost} == {"INSUFFICIENT_CREDITS"}
    assert all(r.remaining_credits >= 0 for r in won)
    assert sorted(r.remaining_credits for r in won) == list(range(10))
    assert await balance(stub, user_id) == (0, 10)


async def test_release_refunds_open_reservations_once(billing, user_id):
    await grant(billing, user_id, 5)
    await reserve(billing, user_id, "x1", "x2", "x3")
    request = billing_pb2.ReleaseCreditsRequest(user_id=user_id, message_ids=["x1", "x2", "nope"],
                                                reason="record failed")
    first = await billing.ReleaseCredits(request)
    again = await billing.ReleaseCredits(request)
    assert (first.released, first.remaining_credits) == (2, 4)
    assert (again.released, again.remaining_credits) == (0, 4)
    assert await balance(billing, user_id) == (4, 1)


async def test_a_released_id_is_not_reserved_again_for_free(billing, user_id):
    await grant(billing, user_id, 2)
    await reserve(billing, user_id, "once")
    await billing.ReleaseCredits(billing_pb2.ReleaseCreditsRequest(user_id=user_id,
                                                                   message_ids=["once"]))
    error = await failure(reserve(billing, user_id, "once"))
    assert error.status == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "INVALID_REQUEST" and error.metadata == {"message_id": "once"}
    assert await balance(billing, user_id) == (2, 0)


async def test_release_leaves_another_users_reservations_alone(billing, user_id):
    other = user_id + 1
    await grant(billing, other, 1)
    await reserve(billing, other, "theirs")
    released = await billing.ReleaseCredits(billing_pb2.ReleaseCreditsRequest(
        user_id=user_id, message_ids=["theirs"]))
    assert released.released == 0 and await balance(billing, other) == (0, 1)


async def test_an_id_reserved_by_another_user_is_refused(billing, user_id):
    await grant(billing, user_id, 1)
    await grant(billing, user_id + 1, 1)
    await reserve(billing, user_id, "shared-id")
    error = await failure(reserve(billing, user_id + 1, "shared-id"))
    assert error.reason == "INVALID_REQUEST" and await balance(billing, user_id + 1) == (1, 0)


@pytest.mark.parametrize("ids", [[], [""], ["x" * 200]])
async def test_bad_message_ids_are_invalid(billing, user_id, ids):
    error = await failure(reserve(billing, user_id, *ids))
    assert error.status == grpc.StatusCode.INVALID_ARGUMENT and error.reason == "INVALID_REQUEST"


async def test_ledger_survives_a_restart(start_billing, user_id):
    running = await start_billing()
    await grant(running.stub, user_id, 4)
    await reserve(running.stub, user_id, "k1")
    await running.host.stop()
    assert await balance((await start_billing()).stub, user_id) == (3, 1)


async def test_one_id_reserved_at_once_by_two_users_goes_to_one_of_them(billing, user_id):
    other = user_id + 1
    await grant(billing, user_id, 5)
    await grant(billing, other, 5)
    results = await asyncio.gather(reserve(billing, user_id, "both", f"{user_id}-own"),
                                   reserve(billing, other, "both", f"{other}-own"),
                                   return_exceptions=True)
    won = [r for r in results if isinstance(r, billing_pb2.ReserveCreditsResponse)]
    lost = [from_rpc_error(r) for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 1 and [e.reason for e in lost] == ["INVALID_REQUEST"]
    balances = [await balance(billing, u) for u in (user_id, other)]
    assert sorted(balances) == [(3, 2), (5, 0)]
