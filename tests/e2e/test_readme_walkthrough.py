"""The README's "Your first message" walkthrough runs as pasted (issue 14, item 9): its
shell blocks, in order, in one bash against the stack as `make run` starts it, from sign-up
to the message Read. The stack's own settings (gateway port, var dir) are the shell's
environment, as they would be for an operator who moved them."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.stack import Stack, start_stack

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Your first message"
BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.S | re.M)


def walkthrough() -> list[str]:
    """The shell blocks of the README's walkthrough section, in order."""
    text = README.read_text()
    section = text[text.index(SECTION):]
    following = section.find("\n## ", len(SECTION))
    return BLOCK.findall(section if following < 0 else section[:following])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("readme"))
    try:
        running.wait_healthy()
        yield running
    finally:
        assert running.stop() == 0


def test_the_walkthrough_has_the_steps_from_sign_up_to_read() -> None:
    script = "\n".join(walkthrough())
    for step in ("/api/auth/register", "/api/admin/users/$DEMO_ID/credits",
                 "/api/messages/send-message", "/api/messages/message-status/$QUEUE_ID"):
        assert step in script, step


def test_the_walkthrough_runs_as_pasted_and_the_message_is_read(
        stack: Stack, tmp_path: Path) -> None:
    # Someone signed up first, so demo is not user 2: the walkthrough must use the id it got.
    first = httpx.post(f"{stack.url}/api/auth/register", timeout=10,
                       json={"username": "early-bird", "password": "early-bird-password-7"})
    assert first.status_code == 201, first.text
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(walkthrough())],
                          env=stack.env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo is user 3" in done.stdout
    assert '"message":"Credits added successfully"' in done.stdout
    assert '"message":"Message queued successfully"' in done.stdout
    queue_id, status = done.stdout.strip().splitlines()[-1].split(": ")
    assert status == "Read", done.stdout
    demo = httpx.post(f"{stack.url}/api/auth/login", timeout=10,
                      json={"username": "demo", "password": "tall-ladder-42"}).json()
    assert demo["user_id"] == 3 and demo["credits"] == 99
    seen = httpx.get(f"{stack.url}/api/messages/message-status/{queue_id}", timeout=10,
                     headers={"Authorization": f"Bearer {demo['access_token']}"})
    assert seen.json()["status"] == "Read" and seen.json()["message"] == "Hello!"
