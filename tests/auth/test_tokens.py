"""Unit tests of token issue and verify: HS256 pinned, expiry required, no I/O."""

import base64
import json
import time

import jwt
import pytest

from services.auth.app.tokens import SigningKey, issue_token, read_token
from services.auth.domain.errors import InvalidTokenError

KEY = SigningKey("unit-test-secret-that-is-long-enough-0123456789", ttl_seconds=600)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_issued_token_reads_back_with_the_claims():
    token, claims = issue_token(KEY, 42, "alice", True, time.time())
    assert read_token(KEY, token) == claims
    assert claims.expires_at - claims.issued_at == 600
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256" and header["kid"] == "k1"
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["sub"] == "42" and payload["username"] == "alice" and payload["adm"] is True


def test_expired_token_is_refused():
    token, _ = issue_token(KEY, 1, "alice", False, time.time() - 601)
    with pytest.raises(InvalidTokenError):
        read_token(KEY, token)


def test_token_signed_with_another_secret_is_refused():
    other = SigningKey("another-secret-that-is-long-enough-9876543210", 600)
    token, _ = issue_token(other, 1, "alice", False, time.time())
    with pytest.raises(InvalidTokenError):
        read_token(KEY, token)


def test_tampered_payload_is_refused():
    token, _ = issue_token(KEY, 1, "alice", False, time.time())
    header, _, signature = token.split(".")
    forged = _b64({"sub": "1", "username": "alice", "adm": True, "iss": "switchboard-auth",
                   "iat": int(time.time()), "exp": int(time.time()) + 600})
    with pytest.raises(InvalidTokenError):
        read_token(KEY, f"{header}.{forged}.{signature}")


def test_alg_none_is_refused():
    now = int(time.time())
    token = ".".join([_b64({"alg": "none", "typ": "JWT", "kid": "k1"}),
                      _b64({"sub": "1", "iss": "switchboard-auth", "iat": now,
                            "exp": now + 60}), ""])
    with pytest.raises(InvalidTokenError):
        read_token(KEY, token)


def test_token_without_expiry_is_refused():
    token = jwt.encode({"sub": "1", "iss": "switchboard-auth", "iat": int(time.time())},
                       KEY.secret, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(InvalidTokenError):
        read_token(KEY, token)


def test_unknown_key_id_is_refused():
    token = jwt.encode({"sub": "1", "iss": "switchboard-auth", "iat": int(time.time()),
                        "exp": int(time.time()) + 60}, KEY.secret, algorithm="HS256",
                       headers={"kid": "k9"})
    with pytest.raises(InvalidTokenError):
        read_token(KEY, token)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "x" * 5000])
def test_malformed_tokens_are_refused(token):
    with pytest.raises(InvalidTokenError):
        read_token(KEY, token)
