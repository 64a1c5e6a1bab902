"""Unit tests of kernel/tokens.py: HS256 pinned, exp and iat checked, key rotation by kid,
service tokens, the verification cache, and who may call what (kernel/guard.py with user
tokens closed; opened, against real services: test_internal_auth.py). No I/O."""

import base64
import json
import time

import jwt
import pytest

from kernel.config import Settings
from kernel.errors import UnauthorizedError
from kernel.guard import CallGuard, peer_host, rpc_class
from kernel.tokens import (
    USER,
    AccessDeniedError,
    InvalidTokenError,
    KeyRing,
    ServiceTokens,
    TokenVerifier,
    access_table,
    check_user_call,
    issue_service_token,
    issue_user_token,
    read_token,
)
from services.auth.ports.access import ACCESS as AUTH_ACCESS
from services.billing.ports.access import ACCESS as BILLING_ACCESS
from switchboard.auth.v1 import auth_pb2
from switchboard.billing.v1 import billing_pb2

SECRET = "unit-test-secret-that-is-long-enough-0123456789"
RING = KeyRing("k1", SECRET, {})
TTL = 600


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def user_token(ring=RING, user_id=42, admin=False, now=None):
    return issue_user_token(ring, user_id, "alice", admin, now or time.time(), TTL)


def test_issued_user_token_reads_back_with_its_caller():
    token, caller = user_token(admin=True)
    assert read_token(RING, token) == caller
    assert caller.expires_at - caller.issued_at == TTL and not caller.is_service
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256" and header["kid"] == "k1"
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["sub"] == "42" and payload["username"] == "alice" and payload["adm"] is True
    assert "svc" not in payload


def test_service_token_names_its_service_and_no_user():
    token, caller = issue_service_token(RING, "gateway", time.time(), TTL)
    read = read_token(RING, token)
    assert read == caller and read.is_service and read.service == "gateway"
    assert read.user_id == 0 and not read.is_admin


def test_expired_token_is_refused():
    token, _ = user_token(now=time.time() - TTL - 1)
    with pytest.raises(InvalidTokenError):
        read_token(RING, token)


def test_token_issued_in_the_future_is_refused():
    token, _ = user_token(now=time.time() + 120)
    with pytest.raises(InvalidTokenError):
        read_token(RING, token)


def test_token_signed_with_another_secret_is_refused():
    other = KeyRing("k1", "another-secret-that-is-long-enough-9876543210", {})
    token, _ = user_token(ring=other)
    with pytest.raises(InvalidTokenError):
        read_token(RING, token)


def test_tampered_payload_is_refused():
    token, _ = user_token()
    header, _, signature = token.split(".")
    forged = _b64({"sub": "1", "username": "alice", "adm": True, "iss": "switchboard-auth",
                   "iat": int(time.time()), "exp": int(time.time()) + 600})
    with pytest.raises(InvalidTokenError):
        read_token(RING, f"{header}.{forged}.{signature}")


def test_alg_none_is_refused():
    now = int(time.time())
    token = ".".join([_b64({"alg": "none", "typ": "JWT", "kid": "k1"}),
                      _b64({"sub": "1", "iss": "switchboard-auth", "iat": now,
                            "exp": now + 60}), ""])
    with pytest.raises(InvalidTokenError):
        read_token(RING, token)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_another_algorithm_with_the_same_secret_is_refused():
    now = int(time.time())
    token = jwt.encode({"sub": "1", "iss": "switchboard-auth", "iat": now, "exp": now + 60},
                       SECRET, algorithm="HS512", headers={"kid": "k1"})
    with pytest.raises(InvalidTokenError):
        read_token(RING, token)


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "iss"])
def test_token_without_a_required_claim_is_refused(missing):
    now = int(time.time())
    claims = {"sub": "1", "iss": "switchboard-auth", "iat": now, "exp": now + 60}
    del claims[missing]
    token = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(InvalidTokenError):
        read_token(RING, token)


@pytest.mark.parametrize("kid", ["k9", "", None, "../../etc/passwd", "k" * 40])
def test_unknown_or_malformed_key_id_is_refused(kid):
    now = int(time.time())
    headers = {} if kid is None else {"kid": kid}
    token = jwt.encode({"sub": "1", "iss": "switchboard-auth", "iat": now, "exp": now + 60},
                       SECRET, algorithm="HS256", headers=headers)
    with pytest.raises(InvalidTokenError):
        read_token(RING, token)


def test_service_claim_must_match_its_subject():
    now = int(time.time())
    token = jwt.encode({"sub": "7", "svc": "gateway", "iss": "switchboard-auth", "iat": now,
                        "exp": now + 60}, SECRET, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(InvalidTokenError):
        read_token(RING, token)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "x" * 5000])
def test_malformed_tokens_are_refused(token):
    with pytest.raises(InvalidTokenError):
        read_token(RING, token)


def test_rotation_old_key_verifies_until_removed():
    old_token, _ = user_token(ring=KeyRing("k1", SECRET, {}))
    new_secret = "the-next-signing-secret-0123456789abcdefghij"
    rotated = KeyRing("k2", new_secret, {"k1": SECRET})
    new_token, _ = user_token(ring=rotated)
    assert jwt.get_unverified_header(new_token)["kid"] == "k2"
    assert read_token(rotated, old_token).user_id == 42
    assert read_token(rotated, new_token).user_id == 42
    with pytest.raises(InvalidTokenError):  # an old-only verifier does not know k2 yet
        read_token(RING, new_token)
    retired = KeyRing("k2", new_secret, {})
    with pytest.raises(InvalidTokenError):
        read_token(retired, old_token)


def test_key_ring_comes_from_settings():
    settings = Settings(jwt_secret=SECRET, jwt_kid="k7",
                        jwt_previous_keys={"k6": "previous-secret-0123456789abcdef0123"})
    ring = KeyRing.from_settings(settings)
    assert (ring.kid, ring.secret_for("k7"), ring.secret_for("k6")) == \
        ("k7", SECRET, "previous-secret-0123456789abcdef0123")
    assert ring.secret_for("k5") is None


def test_verifier_caches_but_still_expires(monkeypatch):
    verifier = TokenVerifier(RING)
    now = time.time()
    token, caller = issue_user_token(RING, 5, "bob", False, now, 60)
    assert verifier.verify(token) == caller
    assert verifier.verify(token) == caller
    monkeypatch.setattr(time, "time", lambda: now + 61)
    with pytest.raises(InvalidTokenError):
        verifier.verify(token)


def test_service_tokens_are_reused_then_renewed(monkeypatch):
    tokens = ServiceTokens(RING, "gateway", 100)
    first = tokens.current()
    assert tokens.current() == first
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 90)
    renewed = tokens.current()
    assert renewed != first and read_token(RING, renewed, now + 90).service == "gateway"


ACCESS = {**AUTH_ACCESS, **BILLING_ACCESS}  # the two services' tables, as one for the tests
GUARD = CallGuard(TokenVerifier(RING), ACCESS)  # user tokens not opened (the default)
BALANCE = "/switchboard.billing.v1.BillingService/GetBalance"
GRANT = "/switchboard.billing.v1.BillingService/GrantCredits"
RESERVE = "/switchboard.billing.v1.BillingService/ReserveCredits"
LIST = "/switchboard.auth.v1.AuthService/ListInstances"


def bearer(token):
    return {"authorization": f"Bearer {token}"}


def caller(user_id=42, admin=False):
    return read_token(RING, user_token(user_id=user_id, admin=admin)[0])


async def test_guard_admits_service_tokens_everywhere():
    token, _ = issue_service_token(RING, "messaging", time.time(), TTL)
    for method in (BALANCE, GRANT, RESERVE, "/x.y.Z/Anything",
                   "/switchboard.auth.v1.AuthService/Login"):
        await GUARD.admit(method, bearer(token), billing_pb2.GetBalanceRequest(user_id=9))


async def test_guard_refuses_user_tokens_unless_they_are_opened():
    token, _ = user_token(user_id=42)
    with pytest.raises(AccessDeniedError, match="GRPC_USER_TOKENS"):
        await GUARD.admit(BALANCE, bearer(token), billing_pb2.GetBalanceRequest(user_id=42))


def test_a_user_token_acts_for_its_own_user_only():
    check_user_call(BALANCE, caller(42), billing_pb2.GetBalanceRequest(user_id=42), ACCESS)
    with pytest.raises(AccessDeniedError):
        check_user_call(BALANCE, caller(42), billing_pb2.GetBalanceRequest(user_id=43),
                        ACCESS)


def test_user_tokens_stay_off_service_and_admin_calls():
    with pytest.raises(AccessDeniedError):
        check_user_call(RESERVE, caller(42), billing_pb2.ReserveCreditsRequest(user_id=42),
                        ACCESS)
    with pytest.raises(AccessDeniedError):
        check_user_call(GRANT, caller(42), billing_pb2.GrantCreditsRequest(user_id=42), ACCESS)
    check_user_call(GRANT, caller(1, admin=True), billing_pb2.GrantCreditsRequest(user_id=42),
                    ACCESS)


def test_widening_a_call_needs_an_admin():
    check_user_call(LIST, caller(42), auth_pb2.ListInstancesRequest(user_id=42), ACCESS)
    with pytest.raises(AccessDeniedError):
        check_user_call(LIST, caller(42), auth_pb2.ListInstancesRequest(user_id=42,
                                                                        all_users=True),
                        ACCESS)
    check_user_call(LIST, caller(1, admin=True),
                    auth_pb2.ListInstancesRequest(user_id=1, all_users=True), ACCESS)


@pytest.mark.parametrize("metadata", [{}, {"authorization": "Basic abc"},
                                      {"authorization": "Bearer "},
                                      {"authorization": "Bearer not.a.token"}])
async def test_guard_refuses_calls_without_a_valid_token(metadata):
    with pytest.raises(UnauthorizedError):
        await GUARD.admit(BALANCE, metadata, billing_pb2.GetBalanceRequest(user_id=1))


async def test_guard_lets_anyone_check_health_but_sign_in_takes_a_service_token():
    await GUARD.admit("/grpc.health.v1.Health/Check", {}, None)
    for method in ("/switchboard.auth.v1.AuthService/Login",
                   "/switchboard.auth.v1.AuthService/Register"):
        with pytest.raises(UnauthorizedError):
            await GUARD.admit(method, {}, None)


def test_peer_addresses_and_rpc_classes():
    assert peer_host("ipv4:10.1.2.3:5123") == "10.1.2.3"
    assert peer_host("ipv6:[::1]:5123") == "::1"
    assert [rpc_class(f"/switchboard.messaging.v1.MessagingService/{name}") for name in
            ("SendMessage", "SendBulkMessage", "GetMessageStatus", "ListWebhooks",
             "CreateWebhook")] == ["messages", "bulk", "status", "status", "other"]


def test_an_access_table_names_only_methods_its_service_has():
    service = billing_pb2.DESCRIPTOR.services_by_name["BillingService"]
    assert access_table(service, GetBalance=USER) == {BALANCE: USER}
    with pytest.raises(ValueError, match="GetBalanse"):
        access_table(service, GetBalanse=USER)
    with pytest.raises(ValueError, match="level"):
        access_table(service, GetBalance="everyone")
