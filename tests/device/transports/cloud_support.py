"""The cloud transport wired to the Cloud API stand-in, for the cloud tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from services.device.adapters.cloud import CloudTransport
from services.device.adapters.cloud.api import GraphApi, RetryPolicy
from services.device.adapters.send_ledger import SendLedger
from tests.device.transports.cloud_standin import FakeCloudApi

if TYPE_CHECKING:  # the conftest imports this module for its `meta` fixture
    from tests.device.transports.conftest import Recorder

TOKEN = "EAAG-test-access-token"
NUMBER_ID = "109876543210"
NUMBERS = {NUMBER_ID: "+1 555-010-0000", "109876543299": "+1 555-010-0099"}
DEVICES = {"dev-1": NUMBER_ID, "dev-2": "109876543299"}


class Sleeps:
    """The backoff, recorded instead of waited."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


@asynccontextmanager
async def cloud_api() -> AsyncIterator[FakeCloudApi]:
    api = FakeCloudApi(TOKEN, NUMBERS)
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


def cloud_transport(base_url: str, ledger: SendLedger, recorder: Recorder, sleeps: Sleeps,
                    token: str = TOKEN, retries: int = 3) -> CloudTransport:
    api = GraphApi(base_url, "v21.0", token, policy=RetryPolicy(retries, base=0.5),
                   timeout=2.0, sleep=sleeps)
    transport = CloudTransport(api, ledger, DEVICES, link_delay=0.01)
    transport.attach(recorder)
    return transport
