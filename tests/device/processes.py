"""The device service as a real process (`python -m services.device`), to kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from kernel.config import Settings
from kernel.db import create_engine
from kernel.eventstore import EventStore
from kernel.rpc import channel
from launcher.natsserver import free_port
from switchboard.device.v1 import device_pb2, device_pb2_grpc


@dataclass
class DeviceProcess:
    env: dict[str, str]
    addr: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "services.device"],
                                         env=self.env, stdout=out, stderr=out)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    async def pool_ready(self, devices: int, within: float = 20.0) -> None:
        """Wait until the process answers and `devices` pooled devices are connected."""
        async with self.stub() as api:
            for _ in range(int(within / 0.1)):
                try:
                    status = await api.GetPoolStatus(device_pb2.GetPoolStatusRequest(),
                                                      timeout=1)
                    if status.available_devices >= devices:
                        return
                except grpc.aio.AioRpcError:
                    pass
                assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
                await asyncio.sleep(0.1)
        raise AssertionError(f"device process not ready:\n{self.log.read_text()[-3000:]}")

    @asynccontextmanager
    async def stub(self) -> AsyncIterator[device_pb2_grpc.DeviceServiceStub]:
        chan = channel(self.addr, Settings(var_dir=Path(self.env["SWITCHBOARD_VAR_DIR"])))
        try:
            yield device_pb2_grpc.DeviceServiceStub(chan)
        finally:
            await chan.close()


def device_process(database_url: str, nats_url: str, var_dir: Path, name: str,
                   **settings: object) -> DeviceProcess:
    addr = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "SWITCHBOARD_DATABASE_URL": database_url,
           "SWITCHBOARD_NATS_URL": nats_url, "SWITCHBOARD_VAR_DIR": str(var_dir),
           "SWITCHBOARD_DEVICE_ADDR": addr, "SWITCHBOARD_METRICS_PORT": "0",
           "SWITCHBOARD_POOL_ADMIN_INSTANCES": "false", "SWITCHBOARD_LOG_LEVEL": "WARNING",
           "SWITCHBOARD_DEVICE_REPLICA_ID": name}
    env.update({f"SWITCHBOARD_{k.upper()}": str(v) for k, v in settings.items()})
    return DeviceProcess(env, addr, var_dir / f"{name}.log")


@asynccontextmanager
async def device_store(database_url: str) -> AsyncIterator[EventStore]:
    """The device service's own store, read from the test (a schema of its own on PG)."""
    engine = create_engine(database_url, schema="device")
    try:
        yield EventStore(engine)
    finally:
        await engine.dispose()
