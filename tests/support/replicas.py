"""Several replicas of the services as real processes on localhost, the way a cluster runs
them: one nats-server and one PostgreSQL database shared by all, each process on ports of
its own, and every client given the address list of a service's replicas."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kernel.db import create_engine
from kernel.eventstore import EventStore, StoredEvent
from launcher.natsserver import free_port


@dataclass
class Replica:
    """One `python -m launcher service <service>` process."""

    name: str
    service: str
    port: int  # gRPC, or HTTP for a gateway
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "launcher", "service", self.service],
                env=self.env, stdout=out, stderr=out)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9: no graceful stop, no lease released, nothing acked."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    async def serving(self) -> bool:
        """Answers: the standard gRPC health check, or the gateway's /livez."""
        if self.service == "gateway":
            try:
                async with httpx.AsyncClient(timeout=3) as http:
                    return (await http.get(f"{self.url}/livez")).status_code == 200
            except httpx.HTTPError:
                return False
        async with grpc.aio.insecure_channel(self.addr) as chan:
            try:
                reply = await health_pb2_grpc.HealthStub(chan).Check(
                    health_pb2.HealthCheckRequest(), timeout=3)
            except grpc.aio.AioRpcError:
                return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


@dataclass
class Replicas:
    """The processes of one deployment; `counts` replicas per service."""

    database_url: str
    nats_url: str
    var_dir: Path
    settings: Mapping[str, object]
    counts: Mapping[str, int]
    members: list[Replica] = field(default_factory=list)
    started: float = 0.0  # time.monotonic() at start()

    def __post_init__(self) -> None:
        ports = {(service, n): free_port()
                 for service, count in self.counts.items() for n in range(count)}
        common = self._common_env(ports)
        for (service, n), port in ports.items():
            name = f"{service}-{chr(ord('a') + n)}"
            env = {**common, "SWITCHBOARD_METRICS_PORT": str(free_port())}
            if service == "gateway":
                env["SWITCHBOARD_GATEWAY_PORT"] = str(port)
            else:
                env["SWITCHBOARD_GRPC_PORT"] = str(port)
            if service == "device":
                env["SWITCHBOARD_DEVICE_REPLICA_ID"] = name
            self.members.append(Replica(name, service, port, env,
                                        self.var_dir / f"{name}.log"))

    def _common_env(self, ports: Mapping[tuple[str, int], int]) -> dict[str, str]:
        env = {**os.environ, "SWITCHBOARD_DATABASE_URL": self.database_url,
               "SWITCHBOARD_NATS_URL": self.nats_url, "SWITCHBOARD_VAR_DIR": str(self.var_dir)}
        for service in self.counts:
            if service != "gateway":  # what a client is given: every replica's address
                env[f"SWITCHBOARD_{service.upper()}_ADDR"] = ",".join(
                    f"127.0.0.1:{port}" for (s, _), port in ports.items() if s == service)
        env.update({f"SWITCHBOARD_{k.upper()}": str(v) for k, v in self.settings.items()})
        return env

    def of(self, service: str) -> list[Replica]:
        return [r for r in self.members if r.service == service]

    def start(self) -> None:
        self.started = time.monotonic()
        for replica in self.members:
            replica.start()

    async def wait_serving(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        waiting = list(self.members)
        while waiting:
            for replica in waiting:
                assert replica.alive(), self.tail(replica)
            ready = await asyncio.gather(*(r.serving() for r in waiting))
            waiting = [r for r, ok in zip(waiting, ready, strict=True) if not ok]
            if waiting and time.monotonic() > deadline:
                raise TimeoutError("not serving: " + ", ".join(r.name for r in waiting)
                                   + "\n" + self.tail(waiting[0]))
            await asyncio.sleep(0.2)

    def tail(self, replica: Replica, chars: int = 3000) -> str:
        text = replica.log.read_text() if replica.log.exists() else ""
        return f"--- {replica.name} ---\n{text[-chars:]}"

    def stop(self) -> None:
        for replica in self.members:
            if replica.alive():
                assert replica.proc is not None
                replica.proc.terminate()
        for replica in self.members:
            replica.stop()


async def stored_events(database_url: str, service: str) -> list[StoredEvent]:
    """Every event in a service's store (its own schema of the shared database)."""
    engine = create_engine(database_url, schema=service)
    try:
        return await EventStore(engine).read_all(0, limit=1_000_000)
    finally:
        await engine.dispose()


async def relayed(replicas: list[Replica]) -> int:
    """Events the replicas' outbox relays published, summed (from their /metrics)."""
    total = 0.0
    async with httpx.AsyncClient(timeout=5) as http:
        for replica in replicas:
            port = replica.env["SWITCHBOARD_METRICS_PORT"]
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            total += sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                         if line.startswith("switchboard_relay_published_total{"))
    return int(total)


async def fresh_database(admin_url: str) -> str:
    """A new, empty PostgreSQL database on the server of `admin_url`."""
    name = f"replicas_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
