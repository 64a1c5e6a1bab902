"""The device service's one composition root: `__main__` and the tests both call build()."""

from __future__ import annotations

import hashlib
import socket
import time
from dataclasses import replace

from kernel.aggregate import Repository
from kernel.clock import utcnow
from kernel.groupcommit import GroupCommit
from kernel.host import Infra, Parts
from kernel.media import Retention
from kernel.media_store import media_store
from kernel.rpc import channel
from services.device.adapters.affinity import Affinity, affinity_metadata
from services.device.adapters.auth_users import AuthInstances, AuthUsers
from services.device.adapters.codec import device_codec
from services.device.adapters.directory import DeviceStore, directory_metadata
from services.device.adapters.leases import KvLeases
from services.device.adapters.qr import qr_png_data_url
from services.device.adapters.simulator import SimulatorTransport
from services.device.adapters.transports import transport_from
from services.device.app.devices import DeviceDeps
from services.device.app.dispatch import Dispatcher, RetryPolicy
from services.device.app.far_side import FarSide
from services.device.app.inbound import InboundDeps
from services.device.app.live import LiveDevices
from services.device.app.number_cache import NumberCache
from services.device.app.pacing import Pacer, PacingPolicy
from services.device.app.pool import ensure_pool
from services.device.app.reconnect import Backoff, Reconnects
from services.device.app.sessions import Sessions
from services.device.app.transport import Transport
from services.device.domain.dispatch import Dispatch
from services.device.domain.inbound import ReceivedMessage
from services.device.ports.cloud_webhook import cloud_parts
from services.device.ports.consumers import DISPATCH_DURABLE, dispatch_subscription
from services.device.ports.grpc import SERVICE_NAME, DeviceServicer
from services.device.ports.instances import INSTANCES_DURABLE, InstanceEvents
from services.device.settings import DeviceSettings

DISPATCH_CACHE = 20_000  # messages between claim and read; a few hundred bytes each


def pacing_policy(settings: DeviceSettings) -> PacingPolicy:
    return PacingPolicy(min_gap=settings.dispatch_min_gap_ms / 1000,
                        jitter=settings.dispatch_jitter_ms / 1000,
                        per_minute=settings.dispatch_per_minute_cap)


def retry_policy(settings: DeviceSettings) -> RetryPolicy:
    return RetryPolicy(attempts=settings.dispatch_send_attempts,
                       base=settings.dispatch_retry_base_ms / 1000,
                       cap=settings.dispatch_retry_max_ms / 1000,
                       timeout=settings.dispatch_send_timeout_seconds)


def ack_wait(settings: DeviceSettings, transport: object) -> float:
    """The configured ack wait, raised above a transport's own longer send (whatsmeow's
    75 s) so that a message still being sent is not redelivered meanwhile."""
    own = float(getattr(transport, "send_timeout", 0.0))
    return max(settings.dispatch_ack_wait_seconds, own + 10 if own else 0.0)


def backoff(settings: DeviceSettings) -> Backoff:
    return Backoff(base=settings.device_reconnect_base_ms / 1000,
                   cap=settings.device_reconnect_max_ms / 1000,
                   attempts=settings.device_reconnect_attempts)


def replica_id(settings: DeviceSettings) -> str:
    """Stable across restarts of the same replica (same host, same var dir), so it takes
    its own leases back at once; in Kubernetes the host name is the pod name."""
    home = hashlib.sha256(str(settings.var_dir.resolve()).encode()).hexdigest()[:8]
    return settings.device_replica_id or f"{socket.gethostname()}-{home}"


async def build(infra: Infra[DeviceSettings], *, dispatch_durable: str = DISPATCH_DURABLE,
                instances_durable: str = INSTANCES_DURABLE, only_new: bool = False,
                transport: Transport | None = None) -> Parts:
    """Wire the service. Tests may name their own durables (and start dispatch at new
    messages, as the messaging stream is shared) and hand in their own transport."""
    settings = infra.settings
    codec = device_codec()
    devices = DeviceStore(infra.store, codec)
    # Claims, sends and receipts of concurrent messages share transactions. Dispatch
    # settles a fetched batch message by message before it fetches again, so a save that
    # waited for more callers would hold its place: under bulk sends, waiting three loop
    # turns took the rate to Read from ~1,900 to ~1,350 messages a second.
    dispatches = Repository(infra.store, codec, Dispatch, cache_size=DISPATCH_CACHE,
                            group=GroupCommit(infra.store, gather_turns=0))
    media = media_store(settings)  # received files, their retention and media sends' files
    transport = transport or transport_from(settings, media)
    auth_channel = channel(settings.service_addr("auth"), settings, "device")
    is_admin = AuthUsers(auth_channel).is_admin if settings.pool_admin_instances else None
    core = DeviceDeps(devices, transport, LiveDevices(), utcnow,
                      instances=AuthInstances(auth_channel, is_admin))
    leases = KvLeases(infra.js, settings.device_lease_bucket, replica_id(settings),
                      settings.device_lease_ttl_seconds, settings.stream_replicas)
    sessions = Sessions(core, devices, leases, Reconnects(backoff(settings)))
    affinity = Affinity(infra.engine)
    inbound = InboundDeps(Repository(infra.store, codec, ReceivedMessage), devices, affinity,
                          media, utcnow, settings.inbound_affinity_seconds)
    transport.attach(FarSide(sessions, dispatches, inbound))
    dispatcher = Dispatcher(dispatches, core.live, transport,
                            Pacer(pacing_policy(settings), time.monotonic), utcnow, sessions,
                            retry=retry_policy(settings),
                            expire_after=settings.dispatch_queue_expiry_seconds,
                            on_pool_sent=affinity.note)
    dispatch = dispatch_subscription(dispatcher, dispatch_durable,
                                     workers=settings.dispatch_workers,
                                     batch=settings.dispatch_batch, only_new=only_new,
                                     handback_delay=settings.dispatch_handback_delay_ms / 1000,
                                     ack_wait=ack_wait(settings, transport))
    instances = InstanceEvents(core, sessions, is_admin)
    simulator = transport if isinstance(transport, SimulatorTransport) else None
    deps = replace(core, directory=devices, sessions=sessions,
                   queue_depth=dispatch.consumer(infra.js).pending,
                   render_qr=qr_png_data_url, simulator=simulator,
                   numbers=NumberCache(settings.number_check_ttl_seconds,
                                       settings.number_check_per_hour))
    servicer = DeviceServicer(deps)

    async def ready() -> None:
        if await devices.is_empty():
            await devices.rebuild()
        await sessions.reconcile()
        if simulator is not None:
            await ensure_pool(deps, settings.sim_pool, settings.pool_owner_user_id,
                              simulator.scan)

    async def stop() -> None:
        await sessions.shutdown()
        await transport.close()
        await auth_channel.close()

    cloud_registrars, cloud_services = cloud_parts(transport)  # cloud status webhooks
    return Parts(registrars=[servicer.register, *cloud_registrars],
                 service_names=[SERVICE_NAME, *cloud_services],
                 tables=[directory_metadata, affinity_metadata],
                 subscriptions=[dispatch, instances.subscription(instances_durable)],
                 workers=[sessions.run, affinity.run,
                          Retention(media, settings.media_retention_days).run],
                 on_ready=[ready], on_stop=[stop])
