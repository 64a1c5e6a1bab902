"""A reserve retried after a crash charges once: the billing service as a real process,
killed with SIGKILL while reserves are in flight, restarted on the same store, and every
reserve retried with the same message ids."""

import asyncio
import os
import signal
import subprocess
import sys
import time

import grpc
import pytest

from kernel.rpc import channel
from launcher.natsserver import free_port
from switchboard.billing.v1 import billing_pb2, billing_pb2_grpc
from tests.billing.conftest import balance, get_quota, grant, reserve, reserve_quota

CALLS = 40


class BillingProcess:
    def __init__(self, database_url: str, nats_url: str, port: int) -> None:
        env = {**os.environ, "SWITCHBOARD_DATABASE_URL": database_url,
               "SWITCHBOARD_NATS_URL": nats_url, "SWITCHBOARD_BILLING_ADDR": f"127.0.0.1:{port}",
               "SWITCHBOARD_BILLING_FREE_PLAN_QUOTA": "1000", "SWITCHBOARD_METRICS_PORT": "0",
               "SWITCHBOARD_LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen([sys.executable, "-m", "services.billing"], env=env)
        self.chan = channel(f"127.0.0.1:{port}")
        self.stub = billing_pb2_grpc.BillingServiceStub(self.chan)

    async def ready(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                await self.stub.GetBalance(billing_pb2.GetBalanceRequest(user_id=1), timeout=1)
                return
            except grpc.aio.AioRpcError:
                assert self.proc.poll() is None, "billing exited"
                assert time.monotonic() < deadline, "billing never answered"
                await asyncio.sleep(0.1)

    async def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.proc.wait, 10)
        await self.chan.close()


@pytest.fixture
async def processes(database_url, nats_url):
    port = free_port()
    started: list[BillingProcess] = []

    async def start() -> BillingProcess:
        process = BillingProcess(database_url, nats_url, port)
        started.append(process)
        await process.ready()
        return process

    yield start
    for process in started:
        if process.proc.poll() is None:
            await process.kill()


def calls(stub, user_id, instance):
    credit = [reserve(stub, user_id, f"c{i}a", f"c{i}b") for i in range(CALLS)]
    quota = [reserve_quota(stub, instance, f"q{i}a", f"q{i}b") for i in range(CALLS)]
    return [*credit, *quota]


async def test_reserves_retried_after_a_kill_charge_once(processes, user_id, unique):
    instance = f"inst-{unique}"
    first = await processes()
    await grant(first.stub, user_id, 1000)
    await get_quota(first.stub, instance)
    pending = [asyncio.ensure_future(c) for c in calls(first.stub, user_id, instance)]
    await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    await first.kill()
    outcomes = await asyncio.gather(*pending, return_exceptions=True)
    answered = sum(not isinstance(o, BaseException) for o in outcomes)
    assert 0 < answered < len(outcomes), "the kill did not land while reserves were in flight"

    second = await processes()
    retried = await asyncio.gather(*calls(second.stub, user_id, instance))
    assert sum(r.already_reserved for r in retried) >= 2 * answered
    assert await balance(second.stub, user_id) == (1000 - 2 * CALLS, 2 * CALLS)
    assert (await get_quota(second.stub, instance)).messages_used == 2 * CALLS
