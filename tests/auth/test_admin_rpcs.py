"""Admin management over real gRPC on both stores: listing users, granting and revoking
admin, disabling and re-enabling, and no admin locking themselves out."""

import grpc

from switchboard.auth.v1 import auth_pb2
from tests.auth.conftest import ADMIN, ADMIN_PASSWORD
from tests.auth.support import PASSWORD, failure, new_user


def update(stub, user_id, acting=0, **fields):
    return stub.UpdateUser(auth_pb2.UpdateUserRequest(user_id=user_id, acting_user_id=acting,
                                                      **fields))


async def token_of(stub, username, password=PASSWORD):
    return (await stub.Login(auth_pb2.LoginRequest(username=username,
                                                   password=password))).access_token


async def test_users_are_listed_in_id_order_a_page_at_a_time(auth):
    ids = [await new_user(auth, f"member{i}") for i in range(5)]
    first = await auth.ListUsers(auth_pb2.ListUsersRequest(page=1, per_page=4))
    second = await auth.ListUsers(auth_pb2.ListUsersRequest(page=2, per_page=4))
    assert first.total == second.total == 6  # the first admin, then five members
    assert [u.username for u in first.users] == [ADMIN, "member0", "member1", "member2"]
    assert [u.user_id for u in second.users] == ids[3:]
    beyond = await auth.ListUsers(auth_pb2.ListUsersRequest(page=9, per_page=4))
    assert list(beyond.users) == [] and beyond.total == 6


async def test_granting_and_revoking_admin_shows_in_verified_tokens_at_once(auth):
    user = await new_user(auth, "promoted")
    token = await token_of(auth, "promoted")
    assert (await update(auth, user, is_admin=True)).is_admin
    assert (await auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=token))).is_admin
    assert not (await update(auth, user, is_admin=False)).is_admin
    assert not (await auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=token))).is_admin


async def test_disabling_stops_tokens_and_sign_in_and_enabling_restores_them(auth):
    user = await new_user(auth, "paused")
    token = await token_of(auth, "paused")
    disabled = await update(auth, user, disabled=True, reason="abuse")
    assert disabled.disabled
    refused = await failure(auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=token)))
    assert refused.reason == "UNAUTHORIZED"
    assert (await failure(token_of(auth, "paused"))).reason == "UNAUTHORIZED"
    assert not (await update(auth, user, disabled=False)).disabled
    assert (await auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=token))).user_id == user
    assert await token_of(auth, "paused")


async def test_unset_fields_are_left_alone(auth):
    user = await new_user(auth, "steady")
    await update(auth, user, is_admin=True)
    after = await update(auth, user, disabled=False)
    assert after.is_admin and not after.disabled


async def test_an_admin_cannot_demote_or_disable_themselves(auth):
    me = (await auth.Login(auth_pb2.LoginRequest(username=ADMIN,
                                                 password=ADMIN_PASSWORD))).user.user_id
    for fields in ({"is_admin": False}, {"disabled": True}):
        error = await failure(update(auth, me, acting=me, **fields))
        assert (error.status, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                "INVALID_REQUEST")
    assert (await update(auth, me, acting=me, is_admin=True)).is_admin


async def test_updating_an_unknown_user_is_not_found(auth):
    error = await failure(update(auth, 55555, disabled=True))
    assert (error.status, error.reason) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
