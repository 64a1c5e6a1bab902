"""Login throttling per username through a real NATS KV, on both stores: after repeated
failures further attempts get RATE_LIMITED with a retry time, identically whether the
username exists or not, on every replica, until the window has passed."""

import asyncio

import grpc

from switchboard.auth.v1 import auth_pb2
from tests.auth.support import PASSWORD, failure, new_user


def login(stub, username, password):
    return stub.Login(auth_pb2.LoginRequest(username=username, password=password))


async def fail_times(stub, username, times):
    for _ in range(times):
        assert (await failure(login(stub, username, "wrong password"))).reason == "UNAUTHORIZED"


async def test_repeated_failures_throttle_a_name_whether_or_not_it_exists(start_auth):
    stub = (await start_auth(login_max_failures=3, login_failure_window_seconds=60)).stub
    await new_user(stub, "target")
    answers = []
    for name in ("target", "no-such-user"):
        await fail_times(stub, name, 3)
        for password in ("wrong password", PASSWORD):
            error = await failure(login(stub, name, password))
            answers.append((error.status, error.reason, error.message))
            assert 55 <= int(error.metadata["retry_after"]) <= 60
    assert set(answers) == {(grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED",
                             "Too many failed login attempts; try again later")}
    await new_user(stub, "bystander")
    assert (await login(stub, "BYSTANDER", PASSWORD)).user.username == "bystander"


async def test_the_count_is_shared_by_replicas_and_cleared_by_success(start_auth):
    first = (await start_auth(login_max_failures=3)).stub
    second = (await start_auth(login_max_failures=3)).stub
    await new_user(first, "shared")
    await fail_times(first, "shared", 2)
    assert (await login(second, "Shared", PASSWORD)).user.username == "shared"
    await fail_times(second, "shared", 2)
    await fail_times(first, "SHARED", 1)
    assert (await failure(login(second, "shared", PASSWORD))).reason == "RATE_LIMITED"


async def test_attempts_are_allowed_again_once_the_window_has_passed(start_auth):
    stub = (await start_auth(login_max_failures=2, login_failure_window_seconds=2)).stub
    await new_user(stub, "patient")
    await fail_times(stub, "patient", 2)
    error = await failure(login(stub, "patient", PASSWORD))
    assert error.reason == "RATE_LIMITED" and int(error.metadata["retry_after"]) <= 2
    await asyncio.sleep(2.1)
    assert (await login(stub, "patient", PASSWORD)).user.username == "patient"


async def test_throttling_can_be_switched_off(start_auth):
    stub = (await start_auth(login_max_failures=0)).stub
    await new_user(stub, "relaxed")
    await fail_times(stub, "relaxed", 6)
    assert (await login(stub, "relaxed", PASSWORD)).user.username == "relaxed"
