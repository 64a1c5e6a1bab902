"""Operator commands on accounts, over auth's gRPC API with the CLI's own service token:
`switchboard admin create` and `switchboard user create`."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from kernel.config import Settings
from kernel.errors import from_rpc_error
from kernel.rpc import channel
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc

Call = Callable[[auth_pb2_grpc.AuthServiceStub], Awaitable[Any]]


async def create_admin(settings: Settings, username: str, password: str) -> int:
    """A new admin, or an existing user made admin when `password` is theirs."""
    user = await _auth_call(settings, f"admin {username}", lambda auth: auth.EnsureAdmin(
        auth_pb2.EnsureAdminRequest(username=username, password=password)))
    if user is None:
        return 1
    print(f"admin {user.username} (user_id {user.user_id}) is ready")
    return 0


async def create_user(settings: Settings, username: str, password: str, email: str) -> int:
    """A user registered by an operator: works while sign-up is closed."""
    created = await _auth_call(settings, f"user {username}", lambda auth: auth.Register(
        auth_pb2.RegisterRequest(username=username, password=password, email=email,
                                 by_operator=True)))
    if created is None:
        return 1
    print(f"user {username} (user_id {created.user_id}) is ready")
    return 0


def read_password(given: str | None, from_stdin: bool) -> str | None:
    """The new account's password: typed twice at a prompt, or the first line of stdin
    (`--password-stdin`); never an argument. None, with the reason said, when none."""
    if given is not None:
        return _refuse("--password is refused: a password given as an argument shows in "
                       "`ps` and in shell history. Type it at the prompt, or pipe it in "
                       "with --password-stdin")
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        return line or _refuse("--password-stdin: stdin held no password")
    if not sys.stdin.isatty():
        return _refuse("no terminal to ask for the password on: pipe it in with "
                       "--password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != first:
        return _refuse("the two passwords differ; nothing was changed")
    return first


def _refuse(why: str) -> str | None:
    """Says why there is no password, and gives none."""
    print(f"switchboard: {why}", file=sys.stderr)
    return None


async def _auth_call(settings: Settings, what: str, call: Call) -> Any:
    async with channel(settings.service_addr("auth"), settings, identity="cli") as chan:
        try:
            return await call(auth_pb2_grpc.AuthServiceStub(chan))
        except grpc.aio.AioRpcError as exc:
            print(f"{what} not ready: {from_rpc_error(exc).message}")
            return None
