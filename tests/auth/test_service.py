"""The auth service over real gRPC, on SQLite and PostgreSQL, with a real NATS."""

import asyncio
import statistics
import time

import grpc
import jwt
import pytest

from kernel.errors import from_rpc_error
from switchboard.auth.v1 import auth_pb2
from tests.auth.conftest import ADMIN, ADMIN_PASSWORD, SECRET

PASSWORD = "correct horse battery"


async def failure(call):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return from_rpc_error(caught.value)


def register(stub, username, password=PASSWORD, **extra):
    return stub.Register(auth_pb2.RegisterRequest(username=username, password=password, **extra))


def login(stub, username, password=PASSWORD):
    return stub.Login(auth_pb2.LoginRequest(username=username, password=password))


def verify(stub, token):
    return stub.VerifyToken(auth_pb2.VerifyTokenRequest(token=token))


async def test_register_then_get_user(auth):
    created = await register(auth, "Alice", email="alice@example.com",
                             notification_number="27821234567")
    assert created.user_id > 0 and created.user.username == "Alice"
    user = await auth.GetUser(auth_pb2.GetUserRequest(user_id=created.user_id))
    assert (user.username, user.email, user.notification_number, user.is_admin) == \
        ("Alice", "alice@example.com", "27821234567", False)
    assert user.HasField("created_at")


async def test_duplicate_username_is_refused_whatever_its_case(auth):
    await register(auth, "Bob")
    error = await failure(register(auth, "bOB", password="another password"))
    assert error.status == grpc.StatusCode.ALREADY_EXISTS
    assert (error.reason, error.message) == ("INVALID_REQUEST", "Username already exists")


@pytest.mark.parametrize("fields", [{"username": "ab"}, {"password": "short"},
                                    {"email": "not-an-email"},
                                    {"notification_number": "12ab34"}])
async def test_bad_registration_input_is_invalid_request(auth, fields):
    values = {"username": "valid_name", "password": PASSWORD, **fields}
    error = await failure(auth.Register(auth_pb2.RegisterRequest(**values)))
    assert error.status == grpc.StatusCode.INVALID_ARGUMENT and error.reason == "INVALID_REQUEST"


async def test_login_issues_a_pinned_hs256_token_that_verifies(auth):
    created = await register(auth, "carol")
    session = await login(auth, "CAROL")
    assert session.token_type == "Bearer" and session.user.user_id == created.user_id
    header = jwt.get_unverified_header(session.access_token)
    assert header["alg"] == "HS256" and header["kid"] == "k1"
    claims = jwt.decode(session.access_token, SECRET, algorithms=["HS256"],
                        options={"verify_iss": False})
    assert claims["sub"] == str(created.user_id) and claims["adm"] is False
    assert claims["exp"] - claims["iat"] == session.expires_in
    principal = await verify(auth, session.access_token)
    assert (principal.user_id, principal.username, principal.is_admin) == \
        (created.user_id, "carol", False)


async def test_login_failure_is_generic(auth):
    await register(auth, "dave")
    wrong = await failure(login(auth, "dave", "wrong password"))
    unknown = await failure(login(auth, "nobody-here", "wrong password"))
    invalid = await failure(login(auth, "x", ""))
    for error in (wrong, unknown, invalid):
        assert error.status == grpc.StatusCode.UNAUTHENTICATED
        assert (error.reason, error.message) == ("UNAUTHORIZED", "Invalid username or password")


async def test_unknown_user_login_takes_as_long_as_a_wrong_password(start_auth):
    auth = (await start_auth(login_max_failures=0)).stub  # every attempt reaches argon2
    await register(auth, "erin")
    took: dict[str, list[float]] = {"erin": [], "no-such-user": []}
    for _ in range(7):  # interleaved, so a busy machine slows both alike
        for username, times in took.items():
            started = time.perf_counter()
            await failure(login(auth, username, "wrong password"))
            times.append(time.perf_counter() - started)
    known, unknown = (statistics.median(t) for t in took.values())
    assert unknown > 0.5 * known, (known, unknown)


async def test_expired_token_is_unauthorized(start_auth):
    stub = (await start_auth(jwt_ttl_seconds=3)).stub  # iat is whole seconds: > 2 s
    await register(stub, "frank")
    token = (await login(stub, "frank")).access_token
    assert (await verify(stub, token)).username == "frank"
    await asyncio.sleep(3.2)
    error = await failure(verify(stub, token))
    assert error.status == grpc.StatusCode.UNAUTHENTICATED and error.reason == "UNAUTHORIZED"


async def test_tampered_or_foreign_tokens_are_unauthorized(auth):
    await register(auth, "grace")
    token = (await login(auth, "grace")).access_token
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged_claims = jwt.encode({**claims, "adm": True}, "a-guessed-key-" * 4, algorithm="HS256")
    foreign = jwt.encode(claims, "another-secret-0123456789abcdef0123456789abcdef",
                         algorithm="HS256", headers={"kid": "k1"})
    for bad in (f"{header}.{forged_claims.split('.')[1]}.{signature}", foreign,
                f"{header}.{payload}.{signature[:-4]}AAAA", "", "not.a.jwt"):
        error = await failure(verify(auth, bad))
        assert error.status == grpc.StatusCode.UNAUTHENTICATED, bad


async def test_token_of_a_user_this_store_does_not_know_is_unauthorized(auth):
    now = int(time.time())
    token = jwt.encode({"sub": "999999", "username": "ghost", "adm": True,
                        "iss": "switchboard-auth", "iat": now, "exp": now + 60},
                       SECRET, algorithm="HS256", headers={"kid": "k1"})
    error = await failure(verify(auth, token))
    assert error.reason == "UNAUTHORIZED"


async def test_disabled_user_can_neither_verify_nor_log_in(auth):
    created = await register(auth, "heidi")
    token = (await login(auth, "heidi")).access_token
    disabled = await auth.DisableUser(auth_pb2.DisableUserRequest(user_id=created.user_id))
    assert disabled.disabled
    assert (await failure(verify(auth, token))).reason == "UNAUTHORIZED"
    assert (await failure(login(auth, "heidi"))).message == "Invalid username or password"


async def test_first_admin_exists_at_start_up(auth):
    session = await login(auth, ADMIN, ADMIN_PASSWORD)
    assert session.user.is_admin
    assert (await verify(auth, session.access_token)).is_admin


async def test_ensure_admin_is_idempotent(start_auth):
    running = await start_auth()
    stub, store = running.stub, running.host.infra.store
    first = await stub.EnsureAdmin(auth_pb2.EnsureAdminRequest(username="ops",
                                                               password=PASSWORD))
    events = await store.read_stream(f"user-{first.user_id}")
    again = await stub.EnsureAdmin(auth_pb2.EnsureAdminRequest(username="OPS",
                                                               password=PASSWORD))
    assert again.user_id == first.user_id and again.is_admin
    wrong = await failure(stub.EnsureAdmin(auth_pb2.EnsureAdminRequest(
        username="ops", password="another-password-9")))
    assert wrong.status == grpc.StatusCode.UNAUTHENTICATED
    assert await store.read_stream(f"user-{first.user_id}") == events
    assert (await login(stub, "ops")).user.is_admin


async def test_ensure_admin_promotes_an_existing_user_with_their_password_only(auth):
    created = await register(auth, "ivan")
    refused = await failure(auth.EnsureAdmin(auth_pb2.EnsureAdminRequest(
        username="IVAN", password="the-configured-password")))
    assert (refused.status, refused.reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHORIZED")
    assert not (await login(auth, "ivan")).user.is_admin
    promoted = await auth.EnsureAdmin(auth_pb2.EnsureAdminRequest(username="ivan",
                                                                  password=PASSWORD))
    assert promoted.user_id == created.user_id and promoted.is_admin
    assert (await verify(auth, (await login(auth, "ivan")).access_token)).is_admin


async def test_unknown_user_is_not_found(auth):
    error = await failure(auth.GetUser(auth_pb2.GetUserRequest(user_id=424242)))
    assert error.status == grpc.StatusCode.NOT_FOUND and error.reason == "NOT_FOUND"


async def test_concurrent_registrations_across_two_processes_get_distinct_ids(start_auth):
    first, second = (await start_auth()).stub, (await start_auth()).stub
    names = [f"user{i:02d}" for i in range(16)]
    created = await asyncio.gather(*(register(first if i % 2 else second, name)
                                     for i, name in enumerate(names)))
    ids = [c.user_id for c in created]
    assert len(set(ids)) == len(names)
    assert sorted(ids) == list(range(2, 2 + len(names)))  # id 1 is the first admin


async def test_only_one_of_concurrent_claims_on_a_name_wins(start_auth):
    first, second = (await start_auth()).stub, (await start_auth()).stub
    spellings = ["same", "SAME", "Same", "sAmE", "saME", "SAme", "sAME", "samE"]
    results = await asyncio.gather(*(register(first if i % 2 else second, name)
                                     for i, name in enumerate(spellings)),
                                   return_exceptions=True)
    winners = [r for r in results if isinstance(r, auth_pb2.RegisterResponse)]
    losers = [from_rpc_error(r) for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1 and len(losers) == 7
    assert {e.message for e in losers} == {"Username already exists"}


async def test_users_survive_a_restart(start_auth):
    running = await start_auth()
    await register(running.stub, "judy")
    await running.host.stop()
    restarted = (await start_auth()).stub
    assert (await login(restarted, "judy")).user.username == "judy"


async def test_passwords_are_stored_only_as_argon2id_hashes(start_auth):
    running = await start_auth()
    created = await register(running.stub, "hashed", password="plain-text-password")
    stored = await running.host.infra.store.read_stream(f"user-{created.user_id}")
    payloads = b"".join(e.payload for e in stored)
    assert b"plain-text-password" not in payloads
    assert b"$argon2id$v=19$m=19456,t=2,p=1$" in payloads
