"""One stack (as `make run` starts it) for all the console's browser tests that run in one
pytest process (each xdist worker that takes some starts its own), one browser per module
(a couple of seconds to start; it holds no event loop open between modules)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.console.browser import chromium, token
from tests.support.stack import Stack, running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("console"),
                       webhook_allow_private="127.0.0.0/8",  # the test receiver's
                       # every test signs users up and in from 127.0.0.1: the sign-in limit
                       # (10 a minute per address) is tests/gateway/test_ratelimit.py's
                       rate_limit_auth="0",
                       qr_ttl_seconds="12", qr_refresh_seconds="12") as running:  # rotations
        yield running


@pytest.fixture(scope="session")
def admin_token(stack: Stack) -> str:
    password = (stack.var_dir / "secrets" / "admin-password").read_text().strip()
    return token(stack.url, "admin", password)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as opened:
        yield opened
