"""`switchboard admin create` against a real auth service: it signs its call with a
service token from the same settings, and the admin it makes can sign in as one. An
existing user is made admin only with that user's own password."""

from kernel.config import Settings
from launcher.accounts import create_admin
from switchboard.auth.v1 import auth_pb2
from tests.auth.conftest import SECRET
from tests.auth.support import PASSWORD, new_user


async def test_admin_create_makes_or_promotes_an_admin(start_auth, capsys):
    running = await start_auth()
    settings = Settings(auth_addr=running.addr, jwt_secret=SECRET)
    assert await create_admin(settings, "operator", PASSWORD) == 0
    assert "admin operator" in capsys.readouterr().out
    session = await running.stub.Login(auth_pb2.LoginRequest(username="operator",
                                                             password=PASSWORD))
    assert session.user.is_admin
    user_id = await new_user(running.stub, "promotee")
    assert await create_admin(settings, "promotee", "not-their-password") == 1
    assert "not ready" in capsys.readouterr().out
    assert not (await running.stub.GetUser(auth_pb2.GetUserRequest(user_id=user_id))).is_admin
    assert await create_admin(settings, "promotee", PASSWORD) == 0
    assert (await running.stub.GetUser(auth_pb2.GetUserRequest(user_id=user_id))).is_admin
