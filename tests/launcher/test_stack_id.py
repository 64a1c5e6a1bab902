"""Each stack has an id (var/stack-id, made by its first `switchboard up`) that its event
streams carry in their metadata; a process or command that meets streams of another
stack refuses, naming both ids and how to point it at its own NATS (issue 14, item 3)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from kernel import bus, stackid
from kernel.config import SERVICES
from launcher.natsserver import free_port

THEIRS = "0123456789ab"


async def stream_stack(url: str, service: str) -> str | None:
    nc = await bus.connect(url, "stack-id-test")
    try:
        info = await nc.jetstream().stream_info(bus.stream_name(service))
        return (info.config.metadata or {}).get(stackid.METADATA_KEY)
    finally:
        await nc.close()


async def streams_of(url: str, stack: str) -> None:
    """Every service's stream, created by the stack `stack`."""
    nc = await nats.connect(url)
    try:
        for service in SERVICES:
            await bus.ensure_stream(nc.jetstream(), service, stack_id=stack)
    finally:
        await nc.close()


def test_the_id_is_made_once_and_kept_owner_only(tmp_path: Path) -> None:
    made = stackid.ensure(tmp_path)
    assert len(made) == 12 and stackid.ensure(tmp_path) == made == stackid.read(tmp_path)
    assert (tmp_path / stackid.FILE).stat().st_mode & 0o777 == 0o600
    assert stackid.read(tmp_path / "elsewhere") == ""


async def test_a_stream_carries_its_stacks_id_and_refuses_another(fresh_nats_url: str) -> None:
    nc = await nats.connect(fresh_nats_url)
    try:
        js = nc.jetstream()
        await bus.ensure_stream(js, "billing", stack_id="aaaaaaaaaaaa")
        await bus.ensure_stream(js, "billing", stack_id="aaaaaaaaaaaa")  # again: fine
        await bus.ensure_stream(js, "billing")  # a process without an id keeps it
        with pytest.raises(stackid.ForeignStack) as refused:
            await bus.ensure_stream(js, "billing", stack_id="bbbbbbbbbbbb")
        assert (refused.value.found, refused.value.ours) == ("aaaaaaaaaaaa", "bbbbbbbbbbbb")
        await stackid.verify(js, "aaaaaaaaaaaa", ["SB_BILLING", "SB_NOT_THERE"])
        with pytest.raises(stackid.ForeignStack):
            await stackid.verify(js, "bbbbbbbbbbbb", ["SB_BILLING"])
        await bus.ensure_stream(js, "auth")  # made before ids: the first stack takes it
        await bus.ensure_stream(js, "auth", stack_id="bbbbbbbbbbbb")
    finally:
        await nc.close()
    assert await stream_stack(fresh_nats_url, "billing") == "aaaaaaaaaaaa"
    assert await stream_stack(fresh_nats_url, "auth") == "bbbbbbbbbbbb"


def cli(args: list[str], var_dir: Path, nats_url: str, timeout: float = 90,
        **settings: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SWITCHBOARD_VAR_DIR": str(var_dir), "SWITCHBOARD_NATS_URL": nats_url,
           **{f"SWITCHBOARD_{k.upper()}": v for k, v in settings.items()}}
    return subprocess.run([sys.executable, "-m", "launcher", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


async def test_a_rebuild_refuses_another_stacks_streams(fresh_nats_url: str,
                                                        tmp_path: Path) -> None:
    await streams_of(fresh_nats_url, THEIRS)
    ours = stackid.ensure(tmp_path)
    done = cli(["projections", "rebuild", "history"], tmp_path, fresh_nats_url)
    assert done.returncode == 2 and not done.stdout, done.stdout + done.stderr
    assert THEIRS in done.stderr and ours in done.stderr, done.stderr
    assert "SWITCHBOARD_NATS_PORT" in done.stderr and "SWITCHBOARD_NATS_URL" in done.stderr
    same = cli(["projections", "rebuild", "history"], tmp_path, fresh_nats_url)
    assert same.returncode == 2  # nothing was taken over
    (tmp_path / stackid.FILE).write_text(THEIRS)
    theirs = cli(["projections", "rebuild", "history"], tmp_path, fresh_nats_url)
    assert theirs.returncode == 0 and theirs.stdout.startswith("rebuilt history: "), theirs


@pytest.mark.e2e
async def test_up_refuses_a_nats_that_holds_another_stacks_streams(fresh_nats_url: str,
                                                                   tmp_path: Path) -> None:
    await streams_of(fresh_nats_url, THEIRS)
    ports = {f"{s}_addr": f"127.0.0.1:{free_port()}" for s in SERVICES}
    done = cli(["up"], tmp_path, fresh_nats_url, gateway_port=str(free_port()),
               nats_port=str(free_port()), **ports)
    ours = stackid.read(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    refusals = [line for line in done.stdout.splitlines()  # the first service to meet
                if "stopped: refusing to start" in line]       # them, whichever it is
    assert refusals, done.stdout + "".join(p.read_text() for p in (tmp_path / "logs").iterdir())
    refusal = refusals[0]
    assert THEIRS in refusal and ours in refusal and "SWITCHBOARD_NATS_URL" in refusal
    assert "Switchboard is up" not in done.stdout
    assert await stream_stack(fresh_nats_url, "auth") == THEIRS
